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
/// comes first. (APE's rule values, from `ape-tae`.)
#[test]
fn discontinuation_rules_fire_in_priority_order() {
    let base = builtin("ape-tae").unwrap().yaml;
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

/// APE's scheduling, as `ape-tae` states it: its weekday scheduler holds the third visit's
/// interval to 35 days, and every injection brings the next visit back to the minimum interval;
/// a visit that finds the disease stable injects nothing and extends from the last injection.
#[test]
fn apes_rules_schedule_visits_as_apes_engine_does() {
    let (_, _, visits) = run("ape-tae", 5_000, 42);
    let courses: Vec<&Visit> = visits.iter().filter(|v| v.discontinuation.is_none()).collect();
    let fourth: Vec<i32> = courses.iter().filter(|v| v.visit_number == 4).filter_map(|v| v.interval_days).collect();
    assert!(fourth.len() > 3_000, "{} fourth visits", fourth.len());
    assert!(fourth.iter().all(|d| *d == 35), "the first maintenance visit comes 35 days after loading");
    let maintenance: Vec<&&Visit> = courses.iter().filter(|v| v.phase == Phase::Maintenance).collect();
    for v in &maintenance {
        if let Some(next) = v.next_interval_days {
            if v.injected {
                assert_eq!(next, 56, "after an injection, the minimum interval: {v:?}");
            } else {
                assert!(next > 56, "a stable visit extends: {v:?}");
            }
        }
        assert_eq!(v.injected, v.disease_state != cohort_sim::protocol::DiseaseState::Stable, "{v:?}");
    }
    assert!(maintenance.iter().any(|v| !v.injected) && maintenance.iter().any(|v| v.injected));
}

/// APE's risk of death at a visit covers the mean interval between earlier visits (8 visits a
/// year before there are two), so patients can die at their first visit; counted from the last
/// visit, as the calibrated protocols do, nobody can.
#[test]
fn mortality_exposure_follows_the_protocol() {
    let died_at_first = |name: &str| {
        let (_, _, visits) = run(name, 20_000, 5);
        visits
            .iter()
            .filter(|v| {
                v.visit_number == 1 && v.discontinuation == Some(cohort_sim::engine::DiscontinuationType::Death)
            })
            .count()
    };
    assert!(died_at_first("ape-tae") > 50);
    assert_eq!(died_at_first("aflibercept-tae"), 0);
}

/// APE draws baseline vision as `int(random.gauss(...))`: towards zero, about half a letter
/// below rounding to the nearest, draw for draw.
#[test]
fn baseline_vision_rounds_as_the_protocol_says() {
    use cohort_sim::population::draw_baseline;
    use cohort_sim::protocol::{BaselineVision, Rounding};
    let mut population = builtin("ape-tae").unwrap().load().unwrap().population;
    let draw = |population: &cohort_sim::protocol::Population| {
        (0..20_000u64)
            .map(|i| draw_baseline(population, &mut cohort_sim::random::patient_rng(9, i)).vision)
            .collect::<Vec<f64>>()
    };
    let truncated = draw(&population);
    let BaselineVision::Normal { rounding, .. } = &mut population.baseline_vision else { panic!("normal") };
    assert_eq!(*rounding, Some(Rounding::TowardZero));
    *rounding = None;
    let nearest = draw(&population);
    for (t, n) in truncated.iter().zip(&nearest) {
        assert!(*n - *t == 0.0 || *n - *t == 1.0, "{t} against {n}");
    }
    let shift = nearest.iter().sum::<f64>() / 20_000.0 - truncated.iter().sum::<f64>() / 20_000.0;
    assert!((shift - 0.5).abs() < 0.03, "rounding to the nearest letter adds {shift:.3} on average");
}

/// A visit's flow category says the weeks it holds, and holds them: "Extended (10-15 weeks)"
/// holds intervals of 10 to 15 weeks, rounded to whole weeks.
#[test]
fn visit_categories_hold_what_their_names_say() {
    let (_, _, visits) = run("aflibercept-tae", 5_000, 21);
    let mut seen = std::collections::BTreeSet::new();
    for v in &visits {
        let Some(gap) = v.interval_days else { continue };
        let name = v.treatment_state;
        let weeks = (gap + 3) / 7;
        let numbers: Vec<i32> =
            name.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).map(|s| s.parse().unwrap()).collect();
        let within = match (name, numbers.as_slice()) {
            ("Restarted" | "Monitoring", _) => true,
            (n, [limit]) if n.contains("up to") => weeks <= *limit,
            (n, [limit]) if n.contains("over") => weeks > *limit,
            (_, [exact]) => weeks == *exact,
            (_, [low, high]) => (*low..=*high).contains(&weeks),
            _ => false,
        };
        assert!(within, "a {gap}-day interval ({weeks} weeks) is in `{name}`");
        seen.insert(name);
    }
    assert!(seen.contains("Extended (10-15 weeks)") && seen.contains("Maximum extension (16 weeks)"), "{seen:?}");
}
