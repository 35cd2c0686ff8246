//! Survival methods against lifelines 0.30 on its bundled datasets (rossi, waltons, gbsg2): the
//! reference script prints the data and lifelines' answers, computed during the test run.

mod common;

use std::sync::OnceLock;
use std::time::Instant;

use cohort_stats::survival::{self, CoxWarning, SurvivalError};
use common::{agree, numbers, reference};
use serde_json::Value;

/// Estimates must agree to this, relative.
const REL: f64 = 1e-6;
/// p-values must agree to this, absolute.
const P_ABS: f64 = 1e-4;

fn lifelines() -> &'static Value {
    // One Python run (a few seconds: lifelines is slow to import) shared by every test.
    static REFERENCE: OnceLock<Value> = OnceLock::new();
    REFERENCE.get_or_init(|| reference("survival"))
}

fn bools(v: &Value) -> Vec<bool> {
    v.as_array().expect("a list").iter().map(|b| b.as_bool().expect("a bool")).collect()
}

fn counts(v: &Value) -> Vec<usize> {
    numbers(v).into_iter().map(|x| x as usize).collect()
}

fn cases(section: &str) -> &'static serde_json::Map<String, Value> {
    lifelines()[section].as_object().unwrap_or_else(|| panic!("no `{section}` in the reference output"))
}

/// "Not reached" is `None` here and infinity (printed as null, read as NaN) in lifelines.
fn reached(t: Option<f64>) -> f64 {
    t.unwrap_or(f64::NAN)
}

#[track_caller]
fn agree_p(what: &str, ours: f64, theirs: f64) {
    assert!((ours - theirs).abs() <= P_ABS, "{what}: p {ours} vs reference {theirs} (tolerance {P_ABS} absolute)");
}

#[test]
fn kaplan_meier_matches_lifelines_step_by_step() {
    let alpha = lifelines()["alpha"].as_f64().unwrap();
    let km_cases = cases("km");
    assert!(km_cases.len() >= 4);
    for (name, case) in km_cases {
        let km = survival::kaplan_meier(&numbers(&case["time"]), &bools(&case["event"]), alpha).unwrap();
        let timeline = numbers(&case["timeline"]);
        assert_eq!(km.steps.len(), timeline.len(), "{name}: number of steps");
        let (survival, lower, upper) = (numbers(&case["survival"]), numbers(&case["lower"]), numbers(&case["upper"]));
        let (at_risk, observed, censored) =
            (counts(&case["at_risk"]), counts(&case["observed"]), counts(&case["censored"]));
        for (i, step) in km.steps.iter().enumerate() {
            assert_eq!(step.time, timeline[i], "{name}: time of step {i}");
            agree(&format!("{name}: survival at {}", step.time), step.survival, survival[i], REL);
            agree(&format!("{name}: lower bound at {}", step.time), step.lower, lower[i], REL);
            agree(&format!("{name}: upper bound at {}", step.time), step.upper, upper[i], REL);
            assert_eq!(
                (step.at_risk, step.observed, step.censored),
                (at_risk[i], observed[i], censored[i]),
                "{name}: at risk, observed, censored at {}",
                step.time
            );
        }
        agree(&format!("{name}: median"), reached(km.median.time), case["median"].as_f64().unwrap_or(f64::NAN), REL);
        agree(
            &format!("{name}: median lower"),
            reached(km.median.lower),
            case["median_lower"].as_f64().unwrap_or(f64::NAN),
            REL,
        );
        agree(
            &format!("{name}: median upper"),
            reached(km.median.upper),
            case["median_upper"].as_f64().unwrap_or(f64::NAN),
            REL,
        );
        assert_eq!(km.at_risk_at(&numbers(&case["at_times"])), counts(&case["at_risk_at"]), "{name}: at risk at times");
    }
    // The cases must cover both a median reached and one not reached (rossi).
    assert!(km_cases.values().any(|c| c["median"].is_null()));
    assert!(km_cases.values().any(|c| c["median"].is_number()));
}

#[test]
fn logrank_matches_lifelines() {
    let lr_cases = cases("logrank");
    assert!(lr_cases.values().any(|c| c["labels"].as_array().unwrap().len() >= 3), "a test with 3+ groups");
    for (name, case) in lr_cases {
        let group: Vec<u32> = counts(&case["group"]).into_iter().map(|g| g as u32).collect();
        let lr = survival::logrank(&numbers(&case["time"]), &bools(&case["event"]), &group).unwrap();
        agree(&format!("{name}: statistic"), lr.statistic, case["statistic"].as_f64().unwrap(), REL);
        assert_eq!(lr.df as f64, case["df"].as_f64().unwrap(), "{name}: df");
        agree_p(&format!("{name}: p"), lr.p, case["p"].as_f64().unwrap());
        let (observed, expected) = (numbers(&case["observed"]), numbers(&case["expected"]));
        assert_eq!(lr.groups.len(), observed.len());
        for (g, grp) in lr.groups.iter().enumerate() {
            assert_eq!(grp.group as usize, g);
            assert_eq!(grp.observed as f64, observed[g], "{name}: observed in group {g}");
            agree(&format!("{name}: expected in group {g}"), grp.expected, expected[g], REL);
        }
    }
}

#[test]
fn cox_matches_lifelines() {
    for (name, case) in cases("cox") {
        let time = numbers(&case["time"]);
        let event = bools(&case["event"]);
        let columns: Vec<Vec<f64>> = case["columns"].as_array().unwrap().iter().map(numbers).collect();
        let names: Vec<&str> = case["names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
        let fit = survival::cox(&time, &event, &columns, &names).unwrap();
        assert!(fit.converged, "{name}: did not converge");
        assert!(fit.warnings.is_empty(), "{name}: {:?}", fit.warnings);

        let field = |k: &str| numbers(&case[k]);
        let (params, se, z, p) = (field("params"), field("se"), field("z"), field("p"));
        let (hr, hr_lower, hr_upper) = (field("hr"), field("hr_lower"), field("hr_upper"));
        let (ph_statistic, ph_p) = (field("ph_statistic"), field("ph_p"));
        for (j, c) in fit.coefficients.iter().enumerate() {
            assert_eq!(c.name, names[j]);
            let what = |s: &str| format!("{name}: {s} of {}", c.name);
            agree(&what("coef"), c.coef, params[j], REL);
            agree(&what("se"), c.se, se[j], REL);
            agree(&what("z"), c.z, z[j], REL);
            agree_p(&what("p"), c.p, p[j]);
            agree(&what("hazard ratio"), c.hazard_ratio, hr[j], REL);
            agree(&what("hazard ratio lower"), c.hazard_ratio_lower, hr_lower[j], REL);
            agree(&what("hazard ratio upper"), c.hazard_ratio_upper, hr_upper[j], REL);
            let ph = &fit.proportional_hazards[j];
            assert_eq!(ph.covariate, names[j]);
            agree(&what("PH test statistic"), ph.statistic, ph_statistic[j], REL);
            agree_p(&what("PH test p"), ph.p, ph_p[j]);
        }
        agree(&format!("{name}: log-likelihood"), fit.log_likelihood, case["log_likelihood"].as_f64().unwrap(), REL);
        agree(
            &format!("{name}: null log-likelihood"),
            fit.likelihood_ratio.null_log_likelihood,
            case["log_likelihood_null"].as_f64().unwrap(),
            REL,
        );
        agree(&format!("{name}: concordance"), fit.concordance, case["concordance"].as_f64().unwrap(), REL);
    }
}

#[test]
fn rossi_has_tied_event_times_so_efron_is_exercised() {
    // The Cox comparison above only checks Efron's handling of ties if the data has them.
    let case = &cases("cox")["rossi"];
    let (time, event) = (numbers(&case["time"]), bools(&case["event"]));
    let mut event_times: Vec<f64> = time.iter().zip(&event).filter(|(_, e)| **e).map(|(t, _)| *t).collect();
    let events = event_times.len();
    event_times.sort_by(f64::total_cmp);
    event_times.dedup();
    assert!(event_times.len() < events / 2, "rossi: {} distinct event times for {events} events", event_times.len());
}

#[test]
fn concordance_index_matches_lifelines() {
    for (name, case) in cases("concordance") {
        let c = survival::concordance_index(&numbers(&case["time"]), &numbers(&case["score"]), &bools(&case["event"]))
            .unwrap();
        agree(&format!("{name}: concordance"), c, case["c"].as_f64().unwrap(), REL);
    }
}

/// Efron's log partial likelihood straight from its definition, for one covariate.
fn efron_log_likelihood(time: &[f64], event: &[bool], x: &[f64], beta: f64) -> f64 {
    let mut times: Vec<f64> = time.iter().zip(event).filter(|(_, e)| **e).map(|(t, _)| *t).collect();
    times.sort_by(f64::total_cmp);
    times.dedup();
    let mut ll = 0.0;
    for t in times {
        let dying: Vec<usize> = (0..time.len()).filter(|&i| time[i] == t && event[i]).collect();
        let risk: f64 = (0..time.len()).filter(|&i| time[i] >= t).map(|i| (beta * x[i]).exp()).sum();
        let tied: f64 = dying.iter().map(|&i| (beta * x[i]).exp()).sum();
        let m = dying.len() as f64;
        for (l, &i) in dying.iter().enumerate() {
            ll += beta * x[i] - (risk - l as f64 / m * tied).ln();
        }
    }
    ll
}

#[test]
fn tied_event_times_use_efron() {
    // Three deaths tied at t = 2: Efron's likelihood differs from Breslow's (which would subtract
    // nothing from the risk set), so a Breslow fit would not satisfy these checks.
    let time = [1.0, 2.0, 2.0, 2.0, 3.0, 4.0, 4.0, 5.0, 6.0, 7.0];
    let event = [true, true, true, true, false, true, true, true, false, true];
    let x = [0.3, 1.0, 0.0, 2.0, 1.5, 0.2, 1.1, 0.7, 0.1, 0.4];
    let fit = survival::cox(&time, &event, &[x.to_vec()], &["x"]).unwrap();
    let beta = fit.coefficients[0].coef;
    let ll = efron_log_likelihood(&time, &event, &x, beta);
    agree("Efron log-likelihood at the estimate", fit.log_likelihood, ll, 1e-9);
    // At the maximum the likelihood is flat: both neighbours are lower.
    let h = 1e-4;
    assert!(efron_log_likelihood(&time, &event, &x, beta + h) < ll);
    assert!(efron_log_likelihood(&time, &event, &x, beta - h) < ll);
    // Standard error from the curvature of the same likelihood.
    let curvature = (efron_log_likelihood(&time, &event, &x, beta + h) - 2.0 * ll
        + efron_log_likelihood(&time, &event, &x, beta - h))
        / (h * h);
    agree("SE from the curvature", fit.coefficients[0].se, (-1.0 / curvature).sqrt(), 1e-4);
}

#[test]
fn bad_input_is_explained() {
    let t = [1.0, 2.0, 3.0];
    let e = [true, false, true];
    let err = survival::kaplan_meier(&t, &[true, false], 0.05).unwrap_err();
    assert!(matches!(err, SurvivalError::LengthMismatch { expected: 3, found: 2, .. }), "{err}");
    assert!(err.to_string().contains("event has 2 values but there are 3 subjects"), "{err}");

    let err = survival::kaplan_meier(&[1.0, -2.0, 3.0], &e, 0.05).unwrap_err();
    assert_eq!(err, SurvivalError::InvalidTime { index: 1, value: -2.0 });
    assert!(err.to_string().contains("must be finite and not negative"), "{err}");
    assert!(matches!(
        survival::logrank(&[1.0, f64::NAN, 3.0], &e, &[0, 1, 1]),
        Err(SurvivalError::InvalidTime { index: 1, .. })
    ));
    assert!(matches!(
        survival::kaplan_meier(&[1.0, f64::INFINITY], &[true, true], 0.05),
        Err(SurvivalError::InvalidTime { .. })
    ));
    assert_eq!(survival::kaplan_meier(&[], &[], 0.05).unwrap_err(), SurvivalError::Empty);
    assert_eq!(survival::kaplan_meier(&t, &e, 1.5).unwrap_err(), SurvivalError::InvalidAlpha(1.5));

    let err = survival::logrank(&t, &e, &[4, 4, 4]).unwrap_err();
    assert_eq!(err, SurvivalError::TooFewGroups { found: 1 });
    assert!(err.to_string().contains("at least 2"), "{err}");
    assert!(matches!(survival::logrank(&t, &[false; 3], &[0, 1, 1]), Err(SurvivalError::NoEvents { .. })));
    assert!(matches!(survival::logrank(&t, &e, &[0, 1]), Err(SurvivalError::LengthMismatch { .. })));

    let x = vec![vec![1.0, 2.0, 4.0]];
    let err = survival::cox(&t, &[false; 3], &x, &["age"]).unwrap_err();
    assert!(matches!(err, SurvivalError::NoEvents { .. }));
    assert!(err.to_string().contains("every subject is censored"), "{err}");
    let err =
        survival::cox(&t, &e, &[x[0].clone(), vec![0.0, 1.0, 1.0], vec![3.0, 1.0, 2.0]], &["a", "b", "c"]).unwrap_err();
    assert_eq!(err, SurvivalError::TooManyCovariates { covariates: 3, events: 2 });
    let err = survival::cox(&t, &e, &[vec![1.0, f64::NAN, 2.0]], &["age"]).unwrap_err();
    assert!(matches!(&err, SurvivalError::InvalidCovariate { covariate, index: 1, .. } if covariate == "age"), "{err}");
    assert!(matches!(survival::cox(&t, &e, &[vec![1.0, 2.0]], &["age"]), Err(SurvivalError::LengthMismatch { .. })));
    assert!(matches!(survival::cox(&t, &e, &x, &["a", "b"]), Err(SurvivalError::LengthMismatch { .. })));
    assert_eq!(survival::cox::<&str, Vec<f64>>(&t, &e, &[], &[]).unwrap_err(), SurvivalError::NoCovariates);
    assert_eq!(survival::cox(&t, &e, &[vec![5.0; 3]], &["site"]).unwrap_err(), SurvivalError::AllCovariatesConstant);
    assert!(matches!(survival::concordance_index(&t, &[1.0, 2.0], &e), Err(SurvivalError::LengthMismatch { .. })));
}

/// rossi's data, for fits that change it.
fn rossi() -> (Vec<f64>, Vec<bool>, Vec<Vec<f64>>, Vec<String>) {
    let case = &cases("cox")["rossi"];
    let names = case["names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_owned()).collect();
    let columns = case["columns"].as_array().unwrap().iter().map(numbers).collect();
    (numbers(&case["time"]), bools(&case["event"]), columns, names)
}

#[test]
fn constant_covariate_is_left_out_with_a_warning() {
    let (time, event, mut columns, mut names) = rossi();
    let without = survival::cox(&time, &event, &columns, &names).unwrap();
    columns.insert(1, vec![1.0; time.len()]);
    names.insert(1, "site".to_owned());
    let with = survival::cox(&time, &event, &columns, &names).unwrap();
    assert_eq!(with.warnings, [CoxWarning::ConstantCovariate { covariate: "site".to_owned() }]);
    assert!(with.coefficients[1].coef.is_nan() && with.proportional_hazards[1].statistic.is_nan());
    let kept: Vec<f64> = with.coefficients.iter().filter(|c| c.name != "site").map(|c| c.coef).collect();
    for (a, b) in kept.iter().zip(&without.coefficients) {
        agree(&b.name, *a, b.coef, 1e-12);
    }
    assert_eq!(with.likelihood_ratio.df, without.likelihood_ratio.df);
}

#[test]
fn separation_is_flagged() {
    // Everyone in the `arm` = 1 group is arrested before anyone else: the likelihood keeps rising
    // with the coefficient of `arm`.
    let (time, event, columns, _) = rossi();
    let arm: Vec<f64> = time.iter().zip(&event).map(|(t, e)| f64::from(*e && *t < 10.0)).collect();
    let fit = survival::cox(&time, &event, &[arm, columns[1].clone()], &["arm", "age"]).unwrap();
    assert!(
        fit.warnings.contains(&CoxWarning::InfiniteCoefficient { covariate: "arm".to_owned() }),
        "{:?}",
        fit.warnings
    );
    assert!(!fit.warnings.contains(&CoxWarning::InfiniteCoefficient { covariate: "age".to_owned() }));
    // Without the separating covariate nothing is flagged.
    let (time, event, columns, names) = rossi();
    assert!(survival::cox(&time, &event, &columns, &names).unwrap().warnings.is_empty());
}

#[test]
fn collinear_covariates_are_an_error() {
    let (time, event, columns, _) = rossi();
    let twice_age: Vec<f64> = columns[1].iter().map(|a| 2.0 * a + 1.0).collect();
    let err = survival::cox(&time, &event, &[columns[1].clone(), twice_age], &["age", "age2"]).unwrap_err();
    assert!(matches!(err, SurvivalError::Singular { .. }), "{err}");
    assert!(err.to_string().contains("collinearity"), "{err}");
}

/// Deterministic pseudo-random numbers in [0, 1) (no rand dependency in this crate's tests).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Timing check, run by hand:
/// `cargo test -p cohort-stats --release --test survival -- --ignored --nocapture million`
#[test]
#[ignore = "a timing check, run by hand"]
fn cox_on_a_million_subjects() {
    let n = 1_000_000;
    let p = 5;
    let true_beta = [0.5, -0.3, 0.2, 0.0, 0.8];
    let mut rng = SplitMix(7);
    let columns: Vec<Vec<f64>> = (0..p)
        .map(|j| (0..n).map(|_| if j == 4 { f64::from(rng.next() < 0.3) } else { rng.next() * 4.0 - 2.0 }).collect())
        .collect();
    let (mut time, mut event) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let lp: Vec<f64> = (0..n).map(|i| columns.iter().zip(true_beta).map(|(c, b)| b * c[i]).sum()).collect();
    for lp in lp {
        let t = -(1.0 - rng.next()).ln() / (0.1 * lp.exp());
        let censor = rng.next() * 20.0;
        // Rounded to days so there are many ties, as in real follow-up data.
        time.push((t.min(censor) * 365.0).round());
        event.push(t <= censor);
    }
    let names = ["x1", "x2", "x3", "x4", "binary"];
    let start = Instant::now();
    let fit = survival::cox(&time, &event, &columns, &names).unwrap();
    let elapsed = start.elapsed();
    println!(
        "Cox on {n} subjects x {p} covariates ({} events): {elapsed:.2?}, {} iterations",
        fit.events, fit.iterations
    );
    for c in &fit.coefficients {
        println!("  {:<7} coef {:+.4} se {:.4}", c.name, c.coef, c.se);
    }
    println!(
        "  concordance {:.4}, PH p {:?}",
        fit.concordance,
        fit.proportional_hazards.iter().map(|t| t.p).collect::<Vec<_>>()
    );
    assert!(fit.converged);
    for (c, b) in fit.coefficients.iter().zip(true_beta) {
        assert!((c.coef - b).abs() < 5.0 * c.se + 0.01, "{}: {} vs true {b}", c.name, c.coef);
    }
}
