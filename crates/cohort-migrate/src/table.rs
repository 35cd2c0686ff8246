//! Rows of JSON objects to one Parquet table, typed by DuckDB's JSON reader across all rows.
//!
//! A top-level field whose values differ in kind between rows (a number in most, a word in some)
//! keeps the common kind in its column; the others go, as JSON text, to a companion column
//! `<field>__json`, so no value is dropped or silently turned into text.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use cohort_store::name::{quote_ident, quote_literal};
use duckdb::Connection;
use serde_json::{Map, Value};

/// The column holding each row's original JSON, from which the source can be written back.
pub const ORIGINAL_JSON: &str = "_original_json";

/// The suffix of the column holding values of a field's less common kinds.
pub const MIXED_SUFFIX: &str = "__json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Bool,
    Number,
    String,
    List,
    Object,
}

fn kind(v: &Value) -> Option<Kind> {
    match v {
        Value::Null => None,
        Value::Bool(_) => Some(Kind::Bool),
        Value::Number(_) => Some(Kind::Number),
        Value::String(_) => Some(Kind::String),
        Value::Array(_) => Some(Kind::List),
        Value::Object(_) => Some(Kind::Object),
    }
}

/// A row to write: its fields, and its original JSON text if it was read from one.
pub struct Row {
    /// Columns by name.
    pub fields: Map<String, Value>,
    /// The JSON the row was read from.
    pub original: Option<String>,
}

/// For each field with values of more than one kind, the kind its column keeps (the most common;
/// text on a tie, which holds the most).
fn column_kinds(rows: &[Row]) -> BTreeMap<String, Kind> {
    let mut seen: BTreeMap<&str, BTreeMap<Kind, usize>> = BTreeMap::new();
    for r in rows {
        for (k, v) in &r.fields {
            if let Some(kind) = kind(v) {
                *seen.entry(k).or_default().entry(kind).or_default() += 1;
            }
        }
    }
    seen.into_iter()
        .filter(|(_, kinds)| kinds.len() > 1)
        .map(|(field, kinds)| {
            let keep = kinds
                .iter()
                .max_by_key(|(k, n)| (**n, **k == Kind::String))
                .map(|(k, _)| *k)
                .expect("two kinds at least");
            (field.to_string(), keep)
        })
        .collect()
}

/// What [`write`] made of the rows.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Written {
    /// Rows written.
    pub rows: u64,
    /// Fields whose values differ in kind, with how many values went to `<field>__json`.
    pub mixed: BTreeMap<String, u64>,
}

/// Writes `rows` to the Parquet file `target`, through the NDJSON file `scratch`. Of `leading`,
/// the columns every row has come first, in that order; the rest follow by name.
pub fn write(
    conn: &Connection,
    rows: &[Row],
    leading: &[&str],
    scratch: &Path,
    target: &Path,
) -> Result<Written, String> {
    let kinds = column_kinds(rows);
    let mut written = Written { rows: rows.len() as u64, ..Written::default() };
    {
        let file = fs_err::File::create(scratch).map_err(|e| e.to_string())?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        for r in rows {
            let mut line = Map::new();
            for (k, v) in &r.fields {
                match (kinds.get(k), kind(v)) {
                    (Some(keep), Some(k2)) if *keep != k2 => {
                        *written.mixed.entry(k.clone()).or_default() += 1;
                        line.insert(format!("{k}{MIXED_SUFFIX}"), Value::String(v.to_string()));
                    }
                    _ => {
                        line.insert(k.clone(), v.clone());
                    }
                }
            }
            if line.contains_key(ORIGINAL_JSON) {
                return Err(format!("a field is called `{ORIGINAL_JSON}`, which cohort keeps for the original JSON"));
            }
            if let Some(original) = &r.original {
                line.insert(ORIGINAL_JSON.into(), Value::String(original.clone()));
            }
            serde_json::to_writer(&mut out, &line).map_err(|e| e.to_string())?;
            out.write_all(b"\n").map_err(|e| e.to_string())?;
        }
        out.flush().map_err(|e| e.to_string())?;
    }
    // Every row, not a sample, decides the types; the original JSON goes last.
    let mut first: Vec<String> = Vec::new();
    for l in leading {
        if !first.contains(&quote_ident(l)) && !kinds.contains_key(*l) && rows.iter().all(|r| r.fields.contains_key(*l))
        {
            first.push(quote_ident(l));
        }
    }
    let mut last = Vec::new();
    if rows.iter().any(|r| r.original.is_some()) {
        last.push(ORIGINAL_JSON.to_string());
    }
    let excluded: Vec<String> = first.iter().chain(&last).cloned().collect();
    let mut columns = first.clone();
    columns.push(if excluded.is_empty() { "*".into() } else { format!("* EXCLUDE ({})", excluded.join(", ")) });
    columns.extend(last);
    let columns = columns.join(", ");
    let sql = format!(
        "COPY (SELECT {columns} FROM read_json({}, format = 'newline_delimited', records = true, \
         sample_size = -1)) TO {} (FORMAT parquet, COMPRESSION zstd)",
        quote_literal(&scratch.to_string_lossy()),
        quote_literal(&target.to_string_lossy())
    );
    let result = conn.execute_batch(&sql).map_err(|e| format!("converting to Parquet: {e}"));
    let _ = fs_err::remove_file(scratch);
    result.map(|_| written)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_common_kind_keeps_the_column() {
        let rows: Vec<Row> = [json!({"v": 1, "w": "a"}), json!({"v": "high", "w": "b"}), json!({"v": 2.5, "w": null})]
            .into_iter()
            .map(|v| Row { original: Some(v.to_string()), fields: v.as_object().unwrap().clone() })
            .collect();
        let kinds = column_kinds(&rows);
        assert_eq!(kinds.get("v"), Some(&Kind::Number));
        assert!(!kinds.contains_key("w"));
    }
}
