//! What every request handler shares: the store, the task queue, and the aggregates cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cohort_store::Store;

use crate::tasks::Tasks;

/// The server's shared state; cloning it is cheap.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The state behind an [`AppState`].
pub struct Inner {
    /// The store served.
    pub store: Store,
    /// Simulation runs started from the web.
    pub tasks: Tasks,
    /// Computed aggregates (a run's results, a table's dictionary), keyed by what they were
    /// computed from and its content hash: stored versions never change, so entries never go
    /// stale (a new version has a new hash).
    pub cache: Mutex<HashMap<String, Arc<serde_json::Value>>>,
    /// When the server started.
    pub started: jiff::Timestamp,
    /// The largest file an upload accepts, in bytes.
    pub max_upload_bytes: u64,
}

impl AppState {
    /// State over `store`.
    pub fn new(store: Store) -> Self {
        Self::with_upload_limit(store, crate::api::uploads::MAX_FILE_BYTES)
    }

    /// State over `store` whose uploads accept files of at most `max_upload_bytes`.
    pub fn with_upload_limit(store: Store, max_upload_bytes: u64) -> Self {
        AppState(Arc::new(Inner {
            store,
            tasks: Tasks::default(),
            cache: Mutex::default(),
            started: jiff::Timestamp::now(),
            max_upload_bytes,
        }))
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
