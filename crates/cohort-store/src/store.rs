//! The [`Store`]: opening, recovering, reading the catalog, and changing what is current.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use duckdb::Connection;
use fs_err as fs;
use jiff::Timestamp;
use serde::Serialize;

use crate::catalog;
use crate::duck;
use crate::error::{Result, StoreError};
use crate::fsutil;
use crate::layout::Layout;
use crate::lock::{CatalogLock, LivenessLock, LockMode};
use crate::model::{
    DatasetDetail, DatasetSummary, KeptProfile, RelationshipDecision, ResolvedVersion, SavedCohort, TableInfo,
    VersionInfo, VersionStatus,
};
use crate::name::similar_names;
use crate::name::{DatasetName, VersionRef};
use crate::settings::Settings;
use crate::staging::Staging;
use crate::views;

/// A store directory: a DuckDB catalog plus immutable, versioned Parquet files.
///
/// `Store` is a cheap handle (a path and settings); every operation opens what it needs and
/// releases it before returning, so many processes and threads can use one store at once.
#[derive(Debug, Clone)]
pub struct Store {
    layout: Layout,
    settings: Settings,
}

/// What [`Store::recover`] cleaned up.
#[derive(Debug, Default, Clone, Serialize)]
pub struct RecoveryReport {
    /// Staging directories left by processes that died.
    pub removed_staging: Vec<PathBuf>,
    /// Version directories the catalog does not know (a commit that died before its catalog
    /// transaction) or has marked deleted.
    pub removed_versions: Vec<PathBuf>,
    /// Whether the catalog had a write-ahead log to replay.
    pub replayed_catalog_log: bool,
}

impl RecoveryReport {
    /// Whether anything was cleaned up.
    pub fn is_empty(&self) -> bool {
        self.removed_staging.is_empty() && self.removed_versions.is_empty() && !self.replayed_catalog_log
    }
}

impl Store {
    /// Creates a store at `root` (or opens it, if one is there already).
    pub fn init(root: &Path, settings: Settings) -> Result<Store> {
        fs::create_dir_all(root)?;
        let root = fs::canonicalize(root)?;
        let layout = Layout::new(root);
        for dir in [layout.datasets(), layout.staging(), layout.quarantine()] {
            fs::create_dir_all(dir)?;
        }
        let store = Store { layout, settings };
        store.write(|conn| {
            catalog::migrate(conn)?;
            Ok(())
        })?;
        if !store.layout.views_db().exists() {
            store.rebuild_views()?;
        }
        Ok(store)
    }

    /// Whether `root` holds a store.
    pub fn exists(root: &Path) -> bool {
        root.join("catalog.duckdb").is_file()
    }

    /// Opens the store at `root`, recovering from any crashed writer first.
    pub fn open(root: &Path, settings: Settings) -> Result<Store> {
        if !Self::exists(root) {
            return Err(StoreError::NotAStore { path: root.to_path_buf() });
        }
        let store = Store { layout: Layout::new(fs::canonicalize(root)?), settings };
        let (version, views_behind) = store.read(|conn| {
            let version = catalog::schema_version(conn)?;
            let behind = version >= VIEWS_PENDING_SINCE && catalog::any_views_pending(conn)?;
            Ok((version, behind))
        })?;
        if version > catalog::latest_schema_version() {
            return Err(StoreError::NewerCatalog { found: version, supported: catalog::latest_schema_version() });
        }
        if version < catalog::latest_schema_version() {
            store.write(catalog::migrate)?;
        }
        // A crashed writer leaves a catalog log or a staging lock without a live owner (a commit
        // killed after moving its files into place leaves its lock): only then is the store
        // searched for version folders the catalog does not know, a read of every dataset's
        // folder that would cost every command time in proportion to the store.
        if store.wal_path().exists() || !store.dead_staging().is_empty() {
            store.recover()?;
        }
        // Changes a process made without bringing the views up to date (it died first, or its
        // server stopped before its background sync).
        if views_behind {
            store.after_change();
        }
        Ok(store)
    }

    /// The store directory.
    pub fn root(&self) -> &Path {
        self.layout.root()
    }

    /// Where things live in this store.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The resource settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The same store, with other resource settings (a server gives each of its engines a share
    /// of the process's memory cap).
    pub fn with_settings(&self, settings: Settings) -> Store {
        Store { layout: self.layout.clone(), settings }
    }

    /// Runs `f` on a read-only catalog connection under the shared lock.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let _lock = CatalogLock::acquire(&self.layout.catalog_lock(), LockMode::Shared, self.settings.lock_timeout)?;
        if self.wal_path().exists() {
            // A writer died mid-commit; only a read-write open can replay its log.
            drop(_lock);
            return self.write(|conn| f(conn));
        }
        let conn = duck::open_catalog(&self.layout.catalog(), true)?;
        let out = f(&conn);
        if let Err(e) = conn.close() {
            tracing::warn!("closing the catalog: {e}");
        }
        out
    }

    /// Runs `f` on a read-write catalog connection under the exclusive lock, then checkpoints so
    /// that normally no write-ahead log outlives the lock.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let _lock = CatalogLock::acquire(&self.layout.catalog_lock(), LockMode::Exclusive, self.settings.lock_timeout)?;
        // A writer that died after its catalog transaction left its log, which opening replays;
        // the datasets it changed are marked for `datasets.duckdb` in that same transaction.
        let conn = duck::open_catalog(&self.layout.catalog(), false)?;
        let out = f(&conn)?;
        // What `f` committed is durable in the write-ahead log already. If folding the log into
        // the file fails (a full disk), the change still stands: the next catalog access replays
        // the log and checkpoints again, so this must not be reported as a failed write.
        if let Err(e) = conn.checkpoint() {
            tracing::warn!("the catalog change is saved, but checkpointing it failed (it will be retried): {e}");
        }
        if let Err(e) = conn.close() {
            tracing::warn!("closing the catalog: {e}");
        }
        Ok(out)
    }

    fn wal_path(&self) -> PathBuf {
        let mut p = self.layout.catalog().into_os_string();
        p.push(".wal");
        PathBuf::from(p)
    }

    /// Starts a new version of `dataset`: a private staging directory to write tables into.
    pub fn stage(&self, dataset: &DatasetName) -> Result<Staging> {
        Staging::new(self.clone(), dataset.clone())
    }

    /// The resumable staging area `slot` of `dataset` (see [`Staging`]): for long producers, such
    /// as a simulation, that write in checkpointed parts and can finish after a crash. Several
    /// slots (one per shard, say) can exist for one dataset.
    pub fn stage_resumable(&self, dataset: &DatasetName, slot: &str) -> Result<Staging> {
        Staging::resumable(self.clone(), dataset.clone(), slot)
    }

    /// Every resumable staging area in the store: `(dataset, slot, bytes)`.
    pub fn resumable_areas(&self) -> Vec<(String, String, u64)> {
        let Ok(entries) = std::fs::read_dir(self.layout.staging()) else { return Vec::new() };
        let mut areas: Vec<(String, String, u64)> = entries
            .flatten()
            .filter(|e| e.path().is_dir())
            .filter_map(|e| {
                let name = e.file_name().to_str()?.strip_prefix(crate::staging::RESUMABLE_PREFIX)?.to_string();
                let (dataset, slot) = name.split_once('@')?;
                Some((dataset.to_string(), slot.to_string(), crate::fsutil::tree_size(&e.path())))
            })
            .collect();
        areas.sort();
        areas
    }

    /// Resumable staging areas no live process is writing.
    pub(crate) fn resumable_dirs_not_in_use(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(self.layout.staging()) else { return Vec::new() };
        entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.is_dir()
                    && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(crate::staging::RESUMABLE_PREFIX))
                    && !LivenessLock::is_held(&staging_lock_path(p))
            })
            .collect()
    }

    /// The slots of `dataset` that hold resumable staging areas.
    pub fn resumable_slots(&self, dataset: &DatasetName) -> Vec<String> {
        let prefix = format!("{}{dataset}@", crate::staging::RESUMABLE_PREFIX);
        let Ok(entries) = std::fs::read_dir(self.layout.staging()) else { return Vec::new() };
        let mut slots: Vec<String> = entries
            .flatten()
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_prefix(&prefix)).map(str::to_string))
            .collect();
        slots.sort();
        slots
    }

    /// Removes what crashed writers left behind: staging directories whose process is gone, and
    /// version directories the catalog does not know. Cheap when there is nothing to do.
    pub fn recover(&self) -> Result<RecoveryReport> {
        let dead_staging = self.dead_staging();
        let wal = self.wal_path().exists();
        let stray = if wal { Vec::new() } else { self.read(|conn| self.stray_version_dirs(conn))? };
        if dead_staging.is_empty() && stray.is_empty() && !wal {
            return Ok(RecoveryReport::default());
        }
        self.write(|conn| {
            // Re-check under the exclusive lock: a commit may have finished meanwhile.
            let mut report = RecoveryReport { replayed_catalog_log: wal, ..Default::default() };
            for dir in self.stray_version_dirs(conn)? {
                tracing::warn!(path = %dir.display(), "removing a version directory the catalog does not know");
                fsutil::remove_dir_all_if_exists(&dir)?;
                report.removed_versions.push(dir);
            }
            for dir in self.dead_staging() {
                if dir.exists() {
                    tracing::warn!(path = %dir.display(), "removing staging left by a process that died");
                }
                remove_staging(&dir)?;
                report.removed_staging.push(dir);
            }
            Ok(report)
        })
    }

    /// Staging directories (and orphan lock files) whose owner is no longer alive.
    pub(crate) fn dead_staging(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(self.layout.staging()) else { return Vec::new() };
        let mut dead = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with(crate::staging::RESUMABLE_PREFIX) {
                continue; // kept for resuming; only commit or discard removes it
            }
            let lock = staging_lock_path(&path);
            if path.extension().is_some_and(|e| e == "lock") {
                let dir = path.with_extension("");
                if !dir.exists() && !LivenessLock::is_held(&path) {
                    dead.push(dir);
                }
                continue;
            }
            if !LivenessLock::is_held(&lock) {
                dead.push(path);
            }
        }
        dead
    }

    /// Directories under `datasets/` that hold no active version.
    pub(crate) fn stray_version_dirs(&self, conn: &Connection) -> Result<Vec<PathBuf>> {
        let active: HashSet<(i64, u32)> = catalog::version_dirs(conn)?
            .into_iter()
            .filter(|(_, _, status)| *status == VersionStatus::Active)
            .map(|(id, v, _)| (id, v))
            .collect();
        let mut stray = Vec::new();
        let Ok(datasets) = std::fs::read_dir(self.layout.datasets()) else { return Ok(stray) };
        for dataset in datasets.flatten() {
            let id: Option<i64> = dataset.file_name().to_str().and_then(|s| s.parse().ok());
            let Ok(versions) = std::fs::read_dir(dataset.path()) else { continue };
            for version in versions.flatten() {
                let v: Option<u32> =
                    version.file_name().to_str().and_then(|s| s.strip_prefix('v')).and_then(|s| s.parse().ok());
                match (id, v) {
                    (Some(id), Some(v)) if active.contains(&(id, v)) => {}
                    _ => stray.push(version.path()),
                }
            }
        }
        Ok(stray)
    }

    /// Every dataset, by name.
    pub fn list(&self) -> Result<Vec<DatasetSummary>> {
        self.read(catalog::list_datasets)
    }

    /// Resolves `NAME` or `NAME@N` to its tables and files.
    pub fn resolve(&self, r: &VersionRef) -> Result<ResolvedVersion> {
        self.read(|conn| resolve_in(conn, r))
    }

    /// Resolves several references in one catalog read.
    pub fn resolve_all(&self, refs: &[VersionRef]) -> Result<Vec<ResolvedVersion>> {
        self.read(|conn| {
            let located = locate_all(conn, refs)?;
            let keys: Vec<(i64, u32)> = located.iter().map(|(row, version)| (row.id, *version)).collect();
            let mut tables = catalog::tables_of(conn, &keys)?;
            refs.iter()
                .zip(located)
                .map(|(r, (row, version))| {
                    let found = tables.remove(&(row.id, version)).unwrap_or_default();
                    resolved(r, row, version, found)
                })
                .collect()
        })
    }

    /// Resolves every reference in `refs` whose dataset exists, skipping words that name no
    /// dataset (used to find the datasets an SQL text mentions). A reference to a dataset that
    /// exists but cannot be read as asked (`trial@9`) is an error.
    pub fn resolve_existing(&self, refs: &[VersionRef]) -> Result<Vec<(VersionRef, ResolvedVersion)>> {
        self.read(|conn| {
            let names: HashSet<String> = catalog::dataset_names(conn)?.into_iter().collect();
            refs.iter()
                .filter(|r| names.contains(r.dataset.as_str()))
                .map(|r| resolve_in(conn, r).map(|v| (r.clone(), v)))
                .collect()
        })
    }

    /// Every version of a dataset, newest first.
    pub fn versions(&self, dataset: &DatasetName) -> Result<Vec<VersionInfo>> {
        self.read(|conn| {
            let row = find_or_suggest(conn, dataset.as_str())?;
            catalog::versions(conn, row.id)
        })
    }

    /// Everything about a dataset, showing the version `r` names.
    pub fn detail(&self, r: &VersionRef) -> Result<DatasetDetail> {
        self.read(|conn| {
            let shown = resolve_in(conn, r)?;
            Ok(DatasetDetail {
                summary: catalog::dataset_summary(conn, shown.dataset_id)?,
                versions: catalog::versions(conn, shown.dataset_id)?,
                shown,
            })
        })
    }

    /// What users decided about `dataset`'s relationships (`cohort relate`), oldest first.
    pub fn relationship_decisions(&self, dataset: &DatasetName) -> Result<Vec<RelationshipDecision>> {
        self.read(|conn| {
            let row = find_or_suggest(conn, dataset.as_str())?;
            catalog::relationship_decisions(conn, row.id)
        })
    }

    /// Records a decision about one of `dataset`'s relationships, replacing an earlier one about
    /// the same columns. Data and versions do not change.
    pub fn decide_relationship(&self, dataset: &DatasetName, decision: &RelationshipDecision) -> Result<()> {
        self.write(|conn| {
            let row = find_or_suggest(conn, dataset.as_str())?;
            catalog::record_relationship_decision(conn, row.id, decision)
        })
    }

    /// The registry profile kept for `dataset`, if any (the last one set).
    pub fn registry_profile(&self, dataset: &DatasetName) -> Result<Option<KeptProfile>> {
        self.read(|conn| {
            let row = find_or_suggest(conn, dataset.as_str())?;
            catalog::registry_profile(conn, row.id)
        })
    }

    /// Keeps `profile` as `dataset`'s registry profile. Data and versions do not change.
    pub fn keep_registry_profile(&self, dataset: &DatasetName, profile: &KeptProfile) -> Result<()> {
        self.write(|conn| {
            let row = find_or_suggest(conn, dataset.as_str())?;
            catalog::keep_registry_profile(conn, row.id, profile)
        })
    }

    /// The cohorts saved of `dataset`, by name.
    pub fn saved_cohorts(&self, dataset: &DatasetName) -> Result<Vec<SavedCohort>> {
        self.read(|conn| {
            let row = find_or_suggest(conn, dataset.as_str())?;
            catalog::saved_cohorts(conn, row.id)
        })
    }

    /// Saves `cohort` of `dataset`, replacing one of the same name.
    pub fn save_cohort(&self, dataset: &DatasetName, cohort: &SavedCohort) -> Result<()> {
        self.write(|conn| {
            let row = find_or_suggest(conn, dataset.as_str())?;
            catalog::save_cohort(conn, row.id, &cohort.name, Some(cohort))
        })
    }

    /// Removes the cohort `name` of `dataset`; whether there was one.
    pub fn remove_cohort(&self, dataset: &DatasetName, name: &str) -> Result<bool> {
        self.write(|conn| {
            let row = find_or_suggest(conn, dataset.as_str())?;
            let existed = catalog::saved_cohorts(conn, row.id)?.iter().any(|c| c.name == name);
            catalog::save_cohort(conn, row.id, name, None)?;
            Ok(existed)
        })
    }

    /// Makes version `to` of `dataset` current again. Only the pointer moves; no file changes.
    /// Returns the version that was current before.
    pub fn rollback(&self, dataset: &DatasetName, to: u32) -> Result<Option<u32>> {
        self.write(|conn| {
            let row = find_or_suggest(conn, dataset.as_str())?;
            check_readable(conn, &row, to)?;
            catalog::transaction(conn, |c| {
                catalog::set_current(c, row.id, Some(to), Timestamp::now())?;
                catalog::mark_views_stale(c, &[row.name.as_str()])
            })?;
            Ok(row.current_version)
        })
        .inspect(|_| self.after_change())
    }

    /// Brings `datasets.duckdb`, the views that stock DuckDB clients open, up to date with the
    /// catalog for the datasets changed since it last was (see [`crate::views`]): in place when it
    /// can, rebuilt whole when it cannot. One process at a time does it; another waits its turn
    /// and then finds less or nothing to do. Returns how many datasets it updated.
    pub fn sync_views(&self) -> Result<usize> {
        self.update_views(self.settings.lock_timeout, false)
    }

    /// Rewrites `datasets.duckdb` whole from the catalog (a new store, `doctor --repair`).
    pub(crate) fn rebuild_views(&self) -> Result<()> {
        self.update_views(self.settings.lock_timeout, true).map(|_| ())
    }

    /// Brings `datasets.duckdb` up to date under the views lock: for the datasets marked since it
    /// last was, in place, or (`whole`, or when it cannot be updated in place) rewritten from every
    /// dataset. Then clears exactly the marks it read. Returns how many datasets were marked.
    fn update_views(&self, wait: std::time::Duration, whole: bool) -> Result<usize> {
        let _turn = CatalogLock::acquire(&self.layout.views_lock(), LockMode::Exclusive, wait)?;
        let started = std::time::Instant::now();
        let (pending, rows) = self.read(|conn| {
            let pending = catalog::views_pending(conn)?;
            let rows = match &pending {
                Some((_, names)) if !whole => {
                    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                    Some(catalog::views_rows(conn, Some(&refs))?)
                }
                _ => None,
            };
            Ok((pending, rows))
        })?;
        if pending.is_none() && !whole {
            return Ok(0);
        }
        let names: Vec<&str> = pending.iter().flat_map(|(_, names)| names.iter().map(String::as_str)).collect();
        let in_place = match &rows {
            Some(rows) => views::update_views_db(self, rows, &names).unwrap_or_else(|e| {
                tracing::warn!("could not update `{}` in place ({e}); rewriting it", self.layout.views_db().display());
                false
            }),
            None => false,
        };
        if !in_place {
            let all = self.read(|conn| catalog::views_rows(conn, None))?;
            views::write_views_db(self, &all)?;
        }
        if let Some((upto, _)) = &pending {
            self.write(|conn| catalog::clear_views_pending(conn, *upto))?;
        }
        tracing::debug!(
            seconds = started.elapsed().as_secs_f64(),
            datasets = names.len(),
            in_place,
            "updated datasets.duckdb"
        );
        Ok(names.len())
    }

    /// After a change to the catalog: unless a background task keeps `datasets.duckdb`
    /// ([`Settings::views_in_background`]), it is brought up to date now. A failure does not undo
    /// the change (the datasets stay marked, and the next sync or `cohort doctor --repair` catches
    /// up), so it is logged rather than returned.
    pub(crate) fn after_change(&self) {
        if self.settings.views_in_background {
            return;
        }
        // Another process's update can take long (a migration of thousands of datasets catches
        // up at its end); a command that has committed does not hang on it: its change stays
        // marked, and the next command brings the file up to date.
        match self.update_views(self.settings.lock_timeout.min(AFTER_CHANGE_WAIT), false) {
            Ok(_) => {}
            Err(StoreError::Busy { .. }) => tracing::warn!(
                "`{}` is being updated by another process; the next cohort command brings it up to date with this \
                 change",
                self.layout.views_db().display()
            ),
            Err(e) => tracing::warn!("could not bring `{}` up to date: {e}", self.layout.views_db().display()),
        }
    }
}

/// The catalog format that added `views_pending`.
const VIEWS_PENDING_SINCE: i64 = 4;

/// How long a command waits, after its commit, for another process's update of `datasets.duckdb`.
const AFTER_CHANGE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The lock file that marks the staging directory `dir` alive.
pub(crate) fn staging_lock_path(dir: &Path) -> PathBuf {
    let mut p = dir.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

pub(crate) fn remove_staging(dir: &Path) -> Result<()> {
    fsutil::remove_dir_all_if_exists(dir)?;
    match std::fs::remove_file(staging_lock_path(dir)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

pub(crate) fn find_or_suggest(conn: &Connection, name: &str) -> Result<catalog::DatasetRow> {
    match catalog::find_dataset(conn, name)? {
        Some(row) => Ok(row),
        None => {
            let names = catalog::dataset_names(conn)?;
            Err(StoreError::DatasetNotFound { name: name.to_string(), similar: similar_names(name, &names) })
        }
    }
}

fn check_readable(conn: &Connection, row: &catalog::DatasetRow, version: u32) -> Result<()> {
    readable(row, version, &catalog::version_statuses(conn, row.id)?)
}

/// Whether `version` of `row` can be read, given the dataset's `(version, status)` pairs.
fn readable(row: &catalog::DatasetRow, version: u32, statuses: &[(u32, VersionStatus)]) -> Result<()> {
    match statuses.iter().find(|(v, _)| *v == version) {
        None => Err(StoreError::VersionNotFound {
            dataset: row.name.clone(),
            version,
            available: {
                let mut active: Vec<u32> =
                    statuses.iter().filter(|(_, s)| *s == VersionStatus::Active).map(|(v, _)| *v).collect();
                active.sort();
                active
            },
        }),
        Some((_, status)) if *status != VersionStatus::Active => Err(StoreError::VersionUnavailable {
            dataset: row.name.clone(),
            version,
            status: status.as_str().to_string(),
        }),
        Some(_) => Ok(()),
    }
}

/// [`locate`] for many references in one catalog query (a reference to a dataset that does not
/// exist falls back to [`locate`], for its "did you mean").
fn locate_all(conn: &Connection, refs: &[VersionRef]) -> Result<Vec<(catalog::DatasetRow, u32)>> {
    let names: Vec<&str> = refs.iter().map(|r| r.dataset.as_str()).collect();
    let found = catalog::datasets_named(conn, &names)?;
    refs.iter()
        .map(|r| match found.get(r.dataset.as_str()) {
            None => locate(conn, r),
            Some(named) => {
                let row = &named.row;
                let version = match r.version {
                    Some(v) => {
                        readable(row, v, &named.statuses())?;
                        v
                    }
                    None => {
                        row.current_version.ok_or_else(|| StoreError::NoCurrentVersion { dataset: row.name.clone() })?
                    }
                };
                Ok((row.clone(), version))
            }
        })
        .collect()
}

pub(crate) fn resolve_in(conn: &Connection, r: &VersionRef) -> Result<ResolvedVersion> {
    let (row, version) = locate(conn, r)?;
    let tables = catalog::tables(conn, row.id, version)?;
    resolved(r, row, version, tables)
}

/// The dataset and version number `r` names, checked readable.
fn locate(conn: &Connection, r: &VersionRef) -> Result<(catalog::DatasetRow, u32)> {
    let row = find_or_suggest(conn, r.dataset.as_str())?;
    let version = match r.version {
        Some(v) => {
            check_readable(conn, &row, v)?;
            v
        }
        None => row.current_version.ok_or_else(|| StoreError::NoCurrentVersion { dataset: row.name.clone() })?,
    };
    Ok((row, version))
}

fn resolved(r: &VersionRef, row: catalog::DatasetRow, version: u32, tables: Vec<TableInfo>) -> Result<ResolvedVersion> {
    if tables.is_empty() {
        return Err(StoreError::Inconsistent(format!("version {version} of `{}` has no tables", row.name)));
    }
    Ok(ResolvedVersion {
        dataset: r.dataset.clone(),
        dataset_id: row.id,
        version,
        is_current: row.current_version == Some(version),
        tables,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::edit_distance;

    #[test]
    fn suggestions() {
        let names = vec!["trial".to_string(), "trials-2024".to_string(), "registry".to_string()];
        assert_eq!(similar_names("trail", &names), vec!["trial".to_string()]);
        assert!(similar_names("zzzzzz", &names).is_empty());
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
