//! A protocol's evidence: what it achieves against its stated targets, year by year, and
//! against the run another engine measured (its `targets.reference_run`). The same report is
//! printed by `cohort protocol validate`, kept with every simulation run's version, shown on the
//! run's results page and by `cohort show`, and written into `docs/validation.md`.

use serde::Serialize;

use crate::calibrate::assess;
use crate::outcomes::{TargetCheck, YearOutcome};
use crate::protocol::{Fitted, Protocol};
use crate::reference::{ReferenceCheck, RunFigures, check, run_figures};

/// Patients simulated to check the year-by-year targets: enough that a mean's sampling error
/// (about 0.1 letters, 0.02 injections) is small against any sensible tolerance.
pub const VALIDATION_PATIENTS: u64 = 20_000;

/// A protocol's figures against its targets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Validation {
    /// The protocol's name.
    pub protocol: String,
    /// Where the targets come from.
    pub source: String,
    /// Patients simulated for the year-by-year figures.
    pub patients: u64,
    /// The seed they were simulated with.
    pub seed: u64,
    /// The figures, year by year (as [`crate::outcomes`] defines them).
    pub years: Vec<YearOutcome>,
    /// Each year-by-year target against what was achieved.
    pub targets: Vec<TargetCheck>,
    /// The reference run, if the protocol states one.
    pub reference: Option<ReferenceComparison>,
    /// How the protocol's free parameters were fitted, if they were.
    pub fitted: Option<Fitted>,
}

/// A reference run set beside this engine's run of the same size, years and seed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReferenceComparison {
    /// Which engine and settings produced the reference figures.
    pub source: String,
    /// Patients requested.
    pub patients: u64,
    /// Years simulated.
    pub years: f64,
    /// The seed.
    pub seed: u64,
    /// This engine's figures.
    pub figures: RunFigures,
    /// Each reference figure against this engine's.
    pub checks: Vec<ReferenceCheck>,
}

impl Validation {
    /// Targets and reference figures checked.
    pub fn checked(&self) -> usize {
        self.targets.len() + self.reference.as_ref().map_or(0, |r| r.checks.len())
    }

    /// Targets and reference figures missed.
    pub fn missed(&self) -> usize {
        self.targets.iter().filter(|c| !c.met).count()
            + self.reference.as_ref().map_or(0, |r| r.checks.iter().filter(|c| !c.met).count())
    }
}

/// Checks `protocol` against its targets with `patients` patients and `seed`; none when it
/// states no targets.
pub fn validate(protocol: &Protocol, patients: u64, seed: u64) -> Option<Validation> {
    let targets = protocol.targets.as_ref()?;
    let (years, checks) = assess(protocol, patients, seed);
    let reference = targets.reference_run.as_ref().map(|run| {
        let figures = run_figures(protocol, run.patients, run.years, run.seed);
        let checks = check(run, &figures);
        ReferenceComparison {
            source: run.source.clone(),
            patients: run.patients,
            years: run.years,
            seed: run.seed,
            figures,
            checks,
        }
    });
    Some(Validation {
        protocol: protocol.name.clone(),
        source: targets.source.clone(),
        patients,
        seed,
        years,
        targets: checks,
        reference,
        fitted: protocol.calibration.as_ref().and_then(|c| c.fitted.clone()),
    })
}
