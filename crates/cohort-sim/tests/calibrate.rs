//! Calibration: a synthetic round trip (targets the engine itself produced, from known values,
//! are found again from elsewhere), and targets out of reach reported with the one that binds.

use cohort_sim::calibrate::{Settings, calibrate};
use cohort_sim::outcomes::evaluate;
use cohort_sim::protocol::{
    Calibration, DiseaseState, FreeParameter, InjectionRule, Protocol, Target, Targets, YearTargets, builtin,
};
use cohort_store::CancelToken;

const PATIENTS: u64 = 4_000;
const SEED: u64 = 3;

/// APE's values (where deterioration stops many patients, so its probability shows in the
/// figures), with every visit injecting.
fn base() -> Protocol {
    let mut p = builtin("ape-tae").unwrap().load().unwrap();
    p.treatment.injection_rule = Some(InjectionRule::EveryVisit);
    p
}

fn set(p: &mut Protocol, improvement: f64, deterioration: f64) {
    p.vision.improvement.probability.insert(DiseaseState::Active, improvement);
    p.discontinuation.deterioration.probability = deterioration;
}

fn free() -> Vec<FreeParameter> {
    vec![
        FreeParameter { parameter: "vision.improvement.probability.ACTIVE".into(), min: 0.05, max: 0.9 },
        FreeParameter { parameter: "discontinuation.deterioration.probability".into(), min: 0.05, max: 0.9 },
    ]
}

#[test]
fn calibration_recovers_the_values_that_produced_its_targets() {
    let mut truth = base();
    set(&mut truth, 0.3, 0.4);
    let achieved = evaluate(&truth, PATIENTS, SEED, 2);
    let target = |value: f64, tolerance: f64| Some(Target { value, tolerance });
    let mut start = base();
    set(&mut start, 0.7, 0.8);
    start.targets = Some(Targets {
        source: "the engine itself, at known values".into(),
        years: achieved
            .iter()
            .map(|y| YearTargets {
                year: y.year,
                vision_change: target(y.vision_change.unwrap(), 0.2),
                injections: None,
                discontinued: target(y.discontinued, 0.01),
            })
            .collect(),
        reference_run: None,
    });
    start.calibration = Some(Calibration { free: free(), fitted: None });
    let settings = Settings { patients: PATIENTS, seed: SEED, max_evaluations: 400 };
    let fit = calibrate(&start, settings, &|_, _| {}, &CancelToken::new()).unwrap();
    assert!(fit.met, "{:?}", fit.checks);
    let values: Vec<f64> = fit.values.iter().map(|(_, v)| *v).collect();
    assert!((values[0] - 0.3).abs() < 0.06 && (values[1] - 0.4).abs() < 0.06, "recovered {values:?}");
    let fitted = fit.protocol.calibration.as_ref().unwrap().fitted.as_ref().unwrap();
    assert_eq!((fitted.patients, fitted.seed, fitted.met), (PATIENTS, SEED, true));
    assert!(fitted.evaluations > 0 && fitted.evaluations <= 400);
    // The fitted protocol written out reads back as the same protocol.
    let yaml = serde_saphyr::to_string(&fit.protocol).unwrap();
    assert_eq!(Protocol::from_yaml("fitted.yaml", &yaml).unwrap(), fit.protocol);
}

#[test]
fn targets_out_of_reach_are_reported_with_the_one_that_binds() {
    let mut p = base();
    // Nobody stops in two years: death alone makes that impossible, whatever these two values.
    p.targets = Some(Targets {
        source: "impossible".into(),
        years: vec![YearTargets {
            year: 2,
            vision_change: None,
            injections: None,
            discontinued: Some(Target { value: 0.0, tolerance: 0.01 }),
        }],
        reference_run: None,
    });
    p.calibration = Some(Calibration { free: free(), fitted: None });
    let settings = Settings { patients: 2_000, seed: SEED, max_evaluations: 60 };
    let fit = calibrate(&p, settings, &|_, _| {}, &CancelToken::new()).unwrap();
    assert!(!fit.met);
    assert_eq!(fit.binding().unwrap().measure, "discontinued");
    assert!(fit.evaluations <= 60);
    // Both stopping parameters are pushed to their lower bounds, and said to be.
    assert!(fit.at_bounds.iter().any(|p| p == "discontinuation.deterioration.probability"), "{:?}", fit.at_bounds);
}
