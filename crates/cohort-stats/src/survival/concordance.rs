//! Harrell's concordance index, as lifelines' `utils.concordance_index`.

use super::{SurvivalError, check_length, check_time_event};

/// Harrell's concordance index (C-index) between right-censored times and a score that should be
/// higher for subjects who survive longer (a predicted survival time; pass minus a risk score).
/// It is the share of comparable pairs the score orders correctly, ties in the score counting one
/// half. A pair is comparable when the subject leaving first had the event; two events at the same
/// time are not comparable, an event and a censoring at the same time are. 0.5 is chance, 1 perfect.
/// Computed in O(n log n). NaN when no pair is comparable.
pub fn concordance_index(time: &[f64], score: &[f64], event: &[bool]) -> Result<f64, SurvivalError> {
    check_time_event(time, event)?;
    check_length("score", time.len(), score.len())?;
    if let Some((index, &value)) = score.iter().enumerate().find(|(_, s)| !s.is_finite()) {
        return Err(SurvivalError::InvalidCovariate { covariate: "score".to_owned(), index, value });
    }
    if !event.iter().any(|&e| e) {
        return Err(SurvivalError::NoEvents { what: "a concordance index" });
    }
    let mut order: Vec<usize> = (0..time.len()).collect();
    order.sort_unstable_by(|&a, &b| time[a].partial_cmp(&time[b]).expect("finite times").then(event[a].cmp(&event[b])));
    let counts = concordance_counts(time, event, score, &order);
    Ok(counts.index())
}

/// Pair counts behind a concordance index.
pub(super) struct Counts {
    correct: u64,
    tied: u64,
    pairs: u64,
}

impl Counts {
    pub(super) fn index(&self) -> f64 {
        // Halves of ties are summed as counts first, as lifelines does, to stay exact.
        (self.correct as f64 + self.tied as f64 / 2.0) / self.pairs as f64
    }
}

/// Counts pairs as lifelines' `_concordance_summary_statistics`: walking up the distinct times,
/// each subject is compared with the pool of events strictly earlier (events) or at or before
/// (censored); a pair is correct when the earlier event has the lower score. `order` sorts the
/// subjects by time, censored first within a time. Scores must not be NaN.
pub(super) fn concordance_counts(time: &[f64], event: &[bool], score: &[f64], order: &[usize]) -> Counts {
    // The pool is a Fenwick tree over the distinct scores, so "how many in the pool score below s,
    // how many equal" takes O(log n). Scores are ranked once, by one sort.
    let mut by_score: Vec<usize> = (0..score.len()).collect();
    by_score.sort_unstable_by(|&a, &b| score[a].total_cmp(&score[b]));
    let mut dense = vec![0usize; score.len()];
    let mut rank = 0;
    for w in 0..by_score.len() {
        if w > 0 && score[by_score[w]] != score[by_score[w - 1]] {
            rank += 1;
        }
        dense[by_score[w]] = rank;
    }
    let mut tree = vec![0u64; rank + 2];
    let prefix = |tree: &[u64], mut k: usize| {
        let mut s = 0;
        while k > 0 {
            s += tree[k];
            k &= k - 1;
        }
        s
    };
    let mut pool = 0u64;
    let mut counts = Counts { correct: 0, tied: 0, pairs: 0 };
    let compare = |tree: &[u64], pool: u64, subject: usize, counts: &mut Counts| {
        let below = prefix(tree, dense[subject]);
        counts.pairs += pool;
        counts.correct += below;
        counts.tied += prefix(tree, dense[subject] + 1) - below;
    };

    let n = order.len();
    let mut i = 0;
    while i < n {
        let t = time[order[i]];
        let start = i;
        while i < n && time[order[i]] == t {
            i += 1;
        }
        let block = &order[start..i];
        let first_event = block.iter().position(|&j| event[j]).unwrap_or(block.len());
        let (censored, died) = block.split_at(first_event);
        // Events at t are compared with earlier events only, then join the pool; censored
        // subjects at t are compared with every event up to and including t.
        for &j in died {
            compare(&tree, pool, j, &mut counts);
        }
        for &j in died {
            let mut k = dense[j] + 1;
            while k < tree.len() {
                tree[k] += 1;
                k += k & k.wrapping_neg();
            }
            pool += 1;
        }
        for &j in censored {
            compare(&tree, pool, j, &mut counts);
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The O(n²) definition, to check the tree against.
    fn naive(time: &[f64], score: &[f64], event: &[bool]) -> f64 {
        let (mut num, mut pairs) = (0.0, 0.0);
        for a in 0..time.len() {
            for b in 0..time.len() {
                // a leaves first with an event; b is still at risk (later, or censored at the same time)
                let comparable = event[a] && (time[a] < time[b] || (time[a] == time[b] && !event[b]));
                if comparable {
                    pairs += 1.0;
                    num += if score[a] < score[b] {
                        1.0
                    } else if score[a] == score[b] {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
        }
        num / pairs
    }

    #[test]
    fn matches_pairwise_definition() {
        let time = [1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 5.0, 5.0, 6.0, 7.0];
        let event = [true, true, false, true, true, false, true, false, true, false];
        let score = [2.0, 1.0, 3.0, 3.0, 5.0, 4.0, 3.0, 9.0, 6.0, 1.0];
        let ours = concordance_index(&time, &score, &event).unwrap();
        assert!((ours - naive(&time, &score, &event)).abs() < 1e-15);
        let perfect = concordance_index(&time, &time, &[true; 10]).unwrap();
        assert_eq!(perfect, 1.0);
    }
}
