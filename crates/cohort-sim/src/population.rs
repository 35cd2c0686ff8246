//! Who is enrolled and when: arrival days, and each patient's age, sex and baseline vision.

use rand::RngExt;
use rand_distr::{Beta, Distribution, Exp, Normal};

use crate::protocol::{BaselineVision, Population, Rounding};
use crate::random::{SimRng, recruitment_rng};

/// How patients arrive.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Recruitment {
    /// `patients` arrive over the whole horizon as a Poisson process (exponential gaps with mean
    /// `horizon / patients`), stopping at that many patients or at the horizon.
    FixedTotal {
        /// Patients wanted.
        patients: u64,
    },
    /// Patients arrive at `per_week` on average for the whole horizon.
    ConstantRate {
        /// Mean arrivals per week.
        per_week: f64,
    },
}

/// Days in a run of `years` years: `floor(years * 365.25)`.
pub fn horizon_days(years: f64) -> u32 {
    (years * 365.25).floor() as u32
}

/// Enrolment day of every patient, in order (patient `i` enrols on `days[i]`).
pub fn enrolment_days(recruitment: Recruitment, horizon: u32, seed: u64) -> Vec<u32> {
    let mut rng = recruitment_rng(seed);
    let (mean_gap, limit) = match recruitment {
        Recruitment::FixedTotal { patients } if patients > 0 => (f64::from(horizon) / patients as f64, patients),
        Recruitment::ConstantRate { per_week } if per_week > 0.0 => (7.0 / per_week, u64::MAX),
        _ => return Vec::new(),
    };
    let gap = Exp::new(1.0 / mean_gap).expect("a positive rate");
    let mut days = Vec::new();
    let mut t = 0.0;
    while (days.len() as u64) < limit {
        t += gap.sample(&mut rng);
        if t >= f64::from(horizon) {
            break;
        }
        days.push(t as u32);
    }
    days
}

/// A patient at enrolment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Baseline {
    /// Age in years.
    pub age: f64,
    /// Whether the patient is female.
    pub female: bool,
    /// Vision in ETDRS letters (whole letters).
    pub vision: f64,
}

/// Draws a patient's age, sex and baseline vision, in that order, from the patient's stream.
pub fn draw_baseline(population: &Population, rng: &mut SimRng) -> Baseline {
    let a = &population.age;
    let age = (a.mean + a.sd * standard_normal(rng)).clamp(a.min, a.max);
    let f = &population.female_probability;
    let p_female = f.base + (f.max - f.base) * sigmoid((age - f.midpoint_age) / f.scale_years);
    let female = rng.random_bool(p_female.clamp(0.0, 1.0));
    let vision = draw_baseline_vision(&population.baseline_vision, rng);
    Baseline { age, female, vision }
}

fn draw_baseline_vision(distribution: &BaselineVision, rng: &mut SimRng) -> f64 {
    match *distribution {
        BaselineVision::Normal { mean, sd, min, max, rounding } => {
            let x = mean + sd * standard_normal(rng);
            let whole = match rounding {
                None | Some(Rounding::Nearest) => x.round(),
                Some(Rounding::TowardZero) => x.trunc(),
            };
            whole.clamp(min, max)
        }
        BaselineVision::Uniform { min, max } => rng.random_range(min..=max).round(),
        BaselineVision::BetaWithThreshold { alpha, beta, min, max, threshold, threshold_reduction } => {
            // Rejection sampling draws exactly from the Beta density with its tail above the
            // threshold scaled by (1 - reduction), renormalised.
            let shape = Beta::new(alpha, beta).expect("validated shapes");
            loop {
                let x = min + (max - min) * shape.sample(rng);
                if x <= threshold || rng.random::<f64>() < 1.0 - threshold_reduction {
                    return x.round().clamp(min, max);
                }
            }
        }
    }
}

/// A draw from the standard normal distribution.
pub fn standard_normal(rng: &mut SimRng) -> f64 {
    Normal::new(0.0, 1.0).expect("unit normal").sample(rng)
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}
