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
    ColumnInfo, ColumnNotes, CommitOutcome, DatasetKind, FileInfo, ImportRecord, SourceFile, TableInfo,
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
    /// Commits several staged versions, each atomically, under one hold of the write lock, and
    /// updates `datasets.duckdb` once for all of them: many small versions commit in a fraction
    /// of the time one commit each takes. One item failing does not stop the others.
    ///
    /// The outer error means none was committed (the lock or the catalog was unavailable).
    pub fn commit_batch(&self, items: Vec<PendingCommit>) -> Result<Vec<Result<CommitOutcome>>> {
        // One engine for every item: opening one costs more than inspecting a small version.
        let engine = duck::Hosted::bare()?;
        let mut work: Vec<(PendingCommit, Option<Result<Prepared>>)> = items
            .into_iter()
            .map(|item| {
                let prepared = item.staging.prepare(&engine);
                (item, Some(prepared))
            })
            .collect();
        drop(engine);
        let outcomes = self.write(|conn| {
            let mut outcomes = Vec::with_capacity(work.len());
            for (item, prepared) in &mut work {
                let prepared = prepared.take().expect("prepared once");
                outcomes.push(
                    prepared
                        .and_then(|p| item.staging.record(conn, p, &item.meta, item.import.as_ref(), item.only_new)),
                );
            }
            Ok(outcomes)
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

    /// Appends entries to the import journal (for sources that made no version: failed, skipped).
    pub fn record_imports(&self, entries: &[ImportRecord]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.write(|conn| {
            catalog::transaction(conn, |c| {
                for e in entries {
                    catalog::insert_import(c, e)?;
                }
                Ok(())
            })
        })
    }

    /// The import journal, oldest entry first.
    pub fn import_journal(&self) -> Result<Vec<ImportRecord>> {
        self.read(catalog::imports)
    }
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
    pub fn commit(mut self, meta: VersionMeta) -> Result<CommitOutcome> {
        let prepared = self.prepare(&*duck::Hosted::bare()?)?;
        let store = self.store.clone();
        let outcome = store.write(|conn| {
            let started = std::time::Instant::now();
            let outcome = self.record(conn, prepared, &meta, None, false)?;
            tracing::debug!(seconds = started.elapsed().as_secs_f64(), "recorded the version in the catalog");
            Ok(outcome)
        })?;
        if matches!(outcome, CommitOutcome::Created { .. }) {
            let started = std::time::Instant::now();
            store.after_change();
            tracing::debug!(seconds = started.elapsed().as_secs_f64(), "brought datasets.duckdb up to date");
        }
        self.settle()?;
        Ok(outcome)
    }

    /// Everything a commit does before it needs the catalog lock: inspecting, fsyncing and
    /// hashing the staged files.
    fn prepare(&self, engine: &duckdb::Connection) -> Result<Prepared> {
        let started = std::time::Instant::now();
        let tables = self.inspect(engine)?;
        tracing::debug!(seconds = started.elapsed().as_secs_f64(), "inspected staged files");
        fsutil::sync_dir(&self.dir)?;
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

    /// Records the prepared version in the catalog `conn` (the caller holds the write lock), with
    /// `import` in the same transaction. `only_new` refuses a dataset that exists already.
    fn record(
        &mut self,
        conn: &duckdb::Connection,
        prepared: Prepared,
        meta: &VersionMeta,
        import: Option<&ImportRecord>,
        only_new: bool,
    ) -> Result<CommitOutcome> {
        let Prepared { mut tables, content_hash } = prepared;
        let rows: u64 = tables.iter().map(|t| t.rows).sum();
        let bytes: u64 = tables.iter().map(|t| t.bytes).sum();
        let layout = self.store.layout().clone();
        let existing = catalog::find_dataset(conn, self.dataset.as_str())?;
        if let Some(d) = &existing {
            if only_new {
                return Err(StoreError::DatasetExists { dataset: d.name.clone() });
            }
            if d.kind != meta.kind {
                return Err(StoreError::KindMismatch {
                    dataset: d.name.clone(),
                    existing: d.kind.to_string(),
                    requested: meta.kind.to_string(),
                });
            }
            if catalog::current_content_hash(conn, d.id)?.as_deref() == Some(content_hash.as_str()) {
                let version = d.current_version.unwrap_or(0);
                if let Some(import) = import {
                    let entry = ImportRecord {
                        dataset: Some(self.dataset.to_string()),
                        version: Some(version),
                        ..import.clone()
                    };
                    catalog::insert_import(conn, &entry)?;
                }
                return Ok(CommitOutcome::Unchanged { dataset: self.dataset.clone(), version, content_hash });
            }
        }
        let (dataset_id, new_dataset) = match &existing {
            Some(d) => (d.id, false),
            None => (catalog::next_dataset_id(conn)?, true),
        };
        let version = catalog::next_version(conn, dataset_id)?;
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
        fsutil::sync_dir(&layout.datasets())?;
        fs::rename(&self.dir, &target)?;
        self.finished = true;
        fsutil::sync_dir(&dataset_dir)?;
        failpoint::hit("commit.after_rename");

        let now = Timestamp::now();
        let recorded = catalog::transaction(conn, |c| {
            if new_dataset {
                catalog::insert_dataset(
                    c,
                    dataset_id,
                    self.dataset.as_str(),
                    meta.kind,
                    meta.description.as_deref(),
                    meta.tags.as_deref().unwrap_or(&[]),
                    now,
                )?;
            } else {
                catalog::update_dataset_info(c, dataset_id, meta.description.as_deref(), meta.tags.as_deref())?;
            }
            catalog::insert_version(
                c,
                &NewVersion {
                    dataset_id,
                    version,
                    created_by: &meta.created_by,
                    sources: &meta.sources,
                    content_hash: &content_hash,
                    provenance: &meta.provenance,
                    rows,
                    bytes,
                    path: &rel_str,
                    tables: &tables,
                },
                now,
            )?;
            catalog::set_current(c, dataset_id, Some(version), now)?;
            catalog::mark_views_stale(c, &[self.dataset.as_str()])?;
            if let Some(import) = import {
                let entry =
                    ImportRecord { dataset: Some(self.dataset.to_string()), version: Some(version), ..import.clone() };
                catalog::insert_import(c, &entry)?;
            }
            Ok(())
        });
        if let Err(e) = recorded {
            // The catalog never saw this version: take its files away again.
            let _ = fsutil::remove_dir_all_if_exists(&target);
            return Err(e);
        }
        failpoint::hit("commit.after_catalog");
        Ok(CommitOutcome::Created { dataset: self.dataset.clone(), version, new_dataset, rows, bytes, content_hash })
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
    fn inspect(&self, engine: &duckdb::Connection) -> Result<Vec<TableInfo>> {
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
                fsutil::sync_file(part)?;
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
            fsutil::sync_dir(&dir)?;
            let schema = footers[0].schema.clone();
            let stats = column_stats(&footers);
            let sql_types = describe(engine, &parts)?;
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
