//! Life tables: how many subjects of each group leave follow-up at each distinct time, and how many
//! of them by the event. The Kaplan-Meier estimate and the log-rank test need nothing else.

use rayon::slice::ParallelSliceMut;

use super::{SurvivalError, check_length, check_time_event};

/// One group's subjects counted at each distinct time, ascending.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LifeTable {
    /// The distinct times at which subjects of the group leave follow-up, ascending.
    pub times: Vec<f64>,
    /// At each of those times, the subjects leaving (events and censored).
    pub removed: Vec<u32>,
    /// At each of those times, the events among them.
    pub events: Vec<u32>,
}

impl LifeTable {
    /// The group's subjects.
    pub fn subjects(&self) -> usize {
        self.removed.iter().map(|r| *r as usize).sum()
    }

    /// The group's events.
    pub fn event_count(&self) -> usize {
        self.events.iter().map(|e| *e as usize).sum()
    }

    fn push(&mut self, time: f64, event: bool) {
        if self.times.last() == Some(&time) {
            *self.removed.last_mut().expect("a row per time") += 1;
            *self.events.last_mut().expect("a row per time") += u32::from(event);
        } else {
            self.times.push(time);
            self.removed.push(1);
            self.events.push(u32::from(event));
        }
    }
}

/// The life table of each group (`group[i]` is subject `i`'s group, below `groups`).
///
/// Times in days, weeks or months are whole numbers in a short range, and are then counted in one
/// pass without sorting; other times are sorted once, by group and time.
pub fn life_tables(
    time: &[f64],
    event: &[bool],
    group: &[u32],
    groups: usize,
) -> Result<Vec<LifeTable>, SurvivalError> {
    check_time_event(time, event)?;
    check_length("group", time.len(), group.len())?;
    if let Some(&g) = group.iter().find(|g| **g as usize >= groups) {
        return Err(SurvivalError::GroupOutOfRange { label: g, groups });
    }
    Ok(counted(time, event, group, groups).unwrap_or_else(|| sorted(time, event, group, groups)))
}

/// Whole-number times counted into a dense grid, if the grid is no bigger than a few times the
/// data; `None` otherwise.
fn counted(time: &[f64], event: &[bool], group: &[u32], groups: usize) -> Option<Vec<LifeTable>> {
    let max = time.iter().copied().fold(0.0, f64::max);
    let cells = (max + 1.0) * groups as f64;
    if cells > (4 * time.len() + 65_536) as f64 || time.iter().any(|t| t.fract() != 0.0) {
        return None;
    }
    let slots = max as usize + 1;
    // Each cell holds removed in the high half and events in the low half: one counter to touch.
    let mut grid = vec![0u64; slots * groups];
    for ((t, e), g) in time.iter().zip(event).zip(group) {
        grid[*g as usize * slots + *t as usize] += (1 << 32) | u64::from(*e);
    }
    Some(
        grid.chunks_exact(slots)
            .map(|cells| {
                let mut table = LifeTable::default();
                for (t, cell) in cells.iter().enumerate().filter(|(_, c)| **c != 0) {
                    table.times.push(t as f64);
                    table.removed.push((cell >> 32) as u32);
                    table.events.push(*cell as u32);
                }
                table
            })
            .collect(),
    )
}

/// Any finite, non-negative times: one sort by (group, time).
fn sorted(time: &[f64], event: &[bool], group: &[u32], groups: usize) -> Vec<LifeTable> {
    // A non-negative double's bits order as the double does (once -0.0 is 0.0), so the sort
    // compares integers. The event rides in the low bit of the group word.
    let mut records: Vec<(u32, u64)> = (0..time.len())
        .map(|i| (group[i] << 1 | u32::from(event[i]), if time[i] == 0.0 { 0 } else { time[i].to_bits() }))
        .collect();
    records.par_sort_unstable_by_key(|r| (r.0 >> 1, r.1));
    let mut tables = vec![LifeTable::default(); groups];
    for (tag, bits) in records {
        tables[(tag >> 1) as usize].push(f64::from_bits(bits), tag & 1 == 1);
    }
    tables
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_and_sorting_agree() {
        let time = [3.0, 1.0, 3.0, 0.0, 7.0, 1.0, 3.0, -0.0];
        let event = [true, false, true, true, false, true, false, false];
        let group = [0, 1, 0, 1, 1, 0, 1, 0];
        let counted = counted(&time, &event, &group, 2).expect("whole numbers in a short range");
        assert_eq!(counted, sorted(&time, &event, &group, 2));
        assert_eq!(counted[0].times, [0.0, 1.0, 3.0]);
        assert_eq!(counted[0].removed, [1, 1, 2]);
        assert_eq!(counted[0].events, [0, 1, 2]);
        assert_eq!(counted[1].times, [0.0, 1.0, 3.0, 7.0]);
        assert_eq!((counted[1].subjects(), counted[1].event_count()), (4, 1));
    }

    #[test]
    fn fractions_and_long_ranges_are_sorted() {
        assert!(counted(&[0.5, 1.0], &[true, true], &[0, 0], 1).is_none());
        assert!(counted(&[1e9, 1.0], &[true, true], &[0, 0], 1).is_none());
        let tables = life_tables(&[2.5, 1e9, 2.5], &[true, false, false], &[0, 0, 0], 1).unwrap();
        assert_eq!(tables[0].times, [2.5, 1e9]);
        assert_eq!((tables[0].removed.as_slice(), tables[0].events.as_slice()), (&[2, 1][..], &[1, 0][..]));
    }
}
