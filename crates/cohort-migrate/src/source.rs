//! Finding legacy sources: files, and folders that are one cohort each.
//!
//! A folder is one cohort, whatever its files are called, when it holds at least one JSON file,
//! none of its JSON files is a whole cohort on its own ([`holds_whole_cohort`]), and it has a
//! `cohort.json` or `scenario.json`, a JSON file named after an entity type, or files that are not
//! JSON (a README, HL7 messages, X12 transactions). Every file directly in it is then part of the
//! cohort. Any other folder is a container: each JSON file in it is a source of its own, and its
//! other files are passed over (and reported). Subfolders are looked through either way.
//!
//! Deciding needs the content of a JSON file only in a folder that could be a cohort, and only
//! until the first whole cohort is found, so a folder of 10,000 cohort files is listed, not read.

use std::path::{Path, PathBuf};

use cohort_store::hash::{sha256_bytes, sha256_file, sha256_parts};
use serde::Deserialize;
use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::entity;
use crate::error::{MigrateError, Result};
use crate::legacy;

/// Where the legacy tools kept their files, under the home directory.
pub const DEFAULT_LOCATIONS: &[&str] = &[".healthsim/cohorts", ".healthsim/scenarios", ".healthsim/workspaces"];

/// The default locations that exist under `home`.
pub fn default_locations(home: &Path) -> Vec<PathBuf> {
    DEFAULT_LOCATIONS.iter().map(|l| home.join(l)).filter(|p| p.is_dir()).collect()
}

/// A legacy source.
#[derive(Debug, Clone)]
pub struct Source {
    /// The file, or the cohort's folder.
    pub path: PathBuf,
    /// For a folder per cohort, every file in it (JSON or not), sorted by name.
    pub folder_files: Option<Vec<PathBuf>>,
}

/// One file of a source, read once: what is hashed, backed up and parsed are the same bytes.
pub struct LoadedFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its bytes, for a JSON file. A folder's other files are not held in memory: they are
    /// copied from disk and checked against [`LoadedFile::sha256`].
    pub content: Option<Vec<u8>>,
    /// SHA-256 of its bytes.
    pub sha256: String,
    /// Its size in bytes.
    pub bytes: u64,
}

impl LoadedFile {
    /// Its name, without the folder.
    pub fn name(&self) -> String {
        self.path.file_name().unwrap_or_default().to_string_lossy().into_owned()
    }
}

/// A source's files, read and hashed.
pub struct Loaded {
    /// Its files: one for a plain file.
    pub files: Vec<LoadedFile>,
    /// SHA-256 of the file, or of the folder's file names and hashes.
    pub sha256: String,
    /// Total bytes.
    pub bytes: u64,
}

impl Source {
    /// Reads the source's files.
    pub fn load(&self) -> std::io::Result<Loaded> {
        match &self.folder_files {
            None => {
                let bytes = fs_err::read(&self.path)?;
                let sha256 = sha256_bytes(&bytes);
                Ok(Loaded {
                    sha256: sha256.clone(),
                    bytes: bytes.len() as u64,
                    files: vec![LoadedFile {
                        path: self.path.clone(),
                        bytes: bytes.len() as u64,
                        content: Some(bytes),
                        sha256,
                    }],
                })
            }
            Some(files) => {
                let mut loaded = Vec::new();
                let mut parts = Vec::new();
                for f in files {
                    let file = if is_json(f) {
                        let bytes = fs_err::read(f)?;
                        LoadedFile {
                            path: f.clone(),
                            sha256: sha256_bytes(&bytes),
                            bytes: bytes.len() as u64,
                            content: Some(bytes),
                        }
                    } else {
                        let (sha256, bytes) = sha256_file(f, |_| {})?;
                        LoadedFile { path: f.clone(), content: None, sha256, bytes }
                    };
                    parts.push(file.name());
                    parts.push(file.sha256.clone());
                    loaded.push(file);
                }
                Ok(Loaded {
                    sha256: sha256_parts(parts.iter().map(String::as_str)),
                    bytes: loaded.iter().map(|f| f.bytes).sum(),
                    files: loaded,
                })
            }
        }
    }

    /// The name the source suggests when its content has none: the file's stem or folder's name.
    pub fn stem(&self) -> String {
        let name = if self.folder_files.is_some() { self.path.file_name() } else { self.path.file_stem() };
        name.unwrap_or_default().to_string_lossy().into_owned()
    }

    /// The source's absolute path with links resolved: what the import journal records, so that a
    /// folder is known again wherever it is migrated from.
    pub fn identity(&self) -> String {
        fs_err::canonicalize(&self.path)
            .or_else(|_| std::path::absolute(&self.path))
            .unwrap_or_else(|_| self.path.clone())
            .display()
            .to_string()
    }
}

/// Whether `path` is a JSON file by its extension (`.json`, `.ndjson`, `.jsonl`).
pub fn is_json(path: &Path) -> bool {
    path.extension().is_some_and(|e| ["json", "ndjson", "jsonl"].iter().any(|j| e.eq_ignore_ascii_case(j)))
}

fn is_hidden(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// The kind of a top-level value, read without keeping it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Null,
    Scalar,
    List,
    Object,
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Kind;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E>(self, _: bool) -> std::result::Result<Kind, E> {
                Ok(Kind::Scalar)
            }
            fn visit_i64<E>(self, _: i64) -> std::result::Result<Kind, E> {
                Ok(Kind::Scalar)
            }
            fn visit_u64<E>(self, _: u64) -> std::result::Result<Kind, E> {
                Ok(Kind::Scalar)
            }
            fn visit_f64<E>(self, _: f64) -> std::result::Result<Kind, E> {
                Ok(Kind::Scalar)
            }
            fn visit_str<E>(self, _: &str) -> std::result::Result<Kind, E> {
                Ok(Kind::Scalar)
            }
            fn visit_unit<E>(self) -> std::result::Result<Kind, E> {
                Ok(Kind::Null)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Kind, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Kind::List)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Kind, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Kind::Object)
            }
        }
        d.deserialize_any(V)
    }
}

/// A JSON document's top-level keys and the kinds of their values; empty when it is not an object.
struct TopLevel(Vec<(String, Kind)>);

impl<'de> Deserialize<'de> for TopLevel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TopLevel;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<TopLevel, A::Error> {
                let mut keys = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Kind>()? {
                    keys.push((k, v));
                }
                Ok(TopLevel(keys))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<TopLevel, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(TopLevel(Vec::new()))
            }
            fn visit_bool<E>(self, _: bool) -> std::result::Result<TopLevel, E> {
                Ok(TopLevel(Vec::new()))
            }
            fn visit_i64<E>(self, _: i64) -> std::result::Result<TopLevel, E> {
                Ok(TopLevel(Vec::new()))
            }
            fn visit_u64<E>(self, _: u64) -> std::result::Result<TopLevel, E> {
                Ok(TopLevel(Vec::new()))
            }
            fn visit_f64<E>(self, _: f64) -> std::result::Result<TopLevel, E> {
                Ok(TopLevel(Vec::new()))
            }
            fn visit_str<E>(self, _: &str) -> std::result::Result<TopLevel, E> {
                Ok(TopLevel(Vec::new()))
            }
            fn visit_unit<E>(self) -> std::result::Result<TopLevel, E> {
                Ok(TopLevel(Vec::new()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Keys a single-file cohort's metadata has beside its entity lists (flat legacy).
const COHORT_METADATA: &[&str] = &["name", "schema_version", "cohort_id", "scenario_id"];

/// Whether the JSON file `path` is a whole cohort (or simulation run) on its own: a top-level
/// object with an `entities` or `patient_histories` object, or a flat-legacy document, whose
/// entity lists sit beside scalar cohort metadata (`name`, `schema_version`, `cohort_id`,
/// `scenario_id`) and which is not named after an entity type itself (a `facility.json` with a
/// `name` and a list of `providers` is one facility). NDJSON and unreadable files are not.
pub fn holds_whole_cohort(path: &Path) -> bool {
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("ndjson") || e.eq_ignore_ascii_case("jsonl")) {
        return false;
    }
    let Ok(bytes) = fs_err::read(path) else { return false };
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let Ok(TopLevel(keys)) = serde_json::from_slice::<TopLevel>(bytes) else { return false };
    let has = |key: &str, kind: Kind| keys.iter().any(|(k, v)| k == key && *v == kind);
    if has("entities", Kind::Object) || has("patient_histories", Kind::Object) {
        return true;
    }
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    !entity::is_known(&stem)
        && keys.iter().any(|(k, v)| *v == Kind::List && entity::is_known(k))
        && keys.iter().any(|(k, v)| *v == Kind::Scalar && COHORT_METADATA.contains(&k.as_str()))
}

/// Whether a folder with these JSON files and `others` files that are not JSON is one cohort.
fn is_cohort_folder(json: &[PathBuf], others: usize) -> bool {
    let named = json.iter().any(|f| {
        let stem = f.file_stem().unwrap_or_default().to_string_lossy();
        legacy::is_meta_stem(&stem) || entity::is_known(&stem)
    });
    !json.is_empty() && (named || others > 0) && !json.iter().any(|f| holds_whole_cohort(f))
}

/// Files passed over while looking through folders, with why.
pub type PassedOver = Vec<(PathBuf, String)>;

/// The sources under the given paths, in a stable order, and what was passed over.
pub fn discover(paths: &[PathBuf]) -> Result<(Vec<Source>, PassedOver)> {
    let mut sources = Vec::new();
    let mut passed = Vec::new();
    for path in paths {
        let meta = fs_err::metadata(path).map_err(|e| MigrateError::Unreadable { path: path.clone(), source: e })?;
        if meta.is_dir() {
            walk(path, &mut sources, &mut passed)?;
        } else {
            sources.push(Source { path: path.clone(), folder_files: None });
        }
    }
    Ok((sources, passed))
}

fn walk(dir: &Path, sources: &mut Vec<Source>, passed: &mut PassedOver) -> Result<()> {
    let mut entries: Vec<PathBuf> = fs_err::read_dir(dir)
        .map_err(|e| MigrateError::Unreadable { path: dir.to_path_buf(), source: e })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    let (hidden, entries): (Vec<PathBuf>, Vec<PathBuf>) = entries.into_iter().partition(|p| is_hidden(p));
    let files: Vec<PathBuf> = entries.iter().filter(|p| p.is_file()).cloned().collect();
    let (json, others): (Vec<PathBuf>, Vec<PathBuf>) = files.iter().cloned().partition(|p| is_json(p));
    if is_cohort_folder(&json, others.len()) {
        sources.push(Source { path: dir.to_path_buf(), folder_files: Some(files) });
        for h in hidden.into_iter().filter(|p| p.is_file()) {
            passed.push((h, "a hidden file, not part of the cohort in its folder".into()));
        }
    } else {
        sources.extend(json.into_iter().map(|path| Source { path, folder_files: None }));
        for p in others {
            passed.push((p, "not a JSON file".into()));
        }
    }
    for p in entries {
        if p.is_dir() {
            walk(&p, sources, passed)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    fn found(dir: &Path) -> Vec<(String, bool)> {
        let (sources, _) = discover(&[dir.to_path_buf()]).unwrap();
        sources
            .iter()
            .map(|s| (s.path.strip_prefix(dir).unwrap().display().to_string(), s.folder_files.is_some()))
            .collect()
    }

    #[test]
    fn a_folder_is_one_cohort_by_its_content_not_its_file_names() {
        // Files of other names beside a README: one cohort.
        let d = folder(&[("person.json", r#"{"id": 1}"#), ("enrollment.json", "{}"), ("README.md", "x")]);
        assert_eq!(found(d.path()), [(String::new(), true)]);
        // One file named after an entity type is enough.
        let d = folder(&[("patient.json", "[]"), ("settings.json", r#"{"theme": "dark"}"#)]);
        assert_eq!(found(d.path()), [(String::new(), true)]);
        // A facility with a name and a list of providers is an entity, not a flat-legacy cohort.
        let d = folder(&[("facility.json", r#"{"name": "Nord", "providers": [{"npi": "1"}]}"#), ("a.hl7", "MSH")]);
        assert_eq!(found(d.path()), [(String::new(), true)]);
    }

    #[test]
    fn a_folder_holding_whole_cohorts_is_a_container() {
        let spec = r#"{"name": "a", "entities": {"patients": []}}"#;
        let d = folder(&[("a.json", spec), ("patient.json", "[]"), ("README.md", "x")]);
        assert_eq!(found(d.path()), [("a.json".into(), false), ("patient.json".into(), false)]);
        let d = folder(&[("flat.json", r#"{"name": "f", "patients": [{"mrn": "1"}]}"#), ("notes.txt", "x")]);
        assert_eq!(found(d.path()), [("flat.json".into(), false)]);
        let d = folder(&[("run.json", r#"{"patient_histories": {}}"#), ("cohort.json", "{}")]);
        assert_eq!(found(d.path()).len(), 2);
        // Generic records without a README or entity names: each file its own source.
        let d = folder(&[("visits.json", r#"[{"id": 1}]"#), ("events.ndjson", "{\"id\": 1}\n")]);
        assert_eq!(found(d.path()), [("events.ndjson".into(), false), ("visits.json".into(), false)]);
        // No JSON at all: nothing to be a cohort of.
        let d = folder(&[("README.md", "x")]);
        assert!(found(d.path()).is_empty());
    }

    #[test]
    fn subfolders_of_a_cohort_folder_are_looked_through() {
        let d = folder(&[("patient.json", "[]")]);
        std::fs::create_dir(d.path().join("old")).unwrap();
        std::fs::write(d.path().join("old/claims.json"), "[]").unwrap();
        std::fs::write(d.path().join(".DS_Store"), "x").unwrap();
        let (sources, passed) = discover(&[d.path().to_path_buf()]).unwrap();
        assert_eq!(sources.len(), 2);
        assert_eq!(sources[0].folder_files.as_ref().unwrap().len(), 1, "hidden files are not part of it");
        assert!(passed[0].0.ends_with(".DS_Store"), "{passed:?}");
    }
}
