//! `datasets.duckdb`: a small database of views, so that the stock DuckDB CLI or Python's `duckdb`
//! package finds every dataset without our binary.
//!
//! It holds one schema per dataset with a view per table over the current version's Parquet files
//! (absolute paths), and `cohort_catalog.datasets` / `cohort_catalog.versions` tables copied from
//! the catalog. `cohort_catalog.store` records the store's path, so that `doctor` notices a moved
//! store whose views point at the old place. It is rebuilt in a temporary file and renamed into place on every change, under
//! the catalog's exclusive lock, so a client opening it always sees a whole, consistent file.

use duckdb::Connection;
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
    let files = table
        .files
        .iter()
        .map(|f| quote_literal(&store.layout().resolve(&f.path).to_string_lossy()))
        .collect::<Vec<_>>()
        .join(", ");
    format!("read_parquet([{files}])")
}

/// Rebuilds the views database from the catalog `conn`.
pub(crate) fn write_views_db(store: &Store, conn: &Connection) -> Result<()> {
    let target = store.layout().views_db();
    let tmp = target.with_file_name(format!(".datasets.duckdb.tmp-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let datasets = catalog::list_datasets(conn)?;
    let mut sql = format!(
        "CREATE SCHEMA cohort_catalog;
         CREATE TABLE cohort_catalog.store AS SELECT {} AS root;
         CREATE TABLE cohort_catalog.datasets (name VARCHAR, kind VARCHAR, description VARCHAR, tags VARCHAR,
             current_version INTEGER, tables INTEGER, row_count BIGINT, bytes BIGINT, updated_at TIMESTAMP);
         CREATE TABLE cohort_catalog.versions (dataset VARCHAR, version INTEGER, created_at TIMESTAMP,
             created_by VARCHAR, status VARCHAR, row_count BIGINT, content_hash VARCHAR, provenance VARCHAR);\n",
        quote_literal(&store.root().to_string_lossy())
    );
    for d in &datasets {
        sql.push_str(&format!(
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
        ));
        for v in catalog::versions(conn, d.id)? {
            sql.push_str(&format!(
                "INSERT INTO cohort_catalog.versions VALUES ({}, {}, make_timestamp({}), {}, {}, {}, {}, {});\n",
                quote_literal(d.name.as_str()),
                v.version,
                v.created_at.as_microsecond(),
                quote_literal(&v.created_by),
                quote_literal(v.status.as_str()),
                v.rows,
                quote_literal(&v.content_hash),
                quote_literal(&v.provenance.to_string())
            ));
        }
        let Some(current) = d.current_version else { continue };
        sql.push_str(&format!("CREATE SCHEMA {};\n", quote_ident(d.name.as_str())));
        for t in catalog::tables(conn, d.id, current)? {
            sql.push_str(&format!(
                "CREATE VIEW {}.{} AS SELECT * FROM {};\n",
                quote_ident(d.name.as_str()),
                quote_ident(&t.name),
                table_source(store, &t)
            ));
        }
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
