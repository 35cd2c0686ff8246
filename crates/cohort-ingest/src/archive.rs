//! ZIP archives of tables (an EHR extract: patients, admissions, labs): each entry in a format
//! cohort reads becomes a table, exactly as if the files had been given one by one. Entries are
//! unpacked into the store's scratch space first, refusing what an archive should never do: paths
//! outside the archive (`../`, absolute: "zip slip"), symbolic links, archives inside archives,
//! and sizes or compression ratios that betray a zip bomb. Document entries (a PDF or text data
//! dictionary) are listed in the report, not loaded as tables.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{IngestError, Result};

/// How much an archive may unpack to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Entries in the archive.
    pub max_entries: usize,
    /// Bytes of all entries together, unpacked.
    pub max_total_bytes: u64,
    /// Unpacked size over compressed size, for entries over 1 MiB.
    pub max_ratio: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_entries: 10_000, max_total_bytes: 20 * 1024 * 1024 * 1024, max_ratio: 200 }
    }
}

/// Extensions of entries that document the data rather than hold it.
pub const DOCUMENTS: &[&str] = &["pdf", "txt", "md", "doc", "docx", "rtf", "html", "htm", "odt"];

/// What an archive unpacked to.
#[derive(Debug)]
pub struct Unpacked {
    /// Unpacked table files, in archive order: (file on disk, entry name in the archive).
    pub tables: Vec<(PathBuf, String)>,
    /// Unpacked document entries (a PDF or text data dictionary), kept as attachments:
    /// (file on disk, entry name in the archive).
    pub documents: Vec<(PathBuf, String)>,
}

/// Whether `path` names a ZIP archive.
pub fn is_zip(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip"))
}

/// Unpacks the table entries of `archive` under `into` (created), enforcing `limits`.
pub fn unpack(archive: &Path, into: &Path, limits: Limits) -> Result<Unpacked> {
    let refuse = |message: String, hint: &str| IngestError::Invalid {
        path: archive.to_path_buf(),
        line: None,
        message,
        hint: Some(hint.to_string()),
    };
    let file =
        fs_err::File::open(archive).map_err(|e| IngestError::Unreadable { path: archive.to_path_buf(), source: e })?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| {
        refuse(format!("this is not a readable ZIP archive: {e}"), "check that the file was fully written")
    })?;
    if zip.len() > limits.max_entries {
        return Err(refuse(
            format!("the archive has {} entries, more than the {} cohort unpacks", zip.len(), limits.max_entries),
            "split the archive, or unpack it and ingest the files",
        ));
    }
    let mut unpacked = Unpacked { tables: Vec::new(), documents: Vec::new() };
    let mut total = 0u64;
    for i in 0..zip.len() {
        let mut entry =
            zip.by_index(i).map_err(|e| refuse(format!("entry {i} cannot be read: {e}"), "the archive is damaged"))?;
        let name = entry
            .name()
            .map_err(|e| refuse(format!("entry {i} has an unreadable name: {e}"), "the archive is damaged"))?
            .into_owned();
        if entry.is_dir() || is_hidden(&name) {
            continue;
        }
        // An absolute name is refused even where the ZIP reader would make it relative.
        let absolute = name.starts_with('/') || name.starts_with('\\') || name.get(1..3) == Some(":\\");
        let Some(relative) = entry.enclosed_name().filter(|_| !absolute) else {
            return Err(refuse(
                format!("entry `{name}` would be written outside the archive's folder; refused"),
                "the archive is unsafe (zip slip): recreate it with relative paths",
            ));
        };
        if entry.is_symlink() {
            return Err(refuse(format!("entry `{name}` is a symbolic link; refused"), "archive the files themselves"));
        }
        let extension = relative.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
        if extension == "zip" {
            return Err(refuse(
                format!("entry `{name}` is itself an archive; cohort does not unpack archives inside archives"),
                "unpack the inner archive and ingest its files",
            ));
        }
        let document = DOCUMENTS.contains(&extension.as_str());
        let (declared, compressed) = (entry.size(), entry.compressed_size().max(1));
        if declared > 1024 * 1024 && declared / compressed > limits.max_ratio {
            return Err(refuse(
                format!(
                    "entry `{name}` unpacks to {declared} bytes from {compressed} ({}x), more than the {}x cohort accepts",
                    declared / compressed,
                    limits.max_ratio
                ),
                "this looks like a zip bomb; if the data really compresses that well, unpack it and ingest the files",
            ));
        }
        let target = into.join(&relative);
        if let Some(dir) = target.parent() {
            fs_err::create_dir_all(dir)
                .map_err(|e| IngestError::Unreadable { path: archive.to_path_buf(), source: e })?;
        }
        let mut out = fs_err::File::create(&target)
            .map_err(|e| IngestError::Unreadable { path: archive.to_path_buf(), source: e })?;
        // Declared sizes can lie: count what is actually unpacked.
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = entry
                .read(&mut buf)
                .map_err(|e| refuse(format!("entry `{name}` cannot be unpacked: {e}"), "the archive is damaged"))?;
            if n == 0 {
                break;
            }
            total += n as u64;
            if total > limits.max_total_bytes {
                return Err(refuse(
                    format!("the archive unpacks to more than the {} bytes cohort accepts", limits.max_total_bytes),
                    "this looks like a zip bomb; unpack it and ingest the files if it is genuine",
                ));
            }
            out.write_all(&buf[..n]).map_err(|e| {
                if cohort_store::error::is_disk_full_io(&e) {
                    IngestError::DiskFull { path: archive.to_path_buf() }
                } else {
                    IngestError::Unreadable { path: archive.to_path_buf(), source: e }
                }
            })?;
        }
        if document {
            unpacked.documents.push((target, name));
        } else {
            unpacked.tables.push((target, name));
        }
    }
    Ok(unpacked)
}

/// Entries that archiving tools add and nobody means as data (`__MACOSX/`, `.DS_Store`).
fn is_hidden(name: &str) -> bool {
    // `..` is not hidden: it is a path trick, which the zip-slip check refuses.
    name.split('/').any(|part| (part.starts_with('.') && part != "." && part != "..") || part == "__MACOSX")
}
