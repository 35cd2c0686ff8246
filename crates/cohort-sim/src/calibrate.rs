//! Calibration: the values of a protocol's free parameters, within their bounds, that bring the
//! simulated outcomes to the protocol's targets.
//!
//! The search is Nelder and Mead's simplex method (argmin's implementation), derivative-free as a
//! simulated objective needs, over the free parameters scaled to [0, 1] by their bounds. Every
//! evaluation simulates the same patients (same seed, same indices, same enrolment days: common
//! random numbers), so two parameter sets are compared on the same people and the objective moves
//! only where the parameters move it. The objective is the sum over targets of
//! ((achieved - target) / tolerance)², so every target is met when each term is below 1; the
//! search stops when the simplex has converged, when the evaluations run out, or early once every
//! target sits within a fifth of its tolerance.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use argmin::core::{CostFunction, Error as ArgminError, Executor};
use argmin::solver::neldermead::NelderMead;
use cohort_store::CancelToken;

use crate::outcomes::{TargetCheck, YearOutcome, check, evaluate, last_year, objective};
use crate::protocol::{FreeParameter, Protocol, ProtocolError, Targets};

/// How a calibration runs.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Patients simulated at each evaluation.
    pub patients: u64,
    /// Their seed.
    pub seed: u64,
    /// The most protocol evaluations the search may make.
    pub max_evaluations: u32,
}

/// What a calibration found.
#[derive(Debug, Clone)]
pub struct Fit {
    /// The protocol with the fitted values and, in `calibration.fitted`, how they were found.
    pub protocol: Protocol,
    /// Each target against what the fitted protocol achieves.
    pub checks: Vec<TargetCheck>,
    /// The figures the fitted protocol achieves.
    pub achieved: Vec<YearOutcome>,
    /// The fitted value of each free parameter, in the order listed.
    pub values: Vec<(String, f64)>,
    /// The objective at the fit.
    pub objective: f64,
    /// Evaluations made.
    pub evaluations: u32,
    /// Whether every target is met within its tolerance.
    pub met: bool,
    /// Free parameters that ended at a bound: widening them may reach what is missed.
    pub at_bounds: Vec<String>,
}

impl Fit {
    /// The target furthest from being met (in tolerances), when one is not met.
    pub fn binding(&self) -> Option<&TargetCheck> {
        self.checks
            .iter()
            .filter(|c| !c.met)
            .max_by(|a, b| a.standardised_error().abs().total_cmp(&b.standardised_error().abs()))
    }
}

/// Why a calibration could not run.
#[derive(Debug, thiserror::Error)]
pub enum CalibrateError {
    /// The protocol says nothing to calibrate, or to calibrate to.
    #[error("{0}")]
    Nothing(String),
    /// A parameter set gave a protocol that does not validate.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// Interrupted.
    #[error("calibration cancelled")]
    Cancelled,
    /// The search itself failed.
    #[error("the search failed: {0}")]
    Search(String),
}

/// A protocol's values as JSON, where free parameters are set by key path.
struct Editable {
    json: serde_json::Value,
    origin: String,
}

impl Editable {
    fn new(protocol: &Protocol) -> Self {
        Editable { json: serde_json::to_value(protocol).expect("a protocol serialises"), origin: protocol.name.clone() }
    }

    /// The protocol with the free parameters set to `values` (integers where the file has
    /// integers), validated.
    fn with(&self, free: &[FreeParameter], values: &[f64]) -> Result<Protocol, ProtocolError> {
        let mut json = self.json.clone();
        for (parameter, value) in free.iter().zip(values) {
            let at = json
                .pointer_mut(&crate::protocol::json_pointer(&parameter.parameter))
                .expect("free parameters are checked to exist when the protocol is read");
            *at = if at.is_u64() {
                serde_json::Value::from(value.round().max(0.0) as u64)
            } else {
                serde_json::Value::from(*value)
            };
        }
        let protocol: Protocol = serde_json::from_value(json)
            .map_err(|e| ProtocolError::Parse { origin: self.origin.clone(), message: e.to_string() })?;
        let problems = protocol.validate("");
        if problems.is_empty() {
            Ok(protocol)
        } else {
            Err(ProtocolError::Invalid { origin: self.origin.clone(), problems })
        }
    }
}

/// The protocol `base` with the free parameters set to `values` (integers where the file has
/// integers), validated.
pub fn with_values(base: &Protocol, free: &[FreeParameter], values: &[f64]) -> Result<Protocol, ProtocolError> {
    Editable::new(base).with(free, values)
}

/// The figures `protocol` achieves on the calibration's patients, and its checks.
pub fn assess(protocol: &Protocol, patients: u64, seed: u64) -> (Vec<YearOutcome>, Vec<TargetCheck>) {
    match &protocol.targets {
        Some(targets) if !targets.years.is_empty() => assess_against(protocol, targets, patients, seed),
        _ => (Vec::new(), Vec::new()),
    }
}

fn assess_against(
    protocol: &Protocol,
    targets: &Targets,
    patients: u64,
    seed: u64,
) -> (Vec<YearOutcome>, Vec<TargetCheck>) {
    let achieved = evaluate(protocol, patients, seed, last_year(targets));
    let checks = check(targets, &achieved);
    (achieved, checks)
}

/// Free parameter values from their positions in [0, 1] between the bounds (clamped into it).
fn unscale(free: &[FreeParameter], scaled: &[f64]) -> Vec<f64> {
    free.iter().zip(scaled).map(|(f, x)| f.min + x.clamp(0.0, 1.0) * (f.max - f.min)).collect()
}

/// Why an evaluation ends the search: not failures.
#[derive(Debug, thiserror::Error)]
enum Stop {
    #[error("every target is close enough")]
    CloseEnough,
    #[error("the evaluations allowed are used up")]
    OutOfEvaluations,
    #[error("cancelled")]
    Cancelled,
}

/// The objective of a parameter set, for argmin: parameters scaled to [0, 1] (clamped into it).
struct Problem<'a> {
    /// The protocol without its targets and calibration, which evaluations do not need to carry
    /// or validate again.
    model: &'a Editable,
    targets: &'a Targets,
    free: &'a [FreeParameter],
    settings: Settings,
    evaluations: &'a AtomicU32,
    /// The lowest objective seen and its (scaled) parameters, whatever later stops the search.
    best: &'a Mutex<Option<(f64, Vec<f64>)>>,
    progress: &'a (dyn Fn(u32, f64) + Sync),
    cancel: &'a CancelToken,
}

impl CostFunction for Problem<'_> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, scaled: &Self::Param) -> Result<f64, ArgminError> {
        if self.cancel.is_cancelled() {
            return Err(Stop::Cancelled.into());
        }
        let n = self.evaluations.fetch_add(1, Ordering::Relaxed) + 1;
        if n > self.settings.max_evaluations {
            return Err(Stop::OutOfEvaluations.into());
        }
        let protocol = self.model.with(self.free, &unscale(self.free, scaled))?;
        let (_, checks) = assess_against(&protocol, self.targets, self.settings.patients, self.settings.seed);
        // Outside the bounds the values are clamped; a penalty keeps the simplex inside.
        let outside: f64 = scaled.iter().map(|x| (x - x.clamp(0.0, 1.0)).powi(2)).sum();
        let cost = objective(&checks) + 1e3 * outside;
        let best = {
            let mut best = self.best.lock().expect("not poisoned");
            if best.as_ref().is_none_or(|(b, _)| cost < *b) {
                *best = Some((cost, scaled.clone()));
            }
            best.as_ref().map_or(cost, |(b, _)| *b)
        };
        (self.progress)(n, best);
        if best < EARLY_STOP * checks.len() as f64 {
            return Err(Stop::CloseEnough.into());
        }
        Ok(cost)
    }
}

/// Stop once the objective is below this per target: each within about a fifth of its tolerance.
const EARLY_STOP: f64 = 0.04;

/// Fits `protocol`'s free parameters to its targets. `progress` hears (evaluations, best
/// objective so far) after every evaluation.
pub fn calibrate(
    protocol: &Protocol,
    settings: Settings,
    progress: &(dyn Fn(u32, f64) + Sync),
    cancel: &CancelToken,
) -> Result<Fit, CalibrateError> {
    let Some(calibration) = &protocol.calibration else {
        return Err(CalibrateError::Nothing(format!(
            "protocol `{}` has no `calibration` section: list its free parameters and their bounds there",
            protocol.name
        )));
    };
    let Some(targets) = &protocol.targets else {
        return Err(CalibrateError::Nothing(format!("protocol `{}` has no `targets` to calibrate to", protocol.name)));
    };
    let free = &calibration.free;
    let json = serde_json::to_value(protocol).expect("a protocol serialises");
    let start: Vec<f64> = free
        .iter()
        .map(|f| {
            let value = crate::protocol::parameter_value(&json, &f.parameter).expect("checked when read");
            ((value - f.min) / (f.max - f.min)).clamp(0.0, 1.0)
        })
        .collect();
    let model = Editable::new(&Protocol { targets: None, calibration: None, ..protocol.clone() });
    let evaluations = AtomicU32::new(0);
    let best: Mutex<Option<(f64, Vec<f64>)>> = Mutex::new(None);
    // Restarted from the best point so far with a fresh simplex, each smaller than the last: a
    // simplex that has collapsed on a noisy or flat stretch gets a second look around, and the
    // search stops when a restart finds nothing better.
    let mut centre = start;
    for step in [0.25, 0.1, 0.04] {
        let before = best.lock().expect("not poisoned").as_ref().map_or(f64::INFINITY, |(b, _)| *b);
        let mut simplex = vec![centre.clone()];
        for i in 0..centre.len() {
            let mut vertex = centre.clone();
            // Inwards, so that every vertex is within the bounds.
            vertex[i] += if vertex[i] <= 1.0 - step { step } else { -step };
            simplex.push(vertex);
        }
        let problem = Problem {
            model: &model,
            targets,
            free,
            settings,
            evaluations: &evaluations,
            best: &best,
            progress,
            cancel,
        };
        let solver =
            NelderMead::new(simplex).with_sd_tolerance(1e-4).map_err(|e| CalibrateError::Search(e.to_string()))?;
        let outcome = Executor::new(problem, solver)
            .configure(|state| state.max_iters(u64::from(settings.max_evaluations)))
            .run();
        if cancel.is_cancelled() {
            return Err(CalibrateError::Cancelled);
        }
        // An evaluation ends the search by failing ("close enough", "out of evaluations");
        // anything else is a real failure.
        if let Err(e) = outcome {
            match e.downcast_ref::<Stop>() {
                Some(Stop::Cancelled) => return Err(CalibrateError::Cancelled),
                Some(Stop::CloseEnough | Stop::OutOfEvaluations) => break,
                None => return Err(CalibrateError::Search(e.to_string())),
            }
        }
        let now = best.lock().expect("not poisoned").clone();
        match now {
            Some((b, point)) if b < before - 1e-3 => centre = point,
            _ => break,
        }
    }
    let (_, scaled) = best
        .into_inner()
        .expect("not poisoned")
        .ok_or_else(|| CalibrateError::Search("no evaluation finished".into()))?;
    finish(protocol, free, settings, &scaled, evaluations.load(Ordering::Relaxed).min(settings.max_evaluations))
}

fn finish(
    protocol: &Protocol,
    free: &[FreeParameter],
    settings: Settings,
    scaled: &[f64],
    evaluations: u32,
) -> Result<Fit, CalibrateError> {
    let mut fitted = with_values(protocol, free, &unscale(free, scaled))?;
    let (achieved, checks) = assess(&fitted, settings.patients, settings.seed);
    let objective = objective(&checks);
    let met = checks.iter().all(|c| c.met);
    let json = serde_json::to_value(&fitted).expect("a protocol serialises");
    let values: Vec<(String, f64)> = free
        .iter()
        .map(|f| (f.parameter.clone(), crate::protocol::parameter_value(&json, &f.parameter).expect("set above")))
        .collect();
    let at_bounds = free
        .iter()
        .zip(&values)
        .filter(|(f, (_, v))| (*v - f.min).abs() < 1e-9 || (*v - f.max).abs() < 1e-9)
        .map(|(f, _)| f.parameter.clone())
        .collect();
    if let Some(calibration) = &mut fitted.calibration {
        calibration.fitted = Some(crate::protocol::Fitted {
            patients: settings.patients,
            seed: settings.seed,
            evaluations,
            engine: env!("CARGO_PKG_VERSION").to_string(),
            met,
            objective,
            achieved: achieved.clone(),
        });
    }
    Ok(Fit { protocol: fitted, checks, achieved, values, objective, evaluations, met, at_bounds })
}
