//! Linear regression by least squares (as statsmodels' `OLS`) and logistic regression by
//! Newton's method (as statsmodels' `Logit`), each with an intercept.
//!
//! Predictors are centred and scaled before fitting and the estimates transformed back, so that
//! a predictor in days beside one in years does not cost digits; least squares solves by QR
//! (never the normal equations, which square the condition number), and the logistic fit
//! accumulates X'WX in one pass over the rows per iteration, so a million rows cost a few
//! matrix products.

use nalgebra::{DMatrix, DVector};
use serde::Serialize;

use crate::dist::{f_upper, t_quantile, t_two_sided, z_quantile, z_two_sided};

/// The name given to the intercept.
pub const INTERCEPT: &str = "(intercept)";

/// Why a model cannot be fitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RegressError {
    /// Fewer rows than the model has coefficients (or none left for the residual).
    #[error("{rows} complete row(s) for {coefficients} coefficients: a model needs more rows than coefficients")]
    TooFewRows {
        /// Rows used.
        rows: usize,
        /// Coefficients, with the intercept.
        coefficients: usize,
    },
    /// A predictor with one value throughout.
    #[error("predictor `{0}` has the same value in every row used, so its effect cannot be estimated")]
    Constant(String),
    /// A predictor that the others determine.
    #[error("predictor `{0}` is a linear combination of the others (collinear): drop it or one of them")]
    Collinear(String),
    /// An outcome that is not 0/1 for a logistic model.
    #[error("the outcome must be 0 or 1 (or true/false) for logistic regression; found {0}")]
    NotBinary(f64),
    /// An outcome with one value throughout.
    #[error("every row used has outcome {0}: there is nothing to predict")]
    OneOutcome(f64),
    /// Columns of different lengths.
    #[error("predictor `{name}` has {found} values for {expected} outcomes")]
    Length {
        /// The predictor.
        name: String,
        /// Its values.
        found: usize,
        /// The outcome's.
        expected: usize,
    },
}

/// One coefficient of a fitted model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Term {
    /// The predictor ([`INTERCEPT`] for the intercept).
    pub name: String,
    /// The estimate.
    pub estimate: f64,
    /// Its standard error.
    pub se: f64,
    /// t (linear) or z (logistic) statistic.
    pub statistic: f64,
    /// Two-sided p-value.
    pub p: f64,
    /// Confidence interval of the estimate.
    pub ci: [f64; 2],
    /// For logistic models: the odds ratio, exp(estimate), and its interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub odds_ratio: Option<[f64; 3]>,
}

/// A fitted linear model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Linear {
    /// The intercept, then the predictors in the order given.
    pub terms: Vec<Term>,
    /// Rows used.
    pub n: u64,
    /// Residual degrees of freedom.
    pub df_residual: f64,
    /// R squared.
    pub r_squared: f64,
    /// Adjusted R squared.
    pub adj_r_squared: f64,
    /// F statistic of all predictors together.
    pub f: f64,
    /// Its p-value.
    pub f_p: f64,
    /// Residual standard error.
    pub sigma: f64,
}

/// A fitted logistic model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Logistic {
    /// The intercept, then the predictors in the order given, with odds ratios.
    pub terms: Vec<Term>,
    /// Rows used.
    pub n: u64,
    /// Rows with outcome 1.
    pub events: u64,
    /// Log-likelihood of the model.
    pub log_likelihood: f64,
    /// Log-likelihood of the intercept-only model.
    pub log_likelihood_null: f64,
    /// McFadden's pseudo R squared, 1 - LL / LL0.
    pub pseudo_r_squared: f64,
    /// Likelihood-ratio test of all predictors: chi-square p-value.
    pub lr_p: f64,
    /// Newton iterations taken.
    pub iterations: u32,
    /// Whether the estimates converged.
    pub converged: bool,
    /// What the reader should know: separation, non-convergence.
    pub warnings: Vec<String>,
}

/// Predictors standardised: the design matrix with a leading column of ones, and the map back.
struct Standardised {
    x: DMatrix<f64>,
    centre: Vec<f64>,
    scale: Vec<f64>,
}

fn standardise(n: usize, predictors: &[Vec<f64>], names: &[String]) -> Result<Standardised, RegressError> {
    let p = predictors.len();
    if n <= p + 1 {
        return Err(RegressError::TooFewRows { rows: n, coefficients: p + 1 });
    }
    let mut x = DMatrix::<f64>::zeros(n, p + 1);
    x.column_mut(0).fill(1.0);
    let (mut centre, mut scale) = (Vec::with_capacity(p), Vec::with_capacity(p));
    for (j, (column, name)) in predictors.iter().zip(names).enumerate() {
        if column.len() != n {
            return Err(RegressError::Length { name: name.clone(), found: column.len(), expected: n });
        }
        let (mean, var) = crate::describe::mean_var(column);
        let sd = var.sqrt();
        if sd == 0.0 || !sd.is_finite() {
            return Err(RegressError::Constant(name.clone()));
        }
        for (cell, v) in x.column_mut(j + 1).iter_mut().zip(column) {
            *cell = (v - mean) / sd;
        }
        centre.push(mean);
        scale.push(sd);
    }
    Ok(Standardised { x, centre, scale })
}

impl Standardised {
    /// The matrix A with b = A c, from coefficients c on the standardised scale to b on the
    /// original one: b_j = c_j / s_j and b_0 = c_0 - sum c_j m_j / s_j.
    fn back(&self) -> DMatrix<f64> {
        let p = self.scale.len();
        let mut a = DMatrix::<f64>::identity(p + 1, p + 1);
        for j in 0..p {
            a[(j + 1, j + 1)] = 1.0 / self.scale[j];
            a[(0, j + 1)] = -self.centre[j] / self.scale[j];
        }
        a
    }
}

/// Fits `y ~ 1 + predictors` by least squares. Rows must be complete (no NaN).
pub fn linear(y: &[f64], predictors: &[Vec<f64>], names: &[String], alpha: f64) -> Result<Linear, RegressError> {
    let n = y.len();
    let s = standardise(n, predictors, names)?;
    let k = predictors.len() + 1;
    let qr = s.x.clone().qr();
    let r = qr.r();
    check_rank(&r, names)?;
    let mut qty = DVector::from_column_slice(y);
    qr.q_tr_mul(&mut qty);
    let c = r.solve_upper_triangular(&qty.rows(0, k).into_owned()).expect("full rank checked");
    let fitted = &s.x * &c;
    let rss: f64 = y.iter().zip(fitted.iter()).map(|(y, f)| (y - f).powi(2)).sum();
    let mean = y.iter().sum::<f64>() / n as f64;
    let tss: f64 = y.iter().map(|v| (v - mean).powi(2)).sum();
    let df_residual = (n - k) as f64;
    let sigma2 = rss / df_residual;
    let r_inv = r.solve_upper_triangular(&DMatrix::identity(k, k)).expect("full rank checked");
    let cov_c = &r_inv * r_inv.transpose() * sigma2;
    let a = s.back();
    let (b, cov) = (&a * &c, &a * cov_c * a.transpose());
    let tq = t_quantile(1.0 - alpha / 2.0, df_residual);
    let terms = terms(&b, &cov, names, |stat| t_two_sided(stat, df_residual), tq, false);
    let df_model = (k - 1) as f64;
    let f = ((tss - rss) / df_model) / sigma2;
    Ok(Linear {
        terms,
        n: n as u64,
        df_residual,
        r_squared: 1.0 - rss / tss,
        adj_r_squared: 1.0 - (rss / df_residual) / (tss / (n - 1) as f64),
        f,
        f_p: f_upper(f, df_model, df_residual),
        sigma: sigma2.sqrt(),
    })
}

/// Refuses a design whose QR factor has a (relatively) zero diagonal: a collinear predictor.
fn check_rank(r: &DMatrix<f64>, names: &[String]) -> Result<(), RegressError> {
    let largest = r.diagonal().iter().fold(0.0f64, |m, d| m.max(d.abs()));
    for j in 1..r.nrows() {
        if r[(j, j)].abs() <= largest * 1e-10 {
            return Err(RegressError::Collinear(names[j - 1].clone()));
        }
    }
    Ok(())
}

/// Refuses a Gram matrix whose Cholesky pivots fall (relatively) to zero: a predictor that the
/// ones before it determine.
fn check_gram(gram: &DMatrix<f64>, names: &[String]) -> Result<(), RegressError> {
    let k = gram.nrows();
    let mut l = DMatrix::<f64>::zeros(k, k);
    let largest = gram.diagonal().iter().fold(0.0f64, |m, d| m.max(d.abs()));
    for j in 0..k {
        let mut pivot = gram[(j, j)];
        for p in 0..j {
            pivot -= l[(j, p)] * l[(j, p)];
        }
        if pivot <= largest * 1e-10 {
            return Err(RegressError::Collinear(names[j.saturating_sub(1)].clone()));
        }
        l[(j, j)] = pivot.sqrt();
        for i in j + 1..k {
            let mut v = gram[(i, j)];
            for p in 0..j {
                v -= l[(i, p)] * l[(j, p)];
            }
            l[(i, j)] = v / l[(j, j)];
        }
    }
    Ok(())
}

fn terms(
    b: &DVector<f64>,
    cov: &DMatrix<f64>,
    names: &[String],
    p_of: impl Fn(f64) -> f64,
    quantile: f64,
    odds: bool,
) -> Vec<Term> {
    std::iter::once(INTERCEPT.to_string())
        .chain(names.iter().cloned())
        .enumerate()
        .map(|(j, name)| {
            let (estimate, se) = (b[j], cov[(j, j)].sqrt());
            let statistic = estimate / se;
            let ci = [estimate - quantile * se, estimate + quantile * se];
            let odds_ratio = odds.then(|| [estimate.exp(), ci[0].exp(), ci[1].exp()]);
            Term { name, estimate, se, statistic, p: p_of(statistic), ci, odds_ratio }
        })
        .collect()
}

/// Most Newton iterations before a logistic fit is said not to converge.
const MAX_ITERATIONS: u32 = 100;

/// Fits `logit P(y = 1) ~ 1 + predictors` by maximum likelihood (Newton's method). `y` holds
/// 0 and 1; rows must be complete. Wald z tests and normal intervals, as statsmodels reports.
pub fn logistic(y: &[f64], predictors: &[Vec<f64>], names: &[String], alpha: f64) -> Result<Logistic, RegressError> {
    let n = y.len();
    if let Some(bad) = y.iter().find(|v| **v != 0.0 && **v != 1.0) {
        return Err(RegressError::NotBinary(*bad));
    }
    let events = y.iter().filter(|v| **v == 1.0).count();
    if events == 0 || events == n {
        return Err(RegressError::OneOutcome(if events == 0 { 0.0 } else { 1.0 }));
    }
    let s = standardise(n, predictors, names)?;
    let k = predictors.len() + 1;
    // Collinearity from the Gram matrix: the information at zero coefficients is X'X / 4, one
    // pass rather than a QR of the whole design.
    check_gram(&newton_pass(&s.x, y, &DVector::zeros(k)).information, names)?;
    let mut c = DVector::<f64>::zeros(k);
    let rate = events as f64 / n as f64;
    c[0] = (rate / (1.0 - rate)).ln();
    let (mut iterations, mut converged) = (0, false);
    let mut pass = newton_pass(&s.x, y, &c);
    while iterations < MAX_ITERATIONS {
        iterations += 1;
        let Some(chol) = pass.information.clone().cholesky() else { break };
        let step = chol.solve(&pass.score);
        c += &step;
        let previous = pass.log_likelihood;
        // The next pass also gives the new estimates' information, for the standard errors.
        pass = newton_pass(&s.x, y, &c);
        let change = step.amax();
        let settled = (pass.log_likelihood - previous).abs() <= 1e-12 * pass.log_likelihood.abs().max(1.0);
        if change < 1e-10 || (settled && change < 1e-6) {
            converged = true;
            break;
        }
    }
    let Pass { information, log_likelihood: ll, max_eta, perfect, .. } = pass;
    let cov_c = information.clone().try_inverse().unwrap_or_else(|| DMatrix::from_element(k, k, f64::NAN));
    let a = s.back();
    let (b, cov) = (&a * &c, &a * cov_c * a.transpose());
    let terms = terms(&b, &cov, names, z_two_sided, z_quantile(1.0 - alpha / 2.0), true);
    let null = events as f64 * rate.ln() + (n - events) as f64 * (1.0 - rate).ln();
    let mut warnings = Vec::new();
    if perfect {
        warnings.push(
            "perfect separation: the predictors classify every row exactly, so the odds ratios are infinite and \
             their estimates meaningless"
                .to_string(),
        );
    } else if max_eta > 30.0 {
        warnings.push(
            "quasi-complete separation: some rows are predicted with certainty, so some odds ratios run towards \
             infinity; look for a category with no (or only) events"
                .to_string(),
        );
    }
    if !converged {
        warnings.push(format!("the fit did not converge in {iterations} iterations; the estimates are not reliable"));
    }
    Ok(Logistic {
        terms,
        n: n as u64,
        events: events as u64,
        log_likelihood: ll,
        log_likelihood_null: null,
        pseudo_r_squared: 1.0 - ll / null,
        lr_p: crate::dist::chi2_upper(2.0 * (ll - null), (k - 1) as f64),
        iterations,
        converged,
        warnings,
    })
}

/// What one pass over the rows gives Newton's method at estimates c.
struct Pass {
    /// X'(y - mu).
    score: DVector<f64>,
    /// X'WX.
    information: DMatrix<f64>,
    log_likelihood: f64,
    /// The largest |eta|, and whether every row is fitted within 1e-6 (separation).
    max_eta: f64,
    perfect: bool,
}

/// One pass over blocks of rows that stay in cache, shared among cores: each block's linear
/// predictor, then its share of the score, the information and the log-likelihood, so that an
/// iteration reads the data once.
fn newton_pass(x: &DMatrix<f64>, y: &[f64], c: &DVector<f64>) -> Pass {
    use rayon::prelude::*;
    const BLOCK: usize = 2048;
    let (n, k) = x.shape();
    let data = x.as_slice();
    let empty = || (vec![0.0f64; k], vec![0.0f64; k * k], 0.0f64, 0.0f64, true);
    let (score, info, ll, max_eta, perfect) = (0..n.div_ceil(BLOCK))
        .into_par_iter()
        .fold(empty, |(mut score, mut info, mut ll, mut max_eta, mut perfect), block| {
            let rows = block * BLOCK..((block + 1) * BLOCK).min(n);
            let len = rows.len();
            let mut eta = vec![0.0f64; len];
            for j in 0..k {
                let xj = &data[j * n + rows.start..j * n + rows.end];
                for (e, v) in eta.iter_mut().zip(xj) {
                    *e += v * c[j];
                }
            }
            let mut weights = vec![0.0f64; len];
            let mut residual = vec![0.0f64; len];
            for (i, e) in eta.iter().enumerate() {
                let mu = sigmoid(*e);
                let yi = y[rows.start + i];
                weights[i] = mu * (1.0 - mu);
                residual[i] = yi - mu;
                ll += log_likelihood_of(yi, *e);
                max_eta = max_eta.max(e.abs());
                perfect &= (mu - yi).abs() < 1e-6;
            }
            for a in 0..k {
                let xa = &data[a * n + rows.start..a * n + rows.end];
                score[a] += dot(xa, &residual);
                let wa: Vec<f64> = xa.iter().zip(&weights).map(|(x, w)| x * w).collect();
                for b in 0..=a {
                    info[a * k + b] += dot(&wa, &data[b * n + rows.start..b * n + rows.end]);
                }
            }
            (score, info, ll, max_eta, perfect)
        })
        .reduce(empty, |a, b| {
            (
                a.0.iter().zip(&b.0).map(|(x, y)| x + y).collect(),
                a.1.iter().zip(&b.1).map(|(x, y)| x + y).collect(),
                a.2 + b.2,
                a.3.max(b.3),
                a.4 && b.4,
            )
        });
    let mut information = DMatrix::<f64>::zeros(k, k);
    for a in 0..k {
        for b in 0..=a {
            information[(a, b)] = info[a * k + b];
            information[(b, a)] = info[a * k + b];
        }
    }
    Pass { score: DVector::from_vec(score), information, log_likelihood: ll, max_eta, perfect }
}

/// Sum of x_i y_i, with four running sums so that the compiler can use vector instructions.
fn dot(x: &[f64], y: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let mut chunks_x = x.chunks_exact(4);
    let mut chunks_y = y.chunks_exact(4);
    for (cx, cy) in (&mut chunks_x).zip(&mut chunks_y) {
        for lane in 0..4 {
            acc[lane] += cx[lane] * cy[lane];
        }
    }
    let tail: f64 = chunks_x.remainder().iter().zip(chunks_y.remainder()).map(|(a, b)| a * b).sum();
    acc.iter().sum::<f64>() + tail
}

fn sigmoid(eta: f64) -> f64 {
    1.0 / (1.0 + (-eta).exp())
}

/// log P(y | eta), computed without overflow for large |eta|.
fn log_likelihood_of(y: f64, eta: f64) -> f64 {
    // log(1 + e^eta), stable both ways.
    let softplus = if eta > 0.0 { eta + (-eta).exp().ln_1p() } else { eta.exp().ln_1p() };
    y * eta - softplus
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_exact_line_is_recovered() {
        let x: Vec<f64> = (0..10).map(f64::from).collect();
        let y: Vec<f64> = x.iter().map(|x| 3.0 + 2.0 * x + if (*x as i32) % 2 == 0 { 0.1 } else { -0.1 }).collect();
        let fit = linear(&y, &[x], &names(&["x"]), 0.05).unwrap();
        assert!((fit.terms[1].estimate - 2.0).abs() < 0.02, "{fit:?}");
        assert!(fit.r_squared > 0.999);
    }

    #[test]
    fn bad_designs_are_refused_with_the_predictor_named() {
        let y = [1.0, 0.0, 1.0, 0.0, 1.0];
        let x = vec![1.0, 2.0, 3.0, 4.0, 5.0];
        let err = linear(&y, &[x.clone(), x.iter().map(|v| v * 2.0).collect()], &names(&["a", "b"]), 0.05);
        assert_eq!(err.unwrap_err(), RegressError::Collinear("b".into()));
        let y01 = [1.0, 0.0, 1.0, 0.0, 0.0];
        let err = logistic(&y01, &[x.clone(), x.iter().map(|v| v * 2.0 + 1.0).collect()], &names(&["a", "b"]), 0.05);
        assert_eq!(err.unwrap_err(), RegressError::Collinear("b".into()));
        let err = linear(&y, &[vec![7.0; 5]], &names(&["site"]), 0.05);
        assert_eq!(err.unwrap_err(), RegressError::Constant("site".into()));
        let err = logistic(&[0.0, 2.0, 1.0, 0.0], &[vec![1.0, 2.0, 3.0, 4.0]], &names(&["a"]), 0.05);
        assert_eq!(err.unwrap_err(), RegressError::NotBinary(2.0));
        let err = logistic(&[1.0; 4], &[vec![1.0, 2.0, 3.0, 4.0]], &names(&["a"]), 0.05);
        assert_eq!(err.unwrap_err(), RegressError::OneOutcome(1.0));
        let err = linear(&[1.0, 2.0], &[vec![1.0, 2.0], vec![3.0, 1.0]], &names(&["a", "b"]), 0.05);
        assert_eq!(err.unwrap_err(), RegressError::TooFewRows { rows: 2, coefficients: 3 });
    }

    #[test]
    fn perfect_separation_is_said_not_hidden() {
        let x: Vec<f64> = (0..20).map(f64::from).collect();
        let y: Vec<f64> = x.iter().map(|x| if *x < 10.0 { 0.0 } else { 1.0 }).collect();
        let fit = logistic(&y, &[x], &names(&["dose"]), 0.05).unwrap();
        assert!(fit.warnings.iter().any(|w| w.contains("separation")), "{:?}", fit.warnings);
    }
}
