/*!
The audit log: who read which participant-level data, and every administrative action.

One file of JSON lines, `audit.log`, only ever appended to. Each line carries the SHA-256 of
its own contents and of the line before it (`prev`, `hash`), so editing, deleting, inserting or
reordering any line breaks the chain at that point. Removing lines from the *end* leaves a
shorter chain that is still consistent, so a second file, `audit.head`, records the newest
entry's number and hash after each write; a log that ends before its head was truncated.
[`AuditLog::verify`] checks all of it.

Writes are durable before they return (`fdatasync`), and a caller that cannot write its record
must refuse what it was about to do. [`GroupWriter`] makes that cheap for a server: records
that arrive while a write is in flight go to disk together, with one sync.

Someone who can rewrite both files wholesale can forge a consistent history; the head hash
`cohort audit verify` prints is meant to be kept somewhere else too, so that such a rewrite
shows (`--expect`).
*/
#![deny(missing_docs)]

mod anchor;
mod error;
mod group;
mod log;
mod record;

pub use anchor::{Anchor, last_anchor, record_anchor};
pub use error::AuditError;
pub use group::GroupWriter;
pub use log::{AuditLog, Filter, GENESIS, Head, Problem, Verification, parse_since};
pub use record::{Actor, Entry, Outcome, Record};
