//! Parquet sources, re-encoded to the store's conventions (zstd, microsecond timestamps, no
//! unsigned integers) so that every stored file reads the same in Spark, Trino, pandas and DuckDB.

use std::path::Path;

use cohort_store::name::{quote_ident, quote_literal};
use duckdb::Connection;

use crate::error::{IngestError, Result};
use crate::run::{describe, explain};

/// Builds the `SELECT` that reads `path` with types normalised for interchange.
pub fn reader_sql(conn: &Connection, path: &Path) -> Result<String> {
    normalised_select(conn, path, &format!("read_parquet({})", quote_literal(&path.to_string_lossy())))
        .map_err(|e| damaged(path, e))
}

/// An error reading the Parquet file `path`, said as what it almost always is: a damaged or
/// incomplete file (DuckDB's own words, such as "Out of buffer" or "No magic bytes found", say
/// where its decoder stopped, not what a user should do). Disk-full and cancellation pass through.
pub fn damaged(path: &Path, error: IngestError) -> IngestError {
    match error {
        IngestError::Invalid { message, .. } => IngestError::Invalid {
            path: path.to_path_buf(),
            line: None,
            message: format!("this is not a readable Parquet file: it is damaged or incomplete ({message})"),
            hint: Some(
                "check that the file was copied or downloaded whole (compare its size with the original), or write \
                 it again from the program that made it"
                    .into(),
            ),
        },
        other => other,
    }
}

/// `SELECT` from `source` (a table function reading `path`), with each column whose type does not
/// travel well cast to one that does.
pub fn normalised_select(conn: &Connection, path: &Path, source: &str) -> Result<String> {
    let columns = describe(conn, &format!("SELECT * FROM {source}")).map_err(|e| explain(path, &e.to_string()))?;
    let projection = columns
        .iter()
        .map(|(name, ty)| match interchange_type(ty) {
            Some(target) => format!("CAST({0} AS {target}) AS {0}", quote_ident(name)),
            None => quote_ident(name),
        })
        .collect::<Vec<_>>()
        .join(", ");
    Ok(format!("SELECT {projection} FROM {source}"))
}

/// The type a column is cast to for interchange, if it needs one.
fn interchange_type(duckdb_type: &str) -> Option<&'static str> {
    Some(match duckdb_type {
        "TIMESTAMP_NS" | "TIMESTAMP_MS" | "TIMESTAMP_S" => "TIMESTAMP",
        "UTINYINT" => "SMALLINT",
        "USMALLINT" => "INTEGER",
        "UINTEGER" => "BIGINT",
        "UBIGINT" => "DECIMAL(20, 0)",
        "HUGEINT" | "UHUGEINT" => "DECIMAL(38, 0)",
        _ => return None,
    })
}
