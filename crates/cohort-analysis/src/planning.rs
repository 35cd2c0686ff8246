//! What a service planner reads from a simulation run: clinic activity per calendar week and
//! month (visits, injections, new patients, patients under treatment and under monitoring), the
//! level it settles at, and the key figures that set runs side by side.
//!
//! The year-k vision and injection figures follow the one definition in `cohort_sim::outcomes`
//! (tested to agree with it on the same patients), each year on the patients followed to day
//! 365·k + 65.

use cohort_store::name::quote_ident;
use cohort_store::{Session, StoreError};
use jiff::ToSpan;
use jiff::civil::Date;
use serde::Serialize;

use crate::query_rows;

/// Clinic activity in one calendar period (a week from the run's start day, or a month).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActivityRow {
    /// First day of the period.
    pub start: Date,
    /// Visits (every kind: treatment, monitoring, and the visit at which treatment stops).
    pub visits: i64,
    /// Injections.
    pub injections: i64,
    /// Monitoring visits (after a stop).
    pub monitoring_visits: i64,
    /// Patients enrolled.
    pub new_patients: i64,
    /// Patients under treatment at the period's last day (a next treatment visit booked).
    pub under_treatment: i64,
    /// Patients under monitoring at the period's last day (a monitoring visit booked).
    pub under_monitoring: i64,
}

/// The level activity settles at, over the run's last year.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SteadyState {
    /// First day of the last 52 whole weeks.
    pub from: Date,
    /// Day after the last of them.
    pub to: Date,
    /// Mean visits a week over them.
    pub visits_per_week: f64,
    /// Mean injections a week.
    pub injections_per_week: f64,
    /// Mean new patients a week.
    pub new_patients_per_week: f64,
    /// Mean patients under treatment.
    pub under_treatment: f64,
    /// Mean patients under monitoring.
    pub under_monitoring: f64,
    /// Change in visits a week from the first half of the year to the second, as a share a year:
    /// near zero once the clinic's load has settled.
    pub visits_change_per_year: f64,
    /// Whether the load has settled: visits changing by less than 5% a year.
    pub settled: bool,
}

/// Clinic activity of a run, by week and by month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Activity {
    /// Whole weeks from the run's start.
    pub weekly: Vec<ActivityRow>,
    /// Whole calendar months.
    pub monthly: Vec<ActivityRow>,
    /// The last year's level; none for runs shorter than two years.
    pub steady_state: Option<SteadyState>,
}

/// One day's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Day {
    pub(crate) visits: i64,
    pub(crate) injections: i64,
    pub(crate) monitoring_visits: i64,
    pub(crate) new_patients: i64,
    pub(crate) under_treatment: i64,
    pub(crate) under_monitoring: i64,
}

/// The years of follow-up the key figures report.
pub(crate) const KEY_YEARS: [i64; 3] = [1, 2, 5];

/// Activity of `dataset` (mounted in `session`), a run from `start` over `horizon_day` days.
pub fn clinic_activity(
    session: &Session,
    dataset: &str,
    start: Date,
    horizon_day: i64,
) -> Result<Activity, StoreError> {
    let ds = quote_ident(dataset);
    // A patient is in care from each visit until the next one booked: under monitoring when that
    // next visit is a monitoring visit, under treatment otherwise. Stocks are running sums of
    // the starts and ends of these spells.
    let sql = format!(
        r#"
        WITH ordered AS (
            SELECT day, next_interval_days,
                   coalesce(lead(phase) OVER (PARTITION BY patient_id ORDER BY visit_number), '') = 'monitoring' AS monitoring
            FROM {ds}.visits
        ),
        -- The next visit is the next of all the patient's visits: filtering first would skip a
        -- last visit that books none (a final monitoring visit) and misfile the spell before it.
        spells AS (
            SELECT day AS s, day + next_interval_days AS e, monitoring
            FROM ordered WHERE next_interval_days IS NOT NULL
        ),
        changes AS (
            SELECT s AS d, sum(CASE WHEN monitoring THEN 0 ELSE 1 END) AS t, sum(CASE WHEN monitoring THEN 1 ELSE 0 END) AS m
            FROM spells GROUP BY s
            UNION ALL
            SELECT e, -sum(CASE WHEN monitoring THEN 0 ELSE 1 END), -sum(CASE WHEN monitoring THEN 1 ELSE 0 END)
            FROM spells GROUP BY e
        ),
        flows AS (
            SELECT day AS d, count(*) AS visits, count(*) FILTER (WHERE injected) AS injections,
                   count(*) FILTER (WHERE phase = 'monitoring') AS monitoring_visits
            FROM {ds}.visits GROUP BY day
        ),
        arrivals AS (SELECT enrolment_day AS d, count(*) AS n FROM {ds}.patients GROUP BY enrolment_day),
        days AS (SELECT range AS d FROM range(0, {horizon_day}))
        SELECT days.d, coalesce(f.visits, 0), coalesce(f.injections, 0), coalesce(f.monitoring_visits, 0),
               coalesce(a.n, 0),
               sum(coalesce(c.t, 0)) OVER (ORDER BY days.d)::BIGINT, sum(coalesce(c.m, 0)) OVER (ORDER BY days.d)::BIGINT
        FROM days
        LEFT JOIN flows f ON f.d = days.d
        LEFT JOIN arrivals a ON a.d = days.d
        LEFT JOIN (SELECT d, sum(t) AS t, sum(m) AS m FROM changes GROUP BY d) c ON c.d = days.d
        ORDER BY days.d
        "#
    );
    let days = query_rows(session, &sql, |r| {
        Ok(Day {
            visits: r.get(1)?,
            injections: r.get(2)?,
            monitoring_visits: r.get(3)?,
            new_patients: r.get(4)?,
            under_treatment: r.get(5)?,
            under_monitoring: r.get(6)?,
        })
    })?;
    Ok(activity_from_days(&days, start))
}

/// Activity by week and month from a run's counts by day since `start`.
pub(crate) fn activity_from_days(days: &[Day], start: Date) -> Activity {
    let date = |day: usize| start.checked_add((day as i64).days()).expect("a date within the run");
    let period = |first: usize, days: &[Day]| ActivityRow {
        start: date(first),
        visits: days.iter().map(|d| d.visits).sum(),
        injections: days.iter().map(|d| d.injections).sum(),
        monitoring_visits: days.iter().map(|d| d.monitoring_visits).sum(),
        new_patients: days.iter().map(|d| d.new_patients).sum(),
        under_treatment: days.last().map_or(0, |d| d.under_treatment),
        under_monitoring: days.last().map_or(0, |d| d.under_monitoring),
    };
    // Whole weeks only: a part week would read as a drop in activity.
    let weekly: Vec<ActivityRow> = days.chunks_exact(7).enumerate().map(|(w, week)| period(w * 7, week)).collect();
    let mut monthly = Vec::new();
    let mut first = 0;
    while first < days.len() {
        let month = date(first);
        let next = month.first_of_month().checked_add(1.month()).expect("a later month");
        let end = next.since(start).map(|s| s.get_days() as usize).unwrap_or(days.len());
        // A month counts if the run covers it whole (the first may start mid-month: it is
        // dropped, like a part week).
        if month.day() == 1 && end <= days.len() {
            monthly.push(period(first, &days[first..end]));
        }
        first = end;
    }
    let steady_state = (weekly.len() >= 104).then(|| steady(&weekly[weekly.len() - 52..]));
    Activity { weekly, monthly, steady_state }
}

/// The level over `year` (52 weeks), and how fast visits still change across it.
fn steady(year: &[ActivityRow]) -> SteadyState {
    let mean = |f: &dyn Fn(&ActivityRow) -> i64, rows: &[ActivityRow]| {
        rows.iter().map(|r| f(r) as f64).sum::<f64>() / rows.len() as f64
    };
    let (first, second) = year.split_at(26);
    let visits = |r: &ActivityRow| r.visits;
    let before = mean(&visits, first);
    let change = if before > 0.0 { 2.0 * (mean(&visits, second) - before) / before } else { 0.0 };
    SteadyState {
        from: year[0].start,
        to: year[year.len() - 1].start.checked_add(7.days()).expect("a date"),
        visits_per_week: mean(&visits, year),
        injections_per_week: mean(&|r| r.injections, year),
        new_patients_per_week: mean(&|r| r.new_patients, year),
        under_treatment: mean(&|r| r.under_treatment, year),
        under_monitoring: mean(&|r| r.under_monitoring, year),
        visits_change_per_year: change,
        settled: change.abs() < 0.05,
    }
}

/// A run's figures at year k of follow-up, as `cohort_sim::outcomes` defines them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct YearFigures {
    /// The year of follow-up.
    pub year: i64,
    /// Patients followed to day 365·k + 65.
    pub patients: i64,
    /// Of them, patients with a visit within 65 days of day 365·k.
    pub with_vision: i64,
    /// Mean change in measured vision from baseline at the visit nearest day 365·k.
    pub vision_change: Option<f64>,
    /// Mean injections given before day 365·k.
    pub injections: Option<f64>,
    /// Share whose treatment had stopped before day 365·k.
    pub discontinued: Option<f64>,
}

/// The key figures of a run, for setting runs side by side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyFigures {
    /// Patients enrolled.
    pub patients: i64,
    /// Visits per patient over the run.
    pub visits_per_patient: f64,
    /// Injections per patient over the run.
    pub injections_per_patient: f64,
    /// Years patients spent in care (treatment or monitoring), summed.
    pub patient_years: f64,
    /// Visits per 1,000 patients in care for a year.
    pub visits_per_1000_patient_years: f64,
    /// Injections per 1,000 patients in care for a year.
    pub injections_per_1000_patient_years: f64,
    /// Stops by type per 1,000 patients in care for a year (every stop, after retreatment too).
    pub stops_per_1000_patient_years: Vec<(String, f64)>,
    /// Figures at years 1, 2 and 5 of follow-up.
    pub years: Vec<YearFigures>,
}

/// Key figures of `dataset`, a run of `horizon_day` days.
pub fn key_figures(session: &Session, dataset: &str, horizon_day: i64) -> Result<KeyFigures, StoreError> {
    let ds = quote_ident(dataset);
    let totals = query_rows(
        session,
        &format!(
            "SELECT (SELECT count(*) FROM {ds}.patients), count(*), count(*) FILTER (WHERE injected), \
             coalesce(sum(least(day + next_interval_days, {horizon_day}) - day) FILTER (WHERE next_interval_days IS NOT NULL), 0)::DOUBLE \
             FROM {ds}.visits"
        ),
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, f64>(3)?)),
    )?;
    let (patients, visits, injections, days_in_care) = totals[0];
    let stops = query_rows(
        session,
        &format!(
            "SELECT discontinuation_type, count(*) FROM {ds}.visits WHERE is_discontinuation_visit \
             GROUP BY 1 ORDER BY 2 DESC, 1"
        ),
        |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
    )?;
    let years = years_figures(session, dataset, horizon_day, &KEY_YEARS)?;
    Ok(key_figures_from(Totals { patients, visits, injections, days_in_care }, stops, years))
}

/// What the key figures are made of: counts over the whole run.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Totals {
    pub(crate) patients: i64,
    pub(crate) visits: i64,
    pub(crate) injections: i64,
    /// Days patients spent in care (to the horizon), summed.
    pub(crate) days_in_care: f64,
}

/// Key figures from a run's totals, its stops by type (most first) and its year figures.
pub(crate) fn key_figures_from(totals: Totals, stops: Vec<(String, i64)>, years: Vec<YearFigures>) -> KeyFigures {
    let Totals { patients, visits, injections, days_in_care } = totals;
    let patient_years = days_in_care / 365.25;
    let per_1000 = |n: f64| if patient_years > 0.0 { 1000.0 * n / patient_years } else { 0.0 };
    let per_patient = |n: i64| if patients > 0 { n as f64 / patients as f64 } else { 0.0 };
    KeyFigures {
        patients,
        visits_per_patient: per_patient(visits),
        injections_per_patient: per_patient(injections),
        patient_years,
        visits_per_1000_patient_years: per_1000(visits as f64),
        injections_per_1000_patient_years: per_1000(injections as f64),
        stops_per_1000_patient_years: stops.into_iter().map(|(kind, n)| (kind, per_1000(n as f64))).collect(),
        years,
    }
}

/// Year `k`'s figures: among patients followed to day 365·k + 65, the measured vision at the
/// visit nearest day 365·k (within 65 days; on a tie the earlier) minus baseline, the injections
/// before day 365·k, and whether treatment had stopped by then.
pub fn year_figures(session: &Session, dataset: &str, horizon_day: i64, k: i64) -> Result<YearFigures, StoreError> {
    Ok(years_figures(session, dataset, horizon_day, &[k])?.remove(0))
}

/// [`year_figures`] for each of `years`, in one read of the visits.
pub fn years_figures(
    session: &Session,
    dataset: &str,
    horizon_day: i64,
    years: &[i64],
) -> Result<Vec<YearFigures>, StoreError> {
    let ds = quote_ident(dataset);
    let list = years.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
    let sql = format!(
        r#"
        WITH cohort AS (
            SELECT k, 365 * k AS e, patient_id, baseline_vision
            FROM {ds}.patients, (SELECT unnest([{list}]) AS k)
            WHERE enrolment_day + 365 * k + 65 <= {horizon_day}
        ),
        per_patient AS (
            SELECT c.k, c.patient_id,
                   arg_min(v.vision - c.baseline_vision, abs(v.days_since_enrolment - c.e) * 100000 + v.visit_number)
                       FILTER (WHERE abs(v.days_since_enrolment - c.e) <= 65) AS change,
                   count(v.patient_id) FILTER (WHERE v.injected AND v.days_since_enrolment < c.e) AS injections,
                   bool_or(v.is_discontinuation_visit AND v.days_since_enrolment < c.e) AS stopped
            FROM cohort c LEFT JOIN {ds}.visits v USING (patient_id)
            GROUP BY c.k, c.patient_id
        )
        SELECT k, count(*), count(change), avg(change), avg(injections), avg(coalesce(stopped, false)::INT)
        FROM per_patient GROUP BY k
        "#
    );
    let found = query_rows(session, &sql, |r| {
        Ok(YearFigures {
            year: r.get(0)?,
            patients: r.get(1)?,
            with_vision: r.get(2)?,
            vision_change: r.get(3)?,
            injections: r.get(4)?,
            discontinued: r.get(5)?,
        })
    })?;
    // A year nobody was followed for has no row: it says so with zero patients.
    Ok(years
        .iter()
        .map(|k| {
            found.iter().find(|y| y.year == *k).cloned().unwrap_or(YearFigures {
                year: *k,
                patients: 0,
                with_vision: 0,
                vision_change: None,
                injections: None,
                discontinued: None,
            })
        })
        .collect())
}
