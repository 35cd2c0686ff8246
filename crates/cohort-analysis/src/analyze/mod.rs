//! Statistics on a stored dataset: a [`Plan`] in, an [`Answer`] out.
//!
//! The plan names a dataset version, a table, filters and one analysis; [`run`] reads only the
//! columns it names, for the rows its filters keep (the filters run in DuckDB, as literals, never
//! SQL text), sets aside incomplete rows and counts them by column, and computes with
//! [`cohort_stats`]. The answer carries the effective plan, the version and its content hash,
//! the row counts, how each number was computed and any warnings: the same plan on the same
//! version gives the same bytes.

pub mod frame;
pub mod plan;
mod run;

/// The parts of an answer's numbers, for those who render them.
pub mod run_output {
    pub use super::run::{Coding, Compared, Contingency, Curve, Described, GroupSummary, Level, Summary};
}

use cohort_store::{Session, Store, StoreError, VersionRef};
use serde::Serialize;

pub use frame::RowCounts;
pub use plan::{Analysis, Filter, Plan};
pub use run::Output;

/// The version of the statistics engine, part of every answer and of the cache key.
pub const ENGINE: &str = concat!("cohort-stats ", env!("CARGO_PKG_VERSION"));

/// Why an analysis could not be run.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    /// The store could not be read, or the dataset or version does not exist.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The plan asks for something the data cannot give: a missing column, a text column where a
    /// number is needed, a bad filter.
    #[error("{0}")]
    Plan(String),
    /// The rows cannot answer: a group with one member, nobody left after the filters, an event
    /// column that is not 0/1.
    #[error("{0}")]
    Data(String),
    /// DuckDB refused the query that reads the rows.
    #[error("reading the rows: {0}")]
    Query(String),
}

/// An analysis answered, with everything needed to trust or reproduce it.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    /// The plan as run (defaults filled in: the table, alpha).
    pub plan: Plan,
    /// The version analysed, `NAME@N`.
    pub dataset: String,
    /// The table analysed.
    pub table: String,
    /// SHA-256 of the table's content (of its files' SHA-256).
    pub content_sha256: String,
    /// The statistics engine and its version.
    pub engine: String,
    /// Rows in the table, kept by the filters, used, and left out for missing values.
    pub rows: RowCounts,
    /// How the numbers were computed, one sentence per method.
    pub method: Vec<String>,
    /// What the reader should know before trusting the numbers.
    pub warnings: Vec<String>,
    /// The numbers.
    pub result: Output,
}

/// Runs `plan` on `store`.
pub fn run(store: &Store, session: &Session, plan: &Plan) -> Result<Answer, AnalyzeError> {
    let reference = VersionRef::parse(&plan.dataset)?;
    let version = store.resolve(&reference)?;
    let table = match &plan.table {
        Some(name) => version.table(name).ok_or_else(|| StoreError::TableNotFound {
            dataset: reference.to_string(),
            table: name.clone(),
            available: version.tables.iter().map(|t| t.name.clone()).collect(),
        })?,
        None if version.tables.len() == 1 => &version.tables[0],
        None => {
            return Err(AnalyzeError::Plan(format!(
                "{} has {} tables; say which with `table` (--table): {}",
                version.label(),
                version.tables.len(),
                version.tables.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
    };
    if !(plan.alpha > 0.0 && plan.alpha < 1.0) {
        return Err(AnalyzeError::Plan(format!(
            "alpha must be between 0 and 1 (0.05 gives 95% intervals), not {}",
            plan.alpha
        )));
    }
    let source = cohort_store::table_source(store, table);
    let frame = frame::load(session, &source, table, &plan.analysis.columns(), &plan.filters)?;
    if frame.rows == 0 {
        return Err(AnalyzeError::Data(if plan.filters.is_empty() {
            format!("table `{}` of {} has no rows", table.name, version.label())
        } else {
            format!("the filters leave no rows of the {} in table `{}`: loosen them", table.rows, table.name)
        }));
    }
    let mut effective = plan.clone();
    effective.table = Some(table.name.clone());
    let computed = run::compute(&frame, plan)?;
    Ok(Answer {
        plan: effective,
        dataset: version.label(),
        table: table.name.clone(),
        content_sha256: table.sha256.clone(),
        engine: ENGINE.to_string(),
        rows: computed.rows,
        method: computed.method,
        warnings: computed.warnings,
        result: computed.output,
    })
}
