//! Arbitrary bytes as a source file of every kind cohort reads (the first byte picks the
//! extension, so format sniffing sees each): ingest either commits a version or fails, and a
//! failure leaves the dataset without a new version.
#![no_main]

use std::sync::Mutex;

use cohort_ingest::{IngestOptions, IngestRequest, ingest};
use cohort_store::{CancelToken, DatasetName, NoProgress, Settings, Store};
use libfuzzer_sys::fuzz_target;

const EXTENSIONS: &[&str] = &[
    "csv", "tsv", "txt", "csv.gz", "json", "ndjson", "json.gz", "zip", "xlsx", "xls", "ods", "parquet", "sav", "dta",
    "xpt", "sas7bdat",
];

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    input: std::path::PathBuf,
    runs: u32,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = Settings { memory_limit: 256 << 20, threads: Some(1), ..Settings::default() };
        let store = Store::init(&dir.path().join("store"), settings).expect("store");
        let input = dir.path().join("input");
        std::fs::create_dir_all(&input).expect("input dir");
        Fixture { _dir: dir, store, input, runs: 0 }
    }
}

/// Inputs run against one store before a fresh one: versions pile up, and every commit rewrites
/// the store's views of all of them, so a long-lived store makes every input slower.
const RUNS_PER_STORE: u32 = 25;

fuzz_target!(|data: &[u8]| {
    static FIXTURE: Mutex<Option<Fixture>> = Mutex::new(None);
    let Some((&pick, content)) = data.split_first() else { return };
    let mut guard = FIXTURE.lock().unwrap_or_else(|e| e.into_inner());
    if guard.as_ref().is_none_or(|f| f.runs >= RUNS_PER_STORE) {
        *guard = Some(Fixture::new());
    }
    let fixture = guard.as_mut().expect("fixture set");
    fixture.runs += 1;
    let file = fixture.input.join(format!("t.{}", EXTENSIONS[pick as usize % EXTENSIONS.len()]));
    std::fs::write(&file, content).expect("write input");
    let name = DatasetName::new("fuzz").expect("name");
    let current =
        |store: &Store| store.list().expect("list").into_iter().find(|d| d.name == name).map(|d| d.current_version);
    let before = current(&fixture.store);
    let request = IngestRequest {
        name: name.clone(),
        files: vec![file],
        description: None,
        tags: None,
        created_by: "fuzz".into(),
        options: IngestOptions::default(),
    };
    let result = ingest(&fixture.store, &request, &NoProgress, &CancelToken::new());
    if result.is_err() {
        assert_eq!(before, current(&fixture.store), "a failed ingest changed the dataset");
    }
});
