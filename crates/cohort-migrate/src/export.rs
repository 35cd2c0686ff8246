//! Writing a migrated dataset back as the JSON it came from: a cohort as a spec v1.0 document, a
//! simulation run with its `patient_histories`, records as a list, and a folder per cohort as
//! every file it had. Verification uses the same functions, so what `cohort export --format
//! cohort-json` (or `cohort-folder`) writes is what was checked.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

use cohort_store::hash::sha256_file;
use cohort_store::name::quote_literal;
use cohort_store::{
    ATTACHMENTS_DIR, DatasetKind, DatasetName, ResolvedVersion, Store, VersionRef, files_source, fsutil, table_files,
};
use duckdb::Connection;
use serde_json::{Map, Value};

use crate::legacy::{FolderFile, Layout};
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
    /// The version was migrated from one file, not a folder.
    #[error("`{0}` was migrated from a single file, not a folder; `--format cohort-json` writes it back as that file")]
    NotAFolder(String),
    /// The folder to write cannot be used or written.
    #[error("cannot write the folder `{}`: {detail}", path.display())]
    Destination {
        /// The folder asked for.
        path: PathBuf,
        /// Why.
        detail: String,
    },
}

/// A migrated version: its tables, kind and provenance.
fn migrated(store: &Store, target: &VersionRef) -> Result<(ResolvedVersion, DatasetKind, Value), ExportError> {
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
    Ok((resolved, kind, info.provenance))
}

/// The legacy JSON of a migrated dataset version: a spec v1.0 cohort document, a simulation run,
/// or a list of records.
pub fn legacy_json(store: &Store, conn: &Connection, target: &VersionRef) -> Result<Value, ExportError> {
    let (resolved, kind, provenance) = migrated(store, target)?;
    let source = |table: &str| resolved.table(table).map(|t| table_files(store, t));
    rebuild(kind, &provenance, conn, &source)
        .map_err(|detail| ExportError::Damaged { dataset: resolved.dataset.to_string(), detail })
}

/// Rebuilds the legacy JSON from a migration's provenance and tables; `source` gives a table's
/// Parquet files.
pub fn rebuild(
    kind: DatasetKind,
    provenance: &Value,
    conn: &Connection,
    source: &dyn Fn(&str) -> Option<Vec<PathBuf>>,
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
                    Some(name) => read_originals(&table(name)?).map_err(|e| format!("table `{name}`: {e}"))?,
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
            let patients =
                read_strings(conn, &format!("SELECT patient_id::VARCHAR FROM {}", files_source(&table("patients")?)))
                    .map_err(|e| format!("table `patients`: {e}"))?;
            let visits =
                read_visits(conn, &files_source(&table("visits")?)).map_err(|e| format!("table `visits`: {e}"))?;
            Ok(crate::simulation::document(document, patients, visits))
        }
        _ => {
            let name = legacy["table"].as_str().unwrap_or_default();
            Ok(Value::Array(read_originals(&table(name)?).map_err(|e| format!("table `{name}`: {e}"))?))
        }
    }
}

/// A file of a folder per cohort, rebuilt from the store.
#[derive(Debug, Clone, PartialEq)]
pub enum Rebuilt {
    /// An entity file or the metadata file, from the tables and the cohort's header: equal, as a
    /// JSON value, to the file's content.
    Json {
        /// The value.
        value: Value,
        /// The file was NDJSON (the value is then the list of its lines).
        ndjson: bool,
    },
    /// A JSON document: the file's text exactly.
    Text(String),
    /// An attachment: the version's copy, in its `_attachments/`.
    Attachment {
        /// Its name there.
        name: String,
        /// SHA-256 of the original file.
        sha256: String,
    },
}

/// Rebuilds every file of a folder per cohort, in the folder's order, from a migration's
/// provenance and tables; `source` gives a table's Parquet files. Entity files take their
/// entities, in order, from the `_original_json` of their types' tables, as the provenance's
/// per-file parts say.
pub fn rebuild_folder(
    provenance: &Value,
    source: &dyn Fn(&str) -> Option<Vec<PathBuf>>,
) -> Result<Vec<(String, Rebuilt)>, String> {
    let legacy = &provenance["legacy"];
    let folder = &legacy["folder"];
    let files: Vec<FolderFile> = serde_json::from_value(folder["files"].clone())
        .map_err(|e| format!("its record of the folder's files is unreadable: {e}"))?;
    let table = |name: &str| source(name).ok_or_else(|| format!("its table `{name}` is missing"));
    let mut entities: HashMap<String, VecDeque<Value>> = HashMap::new();
    for t in legacy["entity_types"].as_array().into_iter().flatten() {
        let type_name = t["name"].as_str().unwrap_or_default().to_string();
        let list = match t["table"].as_str() {
            Some(name) => read_originals(&table(name)?).map_err(|e| format!("table `{name}`: {e}"))?,
            None => Vec::new(),
        };
        entities.insert(type_name, list.into());
    }
    let mut documents: HashMap<String, String> = HashMap::new();
    if files.iter().any(|f| f.layout == Layout::Document) {
        let name = folder["documents_table"].as_str().unwrap_or(crate::legacy::DOCUMENTS_TABLE);
        let columns =
            read_text_columns(&table(name)?, &["file", "json"]).map_err(|e| format!("table `{name}`: {e}"))?;
        let [files, texts] = <[Vec<String>; 2]>::try_from(columns).expect("two columns asked for");
        documents.extend(files.into_iter().zip(texts));
    }
    let header = legacy["header"].as_object().cloned().unwrap_or_default();
    let mut take = |file: &str, entity_type: &str, count: u64| -> Result<Vec<Value>, String> {
        let list = entities.get_mut(entity_type).ok_or_else(|| format!("{file}: no entity type `{entity_type}`"))?;
        if (list.len() as u64) < count {
            return Err(format!("{file}: {count} `{entity_type}` expected, {} left in its table", list.len()));
        }
        Ok(list.drain(..count as usize).collect())
    };
    let mut out = Vec::with_capacity(files.len());
    for f in &files {
        let file = f.file.as_str();
        let rebuilt = match f.layout {
            Layout::Meta => {
                let mut object = Map::new();
                for (in_header, in_file) in &f.keys {
                    let value =
                        header.get(in_header).ok_or_else(|| format!("{file}: the header lacks `{in_header}`"))?;
                    object.insert(in_file.clone(), value.clone());
                }
                Rebuilt::Json { value: Value::Object(object), ndjson: f.ndjson }
            }
            Layout::List => {
                let mut items = Vec::new();
                for part in &f.parts {
                    items.extend(take(file, &part.entity_type, part.count)?);
                }
                Rebuilt::Json { value: Value::Array(items), ndjson: f.ndjson }
            }
            Layout::Object => {
                let part = f.parts.first().ok_or_else(|| format!("{file}: no entity recorded"))?;
                let one = take(file, &part.entity_type, 1)?.pop().expect("one taken");
                Rebuilt::Json { value: one, ndjson: f.ndjson }
            }
            Layout::Kinds => {
                let mut object = Map::new();
                for part in &f.parts {
                    let mut items = take(file, &part.entity_type, part.count)?;
                    let value =
                        if part.single && items.len() == 1 { items.pop().expect("one") } else { Value::Array(items) };
                    object.insert(part.key.clone(), value);
                }
                Rebuilt::Json { value: Value::Object(object), ndjson: f.ndjson }
            }
            Layout::Document => {
                Rebuilt::Text(documents.remove(file).ok_or_else(|| format!("{file}: not in the documents table"))?)
            }
            Layout::Attachment => Rebuilt::Attachment { name: file.to_string(), sha256: f.sha256.clone() },
        };
        out.push((f.file.clone(), rebuilt));
    }
    if let Some((t, left)) = entities.iter().find(|(_, l)| !l.is_empty()) {
        return Err(format!("{} `{t}` in its table belong to no file", left.len()));
    }
    Ok(out)
}

/// A version migrated from a folder per cohort, rebuilt and ready to write.
pub struct Folder {
    dataset: String,
    files: Vec<(String, Rebuilt)>,
    attachments: PathBuf,
}

impl Folder {
    /// Rebuilds every file of `target`, which must have been migrated from a folder.
    pub fn rebuild(store: &Store, target: &VersionRef) -> Result<Folder, ExportError> {
        let (resolved, _, provenance) = migrated(store, target)?;
        let dataset = resolved.dataset.to_string();
        if provenance["legacy"]["folder"].is_null() {
            return Err(ExportError::NotAFolder(target.to_string()));
        }
        let source = |table: &str| resolved.table(table).map(|t| table_files(store, t));
        let files = rebuild_folder(&provenance, &source)
            .map_err(|detail| ExportError::Damaged { dataset: dataset.clone(), detail })?;
        let attachments = store.layout().version_dir(resolved.dataset_id, resolved.version).join(ATTACHMENTS_DIR);
        Ok(Folder { dataset, files, attachments })
    }

    /// The files' names, in the folder's order.
    pub fn files(&self) -> Vec<&str> {
        self.files.iter().map(|(f, _)| f.as_str()).collect()
    }

    /// Writes every file into `dir`, which must not exist or be empty. The files go into a
    /// temporary folder beside it, are checked (attachments against their SHA-256) and fsynced,
    /// and the folder is renamed into place, so `dir` holds all of them or does not change.
    pub fn write(&self, dir: &Path) -> Result<(), ExportError> {
        let destination = |detail: String| ExportError::Destination { path: dir.to_path_buf(), detail };
        match fs_err::read_dir(dir) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(destination(
                        "it is not empty; give a new or empty folder (the files are never mixed with others)".into(),
                    ));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(destination(e.to_string())),
        }
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = dir.file_name().ok_or_else(|| destination("give a folder name, not `..` or `/`".into()))?;
        fs_err::create_dir_all(&parent).map_err(|e| destination(e.to_string()))?;
        let tmp = parent.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
        let write = || -> Result<(), ExportError> {
            fsutil::remove_dir_all_if_exists(&tmp).map_err(|e| destination(e.to_string()))?;
            fs_err::create_dir(&tmp).map_err(|e| destination(e.to_string()))?;
            for (file, rebuilt) in &self.files {
                let path = tmp.join(file);
                let io = |e: std::io::Error| destination(format!("writing {file}: {e}"));
                match rebuilt {
                    Rebuilt::Json { value, ndjson: true } => {
                        let mut text = Vec::new();
                        for item in value.as_array().into_iter().flatten() {
                            serde_json::to_writer(&mut text, item).expect("JSON serialises");
                            text.push(b'\n');
                        }
                        fs_err::write(&path, text).map_err(io)?;
                    }
                    Rebuilt::Json { value, ndjson: false } => {
                        let mut text = serde_json::to_vec_pretty(value).expect("JSON serialises");
                        text.push(b'\n');
                        fs_err::write(&path, text).map_err(io)?;
                    }
                    Rebuilt::Text(text) => fs_err::write(&path, text).map_err(io)?,
                    Rebuilt::Attachment { name, sha256 } => {
                        fs_err::copy(self.attachments.join(name), &path).map_err(io)?;
                        let (copied, _) = sha256_file(&path, |_| {}).map_err(io)?;
                        if copied != *sha256 {
                            return Err(ExportError::Damaged {
                                dataset: self.dataset.clone(),
                                detail: format!(
                                    "the stored copy of {file} does not match its checksum; run `cohort doctor`"
                                ),
                            });
                        }
                    }
                }
                fsutil::sync_file(&path).map_err(io)?;
            }
            fsutil::sync_dir(&tmp).map_err(|e| destination(e.to_string()))?;
            // An empty folder is replaced by the rename (POSIX allows it).
            fs_err::rename(&tmp, dir).map_err(|e| destination(e.to_string()))?;
            fsutil::sync_dir(&parent).map_err(|e| destination(e.to_string()))
        };
        write().inspect_err(|_| {
            let _ = fsutil::remove_dir_all_if_exists(&tmp);
        })
    }
}

fn parse(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("a row's original JSON is unreadable: {e}"))
}

/// Each row's original JSON, in order.
fn read_originals(files: &[PathBuf]) -> Result<Vec<Value>, String> {
    let [originals] = <[Vec<String>; 1]>::try_from(read_text_columns(files, &[ORIGINAL_JSON])?).expect("one column");
    originals.iter().map(|t| parse(t)).collect()
}

/// The text columns `names` of a table's Parquet `files`, in row order, read with arrow-rs (only
/// those columns are decoded: a few microseconds a row, where a DuckDB query cost a millisecond
/// a table, most of verifying thousands of small tables).
fn read_text_columns(files: &[PathBuf], names: &[&str]) -> Result<Vec<Vec<String>>, String> {
    use arrow::array::{Array, AsArray};
    use parquet::arrow::ProjectionMask;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let mut columns: Vec<Vec<String>> = vec![Vec::new(); names.len()];
    for path in files {
        let file = fs_err::File::open(path).map_err(|e| e.to_string())?.into_file();
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| e.to_string())?;
        let schema = builder.schema().clone();
        let mut roots = Vec::new();
        for name in names {
            roots.push(schema.index_of(name).map_err(|_| format!("it has no column `{name}`"))?);
        }
        let mask = ProjectionMask::roots(builder.parquet_schema(), roots.iter().copied());
        let reader = builder.with_projection(mask).build().map_err(|e| e.to_string())?;
        for batch in reader {
            let batch = batch.map_err(|e| e.to_string())?;
            for (i, name) in names.iter().enumerate() {
                let column = batch.column_by_name(name).ok_or_else(|| format!("it has no column `{name}`"))?;
                let text = arrow::compute::cast(column, &arrow::datatypes::DataType::Utf8)
                    .map_err(|e| format!("column `{name}`: {e}"))?;
                let text = text.as_string::<i32>();
                if text.null_count() > 0 {
                    return Err(format!("a row has no `{name}`"));
                }
                columns[i].extend(text.iter().map(|t| t.unwrap_or_default().to_string()));
            }
        }
    }
    Ok(columns)
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
