//! Treatment protocols: the YAML format, its validation, and the built-in protocols.
//!
//! The types below mirror the file one to one. Every struct denies unknown fields and no field has
//! a default, so an unknown or missing key is a parse error with its line. [`Protocol::validate`]
//! then checks what types cannot (probabilities, sums, orderings) and names the key path and line
//! of every problem at once.

mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use validate::Problem;
pub(crate) use validate::{json_pointer, parameter_value};

/// The format line every protocol file starts with; a new format gets a new number.
pub const FORMAT: &str = "cohort-protocol/1";

/// Disease activity states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DiseaseState {
    /// Not yet assessed or treated.
    Naive,
    /// No active disease.
    Stable,
    /// Active disease.
    Active,
    /// Highly active disease.
    HighlyActive,
}

impl DiseaseState {
    /// Every state, in order.
    pub const ALL: [DiseaseState; 4] =
        [DiseaseState::Naive, DiseaseState::Stable, DiseaseState::Active, DiseaseState::HighlyActive];

    /// The state's name in protocol files and output.
    pub fn as_str(self) -> &'static str {
        match self {
            DiseaseState::Naive => "NAIVE",
            DiseaseState::Stable => "STABLE",
            DiseaseState::Active => "ACTIVE",
            DiseaseState::HighlyActive => "HIGHLY_ACTIVE",
        }
    }
}

/// Probabilities (or multipliers) by target state; absent states are 0.
pub type Row = BTreeMap<DiseaseState, f64>;

/// A complete treatment protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocol {
    /// Must be [`FORMAT`].
    pub format: String,
    /// Short name (`aflibercept-tae`).
    pub name: String,
    /// One line for people.
    pub description: String,
    /// Injections and visit intervals.
    pub treatment: Treatment,
    /// Who is enrolled.
    pub population: Population,
    /// The fortnightly disease process.
    pub disease: Disease,
    /// Vision change, measurement and limits.
    pub vision: Vision,
    /// Why and how often patients stop.
    pub discontinuation: Discontinuation,
    /// Monitoring, recurrence and retreatment after stopping.
    pub monitoring: Monitoring,
    /// The outcomes the protocol should produce, with tolerances (not used by the engine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Targets>,
    /// The parameters `cohort simulate calibrate` may move, and its last fit (not used by the
    /// engine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
}

/// Outcomes a protocol should produce, year by year, each within a tolerance. How each figure is
/// counted is defined once, in [`crate::outcomes`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    /// Where the figures come from (a trial, a registry, a file).
    pub source: String,
    /// By year of follow-up, ascending.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub years: Vec<YearTargets>,
    /// Whole-run figures another engine measured under this protocol, to be reproduced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_run: Option<ReferenceRun>,
}

/// A run measured elsewhere (for example by APE's engine) and what it gave, counted as
/// [`crate::reference`] defines. A run of the same size, years and seed should come within each
/// tolerance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceRun {
    /// Which engine, version and settings produced the figures.
    pub source: String,
    /// Patients requested.
    pub patients: u64,
    /// Years simulated.
    pub years: f64,
    /// The seed.
    pub seed: u64,
    /// Visits per patient, not counting the visit at which treatment stops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visits_per_patient: Option<Target>,
    /// Injections per patient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub injections_per_patient: Option<Target>,
    /// Share of patients whose treatment stopped (0 to 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discontinued: Option<Target>,
    /// Mean baseline vision (letters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_vision: Option<Target>,
    /// Mean vision at each patient's last visit before any stop (letters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_vision: Option<Target>,
    /// Each discontinuation type's share of all stops (0 to 1), by the type's output name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub discontinuation_mix: BTreeMap<String, Target>,
}

/// The targets for year `year` of follow-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YearTargets {
    /// 1 for the first year of follow-up.
    pub year: u32,
    /// Mean change in vision from baseline at the end of the year (letters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vision_change: Option<Target>,
    /// Mean injections given by the end of the year, counted from enrolment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub injections: Option<Target>,
    /// Share of patients whose treatment had stopped by the end of the year (0 to 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discontinued: Option<Target>,
}

/// A figure to reach, and how far from it is close enough.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// The figure.
    pub value: f64,
    /// The largest acceptable difference, either way.
    pub tolerance: f64,
}

/// What calibration may change, and what it found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// The parameters the search moves, each within bounds.
    pub free: Vec<FreeParameter>,
    /// The last fit, written by `cohort simulate calibrate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fitted: Option<Fitted>,
}

/// One parameter calibration may move: its dotted key path in the file and its bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreeParameter {
    /// Dotted key path, as in the file (`disease.treatment_multipliers.ACTIVE.STABLE`).
    pub parameter: String,
    /// Smallest value allowed.
    pub min: f64,
    /// Largest value allowed.
    pub max: f64,
}

/// How a protocol's free parameters were fitted: enough to repeat the search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fitted {
    /// Patients simulated at each evaluation (the same patients every time).
    pub patients: u64,
    /// The seed of those patients.
    pub seed: u64,
    /// Protocol evaluations the search made.
    pub evaluations: u32,
    /// The engine version that fitted it.
    pub engine: String,
    /// Whether every target was met within its tolerance.
    pub met: bool,
    /// Sum over targets of ((achieved - target) / tolerance)^2 at the fit.
    pub objective: f64,
    /// The figures achieved at the fit, by year.
    pub achieved: Vec<crate::outcomes::YearOutcome>,
}

/// How treatment intervals are decided after loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Regimen {
    /// Extend when stable, shorten when active (see [`InjectionRule`] for whether a stable visit
    /// injects).
    TreatAndExtend,
    /// Inject at every visit, at one fixed interval ("treat-and-treat").
    Fixed,
}

/// Whether a maintenance visit injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InjectionRule {
    /// Every visit injects. Treat-and-extend as practised: the next interval is extended when the
    /// macula is dry (stable) and shortened when the disease is active.
    EveryVisit,
    /// APE's rule: a visit that finds the disease stable does not inject. Under treat-and-extend
    /// such a visit extends the interval, counted from the last injection, and every injection
    /// brings it back to the minimum (APE counts from the injection just given); under a fixed
    /// regimen the next visit is at the same interval (APE's treat-and-treat).
    SkipWhenStable,
}

/// Injections and visit intervals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Treatment {
    /// Treat-and-extend or fixed.
    pub regimen: Regimen,
    /// Whether maintenance visits always inject. Left out, as in files written before it
    /// existed: `skip_when_stable` under treat-and-extend, `every_visit` under a fixed regimen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub injection_rule: Option<InjectionRule>,
    /// Injections in the loading phase.
    pub loading_injections: u32,
    /// Days between loading injections.
    pub loading_interval_days: u32,
    /// Shortest interval after loading.
    pub min_interval_days: u32,
    /// Longest interval after loading.
    pub max_interval_days: u32,
    /// Added to the interval when the macula is dry (`every_visit`), or when a visit does not
    /// inject (`skip_when_stable`).
    pub extension_days: u32,
    /// Taken off the interval when the disease is active (`every_visit`; `skip_when_stable`
    /// resets the interval to the minimum at every injection instead, so never reads it).
    pub shortening_days: u32,
    /// Whether visits may fall on Saturdays and Sundays.
    pub weekend_visits: bool,
    /// Days from the last loading injection to the first maintenance visit; left out,
    /// `min_interval_days`. (APE's weekday scheduler holds the first three visits' intervals to
    /// 28-35 days, so its first maintenance visit comes 35 days after the last loading dose.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_maintenance_interval_days: Option<u32>,
}

impl Treatment {
    /// The injection rule in force, stated or implied by the regimen.
    pub fn rule(&self) -> InjectionRule {
        self.injection_rule.unwrap_or(match self.regimen {
            Regimen::TreatAndExtend => InjectionRule::SkipWhenStable,
            Regimen::Fixed => InjectionRule::EveryVisit,
        })
    }
}

/// Who is enrolled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Population {
    /// Age at enrolment: normal, clipped.
    pub age: ClippedNormal,
    /// Probability of being female by age.
    pub female_probability: FemaleProbability,
    /// Vision at enrolment, in ETDRS letters.
    pub baseline_vision: BaselineVision,
}

/// A normal distribution clipped to `[min, max]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClippedNormal {
    /// Mean.
    pub mean: f64,
    /// Standard deviation.
    pub sd: f64,
    /// Lower clip.
    pub min: f64,
    /// Upper clip.
    pub max: f64,
}

/// `base + (max - base) * sigmoid((age - midpoint_age) / scale_years)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FemaleProbability {
    /// Probability at young ages.
    pub base: f64,
    /// Probability at old ages.
    pub max: f64,
    /// Age of the steepest change.
    pub midpoint_age: f64,
    /// Width of the change, in years.
    pub scale_years: f64,
}

/// How baseline vision is drawn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "distribution", rename_all = "snake_case", deny_unknown_fields)]
pub enum BaselineVision {
    /// Normal, made whole letters and clipped.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        sd: f64,
        /// Lower clip.
        min: f64,
        /// Upper clip.
        max: f64,
        /// How a draw becomes whole letters; left out, `nearest`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rounding: Option<Rounding>,
    },
    /// Uniform on `[min, max]`, rounded.
    Uniform {
        /// Lowest value.
        min: f64,
        /// Highest value.
        max: f64,
    },
    /// A Beta(alpha, beta) density stretched over `[min, max]`, reduced by `threshold_reduction`
    /// above `threshold`, renormalised.
    BetaWithThreshold {
        /// Beta shape alpha.
        alpha: f64,
        /// Beta shape beta.
        beta: f64,
        /// Lowest value.
        min: f64,
        /// Highest value.
        max: f64,
        /// Letters above which the density is reduced.
        threshold: f64,
        /// Share of the density removed above the threshold.
        threshold_reduction: f64,
    },
}

/// How a drawn vision becomes whole letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// To the nearest letter.
    Nearest,
    /// Towards zero, dropping the fraction (APE's `int(random.gauss(...))`, about half a letter
    /// lower on average).
    TowardZero,
}

/// The fortnightly disease process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disease {
    /// Days between disease updates (on a global grid from the simulation start).
    pub update_interval_days: u32,
    /// Untreated transition probabilities, a row per state.
    pub transitions: BTreeMap<DiseaseState, Row>,
    /// Days for the treatment efficacy to halve.
    pub efficacy_half_life_days: f64,
    /// How treatment scales each transition probability, a row per treatable state.
    pub treatment_multipliers: BTreeMap<DiseaseState, Row>,
}

/// A mean and a standard deviation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeanSd {
    /// Mean.
    pub mean: f64,
    /// Standard deviation.
    pub sd: f64,
}

/// Vision change, measurement and limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vision {
    /// Standard deviation of the measurement error, in letters.
    pub measurement_noise_sd: f64,
    /// `(days since injection, effect)` points of a piecewise-linear treatment effect: 1 before
    /// the first point, 0 after the last.
    pub treatment_effect: Vec<(f64, f64)>,
    /// Improvement episodes.
    pub improvement: Improvement,
    /// Fortnightly decline by state, untreated and fully treated.
    pub decline: BTreeMap<DiseaseState, Decline>,
    /// Sudden loss from haemorrhage.
    pub haemorrhage: Haemorrhage,
    /// Upper limits of vision.
    pub ceiling: Ceiling,
}

/// Improvement episodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Improvement {
    /// Fortnightly probability of starting an episode, by state.
    pub probability: Row,
    /// Letters gained per fortnight of an episode, by state.
    pub gain: BTreeMap<DiseaseState, MeanSd>,
    /// Longest episode, in fortnights.
    pub max_fortnights: u32,
    /// No episodes after this many injections.
    pub max_injections: u32,
    /// Days since the last injection needed (unless there has been exactly one injection).
    pub min_gap_days: u32,
    /// Treatment effect needed.
    pub min_effect: f64,
}

/// Fortnightly vision decline in one state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decline {
    /// Without treatment effect.
    pub untreated: MeanSd,
    /// With full treatment effect.
    pub treated: MeanSd,
}

/// Haemorrhage risk and loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Haemorrhage {
    /// Fortnightly risk up to `recent_days` after an injection.
    pub recent_risk: f64,
    /// Days counted as recent.
    pub recent_days: u32,
    /// Fortnightly risk up to `medium_days`.
    pub medium_risk: f64,
    /// Days counted as medium.
    pub medium_days: u32,
    /// Fortnightly risk after that, or when never injected.
    pub long_risk: f64,
    /// Risk multiplier for highly active disease.
    pub highly_active_multiplier: f64,
    /// Fewest letters lost.
    pub loss_min: f64,
    /// Most letters lost.
    pub loss_max: f64,
}

/// `min(baseline * baseline_factor, high_baseline if baseline > high_baseline_above,
/// low_baseline if baseline < low_baseline_below, else default)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ceiling {
    /// Multiple of baseline vision.
    pub baseline_factor: f64,
    /// Absolute ceiling otherwise.
    pub default: f64,
    /// Absolute ceiling for high baselines.
    pub high_baseline: f64,
    /// What counts as a high baseline.
    pub high_baseline_above: f64,
    /// Absolute ceiling for low baselines.
    pub low_baseline: f64,
    /// What counts as a low baseline.
    pub low_baseline_below: f64,
}

/// Why and how often patients stop, in priority order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Discontinuation {
    /// Death.
    pub mortality: Mortality,
    /// Vision too poor to treat.
    pub poor_vision: PoorVision,
    /// Sustained loss from baseline.
    pub deterioration: Deterioration,
    /// Stable long enough to stop.
    pub stable_treatment_decision: StableTreatmentDecision,
    /// No benefit seen.
    pub no_improvement_decision: NoImprovementDecision,
    /// Lost to follow-up.
    pub attrition: Attrition,
    /// Other, random reasons.
    pub administrative: Administrative,
}

/// Mortality from a life table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mortality {
    /// Hazard ratio of wet AMD against the general population.
    pub hazard_ratio: f64,
    /// Annual probability of death by sex and age.
    pub annual_probability: LifeTable,
    /// The time a visit's risk of death covers; left out, `since_last_visit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposure: Option<MortalityExposure>,
}

/// The time over which a visit's risk of death is counted.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum MortalityExposure {
    /// The days since the previous visit: the risk the patient actually ran (none at the first).
    SinceLastVisit,
    /// APE's rule: the mean interval between the patient's earlier visits, or a year divided by
    /// `default_visits_per_year` until there are two. It lags behind a lengthening interval,
    /// so it gives fewer deaths than the time elapsed would.
    MeanPastInterval {
        /// Visits a year assumed before the second visit (APE: 8).
        default_visits_per_year: f64,
    },
}

/// Annual probability of death by age, per sex.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifeTable {
    /// Men.
    pub male: BTreeMap<u32, f64>,
    /// Women.
    pub female: BTreeMap<u32, f64>,
}

/// Stop when vision stays below a threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoorVision {
    /// Letters.
    pub below_letters: f64,
    /// Visits in a row below it.
    pub consecutive_visits: u32,
    /// Probability of stopping then.
    pub probability: f64,
}

/// Stop after sustained loss from baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deterioration {
    /// Letters lost from baseline.
    pub loss_letters: f64,
    /// Visits in a row with that loss.
    pub consecutive_visits: u32,
    /// Probability of stopping then.
    pub probability: f64,
}

/// Stop after a run of stable visits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StableTreatmentDecision {
    /// Stable visits in a row.
    pub consecutive_visits: u32,
    /// Injections needed first.
    pub min_injections: u32,
    /// Probability of stopping then.
    pub probability: f64,
}

/// Stop when vision does not improve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoImprovementDecision {
    /// Visits without improvement.
    pub visits: u32,
    /// Injections needed first.
    pub min_injections: u32,
    /// Probability of stopping then.
    pub probability: f64,
}

/// Loss to follow-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attrition {
    /// Base probability per visit.
    pub per_visit: f64,
    /// Multipliers by time since enrolment.
    pub time_factors: TimeFactors,
    /// Multipliers by injections in the last 12 months.
    pub burden_factors: BurdenFactors,
    /// How the injection burden is measured; left out, `injections_last_year`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burden_measure: Option<BurdenMeasure>,
}

/// How attrition's injection burden is measured at a visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BurdenMeasure {
    /// Injections given in the 365 days before the visit.
    InjectionsLastYear,
    /// APE's rule: injections at the earlier visits of the last 365 days divided by the years
    /// between the first and last of those visits (factor 1 with fewer than two). Three
    /// loading injections over 56 days count as 19.6 a year.
    AnnualisedRate,
}

/// Attrition multipliers by months since enrolment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeFactors {
    /// First year.
    pub months_0_12: f64,
    /// Second year.
    pub months_12_24: f64,
    /// Later.
    pub months_24_plus: f64,
}

/// Attrition multipliers by injections in the last 12 months.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurdenFactors {
    /// Fewer than 6.
    pub injections_0_6: f64,
    /// 6 to 11.
    pub injections_6_12: f64,
    /// 12 or more.
    pub injections_12_plus: f64,
}

/// Random administrative stops.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Administrative {
    /// Probability per visit.
    pub per_visit: f64,
}

/// Monitoring, recurrence and retreatment after stopping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Monitoring {
    /// Whether stopped patients are monitored at all.
    pub enabled: bool,
    /// Weeks after a planned stop at which monitoring visits happen.
    pub planned_weeks: Vec<u32>,
    /// Weeks after an unplanned stop at which monitoring visits happen.
    pub unplanned_weeks: Vec<u32>,
    /// Probability that a monitoring visit detects a recurrence.
    pub recurrence_detection_probability: f64,
    /// Letters lost since stopping needed to retreat.
    pub retreatment_min_loss_letters: f64,
    /// Probability of retreating a detected recurrence with that loss.
    pub retreatment_probability: f64,
}

/// A protocol that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The file could not be read.
    #[error("cannot read protocol `{}`: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not valid YAML, a wrong type, an unknown key or a missing key.
    #[error("{origin}: {message}")]
    Parse {
        /// The file or built-in name.
        origin: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// Parsed, but the values are not usable.
    #[error("{origin}: {}", problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid {
        /// The file or built-in name.
        origin: String,
        /// Every problem found.
        problems: Vec<Problem>,
    },
    /// Neither a built-in protocol nor a file.
    #[error("no built-in protocol or file named `{0}`")]
    NotFound(String),
}

impl ProtocolError {
    /// What to do next.
    pub fn hint(&self) -> Option<String> {
        match self {
            ProtocolError::NotFound(_) => Some(format!(
                "the built-in protocols are {}; `cohort protocol new NAME` writes an editable copy of one",
                BUILTINS.iter().map(|b| format!("`{}`", b.name)).collect::<Vec<_>>().join(", ")
            )),
            ProtocolError::Parse { .. } | ProtocolError::Invalid { .. } => {
                Some("compare with a built-in: `cohort protocol show aflibercept-tae` prints one with every key".into())
            }
            ProtocolError::Io { .. } => None,
        }
    }
}

impl Protocol {
    /// Parses and validates protocol YAML; `origin` names it in errors (a path or a built-in).
    pub fn from_yaml(origin: &str, text: &str) -> Result<Protocol, ProtocolError> {
        let protocol: Protocol = serde_saphyr::from_str(text)
            .map_err(|e| ProtocolError::Parse { origin: origin.to_string(), message: e.to_string() })?;
        let problems = protocol.validate(text);
        if problems.is_empty() {
            Ok(protocol)
        } else {
            Err(ProtocolError::Invalid { origin: origin.to_string(), problems })
        }
    }

    /// Reads, parses and validates a protocol file.
    pub fn from_file(path: &Path) -> Result<Protocol, ProtocolError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ProtocolError::Io { path: path.to_path_buf(), source: e })?;
        Protocol::from_yaml(&path.display().to_string(), &text)
    }

    /// SHA-256 (hex) of the values that drive a simulation, independent of the name, the
    /// description, comments, key order and number formatting: two files that simulate the same
    /// way have the same hash.
    pub fn canonical_sha256(&self) -> String {
        let mut values = self.clone();
        values.name.clear();
        values.description.clear();
        // What a run should achieve, and how it was fitted, do not change what it simulates.
        values.targets = None;
        values.calibration = None;
        let canonical = serde_json::to_vec(&values).expect("a protocol serialises");
        hex::encode(Sha256::digest(&canonical))
    }
}

/// A protocol that ships with cohort.
#[derive(Debug, Clone, Copy)]
pub struct Builtin {
    /// Its name.
    pub name: &'static str,
    /// Its YAML text.
    pub yaml: &'static str,
}

impl Builtin {
    /// Parses and validates it.
    pub fn load(&self) -> Result<Protocol, ProtocolError> {
        Protocol::from_yaml(&format!("built-in protocol `{}`", self.name), self.yaml)
    }
}

/// The built-in protocols.
pub const BUILTINS: &[Builtin] = &[
    Builtin { name: "aflibercept-tae", yaml: include_str!("../../protocols/aflibercept-tae.yaml") },
    Builtin { name: "aflibercept-tnt", yaml: include_str!("../../protocols/aflibercept-tnt.yaml") },
    Builtin { name: "ape-tae", yaml: include_str!("../../protocols/ape-tae.yaml") },
    Builtin { name: "ape-tnt", yaml: include_str!("../../protocols/ape-tnt.yaml") },
];

/// The built-in protocol called `name`.
pub fn builtin(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// A protocol given as a built-in name or a file path, with its YAML text.
pub fn resolve(spec: &str) -> Result<(Protocol, String), ProtocolError> {
    if let Some(b) = builtin(spec) {
        return Ok((b.load()?, b.yaml.to_string()));
    }
    let path = Path::new(spec);
    if path.is_file() {
        let text =
            std::fs::read_to_string(path).map_err(|e| ProtocolError::Io { path: path.to_path_buf(), source: e })?;
        return Ok((Protocol::from_yaml(spec, &text)?, text));
    }
    Err(ProtocolError::NotFound(spec.to_string()))
}

/// The YAML of built-in `from`, renamed to `name`, for a user to edit.
pub fn editable_copy(from: &Builtin, name: &str) -> String {
    let mut out = String::with_capacity(from.yaml.len());
    for line in from.yaml.lines() {
        if line.starts_with("name: ") {
            out.push_str(&format!("name: {name}\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}
