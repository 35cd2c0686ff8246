//! The patient engine against the specification's rules, on whole simulated cohorts.

use std::collections::BTreeMap;

use cohort_sim::engine::{Model, Phase, Visit};
use cohort_sim::population::{Recruitment, enrolment_days, horizon_days};
use cohort_sim::protocol::{Protocol, builtin};
use jiff::civil::{Weekday, date};

fn run(protocol: &str, patients: u64, seed: u64) -> (Model, Vec<cohort_sim::engine::Patient>, Vec<Visit>) {
    let protocol: Protocol = builtin(protocol).unwrap().load().unwrap();
    let horizon = horizon_days(5.0);
    let model = Model::new(protocol, date(2024, 1, 1), horizon, seed);
    let days = enrolment_days(Recruitment::FixedTotal { patients }, horizon, seed);
    let mut visits = Vec::new();
    let patients = days.iter().enumerate().map(|(i, d)| model.simulate(i as u64, *d, &mut visits)).collect();
    (model, patients, visits)
}

#[test]
fn cohort_summary_and_invariants() {
    let (model, patients, visits) = run("aflibercept-tae", 20_000, 42);
    let n = patients.len() as f64;
    let discontinued = patients.iter().filter(|p| p.discontinuation.is_some()).count() as f64;
    let mut mix: BTreeMap<&str, usize> = BTreeMap::new();
    for p in &patients {
        if let Some((_, kind, _)) = p.discontinuation {
            *mix.entry(kind.as_str()).or_default() += 1;
        }
    }
    eprintln!(
        "patients {n}, visits/patient {:.2}, injections/patient {:.2}, discontinued {:.1}%, retreated {}, mix {mix:?}",
        visits.len() as f64 / n,
        patients.iter().map(|p| p.total_injections as f64).sum::<f64>() / n,
        100.0 * discontinued / n,
        patients.iter().filter(|p| p.retreatment_count > 0).count(),
    );
    // Every patient enrolled gets a first visit (the weekend rule moves it forward, never away).
    assert!(patients.iter().all(|p| p.total_visits >= 1 || p.enrolment_day as u32 + 2 >= model.horizon()));
    let by_patient = visits.iter().fold(BTreeMap::new(), |mut m: BTreeMap<i64, i32>, v| {
        *m.entry(v.patient_id).or_default() += 1;
        m
    });
    for p in &patients {
        assert_eq!(by_patient.get(&p.patient_id).copied().unwrap_or(0), p.total_visits);
    }
    for v in &visits {
        assert!((0.0..=100.0).contains(&v.vision) && v.vision.fract() == 0.0, "{v:?}");
        let weekday = model.start().checked_add(jiff::Span::new().days(i64::from(v.day))).unwrap().weekday();
        assert!(!matches!(weekday, Weekday::Saturday | Weekday::Sunday), "a visit on a weekend: {v:?}");
        assert!((v.day as u32) < model.horizon());
        assert!(!(v.injected && v.discontinuation.is_some()), "a discontinuing visit injects nothing");
    }
    // Loading: the first three visits inject, about 28 days apart.
    let first: Vec<&Visit> = visits
        .iter()
        .filter(|v| v.visit_number <= 3 && v.phase == Phase::Loading && v.discontinuation.is_none())
        .collect();
    assert!(first.iter().all(|v| v.injected));
    assert!(first.iter().filter(|v| v.visit_number > 1).all(|v| (26..=30).contains(&v.interval_days.unwrap())));
}

#[test]
fn treat_and_treat_injects_at_every_treatment_visit() {
    let (_, _, visits) = run("aflibercept-tnt", 5_000, 7);
    for v in visits.iter().filter(|v| matches!(v.phase, Phase::Maintenance) && v.discontinuation.is_none()) {
        assert!(v.injected, "{v:?}");
        assert!(v.next_interval_days.is_none_or(|d| (54..=58).contains(&d)), "{v:?}");
    }
}

#[test]
fn treat_and_extend_as_practised_injects_every_visit_and_moves_the_interval_with_activity() {
    let mut protocol = builtin("aflibercept-tae").unwrap().load().unwrap();
    protocol.treatment.injection_rule = Some(cohort_sim::protocol::InjectionRule::EveryVisit);
    let model = Model::new(protocol, date(2024, 1, 1), horizon_days(3.0), 11);
    let mut visits = Vec::new();
    for i in 0..3_000 {
        model.simulate(i, (i % 200) as u32, &mut visits);
    }
    let maintenance: Vec<&Visit> =
        visits.iter().filter(|v| v.phase == Phase::Maintenance && v.discontinuation.is_none()).collect();
    assert!(maintenance.len() > 10_000);
    assert!(maintenance.iter().all(|v| v.injected), "every maintenance visit injects");
    // Dry visits lengthen the next interval, active ones shorten it, within 8 to 16 weeks (a
    // weekend moves a visit by up to two days).
    let (mut longer, mut shorter) = (0, 0);
    for pair in maintenance.windows(2).filter(|w| w[0].patient_id == w[1].patient_id) {
        let (Some(before), Some(after)) = (pair[0].interval_days, pair[0].next_interval_days) else { continue };
        assert!((54..=114).contains(&after), "{:?}", pair[0]);
        match pair[0].disease_state {
            cohort_sim::protocol::DiseaseState::Stable => longer += i32::from(after > before + 2 || after >= 110),
            _ => shorter += i32::from(after < before - 2 || after <= 58),
        }
    }
    assert!(longer > 1_000 && shorter > 1_000, "{longer} extended, {shorter} shortened");
}

#[test]
fn a_patient_depends_only_on_seed_and_index() {
    let protocol = builtin("aflibercept-tae").unwrap().load().unwrap();
    let model = Model::new(protocol, date(2024, 1, 1), horizon_days(5.0), 42);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let pa = model.simulate(12_345, 100, &mut a);
    for i in 0..50 {
        model.simulate(i, 3, &mut Vec::new());
    }
    let pb = model.simulate(12_345, 100, &mut b);
    assert_eq!(pa, pb);
    assert_eq!(a, b);
}

/// Rules are checked in priority order and the first that fires wins. Poor vision (2nd) and
/// deterioration (3rd) are made certain and due at the same visit, with attrition and
/// administrative stops off: every stop is poor vision. With death made near-certain as well, it
/// comes first (it can fire from the second visit on).
#[test]
fn discontinuation_rules_fire_in_priority_order() {
    let base = builtin("aflibercept-tae").unwrap().yaml;
    let graded = base
        .replace("hazard_ratio: 1.36", "hazard_ratio: 0.000000001")
        .replace(
            "poor_vision: {below_letters: 20, consecutive_visits: 2, probability: 0.8}",
            "poor_vision: {below_letters: 101, consecutive_visits: 3, probability: 1.0}",
        )
        .replace(
            "deterioration: {loss_letters: 10, consecutive_visits: 3, probability: 0.7}",
            "deterioration: {loss_letters: 0, consecutive_visits: 3, probability: 1.0}",
        )
        .replace("    per_visit: 0.01", "    per_visit: 0.0")
        .replace("administrative: {per_visit: 0.005}", "administrative: {per_visit: 0.0}");
    let kinds = |yaml: &str| {
        let protocol = Protocol::from_yaml("test", yaml).unwrap();
        let model = Model::new(protocol, date(2024, 1, 1), horizon_days(2.0), 3);
        let mut visits = Vec::new();
        for i in 0..2_000 {
            model.simulate(i, 10, &mut visits);
        }
        visits.iter().filter_map(|v| v.discontinuation.map(|d| d.as_str())).collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(kinds(&graded), ["poor_vision"].into());
    let deadly = graded.replace("hazard_ratio: 0.000000001", "hazard_ratio: 100000.0");
    assert_eq!(kinds(&deadly), ["death"].into());
}

/// The model against what APE's own engine measured for T&E at 10,000 patients, seed 42 (the
/// model specification's last section): visits per patient 5.6, 48.7% discontinued, and the mix of
/// discontinuation types. Three documented differences are undone or allowed for:
/// - APE moved weekend enrolments to a Friday already past, so 2/7 of its patients never had a
///   visit: our per-patient figures are scaled by 5/7.
/// - APE drew baseline vision from Normal(64.2, 17.6), ignoring its own distribution: this run
///   does the same, which matters for poor vision (below 20 letters comes first in priority).
/// - APE has no monitoring or retreatment and drops the discontinuing visit: only each patient's
///   first course counts, up to its first stop.
///
/// Death and deterioration get wider bounds: the specification takes mortality from the UK life
/// table with a hazard ratio of 1.36, where APE's engine used 2% a year raised 50% per decade over
/// 70, so fewer of APE's patients died and more lived on to stop for deterioration.
#[test]
fn reproduces_apes_measured_discontinuation_figures() {
    let ape_baseline = builtin("aflibercept-tae").unwrap().yaml.replace(
        "    distribution: beta_with_threshold\n    alpha: 3.5\n    beta: 2.0\n    min: 5\n    max: 98\n    \
         threshold: 70\n    threshold_reduction: 0.6\n",
        "    distribution: normal\n    mean: 64.2\n    sd: 17.6\n    min: 5\n    max: 98\n",
    );
    assert!(ape_baseline.contains("mean: 64.2"), "the built-in's baseline_vision block has changed");
    let protocol = Protocol::from_yaml("APE's baseline", &ape_baseline).unwrap();
    let horizon = horizon_days(5.0);
    let model = Model::new(protocol, date(2024, 1, 1), horizon, 42);
    let days = enrolment_days(Recruitment::FixedTotal { patients: 10_000 }, horizon, 42);
    let mut visits = Vec::new();
    for (i, day) in days.iter().enumerate() {
        model.simulate(i as u64, *day, &mut visits);
    }
    let patients = days.len() as f64;
    let mut first_stop: BTreeMap<i64, &str> = BTreeMap::new();
    let mut first_course_visits = 0usize;
    for v in &visits {
        if first_stop.contains_key(&v.patient_id) {
            continue;
        }
        match v.discontinuation {
            Some(kind) => {
                first_stop.insert(v.patient_id, kind.as_str());
            }
            None => first_course_visits += 1,
        }
    }
    let seen = 5.0 / 7.0;
    let visits_per_patient = first_course_visits as f64 / patients * seen;
    let discontinued = 100.0 * first_stop.len() as f64 / patients * seen;
    let share =
        |kind: &str| 100.0 * first_stop.values().filter(|k| **k == kind).count() as f64 / first_stop.len() as f64;
    eprintln!("visits/patient {visits_per_patient:.2} (APE 5.6), discontinued {discontinued:.1}% (APE 48.7%)");
    assert!((visits_per_patient - 5.6).abs() < 0.56, "visits per patient {visits_per_patient:.2}");
    assert!((discontinued - 48.7).abs() < 5.0, "discontinued {discontinued:.1}%");
    let ape = [
        ("deterioration", 43.7, 10.0),
        ("attrition", 14.5, 3.0),
        ("death", 11.8, 5.0),
        ("stable_treatment_decision", 11.8, 3.0),
        ("no_improvement_decision", 8.7, 3.0),
        ("administrative", 5.4, 2.0),
        ("poor_vision", 3.9, 2.0),
    ];
    for (kind, measured, bound) in ape {
        let ours = share(kind);
        eprintln!("{kind}: {ours:.1}% (APE {measured}%)");
        assert!((ours - measured).abs() < bound, "{kind}: {ours:.1}% against APE's {measured}%");
    }
}
