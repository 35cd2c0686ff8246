//! Pieces of the vision model: the treatment effect curve, decline parameters, haemorrhage risk
//! and the ceiling.

use crate::protocol::{Ceiling, Decline, DiseaseState, Haemorrhage, Improvement, MeanSd};

/// The treatment effect on vision `days` after the last injection: 1 before the first point,
/// linear between points, 0 after the last; 0 if never injected.
pub fn treatment_effect(points: &[(f64, f64)], days_since_injection: Option<u32>) -> f64 {
    let Some(days) = days_since_injection else { return 0.0 };
    let d = f64::from(days);
    match points {
        [] => 0.0,
        [(first_day, _), ..] if d < *first_day => 1.0,
        [(only_day, effect)] if d == *only_day => *effect,
        _ => points
            .windows(2)
            .find(|pair| d <= pair[1].0)
            .map(|pair| {
                let ((d0, e0), (d1, e1)) = (pair[0], pair[1]);
                e0 + (e1 - e0) * (d - d0) / (d1 - d0)
            })
            .unwrap_or(0.0),
    }
}

/// Mean and standard deviation of the fortnightly decline, interpolated by the effect `v`
/// between untreated (`v = 0`) and treated (`v = 1`).
pub fn decline(decline: &Decline, v: f64) -> MeanSd {
    let (u, t) = (&decline.untreated, &decline.treated);
    MeanSd { mean: u.mean + (t.mean - u.mean) * v, sd: u.sd + (t.sd - u.sd) * v }
}

/// Whether an improvement episode may start: few injections so far, either exactly one or a
/// long enough gap, enough treatment effect, and a state that can improve.
pub fn may_start_improvement(
    improvement: &Improvement,
    state: DiseaseState,
    injections: u32,
    days_since_injection: Option<u32>,
    effect: f64,
) -> bool {
    let gap_ok = injections == 1 || days_since_injection.is_some_and(|d| d > improvement.min_gap_days);
    injections >= 1
        && injections <= improvement.max_injections
        && gap_ok
        && effect > improvement.min_effect
        && improvement.probability.get(&state).is_some_and(|p| *p > 0.0)
}

/// The fortnightly haemorrhage risk; only active and highly active disease bleeds.
pub fn haemorrhage_risk(h: &Haemorrhage, state: DiseaseState, days_since_injection: Option<u32>) -> f64 {
    let base = match days_since_injection {
        Some(d) if d <= h.recent_days => h.recent_risk,
        Some(d) if d <= h.medium_days => h.medium_risk,
        _ => h.long_risk,
    };
    match state {
        DiseaseState::Active => base,
        DiseaseState::HighlyActive => base * h.highly_active_multiplier,
        DiseaseState::Naive | DiseaseState::Stable => 0.0,
    }
}

/// The highest vision a patient with `baseline` can reach.
pub fn ceiling(c: &Ceiling, baseline: f64) -> f64 {
    let absolute = if baseline > c.high_baseline_above {
        c.high_baseline
    } else if baseline < c.low_baseline_below {
        c.low_baseline
    } else {
        c.default
    };
    (baseline * c.baseline_factor).min(absolute)
}
