//! `cohort simulate calibrate`: a protocol's free parameters fitted to its targets, written as a
//! new protocol file.

use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use cohort_sim::calibrate::{CalibrateError, Settings, calibrate};
use cohort_sim::protocol::resolve;
use indicatif::{ProgressBar, ProgressStyle};

use super::Context;
use super::protocol::print_checks;
use crate::ExitStatus;
use crate::ui::{print_json, table};

pub fn run(
    ctx: &Context,
    spec: &str,
    output: Option<&Path>,
    settings: Settings,
    force: bool,
) -> anyhow::Result<ExitStatus> {
    if settings.patients == 0 || settings.max_evaluations == 0 {
        bail!("--patients and --max-evaluations must be at least 1");
    }
    let (protocol, _) = resolve(spec)?;
    let path = output.map(Path::to_path_buf).unwrap_or_else(|| format!("{}-calibrated.yaml", protocol.name).into());
    // Refuse before minutes of work, not after.
    if path.exists() && !force {
        bail!("`{}` already exists; pass --force to replace it, or --output another file", path.display());
    }
    let bar = (!ctx.global.quiet && !ctx.global.json && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(u64::from(settings.max_evaluations)).with_style(
            ProgressStyle::with_template("{msg:>28} [{bar:30}] {pos}/{len} evaluations, {elapsed}")
                .expect("template")
                .progress_chars("=> "),
        );
        bar.set_message("calibrating");
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    let progress = |evaluations: u32, best: f64| {
        if let Some(bar) = &bar {
            bar.set_position(u64::from(evaluations));
            bar.set_message(format!("best objective {best:.3}"));
        }
    };
    let started = Instant::now();
    let fit = match calibrate(&protocol, settings, &progress, ctx.cancel) {
        Ok(fit) => fit,
        Err(CalibrateError::Cancelled) => {
            if let Some(bar) = &bar {
                bar.finish_and_clear();
            }
            eprintln!("interrupted: no file was written");
            return Ok(ExitStatus::Interrupted);
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let seconds = started.elapsed().as_secs_f64();
    let yaml = format!(
        "# Written by `cohort simulate calibrate {spec}` ({} evaluations of {} patients, seed {}).\n\
         # `calibration.fitted` says how; `cohort protocol validate` checks the targets again.\n{}",
        fit.evaluations,
        settings.patients,
        settings.seed,
        serde_saphyr::to_string(&fit.protocol).context("writing the protocol as YAML")?
    );
    // What is written must read back as the same protocol.
    cohort_sim::protocol::Protocol::from_yaml(&path.display().to_string(), &yaml)?;
    cohort_store::fsutil::write_atomic(&path, yaml.as_bytes())?;
    if ctx.global.json {
        print_json(&serde_json::json!({
            "file": path,
            "met": fit.met,
            "objective": fit.objective,
            "evaluations": fit.evaluations,
            "patients": settings.patients,
            "seed": settings.seed,
            "seconds": seconds,
            "values": fit.values.iter().map(|(k, v)| serde_json::json!({"parameter": k, "value": v})).collect::<Vec<_>>(),
            "at_bounds": fit.at_bounds,
            "targets": fit.checks,
            "achieved": fit.achieved,
        }))?;
    } else {
        let mut values = table(&["free parameter", "fitted value"]);
        for (parameter, value) in &fit.values {
            values.add_row(vec![parameter.clone(), format!("{value}")]);
        }
        println!("{values}");
        print_checks(&fit.checks, settings.patients, settings.seed);
        println!("{} evaluations in {seconds:.1} s; wrote {}", fit.evaluations, path.display());
    }
    if fit.met {
        return Ok(ExitStatus::Success);
    }
    if let Some(binding) = fit.binding() {
        eprintln!(
            "not every target was met: the closest point is written. The target furthest off is year {} {} \
             ({} against {} ± {}).",
            binding.year,
            binding.measure.replace('_', " "),
            binding.achieved.map_or("no patient seen".into(), |a| format!("{a:.2}")),
            binding.target,
            binding.tolerance
        );
    }
    if !fit.at_bounds.is_empty() {
        eprintln!(
            "hint: {} ended at a bound; widen its bounds, or free another parameter, if clinically sound",
            fit.at_bounds.join(", ")
        );
    }
    Ok(ExitStatus::Failure)
}
