//! Pearson's and Spearman's correlation of two columns, with n, p and a confidence interval.

use serde::Serialize;

use crate::dist::{t_two_sided, z_quantile};

/// A correlation coefficient with what it rests on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Correlation {
    /// The coefficient, from -1 to 1 (NaN when a column has no spread).
    pub r: f64,
    /// Pairs used (both values present).
    pub n: u64,
    /// Two-sided p-value of r = 0 (the t test on n - 2 degrees of freedom, as scipy).
    pub p: f64,
    /// Confidence interval of r by Fisher's z transform (scipy's `confidence_interval()` for
    /// Pearson's r); NaN with fewer than four pairs.
    pub ci: [f64; 2],
}

/// Pearson's r of the pairs where both `x` and `y` are present (not NaN): the pair of
/// [`matrices`], for two columns with gaps.
pub fn pearson(x: &[f64], y: &[f64], alpha: f64) -> Correlation {
    let (x, y) = complete_pairs(x, y);
    matrix(&[&x, &y], alpha)[0].swap_remove(1)
}

/// Spearman's rho (Pearson's r of the ranks, ties averaged) of the complete pairs, as
/// `scipy.stats.spearmanr`; the interval uses Fisher's z as for Pearson's r.
pub fn spearman(x: &[f64], y: &[f64], alpha: f64) -> Correlation {
    let (x, y) = complete_pairs(x, y);
    let (rx, ry) = (crate::rank::doubled_ranks(&x), crate::rank::doubled_ranks(&y));
    matrix(&[&rx, &ry], alpha)[0].swap_remove(1)
}

/// Pearson's r from n and the sums of squared and cross deviations over complete pairs.
fn pearson_from_moments(n: u64, sxx: f64, syy: f64, sxy: f64, alpha: f64) -> Correlation {
    let r = (sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0);
    finish(r, n, alpha)
}

/// Pearson's and Spearman's matrices of `columns` (complete: no NaN), each column ranked once:
/// the form for many variables over many rows.
pub fn matrices(columns: &[&[f64]], alpha: f64) -> (Vec<Vec<Correlation>>, Vec<Vec<Correlation>>) {
    use rayon::prelude::*;
    let ranks: Vec<Vec<u32>> = columns.par_iter().map(|c| crate::rank::doubled_ranks(c)).collect();
    let ranked: Vec<&[u32]> = ranks.iter().map(Vec::as_slice).collect();
    (matrix(columns, alpha), matrix(&ranked, alpha))
}

/// Pearson's r of every pair of `columns`: each column's mean and sum of squares once, then one
/// pass per pair for the cross products.
fn matrix<T: Copy + Into<f64>>(columns: &[&[T]], alpha: f64) -> Vec<Vec<Correlation>> {
    let k = columns.len();
    let n = columns.first().map_or(0, |c| c.len());
    let means: Vec<f64> = columns.iter().map(|c| c.iter().map(|v| (*v).into()).sum::<f64>() / n as f64).collect();
    let squares: Vec<f64> = columns
        .iter()
        .zip(&means)
        .map(|(c, m)| c.iter().map(|v| ((*v).into() - m) * ((*v).into() - m)).sum())
        .collect();
    let mut out: Vec<Vec<Correlation>> = vec![Vec::with_capacity(k); k];
    for i in 0..k {
        for j in 0..k {
            let c = if j < i {
                out[j][i].clone()
            } else if j == i {
                // A variable with itself: r is 1 (NaN without spread); no pass over the rows.
                pearson_from_moments(n as u64, squares[i], squares[i], squares[i], alpha)
            } else {
                let (mx, my) = (means[i], means[j]);
                let sxy: f64 =
                    columns[i].iter().zip(columns[j]).map(|(x, y)| ((*x).into() - mx) * ((*y).into() - my)).sum();
                pearson_from_moments(n as u64, squares[i], squares[j], sxy, alpha)
            };
            out[i].push(c);
        }
    }
    out
}

fn complete_pairs(x: &[f64], y: &[f64]) -> (Vec<f64>, Vec<f64>) {
    x.iter().zip(y).filter(|(a, b)| !a.is_nan() && !b.is_nan()).map(|(a, b)| (*a, *b)).unzip()
}

fn finish(r: f64, n: u64, alpha: f64) -> Correlation {
    let nf = n as f64;
    let p = if n < 3 || r.is_nan() {
        f64::NAN
    } else if r.abs() == 1.0 {
        0.0
    } else {
        t_two_sided(r * ((nf - 2.0) / (1.0 - r * r)).sqrt(), nf - 2.0)
    };
    let ci = if n < 4 || r.is_nan() {
        [f64::NAN, f64::NAN]
    } else {
        let z = r.atanh();
        let half = z_quantile(1.0 - alpha / 2.0) / (nf - 3.0).sqrt();
        [(z - half).tanh(), (z + half).tanh()]
    };
    Correlation { r, n, p, ci }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrices_match_the_pairwise_forms() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let y = [2.0, 1.0, 4.0, 3.0, 7.0, 5.0];
        let z = [9.0, 7.0, 7.0, 3.0, 1.0, 2.0];
        let (pearsons, spearmans) = matrices(&[&x, &y, &z], 0.05);
        for (i, a) in [&x, &y, &z].iter().enumerate() {
            for (j, b) in [&x, &y, &z].iter().enumerate() {
                assert_eq!(pearsons[i][j], pearson(*a, *b, 0.05));
                assert_eq!(spearmans[i][j], spearman(*a, *b, 0.05));
            }
        }
    }

    #[test]
    fn perfect_and_missing_pairs() {
        let c = pearson(&[1.0, 2.0, f64::NAN, 4.0], &[2.0, 4.0, 5.0, 8.0], 0.05);
        assert_eq!((c.r, c.n, c.p), (1.0, 3, 0.0));
        let s = spearman(&[1.0, 2.0, 3.0, 4.0], &[10.0, 9.0, 1.0, 0.0], 0.05);
        assert_eq!(s.r, -1.0);
        assert!(pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0], 0.05).r.is_nan());
    }
}
