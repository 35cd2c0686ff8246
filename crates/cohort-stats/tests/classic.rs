//! Describe, compare, correlate and regress, checked against scipy and statsmodels on data sets
//! they ship (lifelines' GBSG2 trial, statsmodels' Longley, Fair and Spector data), computed in
//! the test run by `tests/reference/classic.py`. Estimates agree to 1e-6 relative, p-values to
//! 1e-4 (closer in practice).

mod common;

use cohort_stats::compare::{self, Moments};
use cohort_stats::{correlate, regress};
use common::{agree, numbers, reference};
use serde_json::Value;

const ESTIMATE: f64 = 1e-6;
const P: f64 = 1e-4;

fn p_agree(what: &str, ours: f64, theirs: f64) {
    assert!((ours - theirs).abs() <= P, "{what}: p {ours} vs reference {theirs}");
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn classic() -> &'static Value {
    static DOC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    DOC.get_or_init(|| reference("classic"))
}

/// Each group's moments as analyses take them: one pass over values labelled by group.
fn grouped(groups: &[Vec<f64>]) -> Vec<Moments> {
    let values: Vec<f64> = groups.iter().flatten().copied().collect();
    let labels: Vec<u32> =
        groups.iter().enumerate().flat_map(|(g, v)| std::iter::repeat_n(g as u32, v.len())).collect();
    Moments::by_group(&values, &labels, groups.len())
}

#[test]
fn two_groups_agree_with_scipy() {
    for case in classic()["two_groups"].as_array().unwrap() {
        let column = case["column"].as_str().unwrap();
        let (a, b) = (numbers(&case["a"]), numbers(&case["b"]));
        let m = grouped(&[a.clone(), b.clone()]);
        let t = compare::welch_t(m[0], m[1], 0.05).unwrap();
        let w = &case["welch"];
        agree(&format!("{column} t"), t.t, f(&w["t"]), ESTIMATE);
        agree(&format!("{column} df"), t.df, f(&w["df"]), ESTIMATE);
        p_agree(&format!("{column} welch"), t.p, f(&w["p"]));
        agree(&format!("{column} ci low"), t.ci[0], f(&w["ci"][0]), ESTIMATE);
        agree(&format!("{column} ci high"), t.ci[1], f(&w["ci"][1]), ESTIMATE);
        let (sums, ties) = compare::rank_sums(&[&a, &b]);
        let u = compare::mann_whitney(sums[0], sums[1], ties).unwrap();
        agree(&format!("{column} U"), u.u, f(&case["mann_whitney"]["u"]), ESTIMATE);
        p_agree(&format!("{column} mann-whitney"), u.p, f(&case["mann_whitney"]["p"]));
    }
}

#[test]
fn more_groups_agree_with_scipy() {
    for case in classic()["more_groups"].as_array().unwrap() {
        let column = case["column"].as_str().unwrap();
        let groups: Vec<Vec<f64>> = case["groups"].as_array().unwrap().iter().map(numbers).collect();
        let a = compare::anova(&grouped(&groups)).unwrap();
        agree(&format!("{column} F"), a.f, f(&case["anova"]["f"]), ESTIMATE);
        p_agree(&format!("{column} anova"), a.p, f(&case["anova"]["p"]));
        let slices: Vec<&[f64]> = groups.iter().map(Vec::as_slice).collect();
        let (sums, ties) = compare::rank_sums(&slices);
        let h = compare::kruskal_wallis(&sums, ties).unwrap();
        agree(&format!("{column} H"), h.h, f(&case["kruskal"]["h"]), ESTIMATE);
        p_agree(&format!("{column} kruskal"), h.p, f(&case["kruskal"]["p"]));
    }
}

#[test]
fn tables_agree_with_scipy() {
    for case in classic()["tables"].as_array().unwrap() {
        let what = format!("{} x {}", case["rows"], case["columns"]);
        let table: Vec<Vec<f64>> = case["table"].as_array().unwrap().iter().map(numbers).collect();
        let c = compare::chi_square(&table).unwrap();
        let r = &case["chi2"];
        agree(&format!("{what} chi2"), c.chi2, f(&r["chi2"]), ESTIMATE);
        agree(&format!("{what} df"), c.df, f(&r["df"]), 0.0);
        p_agree(&format!("{what} chi2"), c.p, f(&r["p"]));
        agree(&format!("{what} V"), c.cramers_v, f(&r["cramers_v"]), ESTIMATE);
        let expected: Vec<f64> = r["expected"].as_array().unwrap().iter().flat_map(numbers).collect();
        for (ours, theirs) in c.expected.iter().flatten().zip(&expected) {
            agree(&format!("{what} expected"), *ours, *theirs, ESTIMATE);
        }
        if let Some(fisher) = case.get("fisher") {
            let t = |i: usize, j: usize| table[i][j] as u64;
            let ours = compare::fisher_exact([[t(0, 0), t(0, 1)], [t(1, 0), t(1, 1)]]);
            agree(&format!("{what} odds ratio"), ours.odds_ratio, f(&fisher["odds_ratio"]), ESTIMATE);
            p_agree(&format!("{what} fisher"), ours.p, f(&fisher["p"]));
        }
    }
    // The small table warns that the approximation is doubtful.
    let small: Vec<Vec<f64>> = vec![vec![8.0, 2.0], vec![1.0, 5.0]];
    assert!(compare::chi_square(&small).unwrap().warning.unwrap().contains("Fisher"));
}

#[test]
fn correlations_agree_with_scipy() {
    for case in classic()["correlations"].as_array().unwrap() {
        let what = format!("{} ~ {}", case["x"], case["y"]);
        let (x, y) = (numbers(&case["xs"]), numbers(&case["ys"]));
        let p = correlate::pearson(&x, &y, 0.05);
        agree(&format!("{what} pearson r"), p.r, f(&case["pearson"]["r"]), ESTIMATE);
        p_agree(&format!("{what} pearson"), p.p, f(&case["pearson"]["p"]));
        agree(&format!("{what} pearson ci low"), p.ci[0], f(&case["pearson"]["ci"][0]), ESTIMATE);
        agree(&format!("{what} pearson ci high"), p.ci[1], f(&case["pearson"]["ci"][1]), ESTIMATE);
        let s = correlate::spearman(&x, &y, 0.05);
        agree(&format!("{what} spearman rho"), s.r, f(&case["spearman"]["r"]), ESTIMATE);
        p_agree(&format!("{what} spearman"), s.p, f(&case["spearman"]["p"]));
    }
}

fn names(case: &Value) -> Vec<String> {
    case["names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_string()).collect()
}

fn check_terms(model: &str, terms: &[regress::Term], case: &Value) {
    for (j, term) in terms.iter().enumerate() {
        let what = format!("{model} {}", term.name);
        agree(&format!("{what} estimate"), term.estimate, f(&case["params"][j]), ESTIMATE);
        agree(&format!("{what} se"), term.se, f(&case["bse"][j]), ESTIMATE);
        p_agree(&what, term.p, f(&case["p"][j]));
        agree(&format!("{what} ci low"), term.ci[0], f(&case["ci_low"][j]), ESTIMATE);
        agree(&format!("{what} ci high"), term.ci[1], f(&case["ci_high"][j]), ESTIMATE);
    }
}

#[test]
fn linear_models_agree_with_statsmodels() {
    for case in classic()["linear"].as_array().unwrap() {
        let model = case["model"].as_str().unwrap();
        let x: Vec<Vec<f64>> = case["x"].as_array().unwrap().iter().map(numbers).collect();
        let fit = regress::linear(&numbers(&case["y"]), &x, &names(case), 0.05).unwrap();
        check_terms(model, &fit.terms, case);
        agree(&format!("{model} R2"), fit.r_squared, f(&case["r_squared"]), ESTIMATE);
        agree(&format!("{model} adj R2"), fit.adj_r_squared, f(&case["adj_r_squared"]), ESTIMATE);
        agree(&format!("{model} F"), fit.f, f(&case["f"]), ESTIMATE);
        agree(&format!("{model} sigma"), fit.sigma, f(&case["sigma"]), ESTIMATE);
        agree(&format!("{model} df"), fit.df_residual, f(&case["df_residual"]), 0.0);
    }
}

#[test]
fn logistic_models_agree_with_statsmodels() {
    for case in classic()["logistic"].as_array().unwrap() {
        let model = case["model"].as_str().unwrap();
        let x: Vec<Vec<f64>> = case["x"].as_array().unwrap().iter().map(numbers).collect();
        let fit = regress::logistic(&numbers(&case["y"]), &x, &names(case), 0.05).unwrap();
        assert!(fit.converged && fit.warnings.is_empty(), "{model}: {:?}", fit.warnings);
        check_terms(model, &fit.terms, case);
        agree(&format!("{model} LL"), fit.log_likelihood, f(&case["llf"]), ESTIMATE);
        agree(&format!("{model} LL0"), fit.log_likelihood_null, f(&case["llnull"]), ESTIMATE);
        agree(&format!("{model} pseudo R2"), fit.pseudo_r_squared, f(&case["prsquared"]), ESTIMATE);
        p_agree(&format!("{model} LR"), fit.lr_p, f(&case["llr_pvalue"]));
        for term in &fit.terms {
            let [or, lo, hi] = term.odds_ratio.unwrap();
            agree("odds ratio", or, term.estimate.exp(), 1e-12);
            assert!(lo < or && or < hi);
        }
    }
}
