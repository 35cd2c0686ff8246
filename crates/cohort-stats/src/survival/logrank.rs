//! The log-rank test of equal survival across groups, as lifelines' `multivariate_logrank_test`.

use nalgebra::{DMatrix, DVector};
use serde::Serialize;

use super::{LifeTable, SurvivalError, check_length, life_tables};
use crate::dist::chi2_upper;

/// A log-rank test of whether the groups share one survival curve.
#[derive(Debug, Clone, Serialize)]
pub struct LogRank {
    /// The chi-square statistic.
    pub statistic: f64,
    /// Degrees of freedom: the number of groups minus one.
    pub df: usize,
    /// Upper-tail chi-square p-value.
    pub p: f64,
    /// Observed and expected events per group, by ascending group label.
    pub groups: Vec<LogRankGroup>,
}

/// One group's events against what equal hazards would have predicted.
#[derive(Debug, Clone, Serialize)]
pub struct LogRankGroup {
    /// The group's label, as given.
    pub group: u32,
    /// Number of subjects in the group.
    pub subjects: usize,
    /// Events observed in the group.
    pub observed: usize,
    /// Events expected in the group if all groups had the same hazard.
    pub expected: f64,
}

/// Log-rank test comparing the survival of two or more groups (`group[i]` labels subject `i`),
/// unweighted, over all follow-up, as `lifelines.statistics.multivariate_logrank_test`, which for two
/// groups is `logrank_test`. Takes O(distinct times × groups²).
pub fn logrank(time: &[f64], event: &[bool], group: &[u32]) -> Result<LogRank, SurvivalError> {
    check_length("group", time.len(), group.len())?;
    let mut labels: Vec<u32> = group.to_vec();
    labels.sort_unstable();
    labels.dedup();
    let index: Vec<u32> = group.iter().map(|l| labels.binary_search(l).expect("a label") as u32).collect();
    let mut test = logrank_of(&life_tables(time, event, &index, labels.len())?)?;
    for g in &mut test.groups {
        g.group = labels[g.group as usize];
    }
    Ok(test)
}

/// [`logrank`] of the groups' [`LifeTable`]s (see [`life_tables`]); the groups of the answer are
/// labelled by their position in `tables`.
pub fn logrank_of(tables: &[LifeTable]) -> Result<LogRank, SurvivalError> {
    let g = tables.len();
    if tables.iter().all(|t| t.times.is_empty()) {
        return Err(SurvivalError::Empty);
    }
    if tables.iter().all(|t| t.event_count() == 0) {
        return Err(SurvivalError::NoEvents { what: "a log-rank test" });
    }
    if g < 2 {
        return Err(SurvivalError::TooFewGroups { found: g });
    }
    let mut at_risk: Vec<usize> = tables.iter().map(LifeTable::subjects).collect();
    let subjects = at_risk.clone();
    let mut observed = vec![0usize; g];
    let mut expected = vec![0.0; g];
    // The hypergeometric covariance of the observed counts, summed over event times.
    let mut cov = DMatrix::<f64>::zeros(g, g);
    let mut deaths_by_group = vec![0usize; g];
    let mut removed_by_group = vec![0usize; g];
    // The groups' tables merged by time: each table's next row.
    let mut next = vec![0usize; g];
    loop {
        let t = (0..g).filter_map(|a| tables[a].times.get(next[a])).copied().fold(f64::INFINITY, f64::min);
        if t == f64::INFINITY {
            break;
        }
        for a in 0..g {
            let table = &tables[a];
            (deaths_by_group[a], removed_by_group[a]) = match table.times.get(next[a]) {
                Some(&ta) if ta == t => {
                    let row = next[a];
                    next[a] += 1;
                    (table.events[row] as usize, table.removed[row] as usize)
                }
                _ => (0, 0),
            };
        }
        let d: usize = deaths_by_group.iter().sum();
        if d > 0 {
            let n: usize = at_risk.iter().sum();
            let (nf, df) = (n as f64, d as f64);
            // With a single subject at risk the (n - d) / (n - 1) correction is 0/0 or 1/0;
            // lifelines takes it as 1.
            let correction = if n > 1 { (nf - df) / (nf - 1.0) } else { 1.0 };
            let factor = correction * df / (nf * nf);
            for a in 0..g {
                let na = at_risk[a] as f64;
                observed[a] += deaths_by_group[a];
                expected[a] += na * df / nf;
                cov[(a, a)] += factor * na * (nf - na);
                for b in 0..a {
                    let c = factor * na * at_risk[b] as f64;
                    cov[(a, b)] -= c;
                    cov[(b, a)] -= c;
                }
            }
        }
        for (r, m) in at_risk.iter_mut().zip(&removed_by_group) {
            *r -= m;
        }
    }

    // The counts sum to the total, so one group is redundant; lifelines drops the last and uses a
    // pseudo-inverse, which also copes with a group that has nobody at risk at any event time.
    let z = DVector::from_iterator(g - 1, (0..g - 1).map(|a| observed[a] as f64 - expected[a]));
    let v = cov.view((0, 0), (g - 1, g - 1)).into_owned();
    let statistic = (z.transpose() * pseudo_inverse(v) * &z)[(0, 0)];
    let df = g - 1;
    let groups = (0..g)
        .map(|a| LogRankGroup { group: a as u32, subjects: subjects[a], observed: observed[a], expected: expected[a] })
        .collect();
    Ok(LogRank { statistic, df, p: chi2_upper(statistic, df as f64), groups })
}

/// numpy's `pinv` with its default cutoff: singular values below 1e-15 × the largest are dropped.
fn pseudo_inverse(m: DMatrix<f64>) -> DMatrix<f64> {
    let svd = m.svd(true, true);
    let max = svd.singular_values.max();
    svd.pseudo_inverse(1e-15 * max).expect("both factors were computed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_groups_give_zero() {
        let t = [1.0, 2.0, 3.0, 1.0, 2.0, 3.0];
        let e = [true, true, false, true, true, false];
        let r = logrank(&t, &e, &[0, 0, 0, 1, 1, 1]).unwrap();
        assert!(r.statistic.abs() < 1e-12);
        assert!((r.p - 1.0).abs() < 1e-12);
        assert_eq!(r.groups[0].observed, 2);
        assert!((r.groups[0].expected - 2.0).abs() < 1e-12);
    }

    #[test]
    fn two_subjects_by_hand() {
        // One death at t=1 among 2 at risk (one per group): O-E = 1/2, V = 1/4, chi2 = 1.
        let r = logrank(&[1.0, 2.0], &[true, false], &[7, 3]).unwrap();
        assert!((r.statistic - 1.0).abs() < 1e-12);
        assert_eq!(r.groups.iter().map(|g| g.group).collect::<Vec<_>>(), [3, 7]);
    }
}
