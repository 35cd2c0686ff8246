//! Anchors: the head of the log as a verification saw it, kept somewhere else.
//!
//! A log cut at its end whose head file is rewritten to match passes every check the log can do
//! on itself. What catches it is a head recorded outside the store (another disk, another
//! machine, a ticket) and checked later: the log must still contain that entry. `cohort audit
//! verify --record FILE` appends one line here per verification; `--expect-from FILE` checks the
//! newest.

use std::io::Write;
use std::path::Path;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::AuditError;
use crate::log::Verification;

/// The head of the log at one verification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anchor {
    /// When the verification ran.
    pub at: Timestamp,
    /// Entries the log held.
    pub entries: u64,
    /// The hash of the last of them.
    pub head: String,
}

/// Appends the head `verification` saw to the anchor file `path` (created if missing), as one
/// line written at once.
pub fn record_anchor(path: &Path, verification: &Verification) -> Result<Anchor, AuditError> {
    let anchor = Anchor { at: Timestamp::now(), entries: verification.entries, head: verification.last_hash.clone() };
    let mut line = serde_json::to_vec(&anchor).expect("an anchor serialises");
    line.push(b'\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(AuditError::io("append to the anchor file", path))?;
    file.write_all(&line).map_err(AuditError::io("append to the anchor file", path))?;
    file.sync_all().map_err(AuditError::io("sync the anchor file", path))?;
    Ok(anchor)
}

/// The newest anchor of the file `path`; `None` if it has none.
pub fn last_anchor(path: &Path) -> Result<Option<Anchor>, AuditError> {
    let text = std::fs::read_to_string(path).map_err(AuditError::io("read the anchor file", path))?;
    let Some(line) = text.lines().rev().find(|l| !l.trim().is_empty()) else { return Ok(None) };
    serde_json::from_str(line).map(Some).map_err(|e| AuditError::Damaged {
        path: path.to_path_buf(),
        reason: format!("its last anchor cannot be read ({e})"),
    })
}
