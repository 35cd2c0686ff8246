//! `cohort simulate`.

use anyhow::{Context as _, bail};
use cohort_sim::population::Recruitment;
use cohort_sim::protocol::{BUILTINS, Protocol, resolve};
use cohort_sim::run::{
    Checkpoint, ENGINE_VERSION, Execution, RunError, RunFiles, RunParams, RunSpec, Shard, estimate, simulate_to_parquet,
};
use cohort_store::hash::sha256_file;
use cohort_store::{CommitOutcome, DatasetKind, DatasetName, SourceFile, Staging, TableName, VersionMeta};

use super::Context;
use super::ingest::actor;
use crate::ExitStatus;
use crate::cli::{SimulateAction, SimulateArgs};
use crate::ui::{bytes, count, print_json};

/// More patients than this is a typo, not a study.
const MAX_PATIENTS: u64 = 100_000_000;

/// The checkpoint's file name inside the run's staging area.
const CHECKPOINT: &str = "run.json";

pub fn run(ctx: &Context, args: &SimulateArgs) -> anyhow::Result<ExitStatus> {
    let threads = ctx
        .global
        .threads
        .map(|t| t as usize)
        .or_else(|| std::env::var("RAYON_NUM_THREADS").ok().and_then(|v| v.parse().ok()))
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    if let Some(SimulateAction::Merge { name }) = &args.action {
        return merge(ctx, &DatasetName::new(name)?);
    }
    if let Some(name) = &args.resume {
        return resume(ctx, args, &DatasetName::new(name)?, threads);
    }
    let shard = match &args.shard {
        None => Shard::ALL,
        Some(text) => parse_shard(text)?,
    };
    let (protocol, protocol_yaml) = resolve(&args.protocol)?;
    let recruitment = match (args.patients, args.per_week) {
        (Some(0), _) => bail!("--patients must be at least 1"),
        (Some(n), _) if n > MAX_PATIENTS => bail!("--patients {n} is more than the {MAX_PATIENTS} cohort simulates"),
        (Some(n), _) => Recruitment::FixedTotal { patients: n },
        (None, Some(rate)) if rate > 0.0 && rate.is_finite() => Recruitment::ConstantRate { per_week: rate },
        (None, Some(rate)) => bail!("--per-week must be more than 0, not {rate}"),
        (None, None) => bail!("give --patients N or --per-week RATE"),
    };
    if !(args.years > 0.0 && args.years <= 100.0) {
        bail!("--years must be more than 0 and at most 100, not {}", args.years);
    }
    let start: jiff::civil::Date =
        args.start.parse().with_context(|| format!("--start `{}` is not a date like 2024-01-01", args.start))?;
    let name = match &args.name {
        Some(n) => DatasetName::new(n)?,
        None => DatasetName::new(&default_name(&protocol.name, recruitment, args.years, args.seed))?,
    };
    let params = RunParams { recruitment, years: args.years, seed: args.seed, start };

    let estimate = estimate(&protocol, &params, threads, 2_000);
    // The store may not exist yet: ask about the nearest directory that does.
    let free = ctx.global.store.ancestors().find(|p| p.is_dir()).and_then(free_bytes);
    if args.estimate {
        if ctx.global.json {
            print_json(&serde_json::json!({"dataset": name, "estimate": estimate, "free_bytes": free}))?;
        } else {
            println!(
                "{name}: about {} patients, {} visit rows, {} of Parquet, {:.0}s on {threads} thread(s); {} free",
                count(estimate.patients),
                count(estimate.visits),
                bytes(estimate.bytes),
                estimate.seconds.max(1.0),
                free.map(bytes).unwrap_or_else(|| "unknown space".into())
            );
        }
        return Ok(ExitStatus::Success);
    }
    let store = ctx.open_or_create_store()?;
    // Refuse a name that belongs to another kind of dataset before spending the simulation on it.
    if let Some(existing) = store.list()?.into_iter().find(|d| d.name == name && d.kind != DatasetKind::Simulation) {
        return Err(cohort_store::StoreError::KindMismatch {
            dataset: name.to_string(),
            existing: existing.kind.to_string(),
            requested: DatasetKind::Simulation.to_string(),
        }
        .into());
    }
    // Staging and the committed files live on the same disk; a commit needs a few MB more for
    // catalog blocks and the rewritten datasets.duckdb.
    let needed = estimate.bytes + estimate.bytes / 4 + 8_000_000;
    if let Some(free) = free.filter(|f| *f < needed && !args.force) {
        bail!(
            "the run needs about {} on disk ({} visit rows) and {} has {} free; free some space, run fewer \
             patients, or pass --force",
            bytes(needed),
            count(estimate.visits),
            store.root().display(),
            bytes(free)
        );
    }
    ctx.note(format!(
        "about {} visit rows, {} of Parquet, {:.0}s",
        count(estimate.visits),
        bytes(estimate.bytes),
        estimate.seconds.max(1.0)
    ));
    // A protocol file is a source of the run; a built-in is part of the program.
    let sources = if BUILTINS.iter().any(|b| b.name == args.protocol) {
        Vec::new()
    } else {
        let path = std::path::absolute(&args.protocol)?;
        let (sha256, bytes) = sha256_file(&path, |_| {})?;
        vec![SourceFile { path: path.to_string_lossy().into_owned(), sha256, bytes, table: None }]
    };
    let slot = if shard == Shard::ALL { "run".to_string() } else { shard_slot(shard) };
    let staging = store.stage_resumable(&name, &slot)?;
    let run = RunSpec { protocol: &protocol, protocol_yaml: &protocol_yaml, params: &params, shard };
    execute(ctx, staging, run, sources, &args.protocol, threads, args.chunk_patients)
}

/// `--resume NAME`: finish the interrupted run from its checkpoint.
fn resume(ctx: &Context, args: &SimulateArgs, name: &DatasetName, threads: usize) -> anyhow::Result<ExitStatus> {
    let store = ctx.open_store()?;
    let staging = store.stage_resumable(name, "run")?;
    let checkpoint = match Checkpoint::read(&staging.dir().join(CHECKPOINT))? {
        Some(c) => c,
        None => {
            staging.discard()?;
            bail!("there is no interrupted run of `{name}` to resume (`cohort list` shows finished ones)");
        }
    };
    let protocol = Protocol::from_yaml(&format!("the checkpoint of `{name}`"), &checkpoint.protocol_yaml)?;
    ctx.note(format!(
        "resuming `{name}` after {} of its patients ({} part(s))",
        count(checkpoint.patients),
        checkpoint.parts_done.len()
    ));
    let run = RunSpec {
        protocol: &protocol,
        protocol_yaml: &checkpoint.protocol_yaml,
        params: &checkpoint.params,
        shard: Shard::ALL,
    };
    execute(ctx, staging, run, Vec::new(), "checkpoint", threads, args.chunk_patients)
}

/// Runs (or finishes) the simulation in `staging` and commits it; a shard stops before the
/// commit and waits for `merge`.
fn execute(
    ctx: &Context,
    mut staging: Staging,
    run: RunSpec<'_>,
    sources: Vec<SourceFile>,
    protocol_source: &str,
    threads: usize,
    chunk_patients: usize,
) -> anyhow::Result<ExitStatus> {
    let RunSpec { protocol, params, shard, .. } = run;
    let name = staging.dataset().clone();
    let patients_dir = staging.table_dir(&TableName::new("patients")?)?;
    let visits_dir = staging.table_dir(&TableName::new("visits")?)?;
    let checkpoint = staging.dir().join(CHECKPOINT);
    let files = RunFiles { patients_dir: &patients_dir, visits_dir: &visits_dir, checkpoint: &checkpoint };
    let bars = ctx.bars();
    let exec = Execution { threads, chunk_patients, progress: &bars, cancel: ctx.cancel };
    let outcome = match simulate_to_parquet(run, files, exec) {
        Ok(outcome) => outcome,
        Err(e @ RunError::Checkpoint(_)) => {
            return Err(anyhow::Error::new(e).context(format!(
                "an interrupted run holds `{name}`: finish it with `cohort simulate --resume {name}`, or choose \
                     another --name"
            )));
        }
        Err(e) => {
            if !ctx.global.quiet && !ctx.global.json {
                eprintln!("stopped; `cohort simulate --resume {name}` finishes the run from its last checkpoint");
            }
            return Err(e.into());
        }
    };
    if shard != Shard::ALL {
        // The shard's parts and checkpoint stay in its staging area until `merge`.
        if ctx.global.json {
            print_json(&serde_json::json!({"dataset": name, "shard": shard, "run": outcome}))?;
        } else {
            ctx.note(format!(
                "shard {}/{} of `{name}` is done ({} patients); when every shard is, run `cohort simulate merge {name}`",
                shard.index + 1,
                shard.count,
                count(outcome.patients)
            ));
        }
        return Ok(ExitStatus::Success);
    }
    std::fs::remove_file(&checkpoint)?;
    let extra = serde_json::json!({
        "protocol_source": protocol_source,
        "wall_seconds": outcome.seconds,
        "threads": threads,
    });
    let committed =
        staging.commit(version_meta(protocol, params, outcome.patients, outcome.visits, sources, "", extra))?;
    if ctx.global.json {
        print_json(&serde_json::json!({"dataset": name, "commit": committed, "run": outcome}))?;
        return Ok(ExitStatus::Success);
    }
    match committed {
        CommitOutcome::Created { version, .. } => ctx.note(format!(
            "simulated {} patients and {} visits in {:.1}s ({:.0} patients/s); version {version}",
            count(outcome.patients),
            count(outcome.visits),
            outcome.seconds,
            outcome.patients as f64 / outcome.seconds.max(1e-9)
        )),
        CommitOutcome::Unchanged { version, .. } => {
            ctx.note(format!("the same run is already version {version} of this dataset; nothing changed"))
        }
    }
    println!("{name}");
    Ok(ExitStatus::Success)
}

/// The catalog record of a finished run: what was simulated, by which engine, with what result.
/// `extra` adds run-specific provenance; `note` is appended to the description.
fn version_meta(
    protocol: &Protocol,
    params: &RunParams,
    patients: u64,
    visits: u64,
    sources: Vec<SourceFile>,
    note: &str,
    extra: serde_json::Value,
) -> VersionMeta {
    let mut provenance = serde_json::json!({
        "tool": "cohort",
        "tool_version": cohort_store::VERSION,
        "command": "simulate",
        "engine_version": ENGINE_VERSION,
        "protocol": protocol.name,
        "protocol_sha256": protocol.canonical_sha256(),
        "params": params,
        "patients": patients,
        "visits": visits,
        "status": "complete",
    });
    if let (Some(all), Some(more)) = (provenance.as_object_mut(), extra.as_object()) {
        all.extend(more.clone());
    }
    VersionMeta {
        kind: DatasetKind::Simulation,
        description: Some(format!(
            "{}: {} patients over {} years from {}, seed {}{note}",
            protocol.name,
            count(patients),
            params.years,
            params.start,
            params.seed
        )),
        tags: None,
        created_by: format!("{} via cohort simulate", actor()),
        sources,
        provenance,
    }
}

/// `2/4` (1-based) as a [`Shard`].
fn parse_shard(text: &str) -> anyhow::Result<Shard> {
    let parsed = text
        .split_once('/')
        .and_then(|(i, n)| Some((i.trim().parse::<usize>().ok()?, n.trim().parse::<usize>().ok()?)));
    match parsed {
        Some((i, n)) if n >= 1 && (1..=n).contains(&i) => Ok(Shard { index: i - 1, count: n }),
        _ => bail!("--shard `{text}` is not I/N with 1 <= I <= N (for example 2/4)"),
    }
}

/// The staging slot of a shard: `shard-2-of-4`.
fn shard_slot(shard: Shard) -> String {
    format!("shard-{}-of-{}", shard.index + 1, shard.count)
}

/// `merge NAME`: move every shard's parts into one staging area and commit them as one run.
fn merge(ctx: &Context, name: &DatasetName) -> anyhow::Result<ExitStatus> {
    let store = ctx.open_store()?;
    let slots: Vec<(Shard, String)> = store
        .resumable_slots(name)
        .into_iter()
        .filter_map(|slot| {
            let rest = slot.strip_prefix("shard-")?;
            let (i, n) = rest.split_once("-of-")?;
            Some((Shard { index: i.parse::<usize>().ok()? - 1, count: n.parse().ok()? }, slot))
        })
        .collect();
    let Some(count_n) = slots.first().map(|(s, _)| s.count) else {
        bail!("there are no shards of `{name}` to merge (run `cohort simulate ... --name {name} --shard I/N`)");
    };
    if slots.iter().any(|(s, _)| s.count != count_n) {
        bail!(
            "the shards of `{name}` disagree on how many shards there are; remove the stray ones from the store's staging/"
        );
    }
    let missing: Vec<String> = (0..count_n)
        .filter(|i| !slots.iter().any(|(s, _)| s.index == *i))
        .map(|i| format!("{}/{count_n}", i + 1))
        .collect();
    if !missing.is_empty() {
        bail!("shard(s) {} of `{name}` have not run yet", missing.join(", "));
    }
    let mut shards = Vec::new();
    for (shard, slot) in &slots {
        let staging = store.stage_resumable(name, slot)?;
        let checkpoint = Checkpoint::read(&staging.dir().join(CHECKPOINT))?.ok_or_else(|| {
            anyhow::anyhow!("shard {}/{count_n} of `{name}` has no checkpoint; run it again", shard.index + 1)
        })?;
        shards.push((*shard, staging, checkpoint));
    }
    let first = &shards[0].2;
    let parts = Shard::parts_of(
        cohort_sim::population::enrolment_days(
            first.params.recruitment,
            cohort_sim::population::horizon_days(first.params.years),
            first.params.seed,
        )
        .len(),
    );
    for (shard, _, c) in &shards {
        if c.params != first.params || c.protocol_sha256 != first.protocol_sha256 {
            bail!("shard {}/{count_n} of `{name}` was run with other parameters or another protocol", shard.index + 1);
        }
        let owed = (0..parts).filter(|p| shard.owns(*p)).count();
        if c.parts_done.len() != owed {
            bail!(
                "shard {}/{count_n} of `{name}` is unfinished ({} of {owed} parts); run it again to finish it",
                shard.index + 1,
                c.parts_done.len()
            );
        }
    }
    let protocol = Protocol::from_yaml(&format!("the checkpoint of `{name}`"), &first.protocol_yaml)?;
    let params = first.params.clone();
    let (patients, visits) = shards.iter().fold((0, 0), |(p, v), (_, _, c)| (p + c.patients, v + c.visits));

    let mut target = store.stage(name)?;
    for table in ["patients", "visits"] {
        let dir = target.table_dir(&TableName::new(table)?)?;
        for (_, staging, _) in &shards {
            for entry in std::fs::read_dir(staging.dir().join(table))? {
                let entry = entry?;
                std::fs::rename(entry.path(), dir.join(entry.file_name()))?;
            }
        }
    }
    let extra = serde_json::json!({"protocol_source": "checkpoint", "shards": count_n});
    let committed = target.commit(version_meta(
        &protocol,
        &params,
        patients,
        visits,
        Vec::new(),
        &format!(" ({count_n} shards)"),
        extra,
    ))?;
    for (_, staging, _) in shards {
        staging.discard()?;
    }
    if ctx.global.json {
        print_json(&serde_json::json!({"dataset": name, "commit": committed, "shards": count_n}))?;
    } else {
        ctx.note(format!("merged {count_n} shards: {} patients, {} visits", count(patients), count(visits)));
        println!("{name}");
    }
    Ok(ExitStatus::Success)
}

/// Free bytes on the filesystem holding `path`, if the system says.
fn free_bytes(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid NUL-terminated path and a zeroed statvfs to fill.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) };
    (rc == 0).then(|| stat.f_bavail as u64 * stat.f_frsize as u64)
}

/// `aflibercept-tae-10000p-5y-seed42`: what the run is, readable and stable.
fn default_name(protocol: &str, recruitment: Recruitment, years: f64, seed: u64) -> String {
    let who = match recruitment {
        Recruitment::FixedTotal { patients } => format!("{patients}p"),
        Recruitment::ConstantRate { per_week } => format!("{per_week}pw"),
    };
    format!("{protocol}-{who}-{years}y-seed{seed}").replace('.', "_")
}
