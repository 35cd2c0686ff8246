//! Progress reporting and cancellation for long operations, independent of any terminal.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Receives progress of a long operation. The CLI draws bars with it; the web app will stream it.
pub trait Progress: Send + Sync {
    /// A new phase starts (`total` in bytes or items, when known).
    fn begin(&self, label: &str, total: Option<u64>);
    /// The phase moved to `position`.
    fn set_position(&self, position: u64);
    /// The phase moved on by `delta`.
    fn advance(&self, delta: u64);
    /// The phase is done.
    fn finish(&self);
}

/// Progress that goes nowhere.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _: &str, _: Option<u64>) {}
    fn set_position(&self, _: u64) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

/// A flag a user (Ctrl-C) or a server (a cancelled task) sets to stop a long operation.
#[derive(Debug, Default, Clone)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the operation to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether stopping was asked for.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
