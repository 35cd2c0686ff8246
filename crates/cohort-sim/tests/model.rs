//! The model's building blocks against the specification (amd-model.md). Draws use fixed seeds,
//! so these statistical checks give the same result on every run; tolerances are five standard
//! errors.

use cohort_sim::disease::{Transitions, efficacy};
use cohort_sim::population::{Recruitment, draw_baseline, enrolment_days, horizon_days};
use cohort_sim::protocol::{BaselineVision, DiseaseState, Protocol, builtin};
use cohort_sim::random::patient_rng;
use cohort_sim::vision::{ceiling, decline, haemorrhage_risk, may_start_improvement, treatment_effect};
use rand::RngExt;

use DiseaseState::*;

fn tae() -> Protocol {
    builtin("ape-tae").unwrap().load().unwrap()
}

/// Asserts that `hits` out of `n` matches probability `p` within five standard errors.
fn assert_frequency(what: &str, hits: u64, n: u64, p: f64) {
    let observed = hits as f64 / n as f64;
    let se = (p * (1.0 - p) / n as f64).sqrt().max(1e-9);
    assert!((observed - p).abs() <= 5.0 * se, "{what}: observed {observed:.5}, expected {p:.5} (se {se:.5})");
}

#[test]
fn untreated_transitions_match_the_matrix() {
    let p = tae();
    let t = Transitions::new(&p.disease);
    let mut rng = patient_rng(42, 0);
    let n = 200_000;
    for from in DiseaseState::ALL {
        let mut counts = [0u64; 4];
        for _ in 0..n {
            counts[t.next(from, 0.0, rng.random::<f64>()) as usize] += 1;
        }
        for to in DiseaseState::ALL {
            let expected = p.disease.transitions[&from].get(&to).copied().unwrap_or(0.0);
            assert_frequency(&format!("{from:?} -> {to:?}"), counts[to as usize], n, expected);
        }
    }
}

#[test]
fn treatment_modifies_and_renormalises_the_current_row() {
    let t = Transitions::new(&tae().disease);
    // ACTIVE under full efficacy: 0.05*2.0, 0.90*0.8, 0.05*0.5, renormalised.
    let raw = [0.0, 0.05 * 2.0, 0.90 * 0.8, 0.05 * 0.5];
    let sum: f64 = raw.iter().sum();
    let row = t.row(Active, 1.0);
    for i in 0..4 {
        assert!((row[i] - raw[i] / sum).abs() < 1e-12, "{row:?}");
    }
    // Half efficacy mixes the two; NAIVE has no multipliers.
    let half = t.row(Active, 0.5);
    assert!((half[1] - (0.05 * 0.5 + 0.1 * 0.5) / (0.5 + 0.5 * sum)).abs() < 1e-12, "{half:?}");
    assert_eq!(t.row(Naive, 1.0), [0.0, 0.30, 0.60, 0.10]);
    let mut rng = patient_rng(1, 1);
    let n = 200_000;
    let stable = (0..n).filter(|_| t.next(Active, 1.0, rng.random::<f64>()) == Stable).count() as u64;
    assert_frequency("ACTIVE -> STABLE treated", stable, n, raw[1] / sum);
}

#[test]
fn efficacy_halves_every_half_life() {
    assert_eq!(efficacy(None, 56.0), 0.0);
    assert_eq!(efficacy(Some(0), 56.0), 1.0);
    assert!((efficacy(Some(56), 56.0) - 0.5).abs() < 1e-12);
    assert!((efficacy(Some(112), 56.0) - 0.25).abs() < 1e-12);
}

#[test]
fn vision_effect_curve_follows_the_spec() {
    let points = tae().vision.treatment_effect;
    for (days, want) in
        [(0, 1.0), (56, 1.0), (70, 0.75), (84, 0.5), (98, 0.375), (112, 0.25), (168, 0.125), (224, 0.0), (400, 0.0)]
    {
        // The spec: 0.25 - (d - 112) / 112 * 0.25 after 112 days.
        assert!((treatment_effect(&points, Some(days)) - want).abs() < 1e-12, "day {days}");
    }
    assert_eq!(treatment_effect(&points, None), 0.0);
    let d = decline(&tae().vision.decline[&Active], 0.5);
    assert!((d.mean - (-0.95)).abs() < 1e-12 && (d.sd - 0.45).abs() < 1e-12, "{d:?}");
}

#[test]
fn improvement_haemorrhage_and_ceiling_rules() {
    let p = tae();
    let imp = &p.vision.improvement;
    assert!(may_start_improvement(imp, Active, 1, Some(14), 1.0), "exactly one injection");
    assert!(!may_start_improvement(imp, Active, 2, Some(28), 1.0), "gap too short");
    assert!(!may_start_improvement(imp, Active, 6, Some(100), 1.0), "too many injections");
    assert!(!may_start_improvement(imp, Active, 3, Some(100), 0.4), "effect too small");
    assert!(!may_start_improvement(imp, Naive, 1, Some(14), 1.0), "naive never improves");
    assert!(!may_start_improvement(imp, Active, 0, None, 0.0), "never injected");

    let h = &p.vision.haemorrhage;
    assert_eq!(haemorrhage_risk(h, Active, Some(84)), 0.001);
    assert_eq!(haemorrhage_risk(h, Active, Some(85)), 0.005);
    assert_eq!(haemorrhage_risk(h, Active, Some(169)), 0.01);
    assert_eq!(haemorrhage_risk(h, Active, None), 0.01);
    assert_eq!(haemorrhage_risk(h, HighlyActive, Some(10)), 0.002);
    assert_eq!(haemorrhage_risk(h, Stable, None), 0.0);

    let c = &p.vision.ceiling;
    assert!((ceiling(c, 85.0) - 93.5).abs() < 1e-9);
    assert!((ceiling(c, 40.0) - 44.0).abs() < 1e-9);
    assert!((ceiling(c, 70.0) - 77.0).abs() < 1e-9);
    assert_eq!(ceiling(c, 78.0), 85.0);
}

#[test]
fn recruitment_is_poisson_over_the_horizon_and_reproducible() {
    let horizon = horizon_days(5.0);
    assert_eq!(horizon, 1826);
    let days = enrolment_days(Recruitment::FixedTotal { patients: 20_000 }, horizon, 42);
    assert_eq!(days, enrolment_days(Recruitment::FixedTotal { patients: 20_000 }, horizon, 42));
    assert_ne!(days, enrolment_days(Recruitment::FixedTotal { patients: 20_000 }, horizon, 43));
    assert!(days.len() <= 20_000 && days.len() > 19_500, "{}", days.len());
    assert!(days.windows(2).all(|w| w[0] <= w[1]) && *days.last().unwrap() < horizon);
    // Arrivals spread evenly: about half before mid-horizon.
    let early = days.iter().filter(|d| **d < horizon / 2).count() as u64;
    assert_frequency("arrivals in the first half", early, days.len() as u64, 0.5);

    let weekly = enrolment_days(Recruitment::ConstantRate { per_week: 20.0 }, 7 * 500, 1);
    let expected = 20.0 * 500.0;
    assert!((weekly.len() as f64 - expected).abs() < 5.0 * expected.sqrt(), "{}", weekly.len());
    assert!(enrolment_days(Recruitment::FixedTotal { patients: 0 }, horizon, 1).is_empty());
}

#[test]
fn baselines_follow_the_population_and_depend_only_on_the_patient() {
    // The population APE's files describe (`aflibercept-tae` keeps it; APE's engine drew otherwise).
    let p = builtin("aflibercept-tae").unwrap().load().unwrap();
    let n = 100_000u64;
    let baselines: Vec<_> = (0..n).map(|i| draw_baseline(&p.population, &mut patient_rng(42, i))).collect();
    // The same patient drawn alone, in any order, is the same patient.
    assert_eq!(draw_baseline(&p.population, &mut patient_rng(42, 777)), baselines[777]);
    assert!(baselines.iter().all(|b| (50.0..=95.0).contains(&b.age)));
    let mean_age = baselines.iter().map(|b| b.age).sum::<f64>() / n as f64;
    assert!((mean_age - 77.5).abs() < 0.2, "mean age {mean_age}");
    // Share female: the formula's average over the drawn ages.
    let f = &p.population.female_probability;
    let expected: f64 = baselines
        .iter()
        .map(|b| f.base + (f.max - f.base) / (1.0 + (-(b.age - f.midpoint_age) / f.scale_years).exp()))
        .sum::<f64>()
        / n as f64;
    assert_frequency("female", baselines.iter().filter(|b| b.female).count() as u64, n, expected);
    // Vision: whole letters in [5, 98], and the density above 70 reduced by 60% relative to the
    // plain Beta(3.5, 2) stretched over [5, 98].
    assert!(baselines.iter().all(|b| b.vision.fract() == 0.0 && (5.0..=98.0).contains(&b.vision)));
    let above = baselines.iter().filter(|b| b.vision > 70.0).count() as f64 / n as f64;
    let BaselineVision::BetaWithThreshold { .. } = p.population.baseline_vision else { panic!() };
    let plain_above = beta_tail((70.0 - 5.0) / 93.0, 3.5, 2.0);
    let reduced = plain_above * 0.4 / (1.0 - plain_above + plain_above * 0.4);
    assert!((above - reduced).abs() < 0.01, "share above 70: {above}, expected about {reduced}");
}

/// P(X > x) for X ~ Beta(a, b), by numerical integration (enough for a 1% check).
fn beta_tail(x: f64, a: f64, b: f64) -> f64 {
    let density = |t: f64| t.powf(a - 1.0) * (1.0 - t).powf(b - 1.0);
    let steps = 200_000;
    let (mut total, mut tail) = (0.0, 0.0);
    for i in 0..steps {
        let t = (i as f64 + 0.5) / steps as f64;
        total += density(t);
        if t > x {
            tail += density(t);
        }
    }
    tail / total
}
