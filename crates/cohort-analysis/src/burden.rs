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
    // Patients followed for a whole year y are those with at least y full years before the
    // horizon; their visits in year y are joined once, not expanded per patient-year.
    let sql = format!(
        r#"
        WITH followed AS (
            SELECT patient_id, floor(({horizon_day} - enrolment_day) / 365.25)::BIGINT AS full_years
            FROM {ds}.patients
        ),
        years AS (
            SELECT r.year, count(*) FILTER (WHERE f.full_years >= r.year) AS patients
            FROM range(1, (SELECT coalesce(max(full_years), 0) + 1 FROM followed)) r(year), followed f
            GROUP BY r.year
        ),
        sums AS (
            SELECT floor(v.days_since_enrolment / 365.25)::BIGINT + 1 AS year,
                   count(*) AS visits, count(*) FILTER (WHERE v.injected) AS injections
            FROM {ds}.visits v JOIN followed f USING (patient_id)
            WHERE floor(v.days_since_enrolment / 365.25) + 1 <= f.full_years
            GROUP BY 1
        )
        SELECT y.year, y.patients,
               coalesce(s.injections, 0) / y.patients AS injections,
               coalesce(s.visits, 0) / y.patients AS visits
        FROM years y LEFT JOIN sums s USING (year)
        WHERE y.patients > 0
        ORDER BY y.year
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
