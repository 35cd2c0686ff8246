//! Staging a new version and committing it atomically.
//!
//! A producer (ingest, a simulation, a migration) asks the store for a [`Staging`] area, writes
//! each table's Parquet parts into [`Staging::table_dir`], and calls [`Staging::commit`]. The
//! commit inspects and fsyncs every file *before* taking the catalog lock; under the lock it only
//! renames the staging directory into place and records the version in one catalog transaction.
//! A crash at any point leaves either the old state or the new one: a renamed directory the
//! catalog does not know is removed by the next [`crate::Store::recover`].

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use fs_err as fs;
use jiff::Timestamp;

use crate::catalog::{self, NewVersion};
use crate::duck;
use crate::error::{Result, StoreError};
use crate::failpoint;
use crate::fsutil;
use crate::hash::{sha256_file, sha256_parts};
use crate::inspect::{column_stats, read_footer, schema_json};
use crate::layout::Layout;
use crate::lock::LivenessLock;
use crate::model::{
    ColumnInfo, ColumnNotes, CommitOutcome, DatasetKind, FileInfo, ImportRecord, SourceFile, TableInfo, VersionStatus,
};
use crate::name::{DatasetName, TableName, quote_literal};
use crate::roles::infer_role;
use crate::store::{Store, remove_staging, staging_lock_path};

/// Metadata of a new version.
#[derive(Debug, Clone)]
pub struct VersionMeta {
    /// What produced the dataset; must match an existing dataset's kind.
    pub kind: DatasetKind,
    /// New description for the dataset (`None` keeps the existing one).
    pub description: Option<String>,
    /// New tags for the dataset (`None` keeps the existing ones).
    pub tags: Option<Vec<String>>,
    /// Who or what made the version (`user@host via cohort ingest`).
    pub created_by: String,
    /// The files it was made from.
    pub sources: Vec<SourceFile>,
    /// Producer-specific detail: options, tool version, run parameters.
    pub provenance: serde_json::Value,
}

/// A version being written, private to this process until [`Staging::commit`].
///
/// Dropping it without committing removes everything written into it.
#[derive(Debug)]
pub struct Staging {
    store: Store,
    dataset: DatasetName,
    dir: PathBuf,
    tables: Vec<TableName>,
    /// Column notes by (table, column), applied at commit.
    notes: std::collections::BTreeMap<(String, String), ColumnNotes>,
    /// Attached documents: (name, SHA-256).
    attachments: Vec<(String, String)>,
    finished: bool,
    /// A resumable area outlives its process unless committed or discarded.
    resumable: bool,
    _alive: LivenessLock,
}

/// A staged version inspected and hashed, ready for the catalog.
struct Prepared {
    tables: Vec<TableInfo>,
    content_hash: String,
}

/// One version of a batch committed by [`Store::commit_batch`].
#[derive(Debug)]
pub struct PendingCommit {
    /// The staged tables.
    pub staging: Staging,
    /// The version's metadata.
    pub meta: VersionMeta,
    /// A journal entry recorded in the same catalog transaction as the version (its dataset and
    /// version are filled in), or beside it when the content is unchanged.
    pub import: Option<ImportRecord>,
    /// Refuse to add a version to a dataset that exists already ([`StoreError::DatasetExists`]).
    pub only_new: bool,
}

impl Store {
    /// Commits several staged versions under one hold of the write lock, in one catalog
    /// transaction, and updates `datasets.duckdb` once for all of them: many small versions commit
    /// in a fraction of the time one commit each takes. An item that cannot be committed (its
    /// files are bad, its dataset exists with `only_new` or is of another kind) does not stop the
    /// others; a failure of the catalog transaction itself fails every item that made a version,
    /// and their files are taken away again.
    ///
    /// The outer error means none was committed (the lock or the catalog was unavailable).
    pub fn commit_batch(&self, items: Vec<PendingCommit>) -> Result<Vec<Result<CommitOutcome>>> {
        let mut work = self.prepare_all(items)?;
        let outcomes = self.write(|conn| {
            let started = std::time::Instant::now();
            let outcomes = record_batch(self, conn, &mut work);
            tracing::debug!(
                seconds = started.elapsed().as_secs_f64(),
                versions = work.len(),
                "recorded in the catalog"
            );
            outcomes
        })?;
        if outcomes.iter().any(|o| matches!(o, Ok(CommitOutcome::Created { .. }))) {
            self.after_change();
        }
        Ok(work
            .into_iter()
            .zip(outcomes)
            .map(|((mut item, _), outcome)| outcome.and_then(|o| item.staging.settle().map(|_| o)))
            .collect())
    }

    /// Inspects and hashes every item (before the lock), on as many threads as the settings allow
    /// when there are several, each with a DuckDB instance of its own. Many versions' files are
    /// made durable by one sync of the file system, not an fsync each (a migration's batch of
    /// 1,000 holds 3,000 files and as many folders).
    fn prepare_all(&self, items: Vec<PendingCommit>) -> Result<Vec<(PendingCommit, Option<Result<Prepared>>)>> {
        let sync_each = items.len() < 2 || !fsutil::CAN_SYNC_FILESYSTEM;
        let prepared = crate::parallel::map_in_order(
            self.settings().worker_threads() as usize,
            items,
            duck::Hosted::bare,
            |engine, item| {
                let prepared = item.staging.prepare(engine, sync_each);
                (item, Some(prepared))
            },
        )?;
        if !sync_each {
            fsutil::sync_filesystem(&self.layout().staging())?;
        }
        Ok(prepared)
    }

    /// Appends entries to the import journal (for sources that made no version: failed, skipped).
    pub fn record_imports(&self, entries: &[ImportRecord]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.write(|conn| catalog::transaction(conn, |c| catalog::append_imports(c, entries)))
    }

    /// The import journal, oldest entry first.
    pub fn import_journal(&self) -> Result<Vec<ImportRecord>> {
        self.read(catalog::imports)
    }
}

/// What a batch knows of a dataset it commits to: from the catalog, then as its earlier items
/// left it.
struct KnownDataset {
    id: i64,
    kind: DatasetKind,
    current_version: Option<u32>,
    /// The current version's content hash, when that version is active.
    current_hash: Option<String>,
    /// The highest version number it ever had (numbers are never reused).
    last_version: u32,
}

impl From<catalog::NamedDataset> for KnownDataset {
    fn from(d: catalog::NamedDataset) -> Self {
        let current = d.row.current_version;
        KnownDataset {
            id: d.row.id,
            kind: d.kind,
            current_version: current,
            current_hash: d
                .versions
                .iter()
                .find(|(v, status, _)| Some(*v) == current && *status == VersionStatus::Active)
                .map(|(_, _, hash)| hash.clone()),
            last_version: d.versions.iter().map(|(v, ..)| *v).max().unwrap_or(0),
        }
    }
}

/// What a batch decided for one of its items.
enum Decision {
    /// Not committed.
    Refused(StoreError),
    /// The content is the current version's already.
    Unchanged { version: u32, content_hash: String },
    /// A new version, its files moved into place.
    Created {
        dataset_id: i64,
        version: u32,
        new_dataset: bool,
        /// Its folder, relative to the store and absolute.
        path: String,
        target: PathBuf,
        tables: Vec<TableInfo>,
        content_hash: String,
    },
}

/// Records the prepared items of a batch in the catalog `conn` (the caller holds the write lock):
/// decides each in order (a later item sees what earlier ones made), moves the new versions'
/// files into place, and writes the catalog in one transaction (see [`catalog::record_commits`]).
fn record_batch(
    store: &Store,
    conn: &duckdb::Connection,
    work: &mut [(PendingCommit, Option<Result<Prepared>>)],
) -> Result<Vec<Result<CommitOutcome>>> {
    let layout = store.layout();
    let names: Vec<&str> = work.iter().map(|(item, _)| item.staging.dataset.as_str()).collect();
    let mut known: std::collections::HashMap<String, KnownDataset> =
        catalog::datasets_named(conn, &names)?.into_iter().map(|(name, d)| (name, d.into())).collect();
    let mut next_id = catalog::next_dataset_id(conn)?;
    let mut created_here: std::collections::HashSet<i64> = Default::default();
    let mut decisions = Vec::with_capacity(work.len());
    for (item, prepared) in work.iter_mut() {
        let PendingCommit { staging, meta, only_new, .. } = item;
        let decision = match prepared.take().expect("prepared once") {
            Err(e) => Decision::Refused(e),
            Ok(Prepared { tables, content_hash }) => match known.get(staging.dataset.as_str()) {
                Some(_) if *only_new => {
                    Decision::Refused(StoreError::DatasetExists { dataset: staging.dataset.to_string() })
                }
                Some(d) if d.kind != meta.kind => Decision::Refused(StoreError::KindMismatch {
                    dataset: staging.dataset.to_string(),
                    existing: d.kind.to_string(),
                    requested: meta.kind.to_string(),
                }),
                Some(d) if d.current_hash.as_deref() == Some(content_hash.as_str()) => {
                    Decision::Unchanged { version: d.current_version.unwrap_or(0), content_hash }
                }
                found => {
                    let (dataset_id, version) = match found {
                        Some(d) => (d.id, d.last_version + 1),
                        None => (next_id, 1),
                    };
                    match staging.move_into_place(layout, dataset_id, version, tables) {
                        Err(e) => Decision::Refused(e),
                        Ok((path, target, tables)) => {
                            let new_dataset = found.is_none();
                            if new_dataset {
                                next_id += 1;
                                created_here.insert(dataset_id);
                            }
                            known.insert(
                                staging.dataset.to_string(),
                                KnownDataset {
                                    id: dataset_id,
                                    kind: meta.kind,
                                    current_version: Some(version),
                                    current_hash: Some(content_hash.clone()),
                                    last_version: version,
                                },
                            );
                            Decision::Created { dataset_id, version, new_dataset, path, target, tables, content_hash }
                        }
                    }
                }
            },
        };
        decisions.push(decision);
    }

    let now = Timestamp::now();
    let mut records = catalog::CommitRecords::default();
    for ((item, _), decision) in work.iter().zip(&decisions) {
        let name = item.staging.dataset.as_str();
        let meta = &item.meta;
        match decision {
            Decision::Refused(_) => {}
            Decision::Unchanged { version, .. } => {
                if let Some(import) = &item.import {
                    records.imports.push(ImportRecord {
                        dataset: Some(name.to_string()),
                        version: Some(*version),
                        ..import.clone()
                    });
                }
            }
            Decision::Created { dataset_id, version, path, tables, content_hash, .. } => {
                // A dataset's row says where the batch leaves it: a later item of the same dataset
                // moves its current version on and may bring a new description or tags.
                if created_here.contains(dataset_id) {
                    match records.datasets.iter_mut().find(|d| d.id == *dataset_id) {
                        Some(d) => {
                            d.current_version = *version;
                            d.description = meta.description.as_deref().or(d.description);
                            d.tags = meta.tags.as_deref().unwrap_or(d.tags);
                        }
                        None => records.datasets.push(catalog::NewDataset {
                            id: *dataset_id,
                            name,
                            kind: meta.kind,
                            description: meta.description.as_deref(),
                            tags: meta.tags.as_deref().unwrap_or(&[]),
                            current_version: *version,
                        }),
                    }
                } else {
                    records.changes.push(catalog::DatasetChange {
                        id: *dataset_id,
                        description: meta.description.as_deref(),
                        tags: meta.tags.as_deref(),
                        current_version: *version,
                    });
                }
                records.versions.push(NewVersion {
                    dataset_id: *dataset_id,
                    version: *version,
                    created_by: &meta.created_by,
                    sources: &meta.sources,
                    content_hash,
                    provenance: &meta.provenance,
                    rows: tables.iter().map(|t| t.rows).sum(),
                    bytes: tables.iter().map(|t| t.bytes).sum(),
                    path,
                    tables,
                });
                if let Some(import) = &item.import {
                    records.imports.push(ImportRecord {
                        dataset: Some(name.to_string()),
                        version: Some(*version),
                        ..import.clone()
                    });
                }
                records.touched.push(name);
            }
        }
    }
    records.touched.sort_unstable();
    records.touched.dedup();
    // The new datasets' folders are entries of `datasets/`, made durable before the catalog
    // points at them.
    let recorded = fsutil::sync_dir(&layout.datasets())
        .map_err(StoreError::from)
        .and_then(|_| catalog::record_commits(conn, &records, now));
    drop(records);
    if let Err(e) = &recorded {
        // The catalog never saw these versions: take their files away again.
        for decision in &decisions {
            if let Decision::Created { target, .. } = decision {
                let _ = fsutil::remove_dir_all_if_exists(target);
            }
        }
        tracing::warn!("a batch of {} commits failed: {e}", decisions.len());
    }
    failpoint::hit("commit.after_catalog");
    Ok(work
        .iter()
        .zip(decisions)
        .map(|((item, _), decision)| {
            let dataset = item.staging.dataset.clone();
            match (decision, &recorded) {
                (Decision::Refused(e), _) => Err(e),
                (Decision::Created { .. }, Err(e)) => {
                    Err(StoreError::DuckDb { context: "recording the new version".into(), message: e.to_string() })
                }
                (Decision::Unchanged { version, content_hash }, _) => {
                    Ok(CommitOutcome::Unchanged { dataset, version, content_hash })
                }
                (Decision::Created { version, new_dataset, tables, content_hash, .. }, Ok(())) => {
                    Ok(CommitOutcome::Created {
                        dataset,
                        version,
                        new_dataset,
                        rows: tables.iter().map(|t| t.rows).sum(),
                        bytes: tables.iter().map(|t| t.bytes).sum(),
                        content_hash,
                    })
                }
            }
        })
        .collect())
}

/// The name prefix of resumable staging areas, which recovery and gc leave alone.
pub(crate) const RESUMABLE_PREFIX: &str = "resumable-";

/// `resumable-<dataset>@<slot>`: `@` cannot appear in a dataset name, so the parts stay apart.
fn resumable_dir_name(dataset: &DatasetName, slot: &str) -> String {
    format!("{RESUMABLE_PREFIX}{dataset}@{slot}")
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The folder of a version that holds its attached documents. Its name cannot be a table's.
pub const ATTACHMENTS_DIR: &str = "_attachments";

impl Staging {
    pub(crate) fn new(store: Store, dataset: DatasetName) -> Result<Self> {
        let root = store.layout().staging();
        fs::create_dir_all(&root)?;
        let token = format!(
            "{}-{}-{}",
            std::process::id(),
            Timestamp::now().as_nanosecond(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let dir = root.join(token);
        let alive = LivenessLock::hold(&staging_lock_path(&dir))?;
        fs::create_dir(&dir)?;
        Ok(Staging {
            store,
            dataset,
            dir,
            tables: Vec::new(),
            notes: Default::default(),
            attachments: Vec::new(),
            finished: false,
            resumable: false,
            _alive: alive,
        })
    }

    /// The resumable staging area `slot` of `dataset`: created if absent, reopened (with what it
    /// holds) if a previous process left it. It survives errors and crashes; only
    /// [`Staging::commit`] or [`Staging::discard`] removes it.
    pub(crate) fn resumable(store: Store, dataset: DatasetName, slot: &str) -> Result<Self> {
        let root = store.layout().staging();
        fs::create_dir_all(&root)?;
        let dir = root.join(resumable_dir_name(&dataset, slot));
        let lock = staging_lock_path(&dir);
        if LivenessLock::is_held(&lock) {
            return Err(StoreError::BadStaging {
                dataset: dataset.to_string(),
                detail: "another process is writing this dataset's resumable run right now".into(),
            });
        }
        let alive = LivenessLock::hold(&lock)?;
        fs::create_dir_all(&dir)?;
        let mut tables = Vec::new();
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir()
                && let Ok(t) = TableName::new(&entry.file_name().to_string_lossy())
            {
                tables.push(t);
            }
        }
        tables.sort();
        Ok(Staging {
            store,
            dataset,
            dir,
            tables,
            notes: Default::default(),
            attachments: Vec::new(),
            finished: false,
            resumable: true,
            _alive: alive,
        })
    }

    /// Removes the area and everything in it (for a resumable area, gives the run up).
    pub fn discard(mut self) -> Result<()> {
        self.finished = true;
        remove_staging(&self.dir)
    }

    /// The dataset this version belongs to.
    pub fn dataset(&self) -> &DatasetName {
        &self.dataset
    }

    /// The staging directory (private to this process).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates the directory for `table` and returns it. Write one or more `*.parquet` files into
    /// it; they are renamed `part-00000.parquet`, ... in natural order at commit.
    pub fn table_dir(&mut self, table: &TableName) -> Result<PathBuf> {
        let dir = self.dir.join(table.as_str());
        if self.resumable && self.tables.contains(table) {
            return Ok(dir);
        }
        if self.tables.contains(table) {
            return Err(StoreError::BadStaging {
                dataset: self.dataset.to_string(),
                detail: format!("two sources would both become table `{table}`; give them different file names"),
            });
        }
        fs::create_dir(&dir)?;
        self.tables.push(table.clone());
        Ok(dir)
    }

    /// Records what is known about `column` of `table` beyond its values (label, role, code list,
    /// missing codes). Notes are part of the version's content: the same data with other notes is
    /// a new version.
    pub fn annotate(&mut self, table: &TableName, column: &str, notes: ColumnNotes) {
        if notes.is_empty() {
            self.notes.remove(&(table.to_string(), column.to_string()));
        } else {
            self.notes.insert((table.to_string(), column.to_string()), notes);
        }
    }

    /// The notes recorded so far for `column` of `table`.
    pub fn notes(&self, table: &TableName, column: &str) -> Option<&ColumnNotes> {
        self.notes.get(&(table.to_string(), column.to_string()))
    }

    /// Copies the document `source` (a PDF or text data dictionary) into the version as
    /// [`ATTACHMENTS_DIR`]`/<name>`; returns its SHA-256 and size. Attachments are part of the
    /// version's content.
    pub fn attach(&mut self, name: &str, source: &Path) -> Result<(String, u64)> {
        let file_name = Path::new(name).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if file_name.is_empty() || file_name.starts_with('.') || self.attachments.iter().any(|(n, _)| n == &file_name) {
            return Err(StoreError::BadStaging {
                dataset: self.dataset.to_string(),
                detail: format!("attachment name `{name}` is empty, hidden or given twice"),
            });
        }
        let dir = self.dir.join(ATTACHMENTS_DIR);
        fs::create_dir_all(&dir)?;
        let target = dir.join(&file_name);
        fs::copy(source, &target)?;
        fsutil::sync_file(&target)?;
        let (sha256, bytes) = sha256_file(&target, |_| {})?;
        self.attachments.push((file_name, sha256.clone()));
        Ok((sha256, bytes))
    }

    /// Makes the staged tables the dataset's new current version, or reports that the current
    /// version already holds identical content (then nothing changes).
    pub fn commit(self, meta: VersionMeta) -> Result<CommitOutcome> {
        let store = self.store.clone();
        let item = PendingCommit { staging: self, meta, import: None, only_new: false };
        store.commit_batch(vec![item])?.pop().expect("one outcome for one commit")
    }

    /// Everything a commit does before it needs the catalog lock: inspecting, fsyncing (unless
    /// the caller syncs the whole file system for many versions at once: `sync_each` false) and
    /// hashing the staged files.
    fn prepare(&self, engine: &duckdb::Connection, sync_each: bool) -> Result<Prepared> {
        let started = std::time::Instant::now();
        let tables = self.inspect(engine, sync_each)?;
        tracing::debug!(seconds = started.elapsed().as_secs_f64(), "inspected staged files");
        if sync_each {
            fsutil::sync_dir(&self.dir)?;
        }
        // Notes enter the hash only when there are any, so versions without notes keep the hash
        // they always had.
        let notes: Vec<String> = self
            .notes
            .iter()
            .map(|((t, c), n)| format!("{t}\u{0}{c}\u{0}{}", serde_json::to_string(n).expect("notes serialise")))
            .collect();
        let content_hash = sha256_parts(
            tables
                .iter()
                .flat_map(|t| ["table", t.name.as_str(), t.sha256.as_str()])
                .chain(notes.iter().flat_map(|n| ["notes", n.as_str()]))
                .chain(self.attachments.iter().flat_map(|(n, sha)| ["attachment", n.as_str(), sha.as_str()])),
        );
        failpoint::hit("commit.before_lock");
        Ok(Prepared { tables, content_hash })
    }

    /// Moves the staged directory to where version `version` of dataset `dataset_id` lives (the
    /// caller holds the write lock), and returns that place (relative to the store, and absolute)
    /// with `tables` pointing into it.
    fn move_into_place(
        &mut self,
        layout: &Layout,
        dataset_id: i64,
        version: u32,
        mut tables: Vec<TableInfo>,
    ) -> Result<(String, PathBuf, Vec<TableInfo>)> {
        let rel = Layout::version_rel(dataset_id, version);
        let rel_str = rel.to_string_lossy().into_owned();
        for t in &mut tables {
            t.path = format!("{rel_str}/{}", t.path);
            for f in &mut t.files {
                f.path = format!("{rel_str}/{}", f.path);
            }
        }
        let target = layout.root().join(&rel);
        let dataset_dir = layout.dataset_dir(dataset_id);
        // A directory here is unknown to the catalog (it holds no version yet): a crashed commit.
        fsutil::remove_dir_all_if_exists(&target)?;
        fs::create_dir_all(&dataset_dir)?;
        fs::rename(&self.dir, &target)?;
        self.finished = true;
        fsutil::sync_dir(&dataset_dir)?;
        failpoint::hit("commit.after_rename");
        Ok((rel_str, target, tables))
    }

    /// After a commit: an unchanged resumable area has nothing left to resume.
    fn settle(&mut self) -> Result<()> {
        if self.resumable && !self.finished {
            self.finished = true;
            remove_staging(&self.dir)?;
        }
        Ok(())
    }

    /// Names, fsyncs, hashes and reads the footer of every staged file.
    fn inspect(&self, engine: &duckdb::Connection, sync_each: bool) -> Result<Vec<TableInfo>> {
        let bad = |detail: String| StoreError::BadStaging { dataset: self.dataset.to_string(), detail };
        if self.tables.is_empty() {
            return Err(bad("there are no tables to commit".into()));
        }
        let mut out = Vec::new();
        for table in &self.tables {
            let dir = self.dir.join(table.as_str());
            let parts = normalise_parts(&dir)?;
            if parts.is_empty() {
                return Err(bad(format!("table `{table}` has no Parquet files")));
            }
            let mut files = Vec::new();
            let mut footers = Vec::new();
            for (i, part) in parts.iter().enumerate() {
                if sync_each {
                    fsutil::sync_file(part)?;
                }
                let (sha256, bytes) = sha256_file(part, |_| {})?;
                let footer = read_footer(part)?;
                if let Some(first) = footers.first().map(|f: &crate::inspect::Footer| f.schema.clone())
                    && first.fields() != footer.schema.fields()
                {
                    return Err(bad(format!("the parts of table `{table}` have different schemas")));
                }
                files.push(FileInfo {
                    path: format!("{table}/{}", Layout::part_file_name(i)),
                    sha256,
                    rows: footer.rows,
                    bytes,
                });
                footers.push(footer);
            }
            if sync_each {
                fsutil::sync_dir(&dir)?;
            }
            let schema = footers[0].schema.clone();
            let stats = column_stats(&footers);
            // DuckDB is asked only for types the footer does not name plainly (the common ones
            // it does: a DESCRIBE for each table was a third of a small commit's time).
            let sql_types = match footers[0].duckdb_types(duck_keywords(engine)?) {
                Some(types) => types,
                None => describe(engine, &parts)?,
            };
            let columns = schema
                .fields()
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let notes = self.notes.get(&(table.to_string(), f.name().clone())).cloned().unwrap_or_default();
                    ColumnInfo {
                        ordinal: i as u32,
                        name: f.name().clone(),
                        sql_type: sql_types.get(i).cloned().unwrap_or_default(),
                        arrow_type: f.data_type().to_string(),
                        nullable: f.is_nullable(),
                        role: notes.role.or_else(|| Some(infer_role(f.name(), f.data_type()).to_string())),
                        label: notes.label,
                        null_count: stats.get(i).and_then(|s| s.null_count),
                        min: stats.get(i).and_then(|s| s.min.clone()),
                        max: stats.get(i).and_then(|s| s.max.clone()),
                        value_labels: notes.value_labels,
                        missing: notes.missing,
                    }
                })
                .collect();
            out.push(TableInfo {
                name: table.to_string(),
                rows: files.iter().map(|f| f.rows).sum(),
                bytes: files.iter().map(|f| f.bytes).sum(),
                sha256: sha256_parts(files.iter().map(|f| f.sha256.as_str())),
                path: table.to_string(),
                arrow_schema: schema_json(&schema),
                files,
                columns,
            });
        }
        Ok(out)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.resumable && !self.finished {
            // Kept for `--resume`; the kernel releases the liveness lock with the file.
            return;
        }
        let cleanup = if self.finished {
            // The directory now belongs to a version (or was removed with it); only the marker is ours.
            fs::remove_file(staging_lock_path(&self.dir)).map_err(StoreError::from)
        } else {
            remove_staging(&self.dir)
        };
        if let Err(e) = cleanup {
            tracing::warn!("could not clean up staging `{}`: {e}", self.dir.display());
        }
    }
}

/// DuckDB's keywords, lower case, read once per process.
fn duck_keywords(engine: &duckdb::Connection) -> Result<&'static std::collections::HashSet<String>> {
    static KEYWORDS: std::sync::OnceLock<std::collections::HashSet<String>> = std::sync::OnceLock::new();
    if let Some(k) = KEYWORDS.get() {
        return Ok(k);
    }
    let read = || -> duckdb::Result<std::collections::HashSet<String>> {
        let mut stmt = engine.prepare("SELECT lower(keyword_name) FROM duckdb_keywords()")?;
        stmt.query_map([], |r| r.get::<_, String>(0))?.collect()
    };
    let keywords = read().map_err(|e| StoreError::duckdb("reading DuckDB's keywords", e))?;
    Ok(KEYWORDS.get_or_init(|| keywords))
}

/// The DuckDB SQL type of each column of a table made of `parts`.
fn describe(engine: &duckdb::Connection, parts: &[PathBuf]) -> Result<Vec<String>> {
    let list = parts.iter().map(|p| quote_literal(&p.to_string_lossy())).collect::<Vec<_>>().join(", ");
    let sql = format!("DESCRIBE SELECT * FROM read_parquet([{list}])");
    let mut stmt = engine.prepare(&sql).map_err(|e| StoreError::duckdb("describing a staged table", e))?;
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(1))
        .map_err(|e| StoreError::duckdb("describing a staged table", e))?;
    rows.collect::<duckdb::Result<Vec<_>>>().map_err(|e| StoreError::duckdb("describing a staged table", e))
}

/// Renames the `*.parquet` files in `dir` to `part-00000.parquet`, ... in natural order (so that
/// `x_2` sorts before `x_10`) and returns them.
fn normalise_parts(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort_by_key(|p| natural_key(&p.file_name().unwrap_or_default().to_string_lossy()));
    if files.iter().enumerate().all(|(i, p)| p.file_name().is_some_and(|n| *n == *Layout::part_file_name(i))) {
        return Ok(files);
    }
    // Two passes, so that a file already called part-00001 is never overwritten by another.
    let temp: Vec<PathBuf> = files
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let t = dir.join(format!(".renaming-{i}"));
            fs::rename(p, &t).map(|_| t)
        })
        .collect::<std::io::Result<_>>()?;
    temp.iter()
        .enumerate()
        .map(|(i, t)| {
            let p = dir.join(Layout::part_file_name(i));
            fs::rename(t, &p).map(|_| p).map_err(Into::into)
        })
        .collect()
}

fn natural_key(name: &str) -> Vec<(u64, String)> {
    let mut key = Vec::new();
    let mut digits = String::new();
    let mut text = String::new();
    for c in name.chars() {
        if c.is_ascii_digit() {
            if !text.is_empty() {
                key.push((0, std::mem::take(&mut text)));
            }
            digits.push(c);
        } else {
            if !digits.is_empty() {
                key.push((digits.parse().unwrap_or(u64::MAX), String::new()));
                digits.clear();
            }
            text.push(c);
        }
    }
    if !digits.is_empty() {
        key.push((digits.parse().unwrap_or(u64::MAX), String::new()));
    }
    if !text.is_empty() {
        key.push((0, text));
    }
    key
}

#[cfg(test)]
mod tests {
    use super::natural_key;

    #[test]
    fn natural_order() {
        let mut names = vec!["data_10.parquet", "data_2.parquet", "data_1.parquet"];
        names.sort_by_key(|n| natural_key(n));
        assert_eq!(names, vec!["data_1.parquet", "data_2.parquet", "data_10.parquet"]);
    }
}
