//! The fortnightly disease process: transition probabilities, modified by treatment.

use crate::protocol::{Disease, DiseaseState};

/// Treatment efficacy on disease transitions: `0.5 ^ (days since injection / half-life)`, or 0 if
/// the patient was never injected.
pub fn efficacy(days_since_injection: Option<u32>, half_life_days: f64) -> f64 {
    match days_since_injection {
        Some(d) => 0.5_f64.powf(f64::from(d) / half_life_days),
        None => 0.0,
    }
}

/// The transition matrix and treatment multipliers as arrays, ready for the inner loop.
#[derive(Debug, Clone)]
pub struct Transitions {
    base: [[f64; 4]; 4],
    multipliers: [Option<[f64; 4]>; 4],
}

impl Transitions {
    /// From a validated protocol's disease section.
    pub fn new(disease: &Disease) -> Self {
        let mut base = [[0.0; 4]; 4];
        let mut multipliers = [None; 4];
        for (from, row) in &disease.transitions {
            for (to, p) in row {
                base[*from as usize][*to as usize] = *p;
            }
        }
        for (from, row) in &disease.treatment_multipliers {
            // A target with no multiplier is not changed by treatment.
            let mut m = [1.0; 4];
            for (to, value) in row {
                m[*to as usize] = *value;
            }
            multipliers[*from as usize] = Some(m);
        }
        Transitions { base, multipliers }
    }

    /// The probabilities of moving from `state` to each state under `efficacy`: each becomes
    /// `p * (1 - e) + p * m * e`, then the row is renormalised.
    pub fn row(&self, state: DiseaseState, efficacy: f64) -> [f64; 4] {
        let base = self.base[state as usize];
        let Some(m) = self.multipliers[state as usize].filter(|_| efficacy > 0.0) else { return base };
        let mut row = [0.0; 4];
        for i in 0..4 {
            row[i] = base[i] * (1.0 - efficacy) + base[i] * m[i] * efficacy;
        }
        let sum: f64 = row.iter().sum();
        if sum > 0.0 {
            row.iter_mut().for_each(|p| *p /= sum);
        }
        row
    }

    /// The next state for a uniform draw `u` in [0, 1).
    pub fn next(&self, state: DiseaseState, efficacy: f64, u: f64) -> DiseaseState {
        let row = self.row(state, efficacy);
        let mut cumulative = 0.0;
        for (i, p) in row.iter().enumerate() {
            cumulative += p;
            if u < cumulative {
                return DiseaseState::ALL[i];
            }
        }
        // Rounding can leave the sum a hair under 1: the last state with any probability.
        DiseaseState::ALL[row.iter().rposition(|p| *p > 0.0).unwrap_or(state as usize)]
    }
}
