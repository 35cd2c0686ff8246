//! Small-cell suppression: the one place every published count passes through.
//!
//! A count from 1 to k-1 is never published (*primary* suppression). Because each table also
//! publishes its total, one hidden cell could be recovered as the total minus the visible cells,
//! so more cells are hidden, smallest first, until at least two are hidden and their sum is not
//! itself a small count (*complementary* suppression). A total from 1 to k-1 hides the whole
//! table. Zeros are published: "nobody" discloses no one.

use serde::{Deserialize, Serialize};

/// The suppression threshold most registries use: counts of 1 to 10 are hidden.
pub const DEFAULT_K: u64 = 11;

/// Counts of participants by one dimension, before suppression. The cells partition the total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts {
    /// Stable id (`sex`, `enrolment-by-month`).
    pub id: String,
    /// For people.
    pub title: String,
    /// What the keys are (`sex`, `month`, `site`).
    pub dimension: String,
    /// `(key, count)` in display order.
    pub cells: Vec<(String, u64)>,
}

/// One published cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    /// The category, month or bin.
    pub key: String,
    /// The count; `None` when suppressed.
    pub count: Option<u64>,
}

/// A table as published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    /// Stable id.
    pub id: String,
    /// For people.
    pub title: String,
    /// What the keys are.
    pub dimension: String,
    /// The cells, in order.
    pub cells: Vec<Cell>,
    /// The sum of all cells, hidden ones included; `None` when suppressed.
    pub total: Option<u64>,
}

impl Table {
    /// Cells that are suppressed.
    pub fn hidden(&self) -> usize {
        self.cells.iter().filter(|c| c.count.is_none()).count()
    }
}

/// Whether `n` may not be published under threshold `k`.
pub fn is_small(n: u64, k: u64) -> bool {
    n > 0 && n < k
}

/// Publishes `counts` under threshold `k`.
pub fn suppress(counts: Counts, k: u64) -> Table {
    let total: u64 = counts.cells.iter().map(|c| c.1).sum();
    let mut hidden: Vec<bool> = counts.cells.iter().map(|c| is_small(c.1, k)).collect();
    if is_small(total, k) {
        hidden.iter_mut().for_each(|h| *h = true);
    }
    loop {
        let (count, sum) = counts
            .cells
            .iter()
            .zip(&hidden)
            .filter(|(_, h)| **h)
            .fold((0usize, 0u64), |(n, s), (c, _)| (n + 1, s + c.1));
        if count == 0 || (count >= 2 && !is_small(sum, k)) {
            break;
        }
        let next = counts
            .cells
            .iter()
            .enumerate()
            .filter(|(i, c)| !hidden[*i] && c.1 > 0)
            .min_by_key(|(i, c)| (c.1, *i))
            .map(|(i, _)| i);
        match next {
            Some(i) => hidden[i] = true,
            // Everything non-zero is hidden already: their sum is the total, which is either not
            // small or hidden too.
            None => break,
        }
    }
    Table {
        id: counts.id,
        title: counts.title,
        dimension: counts.dimension,
        cells: counts
            .cells
            .into_iter()
            .zip(hidden)
            .map(|((key, n), h)| Cell { key, count: (!h).then_some(n) })
            .collect(),
        total: (!is_small(total, k)).then_some(total),
    }
}

/// A single count published alone (a key figure): hidden when small.
pub fn single(n: u64, k: u64) -> Option<u64> {
    (!is_small(n, k)).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn counts(cells: &[u64]) -> Counts {
        Counts {
            id: "t".into(),
            title: "t".into(),
            dimension: "d".into(),
            cells: cells.iter().enumerate().map(|(i, n)| (format!("c{i}"), *n)).collect(),
        }
    }

    #[test]
    fn a_single_small_cell_takes_the_next_smallest_with_it() {
        let t = suppress(counts(&[50, 3, 20, 0, 100]), 11);
        let shown: Vec<Option<u64>> = t.cells.iter().map(|c| c.count).collect();
        assert_eq!(shown, [Some(50), None, None, Some(0), Some(100)]);
        assert_eq!(t.total, Some(173));
    }

    #[test]
    fn two_small_cells_summing_to_a_small_count_take_a_third() {
        let t = suppress(counts(&[2, 3, 40, 60]), 11);
        assert_eq!(t.hidden(), 3);
        assert_eq!(t.cells[3].count, Some(60));
    }

    #[test]
    fn a_small_total_hides_everything() {
        let t = suppress(counts(&[4, 0, 3]), 11);
        assert_eq!(t.total, None);
        assert!(t.cells.iter().all(|c| c.count.is_none()));
    }

    proptest! {
        /// Whatever the counts: nothing from 1 to k-1 is published, and what is hidden cannot be
        /// recovered by subtraction: either nothing is hidden, or at least two cells are and the
        /// total minus the visible cells is not small, or the total is hidden too.
        #[test]
        fn nothing_small_is_published_or_recoverable(
            cells in proptest::collection::vec(prop_oneof![0u64..15, 0u64..200], 1..12),
            k in 2u64..20,
        ) {
            let t = suppress(counts(&cells), k);
            for c in &t.cells {
                if let Some(n) = c.count {
                    prop_assert!(!is_small(n, k), "{n} published with k = {k}");
                }
            }
            if let Some(total) = t.total {
                prop_assert!(!is_small(total, k));
                let visible: u64 = t.cells.iter().filter_map(|c| c.count).sum();
                let rest = total - visible;
                prop_assert!(t.hidden() == 0 && rest == 0 || t.hidden() >= 2 && !is_small(rest, k),
                    "cells {cells:?}, k {k}: {} hidden, {rest} recoverable", t.hidden());
            }
        }
    }
}
