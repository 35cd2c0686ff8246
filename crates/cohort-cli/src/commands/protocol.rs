//! `cohort protocol list|show|validate|new`.

use anyhow::bail;
use cohort_sim::outcomes::TargetCheck;
use cohort_sim::protocol::{BUILTINS, Protocol, Regimen, builtin, editable_copy, resolve};
use cohort_sim::validation::validate;

use super::Context;
use crate::ExitStatus;
use crate::cli::ProtocolCommand;
use crate::ui::{print_json, table};

pub fn run(ctx: &Context, command: &ProtocolCommand) -> anyhow::Result<ExitStatus> {
    match command {
        ProtocolCommand::List => list(ctx),
        ProtocolCommand::Show { protocol } => show(ctx, protocol),
        ProtocolCommand::Validate { files, patients, seed } => validate_files(ctx, files, *patients, *seed),
        ProtocolCommand::New { name, from, output, force } => new(ctx, name, from, output.as_deref(), *force),
    }
}

fn summary(p: &Protocol) -> serde_json::Value {
    serde_json::json!({
        "name": p.name,
        "description": p.description,
        "regimen": p.treatment.regimen,
        "min_interval_days": p.treatment.min_interval_days,
        "max_interval_days": p.treatment.max_interval_days,
        "monitoring": p.monitoring.enabled,
        "sha256": p.canonical_sha256(),
    })
}

fn list(ctx: &Context) -> anyhow::Result<ExitStatus> {
    let protocols = BUILTINS.iter().map(|b| b.load()).collect::<Result<Vec<_>, _>>()?;
    if ctx.global.json {
        print_json(&protocols.iter().map(summary).collect::<Vec<_>>())?;
        return Ok(ExitStatus::Success);
    }
    let mut t = table(&["name", "regimen", "intervals (days)", "monitoring", "description"]);
    for p in &protocols {
        t.add_row(vec![
            p.name.clone(),
            match p.treatment.regimen {
                Regimen::TreatAndExtend => "treat-and-extend".to_string(),
                Regimen::Fixed => "fixed".to_string(),
            },
            format!("{}-{}", p.treatment.min_interval_days, p.treatment.max_interval_days),
            if p.monitoring.enabled { "yes" } else { "no" }.to_string(),
            p.description.clone(),
        ]);
    }
    println!("{t}");
    ctx.note("`cohort protocol show NAME` prints one; `cohort protocol new NAME --from NAME` copies one to edit.");
    Ok(ExitStatus::Success)
}

fn show(ctx: &Context, spec: &str) -> anyhow::Result<ExitStatus> {
    let (protocol, text) = resolve(spec)?;
    if ctx.global.json {
        print_json(&serde_json::json!({"summary": summary(&protocol), "protocol": protocol}))?;
    } else {
        print!("{text}");
        ctx.note(format!("# canonical sha256: {}", protocol.canonical_sha256()));
    }
    Ok(ExitStatus::Success)
}

fn validate_files(ctx: &Context, files: &[std::path::PathBuf], patients: u64, seed: u64) -> anyhow::Result<ExitStatus> {
    let mut results = Vec::new();
    let mut failed = 0;
    for file in files {
        let spec = file.to_string_lossy();
        let read = if builtin(&spec).is_some() { resolve(&spec).map(|(p, _)| p) } else { Protocol::from_file(file) };
        match read {
            Ok(p) => {
                if !ctx.global.json {
                    println!("ok: {} ({}, sha256 {})", file.display(), p.name, p.canonical_sha256());
                }
                let report = validate(&p, patients, seed);
                if let Some(report) = report.as_ref().filter(|_| !ctx.global.json) {
                    print_validation(&serde_json::to_value(report)?);
                }
                results.push(serde_json::json!({
                    "file": file, "valid": true, "sha256": p.canonical_sha256(), "validation": report,
                }));
            }
            Err(e) => {
                failed += 1;
                if !ctx.global.json {
                    eprintln!("error: {e}");
                }
                results.push(serde_json::json!({"file": file, "valid": false, "error": e.to_string()}));
            }
        }
    }
    if ctx.global.json {
        print_json(&results)?;
    }
    if failed > 0 {
        if !ctx.global.json {
            eprintln!("\n{failed} of {} protocol file(s) are invalid", files.len());
        }
        return Ok(ExitStatus::Failure);
    }
    Ok(ExitStatus::Success)
}

/// A validation report (as [`Validation`] serialises, or as kept with a run's version): each
/// target against what the protocol achieves, the reference run beside this engine's, and how
/// the protocol was fitted.
pub(super) fn print_validation(report: &serde_json::Value) {
    let targets = report["targets"].as_array().cloned().unwrap_or_default();
    if !targets.is_empty() {
        println!(
            "\nTargets of {} ({}):",
            report["protocol"].as_str().unwrap_or("?"),
            report["source"].as_str().unwrap_or("?")
        );
        print_target_table(&targets, &report["patients"], &report["seed"]);
    }
    if let Some(reference) = report.get("reference").filter(|r| r.is_object()) {
        println!("\nAgainst {}:", reference["source"].as_str().unwrap_or("?"));
        let mut t = table(&["figure", "reference", "cohort", "within"]);
        let checks = reference["checks"].as_array().cloned().unwrap_or_default();
        for c in &checks {
            let measure = c["measure"].as_str().unwrap_or("?");
            let share = !matches!(
                measure,
                "visits_per_patient" | "injections_per_patient" | "baseline_vision" | "final_vision"
            );
            t.add_row(vec![
                measure.replace('_', " "),
                format!("{} ± {}", shown(&c["reference"], share), shown(&c["tolerance"], share)),
                shown(&c["achieved"], share),
                if c["met"] == true { "yes" } else { "NO" }.into(),
            ]);
        }
        println!("{t}");
        println!(
            "{} of {} figures within tolerance ({} patients, {} years, seed {}; counted as cohort_sim::reference \
             defines)",
            checks.iter().filter(|c| c["met"] == true).count(),
            checks.len(),
            reference["patients"],
            reference["years"],
            reference["seed"]
        );
    }
    if let Some(fitted) = report.get("fitted").filter(|f| f.is_object()) {
        println!(
            "Calibrated by `cohort simulate calibrate`: {} evaluations of {} patients, seed {}, engine {}.",
            fitted["evaluations"],
            fitted["patients"],
            fitted["seed"],
            fitted["engine"].as_str().unwrap_or("?")
        );
    }
}

/// A number as a table shows it: a share as a percentage.
fn shown(value: &serde_json::Value, share: bool) -> String {
    match value.as_f64() {
        Some(x) if share => format!("{:.1}%", x * 100.0),
        Some(x) => format!("{x:.2}"),
        None => "none".into(),
    }
}

/// Each target against what was achieved, as a table.
pub(super) fn print_checks(checks: &[TargetCheck], patients: u64, seed: u64) {
    let checks = serde_json::to_value(checks).expect("checks serialise");
    print_target_table(checks.as_array().expect("a list"), &patients.into(), &seed.into());
}

fn print_target_table(checks: &[serde_json::Value], patients: &serde_json::Value, seed: &serde_json::Value) {
    let mut t = table(&["year", "measure", "target", "achieved", "met"]);
    for c in checks {
        let share = c["measure"] == "discontinued";
        t.add_row(vec![
            c["year"].to_string(),
            c["measure"].as_str().unwrap_or("?").replace('_', " "),
            format!("{} ± {}", shown(&c["target"], share), shown(&c["tolerance"], share)),
            if c["achieved"].is_null() { "no patient seen".into() } else { shown(&c["achieved"], share) },
            if c["met"] == true { "yes" } else { "NO" }.into(),
        ]);
    }
    println!("{t}");
    println!(
        "{} of {} targets met ({patients} patients, seed {seed}; vision change and injections as defined in \
         cohort_sim::outcomes)",
        checks.iter().filter(|c| c["met"] == true).count(),
        checks.len()
    );
}

fn new(
    ctx: &Context,
    name: &str,
    from: &str,
    output: Option<&std::path::Path>,
    force: bool,
) -> anyhow::Result<ExitStatus> {
    let Some(source) = builtin(from) else {
        bail!(
            "no built-in protocol `{from}` (the built-ins are {})",
            BUILTINS.iter().map(|b| b.name).collect::<Vec<_>>().join(", ")
        );
    };
    let path = output.map(|p| p.to_path_buf()).unwrap_or_else(|| format!("{name}.yaml").into());
    if path.exists() && !force {
        bail!("`{}` already exists; pass --force to replace it", path.display());
    }
    let text = editable_copy(source, name);
    // The copy must be valid as written; anything else is a bug in the built-in.
    Protocol::from_yaml(&path.display().to_string(), &text)?;
    cohort_store::fsutil::write_atomic(&path, text.as_bytes())?;
    if ctx.global.json {
        print_json(&serde_json::json!({"file": path, "from": from, "name": name}))?;
    } else {
        println!(
            "wrote {} (a copy of {from}); check it with `cohort protocol validate {}`",
            path.display(),
            path.display()
        );
    }
    Ok(ExitStatus::Success)
}
