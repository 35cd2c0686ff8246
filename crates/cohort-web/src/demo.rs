//! `cohort serve --demo`: fills the store with a small example of everything the app shows, once
//! (existing datasets are left alone): two simulation runs to compare, treat-and-extend and
//! treat-and-treat, and a small synthetic trial loaded from CSV.

use cohort_ingest::{IngestOptions, IngestRequest, ingest};
use cohort_sim::job::{Provenance, run_in_store};
use cohort_sim::population::Recruitment;
use cohort_sim::protocol::builtin;
use cohort_sim::run::{Execution, RunParams, RunSpec, Shard};
use cohort_store::{CancelToken, DatasetName, NoProgress, Store, StoreError};

/// Patients in each demo run: enough for smooth charts, a second to simulate.
pub const DEMO_PATIENTS: u64 = 2_000;

/// The demo's datasets.
pub const DEMO_DATASETS: &[&str] = &["demo-tae", "demo-tnt", "demo-trial"];

const TRIAL_FILES: &[(&str, &str)] = &[
    ("patients.csv", include_str!("../../../examples/patients.csv")),
    ("visits.csv", include_str!("../../../examples/visits.csv")),
];

/// Why the demo could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The store refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A simulation failed.
    #[error("simulating the demo runs: {0}")]
    Simulate(String),
    /// Loading the example trial failed.
    #[error("loading the example trial: {0}")]
    Ingest(String),
}

/// Adds whichever demo datasets the store lacks; returns the ones added.
pub fn seed(store: &Store) -> Result<Vec<String>, DemoError> {
    let existing: Vec<String> = store.list()?.into_iter().map(|d| d.name.to_string()).collect();
    let mut added = Vec::new();
    for (name, protocol) in [("demo-tae", "aflibercept-tae"), ("demo-tnt", "aflibercept-tnt")] {
        if existing.iter().any(|e| e == name) {
            continue;
        }
        let builtin = builtin(protocol).expect("the demo uses built-in protocols");
        let protocol_def = builtin.load().map_err(|e| DemoError::Simulate(e.to_string()))?;
        let params = RunParams {
            recruitment: Recruitment::FixedTotal { patients: DEMO_PATIENTS },
            years: 5.0,
            seed: 42,
            start: jiff::civil::date(2024, 1, 1),
        };
        let run = RunSpec { protocol: &protocol_def, protocol_yaml: builtin.yaml, params: &params, shard: Shard::ALL };
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let exec = Execution { threads, chunk_patients: 500, progress: &NoProgress, cancel: &CancelToken::default() };
        let provenance = Provenance {
            protocol_source: protocol.into(),
            sources: Vec::new(),
            created_by: "demo".into(),
            via: "cohort serve --demo".into(),
        };
        run_in_store(store, &DatasetName::new(name)?, run, exec, provenance)
            .map_err(|e| DemoError::Simulate(e.to_string()))?;
        added.push(name.to_string());
    }
    if !existing.iter().any(|e| e == "demo-trial") {
        let dir = tempfile::tempdir().map_err(|e| DemoError::Ingest(e.to_string()))?;
        let mut files = Vec::new();
        for (file, text) in TRIAL_FILES {
            let path = dir.path().join(file);
            std::fs::write(&path, text).map_err(|e| DemoError::Ingest(e.to_string()))?;
            files.push(path);
        }
        let request = IngestRequest {
            name: DatasetName::new("demo-trial")?,
            files,
            description: Some("A small synthetic trial: patients and their visits (the repository's examples/)".into()),
            tags: Some(vec!["demo".into()]),
            created_by: "demo via cohort serve --demo".into(),
            options: IngestOptions::default(),
        };
        ingest(store, &request, &NoProgress, &CancelToken::default()).map_err(|e| DemoError::Ingest(e.to_string()))?;
        added.push("demo-trial".into());
    }
    Ok(added)
}
