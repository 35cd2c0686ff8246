//! The cohort flow of a real simulated run: every month adds up to those enrolled.

use std::collections::BTreeMap;

use cohort_analysis::flow::{cohort_flow, cohort_flow_by_follow_up};
use cohort_store::{Session, Store};

mod common;

/// A committed simulation run called `flow`.
fn simulated(patients: u64, years: f64) -> (tempfile::TempDir, Store) {
    let (dir, store, _) = common::simulated("flow", "aflibercept-tae", patients, years, 5);
    (dir, store)
}

/// A run of several parts (files) scanned in parallel equals the SQL definition.
#[test]
fn the_streaming_pass_over_several_files_equals_the_sql() {
    let (_dir, store) = simulated(230_000, 1.0);
    let run = store.resolve(&cohort_store::VersionRef::parse("flow").unwrap()).unwrap();
    assert_eq!(run.table("visits").unwrap().files.len(), 3);
    let session = Session::for_sql(&store, "flow").unwrap();
    let horizon = cohort_sim::population::horizon_days(1.0) as i64;
    let scan = cohort_analysis::scan::scan_run(&store, &run, jiff::civil::date(2024, 1, 1), horizon)
        .unwrap()
        .expect("a simulated run is in patient order");
    let scanned = &scan.flows;
    assert_eq!(scanned.calendar, cohort_flow(&session, "flow").unwrap());
    assert_eq!(scanned.follow_up, cohort_flow_by_follow_up(&session, "flow", horizon).unwrap());

    // The other aggregates of the same pass equal their SQL definitions (sums of floating-point
    // vision may differ in the last bits: they are added in another order).
    use cohort_analysis::{burden, discontinuation, vision};
    assert_eq!(scan.stops, discontinuation::stop_counts(&session, "flow").unwrap());
    assert_eq!(scan.intervals, burden::intervals(&session, "flow").unwrap());
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(1.0);
    let sql = burden::per_year(&session, "flow", horizon).unwrap();
    assert_eq!(scan.per_year.len(), sql.len());
    for (a, b) in scan.per_year.iter().zip(&sql) {
        assert!(
            a.year == b.year
                && a.patients == b.patients
                && close(a.injections, b.injections)
                && close(a.visits, b.visits),
            "{a:?} {b:?}"
        );
    }
    let sql = discontinuation::cumulative_incidence(&session, "flow", horizon).unwrap();
    assert_eq!(scan.incidence.len(), sql.len());
    for (a, b) in scan.incidence.iter().zip(&sql) {
        assert!(a.kind == b.kind && a.month == b.month && close(a.percent, b.percent), "{a:?} {b:?}");
    }
    let sql = vision::vision_over_time(&session, "flow").unwrap();
    assert_eq!(scan.vision.len(), sql.len());
    for (a, b) in scan.vision.iter().zip(&sql) {
        assert!(a.group == b.group && a.month == b.month && a.visits == b.visits, "{a:?} {b:?}");
        assert!(close(a.mean, b.mean) && (a.ci_low - b.ci_low).abs() < 1e-6, "{a:?} {b:?}");
    }
    assert_clinic_figures_equal_the_sql(&scan, &session, horizon);
}

/// Clinic activity and the key figures of the pass equal their SQL definitions.
fn assert_clinic_figures_equal_the_sql(scan: &cohort_analysis::scan::Scan, session: &Session, horizon: i64) {
    use cohort_analysis::planning;
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(1.0);
    let activity = planning::clinic_activity(session, "flow", jiff::civil::date(2024, 1, 1), horizon).unwrap();
    // Row by row, so that a difference names its week and does not print the whole run.
    for (ours, sql) in [(&scan.activity.weekly, &activity.weekly), (&scan.activity.monthly, &activity.monthly)] {
        assert_eq!(ours.len(), sql.len());
        for (a, b) in ours.iter().zip(sql.iter()) {
            assert_eq!(a, b);
        }
    }
    assert_eq!(scan.activity.steady_state, activity.steady_state);
    let sql = planning::key_figures(session, "flow", horizon).unwrap();
    let ours = &scan.key_figures;
    assert_eq!(
        (ours.patients, ours.visits_per_patient, ours.injections_per_patient, ours.patient_years),
        (sql.patients, sql.visits_per_patient, sql.injections_per_patient, sql.patient_years)
    );
    assert_eq!(ours.stops_per_1000_patient_years, sql.stops_per_1000_patient_years);
    assert_eq!(ours.years.len(), sql.years.len());
    for (a, b) in ours.years.iter().zip(&sql.years) {
        assert_eq!((a.year, a.patients, a.with_vision), (b.year, b.patients, b.with_vision), "{a:?} {b:?}");
        for (x, y) in
            [(a.vision_change, b.vision_change), (a.injections, b.injections), (a.discontinued, b.discontinued)]
        {
            assert!(x.zip(y).is_some_and(|(x, y)| close(x, y)) || (x.is_none() && y.is_none()), "{a:?} {b:?}");
        }
    }
}

/// Over six years (figures at years 1, 2 and 5, a steady state, monitoring after stops) the
/// pass's clinic activity and key figures equal the SQL.
#[test]
fn the_streaming_pass_counts_the_clinic_as_the_sql_does() {
    let (_dir, store) = simulated(20_000, 6.0);
    let run = store.resolve(&cohort_store::VersionRef::parse("flow").unwrap()).unwrap();
    let session = Session::for_sql(&store, "flow").unwrap();
    let horizon = cohort_sim::population::horizon_days(6.0) as i64;
    let scan = cohort_analysis::scan::scan_run(&store, &run, jiff::civil::date(2024, 1, 1), horizon)
        .unwrap()
        .expect("a simulated run is in patient order");
    assert!(scan.key_figures.years.iter().all(|y| y.patients > 0 && y.with_vision > 0), "{:?}", scan.key_figures.years);
    assert!(scan.activity.steady_state.is_some());
    assert!(scan.activity.monthly.iter().any(|m| m.under_monitoring > 0), "some patients are monitored");
    assert_clinic_figures_equal_the_sql(&scan, &session, horizon);
}

#[test]
fn every_month_adds_up_to_those_enrolled() {
    let (_dir, store) = simulated(3_000, 3.0);
    let session = Session::for_sql(&store, "flow").unwrap();
    let flow = cohort_flow(&session, "flow").unwrap();
    let mut by_month: BTreeMap<&str, i64> = BTreeMap::new();
    for row in &flow {
        *by_month.entry(&row.month_end).or_default() += row.patients;
    }
    // Each month: categories add up to the patients enrolled by the month's end.
    for (month, total) in &by_month {
        let enrolled: i64 = session
            .connection()
            .query_row(&format!("SELECT count(*) FROM flow.patients WHERE enrolment_date <= DATE '{month}'"), [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(*total, enrolled, "month ending {month}");
    }
    assert!(by_month.len() >= 36, "{} months", by_month.len());
    let categories: std::collections::BTreeSet<&str> = flow.iter().map(|r| r.category.as_str()).collect();
    for expected in ["Pre-treatment", "Initial", "Intensive (up to 5 weeks)", "Regular (6-9 weeks)", "Monitoring"] {
        assert!(categories.contains(expected), "{expected} missing from {categories:?}");
    }
    assert!(categories.iter().any(|c| c.starts_with("Discontinued (")), "{categories:?}");

    // The change-based queries equal the definition: a snapshot of every enrolled (or followed)
    // patient's last visit at each point, by an ASOF join.
    let snapshot = |points: &str, key: &str| -> Vec<(String, String, i64)> {
        let sql = format!(
            r#"
            WITH visits AS (
                SELECT patient_id, day, date, phase, is_discontinuation_visit, next_interval_days, treatment_state,
                       last_value(discontinuation_type IGNORE NULLS) OVER (
                           PARTITION BY patient_id ORDER BY visit_number
                           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS last_stop
                FROM flow.visits),
            points AS ({points})
            SELECT {key}::VARCHAR,
                   CASE
                       WHEN v.patient_id IS NULL THEN 'Pre-treatment'
                       WHEN (v.phase = 'monitoring' OR v.is_discontinuation_visit) AND v.next_interval_days IS NULL
                           THEN 'Discontinued (' || v.last_stop || ')'
                       WHEN v.phase = 'monitoring' OR v.is_discontinuation_visit THEN 'Monitoring'
                       ELSE v.treatment_state
                   END AS category,
                   count(*)
            FROM points e ASOF LEFT JOIN visits v ON e.patient_id = v.patient_id AND v.day <= e.day
            GROUP BY ALL ORDER BY 1, 2"#
        );
        let mut stmt = session.connection().prepare(&sql).unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect()
    };
    let calendar = snapshot(
        "SELECT p.patient_id, m.month_end, (m.month_end - DATE '2024-01-01')::INTEGER AS day
         FROM flow.patients p,
              (SELECT DISTINCT last_day(d::DATE) AS month_end FROM generate_series(
                   (SELECT date_trunc('month', min(enrolment_date)) FROM flow.patients),
                   (SELECT max(date) FROM flow.visits), INTERVAL 1 MONTH) t(d)) m
         WHERE p.enrolment_date <= m.month_end",
        "strftime(e.month_end, '%Y-%m-%d')",
    );
    let fast: Vec<(String, String, i64)> =
        flow.iter().map(|r| (r.month_end.clone(), r.category.clone(), r.patients)).collect();
    assert_eq!(fast, calendar);
    let horizon = cohort_sim::population::horizon_days(3.0) as i64;
    let follow_up = snapshot(
        &format!(
            "SELECT p.patient_id, m.month, p.enrolment_day + round(m.month * 30.4375)::INTEGER AS day
             FROM flow.patients p, range(0, 1201) m(month)
             WHERE p.enrolment_day + round(m.month * 30.4375) < {horizon}"
        ),
        "lpad(e.month::VARCHAR, 4, '0')",
    );
    let fast: Vec<(String, String, i64)> = cohort_flow_by_follow_up(&session, "flow", horizon)
        .unwrap()
        .into_iter()
        .map(|r| (format!("{:04}", r.month), r.category, r.patients))
        .collect();
    assert_eq!(fast, follow_up);

    // The streaming pass over the files gives the same, row for row.
    let run = store.resolve(&cohort_store::VersionRef::parse("flow").unwrap()).unwrap();
    let scanned = cohort_analysis::scan::scan_run(&store, &run, jiff::civil::date(2024, 1, 1), horizon)
        .unwrap()
        .expect("a simulated run is in patient order")
        .flows;
    assert_eq!(scanned.calendar, flow);
    assert_eq!(scanned.follow_up, cohort_flow_by_follow_up(&session, "flow", horizon).unwrap(), "follow-up flow");
}
