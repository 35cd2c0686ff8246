//! Comparing groups: Welch's t-test and one-way ANOVA on means, Mann-Whitney U and
//! Kruskal-Wallis on ranks, the chi-square test of independence and Fisher's exact test on counts.
//!
//! The tests on means take each group's [`Moments`] and the rank tests each group's [`RankSum`],
//! so that a caller with millions of rows can compute those where the data is and pass a few
//! numbers; [`Moments::of`] and [`rank_sums`] compute them from values in memory.

use serde::Serialize;
use statrs::function::gamma::ln_gamma;

use crate::describe::mean_var;
use crate::dist::{chi2_upper, f_upper, t_quantile, t_two_sided, z_two_sided};

/// Why a comparison cannot be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CompareError {
    /// A group has too few values for the test.
    #[error("group {group} has {n} value(s); the test needs at least {needed} in every group")]
    TooFew {
        /// The group (its position in the input).
        group: usize,
        /// Its values.
        n: u64,
        /// The least the test needs.
        needed: u64,
    },
    /// Fewer groups than the test compares.
    #[error("{found} group(s) to compare; the test needs {needed}")]
    Groups {
        /// Groups given.
        found: usize,
        /// Groups needed.
        needed: &'static str,
    },
    /// Every value is the same, so there is no spread to test against.
    #[error("every value is the same ({0}), so the groups cannot be compared")]
    NoSpread(f64),
    /// A table with a row or column of zeros, or too small.
    #[error("{0}")]
    Table(String),
}

/// The count, mean and sample variance of one group.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Moments {
    /// Values.
    pub n: u64,
    /// Mean.
    pub mean: f64,
    /// Sample variance (n - 1 denominator).
    pub var: f64,
}

impl Moments {
    /// The moments of `values` (no NaN expected: drop missing values first).
    pub fn of(values: &[f64]) -> Moments {
        let (mean, var) = mean_var(values);
        Moments { n: values.len() as u64, mean, var }
    }

    /// The moments of each group: `group[i]` (in `0..groups`) is the group of `values[i]`.
    /// Welford's update per group, in one pass.
    pub fn by_group(values: &[f64], group: &[u32], groups: usize) -> Vec<Moments> {
        let mut acc = vec![(0u64, 0.0f64, 0.0f64); groups];
        for (v, g) in values.iter().zip(group) {
            let (n, mean, m2) = &mut acc[*g as usize];
            *n += 1;
            let delta = v - *mean;
            *mean += delta / *n as f64;
            *m2 += delta * (v - *mean);
        }
        acc.into_iter()
            .map(|(n, mean, m2)| Moments {
                n,
                mean: if n > 0 { mean } else { f64::NAN },
                var: if n > 1 { m2 / (n - 1) as f64 } else { f64::NAN },
            })
            .collect()
    }
}

/// Welch's t-test (unequal variances) of two means, as `scipy.stats.ttest_ind(equal_var=False)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WelchT {
    /// The t statistic of mean(a) - mean(b).
    pub t: f64,
    /// Welch-Satterthwaite degrees of freedom.
    pub df: f64,
    /// Two-sided p-value.
    pub p: f64,
    /// mean(a) - mean(b).
    pub difference: f64,
    /// Confidence interval of the difference (Welch's degrees of freedom).
    pub ci: [f64; 2],
    /// Cohen's d: the difference over the pooled standard deviation.
    pub cohens_d: f64,
    /// Hedges' g: Cohen's d corrected for small samples.
    pub hedges_g: f64,
}

/// Welch's t-test of `a` against `b`, with a `1 - alpha` confidence interval of the difference.
pub fn welch_t(a: Moments, b: Moments, alpha: f64) -> Result<WelchT, CompareError> {
    for (group, m) in [a, b].iter().enumerate() {
        if m.n < 2 {
            return Err(CompareError::TooFew { group, n: m.n, needed: 2 });
        }
    }
    let (va, vb) = (a.var / a.n as f64, b.var / b.n as f64);
    let se = (va + vb).sqrt();
    if se == 0.0 {
        return Err(CompareError::NoSpread(a.mean));
    }
    let df = (va + vb).powi(2) / (va.powi(2) / (a.n - 1) as f64 + vb.powi(2) / (b.n - 1) as f64);
    let difference = a.mean - b.mean;
    let t = difference / se;
    let half = t_quantile(1.0 - alpha / 2.0, df) * se;
    let n = (a.n + b.n) as f64;
    let pooled = (((a.n - 1) as f64 * a.var + (b.n - 1) as f64 * b.var) / (n - 2.0)).sqrt();
    let cohens_d = difference / pooled;
    let hedges_g = cohens_d * (1.0 - 3.0 / (4.0 * n - 9.0));
    Ok(WelchT {
        t,
        df,
        p: t_two_sided(t, df),
        difference,
        ci: [difference - half, difference + half],
        cohens_d,
        hedges_g,
    })
}

/// One-way ANOVA of k means, as `scipy.stats.f_oneway`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Anova {
    /// The F statistic.
    pub f: f64,
    /// Degrees of freedom between groups (k - 1).
    pub df_between: f64,
    /// Degrees of freedom within groups (n - k).
    pub df_within: f64,
    /// p-value.
    pub p: f64,
    /// Eta squared: the share of variance between groups.
    pub eta_squared: f64,
}

/// One-way ANOVA across `groups`.
pub fn anova(groups: &[Moments]) -> Result<Anova, CompareError> {
    if groups.len() < 2 {
        return Err(CompareError::Groups { found: groups.len(), needed: "two or more" });
    }
    if let Some((group, m)) = groups.iter().enumerate().find(|(_, m)| m.n < 1) {
        return Err(CompareError::TooFew { group, n: m.n, needed: 1 });
    }
    let n: f64 = groups.iter().map(|g| g.n as f64).sum();
    let k = groups.len() as f64;
    if n <= k {
        return Err(CompareError::Table(format!("{n} values in {k} groups leave no degrees of freedom within groups")));
    }
    let grand = groups.iter().map(|g| g.n as f64 * g.mean).sum::<f64>() / n;
    let between: f64 = groups.iter().map(|g| g.n as f64 * (g.mean - grand).powi(2)).sum();
    let within: f64 = groups.iter().filter(|g| g.n > 1).map(|g| (g.n - 1) as f64 * g.var).sum();
    if within == 0.0 && between == 0.0 {
        return Err(CompareError::NoSpread(grand));
    }
    let (df_between, df_within) = (k - 1.0, n - k);
    let f = (between / df_between) / (within / df_within);
    Ok(Anova {
        f,
        df_between,
        df_within,
        p: f_upper(f, df_between, df_within),
        eta_squared: between / (between + within),
    })
}

/// One group's ranks among all values: its size and the sum of its (average, for ties) ranks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RankSum {
    /// Values.
    pub n: u64,
    /// Sum of their ranks, 1-based, ties given their average rank.
    pub sum: f64,
}

/// The rank sums of `groups` ranked together, and the tie term: the sum of `t^3 - t` over
/// groups of `t` equal values, which the rank tests' variance corrects for.
pub fn rank_sums(groups: &[&[f64]]) -> (Vec<RankSum>, f64) {
    let all: Vec<f64> = groups.iter().flat_map(|g| g.iter().copied()).collect();
    let group: Vec<u32> =
        groups.iter().enumerate().flat_map(|(g, values)| std::iter::repeat_n(g as u32, values.len())).collect();
    rank_sums_by_group(&all, &group, groups.len())
}

/// The rank sums of `values` by their group (`group[i]` in `0..groups`), ranked together, and
/// the tie term: the form for one column and a group code per row, as a table holds them.
pub fn rank_sums_by_group(values: &[f64], group: &[u32], groups: usize) -> (Vec<RankSum>, f64) {
    let mut sums = vec![RankSum { n: 0, sum: 0.0 }; groups];
    let ties = crate::rank::ranked(values, |position, rank| {
        let g = &mut sums[group[position] as usize];
        g.n += 1;
        g.sum += rank;
    });
    (sums, ties)
}

/// The Mann-Whitney U test, as `scipy.stats.mannwhitneyu` by default: the exact distribution of
/// U when a group has 8 or fewer values and no value is tied, otherwise the normal approximation
/// with tie and continuity corrections.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MannWhitney {
    /// U of the first group: pairs (a, b) with a > b, ties counting one half.
    pub u: f64,
    /// Whether the p-value is exact (small groups, no ties) rather than the normal approximation.
    pub exact: bool,
    /// The z statistic (continuity corrected).
    pub z: f64,
    /// Two-sided p-value.
    pub p: f64,
    /// Rank-biserial correlation, 2U / (n_a n_b) - 1: from -1 (b always higher) to 1.
    pub rank_biserial: f64,
}

/// Mann-Whitney U of group `a` against `b`, given their rank sums and the tie term.
pub fn mann_whitney(a: RankSum, b: RankSum, ties: f64) -> Result<MannWhitney, CompareError> {
    for (group, g) in [a, b].iter().enumerate() {
        if g.n < 1 {
            return Err(CompareError::TooFew { group, n: g.n, needed: 1 });
        }
    }
    let (n1, n2) = (a.n as f64, b.n as f64);
    let n = n1 + n2;
    let u1 = a.sum - n1 * (n1 + 1.0) / 2.0;
    let u2 = n1 * n2 - u1;
    let mu = n1 * n2 / 2.0;
    let sigma = (n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)))).sqrt();
    if sigma == 0.0 || sigma.is_nan() {
        return Err(CompareError::Table("every value is tied, so the ranks cannot be compared".into()));
    }
    let z = (u1.max(u2) - mu - 0.5) / sigma;
    let small = a.n.min(b.n) <= 8 && a.n.saturating_mul(b.n) <= 1_000_000;
    let (p, exact) = if small && ties == 0.0 {
        ((2.0 * exact_u_at_least(u1.max(u2) as u64, a.n, b.n)).min(1.0), true)
    } else {
        (z_two_sided(z).min(1.0), false)
    };
    Ok(MannWhitney { u: u1, exact, z, p, rank_biserial: 2.0 * u1 / (n1 * n2) - 1.0 })
}

/// P(U >= u) for groups of `n1` and `n2` values without ties: the counts of each U are the
/// coefficients of the Gaussian binomial coefficient [n1 + n2 choose n1] in q, built one factor
/// (1 - q^(n+i)) / (1 - q^i) at a time, in exact integers.
fn exact_u_at_least(u: u64, n1: u64, n2: u64) -> f64 {
    let (m, n) = (n1.min(n2) as usize, n1.max(n2) as usize);
    let mut counts: Vec<i128> = vec![0; m * n + 1];
    counts[0] = 1;
    for i in 1..=m {
        // Times (1 - q^(n+i)), from the top down so each coefficient is read before it changes.
        for k in (n + i..counts.len()).rev() {
            counts[k] -= counts[k - n - i];
        }
        // Divided by (1 - q^i): c'[k] = c[k] + c'[k - i].
        for k in i..counts.len() {
            counts[k] += counts[k - i];
        }
    }
    let total: i128 = counts.iter().sum();
    let at_least: i128 = counts.iter().skip(u as usize).sum();
    at_least as f64 / total as f64
}

/// The Kruskal-Wallis H test, as `scipy.stats.kruskal` (tie corrected).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KruskalWallis {
    /// The H statistic.
    pub h: f64,
    /// Degrees of freedom (k - 1).
    pub df: f64,
    /// p-value (chi-square approximation).
    pub p: f64,
    /// Epsilon squared, H / (n - 1): the rank analogue of eta squared.
    pub epsilon_squared: f64,
}

/// Kruskal-Wallis across groups given their rank sums and the tie term.
pub fn kruskal_wallis(groups: &[RankSum], ties: f64) -> Result<KruskalWallis, CompareError> {
    if groups.len() < 2 {
        return Err(CompareError::Groups { found: groups.len(), needed: "two or more" });
    }
    if let Some((group, g)) = groups.iter().enumerate().find(|(_, g)| g.n < 1) {
        return Err(CompareError::TooFew { group, n: g.n, needed: 1 });
    }
    let n: f64 = groups.iter().map(|g| g.n as f64).sum();
    let correction = 1.0 - ties / (n.powi(3) - n);
    if correction <= 0.0 {
        return Err(CompareError::Table("every value is tied, so the ranks cannot be compared".into()));
    }
    let h = (12.0 / (n * (n + 1.0)) * groups.iter().map(|g| g.sum * g.sum / g.n as f64).sum::<f64>() - 3.0 * (n + 1.0))
        / correction;
    let df = (groups.len() - 1) as f64;
    Ok(KruskalWallis { h, df, p: chi2_upper(h, df), epsilon_squared: h / (n - 1.0) })
}

/// The chi-square test of independence of a contingency table, as
/// `scipy.stats.chi2_contingency` (with Yates' continuity correction when there is one degree of
/// freedom, scipy's default).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChiSquare {
    /// The chi-square statistic.
    pub chi2: f64,
    /// Degrees of freedom, (rows - 1)(columns - 1).
    pub df: f64,
    /// p-value.
    pub p: f64,
    /// Whether Yates' correction was applied (2x2 tables).
    pub yates: bool,
    /// Expected counts under independence, by row.
    pub expected: Vec<Vec<f64>>,
    /// Cramér's V, from the uncorrected statistic.
    pub cramers_v: f64,
    /// Cells whose expected count is under 5.
    pub small_expected: u64,
    /// A warning when the approximation is doubtful: expected counts under 5 in more than a fifth
    /// of the cells, or any under 1.
    pub warning: Option<String>,
}

/// Chi-square test of independence of `table` (rows of counts).
pub fn chi_square(table: &[Vec<f64>]) -> Result<ChiSquare, CompareError> {
    let rows = table.len();
    let cols = table.first().map_or(0, Vec::len);
    if rows < 2 || cols < 2 || table.iter().any(|r| r.len() != cols) {
        return Err(CompareError::Table(format!(
            "a {rows} x {cols} table: the test needs at least two rows and two columns, each with a count"
        )));
    }
    let row_totals: Vec<f64> = table.iter().map(|r| r.iter().sum()).collect();
    let col_totals: Vec<f64> = (0..cols).map(|j| table.iter().map(|r| r[j]).sum()).collect();
    if row_totals.iter().chain(&col_totals).any(|t| *t == 0.0) {
        return Err(CompareError::Table("a row or column of the table has no observations".into()));
    }
    let total: f64 = row_totals.iter().sum();
    let expected: Vec<Vec<f64>> =
        row_totals.iter().map(|r| col_totals.iter().map(|c| r * c / total).collect()).collect();
    let df = ((rows - 1) * (cols - 1)) as f64;
    let yates = df == 1.0;
    let (mut chi2, mut uncorrected) = (0.0, 0.0);
    for (observed, expected) in table.iter().flatten().zip(expected.iter().flatten()) {
        let diff = observed - expected;
        uncorrected += diff * diff / expected;
        let diff = if yates { diff.signum() * (diff.abs() - 0.5).max(0.0) } else { diff };
        chi2 += diff * diff / expected;
    }
    let cells = (rows * cols) as f64;
    let small_expected = expected.iter().flatten().filter(|e| **e < 5.0).count() as u64;
    let any_below_one = expected.iter().flatten().any(|e| *e < 1.0);
    let warning = (small_expected as f64 > cells / 5.0 || any_below_one).then(|| {
        format!(
            "{small_expected} of {cells} cells have an expected count under 5{}: the chi-square approximation is \
             doubtful{}",
            if any_below_one { " (some under 1)" } else { "" },
            if rows == 2 && cols == 2 { "; Fisher's exact test is given too" } else { "; consider merging categories" }
        )
    });
    let cramers_v = (uncorrected / (total * (rows.min(cols) - 1) as f64)).sqrt();
    Ok(ChiSquare { chi2, df, p: chi2_upper(chi2, df), yates, expected, cramers_v, small_expected, warning })
}

/// Fisher's exact test of a 2x2 table, as `scipy.stats.fisher_exact` (two-sided).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fisher {
    /// The sample odds ratio, (a d) / (b c).
    pub odds_ratio: f64,
    /// Two-sided p-value: the probability of tables no more likely than this one.
    pub p: f64,
}

/// Fisher's exact test of `[[a, b], [c, d]]`.
pub fn fisher_exact(table: [[u64; 2]; 2]) -> Fisher {
    let [[a, b], [c, d]] = table;
    let odds_ratio =
        if b * c == 0 { if a * d == 0 { f64::NAN } else { f64::INFINITY } } else { (a * d) as f64 / (b * c) as f64 };
    let (row1, col1, n) = (a + b, a + c, a + b + c + d);
    let lo = col1.saturating_sub(n - row1);
    let hi = row1.min(col1);
    let ln_choose =
        |n: u64, k: u64| ln_gamma(n as f64 + 1.0) - ln_gamma(k as f64 + 1.0) - ln_gamma((n - k) as f64 + 1.0);
    let ln_pmf = |x: u64| ln_choose(row1, x) + ln_choose(n - row1, col1 - x) - ln_choose(n, col1);
    let observed = ln_pmf(a);
    // scipy counts tables whose probability is within a relative 1e-7 of the observed one as
    // equally likely, so that rounding does not decide which tables are "as extreme".
    let bound = observed + (1.0f64 + 1e-7).ln();
    let p: f64 = (lo..=hi).map(ln_pmf).filter(|l| *l <= bound).map(f64::exp).sum();
    Fisher { odds_ratio, p: p.min(1.0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_groups_are_refused_with_a_reason() {
        let one = Moments::of(&[1.0]);
        let two = Moments::of(&[1.0, 2.0]);
        assert_eq!(welch_t(one, two, 0.05).unwrap_err(), CompareError::TooFew { group: 0, n: 1, needed: 2 });
        let same = Moments::of(&[3.0, 3.0, 3.0]);
        assert_eq!(welch_t(same, same, 0.05).unwrap_err(), CompareError::NoSpread(3.0));
        assert!(anova(&[two]).is_err());
        assert!(chi_square(&[vec![1.0, 2.0]]).is_err());
        assert!(chi_square(&[vec![0.0, 0.0], vec![1.0, 2.0]]).unwrap_err().to_string().contains("no observations"));
        let (sums, ties) = rank_sums(&[&[1.0, 1.0], &[1.0, 1.0]]);
        assert!(mann_whitney(sums[0], sums[1], ties).is_err());
    }

    #[test]
    fn moments_by_group_match_each_group_alone() {
        let values = [1.0, 10.0, 2.0, 20.0, 3.0, 60.0];
        let group = [0, 1, 0, 1, 0, 1];
        let by = Moments::by_group(&values, &group, 2);
        assert_eq!(by[0], Moments::of(&[1.0, 2.0, 3.0]));
        assert_eq!(by[1], Moments::of(&[10.0, 20.0, 60.0]));
    }

    #[test]
    fn exact_u_counts_every_arrangement() {
        // Groups of 2 and 2: U takes 0, 1, 2, 2, 3, 4 over the 6 arrangements.
        assert!((exact_u_at_least(4, 2, 2) - 1.0 / 6.0).abs() < 1e-15);
        assert!((exact_u_at_least(2, 2, 2) - 4.0 / 6.0).abs() < 1e-15);
        assert_eq!(exact_u_at_least(0, 3, 5), 1.0);
    }

    #[test]
    fn fisher_on_the_tea_tasting_table() {
        // Fisher's lady tasting tea: [[3, 1], [1, 3]] has two-sided p = 34/70.
        let f = fisher_exact([[3, 1], [1, 3]]);
        assert!((f.p - 34.0 / 70.0).abs() < 1e-12, "{}", f.p);
        assert_eq!(f.odds_ratio, 9.0);
    }
}
