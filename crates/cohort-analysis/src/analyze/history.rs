//! Every analysis run, kept: who, when, the plan, the version and a one-line answer, in a JSON
//! lines file in the store that survives restarts; any entry's plan replays.

use cohort_store::{Store, StoreError};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::plan::Plan;

/// One run, as the history keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// When it ran.
    pub at: Timestamp,
    /// Who ran it: `cli:USER` or `web:ACCOUNT`.
    pub by: String,
    /// The plan as given.
    pub plan: Plan,
    /// The version analysed (`NAME@N`), when it was resolved.
    pub dataset: Option<String>,
    /// Rows used, when it answered.
    pub rows: Option<u64>,
    /// The answer in a line, when it answered.
    pub summary: Option<String>,
    /// Whether the answer came from the cache.
    #[serde(default)]
    pub cached: bool,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// Seconds it took.
    pub seconds: f64,
    /// Where they went, when it was computed (not read from the cache).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timings: Option<Timings>,
}

/// Where an analysis spent its time, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Finding the version and its tables in the catalog.
    pub resolve: f64,
    /// Reading the columns (and building the unified view, for one).
    pub read: f64,
    /// Computing the statistics.
    pub compute: f64,
}

/// Appends `entry` to the history.
pub fn record(store: &Store, entry: &Entry) -> Result<(), StoreError> {
    let line = serde_json::to_vec(entry).map_err(|e| StoreError::Inconsistent(e.to_string()))?;
    cohort_store::fsutil::append_line(&store.layout().analysis_history(), &line)?;
    Ok(())
}

/// The newest `limit` entries that `keep` accepts, newest first. Lines that do not parse (a torn
/// write after a crash) are skipped.
pub fn history(store: &Store, limit: usize, keep: impl Fn(&Entry) -> bool) -> Result<Vec<Entry>, StoreError> {
    Ok(cohort_store::fsutil::newest_json_lines(&store.layout().analysis_history(), limit, keep)?)
}
