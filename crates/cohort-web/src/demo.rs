//! `cohort serve --demo`: fills the store with a small example of everything the app shows, once
//! (existing datasets are left alone): two simulation runs to compare, treat-and-extend and
//! treat-and-treat, a small synthetic trial loaded from CSV, and a synthetic neuromuscular
//! registry (`demo-registry`, 2,400 participants at 24 sites over six years) with its registry
//! profile kept, so the registry dashboard opens with no set-up.

use cohort_ingest::{IngestOptions, IngestRequest, ingest};
use cohort_sim::job::{Provenance, run_in_store};
use cohort_sim::population::Recruitment;
use cohort_sim::protocol::builtin;
use cohort_sim::run::{Execution, RunParams, RunSpec, Shard};
use cohort_store::{CancelToken, DatasetName, NoProgress, Store, StoreError};

/// Patients in each demo run: enough for smooth charts, a second to simulate.
pub const DEMO_PATIENTS: u64 = 2_000;

/// The demo's datasets.
pub const DEMO_DATASETS: &[&str] = &["demo-tae", "demo-tnt", "demo-trial", "demo-registry"];

/// The demo registry's profile.
pub const REGISTRY_PROFILE: &str = include_str!("../../../examples/demo-registry.yaml");

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
    if !existing.iter().any(|e| e == "demo-registry") {
        let dir = tempfile::tempdir().map_err(|e| DemoError::Ingest(e.to_string()))?;
        let (participants, visits) = registry_files();
        let mut files = Vec::new();
        for (file, text) in [("participants.csv", participants), ("visits.csv", visits)] {
            let path = dir.path().join(file);
            std::fs::write(&path, text).map_err(|e| DemoError::Ingest(e.to_string()))?;
            files.push(path);
        }
        let name = DatasetName::new("demo-registry")?;
        let request = IngestRequest {
            name: name.clone(),
            files,
            description: Some(
                "A synthetic neuromuscular disease registry: participants at 24 sites, visits over six years".into(),
            ),
            tags: Some(vec!["demo".into(), "registry".into()]),
            created_by: "demo via cohort serve --demo".into(),
            options: IngestOptions::default(),
        };
        ingest(store, &request, &NoProgress, &CancelToken::default()).map_err(|e| DemoError::Ingest(e.to_string()))?;
        let kept = cohort_store::KeptProfile {
            text: REGISTRY_PROFILE.into(),
            version: 1,
            set_by: "demo via cohort serve --demo".into(),
            set_at: jiff::Timestamp::now(),
        };
        store.keep_registry_profile(&name, &kept)?;
        added.push("demo-registry".into());
    }
    Ok(added)
}

/// The demo registry's two CSV files, the same every time: participants (site, region, sex,
/// diagnosis, age and walking at entry, enrolment date; a few values missing, some enrolled
/// before the registry's nominal start in 2019) and their visits until the end of 2025, each
/// with the clinical domains measured then.
fn registry_files() -> (String, String) {
    // xorshift64*: a fixed stream, so the demo is the same on every machine.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    };
    let pick = |x: f64, weights: &[(&'static str, f64)]| -> &'static str {
        let total: f64 = weights.iter().map(|w| w.1).sum();
        let mut at = x * total;
        for (value, w) in weights {
            if at < *w {
                return value;
            }
            at -= w;
        }
        weights[weights.len() - 1].0
    };
    const REGIONS: [&str; 4] = ["North", "South", "East", "West"];
    const CITIES: [&str; 24] = [
        "Aberdeen",
        "Bergen",
        "Cork",
        "Dundee",
        "Exeter",
        "Fribourg",
        "Ghent",
        "Hamburg",
        "Innsbruck",
        "Jena",
        "Kiel",
        "Lyon",
        "Malmo",
        "Nantes",
        "Oslo",
        "Porto",
        "Quimper",
        "Riga",
        "Siena",
        "Tartu",
        "Utrecht",
        "Verona",
        "Wroclaw",
        "Zurich",
    ];
    let start = jiff::civil::date(2018, 7, 1);
    let end = jiff::civil::date(2025, 12, 31);
    let mut participants =
        String::from("participant_id,site,region,sex,diagnosis,age_at_entry,ambulatory_at_entry,enrolled\n");
    let mut visits = String::from("participant_id,visit_date,walk_10m_seconds,fvc_percent,ef_percent\n");
    for i in 0..2_400u32 {
        // Sites differ in size: the first ones recruit more.
        let site_index = ((next() * next()) * 24.0) as usize;
        let site = format!("{} Neuromuscular Centre", CITIES[site_index]);
        let region = REGIONS[site_index % 4];
        let diagnosis =
            pick(next(), &[("DMD", 34.0), ("SMA", 20.0), ("BMD", 12.0), ("LGMD", 12.0), ("CMT", 16.0), ("", 6.0)]);
        let sex = if diagnosis == "DMD" || diagnosis == "BMD" {
            if next() < 0.98 { "M" } else { "F" }
        } else {
            pick(next(), &[("F", 49.0), ("M", 49.0), ("", 2.0)])
        };
        let age: f64 = match diagnosis {
            "DMD" | "SMA" => 1.0 + next() * 17.0,
            _ => 2.0 + next() * 70.0,
        };
        let age = age.floor() as i64;
        let walking = if diagnosis == "DMD" && age > 12 { next() < 0.2 } else { next() < 0.8 };
        let enrolled = start.checked_add(jiff::Span::new().days((next() * 2_700.0) as i64)).expect("a date");
        let age_text = if next() < 0.04 { String::new() } else { age.to_string() };
        let walking_text = if next() < 0.05 {
            ""
        } else if walking {
            "yes"
        } else {
            "no"
        };
        participants
            .push_str(&format!("R{i:05},{site},{region},{sex},{diagnosis},{age_text},{walking_text},{enrolled}\n"));
        let mut day = enrolled;
        let mut walk = 5.0 + next() * 10.0;
        loop {
            let gap = 90.0 + next() * 200.0;
            day = match day.checked_add(jiff::Span::new().days(gap as i64)) {
                Ok(d) if d <= end && next() < 0.94 => d,
                _ => break,
            };
            walk += next() * 1.5;
            let cell = |measured: bool, value: f64| if measured { format!("{value:.1}") } else { String::new() };
            visits.push_str(&format!(
                "R{i:05},{day},{},{},{}\n",
                cell(walking && next() < 0.7, walk),
                cell(diagnosis != "CMT" && next() < 0.45, 40.0 + next() * 70.0),
                cell(diagnosis == "DMD" && next() < 0.35, 30.0 + next() * 35.0)
            ));
        }
    }
    (participants, visits)
}
