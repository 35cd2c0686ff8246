//! Cox proportional hazards with Efron ties, fitted as lifelines' `CoxPHFitter`, and the
//! proportional-hazards test of `lifelines.statistics.proportional_hazard_test`.

use std::fmt;

use nalgebra::{DMatrix, DVector};
use serde::Serialize;

use super::concordance::concordance_counts;
use super::{SurvivalError, check_length, check_time_event, order_by_time};
use crate::dist::{chi2_upper, z_quantile, z_two_sided};

/// A fitted Cox proportional hazards model.
#[derive(Debug, Clone, Serialize)]
pub struct Cox {
    /// Number of subjects.
    pub subjects: usize,
    /// Number of observed events.
    pub events: usize,
    /// One row per covariate, in the order given. A covariate left out of the fit (constant) has
    /// NaN estimates and a [`CoxWarning::ConstantCovariate`].
    pub coefficients: Vec<CoxCoefficient>,
    /// Covariance matrix of the coefficients (inverse of the observed information), in covariate
    /// order; NaN for covariates left out.
    pub covariance: Vec<Vec<f64>>,
    /// The maximised log partial likelihood (Efron), lifelines' `log_likelihood_`.
    pub log_likelihood: f64,
    /// Likelihood-ratio test of the model against no covariates.
    pub likelihood_ratio: LikelihoodRatioTest,
    /// Harrell's concordance index of the fitted risk scores, lifelines' `concordance_index_`.
    pub concordance: f64,
    /// Test of proportional hazards per covariate (scaled Schoenfeld residuals against the rank of
    /// event times), as `proportional_hazard_test(cph, df, time_transform="rank")`.
    pub proportional_hazards: Vec<ProportionalHazardsTest>,
    /// Newton-Raphson iterations run (evaluations of the likelihood).
    pub iterations: usize,
    /// Whether Newton-Raphson met lifelines' convergence criteria.
    pub converged: bool,
    /// Problems with the fit a researcher should know about before reading the numbers.
    pub warnings: Vec<CoxWarning>,
}

/// One covariate's estimate.
#[derive(Debug, Clone, Serialize)]
pub struct CoxCoefficient {
    /// The covariate's name.
    pub name: String,
    /// The log hazard ratio per unit of the covariate.
    pub coef: f64,
    /// Its standard error.
    pub se: f64,
    /// Wald statistic `coef / se`.
    pub z: f64,
    /// Two-sided Wald p-value.
    pub p: f64,
    /// `exp(coef)`: the hazard ratio per unit of the covariate.
    pub hazard_ratio: f64,
    /// Lower limit of the 95% confidence interval of the hazard ratio, `exp(coef - 1.96 se)`.
    pub hazard_ratio_lower: f64,
    /// Upper limit of the 95% confidence interval of the hazard ratio, `exp(coef + 1.96 se)`.
    pub hazard_ratio_upper: f64,
}

/// Likelihood-ratio test of the fitted model against the model without covariates.
#[derive(Debug, Clone, Serialize)]
pub struct LikelihoodRatioTest {
    /// Log partial likelihood with all coefficients 0.
    pub null_log_likelihood: f64,
    /// `2 (log_likelihood - null_log_likelihood)`.
    pub statistic: f64,
    /// Degrees of freedom: the number of fitted coefficients.
    pub df: usize,
    /// Upper-tail chi-square p-value.
    pub p: f64,
}

/// The test of the proportional-hazards assumption for one covariate: a small p suggests its
/// hazard ratio changes over time.
#[derive(Debug, Clone, Serialize)]
pub struct ProportionalHazardsTest {
    /// The covariate's name.
    pub covariate: String,
    /// Chi-square statistic (1 degree of freedom).
    pub statistic: f64,
    /// Upper-tail chi-square p-value.
    pub p: f64,
}

/// Something about a Cox fit that makes its numbers unreliable or incomplete.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CoxWarning {
    /// The covariate has a single value for every subject; it was left out of the model.
    ConstantCovariate {
        /// The covariate's name.
        covariate: String,
    },
    /// Newton-Raphson stopped (step too small, too many iterations, or the likelihood reached 0)
    /// before converging.
    NotConverged {
        /// Iterations run.
        iterations: usize,
    },
    /// The likelihood converged but the last Newton step was still large: the maximum may not be
    /// unique (collinearity) or may lie at infinity (separation).
    LargeFinalStep {
        /// Euclidean norm of the last step, on the standardised covariate scale.
        norm: f64,
    },
    /// The likelihood keeps increasing as this coefficient moves further from 0 (monotone
    /// likelihood, e.g. no events in one category): the true estimate is infinite and the reported
    /// coefficient, its standard error and p-value are meaningless.
    InfiniteCoefficient {
        /// The covariate's name.
        covariate: String,
    },
}

impl fmt::Display for CoxWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ConstantCovariate { covariate } => {
                write!(f, "`{covariate}` has the same value for every subject, so it was left out of the model")
            }
            Self::NotConverged { iterations } => write!(
                f,
                "the fit did not converge after {iterations} iterations: the estimates are not reliable; check for covariates that perfectly predict the event or are collinear"
            ),
            Self::LargeFinalStep { norm } => write!(
                f,
                "the likelihood converged but the estimates were still moving (last step {norm:.3} on the standardised scale): the maximum may not be unique; check for collinear covariates or separation"
            ),
            Self::InfiniteCoefficient { covariate } => write!(
                f,
                "the coefficient of `{covariate}` is running away to infinity (monotone likelihood): a value of it (nearly) determines who has the event, e.g. a category without events; its hazard ratio, CI and p-value are meaningless — merge sparse categories or use a penalised model"
            ),
        }
    }
}

/// Fits a Cox proportional hazards model of right-censored `time`/`event` on `covariates` (one
/// column per covariate, named by `names`), as lifelines' `CoxPHFitter()` with its defaults: Efron's
/// method for tied times, covariates standardised for the fit and rescaled after, and lifelines'
/// Newton-Raphson (step size starting at 0.95; stops when the step norm or the Newton decrement
/// is below 1e-7, or the log-likelihood changes by less than 1e-9 relatively, after at most 500
/// iterations). Standard errors come from the inverse of the observed information; hazard-ratio
/// intervals are 95% (see [`cox_at`] for another level).
///
/// The data is sorted once; each iteration then takes O(n·p²) without allocating.
pub fn cox<S: AsRef<str>, C: AsRef<[f64]>>(
    time: &[f64],
    event: &[bool],
    covariates: &[C],
    names: &[S],
) -> Result<Cox, SurvivalError> {
    cox_at(time, event, covariates, names, 0.05)
}

/// [`cox`] with `1 - alpha` intervals of the hazard ratios (lifelines' `CoxPHFitter(alpha=...)`).
pub fn cox_at<S: AsRef<str>, C: AsRef<[f64]>>(
    time: &[f64],
    event: &[bool],
    covariates: &[C],
    names: &[S],
    alpha: f64,
) -> Result<Cox, SurvivalError> {
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(SurvivalError::InvalidAlpha(alpha));
    }
    check_time_event(time, event)?;
    let n = time.len();
    if covariates.is_empty() {
        return Err(SurvivalError::NoCovariates);
    }
    check_length("names", covariates.len(), names.len())?;
    for (column, name) in covariates.iter().map(AsRef::as_ref).zip(names) {
        check_length(&format!("covariate `{}`", name.as_ref()), n, column.len())?;
        if let Some((index, &value)) = column.iter().enumerate().find(|(_, x)| !x.is_finite()) {
            return Err(SurvivalError::InvalidCovariate { covariate: name.as_ref().to_owned(), index, value });
        }
    }
    let events = event.iter().filter(|&&e| e).count();
    if events == 0 {
        return Err(SurvivalError::NoEvents { what: "a Cox model" });
    }
    if covariates.len() > events {
        return Err(SurvivalError::TooManyCovariates { covariates: covariates.len(), events });
    }

    let mut warnings = Vec::new();
    // A constant column has no variance to standardise by and no information; lifelines fails on
    // it, we leave it out and say so.
    let fitted: Vec<usize> = (0..covariates.len())
        .filter(|&j| {
            let column = covariates[j].as_ref();
            let constant = column.iter().all(|&x| x == column[0]);
            if constant {
                warnings.push(CoxWarning::ConstantCovariate { covariate: names[j].as_ref().to_owned() });
            }
            !constant
        })
        .collect();
    if fitted.is_empty() {
        return Err(SurvivalError::AllCovariatesConstant);
    }

    let design = Design::new(time, event, covariates, &fitted);
    let fit = newton_raphson(&design)?;
    let p = design.p;

    // Where each covariate sits among the fitted ones (None: left out).
    let mut slot = vec![None; covariates.len()];
    for (a, &j) in fitted.iter().enumerate() {
        slot[j] = Some(a);
    }
    // Back to the covariates' own units: lifelines' params_ = beta / std and
    // variance_matrix_ = inv(-hessian) / outer(std, std).
    let covariance: Vec<Vec<f64>> = slot
        .iter()
        .map(|&a| {
            slot.iter()
                .map(|&b| match (a, b) {
                    (Some(a), Some(b)) => fit.variance[(a, b)] / (design.std[a] * design.std[b]),
                    _ => f64::NAN,
                })
                .collect()
        })
        .collect();
    let z_crit = z_quantile(1.0 - alpha / 2.0);
    let coefficients: Vec<CoxCoefficient> = names
        .iter()
        .zip(&slot)
        .enumerate()
        .map(|(j, (name, a))| {
            let coef = a.map_or(f64::NAN, |a| fit.beta[a] / design.std[a]);
            let se = covariance[j][j].sqrt();
            let z = coef / se;
            CoxCoefficient {
                name: name.as_ref().to_owned(),
                coef,
                se,
                z,
                p: z_two_sided(z),
                hazard_ratio: coef.exp(),
                hazard_ratio_lower: (coef - z_crit * se).exp(),
                hazard_ratio_upper: (coef + z_crit * se).exp(),
            }
        })
        .collect();

    if !fit.converged {
        warnings.push(CoxWarning::NotConverged { iterations: fit.iterations });
    } else if fit.last_step_norm > 0.1 {
        warnings.push(CoxWarning::LargeFinalStep { norm: fit.last_step_norm });
    }
    for a in runaway_coefficients(&design, &fit.beta) {
        warnings.push(CoxWarning::InfiniteCoefficient { covariate: names[fitted[a]].as_ref().to_owned() });
    }

    let lp = design.linear_predictor(&fit.beta);
    // lifelines scores with minus the partial hazard, exp(lp): exp, not lp, so that risk scores
    // lifelines sees as tied are tied here too.
    let score: Vec<f64> = lp.iter().map(|&l| -l.exp()).collect();
    let order: Vec<usize> = (0..n).collect();
    let concordance = concordance_counts(&design.time, &design.event, &score, &order).index();

    let ph = schoenfeld_rank_test(&design, &fit);
    let proportional_hazards = names
        .iter()
        .zip(&slot)
        .map(|(name, a)| {
            let statistic = a.map_or(f64::NAN, |a| ph[a]);
            ProportionalHazardsTest { covariate: name.as_ref().to_owned(), statistic, p: chi2_upper(statistic, 1.0) }
        })
        .collect();

    let statistic = 2.0 * (fit.log_likelihood - fit.null_log_likelihood);
    let likelihood_ratio = LikelihoodRatioTest {
        null_log_likelihood: fit.null_log_likelihood,
        statistic,
        df: p,
        p: chi2_upper(statistic, p as f64),
    };

    Ok(Cox {
        subjects: n,
        events,
        coefficients,
        covariance,
        log_likelihood: fit.log_likelihood,
        likelihood_ratio,
        concordance,
        proportional_hazards,
        iterations: fit.iterations,
        converged: fit.converged,
        warnings,
    })
}

/// The data as the fit reads it: sorted by (time, event), covariates standardised (mean 0, sample
/// SD 1, as lifelines does before fitting) and laid out row by row for cache-friendly passes.
struct Design {
    n: usize,
    p: usize,
    time: Vec<f64>,
    event: Vec<bool>,
    /// Row-major n × p.
    x: Vec<f64>,
    std: Vec<f64>,
}

impl Design {
    fn new<C: AsRef<[f64]>>(time: &[f64], event: &[bool], covariates: &[C], fitted: &[usize]) -> Self {
        let n = time.len();
        let p = fitted.len();
        let order = order_by_time(time, event);
        let mut x = vec![0.0; n * p];
        let mut std = Vec::with_capacity(p);
        for (a, &j) in fitted.iter().enumerate() {
            let column = covariates[j].as_ref();
            let mean = column.iter().sum::<f64>() / n as f64;
            let sd = (column.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0)).sqrt();
            for (r, &i) in order.iter().enumerate() {
                x[r * p + a] = (column[i] - mean) / sd;
            }
            std.push(sd);
        }
        Design {
            n,
            p,
            time: order.iter().map(|&i| time[i]).collect(),
            event: order.iter().map(|&i| event[i]).collect(),
            x,
            std,
        }
    }

    fn row(&self, r: usize) -> &[f64] {
        &self.x[r * self.p..(r + 1) * self.p]
    }

    fn linear_predictor(&self, beta: &[f64]) -> Vec<f64> {
        (0..self.n).map(|r| dot(self.row(r), beta)).collect()
    }

    /// Blocks of rows sharing a time, from the last time to the first: the risk set at a time is
    /// everyone at or after it, so walking backwards builds it by accumulation.
    fn blocks_backwards(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let mut end = self.n;
        std::iter::from_fn(move || {
            if end == 0 {
                return None;
            }
            let t = self.time[end - 1];
            let mut start = end - 1;
            while start > 0 && self.time[start - 1] == t {
                start -= 1;
            }
            let block = (start, end);
            end = start;
            Some(block)
        })
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Index of (j, k), k ≤ j, in a packed lower triangle.
fn packed(j: usize, k: usize) -> usize {
    j * (j + 1) / 2 + k
}

/// Adds a subject's `phi`, `phi x` and `phi x xᵀ` (packed lower triangle) to running sums.
#[inline]
fn accumulate(sum_x: &mut [f64], sum_xx: &mut [f64], phi: f64, x: &[f64]) {
    let mut at = 0;
    for (j, acc) in sum_x.iter_mut().enumerate() {
        let phi_xj = phi * x[j];
        *acc += phi_xj;
        for (cell, xk) in sum_xx[at..=at + j].iter_mut().zip(x) {
            *cell += phi_xj * xk;
        }
        at += j + 1;
    }
}

/// Buffers for one pass of the Efron likelihood, allocated once per fit.
struct Efron {
    gradient: Vec<f64>,
    /// Packed lower triangle of the Hessian.
    hessian: Vec<f64>,
    risk_x: Vec<f64>,
    risk_xx: Vec<f64>,
    tie_x: Vec<f64>,
    tie_xx: Vec<f64>,
    death_x: Vec<f64>,
    summand: Vec<f64>,
    summand_sum: Vec<f64>,
    outer_sum: Vec<f64>,
}

impl Efron {
    fn new(p: usize) -> Self {
        let tri = p * (p + 1) / 2;
        Efron {
            gradient: vec![0.0; p],
            hessian: vec![0.0; tri],
            risk_x: vec![0.0; p],
            risk_xx: vec![0.0; tri],
            tie_x: vec![0.0; p],
            tie_xx: vec![0.0; tri],
            death_x: vec![0.0; p],
            summand: vec![0.0; p],
            summand_sum: vec![0.0; p],
            outer_sum: vec![0.0; tri],
        }
    }

    /// Log partial likelihood at `beta`, leaving its gradient and Hessian in the buffers: the
    /// algebra of lifelines' `_get_efron_values_batch`, one block of tied times at a time.
    fn evaluate(&mut self, d: &Design, beta: &[f64]) -> f64 {
        let p = d.p;
        self.gradient.fill(0.0);
        self.hessian.fill(0.0);
        self.risk_x.fill(0.0);
        self.risk_xx.fill(0.0);
        let mut risk_phi = 0.0;
        let mut log_lik = 0.0;
        for (start, end) in d.blocks_backwards() {
            let mut deaths = 0usize;
            let mut tie_phi = 0.0;
            for r in start..end {
                let x = d.row(r);
                let phi = dot(x, beta).exp();
                risk_phi += phi;
                accumulate(&mut self.risk_x, &mut self.risk_xx, phi, x);
                if d.event[r] {
                    if deaths == 0 {
                        self.tie_x.fill(0.0);
                        self.tie_xx.fill(0.0);
                        self.death_x.fill(0.0);
                    }
                    deaths += 1;
                    tie_phi += phi;
                    accumulate(&mut self.tie_x, &mut self.tie_xx, phi, x);
                    for (acc, xj) in self.death_x.iter_mut().zip(x) {
                        *acc += xj;
                    }
                }
            }
            if deaths == 0 {
                continue;
            }
            // Efron: the l-th of the tied deaths sees the risk set with l/deaths of the tied
            // subjects' weight already removed.
            log_lik += dot(&self.death_x, beta);
            self.summand_sum.fill(0.0);
            self.outer_sum.fill(0.0);
            let (mut inv_sum, mut frac_inv_sum) = (0.0, 0.0);
            for l in 0..deaths {
                let frac = l as f64 / deaths as f64;
                let inv = 1.0 / (risk_phi - frac * tie_phi);
                log_lik += inv.ln();
                inv_sum += inv;
                frac_inv_sum += frac * inv;
                for j in 0..p {
                    let s = (self.risk_x[j] - frac * self.tie_x[j]) * inv;
                    self.summand[j] = s;
                    self.summand_sum[j] += s;
                }
                for j in 0..p {
                    let sj = self.summand[j];
                    let row = &mut self.outer_sum[packed(j, 0)..=packed(j, j)];
                    for (acc, sk) in row.iter_mut().zip(&self.summand[..=j]) {
                        *acc += sj * sk;
                    }
                }
            }
            for j in 0..p {
                self.gradient[j] += self.death_x[j] - self.summand_sum[j];
            }
            for (idx, h) in self.hessian.iter_mut().enumerate() {
                *h += self.outer_sum[idx] - (self.risk_xx[idx] * inv_sum - self.tie_xx[idx] * frac_inv_sum);
            }
        }
        log_lik
    }

    /// The information matrix, minus the Hessian, as a full symmetric matrix.
    fn information(&self, p: usize) -> DMatrix<f64> {
        DMatrix::from_fn(p, p, |j, k| -self.hessian[if k <= j { packed(j, k) } else { packed(k, j) }])
    }
}

/// lifelines' `utils.StepSizer`: damps the Newton step after large jumps and lets it grow back
/// while the steps keep shrinking. Its constants are lifelines'; they decide where the iterations
/// stop, so they matter for matching lifelines' estimates beyond the first few digits.
struct StepSizer {
    initial: f64,
    step: f64,
    temper_back_up: bool,
    norms: Vec<f64>,
}

impl StepSizer {
    fn new(initial: f64) -> Self {
        StepSizer { initial, step: initial, temper_back_up: false, norms: Vec::new() }
    }

    fn update(&mut self, norm: f64) -> f64 {
        self.norms.push(norm);
        if self.temper_back_up {
            self.step = (self.step * 1.3).min(self.initial);
        }
        if norm >= 15.0 {
            self.step *= 0.1;
            self.temper_back_up = true;
        } else if norm > 5.0 {
            self.step *= 0.25;
            self.temper_back_up = true;
        }
        if let [a, b, c] = self.norms[self.norms.len().saturating_sub(3)..] {
            if b < a && c < b {
                self.step = (self.step * 1.3).min(1.0);
            } else {
                self.step *= 0.98;
            }
        }
        self.step
    }
}

struct Fit {
    /// Coefficients on the standardised scale.
    beta: Vec<f64>,
    /// Inverse information on the standardised scale.
    variance: DMatrix<f64>,
    log_likelihood: f64,
    null_log_likelihood: f64,
    iterations: usize,
    converged: bool,
    last_step_norm: f64,
}

/// lifelines' `_newton_raphson_for_efron_model` with its defaults, step for step: the estimates
/// are those of the last likelihood evaluation (the final Newton step is computed, not taken).
fn newton_raphson(d: &Design) -> Result<Fit, SurvivalError> {
    const PRECISION: f64 = 1e-7;
    const R_PRECISION: f64 = 1e-9;
    const MAX_STEPS: usize = 500;
    let p = d.p;
    let mut beta = vec![0.0; p];
    let mut delta = DVector::<f64>::zeros(p);
    let mut sizer = StepSizer::new(0.95);
    let mut step_size = sizer.step;
    let mut efron = Efron::new(p);
    let (mut previous_ll, mut null_ll) = (0.0, f64::NAN);
    let mut iteration = 0;
    loop {
        for (b, dl) in beta.iter_mut().zip(delta.iter()) {
            *b += step_size * dl;
        }
        iteration += 1;
        let ll = efron.evaluate(d, &beta);
        if iteration == 1 {
            null_ll = ll;
        }
        if !ll.is_finite() || efron.gradient.iter().chain(&efron.hessian).any(|v| !v.is_finite()) {
            return Err(SurvivalError::NotFinite { iteration });
        }
        let information = efron.information(p);
        let chol = well_conditioned_cholesky(&information).ok_or(SurvivalError::Singular { iteration })?;
        let gradient = DVector::from_column_slice(&efron.gradient);
        delta = chol.solve(&gradient);
        let norm = delta.norm();
        let newton_decrement = gradient.dot(&delta) / 2.0;

        let stop = if norm < PRECISION
            || (previous_ll != 0.0 && (ll - previous_ll).abs() / -previous_ll < R_PRECISION)
            || newton_decrement < PRECISION
        {
            Some(true)
        } else if iteration >= MAX_STEPS || step_size <= 0.00001 || (ll.abs() < 0.0001 && norm > 1.0) {
            Some(false)
        } else {
            None
        };
        if let Some(converged) = stop {
            return Ok(Fit {
                beta,
                variance: chol.inverse(),
                log_likelihood: ll,
                null_log_likelihood: null_ll,
                iterations: iteration,
                converged,
                last_step_norm: norm,
            });
        }
        previous_ll = ll;
        step_size = sizer.update(norm);
    }
}

/// Cholesky factor of the information, or `None` when it is singular or so close to it that a
/// covariate is a combination of the others to 10 digits: the estimates would then be arbitrary.
fn well_conditioned_cholesky(information: &DMatrix<f64>) -> Option<nalgebra::Cholesky<f64, nalgebra::Dyn>> {
    let chol = information.clone().cholesky()?;
    // The squared pivot over the diagonal is 1 - R² of that covariate on the previous ones, in the
    // information's metric.
    let l = chol.l_dirty();
    let ok = (0..information.nrows()).all(|j| l[(j, j)].powi(2) > 1e-10 * information[(j, j)]);
    ok.then_some(chol)
}

/// Covariates whose likelihood keeps rising as their coefficient moves further from 0: on a
/// concave likelihood a finite maximum would make 10 SDs further much worse, not better. Checked
/// directly because lifelines' stopping rule (relative change in log-likelihood) happily "converges"
/// on such a ridge.
fn runaway_coefficients(d: &Design, beta: &[f64]) -> Vec<usize> {
    let base = log_likelihood_shifted(d, beta);
    let mut probe = beta.to_vec();
    (0..d.p)
        .filter(|&a| {
            if beta[a] == 0.0 {
                return false;
            }
            probe.copy_from_slice(beta);
            probe[a] += 10.0 * beta[a].signum();
            let further = log_likelihood_shifted(d, &probe);
            further >= base - 1e-6 * base.abs()
        })
        .collect()
}

/// The Efron log partial likelihood alone, with the risk scores scaled by exp(-max lp) so that
/// probing large coefficients cannot overflow; the scaling cancels except for a known offset.
fn log_likelihood_shifted(d: &Design, beta: &[f64]) -> f64 {
    let lp = d.linear_predictor(beta);
    let shift = lp.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (mut risk_phi, mut log_lik, mut total_deaths) = (0.0, 0.0, 0usize);
    for (start, end) in d.blocks_backwards() {
        let (mut tie_phi, mut deaths) = (0.0, 0usize);
        for (r, &l) in (start..end).zip(&lp[start..end]) {
            let phi = (l - shift).exp();
            risk_phi += phi;
            if d.event[r] {
                tie_phi += phi;
                deaths += 1;
                log_lik += l;
            }
        }
        for l in 0..deaths {
            log_lik -= (risk_phi - l as f64 / deaths as f64 * tie_phi).ln();
        }
        total_deaths += deaths;
    }
    log_lik - total_deaths as f64 * shift
}

/// The proportional-hazards statistic per fitted covariate, as lifelines'
/// `proportional_hazard_test(..., time_transform="rank")`: Efron-weighted Schoenfeld residuals,
/// scaled by `events × covariance`, correlated with the rank of the event times.
///
/// lifelines computes in the covariates' own units; the statistic is scale-free, so it is computed
/// here on the standardised scale, where `T_j = D (S·V)_j² / (V_jj Σ (rank - mean rank)²)` with `S`
/// the rank-weighted sum of residuals, `V` the inverse information and `D` the number of events.
fn schoenfeld_rank_test(d: &Design, fit: &Fit) -> Vec<f64> {
    let p = d.p;
    let total = d.event.iter().filter(|&&e| e).count();
    let mean_rank = (total as f64 + 1.0) / 2.0;
    let mut weighted = vec![0.0; p];
    let mut risk_x = vec![0.0; p];
    let mut tie_x = vec![0.0; p];
    let mut mean = vec![0.0; p];
    let mut risk_phi = 0.0;
    let mut deaths_after = 0;
    let lp = d.linear_predictor(&fit.beta);
    for (start, end) in d.blocks_backwards() {
        let (mut tie_phi, mut deaths) = (0.0, 0usize);
        tie_x.fill(0.0);
        for (r, &l) in (start..end).zip(&lp[start..end]) {
            let phi = l.exp();
            risk_phi += phi;
            for (acc, x) in risk_x.iter_mut().zip(d.row(r)) {
                *acc += phi * x;
            }
            if d.event[r] {
                deaths += 1;
                tie_phi += phi;
                for (acc, x) in tie_x.iter_mut().zip(d.row(r)) {
                    *acc += phi * x;
                }
            }
        }
        if deaths == 0 {
            continue;
        }
        // The Efron-weighted mean covariate over the tied deaths' shrinking risk sets.
        mean.fill(0.0);
        for l in 0..deaths {
            let frac = l as f64 / deaths as f64;
            let denom = (risk_phi - frac * tie_phi) * deaths as f64;
            for j in 0..p {
                mean[j] += (risk_x[j] - frac * tie_x[j]) / denom;
            }
        }
        // Tied deaths take successive ranks in the sorted order, as lifelines' cumsum of events.
        let mut rank = total - deaths_after - deaths;
        for r in (start..end).filter(|&r| d.event[r]) {
            rank += 1;
            let centred = rank as f64 - mean_rank;
            for (j, w) in weighted.iter_mut().enumerate() {
                *w += centred * (d.row(r)[j] - mean[j]);
            }
        }
        deaths_after += deaths;
    }
    let spread: f64 = (1..=total).map(|k| (k as f64 - mean_rank).powi(2)).sum();
    let s = DVector::from_vec(weighted);
    let projected = fit.variance.transpose() * s;
    (0..p).map(|j| total as f64 * projected[j].powi(2) / (fit.variance[(j, j)] * spread)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotone_likelihood_is_flagged() {
        // Both subjects with x = 1 die before both with x = 0: the partial likelihood keeps
        // rising as b -> +inf, a textbook monotone likelihood.
        let t = [1.0, 2.0, 3.0, 4.0];
        let e = [true, true, true, true];
        let x = vec![vec![1.0, 1.0, 0.0, 0.0]];
        let fit = cox(&t, &e, &x, &["x"]).unwrap();
        assert!(fit.coefficients[0].coef > 3.0, "{fit:?}");
        assert!(fit.warnings.iter().any(|w| matches!(w, CoxWarning::InfiniteCoefficient { .. })), "{:?}", fit.warnings);
    }

    #[test]
    fn score_at_zero_is_the_log_rank_numerator() {
        // The Efron gradient at beta = 0 for a binary covariate is observed - expected events.
        let t = [1.0, 1.0, 2.0, 3.0, 3.0, 4.0];
        let e = [true, true, true, false, true, true];
        let x = [1.0, 0.0, 1.0, 0.0, 0.0, 1.0];
        let order: Vec<usize> = (0..6).collect();
        let d = Design {
            n: 6,
            p: 1,
            time: order.iter().map(|&i| t[i]).collect(),
            event: e.to_vec(),
            x: x.to_vec(),
            std: vec![1.0],
        };
        let mut efron = Efron::new(1);
        efron.evaluate(&d, &[0.0]);
        // Time 1, two tied deaths (x = 1 and 0) among 6 with x summing to 3: Efron's mean x is
        // 3/6, then (3 - 1/2 · 1)/(6 - 1/2 · 2) = 1/2. Time 2: 2/4. Time 3 (the censored subject
        // still at risk): 1/3. Time 4: 1/1.
        let expected = [0.5, 0.5, 0.5, 1.0 / 3.0, 1.0];
        let observed = 1.0 + 0.0 + 1.0 + 0.0 + 1.0;
        let score = observed - expected.iter().sum::<f64>();
        assert!((efron.gradient[0] - score).abs() < 1e-12, "{} vs {score}", efron.gradient[0]);
    }
}
