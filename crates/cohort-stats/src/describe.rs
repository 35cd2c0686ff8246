//! Summaries of one numeric column: n, missing, mean, SD, median, quartiles, range.

use serde::Serialize;

/// A numeric column summarised. Missing values (NaN) are counted, not used.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Numeric {
    /// Values used.
    pub n: u64,
    /// Values missing.
    pub missing: u64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (n - 1 in the denominator), as pandas and R report it.
    pub sd: f64,
    /// Lowest value.
    pub min: f64,
    /// First quartile.
    pub q1: f64,
    /// Median.
    pub median: f64,
    /// Third quartile.
    pub q3: f64,
    /// Highest value.
    pub max: f64,
}

/// Summarises `values` (NaN is missing). Quantiles interpolate linearly between order statistics
/// (numpy's and pandas' default, R's type 7). With no values every statistic is NaN.
pub fn numeric(values: &[f64]) -> Numeric {
    let mut present: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    let missing = (values.len() - present.len()) as u64;
    let n = present.len();
    if n == 0 {
        let nan = f64::NAN;
        return Numeric { n: 0, missing, mean: nan, sd: nan, min: nan, q1: nan, median: nan, q3: nan, max: nan };
    }
    let (mean, var) = mean_var(&present);
    present.sort_unstable_by(f64::total_cmp);
    Numeric {
        n: n as u64,
        missing,
        mean,
        sd: var.sqrt(),
        min: present[0],
        q1: quantile_sorted(&present, 0.25),
        median: quantile_sorted(&present, 0.5),
        q3: quantile_sorted(&present, 0.75),
        max: present[n - 1],
    }
}

/// Mean and sample variance (NaN variance for fewer than two values), by Welford's update so
/// that large values with a small spread keep their digits.
pub fn mean_var(values: &[f64]) -> (f64, f64) {
    let (mut mean, mut m2) = (0.0, 0.0);
    for (i, v) in values.iter().enumerate() {
        let delta = v - mean;
        mean += delta / (i + 1) as f64;
        m2 += delta * (v - mean);
    }
    let n = values.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    (mean, if n > 1 { m2 / (n - 1) as f64 } else { f64::NAN })
}

/// The `q` quantile of sorted values, interpolating linearly (R's type 7).
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let h = (sorted.len() - 1) as f64 * q;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quartiles_interpolate_like_numpy() {
        // numpy.percentile([1, 2, 3, 4, 10], [25, 50, 75]) == [2, 3, 4]; std(ddof=1) = 3.5355...
        let s = numeric(&[4.0, 1.0, f64::NAN, 10.0, 2.0, 3.0]);
        assert_eq!((s.n, s.missing, s.min, s.q1, s.median, s.q3, s.max), (5, 1, 1.0, 2.0, 3.0, 4.0, 10.0));
        assert!((s.sd - 12.5f64.sqrt()).abs() < 1e-12);
        let two = numeric(&[1.0, 2.0]);
        assert_eq!((two.q1, two.median, two.q3), (1.25, 1.5, 1.75));
    }

    #[test]
    fn nothing_to_summarise_is_nan_not_a_panic() {
        let s = numeric(&[f64::NAN]);
        assert_eq!((s.n, s.missing), (0, 1));
        assert!(s.mean.is_nan() && s.median.is_nan());
        assert!(numeric(&[5.0]).sd.is_nan());
    }
}
