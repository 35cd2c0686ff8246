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
    let (min, max) = present.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    Numeric {
        n: n as u64,
        missing,
        mean,
        sd: var.sqrt(),
        min,
        // The median's selection splits the values; each quartile is selected in its half.
        median: quantile_selected(&mut present, 0.5),
        q1: quantile_in(&mut present, 0.25),
        q3: quantile_in(&mut present, 0.75),
        max,
    }
}

/// One bar of a histogram: values in `[lower, upper)` (the last bar includes its upper edge).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bin {
    /// Lower edge.
    pub lower: f64,
    /// Upper edge.
    pub upper: f64,
    /// Values in the bar.
    pub count: u64,
}

/// A histogram of `values` (NaN left out) in `bins` bars of equal width from the lowest value to
/// the highest, as `numpy.histogram(values, bins)`; one bar when every value is the same, none
/// without values.
pub fn histogram(values: &[f64], bins: usize) -> Vec<Bin> {
    let present = values.iter().copied().filter(|v| v.is_finite());
    let (min, max) = present.clone().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if bins == 0 || min > max {
        return Vec::new();
    }
    if min == max {
        return vec![Bin { lower: min - 0.5, upper: max + 0.5, count: present.count() as u64 }];
    }
    let width = (max - min) / bins as f64;
    let per_width = bins as f64 / (max - min);
    let mut counts = vec![0u64; bins];
    for v in present {
        let i = (((v - min) * per_width) as usize).min(bins - 1);
        counts[i] += 1;
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, count)| Bin {
            lower: min + i as f64 * width,
            upper: if i + 1 == bins { max } else { min + (i + 1) as f64 * width },
            count,
        })
        .collect()
}

/// Mean and sample variance (NaN variance for fewer than two values), in two passes (the mean,
/// then the squared deviations from it), as numpy computes them: exact enough for large values
/// with a small spread, and free of a division per value.
pub fn mean_var(values: &[f64]) -> (f64, f64) {
    let n = values.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let squares: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
    (mean, if n > 1 { squares / (n - 1) as f64 } else { f64::NAN })
}

/// The `q` quantile of `values` (in any order; they are reordered), interpolating linearly
/// (R's type 7), by selection rather than a full sort: linear time.
pub fn quantile_selected(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let h = (values.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let (_, low, above) = values.select_nth_unstable_by(lo, f64::total_cmp);
    let low = *low;
    if h == lo as f64 || above.is_empty() {
        return low;
    }
    let high = above.iter().copied().fold(f64::INFINITY, f64::min);
    low + (h - lo as f64) * (high - low)
}

/// The `q` quantile of `values` already split around their median by [`quantile_selected`]:
/// only the half that holds it is searched.
fn quantile_in(values: &mut [f64], q: f64) -> f64 {
    let n = values.len();
    let h = (n - 1) as f64 * q;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    let middle = (n - 1) / 2;
    let part = if hi <= middle { &mut values[..=middle] } else { &mut values[middle..] };
    let offset = if hi <= middle { 0 } else { middle };
    let (_, low, above) = part.select_nth_unstable_by(lo - offset, f64::total_cmp);
    let low = *low;
    if lo == hi || above.is_empty() {
        return low;
    }
    let high = above.iter().copied().fold(f64::INFINITY, f64::min);
    low + (h - lo as f64) * (high - low)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `q` quantile of sorted values, interpolating linearly (R's type 7).
    fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
        if sorted.is_empty() {
            return f64::NAN;
        }
        let h = (sorted.len() - 1) as f64 * q;
        let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
        sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
    }

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
    fn histograms_bin_like_numpy() {
        // numpy.histogram([1, 2, 2, 3, 10], bins=3): counts [4, 0, 1], edges 1, 4, 7, 10.
        let h = histogram(&[1.0, 2.0, 2.0, 3.0, 10.0, f64::NAN], 3);
        assert_eq!(h.iter().map(|b| b.count).collect::<Vec<_>>(), [4, 0, 1]);
        assert_eq!((h[0].lower, h[1].lower, h[2].lower, h[2].upper), (1.0, 4.0, 7.0, 10.0));
        assert_eq!(histogram(&[5.0, 5.0], 10).len(), 1);
        assert!(histogram(&[], 10).is_empty());
    }

    #[test]
    fn quartiles_by_selection_equal_quartiles_of_the_sorted_values() {
        let x: Vec<f64> = (0..1001).map(|i| ((i * 7919) % 1009) as f64 / 3.0).collect();
        for n in [1, 2, 3, 4, 5, 10, 11, 100, 1001] {
            let values = &x[..n];
            let s = numeric(values);
            let mut sorted = values.to_vec();
            sorted.sort_by(f64::total_cmp);
            assert_eq!(
                (s.q1, s.median, s.q3),
                (quantile_sorted(&sorted, 0.25), quantile_sorted(&sorted, 0.5), quantile_sorted(&sorted, 0.75)),
                "n = {n}"
            );
        }
    }

    #[test]
    fn nothing_to_summarise_is_nan_not_a_panic() {
        let s = numeric(&[f64::NAN]);
        assert_eq!((s.n, s.missing), (0, 1));
        assert!(s.mean.is_nan() && s.median.is_nan());
        assert!(numeric(&[5.0]).sd.is_nan());
    }
}
