//! A table's data dictionary: each column's type, role and label from the catalog, with its
//! completeness and range measured by DuckDB's `SUMMARIZE` over the table's files, and its exact
//! number of distinct values (`SUMMARIZE`'s own is an estimate).

use std::collections::BTreeMap;

use cohort_store::{MissingCodes, Session, Store, StoreError, TableInfo, table_source};
use serde::{Deserialize, Serialize};

use crate::query_rows;

/// One column of a table's data dictionary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DictionaryEntry {
    /// Column name.
    pub column: String,
    /// SQL type.
    pub sql_type: String,
    /// What the column is for, when known.
    pub role: Option<String>,
    /// Human label, when the source had one.
    pub label: Option<String>,
    /// Percentage of rows with a value.
    pub completeness: f64,
    /// Number of distinct values (exact; nulls are not counted).
    pub distinct: u64,
    /// Smallest value, as text.
    pub min: Option<String>,
    /// Largest value, as text.
    pub max: Option<String>,
    /// Mean, for numbers.
    pub mean: Option<String>,
    /// The code list of a coded column (code -> label).
    pub value_labels: Option<BTreeMap<String, String>>,
    /// Missing codes of the source, stored as nulls.
    pub missing: Option<MissingCodes>,
}

impl DictionaryEntry {
    /// The code list and missing codes in one line: `1 = Male; 2 = Female; missing: -99 (14)`.
    pub fn codes(&self) -> String {
        let mut parts: Vec<String> =
            self.value_labels.iter().flatten().map(|(code, label)| format!("{code} = {label}")).collect();
        if let Some(m) = &self.missing {
            let mut codes: Vec<String> = m.declared.clone();
            for (code, n) in &m.found {
                match codes.iter_mut().find(|c| *c == code) {
                    Some(c) => *c = format!("{code} ({n})"),
                    None => codes.push(format!("{code} ({n})")),
                }
            }
            parts.push(format!("missing: {}", codes.join(", ")));
        }
        parts.join("; ")
    }
}

/// Columns summarised by one query.
const SUMMARIZED_AT_ONCE: usize = 100;

/// The dictionary of `table`, in column order.
pub fn table_dictionary(
    store: &Store,
    session: &Session,
    table: &TableInfo,
) -> Result<Vec<DictionaryEntry>, StoreError> {
    source_dictionary(session, &table_source(store, table), table)
}

/// [`table_dictionary`] of what `source` (a relation in `session`) holds, described by `table`:
/// a view built for the occasion, such as the unified view.
pub fn source_dictionary(
    session: &Session,
    source: &str,
    table: &TableInfo,
) -> Result<Vec<DictionaryEntry>, StoreError> {
    type Summary = (String, Option<String>, Option<String>, Option<String>, Option<f64>);
    let mut summaries: Vec<Summary> = Vec::with_capacity(table.columns.len());
    // `SUMMARIZE` keeps every column's quantile sketches at once: 2,000 columns ran out of a
    // 1 GB budget. A batch of columns at a time stays small.
    for batch in table.columns.chunks(SUMMARIZED_AT_ONCE) {
        let projection: Vec<String> = batch.iter().map(|c| cohort_store::name::quote_ident(&c.name)).collect();
        let sql = format!(
            "SELECT column_name, min::VARCHAR, max::VARCHAR, avg::VARCHAR, null_percentage::DOUBLE \
             FROM (SUMMARIZE SELECT {} FROM {source})",
            projection.join(", ")
        );
        summaries.extend(query_rows(session, &sql, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?);
    }
    let names: Vec<String> = table.columns.iter().map(|c| c.name.clone()).collect();
    let distinct = cohort_store::duck::distinct_counts(session.connection(), source, &names, table.rows)
        .map_err(StoreError::sql)?;
    Ok(table
        .columns
        .iter()
        .zip(distinct)
        .map(|(c, distinct)| {
            let s = summaries.iter().find(|s| s.0 == c.name);
            DictionaryEntry {
                column: c.name.clone(),
                sql_type: c.sql_type.clone(),
                role: c.role.clone(),
                label: c.label.clone(),
                completeness: if table.rows == 0 { 0.0 } else { 100.0 - s.and_then(|s| s.4).unwrap_or(0.0) },
                distinct,
                min: s.and_then(|s| s.1.clone()).or_else(|| c.min.clone()),
                max: s.and_then(|s| s.2.clone()).or_else(|| c.max.clone()),
                mean: s.and_then(|s| s.3.clone()),
                value_labels: c.value_labels.clone(),
                missing: c.missing.clone(),
            }
        })
        .collect())
}
