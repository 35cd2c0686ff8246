//! Statistics on a stored dataset: a [`Plan`] in, an [`Answer`] out.
//!
//! The plan names a dataset version, a table, filters and one analysis; [`run`] reads only the
//! columns it names, for the rows its filters keep (the filters run in DuckDB, as literals, never
//! SQL text), sets aside incomplete rows and counts them by column, and computes with
//! [`cohort_stats`]. The answer carries the effective plan, the version and its content hash,
//! the row counts, how each number was computed and any warnings: the same plan on the same
//! version gives the same bytes.

pub mod ask;
pub mod direct;
pub mod frame;
pub mod history;
pub mod plan;
mod run;

use cohort_store::{Session, Store, StoreError, VersionRef};
use serde::Serialize;

pub use frame::RowCounts;
pub use history::Timings;
pub use plan::{Analysis, Filter, Plan};
pub use run::{Coding, Compared, Contingency, Curve, Described, GroupSummary, Level, Output, Summary};

/// The version of the statistics engine, part of every answer and of the cache key.
pub const ENGINE: &str = concat!("cohort-stats ", env!("CARGO_PKG_VERSION"));

/// Why an analysis could not be run.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    /// The store could not be read, or the dataset or version does not exist.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The plan asks for something the data cannot give: a missing column, a text column where a
    /// number is needed, a bad filter.
    #[error("{0}")]
    Plan(String),
    /// The rows cannot answer: a group with one member, nobody left after the filters, an event
    /// column that is not 0/1.
    #[error("{0}")]
    Data(String),
    /// DuckDB refused the query that reads the rows.
    #[error("reading the rows: {0}")]
    Query(String),
    /// The rows would take more memory than the analysis may use.
    #[error("{0}")]
    TooBig(String),
}

/// An analysis answered, with everything needed to trust or reproduce it.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    /// The plan as run (defaults filled in: the table, alpha).
    pub plan: Plan,
    /// The version analysed, `NAME@N` (`NAME@N#COHORT` for a registry's saved cohort).
    pub dataset: String,
    /// The table analysed.
    pub table: String,
    /// SHA-256 of the table's content (of its files' SHA-256).
    pub content_sha256: String,
    /// The statistics engine and its version.
    pub engine: String,
    /// Rows in the table, kept by the filters, used, and left out for missing values.
    pub rows: RowCounts,
    /// How the numbers were computed, one sentence per method.
    pub method: Vec<String>,
    /// What the reader should know before trusting the numbers.
    pub warnings: Vec<String>,
    /// The answer in one line, as the history lists it.
    pub summary: String,
    /// The numbers.
    pub result: Output,
}

/// A plan's dataset version and table resolved: what its answer depends on.
struct Resolved {
    version: cohort_store::ResolvedVersion,
    /// The table; for the unified view, a stand-in whose columns are filled in once it is built.
    table: cohort_store::TableInfo,
    /// The unified view's SQL, when the plan asks for it.
    unified_sql: Option<String>,
    effective: Plan,
    /// The registry's saved cohort the rows are narrowed to (`NAME#COHORT`).
    cohort: Option<cohort_registry::reference::CohortMembers>,
}

/// `NAME[@N]#COHORT` split into the version reference and the saved cohort's name.
pub fn split_cohort(dataset: &str) -> (&str, Option<&str>) {
    match dataset.split_once('#') {
        Some((reference, cohort)) => (reference, Some(cohort)),
        None => (dataset, None),
    }
}

/// The dataset's name in a plan's `dataset` (`NAME`, `NAME@N`, `NAME#COHORT`).
pub fn dataset_name(dataset: &str) -> &str {
    dataset.split(['@', '#']).next().unwrap_or(dataset)
}

impl Resolved {
    /// The version analysed as the answer names it: `NAME@N`, or `NAME@N#COHORT`.
    fn label(&self) -> String {
        match &self.cohort {
            Some(c) => format!("{}#{}", self.version.label(), c.name),
            None => self.version.label(),
        }
    }
}

fn cohort_error(e: cohort_registry::RegistryError) -> AnalyzeError {
    match e {
        cohort_registry::RegistryError::Store(e) => AnalyzeError::Store(e),
        other => AnalyzeError::Plan(other.to_string()),
    }
}

/// The name the unified view goes by in answers.
pub const UNIFIED: &str = "unified";

/// The version `reference` names, with its unified view: the view's SQL, and a stand-in table
/// whose content hash covers every table it reads and the SQL itself (a relationship decided
/// later changes the view).
fn unified_view(
    store: &Store,
    reference: &VersionRef,
    root: Option<&str>,
) -> Result<(cohort_store::ResolvedVersion, String, cohort_store::TableInfo), AnalyzeError> {
    // One catalog read for the version and its record.
    let detail = store.detail(reference)?;
    let version = &detail.shown;
    let info =
        detail.shown_info().ok_or_else(|| AnalyzeError::Plan(format!("{} has no version record", version.label())))?;
    let decisions = store.relationship_decisions(&reference.dataset)?;
    let relations = crate::relations::relations(version, info, &decisions);
    let view = crate::relations::unified(store, version, &relations, root).map_err(|e| {
        AnalyzeError::Plan(format!(
            "the unified view of {}: {e}; confirm a relationship with `cohort relate {} --add CHILD.COLUMN=PARENT.KEY`, \
             or name the participant table",
            version.label(),
            reference.dataset
        ))
    })?;
    let parts: Vec<&str> = version.tables.iter().map(|t| t.sha256.as_str()).chain([view.sql.as_str()]).collect();
    let stand_in = cohort_store::TableInfo {
        name: UNIFIED.to_string(),
        rows: 0,
        bytes: 0,
        sha256: cohort_store::hash::sha256_parts(parts),
        path: String::new(),
        arrow_schema: serde_json::Value::Null,
        files: Vec::new(),
        columns: Vec::new(),
    };
    Ok((detail.shown.clone(), view.sql, stand_in))
}

fn resolve(store: &Store, plan: &Plan) -> Result<Resolved, AnalyzeError> {
    let (dataset, cohort_name) = split_cohort(&plan.dataset);
    let reference = VersionRef::parse(dataset)?;
    let members = |version: &cohort_store::ResolvedVersion| {
        cohort_name
            .map(|name| cohort_registry::reference::cohort_members(store, version, name).map_err(cohort_error))
            .transpose()
    };
    if plan.unified {
        let version = store.resolve(&reference)?;
        let cohort = members(&version)?;
        // A cohort's unified view is rooted at its participant table, so that the view's rows
        // are its participants.
        let root = match (&cohort, plan.table.as_deref()) {
            (Some(c), Some(t)) if t != c.participants.0 => {
                return Err(AnalyzeError::Plan(format!(
                    "cohort `{}` is of participants of `{}`: its unified view starts there, not at `{t}`",
                    c.name, c.participants.0
                )));
            }
            (Some(c), _) => Some(c.participants.0.as_str()),
            (None, t) => t,
        };
        let (version, sql, table) = unified_view(store, &reference, root)?;
        check_alpha(plan.alpha)?;
        return Ok(Resolved { version, table, unified_sql: Some(sql), effective: plan.clone(), cohort });
    }
    let version = store.resolve(&reference)?;
    let table = pick_table(&version, plan.table.as_deref())?.clone();
    let cohort = members(&version)?;
    if let Some(c) = &cohort
        && c.participant_column(&table.name).is_none()
    {
        let narrowed: Vec<&str> =
            [Some(&c.participants), c.visits.as_ref()].into_iter().flatten().map(|t| t.0.as_str()).collect();
        return Err(AnalyzeError::Plan(format!(
            "cohort `{}` narrows {}; table `{}` is not one of them (analyse it without the cohort, or one of those)",
            c.name,
            narrowed.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(" and "),
            table.name
        )));
    }
    check_alpha(plan.alpha)?;
    let mut effective = plan.clone();
    effective.table = Some(table.name.clone());
    Ok(Resolved { version, table, unified_sql: None, effective, cohort })
}

/// The table `name` of `version`, or its only table when no name is given.
pub fn pick_table<'a>(
    version: &'a cohort_store::ResolvedVersion,
    name: Option<&str>,
) -> Result<&'a cohort_store::TableInfo, AnalyzeError> {
    match name {
        Some(name) => version.table(name).ok_or_else(|| {
            AnalyzeError::Store(StoreError::TableNotFound {
                dataset: version.dataset.to_string(),
                table: name.to_string(),
                available: version.tables.iter().map(|t| t.name.clone()).collect(),
            })
        }),
        None if version.tables.len() == 1 => Ok(&version.tables[0]),
        None => Err(AnalyzeError::Plan(format!(
            "{} has {} tables; say which with `table` (--table): {}",
            version.label(),
            version.tables.len(),
            version.tables.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

fn check_alpha(alpha: f64) -> Result<(), AnalyzeError> {
    if alpha > 0.0 && alpha < 1.0 {
        Ok(())
    } else {
        Err(AnalyzeError::Plan(format!("alpha must be between 0 and 1 (0.05 gives 95% intervals), not {alpha}")))
    }
}

/// Builds the unified view in `session` (one row per participant, so small) and describes it as a
/// table: its columns' types, and the labels and code lists of columns it takes from the tables.
fn build_unified(
    session: &Session,
    version: &cohort_store::ResolvedVersion,
    sql: &str,
    stand_in: &cohort_store::TableInfo,
) -> Result<(String, cohort_store::TableInfo), AnalyzeError> {
    let query = |e: duckdb::Error| AnalyzeError::Query(e.to_string());
    let conn = session.connection();
    conn.execute_batch(&format!("CREATE OR REPLACE TEMP TABLE cohort_unified_view AS {sql}")).map_err(query)?;
    let columns = describe_columns(session, version, "SELECT * FROM cohort_unified_view")?;
    let rows: i64 = conn.query_row("SELECT count(*) FROM cohort_unified_view", [], |r| r.get(0)).map_err(query)?;
    let table = cohort_store::TableInfo { rows: rows as u64, columns, ..stand_in.clone() };
    Ok(("cohort_unified_view".to_string(), table))
}

/// The columns `select` gives (DuckDB plans it, runs nothing), with the role, label and code
/// list of those it takes unchanged from the version's tables.
fn describe_columns(
    session: &Session,
    version: &cohort_store::ResolvedVersion,
    select: &str,
) -> Result<Vec<cohort_store::ColumnInfo>, AnalyzeError> {
    let described: Vec<(String, String)> =
        crate::query_rows(session, &format!("DESCRIBE {select}"), |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| AnalyzeError::Query(e.to_string()))?;
    let from_tables = |name: &str| version.tables.iter().flat_map(|t| &t.columns).find(|c| c.name == name);
    Ok(described
        .into_iter()
        .enumerate()
        .map(|(i, (name, sql_type))| {
            let known = from_tables(&name);
            cohort_store::ColumnInfo {
                ordinal: i as u32,
                sql_type: sql_type.clone(),
                arrow_type: String::new(),
                nullable: true,
                role: known.and_then(|c| c.role.clone()),
                label: known.and_then(|c| c.label.clone()),
                null_count: None,
                min: None,
                max: None,
                value_labels: known.filter(|c| c.sql_type == sql_type).and_then(|c| c.value_labels.clone()),
                missing: None,
                name,
            }
        })
        .collect())
}

/// Understands `question` about `dataset`'s table `table` (or its only table) as a plan, from the
/// table's data dictionary (names, labels, types, distinct values).
pub fn understand(
    store: &Store,
    session: &Session,
    dataset: &str,
    table: Option<&str>,
    question: &str,
) -> Result<ask::Understood, AnalyzeError> {
    let version = store.resolve(&VersionRef::parse(split_cohort(dataset).0)?)?;
    let table = pick_table(&version, table)?;
    let dictionary = crate::dictionary::table_dictionary(store, session, table)?;
    Ok(understand_with(dataset, table, &dictionary, question))
}

/// [`understand`] over `dataset`'s unified view (one row per participant): the words are matched
/// against its columns, the related tables' counts and means among them, and the plan runs on it.
pub fn understand_unified(
    store: &Store,
    session: &Session,
    dataset: &str,
    question: &str,
) -> Result<ask::Understood, AnalyzeError> {
    let (version, sql, stand_in) = unified_view(store, &VersionRef::parse(split_cohort(dataset).0)?, None)?;
    let (source, view) = build_unified(session, &version, &sql, &stand_in)?;
    let dictionary = crate::dictionary::source_dictionary(session, &source, &view)?;
    let mut understood = ask::understand(question, dataset, &stand_in.name, &dictionary, view.rows);
    if let ask::Understood::Plan { plan, .. } = &mut understood {
        // The view finds its participant table itself, as a plan written for it does.
        (plan.unified, plan.table) = (true, None);
    }
    Ok(understood)
}

/// [`understand`] with the dictionary at hand (the server caches it).
pub fn understand_with(
    dataset: &str,
    table: &cohort_store::TableInfo,
    dictionary: &[crate::dictionary::DictionaryEntry],
    question: &str,
) -> ask::Understood {
    ask::understand(question, dataset, &table.name, dictionary, table.rows)
}

/// The columns of `dataset`'s unified view (described, not built), for a page that lets people
/// pick variables from it.
pub fn unified_columns(
    store: &Store,
    session: &Session,
    dataset: &str,
) -> Result<Vec<cohort_store::ColumnInfo>, AnalyzeError> {
    let (version, sql, _) = unified_view(store, &VersionRef::parse(split_cohort(dataset).0)?, None)?;
    describe_columns(session, &version, &sql)
}

/// Runs `plan` on `store`, noting in `timings` where the time went.
fn run_timed(store: &Store, session: &Session, plan: &Plan, timings: &mut Timings) -> Result<Answer, AnalyzeError> {
    let started = std::time::Instant::now();
    let resolved = resolve(store, plan)?;
    timings.resolve = started.elapsed().as_secs_f64();
    answer(store, session, &resolved, timings)
}

fn answer(store: &Store, session: &Session, r: &Resolved, timings: &mut Timings) -> Result<Answer, AnalyzeError> {
    let started = std::time::Instant::now();
    let (version, plan) = (&r.version, &r.effective);
    let (source, built) = match (&r.unified_sql, &r.cohort) {
        (Some(sql), cohort) => {
            let sql = match cohort {
                Some(c) => format!("SELECT * FROM {}", c.narrow(&format!("({sql})"), &c.participants.1)),
                None => sql.clone(),
            };
            let (source, table) = build_unified(session, version, &sql, &r.table)?;
            (source, Some(table))
        }
        (None, Some(c)) => {
            let column = c.participant_column(&r.table.name).expect("checked by resolve");
            let source = c.narrow(&cohort_store::table_source(store, &r.table), column);
            let rows: i64 = session
                .connection()
                .query_row(&format!("SELECT count(*) FROM {source}"), [], |row| row.get(0))
                .map_err(|e| AnalyzeError::Query(e.to_string()))?;
            (source, Some(cohort_store::TableInfo { rows: rows.max(0) as u64, ..r.table.clone() }))
        }
        (None, None) => (cohort_store::table_source(store, &r.table), None),
    };
    let table = built.as_ref().unwrap_or(&r.table);
    let stored = built.is_none().then_some(store);
    let columns = plan.analysis.columns();
    let frame = frame::load(session, stored, &source, table, &columns, &plan.filters, store.settings().memory_limit)?;
    timings.read = started.elapsed().as_secs_f64();
    if frame.rows == 0 {
        return Err(AnalyzeError::Data(if plan.filters.is_empty() {
            format!("table `{}` of {} has no rows", table.name, version.label())
        } else {
            format!("the filters leave no rows of the {} in table `{}`: loosen them", table.rows, table.name)
        }));
    }
    let started = std::time::Instant::now();
    let computed = run::compute(&frame, plan)?;
    timings.compute = started.elapsed().as_secs_f64();
    tracing::debug!(rows = frame.rows, ?timings, "analysis computed");
    let mut warnings = computed.warnings;
    if let Some(c) = r.cohort.as_ref().filter(|c| c.made_on_version != version.version) {
        warnings.push(format!(
            "cohort `{}` was made on version {}; computed on version {}, so its participants may differ from when it was made",
            c.name, c.made_on_version, version.version
        ));
    }
    Ok(Answer {
        plan: plan.clone(),
        dataset: r.label(),
        table: table.name.clone(),
        content_sha256: table.sha256.clone(),
        engine: ENGINE.to_string(),
        summary: computed.output.summary(&computed.rows),
        rows: computed.rows,
        method: computed.method,
        warnings,
        result: computed.output,
    })
}

/// An answer as JSON text, and whether it came from the cache (answers are cached by version,
/// content hash, engine, this build and the canonical plan).
#[derive(Debug, Clone)]
pub struct Reply {
    /// The answer, pretty-printed JSON: the same bytes for the same plan and version.
    pub json: String,
    /// The version analysed (`NAME@N`).
    pub dataset: String,
    /// Rows used.
    pub rows: u64,
    /// The answer in a line.
    pub summary: String,
    /// Whether it was read from the cache rather than computed.
    pub cached: bool,
    /// Where the time went, when it was computed.
    pub timings: Option<Timings>,
}

/// The cache key: the version, its content, the engine and the effective plan.
fn cache_key(r: &Resolved) -> String {
    // A cohort's filters are part of it: a cohort saved again under its name is another cohort.
    let cohort = r.cohort.as_ref().map(|c| format!("{}\n{}", c.made_on_version, c.filters.join("\n")));
    cohort_store::hash::sha256_parts([
        r.version.label().as_str(),
        r.table.sha256.as_str(),
        ENGINE,
        build().as_str(),
        r.effective.canonical().as_str(),
        cohort.as_deref().unwrap_or(""),
    ])
}

/// This build of the program (its size and modification time): a cached answer is only ever
/// served by the build that computed it, so an upgrade that changes a method (within the same
/// version number) never serves the old method's answer.
fn build() -> &'static String {
    static BUILD: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BUILD.get_or_init(|| {
        std::env::current_exe()
            .and_then(std::fs::metadata)
            .map(|m| {
                let modified = m.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
                format!("{}:{}", m.len(), modified.map_or(0, |d| d.as_nanos()))
            })
            .unwrap_or_default()
    })
}

/// Runs `plan`, or reads its answer from the cache (keyed by version, content hash, canonical
/// plan and engine), and records the run in the history as `by`, whether it answered or not.
pub fn run_recorded(store: &Store, session: &Session, plan: &Plan, by: &str) -> Result<Reply, AnalyzeError> {
    let started = std::time::Instant::now();
    let result = cached_reply(store, session, plan);
    let outcome = result.as_ref().map(|r| Outcome {
        dataset: r.dataset.clone(),
        rows: r.rows,
        summary: r.summary.clone(),
        cached: r.cached,
        timings: r.timings,
    });
    remember(store, plan, by, outcome, started);
    result
}

/// Runs `plan` afresh (for a caller that shows the typed answer) and records it as `by`.
pub fn run_fresh_recorded(store: &Store, session: &Session, plan: &Plan, by: &str) -> Result<Answer, AnalyzeError> {
    let started = std::time::Instant::now();
    let mut timings = Timings::default();
    let result = run_timed(store, session, plan, &mut timings);
    let outcome = result.as_ref().map(|a| Outcome {
        dataset: a.dataset.clone(),
        rows: a.rows.used,
        summary: a.summary.clone(),
        cached: false,
        timings: Some(timings),
    });
    remember(store, plan, by, outcome, started);
    result
}

/// What the history keeps of a run that answered.
struct Outcome {
    dataset: String,
    rows: u64,
    summary: String,
    cached: bool,
    timings: Option<Timings>,
}

fn remember(
    store: &Store,
    plan: &Plan,
    by: &str,
    outcome: Result<Outcome, &AnalyzeError>,
    started: std::time::Instant,
) {
    let (ok, error) = match outcome {
        Ok(ok) => (Some(ok), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let entry = history::Entry {
        at: jiff::Timestamp::now(),
        by: by.to_string(),
        plan: plan.clone(),
        dataset: ok.as_ref().map(|o| o.dataset.clone()),
        rows: ok.as_ref().map(|o| o.rows),
        summary: ok.as_ref().map(|o| o.summary.clone()),
        cached: ok.as_ref().is_some_and(|o| o.cached),
        error,
        seconds: started.elapsed().as_secs_f64(),
        timings: ok.and_then(|o| o.timings),
    };
    if let Err(e) = history::record(store, &entry) {
        tracing::warn!(error = %e, "could not record the analysis in the history");
    }
}

fn cached_reply(store: &Store, session: &Session, plan: &Plan) -> Result<Reply, AnalyzeError> {
    let started = std::time::Instant::now();
    let resolved = resolve(store, plan)?;
    let mut timings = Timings { resolve: started.elapsed().as_secs_f64(), ..Timings::default() };
    let path = store.layout().analysis_cache().join(format!("{}.json", cache_key(&resolved)));
    if let Ok(json) = std::fs::read_to_string(&path)
        && let Ok(value) = serde_json::from_str::<serde_json::Value>(&json)
    {
        return Ok(Reply {
            dataset: resolved.label(),
            rows: value["rows"]["used"].as_u64().unwrap_or(0),
            summary: value["summary"].as_str().unwrap_or_default().to_string(),
            json,
            cached: true,
            timings: None,
        });
    }
    let answer = answer(store, session, &resolved, &mut timings)?;
    let json = serde_json::to_string_pretty(&answer).expect("an answer serialises");
    // The cache only saves time: an answer that cannot be kept is still given.
    let kept = std::fs::create_dir_all(store.layout().analysis_cache())
        .and_then(|_| cohort_store::fsutil::write_atomic(&path, json.as_bytes()));
    if let Err(e) = kept {
        tracing::warn!(error = %e, "could not cache the analysis");
    }
    Ok(Reply {
        dataset: answer.dataset,
        rows: answer.rows.used,
        summary: answer.summary,
        json,
        cached: false,
        timings: Some(timings),
    })
}
