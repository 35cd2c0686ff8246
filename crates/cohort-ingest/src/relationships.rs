//! Keys and relationships between the tables of one ingest (an EHR extract: patients,
//! admissions, labs...).
//!
//! A table's key is a column with a value in every row, every value different, and a name that
//! says identifier; `<table>_id` or `id` is preferred. A column of another table refers to that
//! key when its name matches (the same name, or `<singular table>_<key>` as in `patient_id` for
//! `patients.id`) and at least [`MIN_COVERAGE`] of its rows with a value find it among the key's
//! values. Matching names alone are not enough, and nor are matching values: both are needed.

use cohort_store::name::{quote_ident, quote_literal};
use cohort_store::roles::is_identifier_name;
use cohort_store::{KeyCandidate, Relationship};
use duckdb::Connection;

/// Share of a referring column's rows that must find their value in the key.
pub const MIN_COVERAGE: f64 = 0.8;

/// One staged table: its name and the Parquet file it was written to.
pub struct StagedTable<'a> {
    /// The table's name.
    pub name: &'a str,
    /// Its Parquet file.
    pub file: &'a std::path::Path,
    /// Its columns: `(name, SQL type)`.
    pub columns: &'a [(String, String)],
    /// Its columns with a value in every row, all different (from the quality report; empty when
    /// the table was too big to assess, and then it gets no key).
    pub candidate_keys: &'a [String],
}

/// Each table's key (at most one per table) and the relationships between the tables.
pub fn detect(conn: &Connection, tables: &[StagedTable]) -> duckdb::Result<(Vec<KeyCandidate>, Vec<Relationship>)> {
    let mut columns_of = Vec::new();
    let mut keys = Vec::new();
    for t in tables {
        let columns = keyable_columns(t.columns);
        let unique: Vec<String> = columns.iter().filter(|c| t.candidate_keys.contains(c)).cloned().collect();
        if let Some(key) = choose_key(t.name, &unique) {
            keys.push(key);
        }
        columns_of.push(columns);
    }
    let mut links = Vec::new();
    for (child, columns) in tables.iter().zip(&columns_of) {
        for column in columns {
            let mut best: Option<Relationship> = None;
            for key in keys.iter().filter(|k| k.table != child.name) {
                let Some((reason, weight)) = name_match(column, &key.table, &key.column) else { continue };
                // A key referring to a key of the same name: the table with the wider set of
                // values is the parent, so each pair is linked one way only.
                let child_key = keys.iter().any(|k| k.table == child.name && &k.column == column);
                let parent = tables.iter().find(|t| t.name == key.table).expect("keys come from tables");
                let share = coverage(conn, child.file, column, parent.file, &key.column)?;
                if share < MIN_COVERAGE {
                    continue;
                }
                if child_key {
                    let back = coverage(conn, parent.file, &key.column, child.file, column)?;
                    if back > share || (back == share && position(tables, child.name) < position(tables, parent.name)) {
                        continue;
                    }
                }
                let candidate = Relationship {
                    child_table: child.name.to_string(),
                    child_column: column.clone(),
                    parent_table: key.table.clone(),
                    parent_column: key.column.clone(),
                    coverage: share,
                    confidence: round2(share * weight * key.confidence),
                    reason: reason.to_string(),
                };
                if best.as_ref().is_none_or(|b| candidate.confidence > b.confidence) {
                    best = Some(candidate);
                }
            }
            links.extend(best);
        }
    }
    Ok((keys, links))
}

/// Where `name` stands among the ingest's tables: between two equal key sets, the first given is
/// the parent.
fn position(tables: &[StagedTable], name: &str) -> usize {
    tables.iter().position(|t| t.name == name).unwrap_or(usize::MAX)
}

fn reader(file: &std::path::Path) -> String {
    format!("read_parquet({})", quote_literal(&file.to_string_lossy()))
}

/// Identifier-like columns of types a key can have (text and whole numbers).
fn keyable_columns(columns: &[(String, String)]) -> Vec<String> {
    columns
        .iter()
        .filter(|(name, ty)| {
            is_identifier_name(name)
                && matches!(ty.as_str(), "VARCHAR" | "BIGINT" | "INTEGER" | "SMALLINT" | "TINYINT" | "HUGEINT" | "UUID")
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// `patients` -> `patient`, `diagnoses` -> `diagnosis`: enough English for table names.
fn singular(table: &str) -> String {
    let lower = table.to_ascii_lowercase();
    if let Some(stem) = lower.strip_suffix("ses").filter(|s| s.ends_with('o')) {
        return format!("{stem}sis");
    }
    if let Some(stem) = lower.strip_suffix("ies") {
        return format!("{stem}y");
    }
    if lower.ends_with("ss") {
        return lower;
    }
    lower.strip_suffix('s').map(str::to_string).unwrap_or(lower)
}

fn normalise(name: &str) -> String {
    name.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase()
}

/// The table's key among its unique identifier columns: `<table>_id`, `<singular>_id` or `id`
/// first (confidence 1), then any other (0.8).
fn choose_key(table: &str, unique: &[String]) -> Option<KeyCandidate> {
    let one = singular(table);
    let preferred = [format!("{one}id"), format!("{}id", table.to_ascii_lowercase()), "id".to_string()];
    let by_name = unique.iter().find(|c| preferred.contains(&normalise(c)));
    let (column, confidence) = match by_name {
        Some(c) => (c.clone(), 1.0),
        None => (unique.first()?.clone(), 0.8),
    };
    Some(KeyCandidate { table: table.to_string(), column, confidence })
}

/// Whether `column` is named like a reference to `parent.key`, why, and how strongly.
fn name_match(column: &str, parent: &str, key: &str) -> Option<(&'static str, f64)> {
    let (c, k) = (normalise(column), normalise(key));
    if c == k && k != "id" {
        return Some(("same name", 1.0));
    }
    let one = singular(parent);
    let k_without_table = k.strip_prefix(&normalise(&one)).unwrap_or(&k);
    if c == format!("{}{k}", normalise(&one)) || c == format!("{}{k_without_table}", normalise(&one)) {
        return Some(("<table>_<key> name", 1.0));
    }
    None
}

/// Share of `child.column`'s rows with a value that find it among `parent.key`'s values.
fn coverage(
    conn: &Connection,
    child: &std::path::Path,
    column: &str,
    parent: &std::path::Path,
    key: &str,
) -> duckdb::Result<f64> {
    let (c, k) = (quote_ident(column), quote_ident(key));
    let sql = format!(
        "SELECT count(c.{c}), count(c.{c}) FILTER (WHERE c.{c}::VARCHAR IN (SELECT {k}::VARCHAR FROM {})) FROM {} c",
        reader(parent),
        reader(child)
    );
    let (present, found): (i64, i64) = conn.query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(if present == 0 { 0.0 } else { found as f64 / present as f64 })
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_to_singular() {
        assert_eq!(singular("patients"), "patient");
        assert_eq!(singular("Admissions"), "admission");
        assert_eq!(singular("diagnoses"), "diagnosis");
        assert_eq!(singular("studies"), "study");
        assert_eq!(singular("labs"), "lab");
        assert_eq!(singular("address"), "address");
    }

    #[test]
    fn reference_names() {
        assert_eq!(name_match("patient_id", "patients", "patient_id").map(|m| m.0), Some("same name"));
        assert_eq!(name_match("patientId", "patients", "id").map(|m| m.0), Some("<table>_<key> name"));
        assert_eq!(name_match("site_id", "sites", "id").map(|m| m.0), Some("<table>_<key> name"));
        assert!(name_match("id", "patients", "id").is_none(), "two tables' own `id`s are not a reference");
        assert!(name_match("provider_id", "patients", "patient_id").is_none());
    }

    #[test]
    fn keys_prefer_the_table_s_own_name() {
        let unique = vec!["nhs_number".to_string(), "patient_id".to_string()];
        let key = choose_key("patients", &unique).unwrap();
        assert_eq!((key.column.as_str(), key.confidence), ("patient_id", 1.0));
        assert_eq!(choose_key("labs", &["sample_code".to_string()]).unwrap().confidence, 0.8);
    }
}
