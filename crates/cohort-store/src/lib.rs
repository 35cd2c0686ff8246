/*!
The cohort store: durable, versioned datasets on one machine.

A store is a directory holding an embedded DuckDB *catalog* (`catalog.duckdb`) and immutable,
zstd-compressed Parquet files, one file set per table per version
(`datasets/<id>/v<N>/<table>/part-*.parquet`). Producers stage a version privately and commit it
atomically; readers resolve a version in the catalog and read its Parquet files with an in-memory
DuckDB engine. Several processes can use one store at once: commits serialise on an advisory lock
held only while the catalog changes.

```no_run
use cohort_store::{DatasetKind, DatasetName, Settings, Store, TableName, VersionMeta, VersionRef};

# fn main() -> Result<(), cohort_store::StoreError> {
let store = Store::init("cohort-data".as_ref(), Settings::default())?;
let name = DatasetName::new("trial")?;
let mut staging = store.stage(&name)?;
let dir = staging.table_dir(&TableName::new("visits")?)?;
// ... write one or more Parquet files into `dir` ...
let outcome = staging.commit(VersionMeta {
    kind: DatasetKind::Upload,
    description: None,
    tags: None,
    created_by: "me".into(),
    sources: vec![],
    provenance: serde_json::json!({}),
})?;
let resolved = store.resolve(&VersionRef::parse("trial")?)?;
# Ok(()) }
```
*/
#![deny(missing_docs)]

mod catalog;
pub mod console;
mod doctor;
pub mod duck;
pub mod error;
pub mod export;
pub mod failpoint;
pub mod fsutil;
mod gc;
pub mod hash;
pub mod inspect;
pub mod layout;
pub mod lease;
pub mod lock;
pub mod model;
pub mod name;
pub mod parallel;
pub mod progress;
pub mod query;
pub mod roles;
pub mod settings;
mod staging;
mod store;
mod views;

pub use doctor::{DoctorReport, Problem};
pub use error::{ErrorClass, Result, StoreError};
pub use export::{Destination, OutputFormat};
pub use gc::{ExpiredVersion, GcOptions, GcReport};
pub use model::{
    ColumnInfo, ColumnNotes, CommitOutcome, DatasetDetail, DatasetKind, DatasetSummary, FileInfo, ImportRecord,
    KeptProfile, KeyCandidate, MissingCodes, Relationship, RelationshipDecision, ResolvedVersion, SavedCohort,
    SourceFile, TableInfo, VersionInfo, VersionStatus,
};
pub use name::{DatasetName, TableName, TableRef, VersionRef};
pub use progress::{CancelToken, NoProgress, Progress};
pub use query::Session;
pub use settings::{Settings, parse_size};
pub use staging::{ATTACHMENTS_DIR, PendingCommit, Staging, VersionMeta};
pub use store::{RecoveryReport, Store};
pub use views::{files_source, table_files, table_source};

/// The version of this library, recorded in provenance.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
