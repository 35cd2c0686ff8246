//! A run as a store job: simulated into a resumable staging area of the store, then committed as
//! one version of a `simulation` dataset. The CLI and the web app both start runs through here,
//! so a run started in one can be resumed from the other.

use cohort_store::{
    CommitOutcome, DatasetKind, DatasetName, SourceFile, Staging, Store, StoreError, TableName, VersionMeta,
};

use crate::protocol::{Protocol, ProtocolError};
use crate::run::{
    Checkpoint, ENGINE_VERSION, Execution, RunError, RunFiles, RunOutcome, RunParams, RunSpec, Shard, keep_parts,
    simulate_to_parquet,
};

/// The checkpoint's file name inside a run's staging area.
pub const CHECKPOINT: &str = "run.json";

/// The staging slot of an unsharded run.
pub const RUN_SLOT: &str = "run";

/// Why a job failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The store refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The simulation failed or was cancelled.
    #[error(transparent)]
    Run(#[from] RunError),
    /// A checkpoint's protocol no longer loads.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// There is nothing to resume.
    #[error("there is no interrupted run of `{0}` to resume")]
    NothingToResume(DatasetName),
}

/// Where a run's protocol came from and who started it, for the catalog.
#[derive(Debug, Clone)]
pub struct Provenance {
    /// A built-in name, a file path, or `checkpoint`.
    pub protocol_source: String,
    /// Protocol files read (none for a built-in).
    pub sources: Vec<SourceFile>,
    /// Who started the run (`user@host`, or a web account).
    pub created_by: String,
    /// Through what (`cohort simulate`, `cohort serve`).
    pub via: String,
}

/// What a job did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JobOutcome {
    /// The simulation's figures.
    pub run: RunOutcome,
    /// The commit, unless the job was one shard of a run.
    pub commit: Option<CommitOutcome>,
}

/// A committed run's first day and its horizon in days since then, from its version's
/// provenance; `None` for a version that does not record them.
pub fn run_window(provenance: &serde_json::Value) -> Option<(jiff::civil::Date, i64)> {
    let years = provenance["params"]["years"].as_f64()?;
    let start = provenance["params"]["start"].as_str()?.parse().ok()?;
    Some((start, i64::from(crate::population::horizon_days(years))))
}

/// The staging slot of a shard: `shard-2-of-4`.
pub fn shard_slot(shard: Shard) -> String {
    format!("shard-{}-of-{}", shard.index + 1, shard.count)
}

/// `shard-2-of-4` back to a [`Shard`].
pub fn parse_shard_slot(slot: &str) -> Option<Shard> {
    let (i, n) = slot.strip_prefix("shard-")?.split_once("-of-")?;
    let shard = Shard { index: i.parse::<usize>().ok()?.checked_sub(1)?, count: n.parse().ok()? };
    (shard.index < shard.count).then_some(shard)
}

/// Refuses `name` when it belongs to a dataset of another kind, before a run is spent on it.
pub fn check_name_free_for_simulation(store: &Store, name: &DatasetName) -> Result<(), StoreError> {
    match store.list()?.into_iter().find(|d| d.name == *name && d.kind != DatasetKind::Simulation) {
        Some(existing) => Err(StoreError::KindMismatch {
            dataset: name.to_string(),
            existing: existing.kind.to_string(),
            requested: DatasetKind::Simulation.to_string(),
        }),
        None => Ok(()),
    }
}

/// Simulates `run` into the resumable staging area of `name` (continuing from its checkpoint if
/// an earlier attempt was interrupted) and commits it; a shard stops before the commit.
pub fn run_in_store(
    store: &Store,
    name: &DatasetName,
    run: RunSpec<'_>,
    exec: Execution<'_>,
    provenance: Provenance,
) -> Result<JobOutcome, JobError> {
    let slot = if run.shard == Shard::ALL { RUN_SLOT.to_string() } else { shard_slot(run.shard) };
    let staging = store.stage_resumable(name, &slot)?;
    execute(staging, run, exec, provenance)
}

/// The checkpoint of `name`'s interrupted run, if it has one.
pub fn interrupted_run(store: &Store, name: &DatasetName) -> Result<Option<Checkpoint>, JobError> {
    if !store.resumable_slots(name).iter().any(|s| s == RUN_SLOT) {
        return Ok(None);
    }
    let staging = store.stage_resumable(name, RUN_SLOT)?;
    Ok(Checkpoint::read(&staging.dir().join(CHECKPOINT))?)
}

/// Finishes `name`'s interrupted run from its checkpoint; the result is identical to an
/// uninterrupted run.
pub fn resume_in_store(
    store: &Store,
    name: &DatasetName,
    exec: Execution<'_>,
    created_by: String,
    via: String,
) -> Result<JobOutcome, JobError> {
    let staging = store.stage_resumable(name, RUN_SLOT)?;
    let Some(checkpoint) = Checkpoint::read(&staging.dir().join(CHECKPOINT))? else {
        staging.discard()?;
        return Err(JobError::NothingToResume(name.clone()));
    };
    let protocol = Protocol::from_yaml(&format!("the checkpoint of `{name}`"), &checkpoint.protocol_yaml)?;
    let run = RunSpec {
        protocol: &protocol,
        protocol_yaml: &checkpoint.protocol_yaml,
        params: &checkpoint.params,
        shard: Shard::ALL,
    };
    let provenance = Provenance { protocol_source: "checkpoint".into(), sources: Vec::new(), created_by, via };
    execute(staging, run, exec, provenance)
}

fn execute(
    mut staging: Staging,
    run: RunSpec<'_>,
    exec: Execution<'_>,
    provenance: Provenance,
) -> Result<JobOutcome, JobError> {
    let patients_dir = staging.table_dir(&TableName::new("patients")?)?;
    let visits_dir = staging.table_dir(&TableName::new("visits")?)?;
    let checkpoint = staging.dir().join(CHECKPOINT);
    let files = RunFiles {
        patients_dir: &patients_dir,
        visits_dir: &visits_dir,
        checkpoint: &checkpoint,
        after_part: &keep_parts,
    };
    let outcome = simulate_to_parquet(run, files, exec)?;
    if run.shard != Shard::ALL {
        // The shard's parts and checkpoint stay in its staging area until a merge.
        return Ok(JobOutcome { run: outcome, commit: None });
    }
    std::fs::remove_file(&checkpoint).map_err(RunError::from)?;
    let extra = serde_json::json!({
        "protocol_source": provenance.protocol_source,
        "wall_seconds": outcome.seconds,
        "threads": exec.threads,
    });
    let meta = version_meta(
        run.protocol,
        run.params,
        (outcome.patients, outcome.visits),
        provenance.sources,
        format!("{} via {}", provenance.created_by, provenance.via),
        "",
        extra,
    );
    let commit = staging.commit(meta)?;
    Ok(JobOutcome { run: outcome, commit: Some(commit) })
}

/// The catalog record of a finished run: what was simulated, by which engine, with what result.
/// `extra` adds run-specific provenance; `note` is appended to the description.
pub fn version_meta(
    protocol: &Protocol,
    params: &RunParams,
    (patients, visits): (u64, u64),
    sources: Vec<SourceFile>,
    created_by: String,
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
        // The protocol's evidence, kept with the run: what it achieves against its targets.
        "validation": crate::validation::validate(protocol, crate::validation::VALIDATION_PATIENTS, params.seed),
    });
    if let (Some(all), Some(more)) = (provenance.as_object_mut(), extra.as_object()) {
        all.extend(more.clone());
    }
    VersionMeta {
        kind: DatasetKind::Simulation,
        description: Some(format!(
            "{}: {} patients over {} years from {}, seed {}{note}",
            protocol.name,
            thousands(patients),
            params.years,
            params.start,
            params.seed
        )),
        tags: None,
        created_by,
        sources,
        provenance,
    }
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_slots_round_trip_and_refuse_nonsense() {
        let shard = Shard { index: 1, count: 4 };
        assert_eq!(shard_slot(shard), "shard-2-of-4");
        assert_eq!(parse_shard_slot("shard-2-of-4"), Some(shard));
        for bad in ["shard-0-of-4", "shard-5-of-4", "run", "shard-x-of-2"] {
            assert_eq!(parse_shard_slot(bad), None, "{bad}");
        }
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
