//! Vision over follow-up and its distributions, for a simulation run.

use cohort_store::name::quote_ident;
use cohort_store::{Session, StoreError};
use serde::Serialize;

use crate::query_rows;

/// Average days per month, to turn days since enrolment into months.
pub const DAYS_PER_MONTH: f64 = 30.4375;

/// Mean measured vision in one month of follow-up, for one group of patients.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VisionPoint {
    /// `All`, `Discontinued` (stopped treatment at some point) or `Never discontinued`.
    pub group: String,
    /// Whole months since enrolment.
    pub month: i64,
    /// Visits measured in that month.
    pub visits: i64,
    /// Mean measured vision (letters).
    pub mean: f64,
    /// Lower end of the 95% confidence interval of the mean.
    pub ci_low: f64,
    /// Upper end of the 95% confidence interval of the mean.
    pub ci_high: f64,
}

/// Mean vision by month since enrolment with a normal-approximation 95% confidence band, for all
/// patients and split by whether they ever discontinued.
pub fn vision_over_time(session: &Session, dataset: &str) -> Result<Vec<VisionPoint>, StoreError> {
    let ds = quote_ident(dataset);
    // Sums per (month, status), then `All` from those sums: one pass over the visits.
    let sql = format!(
        r#"
        WITH g AS (
            SELECT floor(v.days_since_enrolment / {DAYS_PER_MONTH})::BIGINT AS month,
                   CASE WHEN p.discontinued THEN 'Discontinued' ELSE 'Never discontinued' END AS grp,
                   count(*) AS n, sum(v.vision) AS s, sum(v.vision * v.vision) AS ss
            FROM {ds}.visits v JOIN {ds}.patients p USING (patient_id)
            GROUP BY ALL
        )
        SELECT grp, month, n, s, ss FROM g
        UNION ALL
        SELECT 'All', month, sum(n)::BIGINT, sum(s), sum(ss) FROM g GROUP BY month
        ORDER BY 1, 2
        "#
    );
    query_rows(session, &sql, |r| {
        let group: String = r.get(0)?;
        Ok(vision_point(&group, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
}

/// A month's mean with its normal-approximation 95% confidence interval, from the count, sum and
/// sum of squares of its measurements.
pub(crate) fn vision_point(group: &str, month: i64, n: i64, sum: f64, squares: f64) -> VisionPoint {
    let mean = sum / n as f64;
    let variance = if n > 1 { ((squares - sum * mean) / (n - 1) as f64).max(0.0) } else { 0.0 };
    let half = 1.96 * variance.sqrt() / (n as f64).sqrt();
    VisionPoint { group: group.to_string(), month, visits: n, mean, ci_low: mean - half, ci_high: mean + half }
}

/// Patients per bin of one measure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistogramBin {
    /// `baseline`, `final` or `change`.
    pub measure: String,
    /// The bin's lower edge (letters); the bin is `[edge, edge + width)`.
    pub edge: i64,
    /// Patients in the bin.
    pub patients: i64,
}

/// Width in letters of the vision histograms' bins.
pub const VISION_BIN_LETTERS: i64 = 5;

/// Baseline vision, final vision and their difference, binned by [`VISION_BIN_LETTERS`].
pub fn vision_distributions(session: &Session, dataset: &str) -> Result<Vec<HistogramBin>, StoreError> {
    let ds = quote_ident(dataset);
    let w = VISION_BIN_LETTERS;
    let sql = format!(
        r#"
        SELECT measure, (floor(value / {w}) * {w})::BIGINT AS edge, count(*) AS patients
        FROM (
            SELECT 'baseline' AS measure, baseline_vision AS value FROM {ds}.patients
            UNION ALL SELECT 'final', final_vision FROM {ds}.patients
            UNION ALL SELECT 'change', final_vision - baseline_vision FROM {ds}.patients
        )
        GROUP BY ALL
        ORDER BY measure, edge
        "#
    );
    query_rows(session, &sql, |r| Ok(HistogramBin { measure: r.get(0)?, edge: r.get(1)?, patients: r.get(2)? }))
}
