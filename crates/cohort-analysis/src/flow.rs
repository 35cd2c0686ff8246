//! The cohort flow of a simulation run: patients by treatment-state category, month by month.
//!
//! At the end of each calendar month, every patient enrolled by then is in exactly one category:
//! `Pre-treatment` before the first visit; `Monitoring` while monitored after stopping;
//! `Discontinued (<type>)` once stopped and no longer followed; otherwise the category of the last
//! visit (`Initial`, `Intensive (up to 5 weeks)`, ..., `Restarted`). So every month's categories add up
//! to the number enrolled (amd-model.md, "Treatment-state categories").

use cohort_store::name::quote_ident;
use cohort_store::{Session, StoreError};
use serde::Serialize;

use crate::query_rows;
use crate::vision::DAYS_PER_MONTH;

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
///
/// A patient's category changes only at a visit, so the flow is computed from changes: each
/// patient's last visit in each month it had visits (or enrolment, as `Pre-treatment`) adds one
/// to its category in that month and takes one from the category before. Summing the changes
/// month by month gives the counts. The work grows with the visits, not with patients times
/// months. (`tests/flow.rs` checks it against the direct definition, a snapshot per month.)
pub fn cohort_flow(session: &Session, dataset: &str) -> Result<Vec<FlowRow>, StoreError> {
    let ds = quote_ident(dataset);
    let sql = format!(
        r#"
        WITH visits AS ({VISITS_WITH_LAST_STOP}),
        events AS (
            SELECT patient_id, last_day(enrolment_date) AS step, 0 AS seq, 'Pre-treatment' AS category
            FROM {ds}.patients
            UNION ALL
            SELECT patient_id, last_day(v.date), visit_number, {CATEGORY} FROM visits v
        ),
        {CHANGES},
        months AS (
            SELECT DISTINCT last_day(d::DATE) AS step
            FROM (SELECT min(enrolment_date) AS first_day FROM {ds}.patients),
                 (SELECT max(date) AS last_day FROM {ds}.visits),
                 generate_series(date_trunc('month', first_day), greatest(first_day, coalesce(last_day, first_day)),
                                 INTERVAL 1 MONTH) t(d)
        )
        {COUNTS}
        "#,
        VISITS_WITH_LAST_STOP = visits_with_last_stop(&ds),
        CHANGES = changes("NULL"),
    );
    query_rows(session, &sql, |r| Ok(FlowRow { month_end: r.get(0)?, category: r.get(1)?, patients: r.get(2)? }))
}

/// From `events(patient_id, step, seq, category)` (the patient is in `category` from `step` on;
/// the highest `seq` in a step wins), the changes `(step, category, delta)`: +1 where a patient's
/// category starts, -1 where it ends, which is at the patient's next step or, when the patient
/// leaves (follow-up ends), at `exit_step`.
fn changes(exit_step: &str) -> String {
    format!(
        "per_step AS ( \
             SELECT patient_id, step, arg_max(category, seq) AS category FROM events GROUP BY patient_id, step), \
         changes AS ( \
             SELECT step, category, 1 AS delta FROM per_step \
             UNION ALL \
             SELECT coalesce(lead(step) OVER (PARTITION BY patient_id ORDER BY step), {exit_step}), category, -1 \
             FROM per_step), \
         deltas AS ( \
             SELECT step, category, sum(delta) AS delta FROM changes WHERE step IS NOT NULL GROUP BY ALL)"
    )
}

/// From `months(step)` and `deltas`, the patients per category at each step.
const COUNTS: &str = "\
    , running AS ( \
        SELECT m.step, c.category, \
               sum(coalesce(d.delta, 0)) OVER (PARTITION BY c.category ORDER BY m.step) AS patients \
        FROM months m CROSS JOIN (SELECT DISTINCT category FROM deltas) c \
        LEFT JOIN deltas d ON d.step = m.step AND d.category = c.category) \
    SELECT strftime(step, '%Y-%m-%d') AS month_end, category, patients::BIGINT FROM running \
    WHERE patients <> 0 ORDER BY 1, 2";

/// Patients in one category a whole number of months after their own enrolment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FollowUpRow {
    /// Months since enrolment.
    pub month: i64,
    /// The category.
    pub category: String,
    /// Patients in it.
    pub patients: i64,
}

/// The flow in patient time: at each whole month since enrolment, the categories of the patients
/// followed that long (enrolled at least that many months before `horizon_day`, the day the
/// simulation ends). Every month's categories add up to the patients followed that long.
pub fn cohort_flow_by_follow_up(
    session: &Session,
    dataset: &str,
    horizon_day: i64,
) -> Result<Vec<FollowUpRow>, StoreError> {
    let ds = quote_ident(dataset);
    // Month m of a patient is the day `enrolment_day + round(m * DAYS_PER_MONTH)`; a visit on day
    // d after enrolment is first seen at the smallest such m at or after it, ceil((d - 0.5) / DPM),
    // and the patient is followed while that day is before the horizon.
    let sql = format!(
        r#"
        WITH visits AS ({VISITS_WITH_LAST_STOP}),
        followed AS (
            SELECT patient_id, enrolment_day,
                   ceil(({horizon_day} - enrolment_day - 0.5) / {DAYS_PER_MONTH})::BIGINT - 1 AS last_month
            FROM {ds}.patients
        ),
        events AS (
            SELECT patient_id, 0::BIGINT AS step, 0 AS seq, 'Pre-treatment' AS category FROM followed
            UNION ALL
            SELECT v.patient_id, greatest(0, ceil((v.day - f.enrolment_day - 0.5) / {DAYS_PER_MONTH}))::BIGINT,
                   v.visit_number, {CATEGORY}
            FROM visits v JOIN followed f USING (patient_id)
        ),
        exits AS (SELECT patient_id, last_month FROM followed),
        {CHANGES},
        months AS (SELECT range AS step FROM range(0, (SELECT max(last_month) + 1 FROM followed)))
        SELECT step AS month, category, patients FROM (
            SELECT m.step, c.category,
                   sum(coalesce(d.delta, 0)) OVER (PARTITION BY c.category ORDER BY m.step)::BIGINT AS patients
            FROM months m CROSS JOIN (SELECT DISTINCT category FROM deltas) c
            LEFT JOIN deltas d ON d.step = m.step AND d.category = c.category)
        WHERE patients <> 0 ORDER BY 1, 2
        "#,
        VISITS_WITH_LAST_STOP = visits_with_last_stop(&ds),
        CHANGES = changes_with_exits(),
    );
    query_rows(session, &sql, |r| Ok(FollowUpRow { month: r.get(0)?, category: r.get(1)?, patients: r.get(2)? }))
}

/// [`changes`] for patient time: steps past a patient's last followed month are dropped, and the
/// patient leaves the month after it.
fn changes_with_exits() -> String {
    "per_step AS ( \
         SELECT e.patient_id, e.step, arg_max(e.category, e.seq) AS category \
         FROM events e JOIN exits x USING (patient_id) WHERE e.step <= x.last_month GROUP BY e.patient_id, e.step), \
     changes AS ( \
         SELECT step, category, 1 AS delta FROM per_step \
         UNION ALL \
         SELECT coalesce(lead(p.step) OVER (PARTITION BY p.patient_id ORDER BY p.step), x.last_month + 1), p.category, -1 \
         FROM per_step p JOIN exits x USING (patient_id)), \
     deltas AS ( \
         SELECT step, category, sum(delta) AS delta FROM changes GROUP BY ALL)"
        .to_string()
}

/// Each visit with the type of the patient's latest stop so far.
fn visits_with_last_stop(ds: &str) -> String {
    format!(
        "SELECT patient_id, visit_number, day, date, phase, is_discontinuation_visit, next_interval_days, treatment_state, \
         last_value(discontinuation_type IGNORE NULLS) OVER ( \
             PARTITION BY patient_id ORDER BY visit_number \
             ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS last_stop \
         FROM {ds}.visits"
    )
}

/// The category a visit `v` puts its patient in.
const CATEGORY: &str = "CASE \
    WHEN (v.phase = 'monitoring' OR v.is_discontinuation_visit) AND v.next_interval_days IS NULL \
        THEN 'Discontinued (' || v.last_stop || ')' \
    WHEN v.phase = 'monitoring' OR v.is_discontinuation_visit THEN 'Monitoring' \
    ELSE v.treatment_state END";
