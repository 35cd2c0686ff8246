//! Where everything lives inside a store directory.
//!
//! ```text
//! <store>/
//!   catalog.duckdb        the catalog (datasets, versions, tables, files, columns)
//!   catalog.lock          advisory lock: shared for catalog reads, exclusive for commits
//!   catalog.intent        taken by a waiting writer so that readers cannot starve it
//!   datasets.duckdb       views over every dataset's current version, for stock DuckDB tools
//!   datasets.lock         taken by the one process bringing datasets.duckdb up to date
//!   datasets/<id>/v<N>/<table>/part-00000.parquet
//!   staging/<token>/      versions being written (private to the process that holds <token>.lock)
//!   quarantine/           files `doctor --repair` moved aside
//!   leases/<id>-v<N>      readers' leases on a version's files, which `gc` respects
//!   derived/results/<hash>.json  a run's results, computed once (safe to delete)
//!   derived/registry/<key>.parquet  a registry version's per-participant summary, and <key>.json
//!                                 what it is of (computed once, safe to delete)
//!   tmp/                  DuckDB's spill directory
//! ```

use std::path::{Path, PathBuf};

/// Paths inside one store directory.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The layout of the store at `root` (which should be absolute).
    pub fn new(root: PathBuf) -> Self {
        Layout { root }
    }

    /// The store directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The catalog database.
    pub fn catalog(&self) -> PathBuf {
        self.root.join("catalog.duckdb")
    }

    /// The advisory lock file that guards the catalog.
    pub fn catalog_lock(&self) -> PathBuf {
        self.root.join("catalog.lock")
    }

    /// The database of views for external DuckDB clients.
    pub fn views_db(&self) -> PathBuf {
        self.root.join("datasets.duckdb")
    }

    /// The advisory lock taken by the one process bringing `datasets.duckdb` up to date.
    pub fn views_lock(&self) -> PathBuf {
        self.root.join("datasets.lock")
    }

    /// The directory holding every dataset's versions.
    pub fn datasets(&self) -> PathBuf {
        self.root.join("datasets")
    }

    /// The directory of one dataset.
    pub fn dataset_dir(&self, dataset_id: i64) -> PathBuf {
        self.datasets().join(dataset_id.to_string())
    }

    /// The directory of one committed version, relative to the store root.
    pub fn version_rel(dataset_id: i64, version: u32) -> PathBuf {
        PathBuf::from("datasets").join(dataset_id.to_string()).join(format!("v{version}"))
    }

    /// The directory of one committed version.
    pub fn version_dir(&self, dataset_id: i64, version: u32) -> PathBuf {
        self.root.join(Self::version_rel(dataset_id, version))
    }

    /// The directory of staged versions.
    pub fn staging(&self) -> PathBuf {
        self.root.join("staging")
    }

    /// What is computed from versions and kept by their content hash (a run's results), so that
    /// it is computed once; safe to delete, it is computed again when missing.
    pub fn derived(&self) -> PathBuf {
        self.root.join("derived")
    }

    /// The directory of readers' leases on versions (see [`crate::lease`]).
    pub fn leases(&self) -> PathBuf {
        self.root.join("leases")
    }

    /// The directory where broken files are moved.
    pub fn quarantine(&self) -> PathBuf {
        self.root.join("quarantine")
    }

    /// The query history of the SQL console (JSON lines, appended).
    pub fn query_history(&self) -> PathBuf {
        self.root.join("history").join("queries.jsonl")
    }

    /// The history of analyses (`cohort analyze`, the Analyze page): JSON lines, appended.
    pub fn analysis_history(&self) -> PathBuf {
        self.root.join("history").join("analyses.jsonl")
    }

    /// Answers of analyses by (version, content, plan, engine): the same plan answers from here.
    pub fn analysis_cache(&self) -> PathBuf {
        self.root.join("cache").join("analyses")
    }

    /// Accounts and API tokens (`cohort user`), private to the store's owner.
    pub fn access_dir(&self) -> PathBuf {
        self.root.join("access")
    }

    /// Named export profiles (`cohort export --profile NAME` reads `NAME.yaml` here).
    pub fn export_profiles_dir(&self) -> PathBuf {
        self.root.join("export-profiles")
    }

    /// The keys of export profiles, one per profile, private to the store's owner.
    pub fn export_keys_dir(&self) -> PathBuf {
        self.access_dir().join("export-keys")
    }

    /// The audit log (`cohort audit`).
    pub fn audit_dir(&self) -> PathBuf {
        self.root.join("audit")
    }

    /// DuckDB's spill directory for this process.
    pub fn spill_dir(&self) -> PathBuf {
        self.root.join("tmp").join(std::process::id().to_string())
    }

    /// Removes this process's spill directory if nothing is left in it, as a command ends, so
    /// that a store does not collect an empty folder per command run.
    pub fn remove_spill_dir_if_empty(&self) {
        // `remove_dir` refuses a folder that still holds something: exactly the condition wanted.
        let _ = std::fs::remove_dir(self.spill_dir());
    }

    /// Resolves a path recorded in the catalog (relative to the root).
    pub fn resolve(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// The name of a table part file.
    pub fn part_file_name(index: usize) -> String {
        format!("part-{index:05}.parquet")
    }
}
