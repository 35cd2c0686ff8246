//! Treatment burden in a simulation run: injections and visits per patient and per year, and the
//! intervals between treatment visits.

use cohort_store::name::quote_ident;
use cohort_store::{Session, StoreError};
use serde::Serialize;

use crate::query_rows;

/// Patients with a given number of injections and visits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PerPatient {
    /// `injections` or `visits`.
    pub measure: String,
    /// How many.
    pub count: i64,
    /// Patients with that many.
    pub patients: i64,
}

/// The distribution of injections and of visits per patient over their whole follow-up.
pub fn per_patient(session: &Session, dataset: &str) -> Result<Vec<PerPatient>, StoreError> {
    let ds = quote_ident(dataset);
    let sql = format!(
        r#"
        SELECT measure, value, count(*) FROM (
            SELECT 'injections' AS measure, total_injections::BIGINT AS value FROM {ds}.patients
            UNION ALL SELECT 'visits', total_visits::BIGINT FROM {ds}.patients
        ) GROUP BY ALL ORDER BY measure, value
        "#
    );
    query_rows(session, &sql, |r| Ok(PerPatient { measure: r.get(0)?, count: r.get(1)?, patients: r.get(2)? }))
}

/// Mean injections and visits in one year of follow-up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerYear {
    /// Year of follow-up, from 1.
    pub year: i64,
    /// Patients enrolled early enough to be followed for the whole year (whether or not they
    /// stopped treatment during it).
    pub patients: i64,
    /// Mean injections in the year.
    pub injections: f64,
    /// Mean visits in the year.
    pub visits: f64,
}

/// Injections and visits per patient in each year since enrolment, among the patients whose
/// whole year falls before `horizon_day` (the simulation's end, in days since its start).
pub fn per_year(session: &Session, dataset: &str, horizon_day: i64) -> Result<Vec<PerYear>, StoreError> {
    let ds = quote_ident(dataset);
    let sql = format!(
        r#"
        WITH years AS (
            SELECT patient_id, unnest(range(1, floor(({horizon_day} - enrolment_day) / 365.25)::BIGINT + 1)) AS year
            FROM {ds}.patients
        ),
        counts AS (
            SELECT patient_id, floor(days_since_enrolment / 365.25)::BIGINT + 1 AS year,
                   count(*) AS visits, count(*) FILTER (WHERE injected) AS injections
            FROM {ds}.visits GROUP BY ALL
        )
        SELECT y.year, count(*) AS patients,
               avg(coalesce(c.injections, 0)) AS injections, avg(coalesce(c.visits, 0)) AS visits
        FROM years y LEFT JOIN counts c USING (patient_id, year)
        GROUP BY y.year ORDER BY y.year
        "#
    );
    query_rows(session, &sql, |r| {
        Ok(PerYear { year: r.get(0)?, patients: r.get(1)?, injections: r.get(2)?, visits: r.get(3)? })
    })
}

/// Treatment visits at a given interval since the previous visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IntervalBin {
    /// The interval's lower edge in weeks; the bin is `[weeks, weeks + 1)`.
    pub weeks: i64,
    /// Visits in the bin.
    pub visits: i64,
}

/// The distribution of intervals between consecutive treatment visits (loading and maintenance,
/// not monitoring), in whole weeks.
pub fn intervals(session: &Session, dataset: &str) -> Result<Vec<IntervalBin>, StoreError> {
    let ds = quote_ident(dataset);
    let sql = format!(
        r#"
        SELECT (interval_days // 7)::BIGINT AS weeks, count(*)
        FROM {ds}.visits
        WHERE interval_days IS NOT NULL AND phase <> 'monitoring'
        GROUP BY ALL ORDER BY weeks
        "#
    );
    query_rows(session, &sql, |r| Ok(IntervalBin { weeks: r.get(0)?, visits: r.get(1)? }))
}
