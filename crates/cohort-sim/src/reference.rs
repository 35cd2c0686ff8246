//! Whole-run figures, counted as APE's engine counts them, so that a run can be set beside a
//! run of another engine (a protocol's `targets.reference_run`).
//!
//! Over every patient enrolled (patients who stopped or died included):
//! - **visits per patient** do not count the visit at which treatment stops: APE records no
//!   visit for it (its patients who stop at their first visit have none);
//! - **injections per patient** count every injection;
//! - **discontinued** is the share of patients whose treatment stopped at least once;
//! - **baseline vision** is the mean over every patient;
//! - **final vision** is the mean, over patients with a visit before any stop, of the vision
//!   measured at the last such visit;
//! - **the discontinuation mix** is each type's share of all stops.

use rayon::prelude::*;
use serde::Serialize;

use crate::engine::{DiscontinuationType, Model};
use crate::population::{Recruitment, enrolment_days, horizon_days};
use crate::protocol::{Protocol, ReferenceRun, Target};
use crate::run::DEFAULT_START;

/// The whole-run figures of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunFigures {
    /// Patients enrolled.
    pub patients: u64,
    /// Visits per patient, not counting the visit at which treatment stops.
    pub visits_per_patient: f64,
    /// Injections per patient.
    pub injections_per_patient: f64,
    /// Share of patients whose treatment stopped.
    pub discontinued: f64,
    /// Mean baseline vision.
    pub baseline_vision: f64,
    /// Mean vision at the last visit before any stop, over patients with one.
    pub final_vision: Option<f64>,
    /// Each discontinuation type's share of all stops, in [`DiscontinuationType::ALL`] order.
    pub discontinuation_mix: Vec<(&'static str, f64)>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    patients: u64,
    visits: u64,
    injections: u64,
    discontinued: u64,
    baseline: f64,
    with_final: u64,
    final_vision: f64,
    stops: [u64; 7],
}

impl Sums {
    fn merge(&mut self, o: &Sums) {
        self.patients += o.patients;
        self.visits += o.visits;
        self.injections += o.injections;
        self.discontinued += o.discontinued;
        self.baseline += o.baseline;
        self.with_final += o.with_final;
        self.final_vision += o.final_vision;
        for (a, b) in self.stops.iter_mut().zip(o.stops) {
            *a += b;
        }
    }
}

/// Simulates `patients` patients arriving over `years` years from the default start day with
/// `seed` (the very patients `cohort simulate --patients N --years Y --seed S` simulates) and
/// counts the whole-run figures.
pub fn run_figures(protocol: &Protocol, patients: u64, years: f64, seed: u64) -> RunFigures {
    let horizon = horizon_days(years);
    let days = enrolment_days(Recruitment::FixedTotal { patients }, horizon, seed);
    let model = Model::new(protocol.clone(), DEFAULT_START, horizon, seed);
    const CHUNK: usize = 2_000;
    let parts: Vec<Sums> = days
        .par_chunks(CHUNK)
        .enumerate()
        .map(|(chunk, days)| {
            let mut sums = Sums::default();
            let mut visits = Vec::new();
            for (offset, day) in days.iter().enumerate() {
                visits.clear();
                let patient = model.simulate((chunk * CHUNK + offset) as u64, *day, &mut visits);
                sums.patients += 1;
                sums.baseline += patient.baseline_vision;
                sums.injections += patient.total_injections as u64;
                let mut stopped = false;
                for v in &visits {
                    match v.discontinuation {
                        Some(kind) => {
                            stopped = true;
                            let index = DiscontinuationType::ALL.iter().position(|t| *t == kind).expect("every type");
                            sums.stops[index] += 1;
                        }
                        None => sums.visits += 1,
                    }
                }
                sums.discontinued += u64::from(stopped);
                let before_stop = visits.iter().take_while(|v| v.discontinuation.is_none()).last();
                if let Some(last) = before_stop {
                    sums.with_final += 1;
                    sums.final_vision += last.vision;
                }
            }
            sums
        })
        .collect();
    let mut total = Sums::default();
    for part in &parts {
        total.merge(part);
    }
    let per_patient = |x: f64| if total.patients == 0 { 0.0 } else { x / total.patients as f64 };
    let stops: u64 = total.stops.iter().sum();
    RunFigures {
        patients: total.patients,
        visits_per_patient: per_patient(total.visits as f64),
        injections_per_patient: per_patient(total.injections as f64),
        discontinued: per_patient(total.discontinued as f64),
        baseline_vision: per_patient(total.baseline),
        final_vision: (total.with_final > 0).then(|| total.final_vision / total.with_final as f64),
        discontinuation_mix: DiscontinuationType::ALL
            .iter()
            .zip(total.stops)
            .map(|(t, n)| (t.as_str(), if stops == 0 { 0.0 } else { n as f64 / stops as f64 }))
            .collect(),
    }
}

/// One reference figure against what a run gave.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReferenceCheck {
    /// The figure's key in `targets.reference_run` (`deterioration` for a share of the mix).
    pub measure: String,
    /// What the reference engine measured.
    pub reference: f64,
    /// How far from it is close enough.
    pub tolerance: f64,
    /// What this run gave.
    pub achieved: Option<f64>,
    /// Whether it is within the tolerance.
    pub met: bool,
}

/// Every figure `run` states, against `figures`.
pub fn check(run: &ReferenceRun, figures: &RunFigures) -> Vec<ReferenceCheck> {
    let mut checks = Vec::new();
    let mut add = |measure: &str, target: Option<Target>, achieved: Option<f64>| {
        if let Some(t) = target {
            checks.push(ReferenceCheck {
                measure: measure.to_string(),
                reference: t.value,
                tolerance: t.tolerance,
                achieved,
                met: achieved.is_some_and(|a| (a - t.value).abs() <= t.tolerance),
            });
        }
    };
    add("visits_per_patient", run.visits_per_patient, Some(figures.visits_per_patient));
    add("injections_per_patient", run.injections_per_patient, Some(figures.injections_per_patient));
    add("discontinued", run.discontinued, Some(figures.discontinued));
    add("baseline_vision", run.baseline_vision, Some(figures.baseline_vision));
    add("final_vision", run.final_vision, figures.final_vision);
    for (name, share) in &figures.discontinuation_mix {
        add(name, run.discontinuation_mix.get(*name).copied(), Some(*share));
    }
    checks
}
