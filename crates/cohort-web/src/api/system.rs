//! The server and its store: size on disk, memory in use against the limit, recent activity.

use axum::Json;
use axum::extract::{Extension, State};
use cohort_auth::{Principal, Role};
use serde::Serialize;

use crate::error::{ApiError, blocking};
use crate::state::AppState;

/// What the home page shows about the server.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The store's directory (told to admins only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// Bytes the store takes on disk.
    pub store_bytes: u64,
    /// Datasets in the store that the account may see.
    pub datasets: usize,
    /// The server's resident memory in bytes, when the system says.
    pub memory_bytes: Option<u64>,
    /// The memory limit in bytes.
    pub memory_limit_bytes: u64,
    /// cohort's version.
    pub version: &'static str,
    /// When the server started.
    pub started_at: jiff::Timestamp,
    /// The latest changes to datasets the account may see, newest first.
    pub recent: Vec<Activity>,
}

/// One recent change to the store.
#[derive(Debug, Clone, Serialize)]
pub struct Activity {
    /// The dataset.
    pub dataset: String,
    /// The version made current.
    pub version: Option<u32>,
    /// What kind of dataset.
    pub kind: String,
    /// When.
    pub at: jiff::Timestamp,
}

/// `GET /api/v1/status`.
pub async fn status(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Json<Status>, ApiError> {
    Ok(Json(server_status(&state, &who).await?))
}

/// The server's status now, as `who` may see it: datasets outside their grants are not counted
/// or named, and only admins are told where the store is.
pub async fn server_status(state: &AppState, who: &Principal) -> Result<Status, ApiError> {
    let state = state.clone();
    let who = who.clone();
    let started_at = state.started;
    blocking(move || {
        let store = &state.store;
        let mut datasets: Vec<_> = state.datasets()?.iter().filter(|d| who.may_see(d.name.as_str())).cloned().collect();
        datasets.sort_by_key(|d| std::cmp::Reverse(d.updated_at));
        Ok(Status {
            store: who.has(Role::Admin).then(|| store.root().display().to_string()),
            store_bytes: state.store_bytes(),
            datasets: datasets.len(),
            memory_bytes: resident_bytes(),
            memory_limit_bytes: store.settings().memory_limit,
            version: cohort_store::VERSION,
            started_at,
            recent: datasets
                .iter()
                .take(10)
                .map(|d| Activity {
                    dataset: d.name.to_string(),
                    version: d.current_version,
                    kind: d.kind.to_string(),
                    at: d.updated_at,
                })
                .collect(),
        })
    })
    .await
}

/// This process's resident memory (Linux `VmRSS`).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
