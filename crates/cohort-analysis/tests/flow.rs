//! The cohort flow of a real simulated run: every month adds up to those enrolled.

use std::collections::BTreeMap;

use cohort_analysis::flow::cohort_flow;
use cohort_sim::population::Recruitment;
use cohort_sim::protocol::builtin;
use cohort_sim::run::{Execution, RunFiles, RunParams, RunSpec, Shard, simulate_to_parquet};
use cohort_store::{
    CancelToken, DatasetKind, DatasetName, NoProgress, Session, Settings, Store, TableName, VersionMeta,
};

#[test]
fn every_month_adds_up_to_those_enrolled() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(&dir.path().join("s"), Settings::default()).unwrap();
    let name = DatasetName::new("flow").unwrap();
    let mut staging = store.stage(&name).unwrap();
    let patients_dir = staging.table_dir(&TableName::new("patients").unwrap()).unwrap();
    let visits_dir = staging.table_dir(&TableName::new("visits").unwrap()).unwrap();
    let checkpoint = dir.path().join("run.json");
    let builtin = builtin("aflibercept-tae").unwrap();
    let protocol = builtin.load().unwrap();
    let params = RunParams {
        recruitment: Recruitment::FixedTotal { patients: 3_000 },
        years: 3.0,
        seed: 5,
        start: jiff::civil::date(2024, 1, 1),
    };
    simulate_to_parquet(
        RunSpec { protocol: &protocol, protocol_yaml: builtin.yaml, params: &params, shard: Shard::ALL },
        RunFiles { patients_dir: &patients_dir, visits_dir: &visits_dir, checkpoint: &checkpoint },
        Execution { threads: 2, chunk_patients: 500, progress: &NoProgress, cancel: &CancelToken::new() },
    )
    .unwrap();
    staging
        .commit(VersionMeta {
            kind: DatasetKind::Simulation,
            description: None,
            tags: None,
            created_by: "test".into(),
            sources: vec![],
            provenance: serde_json::json!({}),
        })
        .unwrap();

    let session = Session::for_sql(&store, "flow").unwrap();
    let flow = cohort_flow(&session, "flow").unwrap();
    let mut by_month: BTreeMap<&str, i64> = BTreeMap::new();
    for row in &flow {
        *by_month.entry(&row.month_end).or_default() += row.patients;
    }
    // Each month: categories add up to the patients enrolled by the month's end.
    for (month, total) in &by_month {
        let enrolled: i64 = session
            .connection()
            .query_row(&format!("SELECT count(*) FROM flow.patients WHERE enrolment_date <= DATE '{month}'"), [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(*total, enrolled, "month ending {month}");
    }
    assert!(by_month.len() >= 36, "{} months", by_month.len());
    let categories: std::collections::BTreeSet<&str> = flow.iter().map(|r| r.category.as_str()).collect();
    for expected in ["Pre-treatment", "Initial", "Intensive (monthly)", "Regular (6-8 weeks)", "Monitoring"] {
        assert!(categories.contains(expected), "{expected} missing from {categories:?}");
    }
    assert!(categories.iter().any(|c| c.starts_with("Discontinued (")), "{categories:?}");
}
