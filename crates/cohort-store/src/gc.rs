//! Garbage collection: removing files no version needs, and (on request) old versions.

use std::collections::HashSet;
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
    /// Version folders left in place because a reader held a lease on them (a query, export or
    /// page reading them); a later `gc` removes them.
    pub in_use: Vec<PathBuf>,
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
                    let mut touched: Vec<&str> = expired.iter().map(|(_, v)| v.dataset.as_str()).collect();
                    touched.dedup();
                    catalog::mark_views_stale(c, &touched)
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
            doomed.extend(stale_derived(self, conn, &expired)?);
            if options.discard_interrupted {
                doomed.extend(self.resumable_dirs_not_in_use());
            }
            doomed.sort();
            doomed.dedup();
            let mut freed = 0;
            let mut in_use = Vec::new();
            let mut removed = Vec::new();
            for path in doomed {
                // A version being read keeps its files until the reader lets go.
                let version = version_of(self, &path);
                let _lease = match version {
                    Some((id, version)) => match crate::lease::try_exclusive(self.layout(), id, version)? {
                        Some(lease) => Some(lease),
                        None => {
                            in_use.push(path);
                            continue;
                        }
                    },
                    None => None,
                };
                freed += tree_size(&path);
                if !options.dry_run {
                    if path.starts_with(self.layout().staging()) {
                        remove_staging(&path)?;
                    } else if path.is_file() {
                        std::fs::remove_file(&path)?;
                    } else {
                        fsutil::remove_dir_all_if_exists(&path)?;
                        // A reader that opens the lease after this finds the folder gone.
                        if let Some((id, v)) = version {
                            let _ = std::fs::remove_file(self.layout().leases().join(format!("{id}-v{v}")));
                        }
                    }
                }
                removed.push(path);
            }
            let doomed = removed;
            Ok(GcReport {
                dry_run: options.dry_run,
                expired_versions: expired.into_iter().map(|(_, v)| v).collect(),
                removed_paths: doomed,
                freed_bytes: freed,
                in_use,
            })
        })
        .inspect(|report| {
            if !report.expired_versions.is_empty() {
                self.after_change();
            }
        })
    }
}

/// What `derived/` keeps for versions no longer readable (a run's results, by content hash; a
/// registry's per-participant summaries, by the version they were computed for), with the
/// versions `expired` now counted as gone (a dry run has not marked them yet).
fn stale_derived(store: &Store, conn: &duckdb::Connection, expired: &[(i64, ExpiredVersion)]) -> Result<Vec<PathBuf>> {
    let gone: HashSet<(String, u32)> = expired.iter().map(|(_, v)| (v.dataset.clone(), v.version)).collect();
    let active: Vec<(String, u32, String)> = catalog::active_content_hashes(conn)?
        .into_iter()
        .filter(|(dataset, version, _)| !gone.contains(&(dataset.clone(), *version)))
        .collect();
    let live_hashes: HashSet<&str> = active.iter().map(|(_, _, hash)| hash.as_str()).collect();
    let live_versions: HashSet<(&str, u32)> = active.iter().map(|(d, v, _)| (d.as_str(), *v)).collect();
    let mut stale = Vec::new();
    if let Ok(entries) = std::fs::read_dir(store.layout().derived().join("results")) {
        stale.extend(
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .filter(|p| p.file_stem().and_then(|s| s.to_str()).is_some_and(|hash| !live_hashes.contains(hash))),
        );
    }
    /// What a registry summary's description says it was computed for.
    #[derive(serde::Deserialize)]
    struct ComputedFor {
        dataset: String,
        version: u32,
    }
    if let Ok(entries) = std::fs::read_dir(store.layout().derived().join("registry")) {
        for path in entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "json")) {
            let Some(of) = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice::<ComputedFor>(&b).ok())
            else {
                continue;
            };
            if !live_versions.contains(&(of.dataset.as_str(), of.version)) {
                stale.push(path.with_extension("parquet"));
                stale.push(path);
            }
        }
    }
    Ok(stale)
}

/// The dataset id and version of a version folder (`datasets/<id>/v<N>`).
fn version_of(store: &Store, path: &std::path::Path) -> Option<(i64, u32)> {
    let rest = path.strip_prefix(store.layout().datasets()).ok()?;
    let mut parts = rest.components().map(|c| c.as_os_str().to_str());
    let id = parts.next()??.parse().ok()?;
    let version = parts.next()??.strip_prefix('v')?.parse().ok()?;
    parts.next().is_none().then_some((id, version))
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
