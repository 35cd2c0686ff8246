//! Running one long DuckDB statement for ingest, and explaining reader errors.

use std::path::Path;

use cohort_store::duck::{RunError, run_interruptible};
use cohort_store::{CancelToken, Progress};
use duckdb::Connection;

use crate::error::{IngestError, Result};

/// How every table an ingest stores is written: zstd level 1 (see ARCHITECTURE.md) in row groups
/// of DuckDB's default size.
const PARQUET_OPTIONS: &str = "FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, ROW_GROUP_SIZE 122880";

/// The `COPY` that writes what `select` returns to the Parquet file `target`.
pub fn copy_sql(select: &str, target: &Path) -> String {
    format!("COPY ({select}) TO {} ({PARQUET_OPTIONS})", cohort_store::name::quote_literal(&target.to_string_lossy()))
}

/// `(name, SQL type)` of each column `select` (a query, or `SELECT * FROM reader(...)`) returns.
pub fn describe(conn: &Connection, select: &str) -> duckdb::Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare(&format!("DESCRIBE {select}"))?;
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect()
}

/// Executes `sql` with progress and cancellation; errors are explained in terms of `source`.
pub fn run_with_progress(
    conn: &Connection,
    sql: &str,
    source: &Path,
    total: u64,
    progress: &dyn Progress,
    cancel: &CancelToken,
) -> Result<()> {
    run_interruptible(conn, sql, total, progress, cancel).map_err(|e| match e {
        RunError::Cancelled => IngestError::Cancelled,
        RunError::Failed(e) => explain(source, &e.to_string()),
    })
}

/// How the message of a value that does not fit its column's type starts.
pub const MISFIT: &str = "a value does not fit its column's type";

/// Turns a DuckDB reader error into an error that names the file and line.
pub fn explain(source: &Path, message: &str) -> IngestError {
    let path = source.to_path_buf();
    if cohort_store::error::is_disk_full_message(message) {
        return IngestError::DiskFull { path };
    }
    let line = find_number_after(message, "Line: ").or_else(|| find_number_after(message, "line "));
    let lower = message.to_ascii_lowercase();
    let (summary, hint) = if lower.contains("invalid unicode") || lower.contains("utf-8") || lower.contains("utf8") {
        (
            "the file is not valid UTF-8 text".to_string(),
            Some(
                "it was read as UTF-8 (its start looked like UTF-8, or `--encoding` said so); give `--encoding \
                 latin-1` (or `utf-16`) if it is in another encoding, or re-save it as UTF-8"
                    .to_string(),
            ),
        )
    } else if lower.contains("expected number of columns") {
        let detail = message
            .lines()
            .find(|l| l.contains("Expected Number of Columns"))
            .map(|l| l.trim().to_string())
            .unwrap_or_default();
        (
            format!("a row has a different number of fields than the header ({detail})"),
            Some("fix or remove the row, or check that fields containing the delimiter are quoted".to_string()),
        )
    } else if lower.contains("could not convert") || lower.contains("conversion error") {
        let detail = message.lines().find(|l| l.to_ascii_lowercase().contains("could not convert")).unwrap_or(message);
        (
            format!("{MISFIT}: {}", detail.trim()),
            Some("pass `--text-columns NAME` to keep that column as text".to_string()),
        )
    } else {
        let first = message
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or(message)
            .trim_start_matches("Invalid Input Error: ")
            .trim_start_matches("IO Error: ")
            .to_string();
        (first, None)
    };
    IngestError::Invalid { path, line, message: summary, hint }
}

fn find_number_after(text: &str, marker: &str) -> Option<u64> {
    let start = text.find(marker)? + marker.len();
    let digits: String = text[start..].chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explains_ragged_rows() {
        let e = explain(
            Path::new("a.csv"),
            "Invalid Input Error: CSV Error on Line: 4\nOriginal Line: 1,2,3,4\nExpected Number of Columns: 3 Found: 4",
        );
        match e {
            IngestError::Invalid { line, message, .. } => {
                assert_eq!(line, Some(4));
                assert!(message.contains("Expected Number of Columns: 3 Found: 4"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn explains_disk_full() {
        assert!(matches!(
            explain(Path::new("a.csv"), "IO Error: No space left on device"),
            IngestError::DiskFull { .. }
        ));
    }
}
