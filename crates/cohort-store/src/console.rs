//! SQL that people type into the web app's console: one read-only `SELECT` over the store's
//! datasets and nothing else, under a time limit, a page at a time, each run recorded in the
//! query history.
//!
//! Three fences, each enough on its own for most attacks: DuckDB itself must accept the text as
//! one SELECT (`json_serialize_sql` refuses anything else: COPY, ATTACH, INSTALL, SET, PRAGMA,
//! writes); external access is then switched off with only the folders of the dataset versions
//! the query names (and the account may see) readable, so `read_csv('/etc/passwd')` fails, and so
//! does reading the store's scratch folder, catalog, accounts or audit log (spilling to `tmp/`
//! still works: DuckDB's own temporary files are not reads by the query); and the configuration is
//! locked, so a statement cannot turn either back on.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use duckdb::Connection;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};
use crate::name::{quote_ident, quote_literal};
use crate::query::{Session, referenced_versions};
use crate::store::Store;

/// A page of a console query's result.
#[derive(Debug, Clone, Serialize)]
pub struct ConsoleResult {
    /// Result columns, in order.
    pub columns: Vec<String>,
    /// The page's rows, each as a JSON object keyed by column.
    pub rows: Vec<String>,
    /// Rows in the whole result.
    pub total: u64,
    /// Position of the page's first row.
    pub offset: u64,
    /// Rows asked for.
    pub limit: u64,
    /// Seconds the query took.
    pub seconds: f64,
    /// Dataset versions the query read (`NAME@N`).
    pub datasets: Vec<String>,
}

/// One run of the console, as the history keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// When it ran.
    pub at: Timestamp,
    /// Who ran it.
    pub by: String,
    /// The SQL.
    pub sql: String,
    /// Dataset versions it read (`NAME@N`).
    pub datasets: Vec<String>,
    /// Rows in the result, if it succeeded.
    pub rows: Option<u64>,
    /// Seconds it took.
    pub seconds: f64,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// Runs `sql` in the console: a page of `limit` rows from `offset`, stopped after `timeout`.
/// Only datasets `may_read` accepts are mounted (and their files readable): to the query, the
/// others do not exist. Records the run (success or failure) in the history as `by`.
pub fn run_console(
    store: &Store,
    sql: &str,
    offset: u64,
    limit: u64,
    timeout: Duration,
    by: &str,
    reader: &Reader<'_>,
) -> Result<ConsoleResult> {
    let started = Instant::now();
    let sql = sql.trim().trim_end_matches(';').trim();
    let mut datasets = Vec::new();
    let result = run(store, sql, offset, limit, timeout, reader, &mut datasets);
    let entry = HistoryEntry {
        at: Timestamp::now(),
        by: by.to_string(),
        sql: sql.to_string(),
        datasets: datasets.clone(),
        rows: result.as_ref().ok().map(|r| r.total),
        seconds: started.elapsed().as_secs_f64(),
        error: result.as_ref().err().map(|e| e.to_string()),
    };
    record(store, &entry)?;
    result.map(|mut r| {
        r.seconds = entry.seconds;
        r
    })
}

fn run(
    store: &Store,
    sql: &str,
    offset: u64,
    limit: u64,
    timeout: Duration,
    reader: &Reader<'_>,
    datasets: &mut Vec<String>,
) -> Result<ConsoleResult> {
    let sandbox = Sandbox::open(store, sql, reader, false)?;
    *datasets = sandbox.datasets.clone();
    let conn = sandbox.session.connection();
    let wrapped = &sandbox.wrapped;
    let columns = with_deadline(conn, timeout, || {
        let mut stmt = conn.prepare(&format!("SELECT * FROM {wrapped} LIMIT 0"))?;
        // Column names are known once the statement has run.
        let _ = stmt.query([])?;
        Ok(stmt.column_names())
    })?;
    let total: i64 =
        with_deadline(conn, timeout, || conn.query_row(&format!("SELECT count(*) FROM {wrapped}"), [], |r| r.get(0)))?;
    let rows = with_deadline(conn, timeout, || {
        let mut stmt = conn.prepare(&format!(
            "SELECT to_json({})::VARCHAR FROM {wrapped} LIMIT {limit} OFFSET {offset}",
            quote_ident("q")
        ))?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect::<std::result::Result<Vec<_>, _>>()
    })?;
    Ok(ConsoleResult {
        columns,
        rows,
        total: total.max(0) as u64,
        offset,
        limit,
        seconds: 0.0,
        datasets: datasets.clone(),
    })
}

/// What a console export's writer is given.
pub struct ConsoleExport<'a> {
    /// The sandboxed connection the query runs on.
    pub connection: &'a Connection,
    /// The query as a `SELECT` to wrap (`COPY (...) TO`, `SELECT count(*) FROM (...)`).
    pub select: String,
    /// Its result's columns: name and DuckDB type.
    pub columns: Vec<(String, String)>,
    /// A folder of the run's own, the one place the sandbox lets it write: removed with everything
    /// in it when the run ends, so open what is written there before returning.
    pub folder: &'a std::path::Path,
}

/// Runs `sql` in the console's sandbox, as [`run_console`] does, and hands the whole result to
/// `write` (a download), which says how many rows it wrote. Stopped after `timeout`; recorded in
/// the history as `by`. Returns what `write` returned and the dataset versions read.
pub fn export_console<T, E: From<StoreError> + std::fmt::Display>(
    store: &Store,
    sql: &str,
    timeout: Duration,
    by: &str,
    reader: &Reader<'_>,
    write: impl FnOnce(&ConsoleExport<'_>) -> std::result::Result<(T, u64), E>,
) -> std::result::Result<(T, Vec<String>), E> {
    let started = Instant::now();
    let sql = sql.trim().trim_end_matches(';').trim();
    let mut datasets = Vec::new();
    let result = (|| {
        let sandbox = Sandbox::open(store, sql, reader, true)?;
        datasets = sandbox.datasets.clone();
        let conn = sandbox.session.connection();
        let columns = with_deadline(conn, timeout, || {
            let mut stmt = conn.prepare(&format!("DESCRIBE SELECT * FROM {}", sandbox.wrapped))?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            rows.collect::<std::result::Result<Vec<_>, _>>()
        })?;
        let export = ConsoleExport {
            connection: conn,
            select: format!("SELECT * FROM {}", sandbox.wrapped),
            columns,
            folder: &sandbox.spill.0,
        };
        let (result, timed_out) = interrupt_after(conn, timeout, || write(&export));
        match result {
            Err(_) if timed_out => Err(E::from(StoreError::QueryTimeout { seconds: timeout.as_secs() })),
            other => other,
        }
    })();
    let error = result.as_ref().err().map(|e| e.to_string());
    let entry = HistoryEntry {
        at: Timestamp::now(),
        by: by.to_string(),
        sql: sql.to_string(),
        datasets: datasets.clone(),
        rows: result.as_ref().ok().map(|(_, rows)| *rows),
        seconds: started.elapsed().as_secs_f64(),
        error,
    };
    record(store, &entry)?;
    result.map(|(value, _)| (value, datasets))
}

/// Who runs a console query: which datasets they may read, and the views a layer above adds
/// to the session before it is locked down, over datasets it mounted (the registry's saved
/// cohorts).
pub struct Reader<'a> {
    /// Whether they may read a dataset, by name.
    pub may_read: &'a dyn Fn(&str) -> bool,
    /// Adds views to the session: [`no_mounts`] for none.
    pub mounts: &'a dyn Fn(&mut Session) -> Result<()>,
}

impl<'a> Reader<'a> {
    /// A reader of the datasets `may_read` allows, with no views added.
    pub fn of(may_read: &'a dyn Fn(&str) -> bool) -> Self {
        Reader { may_read, mounts: &no_mounts }
    }
}

/// No views beyond the datasets the SQL names.
pub fn no_mounts(_: &mut Session) -> Result<()> {
    Ok(())
}

/// A console session ready to run `sql`: the datasets it names (and the account may read)
/// mounted, the text checked to be one SELECT, and the session locked down.
struct Sandbox {
    /// Dropped before the spill folder, whose files DuckDB may still hold.
    session: Session,
    spill: OwnSpill,
    /// `(sql) AS q`.
    wrapped: String,
    /// Versions mounted (`NAME@N`).
    datasets: Vec<String>,
}

impl Sandbox {
    /// `writable`: whether the query may write into its own spill folder (an export does).
    fn open(store: &Store, sql: &str, reader: &Reader<'_>, writable: bool) -> Result<Sandbox> {
        let may_read = reader.may_read;
        if sql.is_empty() {
            return Err(StoreError::QueryRefused { reason: "the query is empty".into() });
        }
        // DuckDB lets a query read its own temporary directory whatever `allowed_directories`
        // says: each console run spills into a folder of its own, which holds nothing but its own
        // spill and goes when the run ends.
        let spill = OwnSpill::new(store)?;
        let mut session = Session::new(store)?;
        session
            .connection()
            .execute_batch(&format!("SET temp_directory = {}", quote_literal(&spill.0.to_string_lossy())))
            .map_err(|e| StoreError::duckdb("giving the console's session its own spill folder", e))?;
        let mut allowed = Vec::new();
        // Names the account may not read are left out before anything is looked up, so that the
        // answer for them (`secret@99`) is the answer for a name that does not exist.
        let references: Vec<_> =
            referenced_versions(sql).into_iter().filter(|r| may_read(r.dataset.as_str())).collect();
        for (reference, version) in store.resolve_existing(&references)? {
            session.mount(store, &version, &reference.to_string())?;
            allowed.push(store.layout().dataset_dir(version.dataset_id));
        }
        if writable {
            allowed.push(spill.0.clone());
        }
        // Views a layer above adds (saved cohorts) read the datasets mounted above, no others.
        (reader.mounts)(&mut session)?;
        let datasets = session.mounted();
        check_one_select(session.connection(), sql)?;
        lock_down(session.connection(), &allowed)?;
        Ok(Sandbox { session, spill, wrapped: format!("(\n{sql}\n) AS {}", quote_ident("q")), datasets })
    }
}

/// A console run's own spill folder under the store's, removed with what is in it when dropped
/// (after the session, whose temporary files are gone by then).
struct OwnSpill(std::path::PathBuf);

impl OwnSpill {
    fn new(store: &Store) -> Result<OwnSpill> {
        static RUN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let dir = store.layout().spill_dir().join(format!("console-{}", RUN.fetch_add(1, Ordering::Relaxed)));
        fs_err::create_dir_all(&dir)?;
        Ok(OwnSpill(dir))
    }
}

impl Drop for OwnSpill {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Refuses anything but exactly one SELECT, as DuckDB's own parser sees it.
fn check_one_select(conn: &Connection, sql: &str) -> Result<()> {
    let parsed: String =
        conn.query_row("SELECT json_serialize_sql(?)::VARCHAR", [sql], |r| r.get(0)).map_err(StoreError::sql)?;
    let parsed: serde_json::Value = serde_json::from_str(&parsed)
        .map_err(|e| StoreError::Inconsistent(format!("DuckDB's parse of a query is not JSON: {e}")))?;
    if parsed["error"].as_bool() == Some(true) {
        let message = parsed["error_message"].as_str().unwrap_or("it cannot be parsed");
        if message.contains("Only SELECT statements") {
            let reason = "only SELECT queries run here: the console cannot write, copy, attach, install, load or                           change settings";
            return Err(StoreError::QueryRefused { reason: reason.into() });
        }
        // A query that does not parse is a mistake to correct (`SELEC`), not a refusal.
        return Err(StoreError::Sql { message: format!("the query cannot be parsed: {message}") });
    }
    match parsed["statements"].as_array().map(Vec::len) {
        Some(1) => Ok(()),
        _ => Err(StoreError::QueryRefused { reason: "run one statement at a time".into() }),
    }
}

/// Lets the session read only the files of the datasets mounted (`readable`), and freezes its
/// settings. The store's scratch folder is not among them: uploads wait and downloads are written
/// there, and DuckDB spills to its temporary directory without it being readable to queries.
fn lock_down(conn: &Connection, readable: &[std::path::PathBuf]) -> Result<()> {
    let allowed: Vec<String> = readable.iter().map(|dir| quote_literal(&format!("{}/", dir.display()))).collect();
    conn.execute_batch(&format!(
        "SET allowed_directories = [{}];
         SET enable_external_access = false;
         SET lock_configuration = true;",
        allowed.join(", ")
    ))
    .map_err(|e| StoreError::duckdb("sandboxing the console's session", e))
}

/// Runs `work` on `conn`, interrupting it when `timeout` passes.
fn with_deadline<T>(conn: &Connection, timeout: Duration, work: impl FnOnce() -> duckdb::Result<T>) -> Result<T> {
    let (result, timed_out) = interrupt_after(conn, timeout, work);
    match result {
        Ok(v) => Ok(v),
        Err(_) if timed_out => Err(StoreError::QueryTimeout { seconds: timeout.as_secs() }),
        Err(e) => Err(StoreError::sql(e)),
    }
}

/// Runs `work`, interrupting whatever `conn` is running when `timeout` passes; says whether it did.
fn interrupt_after<T>(conn: &Connection, timeout: Duration, work: impl FnOnce() -> T) -> (T, bool) {
    let interrupt = conn.interrupt_handle();
    let done = AtomicBool::new(false);
    let timed_out = AtomicBool::new(false);
    let result = std::thread::scope(|scope| {
        scope.spawn(|| {
            let deadline = Instant::now() + timeout;
            while !done.load(Ordering::Acquire) {
                if Instant::now() >= deadline {
                    timed_out.store(true, Ordering::Release);
                    interrupt.interrupt();
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let r = work();
        done.store(true, Ordering::Release);
        r
    });
    (result, timed_out.load(Ordering::Acquire))
}

/// Appends `entry` to the history (see [`crate::fsutil::append_line`]).
fn record(store: &Store, entry: &HistoryEntry) -> Result<()> {
    let line = serde_json::to_vec(entry).map_err(|e| StoreError::Inconsistent(e.to_string()))?;
    crate::fsutil::append_line(&store.layout().query_history(), &line)?;
    Ok(())
}

/// The newest `limit` entries of the history, newest first. Lines that do not parse (a torn
/// write after a crash) are skipped.
pub fn history(store: &Store, limit: usize) -> Result<Vec<HistoryEntry>> {
    Ok(crate::fsutil::newest_json_lines(&store.layout().query_history(), limit, |_| true)?)
}
