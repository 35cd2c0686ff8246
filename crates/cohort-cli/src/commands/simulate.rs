//! `cohort simulate`.

use anyhow::{Context as _, bail};
use cohort_remote::RemoteDir;
use cohort_sim::job::{
    CHECKPOINT, JobError, JobOutcome, Provenance, check_name_free_for_simulation, parse_shard_slot, resume_in_store,
    run_in_store, shard_slot, version_meta,
};
use cohort_sim::population::Recruitment;
use cohort_sim::protocol::{BUILTINS, Protocol, resolve};
use cohort_sim::run::{
    Checkpoint, Execution, RunError, RunFiles, RunParams, RunSpec, Shard, estimate, part_name, simulate_to_parquet,
};
use cohort_store::Progress as _;
use cohort_store::hash::sha256_file;
use cohort_store::{CommitOutcome, DatasetName, SourceFile, Staging, TableName};

use super::Context;
use super::ingest::actor;
use crate::ExitStatus;
use crate::cli::{SimulateAction, SimulateArgs};
use crate::ui::{bytes, count, print_json};

/// More patients than this is a typo, not a study.
const MAX_PATIENTS: u64 = 100_000_000;

pub fn run(ctx: &Context, args: &SimulateArgs) -> anyhow::Result<ExitStatus> {
    let threads = ctx
        .global
        .threads
        .map(|t| t as usize)
        .or_else(|| std::env::var("RAYON_NUM_THREADS").ok().and_then(|v| v.parse().ok()))
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    if let Some(SimulateAction::Merge { name, from }) = &args.action {
        let name = DatasetName::new(name)?;
        return match from {
            Some(url) => merge_remote(ctx, &name, url),
            None => merge(ctx, &name),
        };
    }
    if let Some(SimulateAction::Calibrate { protocol, output, patients, seed, max_evaluations, force }) = &args.action {
        let settings =
            cohort_sim::calibrate::Settings { patients: *patients, seed: *seed, max_evaluations: *max_evaluations };
        return super::calibrate::run(ctx, protocol, output.as_deref(), settings, *force);
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
    if let Some(url) = &args.to {
        let run = RunSpec { protocol: &protocol, protocol_yaml: &protocol_yaml, params: &params, shard };
        return remote_shard(ctx, url, run, threads, args.chunk_patients);
    }
    let store = ctx.open_or_create_store()?;
    // Refuse a name that belongs to another kind of dataset before spending the simulation on it.
    check_name_free_for_simulation(&store, &name)?;
    // Staging and the committed files live on the same disk; a commit needs a few MB more for
    // catalog blocks and the updated datasets.duckdb.
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
    let run = RunSpec { protocol: &protocol, protocol_yaml: &protocol_yaml, params: &params, shard };
    let provenance =
        Provenance { protocol_source: args.protocol.clone(), sources, created_by: actor(), via: VIA.into() };
    let bars = ctx.bars();
    let exec = Execution { threads, chunk_patients: args.chunk_patients, progress: &bars, cancel: ctx.cancel };
    let outcome = run_in_store(&store, &name, run, exec, provenance);
    report_run(ctx, &name, shard, outcome)
}

/// How runs started here are recorded in the catalog.
const VIA: &str = "cohort simulate";

/// `--resume NAME`: finish the interrupted run from its checkpoint.
fn resume(ctx: &Context, args: &SimulateArgs, name: &DatasetName, threads: usize) -> anyhow::Result<ExitStatus> {
    let store = ctx.open_store()?;
    if let Some(checkpoint) = cohort_sim::job::interrupted_run(&store, name)? {
        ctx.note(format!(
            "resuming `{name}` after {} of its patients ({} part(s))",
            count(checkpoint.patients),
            checkpoint.parts_done.len()
        ));
    }
    let bars = ctx.bars();
    let exec = Execution { threads, chunk_patients: args.chunk_patients, progress: &bars, cancel: ctx.cancel };
    let outcome = resume_in_store(&store, name, exec, actor(), VIA.into());
    report_run(ctx, name, Shard::ALL, outcome)
}

/// Reports a finished (or failed) run or shard, with what to do next.
fn report_run(
    ctx: &Context,
    name: &DatasetName,
    shard: Shard,
    outcome: Result<JobOutcome, JobError>,
) -> anyhow::Result<ExitStatus> {
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(e @ JobError::Run(RunError::Checkpoint(_))) => {
            return Err(anyhow::Error::new(e).context(format!(
                "an interrupted run holds `{name}`: finish it with `cohort simulate --resume {name}`, or choose \
                 another --name"
            )));
        }
        Err(e @ JobError::NothingToResume(_)) => bail!("{e} (`cohort list` shows finished ones)"),
        Err(e @ JobError::Run(_)) => {
            if !ctx.global.quiet && !ctx.global.json {
                eprintln!("stopped; `cohort simulate --resume {name}` finishes the run from its last checkpoint");
            }
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    let run = &outcome.run;
    let Some(committed) = &outcome.commit else {
        if ctx.global.json {
            print_json(&serde_json::json!({"dataset": name, "shard": shard, "run": run}))?;
        } else {
            ctx.note(format!(
                "shard {}/{} of `{name}` is done ({} patients); when every shard is, run `cohort simulate merge {name}`",
                shard.index + 1,
                shard.count,
                count(run.patients)
            ));
        }
        return Ok(ExitStatus::Success);
    };
    if let CommitOutcome::Created { version, .. } = committed {
        // The results page of the run is then ready at its first view.
        cohort_analysis::results::keep_results_of(&ctx.open_store()?, name, *version, cohort_sim::job::run_window);
    }
    if ctx.global.json {
        print_json(&serde_json::json!({"dataset": name, "commit": committed, "run": run}))?;
        return Ok(ExitStatus::Success);
    }
    match committed {
        CommitOutcome::Created { version, .. } => ctx.note(format!(
            "simulated {} patients and {} visits in {:.1}s ({:.0} patients/s); version {version}",
            count(run.patients),
            count(run.visits),
            run.seconds,
            run.patients as f64 / run.seconds.max(1e-9)
        )),
        CommitOutcome::Unchanged { version, .. } => {
            ctx.note(format!("the same run is already version {version} of this dataset; nothing changed"))
        }
    }
    println!("{name}");
    Ok(ExitStatus::Success)
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

/// `merge NAME`: move every shard's parts into one staging area and commit them as one run.
fn merge(ctx: &Context, name: &DatasetName) -> anyhow::Result<ExitStatus> {
    let store = ctx.open_store()?;
    let slots: Vec<(Shard, String)> =
        store.resumable_slots(name).into_iter().filter_map(|slot| Some((parse_shard_slot(&slot)?, slot))).collect();
    let what = format!("`{name}`");
    check_shard_set(
        &what,
        slots.iter().map(|(s, _)| *s),
        &format!("run `cohort simulate ... --name {name} --shard I/N`"),
    )?;
    let mut shards = Vec::new();
    for (shard, slot) in &slots {
        let staging = store.stage_resumable(name, slot)?;
        let checkpoint = Checkpoint::read(&staging.dir().join(CHECKPOINT))?.ok_or_else(|| {
            anyhow::anyhow!("shard {}/{} of {what} has no checkpoint; run it again", shard.index + 1, shard.count)
        })?;
        shards.push((*shard, staging, checkpoint));
    }
    let checked = check_shards(&what, shards.iter().map(|(s, _, c)| (*s, c)))?;
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
    let extra = serde_json::json!({"protocol_source": "checkpoint", "shards": checked.shards});
    let committed = commit_merged(target, &checked, extra)?;
    for (_, staging, _) in shards {
        staging.discard()?;
    }
    report_merge(ctx, name, &checked, committed)
}

/// `merge NAME --from URL`: download every shard's parts from an object store and commit them
/// as one run. The shards stay in the object store (remove them there when no longer wanted).
fn merge_remote(ctx: &Context, name: &DatasetName, url: &str) -> anyhow::Result<ExitStatus> {
    let remote = RemoteDir::open(url)?;
    let what = format!("the run in `{}`", remote.url());
    let files = remote.list()?;
    let shards: Vec<Shard> =
        files.iter().filter_map(|f| parse_shard_slot(f.name.strip_suffix(&format!("/{CHECKPOINT}"))?)).collect();
    check_shard_set(&what, shards.iter().copied(), &format!("run `cohort simulate ... --shard I/N --to {url}`"))?;
    let mut checkpoints = Vec::new();
    for shard in &shards {
        let key = format!("{}/{CHECKPOINT}", shard_slot(*shard));
        let bytes = remote.get_bytes(&key)?.ok_or_else(|| anyhow::anyhow!("`{}/{key}` disappeared", remote.url()))?;
        let checkpoint: Checkpoint = serde_json::from_slice(&bytes)
            .with_context(|| format!("`{}/{key}` is not a shard checkpoint", remote.url()))?;
        checkpoints.push((*shard, checkpoint));
    }
    let checked = check_shards(&what, checkpoints.iter().map(|(s, c)| (*s, c)))?;
    let store = ctx.open_or_create_store()?;
    let mut target = store.stage(name)?;
    let downloads: Vec<(String, String)> = checkpoints
        .iter()
        .flat_map(|(shard, c)| {
            c.parts_done.iter().flat_map(move |part| {
                ["patients", "visits"]
                    .map(|table| (format!("{}/{table}/{}", shard_slot(*shard), part_name(*part)), table.into()))
            })
        })
        .collect();
    let sizes: std::collections::BTreeMap<&str, u64> = files.iter().map(|f| (f.name.as_str(), f.bytes)).collect();
    let mut dirs = std::collections::BTreeMap::new();
    for table in ["patients", "visits"] {
        dirs.insert(table.to_string(), target.table_dir(&TableName::new(table)?)?);
    }
    let bars = ctx.bars();
    bars.begin(
        "downloading shards",
        Some(downloads.iter().map(|(key, _)| sizes.get(key.as_str()).copied().unwrap_or(0)).sum()),
    );
    for (key, table) in &downloads {
        if ctx.cancel.is_cancelled() {
            bail!("cancelled; nothing was committed");
        }
        let Some(expected) = sizes.get(key.as_str()).copied() else {
            bail!("`{}/{key}` is missing, though its shard's checkpoint lists it; run that shard again", remote.url());
        };
        let dir = &dirs[table];
        let file = key.rsplit('/').next().expect("a key has a file name");
        let got = remote.get_file(key, &dir.join(file))?;
        if got != expected {
            bail!("`{}/{key}` changed while it was downloaded ({got} of {expected} bytes)", remote.url());
        }
        bars.advance(got);
    }
    bars.finish();
    let extra =
        serde_json::json!({"protocol_source": "checkpoint", "shards": checked.shards, "shards_from": remote.url()});
    let committed = commit_merged(target, &checked, extra)?;
    report_merge(ctx, name, &checked, committed)
}

/// `--shard I/N --to URL`: simulate one shard on a machine without the store, uploading each
/// finished part and then the shard's checkpoint, so that rerunning the same command continues
/// after the last uploaded part.
fn remote_shard(
    ctx: &Context,
    url: &str,
    run: RunSpec<'_>,
    threads: usize,
    chunk_patients: usize,
) -> anyhow::Result<ExitStatus> {
    let remote = RemoteDir::open(url)?.join(&shard_slot(run.shard))?;
    let scratch = tempfile::Builder::new().prefix("cohort-shard-").tempdir()?;
    let patients_dir = scratch.path().join("patients");
    let visits_dir = scratch.path().join("visits");
    std::fs::create_dir_all(&patients_dir)?;
    std::fs::create_dir_all(&visits_dir)?;
    let checkpoint = scratch.path().join(CHECKPOINT);
    // The uploaded checkpoint is the truth: it names only parts whose files are uploaded.
    if let Some(bytes) = remote.get_bytes(CHECKPOINT)? {
        std::fs::write(&checkpoint, bytes)?;
        ctx.note(format!("continuing the shard in `{}` from its last uploaded part", remote.url()));
    }
    let upload = |part: &str| -> Result<(), RunError> {
        let handoff = |e: cohort_remote::RemoteError| RunError::Handoff(e.to_string());
        for (table, dir) in [("patients", &patients_dir), ("visits", &visits_dir)] {
            remote.put_file(&format!("{table}/{part}"), &dir.join(part)).map_err(handoff)?;
            std::fs::remove_file(dir.join(part))?;
        }
        remote.put_bytes(CHECKPOINT, std::fs::read(&checkpoint)?).map_err(handoff)
    };
    let files =
        RunFiles { patients_dir: &patients_dir, visits_dir: &visits_dir, checkpoint: &checkpoint, after_part: &upload };
    let bars = ctx.bars();
    let exec = Execution { threads, chunk_patients, progress: &bars, cancel: ctx.cancel };
    let outcome = match simulate_to_parquet(run, files, exec) {
        Ok(outcome) => outcome,
        Err(e @ RunError::Checkpoint(_)) => {
            return Err(anyhow::Error::new(e).context(format!(
                "`{}` holds a shard of another run: choose another URL, or remove it there",
                remote.url()
            )));
        }
        Err(e) => {
            if !ctx.global.quiet && !ctx.global.json {
                eprintln!("stopped; run the same command again to continue after the last uploaded part");
            }
            return Err(e.into());
        }
    };
    if ctx.global.json {
        print_json(&serde_json::json!({"shard": run.shard, "to": remote.url(), "run": outcome}))?;
    } else {
        ctx.note(format!(
            "shard {}/{} is in `{}` ({} patients); when every shard is, run `cohort simulate merge NAME --from {url}`",
            run.shard.index + 1,
            run.shard.count,
            remote.url(),
            count(outcome.patients)
        ));
    }
    Ok(ExitStatus::Success)
}

/// What a complete, consistent set of shards adds up to.
struct MergedShards {
    protocol: Protocol,
    params: RunParams,
    shards: usize,
    patients: u64,
    visits: u64,
}

/// Refuses a set of shards that is empty, mixes shard counts, or misses a shard.
fn check_shard_set(what: &str, shards: impl Iterator<Item = Shard> + Clone, how_to_run: &str) -> anyhow::Result<()> {
    let Some(count_n) = shards.clone().next().map(|s| s.count) else {
        bail!("there are no shards of {what} to merge ({how_to_run})");
    };
    if shards.clone().any(|s| s.count != count_n) {
        bail!("the shards of {what} disagree on how many shards there are; remove the stray ones");
    }
    let missing: Vec<String> = (0..count_n)
        .filter(|i| !shards.clone().any(|s| s.index == *i))
        .map(|i| format!("{}/{count_n}", i + 1))
        .collect();
    if !missing.is_empty() {
        bail!("shard(s) {} of {what} have not run yet", missing.join(", "));
    }
    Ok(())
}

/// Checks that every shard ran the same protocol and parameters and finished all its parts.
fn check_shards<'a>(what: &str, shards: impl Iterator<Item = (Shard, &'a Checkpoint)>) -> anyhow::Result<MergedShards> {
    let shards: Vec<(Shard, &Checkpoint)> = shards.collect();
    let first = shards.first().expect("check_shard_set refuses an empty set").1;
    let parts = Shard::parts_of(
        cohort_sim::population::enrolment_days(
            first.params.recruitment,
            cohort_sim::population::horizon_days(first.params.years),
            first.params.seed,
        )
        .len(),
    );
    for (shard, c) in &shards {
        let label = format!("shard {}/{} of {what}", shard.index + 1, shard.count);
        if c.params != first.params || c.protocol_sha256 != first.protocol_sha256 {
            bail!("{label} was run with other parameters or another protocol");
        }
        let owed: std::collections::BTreeSet<usize> = (0..parts).filter(|p| shard.owns(*p)).collect();
        if c.parts_done != owed {
            bail!("{label} is unfinished ({} of {} parts); run it again to finish it", c.parts_done.len(), owed.len());
        }
    }
    Ok(MergedShards {
        protocol: Protocol::from_yaml(&format!("the checkpoint of {what}"), &first.protocol_yaml)?,
        params: first.params.clone(),
        shards: shards.len(),
        patients: shards.iter().map(|(_, c)| c.patients).sum(),
        visits: shards.iter().map(|(_, c)| c.visits).sum(),
    })
}

fn commit_merged(target: Staging, checked: &MergedShards, extra: serde_json::Value) -> anyhow::Result<CommitOutcome> {
    Ok(target.commit(version_meta(
        &checked.protocol,
        &checked.params,
        (checked.patients, checked.visits),
        Vec::new(),
        format!("{} via cohort simulate merge", actor()),
        &format!(" ({} shards)", checked.shards),
        extra,
    ))?)
}

fn report_merge(
    ctx: &Context,
    name: &DatasetName,
    checked: &MergedShards,
    committed: CommitOutcome,
) -> anyhow::Result<ExitStatus> {
    if let CommitOutcome::Created { version, .. } = &committed {
        // The merged run's results page is then ready at its first view.
        cohort_analysis::results::keep_results_of(&ctx.open_store()?, name, *version, cohort_sim::job::run_window);
    }
    if ctx.global.json {
        print_json(&serde_json::json!({"dataset": name, "commit": committed, "shards": checked.shards}))?;
    } else {
        ctx.note(format!(
            "merged {} shards: {} patients, {} visits",
            checked.shards,
            count(checked.patients),
            count(checked.visits)
        ));
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
