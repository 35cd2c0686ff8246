/*!
Analyses over stored datasets, computed where the data is (DuckDB over Parquet) so that only
aggregates leave the store: what a chart needs, never the participant-level rows.

For any table, [`analyze`]: a plan (describe, compare groups, correlate, regress, survival) run
on the rows its filters keep, with the counts and methods behind every number.

For any table, [`dictionary`]: each column's type, role, label, completeness, distinct values and
range (the data dictionary).

For a simulation run (its tables `patients` and `visits` mounted in a [`cohort_store::Session`]):
- [`flow`]: the cohort flow, patients by treatment-state category per calendar month or per month
  of follow-up (the streamgraph), as SQL; [`scan`] computes the same in one streaming pass over
  a run's files when they are in patient order, as `cohort simulate` writes them;
- [`vision`]: mean vision over follow-up with its confidence band, and vision distributions;
- [`discontinuation`]: stops by type and their cumulative incidence;
- [`burden`]: injections and visits per patient and per year, and treatment intervals;
- [`timeline`]: one patient's visits, for the patient finder;
- [`results`]: all of the above for one run, as the web app's results page needs them.
*/
#![deny(missing_docs)]

pub mod analyze;
pub mod burden;
pub mod dictionary;
pub mod discontinuation;
pub mod flow;
pub mod planning;
pub mod relations;
pub mod results;
pub mod scan;
pub mod timeline;
pub mod vision;

use cohort_store::{Session, StoreError};

/// Runs `sql` and maps every row with `row`.
pub(crate) fn query_rows<T>(
    session: &Session,
    sql: &str,
    row: impl FnMut(&duckdb::Row<'_>) -> duckdb::Result<T>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = session.connection().prepare(sql).map_err(StoreError::sql)?;
    let rows = stmt.query_map([], row).map_err(StoreError::sql)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(StoreError::sql)
}
