//! Opening DuckDB connections with the store's settings.
//!
//! Two kinds of connection exist. The *catalog* connection opens `catalog.duckdb` for the few
//! milliseconds a catalog read or commit takes (under [`crate::lock::CatalogLock`]). The *engine*
//! connection is an in-memory database that does the heavy work (conversion, queries, exports)
//! over Parquet files, bounded by the memory limit and spilling to the store's `tmp/`.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use duckdb::{Config, Connection};

use crate::progress::{CancelToken, Progress};

use crate::error::{Result, StoreError};
use crate::name::quote_literal;
use crate::settings::Settings;

fn base_config() -> Result<Config> {
    // No extension may be downloaded: there is no network, and a lookup would stall for seconds.
    Config::default()
        .enable_autoload_extension(false)
        .and_then(|c| c.with("autoinstall_known_extensions", "false"))
        .map_err(|e| StoreError::duckdb("configuring DuckDB", e))
}

/// Opens an in-memory engine connection bounded by `settings`, spilling into `spill_dir`.
pub fn open_engine(settings: &Settings, spill_dir: &Path) -> Result<Connection> {
    let config = base_config()?
        .max_memory(&format!("{}B", settings.duckdb_memory_bytes()))
        .and_then(|c| c.threads(i64::from(settings.worker_threads())))
        .and_then(|c| c.with("temp_directory", spill_dir.to_string_lossy()))
        .map_err(|e| StoreError::duckdb("configuring the query engine", e))?;
    Connection::open_in_memory_with_flags(config).map_err(|e| StoreError::duckdb("starting the query engine", e))
}

/// The name a database file is attached under in a [`Hosted`] connection.
const ATTACHED_AS: &str = "store_file";

/// Idle host instances beyond this many are closed rather than kept.
const MAX_IDLE_HOSTS: usize = 4;

/// DuckDB instances kept for the life of the process, each a small in-memory database that the
/// catalog and the views database are attached to for one operation at a time. Starting a DuckDB
/// instance costs about 19 ms here (it registers every built-in function); attaching a file to a
/// running one about 1 ms, so a commit or a catalog read no longer pays for an instance.
static IDLE_HOSTS: Mutex<Vec<Connection>> = Mutex::new(Vec::new());

/// A pooled DuckDB instance, with a database file attached (and in use) or with nothing attached
/// (for small work over Parquet files, such as describing a staged table). Dropping it detaches
/// the file, which releases DuckDB's lock on it, and returns the instance to the pool.
pub(crate) struct Hosted {
    conn: Option<Connection>,
    attached: bool,
}

impl Hosted {
    /// A pooled instance with nothing attached.
    pub(crate) fn bare() -> Result<Hosted> {
        let pooled = IDLE_HOSTS.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => {
                let config = base_config()?
                    .threads(1)
                    .and_then(|c| c.max_memory("256MB"))
                    .map_err(|e| StoreError::duckdb("configuring DuckDB", e))?;
                Connection::open_in_memory_with_flags(config).map_err(|e| StoreError::duckdb("starting DuckDB", e))?
            }
        };
        Ok(Hosted { conn: Some(conn), attached: false })
    }

    /// Attaches the database file at `path` (created if missing, unless `read_only`) and makes it
    /// the connection's default database, so that unqualified names resolve in it.
    pub(crate) fn attach(path: &Path, read_only: bool) -> Result<Hosted> {
        Self::attach_as(path, read_only, &format!("opening `{}`", path.display()))
    }

    /// [`Hosted::attach`], with `context` for the error.
    fn attach_as(path: &Path, read_only: bool, context: &str) -> Result<Hosted> {
        let mut hosted = Hosted::bare()?;
        let mode = if read_only { " (READ_ONLY)" } else { "" };
        let sql =
            format!("ATTACH {} AS {ATTACHED_AS}{mode}; USE {ATTACHED_AS};", quote_literal(&path.to_string_lossy()));
        if let Err(e) = hosted.execute_batch(&sql) {
            // Half of it may have happened (attached, not used): take it away again.
            let _ = hosted.execute_batch(&format!("USE memory; DETACH DATABASE IF EXISTS {ATTACHED_AS}"));
            return Err(StoreError::duckdb(context, e));
        }
        hosted.attached = true;
        Ok(hosted)
    }

    /// Folds the attached database's write-ahead log into its file.
    pub(crate) fn checkpoint(&self) -> duckdb::Result<()> {
        self.execute_batch(&format!("CHECKPOINT {ATTACHED_AS}"))
    }

    /// Detaches the file, reporting a failure, which dropping only logs.
    pub(crate) fn close(mut self) -> duckdb::Result<()> {
        self.release()
    }

    fn release(&mut self) -> duckdb::Result<()> {
        let Some(conn) = self.conn.take() else { return Ok(()) };
        // Statements prepared against the file must not outlive it.
        conn.flush_prepared_statement_cache();
        if self.attached {
            // A transaction a failed caller left open would keep the file attached.
            let _ = conn.execute_batch("ROLLBACK");
            conn.execute_batch(&format!("USE memory; DETACH {ATTACHED_AS}"))?;
        }
        let mut idle = IDLE_HOSTS.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE_HOSTS {
            idle.push(conn);
        }
        Ok(())
    }
}

impl std::ops::Deref for Hosted {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("a hosted connection until released")
    }
}

impl Drop for Hosted {
    fn drop(&mut self) {
        if let Err(e) = self.release() {
            // The instance is dropped with the file still attached; closing it releases the file.
            tracing::warn!("detaching a database file: {e}");
        }
    }
}

/// Opens the catalog database.
pub(crate) fn open_catalog(path: &Path, read_only: bool) -> Result<Hosted> {
    Hosted::attach_as(path, read_only, &format!("opening the catalog `{}`", path.display()))
}

/// Why a long statement did not finish.
#[derive(Debug)]
pub enum RunError {
    /// The cancel token fired and the statement was interrupted.
    Cancelled,
    /// DuckDB failed.
    Failed(duckdb::Error),
}

/// Executes one long statement on `conn`, reporting DuckDB's progress estimate as a share of
/// `total` and interrupting the statement as soon as `cancel` fires.
pub fn run_interruptible(
    conn: &Connection,
    sql: &str,
    total: u64,
    progress: &dyn Progress,
    cancel: &CancelToken,
) -> std::result::Result<(), RunError> {
    watch_interruptible(conn, total, progress, cancel, || conn.execute_batch(sql))
}

/// [`run_interruptible`] for any `work` on `conn` (a `COPY` whose count of rows is wanted).
pub fn watch_interruptible<T>(
    conn: &Connection,
    total: u64,
    progress: &dyn Progress,
    cancel: &CancelToken,
    work: impl FnOnce() -> duckdb::Result<T>,
) -> std::result::Result<T, RunError> {
    // Without tracking the bar stays at zero; the statement itself must still run.
    let _ = conn.set_query_progress_tracking(true);
    let progress_handle = conn.progress_handle();
    let interrupt = conn.interrupt_handle();
    let done = AtomicBool::new(false);
    let result = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Acquire) {
                if cancel.is_cancelled() {
                    interrupt.interrupt();
                }
                if let Some(pct) = progress_handle.query_progress().percentage() {
                    progress.set_position((total as f64 * pct.clamp(0.0, 100.0) / 100.0) as u64);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let r = work();
        done.store(true, Ordering::Release);
        r
    });
    match result {
        Ok(value) => Ok(value),
        Err(_) if cancel.is_cancelled() => Err(RunError::Cancelled),
        Err(e) => Err(RunError::Failed(e)),
    }
}

/// Tables up to this many rows have their distinct values counted in one pass over all columns
/// at once; bigger ones a column at a time.
const DISTINCT_IN_ONE_PASS_ROWS: u64 = 1_000_000;

/// The exact number of distinct values of each of `columns` in what `source` reads (a table
/// function such as `read_parquet([...])`), which has `rows` rows; nulls are not values.
///
/// DuckDB's `approx_count_distinct` is a HyperLogLog estimate, off by up to 7% in tests here (217
/// for a key of 228 values), and `count(DISTINCT ...)` of many columns in one query builds a
/// hash table per column (2,000 columns of 1,000 rows took minutes). Values of every column as
/// text, unpivoted into one (column, value) table, are counted by a single grouping instead:
/// 2,000 such columns in under a second. Past [`DISTINCT_IN_ONE_PASS_ROWS`] rows, each column is
/// counted on its own, which reads one column of the Parquet files at a time.
pub fn distinct_counts(conn: &Connection, source: &str, columns: &[String], rows: u64) -> duckdb::Result<Vec<u64>> {
    use crate::name::quote_ident;
    if columns.is_empty() {
        return Ok(Vec::new());
    }
    if rows <= DISTINCT_IN_ONE_PASS_ROWS {
        let projection: Vec<String> =
            columns.iter().map(|c| format!("CAST({0} AS VARCHAR) AS {0}", quote_ident(c))).collect();
        let sql = format!(
            "SELECT column_name, count(DISTINCT value) FROM (UNPIVOT (SELECT {} FROM {source}) ON COLUMNS(*) \
             INTO NAME column_name VALUE value) GROUP BY column_name",
            projection.join(", ")
        );
        let mut stmt = conn.prepare(&sql)?;
        let counted: std::collections::HashMap<String, i64> =
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<duckdb::Result<_>>()?;
        return Ok(columns.iter().map(|c| counted.get(c).copied().unwrap_or(0).max(0) as u64).collect());
    }
    columns
        .iter()
        .map(|c| {
            conn.query_row(&format!("SELECT count(DISTINCT {}) FROM {source}", quote_ident(c)), [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n.max(0) as u64)
        })
        .collect()
}
