//! Finding legacy sources: files, and folders that are one cohort each.

use std::path::{Path, PathBuf};

use cohort_store::hash::{sha256_bytes, sha256_parts};

use crate::entity;
use crate::error::{MigrateError, Result};

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
    /// For a folder-per-cohort, its JSON files, sorted by name.
    pub folder_files: Option<Vec<PathBuf>>,
}

/// A source's bytes, read once: what is hashed, backed up and parsed are the same bytes.
pub struct Loaded {
    /// (file, bytes, their SHA-256) for each file; one for a plain file.
    pub files: Vec<(PathBuf, Vec<u8>, String)>,
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
                    files: vec![(self.path.clone(), bytes, sha256)],
                })
            }
            Some(files) => {
                let mut loaded = Vec::new();
                let mut parts = Vec::new();
                for f in files {
                    let bytes = fs_err::read(f)?;
                    let name = f.file_name().unwrap_or_default().to_string_lossy().into_owned();
                    let sha256 = sha256_bytes(&bytes);
                    parts.push(name);
                    parts.push(sha256.clone());
                    loaded.push((f.clone(), bytes, sha256));
                }
                Ok(Loaded {
                    sha256: sha256_parts(parts.iter().map(String::as_str)),
                    bytes: loaded.iter().map(|(_, b, _)| b.len() as u64).sum(),
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
}

fn is_json(path: &Path) -> bool {
    path.extension().is_some_and(|e| ["json", "ndjson", "jsonl"].iter().any(|j| e.eq_ignore_ascii_case(j)))
}

fn is_hidden(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// The JSON files directly in `dir`, sorted.
fn json_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let unreadable = |e| MigrateError::Unreadable { path: dir.to_path_buf(), source: e };
    let mut files: Vec<PathBuf> = fs_err::read_dir(dir)
        .map_err(unreadable)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && is_json(p) && !is_hidden(p))
        .collect();
    files.sort();
    Ok(files)
}

/// Whether `dir` is one cohort: it has a `cohort.json` or `scenario.json`, or every JSON file in
/// it is named after an entity type (`patient.json`, `pharmacy-claims.json`).
fn is_cohort_folder(files: &[PathBuf]) -> bool {
    let stems: Vec<String> =
        files.iter().map(|f| f.file_stem().unwrap_or_default().to_string_lossy().to_lowercase()).collect();
    !stems.is_empty()
        && (stems.iter().any(|s| s == "cohort" || s == "scenario") || stems.iter().all(|s| entity::is_known(s)))
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
    let files = json_files(dir)?;
    if is_cohort_folder(&files) {
        sources.push(Source { path: dir.to_path_buf(), folder_files: Some(files) });
        return Ok(());
    }
    sources.extend(files.into_iter().map(|path| Source { path, folder_files: None }));
    let mut entries: Vec<PathBuf> = fs_err::read_dir(dir)
        .map_err(|e| MigrateError::Unreadable { path: dir.to_path_buf(), source: e })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| !is_hidden(p))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, sources, passed)?;
        } else if p.is_file() && !is_json(&p) {
            passed.push((p, "not a JSON file".into()));
        }
    }
    Ok(())
}
