//! A committed simulation run to analyse, as `cohort simulate` writes it.

use cohort_sim::population::Recruitment;
use cohort_sim::protocol::builtin;
use cohort_sim::run::{Execution, RunFiles, RunParams, RunSpec, Shard, keep_parts, simulate_to_parquet};
use cohort_store::{CancelToken, DatasetKind, DatasetName, NoProgress, Settings, Store, TableName, VersionMeta};

/// A store holding one run of the built-in `protocol`, called `name`: `patients` arriving over
/// `years` years from 2024-01-01, with `seed`.
pub fn simulated(
    name: &str,
    protocol: &str,
    patients: u64,
    years: f64,
    seed: u64,
) -> (tempfile::TempDir, Store, RunParams) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(&dir.path().join("s"), Settings::default()).unwrap();
    let mut staging = store.stage(&DatasetName::new(name).unwrap()).unwrap();
    let patients_dir = staging.table_dir(&TableName::new("patients").unwrap()).unwrap();
    let visits_dir = staging.table_dir(&TableName::new("visits").unwrap()).unwrap();
    let checkpoint = dir.path().join("run.json");
    let builtin = builtin(protocol).unwrap();
    let loaded = builtin.load().unwrap();
    let params = RunParams {
        recruitment: Recruitment::FixedTotal { patients },
        years,
        seed,
        start: jiff::civil::date(2024, 1, 1),
    };
    simulate_to_parquet(
        RunSpec { protocol: &loaded, protocol_yaml: builtin.yaml, params: &params, shard: Shard::ALL },
        RunFiles {
            patients_dir: &patients_dir,
            visits_dir: &visits_dir,
            checkpoint: &checkpoint,
            after_part: &keep_parts,
        },
        Execution { threads: 2, chunk_patients: 500, progress: &NoProgress, cancel: &CancelToken::new() },
    )
    .unwrap();
    let meta = VersionMeta {
        kind: DatasetKind::Simulation,
        description: None,
        tags: None,
        created_by: "test".into(),
        sources: vec![],
        provenance: serde_json::json!({}),
    };
    staging.commit(meta).unwrap();
    (dir, store, params)
}
