//! What a commit costs as the store grows: the store is filled to each size in turn (small
//! datasets of one table, committed in batches), and at each size single commits are timed, a
//! new dataset and a new version of an existing one, with the catalog reads a page makes (`list`,
//! `detail`) and a rollback. Commits leave `datasets.duckdb` to a background sync, as the server
//! does; the time that sync takes to catch up with one commit (what a command-line commit adds
//! before it exits) is its own column.
//!
//! ```sh
//! cargo build --release --workspace --examples
//! $CARGO_TARGET_DIR/release/examples/commit_scale [--sizes 10,1000,10000] [--commits 20] [--keep DIR]
//! ```
//!
//! Prints a Markdown table; `scripts/bench.py commit` runs it and adds the CLI's own timings.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cohort_store::{DatasetKind, DatasetName, PendingCommit, Settings, Store, TableName, VersionMeta, VersionRef};

fn main() {
    let mut sizes = vec![10usize, 1_000, 10_000];
    let mut commits = 20usize;
    let mut keep: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--sizes" => {
                sizes = args.next().expect("--sizes N,N").split(',').map(|s| s.parse().expect("a size")).collect()
            }
            "--commits" => commits = args.next().expect("--commits N").parse().expect("a number"),
            "--keep" => keep = Some(PathBuf::from(args.next().expect("--keep DIR"))),
            other => panic!("unknown argument {other}"),
        }
    }
    let scratch = tempfile::tempdir().expect("a temporary folder");
    let root = keep.clone().unwrap_or_else(|| scratch.path().join("store"));
    let store = Store::init(&root, Settings { views_in_background: true, ..Settings::default() }).expect("a new store");
    let template = scratch.path().join("template.parquet");
    duckdb::Connection::open_in_memory()
        .unwrap()
        .execute_batch(&format!(
            "COPY (SELECT i AS id, 'P' || lpad(i::VARCHAR, 5, '0') AS patient, 40 + i % 45 AS va, DATE '2024-01-01' + i::INTEGER AS seen,
                   i % 3 = 0 AS injected FROM range(10) t(i)) TO '{}' (FORMAT parquet)",
            template.display()
        ))
        .unwrap();

    println!(
        "| datasets in the store | batch of 500, per version | commit, new dataset (p50 / p95) | \
         commit, new version (p50 / p95) | rollback (p50) | datasets.duckdb after a commit (p50) | list (p50) | \
         detail (p50) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    // A kept store is grown further, not filled again.
    let mut filled = store.list().expect("lists").len();
    let run = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    for &size in &sizes {
        let mut batches = Vec::new();
        while filled < size {
            let batch: Vec<PendingCommit> = (filled..size.min(filled + 500))
                .map(|i| PendingCommit {
                    staging: staged(&store, &format!("filler-{i:05}"), &template, i as u64),
                    meta: meta(),
                    import: None,
                    only_new: true,
                })
                .collect();
            let n = batch.len();
            filled += n;
            let took = time(|| {
                for outcome in store.commit_batch(batch).expect("a batch commits") {
                    outcome.expect("each commits");
                }
            });
            batches.push(took / n as u32);
            store.sync_views().expect("the views catch up");
        }
        let mut new_dataset = Vec::new();
        let mut new_version = Vec::new();
        let mut rollback = Vec::new();
        let mut views = Vec::new();
        let target = DatasetName::new("filler-00000").unwrap();
        for c in 0..commits {
            let staging = staged(&store, &format!("timed-{run}-{size}-{c}"), &template, 1_000_000 + c as u64);
            new_dataset.push(time(|| staging.commit(meta()).expect("commits")));
            views.push(time(|| assert_eq!(store.sync_views().expect("the views catch up"), 1)));
            filled += 1;
            let staging = staged(&store, "filler-00000", &template, run * 1_000_000 + (size * commits + c) as u64);
            new_version.push(time(|| staging.commit(meta()).expect("commits")));
            let current = store.resolve(&VersionRef::parse("filler-00000").unwrap()).unwrap().version;
            rollback.push(time(|| store.rollback(&target, current - 1).expect("rolls back")));
            store.sync_views().expect("the views catch up");
        }
        let list: Vec<Duration> = (0..commits).map(|_| time(|| store.list().expect("lists"))).collect();
        let detail: Vec<Duration> = (0..commits)
            .map(|_| time(|| store.detail(&VersionRef::parse("filler-00000").unwrap()).expect("details")))
            .collect();
        println!(
            "| {size} | {} | {} / {} | {} / {} | {} | {} | {} | {} |",
            batches.last().map_or("".into(), |d| ms(*d)),
            ms(percentile(&new_dataset, 50)),
            ms(percentile(&new_dataset, 95)),
            ms(percentile(&new_version, 50)),
            ms(percentile(&new_version, 95)),
            ms(percentile(&rollback, 50)),
            ms(percentile(&views, 50)),
            ms(percentile(&list, 50)),
            ms(percentile(&detail, 50)),
        );
    }
    if keep.is_some() {
        eprintln!("kept the store at {}", root.display());
    }
}

/// A staged version of `name`: the template's table, with a column label from `salt` so that
/// every version's content differs.
fn staged(store: &Store, name: &str, template: &Path, salt: u64) -> cohort_store::Staging {
    let mut staging = store.stage(&DatasetName::new(name).unwrap()).expect("stages");
    let dir = staging.table_dir(&TableName::new("visits").unwrap()).expect("a table folder");
    std::fs::copy(template, dir.join("part-0.parquet")).expect("copies the table");
    staging.annotate(
        &TableName::new("visits").unwrap(),
        "va",
        cohort_store::model::ColumnNotes { label: Some(format!("version {salt}")), ..Default::default() },
    );
    staging
}

fn meta() -> VersionMeta {
    VersionMeta {
        kind: DatasetKind::Upload,
        description: None,
        tags: None,
        created_by: "commit_scale".into(),
        sources: Vec::new(),
        provenance: serde_json::json!({"tool": "commit_scale"}),
    }
}

fn time<T>(f: impl FnOnce() -> T) -> Duration {
    let started = Instant::now();
    let _ = f();
    started.elapsed()
}

fn percentile(values: &[Duration], p: usize) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    sorted[((sorted.len() - 1) * p) / 100]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
