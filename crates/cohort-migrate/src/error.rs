//! Errors of a migration as a whole; what goes wrong with one source is part of the report.

use std::path::PathBuf;

/// Why a migration could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The store failed (busy, full disk, catalog error).
    #[error(transparent)]
    Store(#[from] cohort_store::StoreError),

    /// A path given does not exist or cannot be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Unreadable {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },

    /// The backup could not be written or did not verify; nothing was imported.
    #[error("the backup in `{}` failed, so nothing was imported: {detail}", dir.display())]
    Backup {
        /// The backup folder.
        dir: PathBuf,
        /// What went wrong.
        detail: String,
    },

    /// An option does not fit the sources given.
    #[error("{0}")]
    Usage(String),
}

/// Result of a migration step.
pub type Result<T, E = MigrateError> = std::result::Result<T, E>;
