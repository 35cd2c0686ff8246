//! Linear regression by least squares (as statsmodels' `OLS`) and logistic regression by
//! Newton's method (as statsmodels' `Logit`), each with an intercept.
//!
//! Predictors are centred and scaled before fitting and the estimates transformed back, so that
//! a predictor in days beside one in years does not cost digits; least squares solves by QR
//! (never the normal equations, which square the condition number), and the logistic fit
//! accumulates X'WX in one pass over the rows per iteration, so a million rows cost a few
//! matrix products.

use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;
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

/// How predictors were standardised (mean 0, SD 1), and so how to map coefficients back.
struct Scaling {
    centre: Vec<f64>,
    scale: Vec<f64>,
}

/// Each predictor's mean and SD, columns in parallel; refuses a constant predictor or one of the
/// wrong length.
fn scaling<C: AsRef<[f64]> + Sync>(n: usize, predictors: &[C], names: &[String]) -> Result<Scaling, RegressError> {
    let p = predictors.len();
    if n <= p + 1 {
        return Err(RegressError::TooFewRows { rows: n, coefficients: p + 1 });
    }
    for (column, name) in predictors.iter().zip(names) {
        if column.as_ref().len() != n {
            return Err(RegressError::Length { name: name.clone(), found: column.as_ref().len(), expected: n });
        }
    }
    let moments: Vec<(f64, f64)> = predictors
        .par_iter()
        .map(|column| {
            let (mean, var) = crate::describe::mean_var(column.as_ref());
            (mean, var.sqrt())
        })
        .collect();
    if let Some(j) = moments.iter().position(|(_, sd)| *sd == 0.0 || !sd.is_finite()) {
        return Err(RegressError::Constant(names[j].clone()));
    }
    let (centre, scale) = moments.into_iter().unzip();
    Ok(Scaling { centre, scale })
}

/// The design matrix of standardised predictors, with a leading column of ones.
fn standardise<C: AsRef<[f64]> + Sync>(
    n: usize,
    predictors: &[C],
    names: &[String],
) -> Result<(DMatrix<f64>, Scaling), RegressError> {
    let scaling = scaling(n, predictors, names)?;
    let mut x = DMatrix::<f64>::zeros(n, predictors.len() + 1);
    x.column_mut(0).fill(1.0);
    x.as_mut_slice()[n..].par_chunks_mut(n).zip(predictors.par_iter()).enumerate().for_each(|(j, (cells, column))| {
        scaling.fill(j, column.as_ref(), cells);
    });
    Ok((x, scaling))
}

impl Scaling {
    /// Predictor `j`'s values standardised into `cells`.
    #[inline(always)]
    fn fill(&self, j: usize, values: &[f64], cells: &mut [f64]) {
        // A multiplication rather than a division: every Newton pass standardises each value again.
        let (mean, inverse) = (self.centre[j], 1.0 / self.scale[j]);
        for (cell, v) in cells.iter_mut().zip(values) {
            *cell = (v - mean) * inverse;
        }
    }

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
pub fn linear<C: AsRef<[f64]> + Sync>(
    y: &[f64],
    predictors: &[C],
    names: &[String],
    alpha: f64,
) -> Result<Linear, RegressError> {
    let n = y.len();
    let (x, s) = standardise(n, predictors, names)?;
    let k = predictors.len() + 1;
    let qr = x.qr();
    let r = qr.r();
    check_rank(&r, names)?;
    let mut qty = DVector::from_column_slice(y);
    qr.q_tr_mul(&mut qty);
    let c = r.solve_upper_triangular(&qty.rows(0, k).into_owned()).expect("full rank checked");
    // Q'y beyond the first k rows is the residual rotated: its squares sum to the RSS.
    let rss = qty.rows(k, n - k).norm_squared();
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
pub fn logistic<C: AsRef<[f64]> + Sync>(
    y: &[f64],
    predictors: &[C],
    names: &[String],
    alpha: f64,
) -> Result<Logistic, RegressError> {
    let n = y.len();
    if let Some(bad) = y.iter().find(|v| **v != 0.0 && **v != 1.0) {
        return Err(RegressError::NotBinary(*bad));
    }
    let events = y.iter().filter(|v| **v == 1.0).count();
    if events == 0 || events == n {
        return Err(RegressError::OneOutcome(if events == 0 { 0.0 } else { 1.0 }));
    }
    let s = scaling(n, predictors, names)?;
    let columns: Vec<&[f64]> = predictors.iter().map(AsRef::as_ref).collect();
    let k = predictors.len() + 1;
    let mut c = DVector::<f64>::zeros(k);
    let rate = events as f64 / n as f64;
    c[0] = (rate / (1.0 - rate)).ln();
    let (mut iterations, mut converged) = (0, false);
    let wide = wide_vectors();
    let mut pass = newton_pass(&columns, &s, y, &c, wide);
    // At the start every row has the same weight, so the information is X'X scaled: collinearity
    // shows in it without a pass of its own (the check is relative, so the scale does not matter).
    check_gram(&pass.information, names)?;
    while iterations < MAX_ITERATIONS {
        iterations += 1;
        let Some(chol) = pass.information.clone().cholesky() else { break };
        let step = chol.solve(&pass.score);
        c += &step;
        let previous = pass.log_likelihood;
        // The next pass also gives the new estimates' information, for the standard errors.
        pass = newton_pass(&columns, &s, y, &c, wide);
        let change = step.amax();
        let settled = (pass.log_likelihood - previous).abs() <= 1e-12 * pass.log_likelihood.abs().max(1.0);
        if change < 1e-10 || (settled && change < 1e-6) {
            converged = true;
            break;
        }
    }
    let Pass { information, log_likelihood: ll, max_eta, perfect, .. } = pass;
    let cov_c = information.try_inverse().unwrap_or_else(|| DMatrix::from_element(k, k, f64::NAN));
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

/// One pass over blocks of rows that stay in cache, shared among cores: each block's standardised
/// predictors, linear predictor, and share of the score, the information and the log-likelihood,
/// so that an iteration reads the data once and never holds a copy of it. Blocks are summed in
/// groups of fixed size, then the groups in order: the same data gives the same bits whatever the
/// threads do.
fn newton_pass(columns: &[&[f64]], scaling: &Scaling, y: &[f64], c: &DVector<f64>, wide: bool) -> Pass {
    const BLOCKS_PER_GROUP: usize = 16;
    let (n, k) = (y.len(), columns.len() + 1);
    let scratch = || {
        let mut x = vec![0.0; k * BLOCK];
        x[..BLOCK].fill(1.0);
        let row = || vec![0.0; BLOCK];
        Scratch { x, weighted: vec![0.0; k * BLOCK], eta: row(), weights: row(), residual: row() }
    };
    let empty = || Pass {
        score: DVector::zeros(k),
        information: DMatrix::zeros(k, k),
        log_likelihood: 0.0,
        max_eta: 0.0,
        perfect: true,
    };
    let groups: Vec<Pass> = (0..n.div_ceil(BLOCK * BLOCKS_PER_GROUP))
        .into_par_iter()
        .map_init(scratch, |s, group| {
            let mut sums = empty();
            let first = group * BLOCKS_PER_GROUP * BLOCK;
            for start in (first..n.min(first + BLOCKS_PER_GROUP * BLOCK)).step_by(BLOCK) {
                let block = Block { columns, scaling, y, c, start, len: BLOCK.min(n - start) };
                block.add_to(&mut sums, s, wide);
            }
            sums
        })
        .collect();
    let mut pass = groups.into_iter().fold(empty(), |mut total, group| {
        total.score += group.score;
        total.information += group.information;
        total.log_likelihood += group.log_likelihood;
        total.max_eta = total.max_eta.max(group.max_eta);
        total.perfect &= group.perfect;
        total
    });
    // The product computes both halves; they agree up to rounding, and Cholesky wants them equal.
    pass.information = (&pass.information + pass.information.transpose()) * 0.5;
    pass
}

/// Rows a Newton pass handles at a time: a block's columns stay in the core's cache.
const BLOCK: usize = 2048;

/// One block's values: the standardised predictors (a leading column of ones) and the weighted
/// ones, column by column `BLOCK` apart, and the per-row quantities.
struct Scratch {
    x: Vec<f64>,
    weighted: Vec<f64>,
    eta: Vec<f64>,
    weights: Vec<f64>,
    residual: Vec<f64>,
}

/// The rows `start..start + len` of a Newton pass, at estimates `c`.
struct Block<'a> {
    columns: &'a [&'a [f64]],
    scaling: &'a Scaling,
    y: &'a [f64],
    c: &'a DVector<f64>,
    start: usize,
    len: usize,
}

impl Block<'_> {
    /// Adds the block's share to `sums`, with 256-bit vector instructions when `wide`.
    fn add_to(&self, sums: &mut Pass, s: &mut Scratch, wide: bool) {
        #[cfg(target_arch = "x86_64")]
        if wide {
            // SAFETY: `wide` is true only where the processor has AVX2 and FMA (`wide_vectors`).
            return unsafe { self.add_to_avx2(sums, s) };
        }
        let _ = wide;
        self.add_to_any(sums, s);
    }

    /// The same code compiled for AVX2: its loops are element by element or keep their lanes
    /// apart, and Rust never fuses a multiplication and an addition on its own, so both compile
    /// to the same arithmetic and give the same bits.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn add_to_avx2(&self, sums: &mut Pass, s: &mut Scratch) {
        self.add_to_any(sums, s);
    }

    #[inline(always)]
    fn add_to_any(&self, sums: &mut Pass, s: &mut Scratch) {
        let (start, len, k) = (self.start, self.len, self.columns.len() + 1);
        for (j, column) in self.columns.iter().enumerate() {
            let cells = &mut s.x[(j + 1) * BLOCK..(j + 1) * BLOCK + len];
            self.scaling.fill(j, &column[start..start + len], cells);
        }
        let eta = &mut s.eta[..len];
        eta.fill(0.0);
        for j in 0..k {
            let (xj, cj) = (&s.x[j * BLOCK..j * BLOCK + len], self.c[j]);
            for (e, v) in eta.iter_mut().zip(xj) {
                *e += v * cj;
            }
        }
        // With t = exp(-|eta|), one exponential gives the probability, the weight and
        // log(1 + e^eta) = max(eta, 0) + log(1 + t). The logarithms are taken of products of up
        // to 256 factors in [1, 2], which cannot overflow: one logarithm per 256 rows.
        let mut log_terms = 0.0;
        for (chunk, etas) in eta.chunks(256).enumerate() {
            let mut product = 1.0;
            for (offset, &e) in etas.iter().enumerate() {
                let i = chunk * 256 + offset;
                let t = (-e.abs()).exp();
                let mu = if e >= 0.0 { 1.0 / (1.0 + t) } else { t / (1.0 + t) };
                let yi = self.y[start + i];
                s.weights[i] = mu * (1.0 - mu);
                s.residual[i] = yi - mu;
                sums.log_likelihood += yi * e - e.max(0.0);
                product *= 1.0 + t;
                sums.max_eta = sums.max_eta.max(e.abs());
                sums.perfect &= (mu - yi).abs() < 1e-6;
            }
            log_terms += product.ln();
        }
        sums.log_likelihood -= log_terms;
        for a in 0..k {
            let xa = &s.x[a * BLOCK..a * BLOCK + len];
            sums.score[a] += dot(xa, &s.residual[..len]);
            let weighted = &mut s.weighted[a * BLOCK..a * BLOCK + len];
            for ((out, x), w) in weighted.iter_mut().zip(xa).zip(&s.weights[..len]) {
                *out = x * w;
            }
        }
        add_cross_product(&mut sums.information, &s.weighted, &s.x, BLOCK, len);
    }
}

/// Whether this processor runs [`Block::add_to_avx2`].
fn wide_vectors() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// info += (WX)' X for one block of `len` rows, by matrixmultiply's cache-blocked, vectorised
/// kernel: `weighted` (WX) and `x` hold the block column by column, `stride` apart.
fn add_cross_product(info: &mut DMatrix<f64>, weighted: &[f64], x: &[f64], stride: usize, len: usize) {
    let k = info.nrows();
    let needed = (k - 1) * stride + len;
    assert!(len <= stride && weighted.len() >= needed && x.len() >= needed);
    // SAFETY: the assertion keeps every element read inside `weighted` and `x` ((i, a) at
    // a * stride + i), and `info` is a k x k column-major matrix ((a, b) at a + b * k).
    unsafe {
        matrixmultiply::dgemm(
            k,
            len,
            k,
            1.0,
            weighted.as_ptr(),
            stride as isize,
            1,
            x.as_ptr(),
            1,
            stride as isize,
            1.0,
            info.as_mut_ptr(),
            1,
            k as isize,
        );
    }
}

/// Sum of x_i y_i, with four running sums so that the compiler can use vector instructions.
#[inline(always)]
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

    #[test]
    fn the_same_rows_give_the_same_bits_on_any_number_of_threads() {
        // Enough rows for many groups of blocks, so that threads could split the sums differently.
        let mut state = 42u64;
        let mut uniform = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let n = 200_000;
        let x1: Vec<f64> = (0..n).map(|_| uniform() * 10.0).collect();
        let x2: Vec<f64> = (0..n).map(|_| uniform() - 0.5).collect();
        let y: Vec<f64> = x1.iter().zip(&x2).map(|(a, b)| f64::from(0.2 * a + b - 1.0 > uniform() * 2.0)).collect();
        let predictors = [x1, x2];
        let fit = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let fit = pool.install(|| logistic(&y, &predictors, &names(&["x1", "x2"]), 0.05).unwrap());
            let bits: Vec<u64> = fit.terms.iter().flat_map(|t| [t.estimate.to_bits(), t.se.to_bits()]).collect();
            (bits, fit.log_likelihood.to_bits())
        };
        let one = fit(1);
        for threads in [2, 3, 8] {
            assert_eq!(fit(threads), one, "{threads} threads");
        }
    }

    #[test]
    fn wide_vectors_give_the_same_bits_as_narrow_ones() {
        if !wide_vectors() {
            eprintln!("this processor has no AVX2: only the portable pass runs here");
            return;
        }
        let n = 10_000;
        let x1: Vec<f64> = (0..n).map(|i| ((i * 7919) % 1000) as f64 / 37.0).collect();
        let x2: Vec<f64> = (0..n).map(|i| ((i * 104_729) % 997) as f64 - 500.0).collect();
        let y: Vec<f64> = (0..n).map(|i| f64::from((i * 31) % 7 < 3)).collect();
        let columns = [x1.as_slice(), x2.as_slice()];
        let s = scaling(n, &columns, &names(&["x1", "x2"])).unwrap();
        let c = DVector::from_vec(vec![0.1, -0.3, 0.7]);
        let bits = |p: Pass| {
            let mut b: Vec<u64> = p.score.iter().chain(p.information.iter()).map(|v| v.to_bits()).collect();
            b.push(p.log_likelihood.to_bits());
            b
        };
        assert_eq!(bits(newton_pass(&columns, &s, &y, &c, true)), bits(newton_pass(&columns, &s, &y, &c, false)));
    }
}
