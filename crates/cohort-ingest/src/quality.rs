//! The quality report of a converted table of up to 5 million rows, stored with the version: per column the share of
//! missing values and the distinct count; exact duplicate rows; the columns that could be a key
//! (no missing value, every value distinct); and identifier-like columns that are not unique.

use cohort_store::name::{quote_ident, quote_literal};
use duckdb::Connection;
use serde::Serialize;

/// One column's figures.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnQuality {
    /// The column.
    pub column: String,
    /// Percentage of rows without a value.
    pub missing_percent: f64,
    /// Distinct values (nulls not counted): exact, unless `distinct_is_estimate`.
    pub distinct: u64,
    /// Whether `distinct` is DuckDB's HyperLogLog estimate (tables over a million rows, where an
    /// exact count would cost the ingest a large share of its time; `cohort dictionary` counts
    /// exactly).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub distinct_is_estimate: bool,
}

/// A table's quality report.
#[derive(Debug, Clone, Serialize)]
pub struct TableQuality {
    /// Rows.
    pub rows: u64,
    /// Rows that repeat an earlier row exactly.
    pub duplicate_rows: u64,
    /// Columns with a value in every row, all different: candidate keys.
    pub candidate_keys: Vec<String>,
    /// Identifier-like columns that are not unique: (column, rows that repeat a value or lack one).
    pub identifiers_not_unique: Vec<(String, u64)>,
    /// Every column's figures.
    pub columns: Vec<ColumnQuality>,
}

/// Tables up to this many rows are assessed at ingest. Beyond, the extra scan would cost a large
/// share of the ingest itself; `cohort dictionary` measures such tables on demand.
pub const ASSESSED_UP_TO_ROWS: i64 = 5_000_000;

/// Tables up to this many rows have their distinct values counted exactly at ingest.
const EXACT_DISTINCT_UP_TO_ROWS: u64 = 1_000_000;

/// Assesses the Parquet file `path` just written for a table, whose `(name, SQL type)` columns
/// are `columns`; `None` past [`ASSESSED_UP_TO_ROWS`].
pub fn assess(
    conn: &Connection,
    path: &std::path::Path,
    columns: &[(String, String)],
) -> duckdb::Result<Option<TableQuality>> {
    let source = format!("read_parquet({})", quote_literal(&path.to_string_lossy()));
    // One scan: distinct rows, and each column's present and distinct counts. Rows are compared by
    // a 64-bit hash of the whole row: at most 5 million rows, a collision is about a one in a
    // million chance, and a set of hashes is small.
    let rows: i64 = conn.query_row(&format!("SELECT count(*) FROM {source}"), [], |r| r.get(0))?;
    if rows > ASSESSED_UP_TO_ROWS {
        return Ok(None);
    }
    let estimated = rows as u64 > EXACT_DISTINCT_UP_TO_ROWS;
    let mut measures = vec!["count(DISTINCT hash(t))".to_string()];
    for (c, _) in columns {
        let c = quote_ident(c);
        measures.push(format!("count({c})"));
        // Counted exactly below when the table is small enough; estimated in this scan otherwise.
        measures.push(if estimated { format!("approx_count_distinct({c})") } else { "0".into() });
    }
    let figures: Vec<i64> = conn.query_row(&format!("SELECT {} FROM {source} t", measures.join(", ")), [], |r| {
        (0..measures.len()).map(|i| r.get::<_, i64>(i)).collect()
    })?;
    let distinct_rows = figures[0];
    let figures = &figures[1..];
    let exact = if estimated {
        None
    } else {
        let names: Vec<String> = columns.iter().map(|(c, _)| c.clone()).collect();
        Some(cohort_store::duck::distinct_counts(conn, &source, &names, rows as u64)?)
    };
    let mut report = TableQuality {
        rows: rows as u64,
        duplicate_rows: (rows - distinct_rows).max(0) as u64,
        candidate_keys: Vec::new(),
        identifiers_not_unique: Vec::new(),
        columns: Vec::new(),
    };
    for (i, (name, ty)) in columns.iter().enumerate() {
        let present = figures[2 * i];
        let distinct = exact.as_ref().map_or(figures[2 * i + 1], |e| e[i] as i64);
        report.columns.push(ColumnQuality {
            column: name.clone(),
            missing_percent: if rows == 0 { 0.0 } else { 100.0 * (rows - present) as f64 / rows as f64 },
            distinct: distinct.max(0) as u64,
            distinct_is_estimate: estimated,
        });
        // Nested values, flags and measurements are not keys, however distinct they happen to be.
        let keyable = !ty.contains('[')
            && !ty.starts_with("STRUCT")
            && !ty.starts_with("MAP")
            && !matches!(ty.as_str(), "BOOLEAN" | "DOUBLE" | "FLOAT");
        let identifier = cohort_store::roles::is_identifier_name(name);
        // Past a million rows, the estimate finds the columns worth an exact count.
        if rows > 0 && keyable && (identifier || (present == rows && distinct as f64 >= 0.97 * rows as f64)) {
            let exact: i64 = match &exact {
                Some(counted) => counted[i] as i64,
                None => {
                    conn.query_row(&format!("SELECT count(DISTINCT {}) FROM {source}", quote_ident(name)), [], |r| {
                        r.get(0)
                    })?
                }
            };
            if present == rows && exact == rows {
                report.candidate_keys.push(name.clone());
            } else if identifier {
                report.identifiers_not_unique.push((name.clone(), (rows - exact) as u64));
            }
        }
    }
    Ok(Some(report))
}
