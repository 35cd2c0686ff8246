/*!
Ingest: researchers' files become the tables of a new dataset version.

Every source goes down one path: check it, hash it, convert it to Parquet in a private staging
area with DuckDB (streaming, under the memory limit), check it did not change meanwhile, and
commit all tables at once. One file or many, the catalog structure is the same.

```no_run
use cohort_ingest::{ingest, IngestOptions, IngestRequest};
use cohort_store::{CancelToken, DatasetName, NoProgress, Settings, Store};

# fn main() -> Result<(), Box<dyn std::error::Error>> {
let store = Store::init("cohort-data".as_ref(), Settings::default())?;
let request = IngestRequest {
    name: DatasetName::new("trial")?,
    files: vec!["patients.csv".into(), "visits.csv".into()],
    description: None,
    tags: None,
    created_by: "me".into(),
    options: IngestOptions::default(),
};
let report = ingest(&store, &request, &NoProgress, &CancelToken::new())?;
# Ok(()) }
```
*/
#![deny(missing_docs)]

pub mod archive;
mod csv;
pub mod error;
mod excel;
pub mod format;
mod json;
mod parquet;
pub mod quality;
pub mod relationships;
mod run;
pub mod schema;
pub mod stat;
pub mod typing;

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use cohort_store::hash::sha256_file;
use cohort_store::name::quote_literal;
use cohort_store::{
    CancelToken, CommitOutcome, DatasetKind, DatasetName, NoProgress, Progress, SourceFile, Staging, Store, TableName,
    VersionInfo, VersionMeta, VersionRef, duck, failpoint,
};
use serde::Serialize;

pub use crate::csv::Dialect;
pub use crate::error::{IngestError, Result};
pub use crate::format::Format;

/// Strings read as null in delimited text unless `--null` says otherwise: what R and pandas
/// write for missing values.
pub const DEFAULT_NULL_STRINGS: &[&str] = &["", "NA", "N/A", "NULL", "null", "NaN", "#N/A"];

/// How to read sources.
#[derive(Debug, Clone, Serialize)]
pub struct IngestOptions {
    /// Field delimiter for delimited text (sniffed when `None`).
    pub delimiter: Option<char>,
    /// Whether delimited text has a header row (sniffed when `None`).
    pub header: Option<bool>,
    /// Lines to skip before the table in delimited text (a title, say). `None`: skip none.
    pub skip_rows: Option<u64>,
    /// Strings that mean "missing" in delimited text.
    pub null_strings: Vec<String>,
    /// Columns to keep as text whatever they look like.
    pub text_columns: Vec<String>,
    /// The encoding of delimited text (`utf-8`, `utf-16`, `latin-1`); `None`: detected.
    pub encoding: Option<String>,
    /// Numbers in delimited text are written with a decimal comma (`60,5`). Without it, a decimal
    /// comma is recognised in columns of files whose fields are not separated by commas, where no
    /// comma could separate thousands.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub decimal_comma: bool,
    /// The `strptime` format of dates in delimited text (`%d/%m/%Y`); `None`: detected, and a
    /// column whose day and month cannot be told apart stays text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_format: Option<String>,
    /// Types, roles and labels that replace what is inferred. Empty: those the dataset's current
    /// version was made with, if any.
    #[serde(skip_serializing_if = "schema::SchemaOverrides::is_empty")]
    pub schema: schema::SchemaOverrides,
    /// Sources (files given, archive entries, sheets) larger than this are refused before any work.
    #[serde(skip)]
    pub max_file_bytes: Option<u64>,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            delimiter: None,
            header: None,
            skip_rows: None,
            null_strings: DEFAULT_NULL_STRINGS.iter().map(|s| s.to_string()).collect(),
            text_columns: Vec::new(),
            encoding: None,
            decimal_comma: false,
            date_format: None,
            schema: schema::SchemaOverrides::default(),
            max_file_bytes: None,
        }
    }
}

/// What to ingest, and as what.
#[derive(Debug, Clone)]
pub struct IngestRequest {
    /// The dataset to create, or to add a version to.
    pub name: DatasetName,
    /// The source files; each becomes one table named after the file.
    pub files: Vec<PathBuf>,
    /// A description for the dataset.
    pub description: Option<String>,
    /// Tags for the dataset.
    pub tags: Option<Vec<String>>,
    /// Who is ingesting (recorded with the version).
    pub created_by: String,
    /// How to read the sources.
    pub options: IngestOptions,
}

/// What happened to one source.
#[derive(Debug, Clone, Serialize)]
pub struct TableReport {
    /// The table it became.
    pub table: String,
    /// The source file.
    pub source: PathBuf,
    /// Its format.
    pub format: Format,
    /// The delimited-text dialect, for text sources.
    pub dialect: Option<Dialect>,
    /// Missing values, duplicate rows and candidate keys of the table as stored (tables up to 5
    /// million rows; `cohort dictionary` measures bigger ones on demand).
    pub quality: Option<quality::TableQuality>,
    /// Columns with values of another type than the rest: those values were stored as null (or
    /// the column kept as text).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub coerced: Vec<csv::Coerced>,
    /// The label an SPSS, Stata or SAS file gives itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_label: Option<String>,
}

/// What an ingest did.
#[derive(Debug, Clone, Serialize)]
pub struct IngestReport {
    /// The commit's outcome (new version, or unchanged).
    pub outcome: CommitOutcome,
    /// One entry per source (empty when the sources were already the current version).
    pub tables: Vec<TableReport>,
    /// Each table's key and the relationships between the tables, as detected.
    pub relationships: Relationships,
    /// Documents (a PDF or text data dictionary, given or inside an archive) attached to the
    /// version.
    pub documents: Vec<Attachment>,
    /// Wall time in seconds.
    pub seconds: f64,
    /// This ingest's id: when it ended (UTC) and the start of the content hash,
    /// `20261121T192501Z-3f9a0c12d4e5`. The same content gives the same hash part.
    pub upload_id: String,
}

fn upload_id(outcome: &CommitOutcome) -> String {
    let hash = match outcome {
        CommitOutcome::Created { content_hash, .. } | CommitOutcome::Unchanged { content_hash, .. } => content_hash,
    };
    let when = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ");
    format!("{when}-{}", &hash[..hash.len().min(12)])
}

struct Source {
    /// The file read: the one given, or an entry unpacked from an archive.
    path: PathBuf,
    /// How the source is recorded: the path, or `archive.zip!entry/name.csv`.
    shown: String,
    /// The archive it came from, with its size and time then, to notice it changing.
    archive: Option<(PathBuf, u64, Option<SystemTime>)>,
    format: Format,
    table: TableName,
    len: u64,
    modified: Option<SystemTime>,
    sha256: String,
}

/// A document (a PDF or text data dictionary) to attach to the version.
struct Document {
    file: PathBuf,
    shown: String,
    len: u64,
    /// Known once hashed or attached.
    sha256: String,
}

/// A document attached to a version, as recorded in its provenance.
#[derive(Debug, Clone, Serialize)]
pub struct Attachment {
    /// Its name in the version (`_attachments/<name>`).
    pub name: String,
    /// Where it came from (a path, or `archive.zip!entry`).
    pub source: String,
    /// SHA-256 of its bytes.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// Scratch space for unpacked archives, removed however the ingest ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Ingests `request.files` into the store as one new version of `request.name`.
///
/// Nothing in the store changes unless every file converts: on any error (bad input, a full disk,
/// cancellation) the staged files are removed and the error names the file and line.
pub fn ingest(
    store: &Store,
    request: &IngestRequest,
    progress: &dyn Progress,
    cancel: &CancelToken,
) -> Result<IngestReport> {
    let started = Instant::now();
    static SCRATCH: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let scratch = Scratch(
        store
            .layout()
            .spill_dir()
            .join(format!("unpack-{}", SCRATCH.fetch_add(1, std::sync::atomic::Ordering::Relaxed))),
    );
    let (mut sources, mut documents) = preflight(&request.files, &scratch.0)?;
    if let Some(limit) = request.options.max_file_bytes
        && let Some(big) = sources.iter().find(|s| s.len > limit)
    {
        return Err(IngestError::Invalid {
            path: PathBuf::from(&big.shown),
            line: None,
            message: format!("it is {} bytes, more than the {limit} allowed (`--max-file-size`)", big.len),
            hint: Some("raise `--max-file-size`, or split the file".into()),
        });
    }
    let current = current_version(store, &request.name)?;
    // Overrides given before hold until others are given.
    let mut request = std::borrow::Cow::Borrowed(request);
    if request.options.schema.is_empty()
        && let Some(previous) = current.as_ref().and_then(|v| v.provenance["options"].get("schema"))
        && let Ok(previous) = serde_json::from_value::<schema::SchemaOverrides>(previous.clone())
    {
        request.to_mut().options.schema = previous;
    }
    let request = request.as_ref();
    let options_json = serde_json::to_value(&request.options).expect("options serialise");

    // Hashing first pays only when the current version may hold these very sources: then an
    // unchanged re-ingest costs one read and no conversion. Otherwise hash while DuckDB converts.
    let tables = if current.as_ref().is_some_and(|v| same_shape(&v.sources, &recorded(&sources, &documents))) {
        let hashes = hash_sources(&sources, progress, cancel)?;
        for (s, h) in sources.iter_mut().zip(hashes) {
            s.sha256 = h;
        }
        for d in &mut documents {
            d.sha256 = sha256_file(&d.file, |_| {})
                .map_err(|e| IngestError::Unreadable { path: d.file.clone(), source: e })?
                .0;
        }
        tracing::info!(seconds = started.elapsed().as_secs_f64(), "hashed sources");
        let expected = recorded(&sources, &documents);
        if let Some(outcome) = unchanged(store, &request.name, current.as_ref(), &expected, &options_json)? {
            return Ok(IngestReport {
                upload_id: upload_id(&outcome),
                outcome,
                tables: Vec::new(),
                relationships: Relationships::default(),
                documents: Vec::new(),
                seconds: started.elapsed().as_secs_f64(),
            });
        }
        Some(convert(store, request, &sources, &scratch.0, progress, cancel)?)
    } else {
        None
    };
    let (mut staging, tables, relationships) = match tables {
        Some(done) => done,
        None => {
            let stop_hashing = CancelToken::new();
            let (hashes, converted) = std::thread::scope(|scope| {
                let hasher = scope.spawn(|| hash_sources(&sources, &NoProgress, &stop_hashing));
                let converted = convert(store, request, &sources, &scratch.0, progress, cancel);
                if converted.is_err() {
                    stop_hashing.cancel();
                }
                (hasher.join().expect("hashing thread panicked"), converted)
            });
            let converted = converted?;
            for (s, h) in sources
                .iter_mut()
                .zip(hashes.map_err(|e| if cancel.is_cancelled() { IngestError::Cancelled } else { e })?)
            {
                s.sha256 = h;
            }
            converted
        }
    };
    failpoint::hit("ingest.after_convert");
    if let Some(s) = sources.iter().find(|s| changed_since(s)) {
        return Err(IngestError::Changed { path: s.path.clone() });
    }

    let mut attachments = Vec::new();
    for d in &mut documents {
        let name = d.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let (sha256, bytes) = staging.attach(&name, &d.file)?;
        d.sha256 = sha256.clone();
        attachments.push(Attachment { name, source: d.shown.clone(), sha256, bytes });
    }
    let source_files = recorded(&sources, &documents);
    let provenance = serde_json::json!({
        "tool": "cohort",
        "tool_version": cohort_store::VERSION,
        "command": "ingest",
        "options": options_json,
        "tables": tables,
        "relationships": relationships,
        "attachments": attachments,
    });
    tracing::info!(seconds = started.elapsed().as_secs_f64(), "committing");
    let outcome = staging.commit(VersionMeta {
        kind: DatasetKind::Upload,
        description: request.description.clone(),
        tags: request.tags.clone(),
        created_by: request.created_by.clone(),
        sources: source_files,
        provenance,
    })?;
    Ok(IngestReport {
        upload_id: upload_id(&outcome),
        outcome,
        tables,
        relationships,
        documents: attachments,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// SHA-256 of every source, in order.
fn hash_sources(sources: &[Source], progress: &dyn Progress, cancel: &CancelToken) -> Result<Vec<String>> {
    progress.begin("hashing sources", Some(sources.iter().map(|s| s.len).sum()));
    let mut out = Vec::with_capacity(sources.len());
    for s in sources {
        let (sha, _) = sha256_file(&s.path, |n| {
            progress.advance(n);
        })
        .map_err(|e| IngestError::Unreadable { path: s.path.clone(), source: e })?;
        if cancel.is_cancelled() {
            return Err(IngestError::Cancelled);
        }
        out.push(sha);
    }
    progress.finish();
    failpoint::hit("ingest.after_hash");
    Ok(out)
}

/// Converts every source into a table of a new staging area.
fn convert(
    store: &Store,
    request: &IngestRequest,
    sources: &[Source],
    scratch: &Path,
    progress: &dyn Progress,
    cancel: &CancelToken,
) -> Result<(Staging, Vec<TableReport>, Relationships)> {
    let mut staging = store.stage(&request.name)?;
    let spill = store.layout().spill_dir();
    fs_err::create_dir_all(&spill).map_err(cohort_store::StoreError::from)?;
    let conn = duck::open_engine(store.settings(), &spill)?;
    let mut tables = Vec::new();
    // Per table: its staged file and its columns as stored.
    let mut staged: Vec<(PathBuf, Vec<(String, String)>)> = Vec::new();
    for (index, s) in sources.iter().enumerate() {
        if cancel.is_cancelled() {
            return Err(IngestError::Cancelled);
        }
        let dir = staging.table_dir(&s.table)?;
        let target = dir.join("part-0.parquet");
        let mut stat_table = None;
        let overrides = &request.options.schema;
        let table_name = s.table.as_str();
        let converting = format!("converting {}", display_name(&s.path));
        let (dialect, coerced) = match s.format {
            Format::Csv { tab } => {
                progress.begin(&converting, Some(s.len));
                let mut csv_options = request.options.clone();
                csv_options.text_columns.extend(overrides.text_columns_for(table_name));
                let date_format = request.options.date_format.as_deref();
                let forced = |column: &str| {
                    let name = overrides.for_column(table_name, column)?.value_type.as_deref()?;
                    typing::ValueType::from_override(name, date_format)
                };
                let (dialect, coerced) =
                    csv::convert(&conn, &s.path, tab, &csv_options, &forced, &target, progress, cancel)?;
                (Some(dialect), coerced)
            }
            format => {
                let select = match format {
                    Format::Parquet => parquet::reader_sql(&conn, &s.path)?,
                    Format::Json => json::reader_sql(&conn, &s.path)?,
                    Format::Stat(kind) => {
                        // In this ingest's own scratch folder, which goes however the ingest ends.
                        fs_err::create_dir_all(scratch).map_err(cohort_store::StoreError::from)?;
                        let read = scratch.join(format!("stat-{index}.parquet"));
                        let table = stat::read_to_parquet(&s.path, kind, &read, progress, cancel)?;
                        let select = stat::select_with_labels(&read, &table);
                        stat_table = Some((table, read));
                        select
                    }
                    Format::Csv { .. } => unreachable!("handled above"),
                };
                let (typed, columns) = apply_types(&conn, &s.path, &select, &s.table, overrides)?;
                progress.begin(&converting, Some(s.len));
                match run::run_with_progress(&conn, &run::copy_sql(&typed, &target), &s.path, s.len, progress, cancel) {
                    Err(IngestError::Invalid { message, .. }) if typing::misfit_column(&message).is_some() => {
                        let (column, ty) = &columns[typing::misfit_column(&message).expect("checked")];
                        return Err(typed_misfit(&conn, &s.path, &select, column, ty));
                    }
                    Err(e) if format == Format::Parquet => return Err(parquet::damaged(&s.path, e)),
                    other => other?,
                }
                (None, Vec::new())
            }
        };
        progress.finish();
        tracing::info!(table = %s.table, "converted");
        let file_label = stat_table.as_ref().and_then(|(t, _)| t.file_label.clone());
        if let Some((table, read)) = stat_table {
            // Stored now: free the space before the next source.
            let _ = std::fs::remove_file(read);
            annotate_stat_columns(&mut staging, &s.table, &table);
        }
        let columns =
            run::describe(&conn, &format!("SELECT * FROM read_parquet({})", quote_literal(&target.to_string_lossy())))
                .map_err(|e| run::explain(&s.path, &e.to_string()))?;
        for (column, _) in &columns {
            if let Some(o) = overrides.for_column(s.table.as_str(), column)
                && (o.role.is_some() || o.label.is_some())
            {
                let mut notes = staging.notes(&s.table, column).cloned().unwrap_or_default();
                notes.role = o.role.clone().or(notes.role);
                notes.label = o.label.clone().or(notes.label);
                staging.annotate(&s.table, column, notes);
            }
        }
        let started = Instant::now();
        let quality = quality::assess(&conn, &target, &columns).map_err(|e| run::explain(&s.path, &e.to_string()))?;
        tracing::debug!(seconds = started.elapsed().as_secs_f64(), "assessed quality");
        staged.push((target, columns));
        tables.push(TableReport {
            table: s.table.to_string(),
            source: PathBuf::from(&s.shown),
            format: s.format,
            dialect,
            quality,
            file_label,
            coerced,
        });
    }
    let has_column = |t: &TableReport, cols: &[(String, String)], table: Option<&str>, column: &str| {
        table.is_none_or(|table| t.table == table) && cols.iter().any(|c| c.0 == column)
    };
    for name in request.options.schema.columns.keys() {
        let (table, column) = match name.split_once('.') {
            Some((table, column)) => (Some(table), column),
            None => (None, name.as_str()),
        };
        let found = tables.iter().zip(&staged).any(|(t, (_, cols))| has_column(t, cols, table, column));
        if !found {
            return Err(IngestError::Invalid {
                path: sources[0].path.clone(),
                line: None,
                message: format!("the schema names column `{name}`, which no table has"),
                hint: Some("write COLUMN or TABLE.COLUMN as `cohort dictionary` shows them".into()),
            });
        }
    }
    let staged: Vec<relationships::StagedTable> = tables
        .iter()
        .zip(&staged)
        .map(|(t, (file, columns))| relationships::StagedTable {
            name: &t.table,
            file,
            columns,
            candidate_keys: t.quality.as_ref().map(|q| q.candidate_keys.as_slice()).unwrap_or_default(),
        })
        .collect();
    let started = Instant::now();
    let detected = relationships::detect(&conn, &staged);
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "detected keys and relationships");
    let (keys, links) = detected
        .map_err(|e| IngestError::Store(cohort_store::StoreError::duckdb("detecting keys and relationships", e)))?;
    Ok((staging, tables, Relationships { keys, links }))
}

/// The keys and relationships found among an ingest's tables, stored in the version's provenance.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Relationships {
    /// Each table's key, for tables that have one.
    pub keys: Vec<cohort_store::KeyCandidate>,
    /// Columns that refer to another table's key.
    pub links: Vec<cohort_store::Relationship>,
}

/// `select` (of a Parquet, JSON or statistical file) with each column whose type `--type`
/// overrides converted to that type, and the overridden `(column, type)` pairs by the position a
/// misfit error names. A value that would not read back the same under the new type fails the
/// conversion ([`typed_misfit`] explains it) rather than being rounded or cut.
fn apply_types(
    conn: &duckdb::Connection,
    path: &Path,
    select: &str,
    table: &TableName,
    overrides: &schema::SchemaOverrides,
) -> Result<(String, Vec<(String, typing::ValueType)>)> {
    if overrides.is_empty() {
        return Ok((select.to_string(), Vec::new()));
    }
    typing::install(conn).map_err(|e| run::explain(path, &e.to_string()))?;
    let columns = run::describe(conn, select).map_err(|e| run::explain(path, &e.to_string()))?;
    let mut changed = Vec::new();
    let mut casts = Vec::new();
    for (name, source_type) in &columns {
        let Some(target) = overrides
            .for_column(table.as_str(), name)
            .and_then(|o| o.value_type.as_deref())
            .and_then(|t| typing::ValueType::from_override(t, None))
        else {
            continue;
        };
        if target.sql_type() == source_type {
            continue;
        }
        let q = cohort_store::name::quote_ident(name);
        let index = changed.len();
        let expr = if source_type == "VARCHAR" {
            typing::guarded(name, index, &target, typing::Notation::default())
        } else if target.is_text() {
            format!("CAST({q} AS VARCHAR)")
        } else {
            // A typed value converts when converting it back gives the value again.
            let t = target.sql_type();
            format!(
                "CASE WHEN {q} IS NULL THEN NULL WHEN CAST(TRY_CAST({q} AS {t}) AS {source_type}) = {q} \
                 THEN TRY_CAST({q} AS {t}) ELSE {} END",
                typing::misfit_error(index)
            )
        };
        casts.push(format!("{expr} AS {q}"));
        changed.push((name.clone(), target));
    }
    if casts.is_empty() {
        return Ok((select.to_string(), changed));
    }
    Ok((format!("SELECT * REPLACE ({}) FROM ({select})", casts.join(", ")), changed))
}

/// The error for a value of `column` that does not read back the same as `ty`, which `--type`
/// asked for: the column and the first such value.
fn typed_misfit(
    conn: &duckdb::Connection,
    path: &Path,
    select: &str,
    column: &str,
    ty: &typing::ValueType,
) -> IngestError {
    let q = cohort_store::name::quote_ident(column);
    let t = ty.sql_type();
    let example: Option<String> = conn
        .query_row(
            &format!(
                "SELECT CAST({q} AS VARCHAR) FROM ({select}) WHERE {q} IS NOT NULL AND \
                 (TRY_CAST({q} AS {t}) IS NULL OR CAST(TRY_CAST({q} AS {t}) AS VARCHAR) <> CAST({q} AS VARCHAR)) LIMIT 1"
            ),
            [],
            |r| r.get(0),
        )
        .ok();
    IngestError::Invalid {
        path: path.to_path_buf(),
        line: None,
        message: format!(
            "column `{column}`: {} is not {} (`--type` asked for it), and would change if converted",
            example.map(|e| format!("`{e}`")).unwrap_or_else(|| "a value".into()),
            ty.describe()
        ),
        hint: Some(format!("correct the value, or leave the column's type as it is (drop `--type {column}=...`)")),
    }
}

/// Records the labels, code lists and missing codes of a statistical file's columns, and marks
/// each `<column>_label` companion as the labelled value of its column.
fn annotate_stat_columns(staging: &mut Staging, table: &TableName, stat_table: &stat::StatTable) {
    let names: std::collections::HashSet<&str> = stat_table.columns.iter().map(|c| c.name.as_str()).collect();
    for c in &stat_table.columns {
        let mut notes = c.notes.clone();
        if notes.value_labels.is_some() {
            notes.role.get_or_insert_with(|| "category".into());
            let companion = cohort_store::ColumnNotes {
                label: Some(format!("{} (value label)", c.notes.label.as_deref().unwrap_or(&c.name))),
                role: Some("category".into()),
                ..Default::default()
            };
            staging.annotate(table, &stat::label_column_name(&c.name, &names), companion);
        }
        staging.annotate(table, &c.name, notes);
    }
}

/// Checks every file before any work: present, a regular readable file, not empty, a known
/// format, and no two files mapping to the same table. Archives are unpacked under `scratch`, each
/// table entry a source of its own; their document entries are returned apart.
fn preflight(files: &[PathBuf], scratch: &Path) -> Result<(Vec<Source>, Vec<Document>)> {
    let mut sources: Vec<Source> = Vec::new();
    let mut documents = Vec::new();
    for (n, given) in files.iter().enumerate() {
        let path = std::path::absolute(given).unwrap_or_else(|_| given.clone());
        let meta = checked_file(&path)?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let origin = (path.clone(), meta.len(), meta.modified().ok());
        let unpack_into = scratch.join(format!("{n}-{name}"));
        if archive::is_zip(&path) {
            let unpacked = archive::unpack(&path, &unpack_into, archive::Limits::default())?;
            documents.extend(
                unpacked
                    .documents
                    .into_iter()
                    .map(|(file, entry)| document(file, format!("{}!{entry}", path.display()))),
            );
            for (i, (file, entry)) in unpacked.tables.into_iter().enumerate() {
                let shown = format!("{}!{entry}", path.display());
                if excel::is_workbook(&file) {
                    for (sheet_file, sheet) in excel::unpack(&file, &unpack_into.join(format!(".sheets-{i}")))? {
                        let sheet_meta = checked_file(&sheet_file)?;
                        let sheet_shown = format!("{shown}!{sheet}");
                        add_source(&mut sources, sheet_file, sheet_shown, Some(origin.clone()), &sheet_meta)?;
                    }
                    continue;
                }
                let entry_meta = checked_file(&file)?;
                add_source(&mut sources, file, shown, Some(origin.clone()), &entry_meta)?;
            }
            continue;
        }
        if excel::is_workbook(&path) {
            for (file, sheet) in excel::unpack(&path, &unpack_into)? {
                let sheet_meta = checked_file(&file)?;
                let shown = format!("{}!{sheet}", path.display());
                add_source(&mut sources, file, shown, Some(origin.clone()), &sheet_meta)?;
            }
            continue;
        }
        let extension = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
        // `.txt` given on its own is delimited text; inside an archive it is a document.
        if extension != "txt" && archive::DOCUMENTS.contains(&extension.as_str()) {
            documents.push(document(path.clone(), path.to_string_lossy().into_owned()));
            continue;
        }
        add_source(&mut sources, path.clone(), path.to_string_lossy().into_owned(), None, &meta)?;
    }
    if sources.is_empty() {
        return Err(IngestError::Invalid {
            path: files.first().cloned().unwrap_or_default(),
            line: None,
            message: "there is no table to load (the archive holds only documents, or the workbook only empty sheets)"
                .into(),
            hint: Some(format!("cohort loads {}", format::SUPPORTED)),
        });
    }
    Ok((sources, documents))
}

/// `path`'s metadata, if it is a readable, non-empty regular file.
fn checked_file(path: &Path) -> Result<std::fs::Metadata> {
    let path = path.to_path_buf();
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(IngestError::NotFound { path }),
        Err(e) => return Err(IngestError::Unreadable { path, source: e }),
    };
    if !meta.is_file() {
        return Err(IngestError::NotAFile { path });
    }
    if let Err(e) = std::fs::File::open(&path) {
        return Err(IngestError::Unreadable { path, source: e });
    }
    if meta.len() == 0 {
        return Err(IngestError::Empty { path });
    }
    Ok(meta)
}

fn add_source(
    sources: &mut Vec<Source>,
    path: PathBuf,
    shown: String,
    archive: Option<(PathBuf, u64, Option<SystemTime>)>,
    meta: &std::fs::Metadata,
) -> Result<()> {
    let (format, stem) = format::detect(&path)?;
    let table = TableName::from_file_stem(&stem)?;
    if let Some(other) = sources.iter().find(|s| s.table == table) {
        return Err(IngestError::DuplicateTable {
            table: table.to_string(),
            first: PathBuf::from(&other.shown),
            second: PathBuf::from(shown),
        });
    }
    sources.push(Source {
        path,
        shown,
        archive,
        format,
        table,
        len: meta.len(),
        modified: meta.modified().ok(),
        sha256: String::new(),
    });
    Ok(())
}

/// Whether a source's size or modification time differs from when it was first looked at.
fn changed_since(s: &Source) -> bool {
    let (path, len, modified) = match &s.archive {
        Some((archive, len, modified)) => (archive, *len, *modified),
        None => (&s.path, s.len, s.modified),
    };
    match std::fs::metadata(path) {
        Ok(m) => m.len() != len || m.modified().ok() != modified,
        Err(_) => true,
    }
}

/// The dataset's current version, if it has one.
fn current_version(store: &Store, name: &DatasetName) -> Result<Option<VersionInfo>> {
    match store.versions(name) {
        Ok(versions) => Ok(versions.into_iter().find(|v| v.is_current)),
        Err(cohort_store::StoreError::DatasetNotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Whether `recorded` sources could be `sources`: same tables, same sizes, same order.
fn same_shape(recorded: &[SourceFile], expected: &[SourceFile]) -> bool {
    recorded.len() == expected.len()
        && recorded.iter().zip(expected).all(|(r, e)| r.bytes == e.bytes && r.table == e.table)
}

/// How a version records what it was made from: each table's source, then each attached
/// document (with no table).
fn recorded(sources: &[Source], documents: &[Document]) -> Vec<SourceFile> {
    let tables = sources.iter().map(|s| SourceFile {
        path: s.shown.clone(),
        sha256: s.sha256.clone(),
        bytes: s.len,
        table: Some(s.table.to_string()),
    });
    let documents = documents.iter().map(|d| SourceFile {
        path: d.shown.clone(),
        sha256: d.sha256.clone(),
        bytes: d.len,
        table: None,
    });
    tables.chain(documents).collect()
}

/// A document to attach, with its size (an unreadable one reads as empty and fails when attached).
fn document(file: PathBuf, shown: String) -> Document {
    let len = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    Document { file, shown, len, sha256: String::new() }
}

/// The current version, if it was made from exactly these sources with these options.
fn unchanged(
    store: &Store,
    name: &DatasetName,
    current: Option<&VersionInfo>,
    expected: &[SourceFile],
    options: &serde_json::Value,
) -> Result<Option<CommitOutcome>> {
    let Some(current) = current else { return Ok(None) };
    let same_sources = current.sources.len() == expected.len()
        && current.sources.iter().zip(expected).all(|(a, b)| a.sha256 == b.sha256 && a.table == b.table);
    let same_options = current.provenance.get("options") == Some(options);
    if same_sources && same_options && current.provenance.get("command").and_then(|c| c.as_str()) == Some("ingest") {
        // Make sure it is still readable before calling it unchanged.
        store.resolve(&VersionRef { dataset: name.clone(), version: Some(current.version) })?;
        return Ok(Some(CommitOutcome::Unchanged {
            dataset: name.clone(),
            version: current.version,
            content_hash: current.content_hash.clone(),
        }));
    }
    Ok(None)
}

fn display_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string())
}
