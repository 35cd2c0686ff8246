/*!
`cohort migrate`: legacy JSON into a cohort store, with nothing lost.

A migration runs in four steps:

1. **Plan.** Every source (a JSON file, or a folder that is one cohort) is read, hashed and
   recognised: spec v1.0, workspace v2.0, flat legacy, folder-per-cohort, simulation results or
   generic records. Its dataset name, entity counts and any name clash are worked out. A dry run
   stops here and writes nothing.
2. **Back up.** The originals are copied (never moved) into a timestamped folder with a manifest
   of SHA-256 checksums, and every copy is read back and checked before anything is imported.
3. **Import.** Each source becomes one dataset version. Versions are committed in batches; each is
   atomic, and its entry in the store's import journal is written in the same catalog
   transaction, so a crash leaves every source either imported and journaled or neither, and a
   re-run finishes the rest.
4. **Verify.** Each new version is written back to JSON from the store and compared with the
   source, and its entity counts with the source's; a folder's every file is written back and
   compared (JSON files as values, documents and attachments byte for byte).

Converting a source that was read cannot fail on valid JSON (see [`table`]), so the plan of a
dry run is what a run does.
*/
#![deny(missing_docs)]

pub mod backup;
pub mod entity;
pub mod error;
pub mod export;
pub mod legacy;
pub mod simulation;
pub mod source;
pub mod table;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use cohort_store::duck;
use cohort_store::hash::{sha256_bytes, sha256_file};
use cohort_store::layout::Layout;
use cohort_store::{
    ATTACHMENTS_DIR, CancelToken, CommitOutcome, DatasetKind, DatasetName, ImportRecord, PendingCommit, Progress,
    Settings, SourceFile, Store, StoreError, TableName, VersionMeta, VersionRef, table_files,
};
use serde::Serialize;
use serde_json::{Value, json};

pub use error::{MigrateError, Result};
pub use legacy::Shape;
use legacy::{Legacy, Refusal};
use simulation::Check;
use source::Source;

/// How to migrate.
#[derive(Debug, Clone, Default)]
pub struct MigrateOptions {
    /// Plan only: report what would happen and write nothing.
    pub dry_run: bool,
    /// A name clash makes a new version of the existing dataset instead of a conflict.
    pub overwrite: bool,
    /// Skip the backup copy of the originals.
    pub no_backup: bool,
    /// Where backups go (default: the store's `backups/` folder).
    pub backup_dir: Option<PathBuf>,
    /// The dataset name, for a single source.
    pub name: Option<DatasetName>,
    /// Who runs the migration, for the versions and the journal.
    pub created_by: String,
    /// Sources per catalog transaction (default [`DEFAULT_BATCH_SOURCES`]).
    pub batch_size: Option<usize>,
}

/// What became of a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Dry run: it would be migrated.
    WouldMigrate,
    /// Imported and verified.
    Migrated,
    /// Its content was imported before (the journal or the dataset says so).
    AlreadyMigrated,
    /// Its dataset name is taken; nothing imported.
    Conflict,
    /// Not a shape cohort knows; left alone.
    Skipped,
    /// Corrupt, unreadable, or it did not verify; left where it was.
    Failed,
    /// The run was interrupted before this source.
    Cancelled,
}

impl Outcome {
    /// The outcome as reports write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::WouldMigrate => "would migrate",
            Outcome::Migrated => "migrated",
            Outcome::AlreadyMigrated => "already migrated",
            Outcome::Conflict => "conflict",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
            Outcome::Cancelled => "cancelled",
        }
    }
}

/// One source's line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// The file or folder.
    pub source: PathBuf,
    /// What it was recognised as.
    pub shape: Option<Shape>,
    /// What became of it.
    pub outcome: Outcome,
    /// The dataset it went (or would go) into.
    pub dataset: Option<String>,
    /// The version it became.
    pub version: Option<u32>,
    /// The dataset's kind: `cohort`, `simulation` or `upload`.
    pub kind: Option<String>,
    /// Entities (or rows) per table, in source order.
    pub entities: Vec<(String, u64)>,
    /// Why, for anything but success.
    pub reason: Option<String>,
    /// What the reader should know: defaults filled in, values of mixed type set apart.
    pub notes: Vec<String>,
    /// A simulation run's stored aggregates compared with its tables.
    pub checks: Vec<Check>,
    /// SHA-256 of the source.
    pub sha256: Option<String>,
    /// Its size in bytes.
    pub bytes: u64,
}

impl FileReport {
    fn new(source: &Path) -> Self {
        FileReport {
            source: source.to_path_buf(),
            shape: None,
            outcome: Outcome::Failed,
            dataset: None,
            version: None,
            kind: None,
            entities: Vec::new(),
            reason: None,
            notes: Vec::new(),
            checks: Vec::new(),
            sha256: None,
            bytes: 0,
        }
    }

    fn set(&mut self, outcome: Outcome, reason: impl Into<String>) {
        self.outcome = outcome;
        self.reason = Some(reason.into());
    }
}

/// What a migration did (or, in a dry run, would do).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// The backup folder, if one was made.
    pub backup: Option<PathBuf>,
    /// Every source, in the order found.
    pub files: Vec<FileReport>,
    /// Files passed over while looking through folders (not JSON outside a cohort folder, or
    /// hidden in one), with why.
    pub passed_over: Vec<(PathBuf, String)>,
    /// Wall time in seconds.
    pub seconds: f64,
}

impl Report {
    /// How many sources had `outcome`.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.files.iter().filter(|f| f.outcome == outcome).count()
    }
}

/// A source, planned.
struct Planned {
    source: Source,
    /// The source's absolute path, as the journal records it.
    identity: String,
    report: FileReport,
    name: Option<DatasetName>,
    kind: DatasetKind,
    /// Refuse to commit into a dataset that exists (it must be new, as planned).
    only_new: bool,
}

/// Finds the sources under `paths` (or the default legacy locations under `home` when there are
/// none) and migrates them into `store`.
pub fn migrate(
    store: &Store,
    paths: &[PathBuf],
    options: &MigrateOptions,
    progress: &dyn Progress,
    cancel: &CancelToken,
) -> Result<Report> {
    let started = Instant::now();
    let (sources, passed_over) = source::discover(paths)?;
    if options.name.is_some() && sources.len() != 1 {
        return Err(MigrateError::Usage(format!(
            "`--name` names one dataset, but {} sources were found; give one file or folder",
            sources.len()
        )));
    }
    let mut planned = plan(store, sources, options, progress, cancel)?;
    let mut report = Report { dry_run: options.dry_run, backup: None, files: Vec::new(), passed_over, seconds: 0.0 };
    if !options.dry_run {
        let to_import: Vec<usize> =
            (0..planned.len()).filter(|i| planned[*i].report.outcome == Outcome::WouldMigrate).collect();
        if !options.no_backup && !to_import.is_empty() {
            let root = options.backup_dir.clone().unwrap_or_else(|| store.root().join("backups"));
            report.backup = Some(back_up(&root, &mut planned, &to_import)?);
        }
        import(store, &mut planned, options, progress, cancel)?;
        let journal: Vec<ImportRecord> = planned
            .iter()
            .filter(|p| matches!(p.report.outcome, Outcome::Failed | Outcome::Conflict | Outcome::Skipped))
            .filter_map(|p| {
                Some(ImportRecord {
                    source_sha256: p.report.sha256.clone()?,
                    source: p.identity.clone(),
                    shape: p.report.shape.map(Shape::as_str).unwrap_or("unrecognised").into(),
                    outcome: p.report.outcome.as_str().into(),
                    dataset: p.report.dataset.clone(),
                    version: None,
                    detail: p.report.reason.clone(),
                    recorded_by: options.created_by.clone(),
                    recorded_at: jiff::Timestamp::now(),
                })
            })
            .collect();
        store.record_imports(&journal)?;
    }
    report.files = planned.into_iter().map(|p| p.report).collect();
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Reads a source and recognises it.
fn read(source: &Source, loaded: &source::Loaded) -> Result<(Shape, Legacy), Refusal> {
    match &source.folder_files {
        None => {
            let file = &loaded.files[0];
            legacy::read_document(legacy::parse_json(&file.path, file.content.as_deref().unwrap_or_default())?)
        }
        Some(_) => {
            let files = loaded
                .files
                .iter()
                .map(|f| legacy::FolderInput {
                    name: f.name(),
                    json: f.content.as_deref(),
                    sha256: f.sha256.clone(),
                    bytes: f.bytes,
                })
                .collect();
            legacy::folder(&source.stem(), files).map(|c| (Shape::FolderPerCohort, Legacy::Cohort(c)))
        }
    }
}

fn kind_of(legacy: &Legacy) -> DatasetKind {
    match legacy {
        Legacy::Cohort(_) => DatasetKind::Cohort,
        Legacy::Simulation(_) => DatasetKind::Simulation,
        Legacy::Records(_) => DatasetKind::Upload,
    }
}

fn title(source: &Source, legacy: &Legacy) -> String {
    match legacy {
        Legacy::Cohort(c) => c.title().map(str::to_string).unwrap_or_else(|| source.stem()),
        _ => source.stem(),
    }
}

/// `base`, or with `-2`, `-3`, ... when that is in `taken`: the first free one.
fn unique_name(base: &DatasetName, taken: impl Fn(&str) -> bool) -> DatasetName {
    if !taken(base.as_str()) {
        return base.clone();
    }
    (2u32..)
        .map(|n| {
            let suffix = format!("-{n}");
            let stem: String = base.as_str().chars().take(64 - suffix.len()).collect();
            DatasetName::new(&format!("{}{suffix}", stem.trim_end_matches('-'))).expect("a name with a number")
        })
        .find(|name| !taken(name.as_str()))
        .expect("a free name")
}

fn plan(
    store: &Store,
    sources: Vec<Source>,
    options: &MigrateOptions,
    progress: &dyn Progress,
    cancel: &CancelToken,
) -> Result<Vec<Planned>> {
    let existing: HashMap<String, DatasetKind> =
        store.list()?.into_iter().map(|d| (d.name.to_string(), d.kind)).collect();
    let mut done: HashMap<String, ImportRecord> = HashMap::new();
    // What each place last became, so a folder that changed becomes a new version of its dataset.
    let mut made_from: HashMap<String, String> = HashMap::new();
    for r in store.import_journal()? {
        if r.outcome == Outcome::Migrated.as_str() {
            if let Some(d) = &r.dataset {
                made_from.insert(r.source.clone(), d.clone());
            }
            done.insert(r.source_sha256.clone(), r);
        }
    }
    let mut taken: HashSet<String> = HashSet::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut planned = Vec::with_capacity(sources.len());
    progress.begin("reading legacy files", Some(sources.len() as u64));
    for source in sources {
        progress.advance(1);
        let report = FileReport::new(&source.path);
        let identity = source.identity();
        let mut p = Planned { source, identity, report, name: None, kind: DatasetKind::Cohort, only_new: true };
        let report = &mut p.report;
        if cancel.is_cancelled() {
            report.set(Outcome::Cancelled, "interrupted before this source was read");
            planned.push(p);
            continue;
        }
        let loaded = match p.source.load() {
            Ok(l) => l,
            Err(e) => {
                report.set(Outcome::Failed, format!("cannot read it: {e}"));
                planned.push(p);
                continue;
            }
        };
        report.sha256 = Some(loaded.sha256.clone());
        report.bytes = loaded.bytes;
        let (shape, legacy) = match read(&p.source, &loaded) {
            Ok(r) => r,
            Err(Refusal::Unrecognised(why)) => {
                report.set(Outcome::Skipped, format!("not a legacy shape cohort knows: {why}"));
                planned.push(p);
                continue;
            }
            Err(Refusal::Invalid(why)) => {
                report.set(Outcome::Failed, why);
                planned.push(p);
                continue;
            }
        };
        let kind = kind_of(&legacy);
        p.kind = kind;
        report.shape = Some(shape);
        report.kind = Some(kind.as_str().into());
        report.entities = legacy.counts();
        // A folder's JSON documents make a table too; its attachments alone do not (a version
        // needs a table), so a folder of only metadata and a README is skipped, as the run would.
        let mut documents = false;
        if let Legacy::Cohort(c) = &legacy {
            report.notes.extend(c.notes.iter().cloned());
            documents = c.folder.as_ref().is_some_and(|f| !f.documents.is_empty());
        }
        let base = options.name.clone().unwrap_or_else(|| export::dataset_name(&title(&p.source, &legacy)));
        report.dataset = Some(base.to_string());
        let mut name = base.clone();
        let first_time = seen.insert(loaded.sha256.clone());
        // A folder names itself: it never clashes (see `folder_name`).
        let folder = p.source.folder_files.is_some() && options.name.is_none();
        if let Some(r) = done.get(&loaded.sha256) {
            report.outcome = Outcome::AlreadyMigrated;
            report.dataset = r.dataset.clone();
            report.version = r.version;
            report.reason = Some(format!("the journal has it, from `{}`", r.source));
        } else if !first_time {
            report.set(Outcome::AlreadyMigrated, "the same content appears earlier in this run");
        } else if report.entities.iter().all(|(_, n)| *n == 0) && !documents {
            let what = if p.source.folder_files.is_some() { "no entities and no other JSON" } else { "no entities" };
            report.set(Outcome::Skipped, format!("it holds {what}: nothing to migrate"));
        } else if folder {
            report.outcome = Outcome::WouldMigrate;
            let (n, only_new, note) = folder_name(&base, &p.identity, &made_from, &existing, &taken);
            name = n;
            p.only_new = only_new;
            report.dataset = Some(name.to_string());
            report.notes.extend(note);
        } else if let Some(existing_kind) = existing.get(name.as_str()) {
            if !options.overwrite {
                report.set(
                    Outcome::Conflict,
                    format!(
                        "a dataset named `{name}` exists; `--overwrite` adds this as its new version, or migrate this \
                         source alone with `--name NEW-NAME`"
                    ),
                );
            } else if *existing_kind != kind {
                report.set(
                    Outcome::Conflict,
                    format!(
                        "`{name}` is a dataset of kind `{existing_kind}`, not `{kind}`; migrate with `--name NEW-NAME`"
                    ),
                );
            } else {
                report.outcome = Outcome::WouldMigrate;
                p.only_new = false;
                report.notes.push(format!("becomes a new version of `{name}`"));
            }
        } else if taken.contains(name.as_str()) && !options.overwrite {
            report.set(
                Outcome::Conflict,
                format!(
                    "an earlier source in this run is also named `{name}`; `--overwrite` makes this its next version, \
                     or migrate this source alone with `--name NEW-NAME`"
                ),
            );
        } else {
            report.outcome = Outcome::WouldMigrate;
            p.only_new = !options.overwrite;
        }
        if p.report.outcome == Outcome::WouldMigrate {
            taken.insert(name.to_string());
        }
        p.name = Some(name);
        planned.push(p);
    }
    progress.finish();
    Ok(planned)
}

/// The dataset a folder per cohort goes to, whether it must be new, and a note saying why.
///
/// A folder migrated before from the same place (the journal records each source's absolute path)
/// becomes a new version of the dataset it made then. Otherwise it is named after itself (or its
/// `cohort.json` name), with `-2`, `-3`, ... when a dataset of that name exists or an earlier
/// source of this run takes it: two `ward-7` folders, or a folder named like a dataset from
/// elsewhere, both migrate, and nothing is ever added to a dataset this folder did not make.
fn folder_name(
    base: &DatasetName,
    identity: &str,
    made_from: &HashMap<String, String>,
    existing: &HashMap<String, DatasetKind>,
    taken: &HashSet<String>,
) -> (DatasetName, bool, Option<String>) {
    if let Some(before) = made_from.get(identity)
        && existing.get(before) == Some(&DatasetKind::Cohort)
        && !taken.contains(before)
        && let Ok(name) = DatasetName::new(before)
    {
        return (
            name,
            false,
            Some(format!("its content changed: a new version of `{before}`, which it became before")),
        );
    }
    let name = unique_name(base, |n| existing.contains_key(n) || taken.contains(n));
    let note = (name != *base).then(|| {
        let by = if existing.contains_key(base.as_str()) { "a dataset in the store" } else { "an earlier source" };
        format!("`{base}` is taken by {by}, so this folder is named `{name}`")
    });
    (name, true, note)
}

fn back_up(root: &Path, planned: &mut [Planned], to_import: &[usize]) -> Result<PathBuf> {
    let mut loaded = Vec::new();
    for &i in to_import {
        let p = &mut planned[i];
        match p.source.load() {
            Ok(l) if Some(&l.sha256) == p.report.sha256.as_ref() => loaded.push((i, l)),
            Ok(_) => p.report.set(Outcome::Failed, "it changed while the migration ran; run it again"),
            Err(e) => p.report.set(Outcome::Failed, format!("cannot read it: {e}")),
        }
    }
    let mut items = Vec::new();
    for (n, (i, l)) in loaded.iter().enumerate() {
        let p = &planned[*i];
        let folder = p.source.folder_files.as_ref().map(|_| p.source.stem());
        // Every file of a folder, JSON or not: the folder is the cohort.
        for f in &l.files {
            let mut copy = PathBuf::from(format!("{n:05}"));
            if let Some(folder) = &folder {
                copy.push(folder);
            }
            copy.push(f.path.file_name().unwrap_or_default());
            let content = match &f.content {
                Some(bytes) => backup::Content::Bytes(bytes),
                None => backup::Content::File,
            };
            items.push(backup::ToBackUp { original: &f.path, copy, content, sha256: f.sha256.clone(), bytes: f.bytes });
        }
    }
    Ok(backup::create(root, &items)?.dir)
}

/// A staged version waiting for its batch, with what verifying it needs.
struct Staged {
    index: usize,
    commit: PendingCommit,
    expected: Value,
    kind: DatasetKind,
    /// Rows each table must hold: (what the report calls it, its table, how many).
    rows: Vec<(String, Option<String>, u64)>,
    /// For a folder per cohort: what each file must be written back as.
    files: Option<Vec<(String, Expected)>>,
}

/// What a file of a folder must be written back as.
enum Expected {
    /// This JSON value (entity files and the metadata file are rebuilt from the tables).
    Json(Value),
    /// Bytes with this SHA-256 (documents and attachments are kept as they were).
    Bytes(String),
}

/// Sources go to the store in batches of this many (fewer when they hold more than
/// [`BATCH_ENTITIES`] entities): each batch is one catalog transaction. A crash loses at most the
/// batch being converted; a re-run finishes it.
pub const DEFAULT_BATCH_SOURCES: usize = 1000;
const BATCH_ENTITIES: u64 = 500_000;

fn import(
    store: &Store,
    planned: &mut [Planned],
    options: &MigrateOptions,
    progress: &dyn Progress,
    cancel: &CancelToken,
) -> Result<()> {
    let spill = store.layout().spill_dir();
    fs_err::create_dir_all(&spill).map_err(StoreError::from)?;
    // `datasets.duckdb` catches up once, for the whole migration, not after every batch.
    let store = &store.with_settings(Settings { views_in_background: true, ..store.settings().clone() });
    let workers = store.settings().worker_threads() as usize;
    let engine = Engines::new(store, workers, &spill);
    let todo: Vec<usize> = (0..planned.len()).filter(|i| planned[*i].report.outcome == Outcome::WouldMigrate).collect();
    progress.begin("migrating", Some(todo.len() as u64));
    let batch_size = options.batch_size.unwrap_or(DEFAULT_BATCH_SOURCES).max(1);
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut entities = 0u64;
    for &index in &todo {
        let n: u64 = planned[index].report.entities.iter().map(|(_, n)| n).sum();
        match batches.last_mut() {
            Some(batch) if batch.len() < batch_size && entities + n <= BATCH_ENTITIES => batch.push(index),
            _ => {
                batches.push(vec![index]);
                entities = 0;
            }
        }
        entities += n;
    }
    for batch in batches {
        let t = Instant::now();
        let sources = planned.iter_mut().enumerate().filter(|(i, _)| batch.binary_search(i).is_ok());
        let staged = in_parallel(&engine, workers, sources.collect(), |conn, (index, p): (usize, &mut Planned)| {
            if cancel.is_cancelled() {
                p.report.set(Outcome::Cancelled, "interrupted before this source was imported");
                return None;
            }
            let staged = stage(store, conn, index, p, options);
            progress.advance(1);
            match staged {
                Ok(staged) => Some(staged),
                Err(why) => {
                    p.report.set(Outcome::Failed, why);
                    None
                }
            }
        })?;
        tracing::debug!(seconds = t.elapsed().as_secs_f64(), sources = batch.len(), "staged a batch");
        flush(store, &engine, workers, planned, staged.into_iter().flatten().collect(), &options.created_by)?;
    }
    if let Err(e) = store.sync_views() {
        tracing::warn!("could not bring datasets.duckdb up to date (the next command will): {e}");
    }
    progress.finish();
    Ok(())
}

/// How the workers of a migration get their DuckDB engines: one instance each, single-threaded,
/// with an equal share of the memory cap. (Connections to one shared instance ran the many small
/// statements of a migration little faster on two threads than on one.)
struct Engines {
    settings: Settings,
    spill: PathBuf,
}

impl Engines {
    fn new(store: &Store, workers: usize, spill: &Path) -> Self {
        let settings = store.settings();
        let share = (settings.memory_limit / workers.max(1) as u64).max(Settings::MIN_MEMORY_LIMIT);
        Engines {
            settings: Settings { memory_limit: share, threads: Some(1), ..settings.clone() },
            spill: spill.to_path_buf(),
        }
    }

    fn open(&self) -> cohort_store::Result<duckdb::Connection> {
        duck::open_engine(&self.settings, &self.spill)
    }
}

/// Runs `work` on every item with up to `workers` threads, each with an engine of its own, and
/// returns the results in the items' order.
fn in_parallel<T: Send, R: Send>(
    engine: &Engines,
    workers: usize,
    items: Vec<T>,
    work: impl Fn(&duckdb::Connection, T) -> R + Sync,
) -> Result<Vec<R>> {
    Ok(cohort_store::parallel::map_in_order(workers, items, || engine.open(), work)?)
}

/// The table each entity type of a cohort goes to: its name as a table name, made unique with
/// `_2`, `_3`, ... (types such as `lab.results` and `lab_results` would otherwise share one), and
/// never the documents table when the cohort has documents. `None` for a type without entities.
fn entity_tables(c: &legacy::Cohort) -> Vec<Option<TableName>> {
    let mut used: HashSet<String> = HashSet::new();
    if c.folder.as_ref().is_some_and(|f| !f.documents.is_empty()) {
        used.insert(legacy::DOCUMENTS_TABLE.into());
    }
    c.types
        .iter()
        .map(|t| {
            if t.entities.is_empty() {
                return None;
            }
            let base = TableName::from_file_stem(&t.name).expect("a table name from a stem");
            let name = (1u32..)
                .map(|n| match n {
                    1 => base.clone(),
                    n => {
                        let suffix = format!("_{n}");
                        let stem: String = base.as_str().chars().take(64 - suffix.len()).collect();
                        TableName::new(&format!("{stem}{suffix}")).expect("a table name with a number")
                    }
                })
                .find(|name| !used.contains(name.as_str()))
                .expect("a free name");
            used.insert(name.to_string());
            Some(name)
        })
        .collect()
}

/// Converts one source into a staged version.
fn stage(
    store: &Store,
    conn: &duckdb::Connection,
    index: usize,
    p: &mut Planned,
    options: &MigrateOptions,
) -> Result<Staged, String> {
    let loaded = p.source.load().map_err(|e| format!("cannot read it: {e}"))?;
    if Some(&loaded.sha256) != p.report.sha256.as_ref() {
        return Err("it changed while the migration ran; run it again".into());
    }
    let (shape, legacy) = read(&p.source, &loaded).map_err(|r| match r {
        Refusal::Invalid(m) | Refusal::Unrecognised(m) => m,
    })?;
    let name = p.name.clone().expect("planned sources have a name");
    let mut staging = store.stage(&name).map_err(|e| e.to_string())?;
    // Where a table's rows came from, for messages: the file, or the folder's files.
    let from = |files: &[String]| match files {
        [] => p.report.source.display().to_string(),
        [one] => one.clone(),
        many => many.join(", "),
    };
    let mut notes = Vec::new();
    let mut write =
        |table: &TableName, rows: &[table::Row], leading: &[&str], files: &[String]| -> Result<(), String> {
            let dir = staging.table_dir(table).map_err(|e| e.to_string())?;
            let w = table::write(rows, leading, &dir.join(Layout::part_file_name(0)))
                .map_err(|e| format!("table `{table}` (from {}): {e}", from(files)))?;
            for (field, n) in &w.digits {
                notes.push(format!(
                    "{table}.{field}: {n} number(s) with more digits than the column's type holds kept as written, \
                     as JSON in `{field}{}`",
                    table::MIXED_SUFFIX
                ));
            }
            for (field, n) in w.mixed.iter().map(|(f, n)| (f, n - w.digits.get(f).copied().unwrap_or(0))) {
                if n == 0 {
                    continue;
                }
                notes.push(format!(
                    "{table}.{field}: {n} value(s) that do not fit the column's type kept as JSON in `{field}{}`",
                    table::MIXED_SUFFIX
                ));
            }
            for (field, column) in &w.renamed {
                notes.push(format!(
                    "{table}.{field:?}: stored as column `{column}` (another field has that name up to case, or it is \
                 empty or reserved)"
                ));
            }
            if let Some(why) = &w.as_text {
                notes.push(format!(
                "{table} (from {}): DuckDB could not type its values ({why}), so each field is kept as JSON text in \
                 `<field>{}`",
                from(files),
                table::MIXED_SUFFIX
            ));
            }
            Ok(())
        };
    let mut rows_expected = Vec::new();
    let mut expected_files = None;
    let mut attachments = Vec::new();
    let (legacy_json, expected, description, tags) = match &legacy {
        Legacy::Cohort(c) => {
            let tables = entity_tables(c);
            let mut types = Vec::new();
            for (t, table) in c.types.iter().zip(&tables) {
                if let Some(table) = table {
                    let rows: Vec<table::Row> = t.entities.iter().map(entity_row).collect();
                    // Identifiers first, then references to other entities.
                    let own_id = format!("{}_id", entity::singular(&t.name));
                    let mut leading = vec!["id", own_id.as_str()];
                    leading.extend(["mrn", "member_id", "usubjid", "prescription_number", "_entity_id"]);
                    leading.extend(["patient_mrn", "patient_id", "encounter_id", "claim_id"]);
                    let files: Vec<String> = c
                        .folder
                        .iter()
                        .flat_map(|f| &f.files)
                        .filter(|f| f.parts.iter().any(|part| part.entity_type == t.name))
                        .map(|f| f.file.clone())
                        .collect();
                    write(table, &rows, &leading, &files)?;
                }
                rows_expected.push((t.name.clone(), table.as_ref().map(TableName::to_string), t.entities.len() as u64));
                types.push(json!({"name": t.name, "keys": t.keys, "count": t.entities.len(), "table": table}));
            }
            let mut legacy = json!({"header": c.header, "entity_types": types, "notes": c.notes});
            if let Some(folder) = &c.folder {
                if !folder.documents.is_empty() {
                    let table = TableName::new(legacy::DOCUMENTS_TABLE).expect("a valid name");
                    let dir = staging.table_dir(&table).map_err(|e| e.to_string())?;
                    table::write_documents(&folder.documents, &dir.join(Layout::part_file_name(0)))?;
                    rows_expected.push((table.to_string(), Some(table.to_string()), folder.documents.len() as u64));
                }
                for f in folder.attachments() {
                    let path = p.source.path.join(&f.file);
                    let (sha256, bytes) = staging.attach(&f.file, &path).map_err(|e| format!("{}: {e}", f.file))?;
                    if sha256 != f.sha256 {
                        return Err(format!("{} changed while the migration ran; run it again", f.file));
                    }
                    let source = std::path::absolute(&path).unwrap_or(path).display().to_string();
                    attachments.push(json!({"name": f.file, "source": source, "sha256": sha256, "bytes": bytes}));
                }
                legacy["folder"] = json!({"files": folder.files, "documents_table": legacy::DOCUMENTS_TABLE});
                let mut files = Vec::new();
                for (f, l) in folder.files.iter().zip(&loaded.files) {
                    let expected = match (f.layout, &l.content) {
                        (legacy::Layout::Document | legacy::Layout::Attachment, _) | (_, None) => {
                            Expected::Bytes(f.sha256.clone())
                        }
                        (_, Some(bytes)) => {
                            Expected::Json(legacy::parse_json(&l.path, bytes).map_err(|r| match r {
                                Refusal::Invalid(m) | Refusal::Unrecognised(m) => format!("{}: {m}", f.file),
                            })?)
                        }
                    };
                    files.push((f.file.clone(), expected));
                }
                expected_files = Some(files);
            }
            (legacy, c.v1_document(), c.description(), Some(c.tags()))
        }
        Legacy::Simulation(s) => {
            let tables = simulation::tables(s);
            let visits = TableName::new("visits").expect("a valid name");
            let patients = TableName::new("patients").expect("a valid name");
            write(&visits, &tables.visits, &simulation::VISIT_COLUMNS, &[])?;
            write(&patients, &tables.patients, &simulation::PATIENT_COLUMNS, &[])?;
            rows_expected.push(("patients".into(), Some("patients".into()), tables.patients.len() as u64));
            rows_expected.push(("visits".into(), Some("visits".into()), tables.visits.len() as u64));
            let mut whole = s.document.clone();
            whole.insert("patient_histories".into(), Value::Object(s.histories.clone()));
            (json!({"document": s.document}), Value::Object(whole), None, None)
        }
        Legacy::Records(r) => {
            let table = TableName::from_file_stem(&p.source.stem()).map_err(|e| e.to_string())?;
            let rows: Vec<table::Row> = r
                .iter()
                .map(|o| table::Row { fields: o.clone(), original: Some(Value::Object(o.clone()).to_string()) })
                .collect();
            write(&table, &rows, &["id"], &[])?;
            rows_expected.push(("records".into(), Some(table.to_string()), r.len() as u64));
            let expected = Value::Array(r.iter().cloned().map(Value::Object).collect());
            (json!({"table": table}), expected, None, None)
        }
    };
    p.report.notes.extend(notes);
    if let Legacy::Simulation(s) = &legacy {
        p.report.checks = check(conn, &staging, s)?;
        for c in p.report.checks.iter().filter(|c| !c.agrees) {
            p.report
                .notes
                .push(format!("stored aggregate `{}` is {}, but the tables give {}", c.aggregate, c.stored, c.derived));
        }
    }
    let sources = loaded
        .files
        .iter()
        .map(|f| SourceFile {
            path: std::path::absolute(&f.path).unwrap_or_else(|_| f.path.clone()).display().to_string(),
            sha256: f.sha256.clone(),
            bytes: f.bytes,
            table: None,
        })
        .collect();
    let mut provenance = json!({
        "tool": "cohort",
        "tool_version": cohort_store::VERSION,
        "command": "migrate",
        "shape": shape,
        "source": p.report.source,
        "source_sha256": loaded.sha256,
        "legacy": legacy_json,
        "checks": p.report.checks,
        "notes": p.report.notes,
    });
    if !attachments.is_empty() {
        // Where `cohort show` lists a version's attachments.
        provenance["attachments"] = Value::Array(attachments);
    }
    let meta =
        VersionMeta { kind: p.kind, description, tags, created_by: options.created_by.clone(), sources, provenance };
    let import = ImportRecord {
        source_sha256: loaded.sha256.clone(),
        source: p.identity.clone(),
        shape: shape.as_str().into(),
        outcome: Outcome::Migrated.as_str().into(),
        dataset: None,
        version: None,
        detail: None,
        recorded_by: options.created_by.clone(),
        recorded_at: jiff::Timestamp::now(),
    };
    Ok(Staged {
        index,
        commit: PendingCommit { staging, meta, import: Some(import), only_new: p.only_new },
        expected,
        kind: p.kind,
        rows: rows_expected,
        files: expected_files,
    })
}

/// A cohort entity's row: its fields, a v2.0 wrapper's identity and provenance as `_entity_id`,
/// `_entity_type` and `_provenance_<field>` columns, and its v1.0 JSON.
fn entity_row(e: &legacy::Entity) -> table::Row {
    let mut fields = e.data.clone();
    if let Some(w) = &e.wrapper {
        for (k, v) in w {
            match (k.as_str(), v) {
                ("provenance", Value::Object(p)) => {
                    for (pk, pv) in p {
                        fields.insert(format!("_provenance_{pk}"), pv.clone());
                    }
                }
                _ => {
                    fields.insert(format!("_{k}"), v.clone());
                }
            }
        }
    }
    table::Row { fields, original: Some(e.v1().to_string()) }
}

/// Compares a run's stored aggregates with its staged tables.
fn check(
    conn: &duckdb::Connection,
    staging: &cohort_store::Staging,
    run: &legacy::Simulation,
) -> Result<Vec<Check>, String> {
    let part = |t: &str| export::parquet_source(&staging.dir().join(t).join(Layout::part_file_name(0)));
    let columns: Vec<String> = {
        let mut stmt = conn
            .prepare(&format!("SELECT column_name FROM (DESCRIBE SELECT * FROM {})", part("visits")))
            .map_err(|e| e.to_string())?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(|e| e.to_string())?;
        rows.collect::<duckdb::Result<_>>().map_err(|e| e.to_string())?
    };
    let mut out = Vec::new();
    for (aggregate, stored, sql) in
        simulation::check_queries(&run.document, &columns, &part("patients"), &part("visits"))
    {
        let derived: Option<f64> =
            conn.query_row(&sql, [], |r| r.get(0)).map_err(|e| format!("checking `{aggregate}`: {e}"))?;
        let derived = derived.map(|d| json!(d)).unwrap_or(Value::Null);
        let derived = match derived.as_f64() {
            Some(d) if d.fract() == 0.0 && d.abs() < 1e15 => json!(d as i64),
            _ => derived,
        };
        out.push(Check { agrees: simulation::agrees(&stored, &derived), aggregate, stored, derived });
    }
    Ok(out)
}

/// Commits a batch, then verifies each new version against its source, `workers` at a time.
fn flush(
    store: &Store,
    engine: &Engines,
    workers: usize,
    planned: &mut [Planned],
    batch: Vec<Staged>,
    created_by: &str,
) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    type ToVerify = (usize, Value, DatasetKind, Vec<(String, Option<String>, u64)>, Option<Vec<(String, Expected)>>);
    let (commits, rest): (Vec<PendingCommit>, Vec<ToVerify>) =
        batch.into_iter().map(|s| (s.commit, (s.index, s.expected, s.kind, s.rows, s.files))).unzip();
    let provenances: Vec<Value> = commits.iter().map(|c| c.meta.provenance.clone()).collect();
    let t = Instant::now();
    let outcomes = store.commit_batch(commits)?;
    tracing::debug!(seconds = t.elapsed().as_secs_f64(), versions = outcomes.len(), "committed a batch");
    let mut created = Vec::new();
    for ((outcome, check), provenance) in outcomes.into_iter().zip(rest).zip(provenances) {
        let report = &mut planned[check.0].report;
        match outcome {
            Ok(CommitOutcome::Created { dataset, version, .. }) => {
                report.version = Some(version);
                created.push((dataset, version, check, provenance));
            }
            Ok(CommitOutcome::Unchanged { version, .. }) => {
                report.version = Some(version);
                report.set(Outcome::AlreadyMigrated, format!("version {version} already holds the same content"));
            }
            Err(StoreError::DatasetExists { dataset }) => report.set(
                Outcome::Conflict,
                format!("a dataset named `{dataset}` was made meanwhile; `--overwrite` adds this as its new version"),
            ),
            Err(e @ StoreError::KindMismatch { .. }) => report.set(Outcome::Conflict, e.to_string()),
            Err(e) => report.set(Outcome::Failed, format!("could not commit it: {e}")),
        }
    }
    if created.is_empty() {
        return Ok(());
    }
    // Verify from the store: one catalog read for the whole batch.
    let refs: Vec<VersionRef> =
        created.iter().map(|(d, v, ..)| VersionRef::parse(&format!("{d}@{v}")).expect("a valid reference")).collect();
    let t = Instant::now();
    let resolved = store.resolve_all(&refs)?;
    let mut checks: Vec<_> = created.into_iter().zip(resolved).collect();
    checks.sort_by_key(|((_, _, (index, ..), _), _)| *index);
    let indexes: Vec<usize> = checks.iter().map(|((_, _, (index, ..), _), _)| *index).collect();
    let verifying = planned.iter_mut().enumerate().filter(|(i, _)| indexes.binary_search(i).is_ok());
    let items: Vec<_> = verifying.map(|(_, p)| p).zip(checks).collect();
    let failed = in_parallel(
        engine,
        workers,
        items,
        |conn, (p, ((dataset, version, (_, expected, kind, rows, files), provenance), r))| {
            let source = |t: &str| r.table(t).map(|t| table_files(store, t));
            let verdict = export::rebuild(kind, &provenance, conn, &source).and_then(|back| {
                let counts: BTreeMap<&str, u64> = r.tables.iter().map(|t| (t.name.as_str(), t.rows)).collect();
                for (what, table, n) in &rows {
                    let stored = table.as_deref().and_then(|t| counts.get(t)).copied().unwrap_or(0);
                    if stored != *n {
                        return Err(format!("{what}: {n} in the source, {stored} stored"));
                    }
                }
                if back != expected {
                    return Err(first_difference(&expected, &back));
                }
                match &files {
                    Some(files) => {
                        let attachments = store.layout().version_dir(r.dataset_id, r.version).join(ATTACHMENTS_DIR);
                        verify_folder(&provenance, &source, &attachments, files)
                    }
                    None => Ok(()),
                }
            });
            let report = &mut p.report;
            match verdict {
                Ok(()) => {
                    report.outcome = Outcome::Migrated;
                    None
                }
                Err(why) => {
                    report.set(Outcome::Failed, format!("version {version} of `{dataset}` did not verify: {why}"));
                    Some(ImportRecord {
                        source_sha256: report.sha256.clone().unwrap_or_default(),
                        source: p.identity.clone(),
                        shape: report.shape.map(Shape::as_str).unwrap_or_default().into(),
                        outcome: Outcome::Failed.as_str().into(),
                        dataset: Some(dataset.to_string()),
                        version: Some(version),
                        detail: report.reason.clone(),
                        recorded_by: created_by.to_string(),
                        recorded_at: jiff::Timestamp::now(),
                    })
                }
            }
        },
    )?;
    tracing::debug!(seconds = t.elapsed().as_secs_f64(), "verified a batch");
    // A later `failed` entry outweighs the `migrated` one the commit wrote: a re-run tries again.
    store.record_imports(&failed.into_iter().flatten().collect::<Vec<_>>())?;
    Ok(())
}

/// Checks that every file of a folder is written back from the store as it was: JSON files as
/// equal values, documents byte for byte, attachments by the SHA-256 of the version's copy.
fn verify_folder(
    provenance: &Value,
    source: &dyn Fn(&str) -> Option<Vec<PathBuf>>,
    attachments: &Path,
    files: &[(String, Expected)],
) -> Result<(), String> {
    let back = export::rebuild_folder(provenance, source)?;
    if back.len() != files.len() || back.iter().zip(files).any(|((a, _), (b, _))| a != b) {
        let names = |f: &mut dyn Iterator<Item = &String>| f.cloned().collect::<Vec<_>>().join(", ");
        return Err(format!(
            "the folder's files are {}, but {} are written back",
            names(&mut files.iter().map(|(f, _)| f)),
            names(&mut back.iter().map(|(f, _)| f))
        ));
    }
    for ((file, rebuilt), (_, expected)) in back.iter().zip(files) {
        let same = match (rebuilt, expected) {
            (export::Rebuilt::Json { value, .. }, Expected::Json(original)) => {
                if value != original {
                    return Err(format!("{file}: {}", first_difference(original, value)));
                }
                true
            }
            (export::Rebuilt::Text(text), Expected::Bytes(sha256)) => sha256_bytes(text.as_bytes()) == *sha256,
            (export::Rebuilt::Attachment { name, .. }, Expected::Bytes(sha256)) => {
                let (copy, _) = sha256_file(&attachments.join(name), |_| {}).map_err(|e| format!("{file}: {e}"))?;
                copy == *sha256
            }
            _ => false,
        };
        if !same {
            return Err(format!("{file} is not written back byte for byte"));
        }
    }
    Ok(())
}

/// Where two JSON values first differ, as a path.
fn first_difference(expected: &Value, got: &Value) -> String {
    fn walk(a: &Value, b: &Value, path: &mut String) -> bool {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                for (k, v) in x {
                    let len = path.len();
                    path.push('.');
                    path.push_str(k);
                    match y.get(k) {
                        Some(w) if !walk(v, w, path) => return false,
                        None => return false,
                        _ => {}
                    }
                    path.truncate(len);
                }
                if let Some(k) = y.keys().find(|k| !x.contains_key(*k)) {
                    path.push('.');
                    path.push_str(k);
                    return false;
                }
                true
            }
            (Value::Array(x), Value::Array(y)) => {
                for (i, (v, w)) in x.iter().zip(y).enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    if !walk(v, w, path) {
                        return false;
                    }
                    path.truncate(len);
                }
                x.len() == y.len()
            }
            _ => a == b,
        }
    }
    let mut path = String::new();
    walk(expected, got, &mut path);
    format!("the JSON written back differs from the source at `{}`", if path.is_empty() { "." } else { &path })
}
