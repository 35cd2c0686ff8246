//! `datasets.duckdb`: a small database of views, so that the stock DuckDB CLI or Python's `duckdb`
//! package finds every dataset without our binary.
//!
//! It holds one schema per dataset with a view per table over the current version's Parquet files
//! (absolute paths), and `cohort_catalog.datasets` / `cohort_catalog.versions` tables copied from
//! the catalog. `cohort_catalog.store` records the store's path, so that `doctor` notices a moved
//! store whose views point at the old place.
//!
//! A commit updates it in place, for the datasets it touched alone, in one DuckDB transaction under
//! the catalog's exclusive lock: a client opening it sees the file before or after the change,
//! never half of it, and a commit costs the same in a store of ten datasets or ten thousand. When
//! a client holds the file open (DuckDB's file lock then refuses a writer), when it is missing,
//! or after a crash, it is rebuilt whole in a temporary file and renamed into place.

use duckdb::Connection;
use fs_err as fs;

use crate::catalog;
use crate::duck;
use crate::error::{Result, StoreError};
use crate::fsutil;
use crate::model::{DatasetSummary, TableInfo};
use crate::name::{quote_ident, quote_literal};
use crate::store::Store;

/// The SQL expression that reads a table's Parquet files (absolute paths).
pub fn table_source(store: &Store, table: &TableInfo) -> String {
    let files = table
        .files
        .iter()
        .map(|f| quote_literal(&store.layout().resolve(&f.path).to_string_lossy()))
        .collect::<Vec<_>>()
        .join(", ");
    format!("read_parquet([{files}])")
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

/// What the views database holds of one dataset: its `cohort_catalog` rows, and a schema with a
/// view per table of its current version.
fn dataset_sql(store: &Store, conn: &Connection, d: &DatasetSummary) -> Result<String> {
    let mut sql = format!(
        "INSERT INTO cohort_catalog.datasets VALUES ({}, {}, {}, {}, {}, {}, {}, {}, make_timestamp({}));\n",
        quote_literal(d.name.as_str()),
        quote_literal(d.kind.as_str()),
        d.description.as_deref().map(quote_literal).unwrap_or_else(|| "NULL".into()),
        quote_literal(&serde_json::to_string(&d.tags).unwrap_or_default()),
        d.current_version.map(|v| v.to_string()).unwrap_or_else(|| "NULL".into()),
        d.tables,
        d.rows,
        d.bytes,
        d.updated_at.as_microsecond()
    );
    let versions: Vec<String> = catalog::versions(conn, d.id)?
        .iter()
        .map(|v| {
            format!(
                "({}, {}, make_timestamp({}), {}, {}, {}, {}, {})",
                quote_literal(d.name.as_str()),
                v.version,
                v.created_at.as_microsecond(),
                quote_literal(&v.created_by),
                quote_literal(v.status.as_str()),
                v.rows,
                quote_literal(&v.content_hash),
                quote_literal(&v.provenance.to_string())
            )
        })
        .collect();
    if !versions.is_empty() {
        sql.push_str(&format!("INSERT INTO cohort_catalog.versions VALUES {};\n", versions.join(", ")));
    }
    let Some(current) = d.current_version else { return Ok(sql) };
    sql.push_str(&format!("CREATE SCHEMA {};\n", quote_ident(d.name.as_str())));
    for t in catalog::tables(conn, d.id, current)? {
        sql.push_str(&format!(
            "CREATE VIEW {}.{} AS SELECT * FROM {};\n",
            quote_ident(d.name.as_str()),
            quote_ident(&t.name),
            table_source(store, &t)
        ));
    }
    Ok(sql)
}

/// Rebuilds the views database from the catalog `conn`, in a new file renamed into place.
pub(crate) fn write_views_db(store: &Store, conn: &Connection) -> Result<()> {
    let target = store.layout().views_db();
    let tmp = target.with_file_name(format!(".datasets.duckdb.tmp-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let mut sql = catalog_schema_sql(store);
    for d in &catalog::list_datasets(conn)? {
        sql.push_str(&dataset_sql(store, conn, d)?);
    }
    {
        let db = duck::open_file_db(&tmp)?;
        db.execute_batch(&sql).map_err(|e| StoreError::duckdb("writing datasets.duckdb", e))?;
        db.execute_batch("CHECKPOINT").map_err(|e| StoreError::duckdb("writing datasets.duckdb", e))?;
        db.close().map_err(|(_, e)| StoreError::duckdb("closing datasets.duckdb", e))?;
    }
    fsutil::sync_file(&tmp)?;
    fs::rename(&tmp, &target)?;
    fsutil::sync_dir(store.root())?;
    Ok(())
}

/// Brings the views database up to date for `names` alone (the datasets a commit, rollback or
/// deletion touched), in place and in one DuckDB transaction: the cost of a commit no longer grows
/// with the store. Returns `Ok(false)`, changing nothing, when the file cannot be updated in place
/// (it is missing, belongs to a store that moved, or a client holds it open, which DuckDB's file
/// lock refuses): the caller rebuilds it whole.
pub(crate) fn update_views_db(store: &Store, conn: &Connection, names: &[&str]) -> Result<bool> {
    let target = store.layout().views_db();
    if !target.exists() {
        return Ok(false);
    }
    let Ok(db) = duck::open_file_db(&target) else { return Ok(false) };
    let root: Option<String> = db.query_row("SELECT root FROM cohort_catalog.store", [], |r| r.get(0)).ok();
    if root.as_deref() != Some(&*store.root().to_string_lossy()) {
        return Ok(false);
    }
    let mut sql = String::from("BEGIN TRANSACTION;\n");
    for name in names {
        let literal = quote_literal(name);
        sql.push_str(&format!(
            "DROP SCHEMA IF EXISTS {} CASCADE;
             DELETE FROM cohort_catalog.datasets WHERE name = {literal};
             DELETE FROM cohort_catalog.versions WHERE dataset = {literal};\n",
            quote_ident(name)
        ));
        if let Some(row) = catalog::find_dataset(conn, name)? {
            sql.push_str(&dataset_sql(store, conn, &catalog::dataset_summary(conn, row.id)?)?);
        }
    }
    sql.push_str("COMMIT;\n");
    if let Err(e) = db.execute_batch(&sql) {
        let _ = db.execute_batch("ROLLBACK");
        return Err(StoreError::duckdb("updating datasets.duckdb", e));
    }
    db.execute_batch("CHECKPOINT").map_err(|e| StoreError::duckdb("updating datasets.duckdb", e))?;
    db.close().map_err(|(_, e)| StoreError::duckdb("closing datasets.duckdb", e))?;
    fsutil::sync_file(&target)?;
    Ok(true)
}
