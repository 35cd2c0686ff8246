//! Ingest errors: each names the file, and the line where there is one.

use std::path::PathBuf;

use cohort_store::{ErrorClass, StoreError};

/// An error while ingesting.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The file does not exist.
    #[error("`{}` does not exist", path.display())]
    NotFound {
        /// The file.
        path: PathBuf,
    },
    /// The path is not a regular file.
    #[error("`{}` is not a file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The file cannot be opened or read.
    #[error("cannot read `{}`: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is empty.
    #[error("`{}` is empty", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The file's format is not one cohort reads.
    #[error("`{}`: unknown format{}", path.display(), extension.as_deref().map(|e| format!(" `.{e}`")).unwrap_or_default())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
        /// Its extension, if it has one.
        extension: Option<String>,
    },
    /// The file's content is not valid for its format.
    #[error("`{}`{}: {message}", path.display(), line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The line (1-based) where the problem is, when known.
        line: Option<u64>,
        /// What is wrong.
        message: String,
        /// A suggestion.
        hint: Option<String>,
    },
    /// The file changed while it was being read.
    #[error("`{}` changed while it was being read", path.display())]
    Changed {
        /// The file.
        path: PathBuf,
    },
    /// Two files would become the same table.
    #[error("`{}` and `{}` would both become table `{table}`", first.display(), second.display())]
    DuplicateTable {
        /// The table name.
        table: String,
        /// The first file.
        first: PathBuf,
        /// The second file.
        second: PathBuf,
    },
    /// The disk filled up while writing.
    #[error("the disk is full (while converting `{}`)", path.display())]
    DiskFull {
        /// The file being converted.
        path: PathBuf,
    },
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The user cancelled.
    #[error("cancelled")]
    Cancelled,
}

impl IngestError {
    /// What kind of failure this is.
    pub fn class(&self) -> ErrorClass {
        match self {
            IngestError::Store(e) => e.class(),
            IngestError::DiskFull { .. } => ErrorClass::Resource,
            IngestError::Cancelled => ErrorClass::Cancelled,
            _ => ErrorClass::User,
        }
    }

    /// What to do next.
    pub fn hint(&self) -> Option<String> {
        match self {
            IngestError::UnknownFormat { .. } => Some(format!(
                "cohort reads {}; convert the file to one of these, or rename it if the extension is wrong",
                crate::format::SUPPORTED
            )),
            IngestError::Empty { .. } => Some("a file needs at least a header row or one record".into()),
            IngestError::Invalid { hint, .. } => hint.clone(),
            IngestError::Changed { .. } => {
                Some("wait until whatever writes the file has finished, then ingest again".into())
            }
            IngestError::DuplicateTable { .. } => {
                Some("rename one of the files; a table is named after its file".into())
            }
            IngestError::DiskFull { .. } => Some("free some disk space and ingest again; nothing was changed".into()),
            IngestError::Store(e) => e.hint(),
            _ => None,
        }
    }
}

/// Result alias for ingest.
pub type Result<T, E = IngestError> = std::result::Result<T, E>;
