//! What can go wrong with the audit log.

use std::path::PathBuf;
use std::sync::Arc;

/// An audit log error. Cloneable, because one failed group write fails every request in it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuditError {
    /// The file system refused.
    #[error("cannot {action} the audit log at {}: {source}", path.display())]
    Io {
        /// What was being done: "open", "append to", "read", ...
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The log no longer matches its own chain or head, so appending would hide the damage.
    #[error(
        "the audit log at {} is damaged: {reason}; nothing more is written to it until someone looks \
         (run `cohort audit verify`)", path.display()
    )]
    Damaged {
        /// The log.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The background writer is gone (the server is shutting down).
    #[error("the audit log's writer has stopped")]
    Closed,
}

impl AuditError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> AuditError {
        let path = path.into();
        move |source| AuditError::Io { action, path, source: Arc::new(source) }
    }
}
