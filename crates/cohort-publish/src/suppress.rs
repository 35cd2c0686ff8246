//! Small-cell suppression: the one place every published count passes through.
//!
//! A count from 1 to k-1 is never published (*primary* suppression). Because each table also
//! publishes its total, one hidden cell could be recovered as the total minus the visible cells,
//! so more cells are hidden, smallest first, until at least two are hidden and their sum is not
//! itself a small count (*complementary* suppression). A total from 1 to k-1 hides the whole
//! table. Zeros are published: "nobody" discloses no one.
//!
//! A hidden cell's label would disclose too: `rare-disease-x` listed with its count hidden tells
//! that someone has it, and a month listed hidden tells that someone enrolled then. So hidden
//! cells are never listed: they become one cell keyed [`SUPPRESSED_KEY`], whose count is their
//! sum (never small: complementary suppression sees to it) or hidden with the total. The zeros of
//! such a table go into it too, since a listed zero beside an unlisted month would point at it.

use serde::{Deserialize, Serialize};

/// The suppression threshold most registries use: counts of 1 to 10 are hidden. It is also the
/// floor: a lower k needs a profile that says why (`allow_k_below` and `k_reason`).
pub const DEFAULT_K: u64 = 11;

/// The key of the one cell that stands for all the hidden cells of a table (and its zeros).
pub const SUPPRESSED_KEY: &str = "(others, suppressed)";

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
    /// Cells whose count is hidden (at most the one [`SUPPRESSED_KEY`] cell, when the total is
    /// too small to publish).
    pub fn hidden(&self) -> usize {
        self.cells.iter().filter(|c| c.count.is_none()).count()
    }

    /// Whether some of the table's cells were suppressed (and are counted, unnamed, in its
    /// [`SUPPRESSED_KEY`] cell).
    pub fn has_suppressed(&self) -> bool {
        self.cells.iter().any(|c| c.key == SUPPRESSED_KEY)
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
    let published_total = (!is_small(total, k)).then_some(total);
    let cells = if hidden.iter().any(|h| *h) {
        let merged: u64 = counts.cells.iter().zip(&hidden).filter(|(_, h)| **h).map(|(c, _)| c.1).sum();
        let mut cells: Vec<Cell> = counts
            .cells
            .into_iter()
            .zip(&hidden)
            .filter(|((_, n), h)| !**h && *n > 0)
            .map(|((key, n), _)| Cell { key, count: Some(n) })
            .collect();
        cells.push(Cell { key: SUPPRESSED_KEY.into(), count: published_total.map(|_| merged) });
        cells
    } else {
        counts.cells.into_iter().map(|(key, n)| Cell { key, count: Some(n) }).collect()
    };
    Table { id: counts.id, title: counts.title, dimension: counts.dimension, cells, total: published_total }
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

    fn shown(t: &Table) -> Vec<(String, Option<u64>)> {
        t.cells.iter().map(|c| (c.key.clone(), c.count)).collect()
    }

    #[test]
    fn a_single_small_cell_takes_the_next_smallest_with_it_and_neither_is_named() {
        let t = suppress(counts(&[50, 3, 20, 0, 100]), 11);
        let merged = (SUPPRESSED_KEY.to_string(), Some(23));
        assert_eq!(shown(&t), [("c0".to_string(), Some(50)), ("c4".to_string(), Some(100)), merged]);
        assert_eq!(t.total, Some(173));
    }

    #[test]
    fn two_small_cells_summing_to_a_small_count_take_a_third() {
        let t = suppress(counts(&[2, 3, 40, 60]), 11);
        assert_eq!(shown(&t), [("c3".to_string(), Some(60)), (SUPPRESSED_KEY.to_string(), Some(45))]);
    }

    #[test]
    fn a_small_total_hides_everything() {
        let t = suppress(counts(&[4, 0, 3]), 11);
        assert_eq!(t.total, None);
        assert_eq!(shown(&t), [(SUPPRESSED_KEY.to_string(), None)]);
    }

    #[test]
    fn nothing_hidden_lists_every_cell_zeros_too() {
        let t = suppress(counts(&[40, 0, 12]), 11);
        assert_eq!(shown(&t), [("c0".into(), Some(40)), ("c1".into(), Some(0)), ("c2".into(), Some(12))]);
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
            // No label of a cell whose count is from 1 to k-1 appears, nor one of a cell hidden to
            // protect it.
            for (i, n) in cells.iter().enumerate() {
                let named = t.cells.iter().any(|c| c.key == format!("c{i}"));
                let hidden_somewhere = t.cells.iter().any(|c| c.key == SUPPRESSED_KEY);
                prop_assert!(!(named && is_small(*n, k)), "c{i} ({n}) is named with k = {k}: {:?}", t.cells);
                prop_assert!(!(named && *n == 0 && hidden_somewhere), "a zero is listed beside suppressed cells");
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
