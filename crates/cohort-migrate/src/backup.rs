//! Copies of the originals, with a manifest of SHA-256 checksums, verified before any import.
//!
//! Originals are only ever read: never moved, never changed, never deleted.

use std::path::{Path, PathBuf};

use cohort_store::fsutil;
use cohort_store::hash::sha256_file;
use serde::{Deserialize, Serialize};

use crate::error::{MigrateError, Result};

/// The manifest's file name inside a backup folder.
pub const MANIFEST: &str = "manifest.json";

/// One file in a backup.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BackedUp {
    /// Where the original is.
    pub original: PathBuf,
    /// The copy, relative to the backup folder.
    pub copy: PathBuf,
    /// SHA-256 of the bytes.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// A backup folder and what it holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Backup {
    /// The folder.
    pub dir: PathBuf,
    /// Every file copied.
    pub files: Vec<BackedUp>,
}

/// What a backed-up copy is made from.
pub enum Content<'a> {
    /// The bytes read from the original (and imported).
    Bytes(&'a [u8]),
    /// The original on disk, copied as it is (a folder's README, HL7 or PDF file); the copy is
    /// checked against the checksum taken when it was planned.
    File,
}

/// One file to back up.
pub struct ToBackUp<'a> {
    /// Where it is.
    pub original: &'a Path,
    /// Where its copy goes, relative to the backup's `files/` folder.
    pub copy: PathBuf,
    /// What the copy is made from.
    pub content: Content<'a>,
    /// SHA-256 of its bytes.
    pub sha256: String,
    /// Its size in bytes.
    pub bytes: u64,
}

/// Copies `from` to `to` atomically (a temporary file beside it, fsynced, then renamed).
fn copy_atomic(from: &Path, to: &Path) -> std::io::Result<()> {
    let dir = to.parent().expect("a copy has a folder");
    let tmp = dir.join(format!(".{}.tmp-{}", to.file_name().unwrap_or_default().to_string_lossy(), std::process::id()));
    fs_err::copy(from, &tmp)?;
    fsutil::sync_file(&tmp)?;
    fs_err::rename(&tmp, to)?;
    fsutil::sync_dir(dir)
}

/// Copies `files` into a new folder `<root>/migrate-<UTC time>/files/`, writes the manifest, then
/// reads every copy back and checks its checksum. Any failure is an error, and the migration
/// stops before importing anything.
pub fn create(root: &Path, files: &[ToBackUp<'_>]) -> Result<Backup> {
    let stamp = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ").to_string();
    let mut dir = root.join(format!("migrate-{stamp}"));
    let mut n = 1;
    while dir.exists() {
        n += 1;
        dir = root.join(format!("migrate-{stamp}-{n}"));
    }
    let fail = |dir: &Path, detail: String| MigrateError::Backup { dir: dir.to_path_buf(), detail };
    fs_err::create_dir_all(dir.join("files")).map_err(|e| fail(&dir, e.to_string()))?;
    let mut backup = Backup { dir: dir.clone(), files: Vec::with_capacity(files.len()) };
    for f in files {
        let copy = PathBuf::from("files").join(&f.copy);
        let target = dir.join(&copy);
        let write = || -> std::io::Result<()> {
            fs_err::create_dir_all(target.parent().expect("has a parent"))?;
            match f.content {
                Content::Bytes(bytes) => fsutil::write_atomic(&target, bytes),
                Content::File => copy_atomic(f.original, &target),
            }
        };
        write().map_err(|e| fail(&dir, format!("copying `{}`: {e}", f.original.display())))?;
        backup.files.push(BackedUp {
            original: f.original.to_path_buf(),
            copy,
            sha256: f.sha256.clone(),
            bytes: f.bytes,
        });
    }
    let manifest = serde_json::to_vec_pretty(&backup).expect("manifest serialises");
    fsutil::write_atomic(&dir.join(MANIFEST), &manifest)
        .map_err(|e| fail(&dir, format!("writing the manifest: {e}")))?;
    verify(&dir)?;
    Ok(backup)
}

/// Checks every file of the backup in `dir` against its manifest.
pub fn verify(dir: &Path) -> Result<()> {
    let fail = |detail: String| MigrateError::Backup { dir: dir.to_path_buf(), detail };
    let text = fs_err::read(dir.join(MANIFEST)).map_err(|e| fail(format!("reading the manifest: {e}")))?;
    let backup: Backup = serde_json::from_slice(&text).map_err(|e| fail(format!("the manifest is unreadable: {e}")))?;
    for f in &backup.files {
        let (sha, bytes) = sha256_file(&dir.join(&f.copy), |_| {})
            .map_err(|e| fail(format!("reading `{}`: {e}", f.copy.display())))?;
        if sha != f.sha256 || bytes != f.bytes {
            return Err(fail(format!(
                "the copy of `{}` does not match its checksum (did the file change while the migration ran? run it \
                 again)",
                f.original.display()
            )));
        }
    }
    Ok(())
}
