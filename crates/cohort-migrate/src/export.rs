//! Writing a migrated dataset back as the JSON it came from: a cohort as a spec v1.0 document, a
//! simulation run with its `patient_histories`, records as a list. Verification uses the same
//! functions, so what `cohort export --format cohort-json` writes is what was checked.

use cohort_store::name::quote_literal;
use cohort_store::{DatasetKind, DatasetName, Store, VersionRef, table_source};
use duckdb::Connection;
use serde_json::{Map, Value};

use crate::table::ORIGINAL_JSON;

/// Why a dataset version cannot be written back.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The store failed, or the version does not exist.
    #[error(transparent)]
    Store(#[from] cohort_store::StoreError),
    /// The version was not made by `cohort migrate`.
    #[error(
        "`{0}` was not made by `cohort migrate`, so there is no legacy JSON to write back; export its tables instead"
    )]
    NotMigrated(String),
    /// The stored data is not what a migration writes.
    #[error("`{dataset}` cannot be written back: {detail}")]
    Damaged {
        /// The dataset.
        dataset: String,
        /// What is wrong.
        detail: String,
    },
}

/// The legacy JSON of a migrated dataset version: a spec v1.0 cohort document, a simulation run,
/// or a list of records.
pub fn legacy_json(store: &Store, conn: &Connection, target: &VersionRef) -> Result<Value, ExportError> {
    let resolved = store.resolve(target)?;
    let name = resolved.dataset.clone();
    let info = store
        .versions(&name)?
        .into_iter()
        .find(|v| v.version == resolved.version)
        .ok_or_else(|| ExportError::NotMigrated(target.to_string()))?;
    if info.provenance["command"] != "migrate" {
        return Err(ExportError::NotMigrated(target.to_string()));
    }
    let kind = store.list()?.into_iter().find(|d| d.name == name).map(|d| d.kind).unwrap_or(DatasetKind::Upload);
    let source = |table: &str| resolved.table(table).map(|t| table_source(store, t));
    rebuild(kind, &info.provenance, conn, &source)
        .map_err(|detail| ExportError::Damaged { dataset: name.to_string(), detail })
}

/// Rebuilds the legacy JSON from a migration's provenance and tables; `source` gives the SQL that
/// reads a table.
pub fn rebuild(
    kind: DatasetKind,
    provenance: &Value,
    conn: &Connection,
    source: &dyn Fn(&str) -> Option<String>,
) -> Result<Value, String> {
    let table = |name: &str| source(name).ok_or_else(|| format!("its table `{name}` is missing"));
    let legacy = &provenance["legacy"];
    match kind {
        DatasetKind::Cohort => {
            let mut doc = legacy["header"].as_object().cloned().unwrap_or_default();
            let mut entities = Map::new();
            for t in legacy["entity_types"].as_array().into_iter().flatten() {
                let type_name = t["name"].as_str().unwrap_or_default().to_string();
                let list = match t["table"].as_str() {
                    Some(name) => read_originals(conn, &table(name)?).map_err(|e| format!("table `{name}`: {e}"))?,
                    None => Vec::new(),
                };
                entities.insert(type_name, Value::Array(list));
            }
            doc.insert("entities".into(), Value::Object(entities));
            Ok(Value::Object(doc))
        }
        DatasetKind::Simulation => {
            let document = legacy["document"].as_object().cloned().unwrap_or_default();
            // Every patient, those without visits too, from `patients`; then their visits in order.
            let patients = read_strings(conn, &format!("SELECT patient_id::VARCHAR FROM {}", table("patients")?))
                .map_err(|e| format!("table `patients`: {e}"))?;
            let visits = read_visits(conn, &table("visits")?).map_err(|e| format!("table `visits`: {e}"))?;
            Ok(crate::simulation::document(document, patients, visits))
        }
        _ => {
            let name = legacy["table"].as_str().unwrap_or_default();
            Ok(Value::Array(read_originals(conn, &table(name)?).map_err(|e| format!("table `{name}`: {e}"))?))
        }
    }
}

fn parse(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("a row's original JSON is unreadable: {e}"))
}

fn read_originals(conn: &Connection, source: &str) -> Result<Vec<Value>, String> {
    let mut stmt = conn.prepare(&format!("SELECT {ORIGINAL_JSON} FROM {source}")).map_err(|e| e.to_string())?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(|e| e.to_string())?;
    rows.map(|r| r.map_err(|e| e.to_string()).and_then(|t| parse(&t))).collect()
}

fn read_strings(conn: &Connection, sql: &str) -> Result<Vec<String>, String> {
    let mut stmt = conn.prepare(sql).map_err(|e| e.to_string())?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(|e| e.to_string())?;
    rows.collect::<duckdb::Result<_>>().map_err(|e| e.to_string())
}

fn read_visits(conn: &Connection, source: &str) -> Result<Vec<(String, Value)>, String> {
    let sql = format!("SELECT patient_id::VARCHAR, {ORIGINAL_JSON} FROM {source}");
    let mut stmt = conn.prepare(&sql).map_err(|e| e.to_string())?;
    let rows =
        stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))).map_err(|e| e.to_string())?;
    rows.map(|r| r.map_err(|e| e.to_string()).and_then(|(p, t)| Ok((p, parse(&t)?)))).collect()
}

/// `SELECT ... FROM` a staged Parquet file, for checks before a commit.
pub(crate) fn parquet_source(path: &std::path::Path) -> String {
    format!("read_parquet({})", quote_literal(&path.to_string_lossy()))
}

/// The dataset name a title becomes: ASCII (transliterated), lower case, words joined by `-`.
pub fn dataset_name(title: &str) -> DatasetName {
    let mut out = String::new();
    for c in deunicode::deunicode(title).chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut name: String = out.trim_end_matches('-').chars().take(64).collect();
    name = name.trim_end_matches('-').to_string();
    if name.is_empty() {
        name = "cohort".into();
    }
    DatasetName::new(&name)
        .or_else(|_| DatasetName::new(&format!("{}-cohort", &name[..name.len().min(56)])))
        .expect("a slug is a valid name")
}

#[cfg(test)]
mod tests {
    use super::dataset_name;

    #[test]
    fn titles_become_names() {
        assert_eq!(dataset_name("Diabetes Cohort (2024)").as_str(), "diabetes-cohort-2024");
        assert_eq!(dataset_name("Études cliniques – Müller").as_str(), "etudes-cliniques-muller");
        assert_eq!(dataset_name("東京 コホート").as_str(), "dong-jing-kohoto");
        assert_eq!(dataset_name("!!!").as_str(), "cohort");
        assert_eq!(dataset_name("main").as_str(), "main-cohort");
    }
}
