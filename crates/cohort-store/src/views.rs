//! `datasets.duckdb`: a small database of views, so that the stock DuckDB CLI or Python's `duckdb`
//! package finds every dataset without our binary.
//!
//! It holds one schema per dataset with a view per table over the current version's Parquet files
//! (absolute paths), and `cohort_catalog.datasets` / `cohort_catalog.versions` tables copied from
//! the catalog. `cohort_catalog.store` records the store's path, so that `doctor` notices a moved
//! store whose views point at the old place.
//!
//! It is kept *after* the catalog, not with it. A commit (a rollback, an expiry) records the
//! datasets it changed in the catalog's `views_pending`, in its own transaction, and returns;
//! [`Store::sync_views`] then brings this file up to date for those datasets alone, in place and
//! in one DuckDB transaction, so that a client opening it sees it before or after, never half of
//! it. Views are created `WITH (DEFER_BINDING)`: DuckDB reads a view's Parquet schema when a
//! query first uses it rather than when it is made, which halved the time to add 30,000 views
//! (0.53 to 0.29 ms each). Updating it costs time in proportion to the store (DuckDB loads and checkpoints the
//! catalog of a file of N schemas: half a second at 10,000 datasets), which a commit therefore
//! no longer pays under the catalog lock. The command line syncs when a commit ends; a server in
//! the background, many commits at once. When a client holds the file open (DuckDB's file lock
//! then refuses a writer), when it is missing, or when it belongs to a moved store, it is rebuilt
//! whole in a temporary file and renamed into place.

use fs_err as fs;

use crate::catalog;
use crate::duck;
use crate::error::{Result, StoreError};
use crate::fsutil;
use crate::model::TableInfo;
use crate::name::{quote_ident, quote_literal};
use crate::store::Store;

/// The SQL expression that reads a table's Parquet files (absolute paths).
pub fn table_source(store: &Store, table: &TableInfo) -> String {
    parquet_source(store, table.files.iter().map(|f| f.path.as_str()))
}

/// A table's Parquet files, in order, as absolute paths.
pub fn table_files(store: &Store, table: &TableInfo) -> Vec<std::path::PathBuf> {
    table.files.iter().map(|f| store.layout().resolve(&f.path)).collect()
}

/// The SQL expression that reads the Parquet files at `paths` (relative to the store).
fn parquet_source<'a>(store: &Store, paths: impl IntoIterator<Item = &'a str>) -> String {
    let files: Vec<std::path::PathBuf> = paths.into_iter().map(|p| store.layout().resolve(p)).collect();
    files_source(&files)
}

/// The SQL expression that reads the Parquet files `files` (absolute paths), in order.
pub fn files_source(files: &[std::path::PathBuf]) -> String {
    let files: Vec<String> = files.iter().map(|f| quote_literal(&f.to_string_lossy())).collect();
    format!("read_parquet([{}])", files.join(", "))
}

/// The tables of `cohort_catalog`, as a new views database creates them.
fn catalog_schema_sql(store: &Store) -> String {
    format!(
        "CREATE SCHEMA cohort_catalog;
         CREATE TABLE cohort_catalog.store AS SELECT {} AS root;
         CREATE TABLE cohort_catalog.datasets (name VARCHAR, kind VARCHAR, description VARCHAR, tags VARCHAR,
             current_version INTEGER, tables INTEGER, row_count BIGINT, bytes BIGINT, updated_at TIMESTAMP);
         CREATE TABLE cohort_catalog.versions (dataset VARCHAR, version INTEGER, created_at TIMESTAMP,
             created_by VARCHAR, status VARCHAR, row_count BIGINT, content_hash VARCHAR, provenance VARCHAR);\n",
        quote_literal(&store.root().to_string_lossy())
    )
}

/// What the views database holds of one dataset: its `cohort_catalog` rows (as SQL value lists)
/// and a schema with a view per table of its current version.
struct DatasetRows {
    dataset: String,
    versions: Vec<String>,
    views: String,
}

/// [`DatasetRows`] of every dataset [`catalog::views_rows`] read.
fn dataset_rows(store: &Store, read: &catalog::ViewsRows) -> Vec<DatasetRows> {
    let mut versions_of: std::collections::HashMap<&str, Vec<&catalog::ViewsVersion>> = Default::default();
    for v in &read.versions {
        versions_of.entry(v.dataset.as_str()).or_default().push(v);
    }
    let mut tables_of: std::collections::HashMap<&str, Vec<(&str, &[String])>> = Default::default();
    for (name, table, paths) in &read.tables {
        tables_of.entry(name.as_str()).or_default().push((table.as_str(), paths.as_slice()));
    }
    read.summaries
        .iter()
        .map(|d| {
            let name = d.name.as_str();
            let dataset = format!(
                "({}, {}, {}, {}, {}, {}, {}, {}, make_timestamp({}))",
                quote_literal(name),
                quote_literal(d.kind.as_str()),
                d.description.as_deref().map(quote_literal).unwrap_or_else(|| "NULL".into()),
                quote_literal(&serde_json::to_string(&d.tags).unwrap_or_default()),
                d.current_version.map(|v| v.to_string()).unwrap_or_else(|| "NULL".into()),
                d.tables,
                d.rows,
                d.bytes,
                d.updated_at.as_microsecond()
            );
            let versions = versions_of
                .get(name)
                .into_iter()
                .flatten()
                .map(|v| {
                    format!(
                        "({}, {}, make_timestamp({}), {}, {}, {}, {}, {})",
                        quote_literal(name),
                        v.version,
                        v.created_at.as_microsecond(),
                        quote_literal(&v.created_by),
                        quote_literal(v.status.as_str()),
                        v.rows,
                        quote_literal(&v.content_hash),
                        quote_literal(&v.provenance)
                    )
                })
                .collect();
            let mut views = String::new();
            if d.current_version.is_some() {
                views.push_str(&format!("CREATE SCHEMA {};\n", quote_ident(name)));
                for (table, paths) in tables_of.get(name).into_iter().flatten() {
                    views.push_str(&format!(
                        "CREATE VIEW {}.{} WITH (DEFER_BINDING) AS SELECT * FROM {};\n",
                        quote_ident(name),
                        quote_ident(table),
                        parquet_source(store, paths.iter().map(String::as_str))
                    ));
                }
            }
            DatasetRows { dataset, versions, views }
        })
        .collect()
}

/// The SQL that adds `rows` to a views database: two INSERTs for all of them (a statement each
/// cost milliseconds in a database of thousands of schemas), then their schemas and views.
fn insert_sql(rows: &[DatasetRows]) -> String {
    let mut sql = String::new();
    if !rows.is_empty() {
        let datasets: Vec<&str> = rows.iter().map(|r| r.dataset.as_str()).collect();
        sql.push_str(&format!("INSERT INTO cohort_catalog.datasets VALUES {};\n", datasets.join(", ")));
    }
    let versions: Vec<&str> = rows.iter().flat_map(|r| r.versions.iter().map(String::as_str)).collect();
    if !versions.is_empty() {
        sql.push_str(&format!("INSERT INTO cohort_catalog.versions VALUES {};\n", versions.join(", ")));
    }
    for r in rows {
        sql.push_str(&r.views);
    }
    sql
}

/// Rebuilds the views database from `rows` (every dataset's, read from the catalog), in a new file
/// renamed into place.
pub(crate) fn write_views_db(store: &Store, rows: &catalog::ViewsRows) -> Result<()> {
    let target = store.layout().views_db();
    let tmp = target.with_file_name(format!(".datasets.duckdb.tmp-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let mut sql = catalog_schema_sql(store);
    sql.push_str(&insert_sql(&dataset_rows(store, rows)));
    {
        let db = duck::Hosted::attach(&tmp, false)?;
        db.execute_batch(&sql).map_err(|e| StoreError::duckdb("writing datasets.duckdb", e))?;
        db.checkpoint().map_err(|e| StoreError::duckdb("writing datasets.duckdb", e))?;
        db.close().map_err(|e| StoreError::duckdb("closing datasets.duckdb", e))?;
    }
    fsutil::sync_file(&tmp)?;
    // An update in place that a crash cut short leaves its write-ahead log beside the file; the
    // new file must not be read with the old file's log.
    let mut wal = target.clone().into_os_string();
    wal.push(".wal");
    match std::fs::remove_file(&wal) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
        _ => {}
    }
    fs::rename(&tmp, &target)?;
    fsutil::sync_dir(store.root())?;
    Ok(())
}

/// Brings the views database up to date for `names` alone (the datasets commits, rollbacks or
/// expiries touched), from `rows` (theirs, read from the catalog), in place and in one DuckDB
/// transaction. Returns `Ok(false)`, changing nothing, when the file cannot be updated in place
/// (it is missing, belongs to a store that moved, or a client holds it open, which DuckDB's file
/// lock refuses): the caller rebuilds it whole.
pub(crate) fn update_views_db(store: &Store, rows: &catalog::ViewsRows, names: &[&str]) -> Result<bool> {
    let target = store.layout().views_db();
    if !target.exists() {
        return Ok(false);
    }
    let Ok(db) = duck::Hosted::attach(&target, false) else { return Ok(false) };
    let root: Option<String> = db.query_row("SELECT root FROM cohort_catalog.store", [], |r| r.get(0)).ok();
    if root.as_deref() != Some(&*store.root().to_string_lossy()) {
        return Ok(false);
    }
    // Only schemas that exist are dropped: a batch of new datasets drops nothing.
    let existing: std::collections::HashSet<String> = {
        let mut stmt = db
            .prepare("SELECT schema_name FROM duckdb_schemas() WHERE database_name = current_database()")
            .map_err(|e| StoreError::duckdb("reading datasets.duckdb", e))?;
        let names = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| StoreError::duckdb("reading datasets.duckdb", e))?;
        names.collect::<duckdb::Result<_>>().map_err(|e| StoreError::duckdb("reading datasets.duckdb", e))?
    };
    let literals: Vec<String> = names.iter().map(|n| quote_literal(n)).collect();
    let mut sql = format!(
        "BEGIN TRANSACTION;
         DELETE FROM cohort_catalog.datasets WHERE name IN ({list});
         DELETE FROM cohort_catalog.versions WHERE dataset IN ({list});\n",
        list = literals.join(", ")
    );
    for name in names.iter().filter(|n| existing.contains(**n)) {
        sql.push_str(&format!("DROP SCHEMA {} CASCADE;\n", quote_ident(name)));
    }
    sql.push_str(&insert_sql(&dataset_rows(store, rows)));
    sql.push_str("COMMIT;\n");
    let started = std::time::Instant::now();
    if let Err(e) = db.execute_batch(&sql) {
        let _ = db.execute_batch("ROLLBACK");
        return Err(StoreError::duckdb("updating datasets.duckdb", e));
    }
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), statements = names.len(), "ran the views update");
    crate::failpoint::hit("views.before_checkpoint");
    db.checkpoint().map_err(|e| StoreError::duckdb("updating datasets.duckdb", e))?;
    db.close().map_err(|e| StoreError::duckdb("closing datasets.duckdb", e))?;
    fsutil::sync_file(&target)?;
    Ok(true)
}
