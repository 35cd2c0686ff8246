//! The store's error type.
//!
//! Every variant carries the context a user needs to act on it (a path, a dataset name, a version),
//! and [`StoreError::hint`] says what to do next. User errors (bad names, missing datasets, a busy
//! store) are kept apart from integrity problems and internal failures by [`StoreError::class`].

use std::path::PathBuf;
use std::time::Duration;

/// Result alias for store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What kind of failure an error is, so that the binary can pick an exit code and tone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The user asked for something invalid or absent; fixing the request fixes it.
    User,
    /// The store is busy or the machine ran out of a resource; retrying later may work.
    Resource,
    /// Data on disk does not match the catalog; `cohort doctor` is the next step.
    Integrity,
    /// The operation was cancelled by the user.
    Cancelled,
    /// A bug or an unexpected failure of a dependency.
    Internal,
}

/// An error from the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory is not a cohort store.
    #[error("no cohort store at `{}`", path.display())]
    NotAStore {
        /// The directory that was opened.
        path: PathBuf,
    },

    /// A dataset or table name is not allowed.
    #[error("invalid {what} `{name}`: {reason}")]
    InvalidName {
        /// "dataset name" or "table name".
        what: &'static str,
        /// The rejected name.
        name: String,
        /// Why it was rejected.
        reason: String,
    },

    /// The SQL console refused a statement (it writes, reads files, changes settings, ...).
    #[error("{reason}")]
    QueryRefused {
        /// Why.
        reason: String,
    },

    /// A console query ran past its time limit and was stopped.
    #[error("the query ran longer than {seconds} s and was stopped")]
    QueryTimeout {
        /// The limit.
        seconds: u64,
    },

    /// No dataset has this name.
    #[error("no dataset named `{name}`")]
    DatasetNotFound {
        /// The name asked for.
        name: String,
        /// Existing names that look similar.
        similar: Vec<String>,
    },

    /// The dataset exists but has no such version.
    #[error("dataset `{dataset}` has no version {version}")]
    VersionNotFound {
        /// The dataset.
        dataset: String,
        /// The version asked for.
        version: u32,
        /// Versions that can be used.
        available: Vec<u32>,
    },

    /// The version existed but is no longer readable (removed by `gc` or quarantined by `doctor`).
    #[error("version {version} of `{dataset}` is {status}")]
    VersionUnavailable {
        /// The dataset.
        dataset: String,
        /// The version asked for.
        version: u32,
        /// Its status in the catalog (`deleted`, `quarantined`).
        status: String,
    },

    /// The dataset has no readable version at all.
    #[error("dataset `{dataset}` has no current version")]
    NoCurrentVersion {
        /// The dataset.
        dataset: String,
    },

    /// The dataset version has no table of this name.
    #[error("dataset `{dataset}` has no table `{table}`")]
    TableNotFound {
        /// The dataset.
        dataset: String,
        /// The table asked for.
        table: String,
        /// The tables it does have.
        available: Vec<String>,
    },

    /// A new version's kind differs from the existing dataset's kind.
    #[error("dataset `{dataset}` is of kind `{existing}`, not `{requested}`")]
    KindMismatch {
        /// The dataset.
        dataset: String,
        /// Its kind in the catalog.
        existing: String,
        /// The kind of the new version.
        requested: String,
    },

    /// A commit that must create a new dataset found one of that name.
    #[error("a dataset named `{dataset}` already exists")]
    DatasetExists {
        /// The name.
        dataset: String,
    },

    /// Another process held the store's write lock for too long.
    #[error("the store is busy: another cohort process held its lock for {}s", waited.as_secs())]
    Busy {
        /// How long we waited.
        waited: Duration,
    },

    /// A file-system operation failed (the message names the path).
    #[error("{0}")]
    Io(#[from] std::io::Error),

    /// DuckDB failed while doing `context`.
    #[error("{context}: {message}")]
    DuckDb {
        /// What the store was doing.
        context: String,
        /// DuckDB's message.
        message: String,
    },

    /// The user's SQL failed (a syntax error, an unknown table, a type error).
    #[error("{message}")]
    Sql {
        /// DuckDB's message.
        message: String,
    },

    /// A staged or stored Parquet file could not be read.
    #[error("cannot read Parquet file `{}`: {source}", path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The reader's error.
        source: parquet::errors::ParquetError,
    },

    /// A staged version is unusable (no tables, empty table, parts with different schemas).
    #[error("cannot commit `{dataset}`: {detail}")]
    BadStaging {
        /// The dataset being committed.
        dataset: String,
        /// What is wrong.
        detail: String,
    },

    /// The catalog was written by a newer cohort.
    #[error("the catalog format is version {found}, but this cohort understands up to {supported}")]
    NewerCatalog {
        /// The catalog's schema version.
        found: i64,
        /// The newest schema version this build knows.
        supported: i64,
    },

    /// The catalog holds something it should not (a bug or a hand edit).
    #[error("the catalog is inconsistent: {0}")]
    Inconsistent(String),

    /// The operation was cancelled.
    #[error("cancelled")]
    Cancelled,
}

impl StoreError {
    /// Wraps a DuckDB error with what the store was doing.
    pub fn duckdb(context: impl Into<String>, source: duckdb::Error) -> Self {
        StoreError::DuckDb { context: context.into(), message: source.to_string() }
    }

    /// An error in the user's own SQL (unless it is really a full disk).
    pub fn sql(source: duckdb::Error) -> Self {
        let message = source.to_string();
        if is_disk_full_message(&message) {
            return StoreError::DuckDb { context: "running the query".into(), message };
        }
        StoreError::Sql { message }
    }

    /// Whether this failure came from a full disk or a file-size limit.
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::Io(e) => is_disk_full_io(e),
            StoreError::DuckDb { message, .. } => is_disk_full_message(message),
            _ => false,
        }
    }

    /// What kind of failure this is.
    pub fn class(&self) -> ErrorClass {
        match self {
            StoreError::NotAStore { .. }
            | StoreError::InvalidName { .. }
            | StoreError::DatasetNotFound { .. }
            | StoreError::VersionNotFound { .. }
            | StoreError::VersionUnavailable { .. }
            | StoreError::NoCurrentVersion { .. }
            | StoreError::TableNotFound { .. }
            | StoreError::KindMismatch { .. }
            | StoreError::DatasetExists { .. }
            | StoreError::BadStaging { .. }
            | StoreError::Sql { .. }
            | StoreError::QueryRefused { .. }
            | StoreError::NewerCatalog { .. } => ErrorClass::User,
            StoreError::QueryTimeout { .. } => ErrorClass::Resource,
            StoreError::Busy { .. } => ErrorClass::Resource,
            _ if self.is_disk_full() => ErrorClass::Resource,
            StoreError::Parquet { .. } | StoreError::Inconsistent(_) => ErrorClass::Integrity,
            StoreError::Cancelled => ErrorClass::Cancelled,
            StoreError::Io(_) | StoreError::DuckDb { .. } => ErrorClass::Internal,
        }
    }

    /// A sentence telling the user what to do next, when there is one.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            StoreError::NotAStore { path } => format!(
                "create one with `cohort --store {} init`, or point `--store`/`COHORT_HOME` at an existing store",
                path.display()
            ),
            StoreError::InvalidName { what, .. } => format!(
                "a {what} starts with a letter or digit and then uses only letters, digits, `_` and `-` (at most 64)"
            ),
            StoreError::DatasetNotFound { similar, .. } if !similar.is_empty() => {
                format!("did you mean {}?", quote_list(similar))
            }
            StoreError::DatasetNotFound { .. } => "`cohort list` shows the datasets in this store".into(),
            StoreError::VersionNotFound { dataset, available, .. } => format!(
                "`{dataset}` has versions {}; `cohort versions {dataset}` lists them",
                available.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
            ),
            StoreError::VersionUnavailable { dataset, .. } => {
                format!("`cohort versions {dataset}` lists the versions that can be read")
            }
            StoreError::NoCurrentVersion { dataset } => {
                format!("ingest it again, or `cohort rollback {dataset} --to N` to a readable version")
            }
            StoreError::TableNotFound { available, .. } => format!("its tables are {}", quote_list(available)),
            StoreError::KindMismatch { .. } => "choose another name for the new dataset".into(),
            StoreError::Busy { .. } => {
                "retry in a moment; if no cohort process is running, `cohort doctor` checks the store".into()
            }
            StoreError::NewerCatalog { .. } => "upgrade cohort to open this store".into(),
            StoreError::QueryRefused { .. } => {
                "the console runs one read-only SELECT over the store's datasets; `cohort query` on the command \
                 line can do more"
                    .into()
            }
            StoreError::QueryTimeout { .. } => {
                "narrow the query (filters, fewer joins), or run it with `cohort query`, which has no time limit".into()
            }
            StoreError::Sql { message } if message.contains("does not exist") => {
                "datasets are schemas: `SELECT * FROM \"<dataset>\".\"<table>\"` (`\"<dataset>@<N>\"` for version N); \
                 `cohort list` shows the datasets and `cohort show NAME` their tables"
                    .into()
            }
            StoreError::Parquet { .. } | StoreError::Inconsistent(_) => {
                "run `cohort doctor` to check every file (and `--repair` to quarantine what is broken)".into()
            }
            _ if self.is_disk_full() => "free some disk space and run the command again; nothing was changed".into(),
            _ => return None,
        })
    }
}

fn quote_list(items: &[String]) -> String {
    items.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
}

/// Whether an I/O error means the disk (or a file-size limit) is full.
pub fn is_disk_full_io(error: &std::io::Error) -> bool {
    matches!(error.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::FileTooLarge)
        || is_disk_full_message(&error.to_string())
}

/// Whether an error message (e.g. from DuckDB) reports a full disk.
pub fn is_disk_full_message(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("no space left on device") || m.contains("file too large") || m.contains("disk full")
}
