//! The Kaplan-Meier estimate of the survival function, as lifelines' `KaplanMeierFitter`.

use serde::Serialize;

use super::{LifeTable, SurvivalError, life_tables};
use crate::dist::z_quantile;

/// A Kaplan-Meier survival curve with pointwise confidence bands, life table and median.
#[derive(Debug, Clone, Serialize)]
pub struct KaplanMeier {
    /// The alpha of the confidence intervals (0.05 for 95% bands).
    pub alpha: f64,
    /// Number of subjects.
    pub subjects: usize,
    /// Number of observed events.
    pub events: usize,
    /// One step per distinct time, ascending, starting at time 0 (survival 1) as lifelines'
    /// `survival_function_`: the curve is flat from one step's time to the next.
    pub steps: Vec<KaplanMeierStep>,
    /// The median survival time and its confidence interval.
    pub median: MedianSurvival,
}

/// The curve and the life table at one distinct time.
#[derive(Debug, Clone, Serialize)]
pub struct KaplanMeierStep {
    /// The time.
    pub time: f64,
    /// Estimated probability of surviving past `time`.
    pub survival: f64,
    /// Lower confidence bound of `survival` (exponential Greenwood, "log-log").
    pub lower: f64,
    /// Upper confidence bound of `survival`.
    pub upper: f64,
    /// Subjects still under observation just before `time` (time ≥ this step's time).
    pub at_risk: usize,
    /// Events observed at `time`.
    pub observed: usize,
    /// Subjects censored at `time`.
    pub censored: usize,
}

/// The median survival time with its confidence interval. `None` means "not reached": the curve
/// (or the bound) never falls to 0.5 during follow-up; lifelines reports infinity.
#[derive(Debug, Clone, Serialize)]
pub struct MedianSurvival {
    /// The first time at which the survival estimate is at or below 0.5.
    pub time: Option<f64>,
    /// Lower confidence limit: where the lower band reaches 0.5.
    pub lower: Option<f64>,
    /// Upper confidence limit: where the upper band reaches 0.5.
    pub upper: Option<f64>,
}

impl KaplanMeier {
    /// Numbers at risk at the given times (subjects whose time is at or after `t`), for the at-risk
    /// table printed under a survival chart. This is the usual definition (R's `summary(survfit, times)`,
    /// and this curve's `at_risk` column); lifelines' `add_at_risk_counts` by default shows those
    /// still at risk just *after* `t` instead, which is smaller when events fall exactly on `t`.
    pub fn at_risk_at(&self, times: &[f64]) -> Vec<usize> {
        times
            .iter()
            .map(|&t| {
                // Every distinct subject time is a step, so the first step at or after t has
                // exactly the subjects whose time is ≥ t still at risk.
                let first = self.steps.partition_point(|s| s.time < t);
                if t.is_nan() { 0 } else { self.steps.get(first).map_or(0, |s| s.at_risk) }
            })
            .collect()
    }
}

/// Kaplan-Meier estimate of the survival function of right-censored `time`s (`event[i]` false when
/// censored), with `1 - alpha` pointwise confidence bands by the exponential Greenwood formula, the
/// default of lifelines ("log-log" in R). Steps are at every distinct time, plus time 0.
///
/// A group without any event is not an error: its curve stays at 1 and its median is not reached.
pub fn kaplan_meier(time: &[f64], event: &[bool], alpha: f64) -> Result<KaplanMeier, SurvivalError> {
    let tables = life_tables(time, event, &vec![0; time.len()], 1)?;
    kaplan_meier_of(&tables[0], alpha)
}

/// [`kaplan_meier`] of a group's [`LifeTable`] (see [`life_tables`](super::life_tables)).
pub fn kaplan_meier_of(table: &LifeTable, alpha: f64) -> Result<KaplanMeier, SurvivalError> {
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(SurvivalError::InvalidAlpha(alpha));
    }
    let n = table.subjects();
    if n == 0 {
        return Err(SurvivalError::Empty);
    }
    let z = z_quantile(1.0 - alpha / 2.0);
    let mut steps = Vec::with_capacity(table.times.len() + 1);
    // lifelines' life table starts at the origin (time 0) with everyone at risk, so the curve
    // drawn from the steps starts at survival 1.
    if table.times[0] > 0.0 {
        steps.push(KaplanMeierStep {
            time: 0.0,
            survival: 1.0,
            lower: 1.0,
            upper: 1.0,
            at_risk: n,
            observed: 0,
            censored: 0,
        });
    }
    // Summed on the log scale as lifelines does (log(n - d) - log(n)), so a curve that reaches 0
    // stays at exactly 0.
    let mut log_survival = 0.0_f64;
    let mut greenwood = 0.0_f64;
    let mut at_risk = n;
    for ((&t, &removed), &observed) in table.times.iter().zip(&table.removed).zip(&table.events) {
        let (removed, observed) = (removed as usize, observed as usize);
        let (r, d) = (at_risk as f64, observed as f64);
        log_survival += (r - d).ln() - r.ln();
        // The variance term is infinite when everyone at risk dies; lifelines counts it as 0.
        let term = d / (r * (r - d));
        greenwood += if term.is_infinite() { 0.0 } else { term };
        let survival = log_survival.exp();
        let (lower, upper) = log_log_bounds(survival, greenwood, z);
        steps.push(KaplanMeierStep {
            time: t,
            survival,
            lower,
            upper,
            at_risk,
            observed,
            censored: removed - observed,
        });
        at_risk -= removed;
    }

    let median = MedianSurvival {
        time: median_time(&steps, |s| s.survival),
        lower: median_time(&steps, |s| s.lower),
        upper: median_time(&steps, |s| s.upper),
    };
    let events = table.event_count();
    Ok(KaplanMeier { alpha, subjects: n, events, steps, median })
}

/// Exponential Greenwood bounds: a normal interval for log(-log S), mapped back, which keeps the
/// bounds inside [0, 1]. Where it is undefined (S = 1: no event yet, 0/0) lifelines fills 1.
fn log_log_bounds(survival: f64, greenwood: f64, z: f64) -> (f64, f64) {
    let v = survival.ln();
    let half = z * greenwood.sqrt() / v;
    let bound = |h: f64| {
        let b = (-((-v).ln() + h).exp()).exp();
        if b.is_nan() { 1.0 } else { b }
    };
    (bound(-half), bound(half))
}

/// The first step's time at which `value` is at or below 0.5, found the way lifelines'
/// `qth_survival_time` finds it: by numpy's `searchsorted`, a binary search. The confidence bounds
/// are not always monotone, and then a linear scan could stop at a different step than lifelines.
fn median_time(steps: &[KaplanMeierStep], value: impl Fn(&KaplanMeierStep) -> f64) -> Option<f64> {
    let last = steps.last().map(&value)?;
    if last > 0.5 {
        return None;
    }
    // numpy's searchsorted(-values, -0.5, side="left"): the first index with -value >= -0.5.
    let (mut lo, mut hi) = (0, steps.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if -value(&steps[mid]) < -0.5 { lo = mid + 1 } else { hi = mid }
    }
    steps.get(lo).map(|s| s.time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_curve() {
        // times 1, 2+, 3, 3, 4+: S(1) = 4/5, S(2) = 4/5, S(3) = 4/5 * 1/3, S(4) = same.
        let km = kaplan_meier(&[1.0, 2.0, 3.0, 3.0, 4.0], &[true, false, true, true, false], 0.05).unwrap();
        let times: Vec<f64> = km.steps.iter().map(|s| s.time).collect();
        assert_eq!(times, [0.0, 1.0, 2.0, 3.0, 4.0]);
        let s: Vec<f64> = km.steps.iter().map(|s| s.survival).collect();
        let expected = [1.0, 0.8, 0.8, 0.8 / 3.0, 0.8 / 3.0];
        for (a, b) in s.iter().zip(expected) {
            assert!((a - b).abs() < 1e-12, "{s:?}");
        }
        let at_risk: Vec<usize> = km.steps.iter().map(|s| s.at_risk).collect();
        assert_eq!(at_risk, [5, 5, 4, 3, 1]);
        assert_eq!(km.median.time, Some(3.0));
        assert_eq!(km.at_risk_at(&[-1.0, 0.0, 2.5, 3.0, 3.5, 9.0]), [5, 5, 3, 3, 1, 0]);
        for s in &km.steps {
            assert!(s.lower <= s.survival && s.survival <= s.upper);
        }
    }

    #[test]
    fn no_event_means_median_not_reached() {
        let km = kaplan_meier(&[1.0, 2.0], &[false, false], 0.05).unwrap();
        assert!(km.steps.iter().all(|s| s.survival == 1.0 && s.lower == 1.0 && s.upper == 1.0));
        assert_eq!(km.median.time, None);
    }

    #[test]
    fn everyone_dies_curve_reaches_zero() {
        let km = kaplan_meier(&[1.0, 2.0], &[true, true], 0.05).unwrap();
        let last = km.steps.last().unwrap();
        assert_eq!((last.survival, last.lower, last.upper), (0.0, 0.0, 0.0));
        assert_eq!(km.median.time, Some(1.0));
    }
}
