//! One memory budget for the whole server: DuckDB work (a console query, a page of rows, a
//! dictionary, a download, an export, a run's results, an upload's ingest) runs in an engine of
//! its own, and each engine's memory limit binds only that engine. `--memory-limit` is the cap of
//! the process, so the server divides it into slots: an engine gets one slot's share, at most as
//! many engines run as there are slots, and a request waits for a free slot, answered 503 with
//! `Retry-After` when none frees in time. Six heavy console queries at once once took a 1 GB
//! server to 3.9 GB; now they take turns under the cap (`tests/cli/heavy/memory.rs`).

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use cohort_store::Settings;
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// The share of the cap an engine needs to do useful work (DuckDB's 96 MB minimum, its thread's
/// buffers and the process around it).
pub const ENGINE_SHARE: u64 = 250_000_000;

/// How long a request waits for a slot before the server says it is busy.
pub const WAIT: Duration = Duration::from_secs(30);

/// The engine slots of a server.
#[derive(Clone)]
pub struct EngineSlots {
    /// `None`: no admission control (each engine gets the whole cap, as many as asked).
    slots: Option<Arc<Semaphore>>,
    count: usize,
    wait: Duration,
    /// Engines kept warm between requests (see [`EngineSlots::run_warm`]).
    idle: Arc<std::sync::Mutex<Vec<duckdb::Connection>>>,
}

/// Engines kept idle at most: a warm engine holds little, but holds it until it is used again.
const MAX_IDLE: usize = 4;

impl EngineSlots {
    /// Slots for a server whose process cap is `settings.memory_limit`: `asked` of them, or as
    /// many as the cap holds engines of [`ENGINE_SHARE`] (at least one, at most eight); `Some(0)`
    /// turns admission control off. Returns the slots and the settings each engine runs under.
    pub fn for_cap(settings: &Settings, asked: Option<usize>) -> (EngineSlots, Settings) {
        let count = match asked {
            Some(0) => {
                return (EngineSlots { slots: None, count: 0, wait: WAIT, idle: Arc::default() }, settings.clone());
            }
            Some(n) => n,
            None => (settings.memory_limit / ENGINE_SHARE).clamp(1, 8) as usize,
        };
        let share = (settings.memory_limit / count as u64).max(Settings::MIN_MEMORY_LIMIT.min(settings.memory_limit));
        let engine = Settings { memory_limit: share, ..settings.clone() };
        (EngineSlots { slots: Some(Arc::new(Semaphore::new(count))), count, wait: WAIT, idle: Arc::default() }, engine)
    }

    /// Engines that may run at once (0: no limit).
    pub fn count(&self) -> usize {
        self.count
    }

    /// Runs `work` on a warm engine (one a request before used, or a new one), once a slot is
    /// free. Starting a DuckDB engine costs about 15 ms, more than a page of rows takes to read,
    /// so the short reads of a data page (rows, a dictionary, a column's summary) reuse engines.
    /// `work` must leave the engine as it found it: it reads Parquet files named in its SQL and
    /// creates nothing. An engine whose work failed is dropped, not kept.
    pub async fn run_warm<T: Send + 'static>(
        &self,
        store: &cohort_store::Store,
        work: impl FnOnce(&duckdb::Connection) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let idle = self.idle.clone();
        let store = store.clone();
        self.run(move || {
            let taken = idle.lock().expect("not poisoned").pop();
            let engine = match taken {
                Some(engine) => engine,
                None => warm_engine(&store)?,
            };
            let result = work(&engine);
            if result.is_ok() {
                let mut idle = idle.lock().expect("not poisoned");
                if idle.len() < MAX_IDLE {
                    idle.push(engine);
                }
            }
            result
        })
        .await
    }

    /// Engines idle now (for tests).
    pub fn idle_engines(&self) -> usize {
        self.idle.lock().expect("not poisoned").len()
    }

    /// Runs `work` (blocking DuckDB work) on a blocking thread once a slot is free, holding the
    /// slot until it ends.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = match &self.slots {
            None => None,
            Some(slots) => Some(
                tokio::time::timeout(self.wait, slots.clone().acquire_owned())
                    .await
                    .map_err(|_| busy(self.wait))?
                    .map_err(|_| ApiError::internal("the engine slots are closed"))?,
            ),
        };
        let result =
            tokio::task::spawn_blocking(work).await.map_err(|e| ApiError::internal(format!("a worker failed: {e}")))?;
        drop(permit);
        result
    }
}

fn busy(waited: Duration) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        format!("the server's memory is taken by other queries; none finished within {} s", waited.as_secs()),
    )
    .with_hint("try again in a minute; an admin can raise `cohort serve --memory-limit`")
}

/// A new engine for [`EngineSlots::run_warm`], with the store's engine settings; Parquet footers
/// it reads are kept for the next request over the same files.
fn warm_engine(store: &cohort_store::Store) -> Result<duckdb::Connection, ApiError> {
    let spill = store.layout().spill_dir();
    std::fs::create_dir_all(&spill).map_err(|e| ApiError::from(cohort_store::StoreError::from(e)))?;
    let engine = cohort_store::duck::open_engine(store.settings(), &spill)?;
    engine.execute_batch("SET parquet_metadata_cache = true").map_err(cohort_store::StoreError::sql)?;
    Ok(engine)
}
