//! JSON sources: an array of objects or one object per line (NDJSON), read by DuckDB's JSON
//! reader. Keys become columns; nested objects and arrays stay structs and lists (not strings), so
//! they can be queried field by field.

use std::path::Path;

use cohort_store::name::{quote_ident, quote_literal};
use duckdb::Connection;

use crate::error::Result;
use crate::parquet::normalised_select;
use crate::run::{describe, explain};

/// Builds the `SELECT` that reads `path` with types normalised for interchange.
pub fn reader_sql(conn: &Connection, path: &Path) -> Result<String> {
    // The whole file decides the types (not a sample), so a key that first appears late, or a
    // number that turns into text, does not fail the conversion half-way through.
    let reader = format!(
        "read_json({}, format = 'auto', records = 'true', sample_size = -1)",
        quote_literal(&path.to_string_lossy())
    );
    let timestamps = text_timestamps(conn, path, &reader)?;
    let source = if timestamps.is_empty() {
        reader
    } else {
        let casts: Vec<String> =
            timestamps.iter().map(|c| format!("CAST({0} AS TIMESTAMP) AS {0}", quote_ident(c))).collect();
        format!("(SELECT * REPLACE ({}) FROM {reader})", casts.join(", "))
    };
    normalised_select(conn, path, &source)
}

/// Text columns whose every value is an ISO 8601 timestamp. DuckDB's reader recognises
/// `2024-03-01T10:00:00` but not the `2024-03-01T10:00:00.000` that pandas and JavaScript write.
fn text_timestamps(conn: &Connection, path: &Path, reader: &str) -> Result<Vec<String>> {
    let text: Vec<String> = describe(conn, &format!("SELECT * FROM {reader}"))
        .map_err(|e| explain(path, &e.to_string()))?
        .into_iter()
        .filter(|(_, ty)| ty == "VARCHAR")
        .map(|(name, _)| name)
        .collect();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let checks: Vec<String> = text
        .iter()
        .map(|c| {
            let c = quote_ident(c);
            format!(
                "count({c}) > 0 AND count({c}) FILTER (WHERE {c} NOT LIKE '____-__-__T%' OR TRY_CAST({c} AS TIMESTAMP) IS NULL) = 0"
            )
        })
        .collect();
    let sql = format!("SELECT {} FROM {reader}", checks.join(", "));
    let flags: Vec<bool> = conn
        .query_row(&sql, [], |r| (0..text.len()).map(|i| r.get::<_, bool>(i)).collect())
        .map_err(|e| explain(path, &e.to_string()))?;
    Ok(text.into_iter().zip(flags).filter(|(_, is)| *is).map(|(c, _)| c).collect())
}
