//! The cohort flow of a simulation run: patients by treatment-state category, month by month.
//!
//! At the end of each calendar month, every patient enrolled by then is in exactly one category:
//! `Pre-treatment` before the first visit; `Monitoring` while monitored after stopping;
//! `Discontinued (<type>)` once stopped and no longer followed; otherwise the category of the last
//! visit (`Initial`, `Intensive (monthly)`, ..., `Restarted`). So every month's categories add up
//! to the number enrolled (amd-model.md, "Treatment-state categories").

use cohort_store::name::quote_ident;
use cohort_store::{Session, StoreError};
use serde::Serialize;

/// Patients in one category at the end of one month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowRow {
    /// The month's last day, `YYYY-MM-DD`.
    pub month_end: String,
    /// The category.
    pub category: String,
    /// Patients in it.
    pub patients: i64,
}

/// The flow of the run mounted in `session` as schema `dataset` (tables `patients`, `visits`).
pub fn cohort_flow(session: &Session, dataset: &str) -> Result<Vec<FlowRow>, StoreError> {
    let ds = quote_ident(dataset);
    let sql = format!(
        r#"
        WITH bounds AS (
            SELECT min(enrolment_date) AS first_day,
                   (SELECT max(date) FROM {ds}.visits) AS last_day
            FROM {ds}.patients
        ),
        months AS (
            SELECT DISTINCT last_day(d::DATE) AS month_end
            FROM bounds, generate_series(date_trunc('month', first_day), last_day, INTERVAL 1 MONTH) t(d)
        ),
        visits AS (
            SELECT patient_id, date, phase, is_discontinuation_visit, next_interval_days, treatment_state,
                   last_value(discontinuation_type IGNORE NULLS) OVER (
                       PARTITION BY patient_id ORDER BY visit_number
                       ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS last_stop
            FROM {ds}.visits
        ),
        enrolled AS (
            SELECT p.patient_id, m.month_end
            FROM {ds}.patients p JOIN months m ON p.enrolment_date <= m.month_end
        )
        SELECT strftime(e.month_end, '%Y-%m-%d') AS month_end,
               CASE
                   WHEN v.patient_id IS NULL THEN 'Pre-treatment'
                   WHEN (v.phase = 'monitoring' OR v.is_discontinuation_visit) AND v.next_interval_days IS NULL
                       THEN 'Discontinued (' || v.last_stop || ')'
                   WHEN v.phase = 'monitoring' OR v.is_discontinuation_visit THEN 'Monitoring'
                   ELSE v.treatment_state
               END AS category,
               count(*) AS patients
        FROM enrolled e ASOF LEFT JOIN visits v ON e.patient_id = v.patient_id AND v.date <= e.month_end
        GROUP BY ALL
        ORDER BY 1, 2
        "#
    );
    let mut stmt = session.connection().prepare(&sql).map_err(StoreError::sql)?;
    let rows = stmt
        .query_map([], |r| Ok(FlowRow { month_end: r.get(0)?, category: r.get(1)?, patients: r.get(2)? }))
        .map_err(StoreError::sql)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(StoreError::sql)
}
