//! The store as a library: staging written by arrow-rs (as the simulator will), multi-part
//! tables, refusals, and threads of one process sharing a store.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use cohort_store::{
    CommitOutcome, DatasetKind, DatasetName, PendingCommit, Session, Settings, Store, StoreError, TableName,
    VersionMeta, VersionRef,
};
use parquet::arrow::ArrowWriter;

fn meta(kind: DatasetKind) -> VersionMeta {
    VersionMeta {
        kind,
        description: Some("test".into()),
        tags: None,
        created_by: "test".into(),
        sources: vec![],
        provenance: serde_json::json!({"test": true}),
    }
}

fn write_part(path: &Path, ids: std::ops::Range<i64>, with_label: bool) {
    let mut fields = vec![Field::new("patient", DataType::Int64, false)];
    let mut columns: Vec<Arc<dyn arrow::array::Array>> = vec![Arc::new(Int64Array::from_iter_values(ids.clone()))];
    if with_label {
        fields.push(Field::new("label", DataType::Utf8, true));
        columns.push(Arc::new(StringArray::from_iter(ids.map(|i| (i % 3 != 0).then(|| format!("p{i}"))))));
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
    let mut w = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(&dir.path().join("s"), Settings::default()).unwrap();
    (dir, store)
}

fn count(store: &Store, sql: &str) -> i64 {
    let session = Session::for_sql(store, sql).unwrap();
    session.connection().query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn multi_part_tables_commit_in_natural_order_with_stats() {
    let (_d, store) = store();
    let name = DatasetName::new("sim").unwrap();
    let mut staging = store.stage(&name).unwrap();
    let patients = staging.table_dir(&TableName::new("patients").unwrap()).unwrap();
    // Written out of order and named so that a plain string sort would misorder them.
    write_part(&patients.join("chunk_10.parquet"), 200..300, true);
    write_part(&patients.join("chunk_2.parquet"), 100..200, true);
    write_part(&patients.join("chunk_1.parquet"), 0..100, true);
    let visits = staging.table_dir(&TableName::new("visits").unwrap()).unwrap();
    write_part(&visits.join("all.parquet"), 0..5, false);
    let outcome = staging.commit(meta(DatasetKind::Simulation)).unwrap();
    assert!(matches!(outcome, CommitOutcome::Created { version: 1, rows: 305, .. }), "{outcome:?}");

    let v = store.resolve(&VersionRef::parse("sim").unwrap()).unwrap();
    let t = v.table("patients").unwrap();
    assert_eq!(t.files.len(), 3);
    assert!(t.files[2].path.ends_with("patients/part-00002.parquet"));
    assert_eq!(t.files.iter().map(|f| f.rows).collect::<Vec<_>>(), vec![100, 100, 100]);
    let label = &t.columns[1];
    assert_eq!((label.null_count, label.min.as_deref(), label.max.as_deref()), (Some(100), Some("p1"), Some("p98")));
    assert_eq!(t.columns[0].min.as_deref(), Some("0"));
    assert_eq!(t.columns[0].max.as_deref(), Some("299"));
    // Parts are read in order: the first row of the table is patient 0.
    assert_eq!(count(&store, "SELECT patient FROM sim.patients LIMIT 1"), 0);
    assert_eq!(count(&store, "SELECT count(*) FROM sim.visits"), 5);
    assert_eq!(std::fs::read_dir(store.layout().staging()).unwrap().count(), 0);
}

#[test]
fn parts_with_different_schemas_are_refused_and_nothing_is_left() {
    let (_d, store) = store();
    let mut staging = store.stage(&DatasetName::new("bad").unwrap()).unwrap();
    let dir = staging.table_dir(&TableName::new("t").unwrap()).unwrap();
    write_part(&dir.join("a.parquet"), 0..10, true);
    write_part(&dir.join("b.parquet"), 10..20, false);
    let err = staging.commit(meta(DatasetKind::Upload)).unwrap_err();
    assert!(matches!(err, StoreError::BadStaging { .. }), "{err}");
    assert!(store.list().unwrap().is_empty());
    assert_eq!(std::fs::read_dir(store.layout().staging()).unwrap().count(), 0);
}

#[test]
fn empty_staging_and_duplicate_tables_are_refused() {
    let (_d, store) = store();
    let staging = store.stage(&DatasetName::new("none").unwrap()).unwrap();
    assert!(matches!(staging.commit(meta(DatasetKind::Upload)), Err(StoreError::BadStaging { .. })));
    let mut staging = store.stage(&DatasetName::new("dup").unwrap()).unwrap();
    let t = TableName::new("t").unwrap();
    staging.table_dir(&t).unwrap();
    assert!(matches!(staging.table_dir(&t), Err(StoreError::BadStaging { .. })));
}

#[test]
fn a_new_version_must_keep_the_dataset_kind() {
    let (_d, store) = store();
    let name = DatasetName::new("k").unwrap();
    let mut s = store.stage(&name).unwrap();
    write_part(&s.table_dir(&TableName::new("t").unwrap()).unwrap().join("a.parquet"), 0..3, false);
    s.commit(meta(DatasetKind::Simulation)).unwrap();
    let mut s = store.stage(&name).unwrap();
    write_part(&s.table_dir(&TableName::new("t").unwrap()).unwrap().join("a.parquet"), 0..4, false);
    let err = s.commit(meta(DatasetKind::Upload)).unwrap_err();
    assert!(matches!(err, StoreError::KindMismatch { .. }), "{err}");
    assert!(err.hint().unwrap().contains("another name"));
}

#[test]
fn threads_of_one_process_commit_and_read_concurrently() {
    let (_d, store) = store();
    let writers: Vec<_> = (0..4)
        .map(|i| {
            let store = store.clone();
            std::thread::spawn(move || {
                for round in 0..3 {
                    let mut s = store.stage(&DatasetName::new("shared").unwrap()).unwrap();
                    let dir = s.table_dir(&TableName::new("t").unwrap()).unwrap();
                    write_part(&dir.join("p.parquet"), 0..(10 + i * 10 + round), false);
                    s.commit(meta(DatasetKind::Upload)).unwrap();
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || {
                for _ in 0..20 {
                    let _ = store.list().unwrap();
                    if let Ok(v) = store.resolve(&VersionRef::parse("shared").unwrap()) {
                        assert!(v.tables[0].rows >= 10);
                    }
                }
            })
        })
        .collect();
    for t in writers.into_iter().chain(readers) {
        t.join().unwrap();
    }
    let versions = store.versions(&DatasetName::new("shared").unwrap()).unwrap();
    assert_eq!(versions.len(), 12);
    assert_eq!(store.doctor(false, &cohort_store::NoProgress).unwrap().problems.len(), 0);
}

/// The SQL console runs one read-only SELECT over the datasets and refuses everything else; what
/// it refuses leaves the store and the file system untouched, and every run is in the history.
#[test]
fn the_console_reads_datasets_and_nothing_else() {
    use cohort_store::console::{Reader, history, run_console};
    use std::time::Duration;

    let (dir, store) = store();
    let name = DatasetName::new("trial").unwrap();
    let mut staging = store.stage(&name).unwrap();
    let table = staging.table_dir(&TableName::new("visits").unwrap()).unwrap();
    write_part(&table.join("a.parquet"), 0..250, true);
    staging.commit(meta(DatasetKind::Upload)).unwrap();
    let limit = Duration::from_secs(20);

    let page = run_console(
        &store,
        "SELECT patient, label FROM trial.visits ORDER BY patient;",
        10,
        5,
        limit,
        "t",
        &Reader::of(&|_| true),
    )
    .unwrap();
    assert_eq!((page.total, page.columns.len(), page.rows.len()), (250, 2, 5));
    assert!(page.rows[0].contains("\"patient\":10"), "{:?}", page.rows);
    assert_eq!(page.datasets, ["trial@1"]);

    let secret = dir.path().join("secret.csv");
    std::fs::write(&secret, "a\n1\n").unwrap();
    let outside = dir.path().join("out.csv");
    for sql in [
        format!("COPY (SELECT 1) TO '{}'", outside.display()),
        format!("ATTACH '{}' AS other", dir.path().join("x.duckdb").display()),
        "INSTALL httpfs".to_string(),
        "LOAD httpfs".to_string(),
        "SET enable_external_access = true".to_string(),
        "PRAGMA memory_limit = '10GB'".to_string(),
        "CREATE TABLE t AS SELECT 1".to_string(),
        "SELECT 1; SELECT 2".to_string(),
        "".to_string(),
    ] {
        let err = run_console(&store, &sql, 0, 10, limit, "t", &Reader::of(&|_| true)).unwrap_err();
        assert!(matches!(err, StoreError::QueryRefused { .. }), "{sql}: {err}");
    }
    for sql in [
        format!("SELECT * FROM read_csv('{}')", secret.display()),
        format!("SELECT * FROM '{}'", secret.display()),
        "SELECT * FROM read_text('/etc/passwd')".to_string(),
    ] {
        let err = run_console(&store, &sql, 0, 10, limit, "t", &Reader::of(&|_| true)).unwrap_err();
        assert!(matches!(err, StoreError::Sql { .. }), "{sql}: {err}");
    }
    assert!(!outside.exists() && !dir.path().join("x.duckdb").exists());

    // A dataset the caller may not read is not there at all, by name or by its files.
    let hidden = |_: &str| false;
    let err =
        run_console(&store, "SELECT count(*) FROM trial.visits", 0, 10, limit, "t", &Reader::of(&hidden)).unwrap_err();
    assert!(matches!(err, StoreError::Sql { .. }), "{err}");
    let part =
        store.resolve(&cohort_store::VersionRef::parse("trial").unwrap()).unwrap().tables[0].files[0].path.clone();
    let sql = format!("SELECT count(*) FROM read_parquet('{}')", store.layout().resolve(&part).display());
    let err = run_console(&store, &sql, 0, 10, limit, "t", &Reader::of(&hidden)).unwrap_err();
    assert!(matches!(err, StoreError::Sql { .. }), "{err}");
    let granted = |name: &str| name == "trial";
    let page = run_console(&store, "SELECT count(*) AS n FROM trial.visits", 0, 10, limit, "t", &Reader::of(&granted))
        .unwrap();
    assert_eq!(page.rows, ["{\"n\":250}"]);

    let slow = "SELECT count(*) FROM range(100000000000) a";
    let err = run_console(&store, slow, 0, 10, Duration::from_millis(300), "t", &Reader::of(&|_| true)).unwrap_err();
    assert!(matches!(err, StoreError::QueryTimeout { .. }), "{err}");

    let runs = history(&store, 100).unwrap();
    assert_eq!(runs.len(), 17);
    assert_eq!(runs[0].sql, slow, "newest first");
    assert!(runs[0].error.is_some());
    assert_eq!(runs.last().unwrap().rows, Some(250));
    assert_eq!(runs.last().unwrap().datasets, ["trial@1"]);
}

/// Commits `ids` as table `t` of `name`.
fn commit_rows(store: &Store, name: &str, ids: std::ops::Range<i64>) {
    let mut staging = store.stage(&DatasetName::new(name).unwrap()).unwrap();
    let dir = staging.table_dir(&TableName::new("t").unwrap()).unwrap();
    write_part(&dir.join("part.parquet"), ids, true);
    staging.commit(meta(DatasetKind::Upload)).unwrap();
}

/// What a stock DuckDB client reads from `datasets.duckdb`.
fn read_views(store: &Store, sql: &str) -> i64 {
    let config = duckdb::Config::default().access_mode(duckdb::AccessMode::ReadOnly).unwrap();
    let conn = duckdb::Connection::open_with_flags(store.layout().views_db(), config).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// `datasets.duckdb` follows every commit and rollback, updated in place for the dataset touched
/// (a commit no longer rewrites the views of the whole store), and a client that holds the file
/// open does not stop a commit: the file is then rebuilt beside it and renamed into place.
#[test]
fn the_views_database_follows_each_commit_in_place() {
    use std::os::unix::fs::MetadataExt;
    let (_d, store) = store();
    commit_rows(&store, "a", 0..10);
    commit_rows(&store, "b", 0..5);
    let inode = || std::fs::metadata(store.layout().views_db()).unwrap().ino();
    let first = inode();
    commit_rows(&store, "a", 0..20);
    assert_eq!(inode(), first, "updated in place, not rebuilt");
    assert_eq!(read_views(&store, "SELECT count(*) FROM a.t"), 20);
    assert_eq!(read_views(&store, "SELECT count(*) FROM b.t"), 5);
    assert_eq!(read_views(&store, "SELECT count(*) FROM cohort_catalog.versions WHERE dataset = 'a'"), 2);
    assert_eq!(read_views(&store, "SELECT count(*) FROM cohort_catalog.datasets"), 2);

    store.rollback(&DatasetName::new("a").unwrap(), 1).unwrap();
    assert_eq!(inode(), first);
    assert_eq!(read_views(&store, "SELECT count(*) FROM a.t"), 10);
    assert_eq!(read_views(&store, "SELECT current_version FROM cohort_catalog.datasets WHERE name = 'a'"), 1);

    // A client in another process reading the file holds DuckDB's lock on it: the commit lands
    // all the same.
    let mut reader = hold_open(&store.layout().views_db());
    commit_rows(&store, "c", 0..7);
    drop(reader.stdin.take());
    assert!(reader.wait().unwrap().success());
    assert_ne!(inode(), first, "rebuilt whole beside the held file");
    assert_eq!(read_views(&store, "SELECT count(*) FROM c.t"), 7);
    assert_eq!(read_views(&store, "SELECT count(*) FROM a.t"), 10);
    let report = store.doctor(false, &cohort_store::NoProgress).unwrap();
    assert!(report.views_in_sync, "{report:?}");
}

/// A batch is decided item by item, in order, each seeing what the ones before it made: two
/// versions of one new dataset, a repeat of the content just committed, a dataset that must be
/// new but exists, another kind, and a staging area without tables, in one transaction.
#[test]
fn a_batch_decides_each_item_in_order() {
    let (_d, store) = store();
    commit_rows(&store, "existing", 0..3);
    let item = |name: &str, ids: std::ops::Range<i64>, kind: DatasetKind, only_new: bool| {
        let mut staging = store.stage(&DatasetName::new(name).unwrap()).unwrap();
        let dir = staging.table_dir(&TableName::new("t").unwrap()).unwrap();
        write_part(&dir.join("part.parquet"), ids, true);
        let import = cohort_store::ImportRecord {
            source_sha256: format!("sha-{name}"),
            source: format!("/legacy/{name}.json"),
            shape: "test".into(),
            outcome: "migrated".into(),
            dataset: None,
            version: None,
            detail: None,
            recorded_by: "test".into(),
            recorded_at: jiff::Timestamp::now(),
        };
        PendingCommit { staging, meta: meta(kind), import: Some(import), only_new }
    };
    let empty = PendingCommit {
        staging: store.stage(&DatasetName::new("empty").unwrap()).unwrap(),
        meta: meta(DatasetKind::Upload),
        import: None,
        only_new: false,
    };
    let outcomes = store
        .commit_batch(vec![
            item("fresh", 0..5, DatasetKind::Upload, true),
            item("fresh", 0..6, DatasetKind::Upload, false),
            item("fresh", 0..6, DatasetKind::Upload, false),
            item("existing", 0..9, DatasetKind::Upload, true),
            item("existing", 0..9, DatasetKind::Cohort, false),
            empty,
            item("existing", 0..4, DatasetKind::Upload, false),
        ])
        .unwrap();
    let summary: Vec<String> = outcomes
        .iter()
        .map(|o| match o {
            Ok(CommitOutcome::Created { version, new_dataset, .. }) => format!("created v{version} new={new_dataset}"),
            Ok(CommitOutcome::Unchanged { version, .. }) => format!("unchanged v{version}"),
            Err(StoreError::DatasetExists { .. }) => "exists".into(),
            Err(StoreError::KindMismatch { .. }) => "kind".into(),
            Err(e) => format!("error: {e}"),
        })
        .collect();
    assert_eq!(summary[..5], ["created v1 new=true", "created v2 new=false", "unchanged v2", "exists", "kind"]);
    assert!(summary[5].starts_with("error:") && summary[5].contains("no tables"), "{}", summary[5]);
    assert_eq!(summary[6], "created v2 new=false");

    assert_eq!(store.versions(&DatasetName::new("fresh").unwrap()).unwrap().len(), 2);
    assert_eq!(count(&store, "SELECT count(*) FROM fresh.t"), 6);
    assert_eq!(count(&store, "SELECT count(*) FROM existing.t"), 4);
    let journal = store.import_journal().unwrap();
    let recorded: Vec<(String, Option<u32>)> = journal.iter().map(|r| (r.source.clone(), r.version)).collect();
    assert_eq!(
        recorded,
        [
            ("/legacy/fresh.json".to_string(), Some(1)),
            ("/legacy/fresh.json".to_string(), Some(2)),
            ("/legacy/fresh.json".to_string(), Some(2)),
            ("/legacy/existing.json".to_string(), Some(2)),
        ]
    );
    assert!(store.doctor(false, &cohort_store::NoProgress).unwrap().healthy());
    assert!(std::fs::read_dir(store.layout().staging()).unwrap().next().is_none(), "staging left behind");
}

/// A store that leaves `datasets.duckdb` to a background sync (as the server does): commits return
/// without it, the datasets they changed wait in the catalog, one sync brings the file up to date
/// for all of them at once, and a process opening the store catches up with what another left
/// behind (it died, or its server stopped first).
#[test]
fn commits_can_leave_the_views_to_a_background_sync() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("s");
    let background = Store::init(&root, Settings { views_in_background: true, ..Settings::default() }).unwrap();
    commit_rows(&background, "a", 0..10);
    commit_rows(&background, "b", 0..5);
    commit_rows(&background, "a", 0..20);
    assert_eq!(read_views(&background, "SELECT count(*) FROM cohort_catalog.datasets"), 0, "left behind");
    assert_eq!(background.sync_views().unwrap(), 2, "two datasets, three commits: one update");
    assert_eq!(read_views(&background, "SELECT count(*) FROM a.t"), 20);
    assert_eq!(read_views(&background, "SELECT count(*) FROM b.t"), 5);
    assert_eq!(read_views(&background, "SELECT count(*) FROM cohort_catalog.versions WHERE dataset = 'a'"), 2);
    assert_eq!(background.sync_views().unwrap(), 0, "nothing left to do");

    background.rollback(&DatasetName::new("a").unwrap(), 1).unwrap();
    commit_rows(&background, "c", 0..7);
    assert_eq!(read_views(&background, "SELECT count(*) FROM a.t"), 20, "not yet");
    // Another process opening the store (with the default settings) catches up first.
    let other = Store::open(&root, Settings::default()).unwrap();
    assert_eq!(read_views(&other, "SELECT count(*) FROM a.t"), 10);
    assert_eq!(read_views(&other, "SELECT count(*) FROM c.t"), 7);
    assert_eq!(other.sync_views().unwrap(), 0);
    assert!(other.doctor(false, &cohort_store::NoProgress).unwrap().views_in_sync);
}

/// A commit does not hang on another process's long update of `datasets.duckdb` (a migration's
/// catching up at its end): it waits a little, leaves its change marked, and the next sync (the
/// next command's) brings the file up to date.
#[test]
fn a_commit_does_not_wait_long_for_another_views_update() {
    use cohort_store::lock::{CatalogLock, LockMode};
    let dir = tempfile::tempdir().unwrap();
    // Commits themselves would wait a minute for a lock; the views update must not.
    let settings = Settings { lock_timeout: std::time::Duration::from_secs(60), ..Settings::default() };
    let store = Store::init(&dir.path().join("s"), settings).unwrap();
    commit_rows(&store, "a", 0..3);
    let other =
        CatalogLock::acquire(&store.layout().views_lock(), LockMode::Exclusive, std::time::Duration::ZERO).unwrap();
    let started = std::time::Instant::now();
    commit_rows(&store, "a", 0..8);
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "it waited {:?}", started.elapsed());
    assert_eq!(read_views(&store, "SELECT count(*) FROM a.t"), 3, "left marked");
    drop(other);
    assert_eq!(store.sync_views().unwrap(), 1);
    assert_eq!(read_views(&store, "SELECT count(*) FROM a.t"), 8);
}

/// Two processes bringing `datasets.duckdb` up to date at once take turns: every commit made by
/// either reaches the file, and neither fails.
#[test]
fn concurrent_view_syncs_take_turns() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("s");
    let store = Store::init(&root, Settings { views_in_background: true, ..Settings::default() }).unwrap();
    std::thread::scope(|scope| {
        for worker in 0..2 {
            let store = store.clone();
            scope.spawn(move || {
                for i in 0..5 {
                    commit_rows(&store, &format!("w{worker}-{i}"), 0..(i + 1));
                    store.sync_views().unwrap();
                }
            });
        }
    });
    store.sync_views().unwrap();
    assert_eq!(read_views(&store, "SELECT count(*) FROM cohort_catalog.datasets"), 10);
    assert_eq!(read_views(&store, "SELECT count(*) FROM \"w1-4\".t"), 5);
    assert!(store.doctor(false, &cohort_store::NoProgress).unwrap().views_in_sync);
}

/// Another process (this test binary, running [`holds_a_file_open`]) with `path` open in DuckDB,
/// read-only, until its standard input closes.
fn hold_open(path: &Path) -> std::process::Child {
    use std::io::BufRead;
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "holds_a_file_open", "--ignored", "--nocapture", "--test-threads=1"])
        .env("COHORT_TEST_HOLD_OPEN", path)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(lines.any(|l| l.unwrap().contains("holding")), "the other process opened the file");
    // The rest of what it prints is read, so that it never writes into a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    child
}

/// Run by [`hold_open`] in a process of its own.
#[test]
#[ignore = "a helper: run by other tests in a process of its own"]
fn holds_a_file_open() {
    use std::io::Read;
    let path = std::env::var("COHORT_TEST_HOLD_OPEN").expect("COHORT_TEST_HOLD_OPEN names the file");
    let config = duckdb::Config::default().access_mode(duckdb::AccessMode::ReadOnly).unwrap();
    let conn = duckdb::Connection::open_with_flags(&path, config).unwrap();
    let datasets: i64 = conn.query_row("SELECT count(*) FROM cohort_catalog.datasets", [], |r| r.get(0)).unwrap();
    println!("holding {path} ({datasets} datasets)");
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(conn);
}

/// A version a reader has resolved keeps its files through `gc --keep` until the reader lets go;
/// a version gc removed before the reader leased it is reported as removed, never read half-gone.
#[test]
fn gc_leaves_a_leased_version_alone_until_its_reader_lets_go() {
    let (_d, store) = store();
    commit_rows(&store, "a", 0..10);
    let first = store.resolve(&VersionRef::parse("a").unwrap()).unwrap();
    let dir = store.layout().version_dir(first.dataset_id, first.version);
    let lease = store.lease(&first).unwrap();
    commit_rows(&store, "a", 0..20);
    let keep_one = cohort_store::GcOptions { keep: Some(1), ..Default::default() };
    let report = store.gc(&keep_one).unwrap();
    assert_eq!(report.expired_versions.len(), 1, "{report:?}");
    assert_eq!(report.in_use, std::slice::from_ref(&dir), "the leased version is left in place");
    assert!(dir.is_dir());
    // Its reader goes on reading it.
    let source = cohort_store::table_source(&store, first.table("t").unwrap());
    let session = Session::new(&store).unwrap();
    let rows: i64 =
        session.connection().query_row(&format!("SELECT count(*) FROM {source}"), [], |r| r.get(0)).unwrap();
    assert_eq!(rows, 10);
    drop(lease);
    let report = store.gc(&keep_one).unwrap();
    assert!(report.removed_paths.contains(&dir) && report.in_use.is_empty(), "{report:?}");
    assert!(!dir.exists());

    // Resolved, then removed by gc before it was leased: the reader is told.
    commit_rows(&store, "a", 0..30);
    let second = store.resolve(&VersionRef::parse("a@2").unwrap()).unwrap();
    store.gc(&keep_one).unwrap();
    let err = store.lease(&second).unwrap_err();
    assert!(matches!(err, StoreError::VersionUnavailable { .. }), "{err}");
    // A session mounting the current version holds its lease as long as it lives.
    let current = store.resolve(&VersionRef::parse("a").unwrap()).unwrap();
    let mut session = Session::new(&store).unwrap();
    session.mount(&store, &current, "a").unwrap();
    commit_rows(&store, "a", 0..40);
    let report = store.gc(&keep_one).unwrap();
    assert_eq!(report.in_use.len(), 1, "{report:?}");
    let rows: i64 = session.connection().query_row("SELECT count(*) FROM a.t", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, 30);
}

/// What `derived/` keeps for a version (a run's results, by content hash) goes with the version:
/// `gc` removes it once no readable version has that content, and keeps the rest.
#[test]
fn gc_removes_what_was_derived_from_versions_it_removed() {
    let (_d, store) = store();
    commit_rows(&store, "a", 0..10);
    commit_rows(&store, "a", 0..20);
    let versions = store.versions(&DatasetName::new("a").unwrap()).unwrap();
    let results = store.layout().derived().join("results");
    std::fs::create_dir_all(&results).unwrap();
    let kept = |v: &cohort_store::VersionInfo| results.join(format!("{}.json", v.content_hash));
    for v in &versions {
        std::fs::write(kept(v), b"{}").unwrap();
    }
    let orphan = results.join("0000.json");
    std::fs::write(&orphan, b"{}").unwrap();
    let (newest, oldest) = (&versions[0], &versions[1]);
    let dry = store.gc(&cohort_store::GcOptions { keep: Some(1), dry_run: true, ..Default::default() }).unwrap();
    assert!(dry.removed_paths.contains(&kept(oldest)) && kept(oldest).exists(), "{dry:?}");
    let report = store.gc(&cohort_store::GcOptions { keep: Some(1), ..Default::default() }).unwrap();
    assert!(report.removed_paths.contains(&kept(oldest)) && report.removed_paths.contains(&orphan), "{report:?}");
    assert!(!kept(oldest).exists() && !orphan.exists());
    assert!(kept(newest).exists(), "the current version's results stay");
}

/// A registry's per-participant summary goes with the version it was computed for.
#[test]
fn gc_removes_registry_summaries_of_versions_it_removed() {
    let (_d, store) = store();
    commit_rows(&store, "a", 0..10);
    commit_rows(&store, "a", 0..20);
    let registry = store.layout().derived().join("registry");
    std::fs::create_dir_all(&registry).unwrap();
    let summary = |version: u32| {
        let described = registry.join(format!("key{version}.json"));
        std::fs::write(&described, format!(r#"{{"format": 2, "dataset": "a", "version": {version}}}"#)).unwrap();
        std::fs::write(described.with_extension("parquet"), b"PAR1").unwrap();
        described
    };
    let (old, current) = (summary(1), summary(2));
    let report = store.gc(&cohort_store::GcOptions { keep: Some(1), ..Default::default() }).unwrap();
    assert!(report.removed_paths.contains(&old.with_extension("parquet")), "{report:?}");
    assert!(!old.exists() && !old.with_extension("parquet").exists());
    assert!(current.exists() && current.with_extension("parquet").exists(), "the current version's summary stays");
}
