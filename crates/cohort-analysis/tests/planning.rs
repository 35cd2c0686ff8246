//! The planner's figures of a real simulated run: activity that adds up, a steady state, and
//! year-k figures equal to the one definition in `cohort_sim::outcomes` on the same patients.

use cohort_analysis::planning::{clinic_activity, key_figures, year_figures};
use cohort_sim::engine::Model;
use cohort_sim::outcomes::Tally;
use cohort_sim::population::{enrolment_days, horizon_days};
use cohort_sim::protocol::builtin;
use cohort_sim::run::RunParams;
use cohort_store::{Session, Store};

const PATIENTS: u64 = 6_000;
const YEARS: f64 = 6.0;
const SEED: u64 = 9;

mod common;

fn simulated() -> (tempfile::TempDir, Store, RunParams) {
    common::simulated("plan", "aflibercept-tae", PATIENTS, YEARS, SEED)
}

#[test]
fn year_figures_follow_the_one_definition_and_activity_adds_up() {
    let (_dir, store, params) = simulated();
    let session = Session::for_sql(&store, "plan").unwrap();
    let horizon = horizon_days(YEARS);

    // The same patients through the engine, counted by cohort_sim::outcomes.
    let protocol = builtin("aflibercept-tae").unwrap().load().unwrap();
    let model = Model::new(protocol, params.start, horizon, SEED);
    let days = enrolment_days(params.recruitment, horizon, SEED);
    for k in [1u32, 2, 5] {
        let mut tally = Tally::new(k, horizon);
        let mut visits = Vec::new();
        for (i, day) in days.iter().enumerate() {
            visits.clear();
            let patient = model.simulate(i as u64, *day, &mut visits);
            tally.add(&patient, &visits);
        }
        let expected = tally.outcomes().pop().unwrap();
        let got = year_figures(&session, "plan", i64::from(horizon), i64::from(k)).unwrap();
        assert_eq!(got.patients as u64, expected.patients, "year {k}");
        assert!(got.patients > 100, "year {k}: {} patients followed", got.patients);
        assert_eq!(got.with_vision as u64, expected.with_vision, "year {k}");
        let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-9);
        assert!(close(got.vision_change, expected.vision_change.unwrap()), "year {k}: {got:?} against {expected:?}");
        assert!(close(got.injections, expected.injections), "year {k}: {got:?} against {expected:?}");
        assert!(close(got.discontinued, expected.discontinued), "year {k}: {got:?} against {expected:?}");
    }

    let activity = clinic_activity(&session, "plan", params.start, i64::from(horizon)).unwrap();
    let scalar = |sql: &str| -> i64 { session.connection().query_row(sql, [], |r| r.get(0)).unwrap() };
    let whole_weeks = activity.weekly.len() as i64;
    assert_eq!(whole_weeks, i64::from(horizon) / 7);
    assert_eq!(
        activity.weekly.iter().map(|w| w.visits).sum::<i64>(),
        scalar(&format!("SELECT count(*) FROM plan.visits WHERE day < {}", whole_weeks * 7))
    );
    assert_eq!(
        activity.weekly.iter().map(|w| w.new_patients).sum::<i64>(),
        scalar(&format!("SELECT count(*) FROM plan.patients WHERE enrolment_day < {}", whole_weeks * 7))
    );
    // Months: whole calendar months only; January 2024 to the last whole month.
    assert_eq!(activity.monthly[0].start, jiff::civil::date(2024, 1, 1));
    assert!(activity.monthly.iter().all(|m| m.start.day() == 1));
    assert_eq!(activity.monthly.len(), 71, "6 years from 2024-01-01 less a day: 71 whole months");
    // The caseload at a week's end: patients with a visit booked; never more than enrolled.
    for w in &activity.weekly {
        assert!(w.under_treatment >= 0 && w.under_monitoring >= 0 && w.injections <= w.visits, "{w:?}");
    }
    let last = activity.weekly.last().unwrap();
    let booked = scalar(&format!(
        "SELECT count(*) FROM plan.visits WHERE next_interval_days IS NOT NULL AND day <= {t} AND day + next_interval_days > {t}",
        t = whole_weeks * 7 - 1
    ));
    assert_eq!(last.under_treatment + last.under_monitoring, booked);
    let steady = activity.steady_state.expect("a six-year run has a steady state");
    assert!(steady.visits_per_week > 0.0 && steady.injections_per_week <= steady.visits_per_week);

    let key = key_figures(&session, "plan", i64::from(horizon)).unwrap();
    assert_eq!(key.patients, scalar("SELECT count(*) FROM plan.patients"));
    assert_eq!(key.years.iter().map(|y| y.year).collect::<Vec<_>>(), [1, 2, 5]);
    assert!(key.patient_years > 0.0 && key.visits_per_1000_patient_years > key.injections_per_1000_patient_years);
}
