//! Numbers read for an analysis straight from a version's Parquet files are, bit for bit, the
//! numbers DuckDB's `CAST(column AS DOUBLE)` gives: over several files and row groups, with
//! nulls, integers past 2^53, floats and booleans, and with what the direct read declines
//! (decimals, codecs this build does not carry).

use cohort_analysis::analyze::direct;
use cohort_analysis::analyze::frame::{self, Frame, Values};
use cohort_store::{DatasetKind, DatasetName, Session, Settings, Store, TableName, VersionMeta};

/// A dataset `mixed` whose table `t` is two Parquet files of several row groups each, compressed
/// with `codec`.
fn stored(codec: &str) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(&dir.path().join("s"), Settings::default()).unwrap();
    let mut staging = store.stage(&DatasetName::new("mixed").unwrap()).unwrap();
    let table = staging.table_dir(&TableName::new("t").unwrap()).unwrap();
    let duck = duckdb::Connection::open_in_memory().unwrap();
    for (part, (from, to)) in [(0, 5_000), (5_000, 7_500)].into_iter().enumerate() {
        let path = table.join(format!("part-{part:05}.parquet"));
        duck.execute_batch(&format!(
            "COPY (SELECT i::INTEGER AS small, (i * 1000003)::BIGINT AS big, 9007199254740993 + i AS huge,
                    i % 3 = 0 AS flag, CASE WHEN i % 7 = 0 THEN NULL ELSE i / 3.0 END AS ratio,
                    (i * 0.1)::FLOAT AS single, (i % 256)::UTINYINT AS tiny, (i / 7)::DECIMAL(12, 3) AS money,
                    CASE WHEN i % 11 = 0 THEN NULL ELSE i END AS gaps
                  FROM range({from}, {to}) r(i))
             TO '{}' (FORMAT parquet, ROW_GROUP_SIZE 1000, COMPRESSION {codec})",
            path.display()
        ))
        .unwrap();
    }
    staging
        .commit(VersionMeta {
            kind: DatasetKind::Upload,
            description: None,
            tags: None,
            created_by: "test".into(),
            sources: vec![],
            provenance: serde_json::json!({}),
        })
        .unwrap();
    (dir, store)
}

fn table(store: &Store) -> cohort_store::TableInfo {
    let version = store.resolve(&cohort_store::VersionRef::parse("mixed").unwrap()).unwrap();
    version.table("t").unwrap().clone()
}

/// Whether the direct read takes these columns (rather than leaving them to DuckDB).
fn read_directly(store: &Store, names: &[&str]) -> bool {
    direct::numbers(store, &table(store), names).unwrap().is_some()
}

fn load(store: &Store, direct: bool, names: &[&str]) -> Frame {
    let table = &table(store);
    let session = Session::new(store).unwrap();
    let source = cohort_store::table_source(store, table);
    frame::load(&session, direct.then_some(store), &source, table, names, &[], u64::MAX).unwrap()
}

fn bits(frame: &Frame) -> Vec<Vec<u64>> {
    frame
        .columns
        .iter()
        .map(|c| match &c.values {
            Values::Numbers(v) => v.iter().map(|x| x.to_bits()).collect(),
            Values::Categories { .. } => panic!("`{}` should be numbers", c.name),
        })
        .collect()
}

#[test]
fn reading_the_files_directly_gives_the_numbers_duckdb_gives() {
    let (_dir, store) = stored("zstd");
    let names = ["small", "big", "huge", "flag", "ratio", "single", "tiny", "gaps"];
    assert!(read_directly(&store, &names));
    let (direct, queried) = (load(&store, true, &names), load(&store, false, &names));
    assert_eq!(direct.rows, 7_500);
    assert_eq!(bits(&direct), bits(&queried));
    // The values themselves, where the two reads could part: nulls, rounding past 2^53, booleans.
    let Values::Numbers(ratio) = &direct.columns[4].values else { unreachable!() };
    assert!(ratio[0].is_nan() && ratio[7].is_nan() && ratio[1] == 1.0 / 3.0);
    let Values::Numbers(huge) = &direct.columns[2].values else { unreachable!() };
    assert_eq!(huge[0], 9007199254740993_i64 as f64);
    let Values::Numbers(flag) = &direct.columns[3].values else { unreachable!() };
    assert_eq!(&flag[..4], &[1.0, 0.0, 0.0, 1.0]);
}

#[test]
fn a_column_the_direct_read_declines_is_queried_with_the_others() {
    let (_dir, store) = stored("zstd");
    // DECIMAL is a number to an analysis, but only DuckDB's cast defines its double.
    let names = ["money", "small"];
    assert!(!read_directly(&store, &names) && read_directly(&store, &["small"]));
    let (direct, queried) = (load(&store, true, &names), load(&store, false, &names));
    assert_eq!(bits(&direct), bits(&queried));
    let Values::Numbers(money) = &direct.columns[0].values else { unreachable!() };
    assert_eq!(money[10], 1.429);
}

#[test]
fn files_in_a_codec_this_build_cannot_read_are_queried() {
    // DuckDB writes Snappy by default, and an ingested Parquet file may come that way.
    let (_dir, store) = stored("snappy");
    let names = ["small", "ratio"];
    assert!(!read_directly(&store, &names));
    assert_eq!(bits(&load(&store, true, &names)), bits(&load(&store, false, &names)));
}
