//! Garbage collection: removing files no version needs, and (on request) old versions.

use std::path::PathBuf;

use serde::Serialize;

use crate::catalog;
use crate::error::{Result, StoreError};
use crate::fsutil::{self, tree_size};
use crate::model::VersionStatus;
use crate::store::{Store, remove_staging};

/// What to collect.
#[derive(Debug, Clone, Default)]
pub struct GcOptions {
    /// Keep only the newest `keep` versions of each dataset (the current version is always kept).
    pub keep: Option<u32>,
    /// Also remove interrupted resumable runs (kept for `--resume` or `merge` otherwise).
    pub discard_interrupted: bool,
    /// Report what would go without removing anything.
    pub dry_run: bool,
}

/// A version `gc` expired.
#[derive(Debug, Clone, Serialize)]
pub struct ExpiredVersion {
    /// The dataset.
    pub dataset: String,
    /// The version.
    pub version: u32,
    /// Bytes of Parquet it held.
    pub bytes: u64,
}

/// What `gc` removed (or, in a dry run, would remove).
#[derive(Debug, Clone, Serialize)]
pub struct GcReport {
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Versions marked deleted.
    pub expired_versions: Vec<ExpiredVersion>,
    /// Directories removed: expired versions, versions no catalog entry references, dead staging
    /// and spill directories.
    pub removed_paths: Vec<PathBuf>,
    /// Bytes freed.
    pub freed_bytes: u64,
}

impl Store {
    /// Removes unreferenced files and, with `keep`, versions older than the newest `keep`.
    pub fn gc(&self, options: &GcOptions) -> Result<GcReport> {
        if options.keep == Some(0) {
            return Err(StoreError::InvalidName {
                what: "--keep value",
                name: "0".into(),
                reason: "at least one version of each dataset is always kept".into(),
            });
        }
        self.write(|conn| {
            let mut expired = Vec::new();
            if let Some(keep) = options.keep {
                for d in catalog::list_datasets(conn)? {
                    let active: Vec<_> = catalog::versions(conn, d.id)?
                        .into_iter()
                        .filter(|v| v.status == VersionStatus::Active)
                        .collect();
                    for v in active.iter().skip(keep as usize).filter(|v| !v.is_current) {
                        expired.push((
                            d.id,
                            ExpiredVersion { dataset: d.name.to_string(), version: v.version, bytes: v.bytes },
                        ));
                    }
                }
            }
            if !options.dry_run && !expired.is_empty() {
                catalog::transaction(conn, |c| {
                    for (id, v) in &expired {
                        catalog::set_status(c, *id, v.version, VersionStatus::Deleted)?;
                    }
                    Ok(())
                })?;
            }
            let mut doomed: Vec<PathBuf> = if options.dry_run {
                let mut paths = self.stray_version_dirs(conn)?;
                paths.extend(expired.iter().map(|(id, v)| self.layout().version_dir(*id, v.version)));
                paths
            } else {
                self.stray_version_dirs(conn)?
            };
            doomed.extend(self.dead_staging());
            doomed.extend(dead_spill_dirs(self));
            if options.discard_interrupted {
                doomed.extend(self.resumable_dirs_not_in_use());
            }
            doomed.sort();
            doomed.dedup();
            let mut freed = 0;
            for path in &doomed {
                freed += tree_size(path);
                if !options.dry_run {
                    if path.starts_with(self.layout().staging()) {
                        remove_staging(path)?;
                    } else {
                        fsutil::remove_dir_all_if_exists(path)?;
                    }
                }
            }
            if !options.dry_run && !expired.is_empty() {
                let mut touched: Vec<&str> = expired.iter().map(|(_, v)| v.dataset.as_str()).collect();
                touched.dedup();
                self.refresh_views_of(conn, &touched)?;
            }
            Ok(GcReport {
                dry_run: options.dry_run,
                expired_versions: expired.into_iter().map(|(_, v)| v).collect(),
                removed_paths: doomed,
                freed_bytes: freed,
            })
        })
    }
}

/// Spill directories (`tmp/<pid>`) of processes that are no longer running.
fn dead_spill_dirs(store: &Store) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(store.root().join("tmp")) else { return Vec::new() };
    entries
        .flatten()
        .filter(|e| {
            let pid = e.file_name().to_string_lossy().into_owned();
            pid.parse::<u32>().is_ok_and(|p| p != std::process::id()) && !PathBuf::from("/proc").join(&pid).exists()
        })
        .map(|e| e.path())
        .collect()
}
