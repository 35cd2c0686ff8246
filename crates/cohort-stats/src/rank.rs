//! Ranks with ties averaged, shared by the rank tests and Spearman's correlation.

/// The 1-based ranks of `values` (ties get the average of the ranks they span), and the tie
/// term: the sum of `t^3 - t` over runs of `t` equal values.
pub fn average_ranks(values: &[f64]) -> (Vec<f64>, f64) {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_unstable_by(|a, b| values[*a].total_cmp(&values[*b]));
    let mut ranks = vec![0.0; values.len()];
    let mut ties = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Positions start..end hold equal values: ranks start+1 ..= end, averaged.
        let rank = (start + 1 + end) as f64 / 2.0;
        for i in &order[start..end] {
            ranks[*i] = rank;
        }
        let t = (end - start) as f64;
        ties += t * t * t - t;
        start = end;
    }
    (ranks, ties)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_share_their_average_rank() {
        let (ranks, ties) = average_ranks(&[10.0, 20.0, 10.0, 30.0, 10.0]);
        assert_eq!(ranks, [2.0, 4.0, 2.0, 5.0, 2.0]);
        assert_eq!(ties, 24.0);
    }
}
