//! The year-by-year figures that protocol targets are stated in, counted in one place:
//! `cohort protocol validate`, `cohort simulate calibrate` and their tests use [`Tally`]. (The
//! results page's injections by year of follow-up, in cohort-analysis's `burden`, are not yet
//! counted here.)
//!
//! For year k of follow-up (day 365·k after enrolment), among the patients enrolled early enough
//! to be followed to day 365·K + 65 of the last year K counted (so that every visit window is
//! whole and every year is counted on the same patients):
//! - **vision change**: the mean, over the patients with a visit within 65 days of day 365·k, of
//!   the measured vision at the visit nearest that day (the earlier of two as near) minus the
//!   baseline vision. Patients who stopped being seen or died before have no such visit and are
//!   not counted: observed cases, as trials and registries report them.
//! - **injections**: the mean number of injections given before day 365·k, over every patient of
//!   the cohort; a patient who stopped counts with the injections they had.
//! - **discontinued**: the share of the cohort whose treatment had stopped, for any reason
//!   including death, before day 365·k.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::engine::{Model, Patient, Visit};
use crate::protocol::{Protocol, Target, Targets};

/// Days in a year of follow-up.
pub const YEAR_DAYS: u32 = 365;

/// How far from day 365·k a visit may be to give the vision at year k.
pub const VISIT_WINDOW_DAYS: u32 = 65;

/// The figures of one year of follow-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YearOutcome {
    /// 1 for the first year.
    pub year: u32,
    /// Patients in the cohort (the same for every year).
    pub patients: u64,
    /// Patients with a visit in the window around the year's end.
    pub with_vision: u64,
    /// Mean change in measured vision from baseline (letters); none without any visit.
    pub vision_change: Option<f64>,
    /// Mean injections given by the year's end.
    pub injections: f64,
    /// Share of the cohort whose treatment had stopped by the year's end.
    pub discontinued: f64,
}

/// Sums for one year.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    patients: u64,
    with_vision: u64,
    vision_change: f64,
    injections: u64,
    discontinued: u64,
}

/// Year-by-year sums over patients, merged in order so that a parallel count gives the same
/// figures as a serial one (vision changes are whole letters, so their sums are exact anyway).
#[derive(Debug, Clone)]
pub struct Tally {
    horizon: u32,
    years: Vec<Sums>,
}

impl Tally {
    /// Counts years 1 to `years` of a run whose horizon is day `horizon`.
    pub fn new(years: u32, horizon: u32) -> Self {
        Tally { horizon, years: vec![Sums::default(); years as usize] }
    }

    /// The years counted.
    pub fn years(&self) -> u32 {
        self.years.len() as u32
    }

    /// Whether a patient enrolled on `enrolment_day` is followed long enough to be counted.
    pub fn counts(&self, enrolment_day: u32) -> bool {
        enrolment_day as u64 + u64::from(self.years()) * u64::from(YEAR_DAYS) + u64::from(VISIT_WINDOW_DAYS)
            <= u64::from(self.horizon)
    }

    /// Adds a patient and its visits (in order).
    pub fn add(&mut self, patient: &Patient, visits: &[Visit]) {
        if !self.counts(patient.enrolment_day.max(0) as u32) {
            return;
        }
        let first_stop = visits.iter().find(|v| v.discontinuation.is_some()).map(|v| v.days_since_enrolment);
        for (k, sums) in self.years.iter_mut().enumerate() {
            let end = ((k as u32 + 1) * YEAR_DAYS) as i32;
            sums.patients += 1;
            sums.injections += visits.iter().filter(|v| v.injected && v.days_since_enrolment < end).count() as u64;
            sums.discontinued += u64::from(first_stop.is_some_and(|d| d < end));
            // The nearest visit within the window; on a tie the earlier (visits are in order).
            let nearest = visits
                .iter()
                .map(|v| (v.days_since_enrolment.abs_diff(end), v))
                .filter(|(distance, _)| *distance <= VISIT_WINDOW_DAYS)
                .min_by_key(|(distance, _)| *distance);
            if let Some((_, visit)) = nearest {
                sums.with_vision += 1;
                sums.vision_change += visit.vision - patient.baseline_vision;
            }
        }
    }

    /// Adds the counts of `other` (the same years and horizon).
    pub fn merge(&mut self, other: &Tally) {
        for (a, b) in self.years.iter_mut().zip(&other.years) {
            a.patients += b.patients;
            a.with_vision += b.with_vision;
            a.vision_change += b.vision_change;
            a.injections += b.injections;
            a.discontinued += b.discontinued;
        }
    }

    /// The figures, year by year.
    pub fn outcomes(&self) -> Vec<YearOutcome> {
        self.years
            .iter()
            .enumerate()
            .map(|(k, s)| {
                let per_patient = |x: f64| if s.patients == 0 { 0.0 } else { x / s.patients as f64 };
                YearOutcome {
                    year: k as u32 + 1,
                    patients: s.patients,
                    with_vision: s.with_vision,
                    vision_change: (s.with_vision > 0).then(|| s.vision_change / s.with_vision as f64),
                    injections: per_patient(s.injections as f64),
                    discontinued: per_patient(s.discontinued as f64),
                }
            })
            .collect()
    }
}

/// Simulates `patients` patients of `protocol` with `seed`, all followed for `years` years, and
/// counts their figures. Enrolment days are spread evenly over the first year (a patient's
/// course depends on the weekday and the fortnightly grid), and patient `i` is the same patient
/// in every evaluation with this seed and these population settings: common random numbers.
pub fn evaluate(protocol: &Protocol, patients: u64, seed: u64, years: u32) -> Vec<YearOutcome> {
    let horizon = years * YEAR_DAYS + VISIT_WINDOW_DAYS + YEAR_DAYS;
    let model = Model::new(protocol.clone(), crate::run::DEFAULT_START, horizon, seed);
    const CHUNK: u64 = 1_000;
    let tallies: Vec<Tally> = (0..patients.div_ceil(CHUNK))
        .into_par_iter()
        .map(|chunk| {
            let mut tally = Tally::new(years, horizon);
            let mut visits = Vec::new();
            for index in chunk * CHUNK..patients.min((chunk + 1) * CHUNK) {
                visits.clear();
                let enrolment_day = (index * YEAR_DAYS as u64 / patients.max(1)) as u32;
                let patient = model.simulate(index, enrolment_day, &mut visits);
                tally.add(&patient, &visits);
            }
            tally
        })
        .collect();
    let mut total = Tally::new(years, horizon);
    for tally in &tallies {
        total.merge(tally);
    }
    total.outcomes()
}

/// One target checked against what was achieved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetCheck {
    /// The year of follow-up.
    pub year: u32,
    /// `vision_change`, `injections` or `discontinued`.
    pub measure: &'static str,
    /// The target.
    pub target: f64,
    /// Its tolerance.
    pub tolerance: f64,
    /// What the simulation gave (none: no patient seen that year).
    pub achieved: Option<f64>,
    /// Whether it is within the tolerance.
    pub met: bool,
}

impl TargetCheck {
    /// (achieved - target) / tolerance; a figure not achieved at all counts as far off.
    pub fn standardised_error(&self) -> f64 {
        self.achieved.map_or(MISSING_ERROR, |a| (a - self.target) / self.tolerance)
    }
}

/// How far off a target with no figure at all counts.
const MISSING_ERROR: f64 = 1e3;

/// Every target of `targets` against `outcomes` (a target for a year not counted is not met).
pub fn check(targets: &Targets, outcomes: &[YearOutcome]) -> Vec<TargetCheck> {
    let mut checks = Vec::new();
    for year in &targets.years {
        let achieved = outcomes.iter().find(|o| o.year == year.year);
        let mut add = |measure: &'static str, target: &Option<Target>, value: Option<f64>| {
            if let Some(t) = target {
                let met = value.is_some_and(|v| (v - t.value).abs() <= t.tolerance);
                checks.push(TargetCheck {
                    year: year.year,
                    measure,
                    target: t.value,
                    tolerance: t.tolerance,
                    achieved: value,
                    met,
                });
            }
        };
        add("vision_change", &year.vision_change, achieved.and_then(|a| a.vision_change));
        add("injections", &year.injections, achieved.map(|a| a.injections));
        add("discontinued", &year.discontinued, achieved.map(|a| a.discontinued));
    }
    checks
}

/// The sum of squared standardised errors: 0 on target, 1 per target at its tolerance.
pub fn objective(checks: &[TargetCheck]) -> f64 {
    checks.iter().map(|c| c.standardised_error().powi(2)).sum()
}

/// The last year `targets` speak of.
pub fn last_year(targets: &Targets) -> u32 {
    targets.years.iter().map(|y| y.year).max().unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{DiscontinuationType, Phase};
    use crate::protocol::DiseaseState;

    fn visit(day: i32, vision: f64, injected: bool, stop: Option<DiscontinuationType>) -> Visit {
        Visit {
            patient_id: 1,
            visit_number: 1,
            day,
            days_since_enrolment: day,
            interval_days: None,
            phase: Phase::Maintenance,
            disease_state: DiseaseState::Stable,
            vision,
            vision_actual: vision,
            injected,
            cumulative_injections: 0,
            next_interval_days: None,
            discontinuation: stop,
            is_retreatment_visit: false,
            treatment_state: "",
        }
    }

    fn patient(enrolment_day: i32, baseline: f64) -> Patient {
        Patient {
            patient_id: 1,
            enrolment_day,
            age: 80.0,
            female: true,
            baseline_vision: baseline,
            final_vision: baseline,
            final_disease_state: DiseaseState::Stable,
            total_visits: 0,
            total_injections: 0,
            discontinuation: None,
            retreatment_count: 0,
            died: false,
        }
    }

    #[test]
    fn the_definition_counted_by_hand() {
        let horizon = 2 * YEAR_DAYS + VISIT_WINDOW_DAYS;
        let mut tally = Tally::new(2, horizon);
        // Seen near both year ends: at 340 and 390 (25 days either side of 365: the earlier
        // wins), and at 700 (within 65 of 730); stops at 700, after six injections, four of
        // them before day 365.
        let a = [
            visit(0, 50.0, true, None),
            visit(100, 55.0, true, None),
            visit(200, 58.0, true, None),
            visit(340, 60.0, true, None),
            visit(390, 62.0, true, None),
            visit(500, 57.0, true, None),
            visit(700, 52.0, false, Some(DiscontinuationType::Deterioration)),
        ];
        tally.add(&patient(0, 50.0), &a);
        // Died at day 200: no vision at either year; two injections; stopped before year 1.
        let b = [
            visit(0, 40.0, true, None),
            visit(100, 38.0, true, None),
            visit(200, 35.0, false, Some(DiscontinuationType::Death)),
        ];
        tally.add(&patient(0, 40.0), &b);
        // Enrolled too late to be followed to day 730 + 65: not counted at all.
        tally.add(&patient(1, 70.0), &a);
        let years = tally.outcomes();
        assert_eq!((years[0].patients, years[0].with_vision), (2, 1));
        assert_eq!(years[0].vision_change, Some(10.0));
        assert_eq!(years[0].injections, (4.0 + 2.0) / 2.0);
        assert_eq!(years[0].discontinued, 0.5);
        assert_eq!((years[1].with_vision, years[1].vision_change), (1, Some(2.0)));
        assert_eq!(years[1].injections, (6.0 + 2.0) / 2.0);
        assert_eq!(years[1].discontinued, 1.0);
    }
}
