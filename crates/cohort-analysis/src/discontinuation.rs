//! Discontinuation in a simulation run: how often each type occurs, and its cumulative incidence
//! over follow-up.

use std::collections::BTreeMap;

use cohort_store::name::quote_ident;
use cohort_store::{Session, StoreError};
use serde::Serialize;

use crate::query_rows;
use crate::vision::DAYS_PER_MONTH;

/// Stops of one type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StopCount {
    /// The discontinuation type.
    pub kind: String,
    /// Stops of this type (a retreated patient can stop more than once).
    pub stops: i64,
    /// Patients whose first stop was of this type.
    pub first_stops: i64,
}

/// Every discontinuation type that occurred, most frequent first.
pub fn stop_counts(session: &Session, dataset: &str) -> Result<Vec<StopCount>, StoreError> {
    let ds = quote_ident(dataset);
    let sql = format!(
        r#"
        WITH stops AS (
            SELECT patient_id, discontinuation_type AS kind,
                   row_number() OVER (PARTITION BY patient_id ORDER BY visit_number) = 1 AS first
            FROM {ds}.visits WHERE is_discontinuation_visit
        )
        SELECT kind, count(*) AS stops, count(*) FILTER (WHERE first) AS first_stops
        FROM stops GROUP BY kind ORDER BY stops DESC, kind
        "#
    );
    query_rows(session, &sql, |r| Ok(StopCount { kind: r.get(0)?, stops: r.get(1)?, first_stops: r.get(2)? }))
}

/// The cumulative incidence of first discontinuation of one type by the end of one month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidencePoint {
    /// The discontinuation type.
    pub kind: String,
    /// Whole months since enrolment.
    pub month: i64,
    /// Percentage of patients who have stopped for this reason by the end of the month.
    pub percent: f64,
}

/// The cumulative incidence of each type of first discontinuation by month since enrolment,
/// estimated with the Aalen-Johansen estimator: patients enrolled late are followed for less
/// time, so they leave the risk set (censored) at the end of the simulation, `horizon_day` days
/// after its start, instead of counting as never stopping.
pub fn cumulative_incidence(
    session: &Session,
    dataset: &str,
    horizon_day: i64,
) -> Result<Vec<IncidencePoint>, StoreError> {
    let ds = quote_ident(dataset);
    let sql = format!(
        r#"
        WITH first_stop AS (
            SELECT patient_id,
                   min(days_since_enrolment) AS stop_day,
                   arg_min(discontinuation_type, visit_number) AS kind
            FROM {ds}.visits WHERE is_discontinuation_visit GROUP BY patient_id
        )
        SELECT floor(coalesce(f.stop_day, {horizon_day} - p.enrolment_day) / {DAYS_PER_MONTH})::BIGINT AS month,
               f.kind, count(*) AS patients
        FROM {ds}.patients p LEFT JOIN first_stop f USING (patient_id)
        GROUP BY ALL ORDER BY month
        "#
    );
    let rows: Vec<(i64, Option<String>, i64)> = query_rows(session, &sql, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(aalen_johansen(&rows))
}

/// Cumulative incidence from `(month, type or None when censored, patients)` rows sorted by month.
/// Within a month, stops count before censoring.
pub(crate) fn aalen_johansen(rows: &[(i64, Option<String>, i64)]) -> Vec<IncidencePoint> {
    let mut at_risk: i64 = rows.iter().map(|r| r.2).sum();
    let mut survival = 1.0;
    let mut incidence: BTreeMap<String, f64> =
        rows.iter().filter_map(|r| r.1.clone()).map(|kind| (kind, 0.0)).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < rows.len() {
        let month = rows[i].0;
        let this_month: Vec<&(i64, Option<String>, i64)> = rows[i..].iter().take_while(|r| r.0 == month).collect();
        i += this_month.len();
        let stopped: i64 = this_month.iter().filter(|r| r.1.is_some()).map(|r| r.2).sum();
        if at_risk > 0 {
            for (_, kind, n) in this_month.iter().filter(|r| r.1.is_some()) {
                let kind = kind.as_ref().expect("filtered");
                *incidence.get_mut(kind).expect("every type is known") += survival * *n as f64 / at_risk as f64;
            }
            survival *= 1.0 - stopped as f64 / at_risk as f64;
        }
        at_risk -= this_month.iter().map(|r| r.2).sum::<i64>();
        for (kind, value) in &incidence {
            out.push(IncidencePoint { kind: kind.clone(), month, percent: 100.0 * value });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_censoring_the_incidence_is_the_plain_share() {
        let rows = vec![(0, Some("death".to_string()), 1), (1, Some("attrition".into()), 1), (2, None, 2)];
        let points = aalen_johansen(&rows);
        let at = |kind: &str, month: i64| {
            points.iter().find(|p| p.kind == kind && p.month == month).map(|p| p.percent).unwrap()
        };
        assert_eq!(at("death", 0), 25.0);
        assert_eq!(at("attrition", 0), 0.0);
        assert_eq!(at("attrition", 1), 25.0);
        assert_eq!(at("death", 2), 25.0);
    }

    #[test]
    fn censored_patients_leave_the_risk_set() {
        // Two of four are censored in month 0; of the two left, one stops in month 1: half of
        // those still followed, so the estimate is 50%, not the naive 25%.
        let rows = vec![(0, None, 2), (1, Some("death".to_string()), 1), (1, None, 1)];
        let points = aalen_johansen(&rows);
        let last = points.iter().rfind(|p| p.kind == "death").unwrap();
        assert!((last.percent - 50.0).abs() < 1e-9, "{last:?}");
    }
}
