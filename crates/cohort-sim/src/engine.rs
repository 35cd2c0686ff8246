//! One patient's course, from enrolment to the horizon: the fortnightly process, visits,
//! treatment decisions, discontinuation, monitoring and retreatment (amd-model.md).
//!
//! Where the specification leaves an order or a detail open, this engine decides as follows:
//! - on a day that is both a fortnightly update and a visit, the update comes first;
//! - after the last loading injection the next visit is `first_maintenance_interval_days` (by
//!   default `min_interval_days`) later;
//! - "visits without improvement" are counted in a row, reset by any improvement;
//! - monitoring visits check no discontinuation (the patient has already stopped); a monitored
//!   patient not retreated by the last monitoring visit leaves the simulation;
//! - the disease and vision of a monitored patient evolve with no treatment effect.
//!
//! Every draw comes from the patient's own stream, in a fixed order, so a patient's history
//! depends only on the protocol, the run parameters and (seed, patient index).

use std::collections::VecDeque;

use jiff::civil::{Date, Weekday};
use rand::RngExt;
use rand_distr::{Distribution, Normal};

use crate::disease::{Transitions, efficacy};
use crate::population::{Baseline, draw_baseline, standard_normal};
use crate::protocol::{BurdenMeasure, DiseaseState, InjectionRule, MortalityExposure, Protocol, Regimen};
use crate::random::{SimRng, patient_rng};
use crate::vision::{ceiling, decline, haemorrhage_risk, may_start_improvement, treatment_effect};

/// Why a patient stopped treatment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DiscontinuationType {
    /// Died.
    Death,
    /// Vision below the threshold for too long.
    PoorVision,
    /// Sustained loss from baseline.
    Deterioration,
    /// Stable for long enough (a planned stop).
    StableTreatmentDecision,
    /// No improvement seen.
    NoImprovementDecision,
    /// Lost to follow-up.
    Attrition,
    /// Other reasons.
    Administrative,
}

impl DiscontinuationType {
    /// Every type, in the order the rules are checked.
    pub const ALL: [DiscontinuationType; 7] = [
        DiscontinuationType::Death,
        DiscontinuationType::PoorVision,
        DiscontinuationType::Deterioration,
        DiscontinuationType::StableTreatmentDecision,
        DiscontinuationType::NoImprovementDecision,
        DiscontinuationType::Attrition,
        DiscontinuationType::Administrative,
    ];

    /// The type's name in output.
    pub fn as_str(self) -> &'static str {
        match self {
            DiscontinuationType::Death => "death",
            DiscontinuationType::PoorVision => "poor_vision",
            DiscontinuationType::Deterioration => "deterioration",
            DiscontinuationType::StableTreatmentDecision => "stable_treatment_decision",
            DiscontinuationType::NoImprovementDecision => "no_improvement_decision",
            DiscontinuationType::Attrition => "attrition",
            DiscontinuationType::Administrative => "administrative",
        }
    }
}

/// What a visit was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The first injections, at the loading interval.
    Loading,
    /// Treatment after loading.
    Maintenance,
    /// A check after stopping.
    Monitoring,
    /// Loading again after a recurrence.
    RetreatmentLoading,
}

impl Phase {
    /// The phase's name in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Loading => "loading",
            Phase::Maintenance => "maintenance",
            Phase::Monitoring => "monitoring",
            Phase::RetreatmentLoading => "retreatment_loading",
        }
    }
}

/// One visit, as written to the `visits` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Visit {
    /// 1-based patient number.
    pub patient_id: i64,
    /// 1-based visit number for the patient.
    pub visit_number: i32,
    /// Days since the simulation start.
    pub day: i32,
    /// Days since the patient's enrolment.
    pub days_since_enrolment: i32,
    /// Days since the previous visit (none for the first).
    pub interval_days: Option<i32>,
    /// What the visit was for.
    pub phase: Phase,
    /// Disease state at the visit.
    pub disease_state: DiseaseState,
    /// Measured vision (letters).
    pub vision: f64,
    /// Underlying vision (letters).
    pub vision_actual: f64,
    /// Whether an injection was given.
    pub injected: bool,
    /// Injections so far, this one included.
    pub cumulative_injections: i32,
    /// Days to the next scheduled visit (none when there is none).
    pub next_interval_days: Option<i32>,
    /// Why treatment stopped at this visit, if it did.
    pub discontinuation: Option<DiscontinuationType>,
    /// Whether the visit belongs to a retreatment.
    pub is_retreatment_visit: bool,
    /// The cohort-flow category of the visit.
    pub treatment_state: &'static str,
}

/// One patient, as written to the `patients` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Patient {
    /// 1-based patient number.
    pub patient_id: i64,
    /// Day of enrolment since the simulation start.
    pub enrolment_day: i32,
    /// Age at enrolment.
    pub age: f64,
    /// Whether female.
    pub female: bool,
    /// Vision at enrolment.
    pub baseline_vision: f64,
    /// Last measured vision (baseline if never seen).
    pub final_vision: f64,
    /// Disease state at the last visit.
    pub final_disease_state: DiseaseState,
    /// Visits recorded.
    pub total_visits: i32,
    /// Injections given.
    pub total_injections: i32,
    /// The (last) discontinuation, if any.
    pub discontinuation: Option<(i32, DiscontinuationType, f64)>,
    /// Times treatment restarted after a recurrence.
    pub retreatment_count: i32,
    /// Whether the patient died.
    pub died: bool,
}

/// A run's fixed inputs, prepared once and shared by every patient.
#[derive(Debug, Clone)]
pub struct Model {
    protocol: Protocol,
    transitions: Transitions,
    start: Date,
    /// Monday = 0 ... Sunday = 6, of `start`.
    start_weekday: u32,
    horizon: u32,
    seed: u64,
    noise: Normal<f64>,
    /// Annual probability of death by whole year of age, [male, female], up to the table's last age.
    death_by_age: [Vec<f64>; 2],
    /// Treatment efficacy on transitions by whole days since an injection, over the horizon.
    efficacy_by_day: Vec<f64>,
}

impl Model {
    /// Prepares a run of `protocol` from `start` for `horizon` days with `seed`.
    pub fn new(protocol: Protocol, start: Date, horizon: u32, seed: u64) -> Self {
        let transitions = Transitions::new(&protocol.disease);
        let noise = Normal::new(0.0, protocol.vision.measurement_noise_sd).expect("validated noise");
        let start_weekday = start.weekday().to_monday_zero_offset() as u32;
        let life = &protocol.discontinuation.mortality.annual_probability;
        let death_by_age = [by_age(&life.male), by_age(&life.female)];
        let half_life = protocol.disease.efficacy_half_life_days;
        let efficacy_by_day = (0..=horizon).map(|d| efficacy(Some(d), half_life)).collect();
        Model { protocol, transitions, start, start_weekday, horizon, seed, noise, death_by_age, efficacy_by_day }
    }

    /// The protocol.
    pub fn protocol(&self) -> &Protocol {
        &self.protocol
    }

    /// The first day of the simulation.
    pub fn start(&self) -> Date {
        self.start
    }

    /// The horizon in days.
    pub fn horizon(&self) -> u32 {
        self.horizon
    }

    fn weekday(&self, day: u32) -> Weekday {
        Weekday::from_monday_zero_offset(((self.start_weekday + day) % 7) as i8).expect("0..7 is a weekday")
    }

    /// The first visit: the enrolment day, or the next weekday if it is a weekend.
    fn first_visit_day(&self, day: u32) -> u32 {
        match self.weekday(day) {
            Weekday::Saturday if !self.protocol.treatment.weekend_visits => day + 2,
            Weekday::Sunday if !self.protocol.treatment.weekend_visits => day + 1,
            _ => day,
        }
    }

    /// A later visit: moved back to Friday if it falls on a weekend (not before `not_before`).
    fn later_visit_day(&self, day: u32, not_before: u32) -> u32 {
        let moved = match self.weekday(day) {
            Weekday::Saturday if !self.protocol.treatment.weekend_visits => day - 1,
            Weekday::Sunday if !self.protocol.treatment.weekend_visits => day - 2,
            _ => day,
        };
        moved.max(not_before)
    }

    /// Annual probability of death for a `female` patient aged `age`, from the life table (ages
    /// past its last row use the last row; before its first, the first).
    fn annual_death_probability(&self, female: bool, age: f64) -> f64 {
        let table = &self.death_by_age[usize::from(female)];
        let age = (age.floor().max(0.0) as usize).min(table.len().saturating_sub(1));
        table.get(age).copied().unwrap_or(0.0)
    }

    /// Simulates patient `index` (0-based) enrolled on `enrolment_day`, appending its visits.
    pub fn simulate(&self, index: u64, enrolment_day: u32, visits: &mut Vec<Visit>) -> Patient {
        let mut rng = patient_rng(self.seed, index);
        let baseline = draw_baseline(&self.protocol.population, &mut rng);
        let mut p = PatientState::new(index, enrolment_day, baseline, &self.protocol);
        let mut next_visit = Some(self.first_visit_day(enrolment_day));
        let interval = self.protocol.disease.update_interval_days.max(1);
        let mut updated_through = enrolment_day;
        while let Some(day) = next_visit.filter(|d| *d < self.horizon) {
            // Fortnightly updates on the global grid up to and including the visit day.
            let mut grid = (updated_through / interval + 1) * interval;
            while grid <= day {
                if grid > enrolment_day {
                    self.fortnight(&mut p, grid, &mut rng);
                }
                grid += interval;
            }
            updated_through = day;
            next_visit = self.visit(&mut p, day, &mut rng, visits);
        }
        p.into_patient()
    }

    fn fortnight(&self, p: &mut PatientState, day: u32, rng: &mut SimRng) {
        let monitored = p.phase == Phase::Monitoring;
        let since = if monitored { None } else { p.last_injection.map(|d| day - d) };
        let e = match since {
            Some(d) => self
                .efficacy_by_day
                .get(d as usize)
                .copied()
                .unwrap_or_else(|| efficacy(Some(d), self.protocol.disease.efficacy_half_life_days)),
            None => 0.0,
        };
        let before = p.state;
        p.state = self.transitions.next(p.state, e, rng.random::<f64>());
        if monitored
            && matches!(p.state, DiseaseState::Active | DiseaseState::HighlyActive)
            && !matches!(before, DiseaseState::Active | DiseaseState::HighlyActive)
        {
            p.recurred = true;
        }

        let vision = &self.protocol.vision;
        let v = treatment_effect(&vision.treatment_effect, since);
        let gain = vision.improvement.gain.get(&p.state);
        if let Some(g) = gain.filter(|_| p.improving > 0) {
            p.actual += (g.mean + g.sd * standard_normal(rng)).max(0.0);
            p.improving -= 1;
        } else if may_start_improvement(&vision.improvement, p.state, p.injections, since, v)
            && rng.random::<f64>() < vision.improvement.probability[&p.state]
        {
            let g = gain.expect("validation gives every improvable state a gain");
            p.actual += (g.mean + g.sd * standard_normal(rng)).max(0.0);
            p.improving = vision.improvement.max_fortnights - 1;
        } else {
            p.improving = 0;
            let d = decline(&vision.decline[&p.state], v);
            p.actual += d.mean + d.sd * standard_normal(rng);
        }
        let risk = haemorrhage_risk(&vision.haemorrhage, p.state, since);
        if risk > 0.0 && rng.random::<f64>() < risk {
            p.actual -= rng.random_range(vision.haemorrhage.loss_min..=vision.haemorrhage.loss_max);
        }
        p.actual = p.actual.clamp(0.0, p.ceiling);
    }

    /// Records a visit on `day` and returns the day of the next one, if any.
    fn visit(&self, p: &mut PatientState, day: u32, rng: &mut SimRng, visits: &mut Vec<Visit>) -> Option<u32> {
        let t = &self.protocol.treatment;
        let interval = p.last_visit.map(|d| day - d);
        let measured = (p.actual + self.noise.sample(rng)).round().clamp(0.0, 100.0);
        let phase = p.phase;
        let mut injected = false;
        let mut stopped = None;
        let mut retreatment_visit = p.retreating;
        let next: Option<u32>;

        if phase == Phase::Monitoring {
            let m = &self.protocol.monitoring;
            let detected = p.recurred && rng.random::<f64>() < m.recurrence_detection_probability;
            let lost = p.vision_at_stop - measured >= m.retreatment_min_loss_letters;
            if detected && lost && rng.random::<f64>() < m.retreatment_probability {
                p.retreatment_count += 1;
                p.retreating = true;
                retreatment_visit = true;
                p.phase = Phase::RetreatmentLoading;
                p.loading_given = 0;
                p.recurred = false;
                injected = true;
                next = Some(self.after_injection(p, day));
            } else {
                // No next monitoring day means the patient leaves the simulation.
                p.monitoring_visit += 1;
                next = p.monitoring_days.get(p.monitoring_visit).copied();
            }
        } else if let Some(kind) = self.discontinuation(p, day, interval, measured, rng) {
            stopped = Some(kind);
            p.stop(kind, day, measured, &self.protocol);
            next = p.monitoring_days.first().copied();
            if kind == DiscontinuationType::Death {
                p.died = true;
            }
        } else {
            injected = match phase {
                Phase::Loading | Phase::RetreatmentLoading => true,
                _ => t.rule() == InjectionRule::EveryVisit || p.state != DiseaseState::Stable,
            };
            next = Some(if injected { self.after_injection(p, day) } else { self.after_no_injection(p, day) });
        }

        if injected {
            p.injections += 1;
            p.last_injection = Some(day);
        }
        let next = next.map(|n| self.later_visit_day(n, day + 1));
        p.visit_number += 1;
        let treatment_state = p.flow_category(interval, phase);
        visits.push(Visit {
            patient_id: p.id,
            visit_number: p.visit_number,
            day: day as i32,
            days_since_enrolment: (day - p.enrolment_day) as i32,
            interval_days: interval.map(|i| i as i32),
            phase,
            disease_state: p.state,
            vision: measured,
            vision_actual: p.actual,
            injected,
            cumulative_injections: p.injections as i32,
            next_interval_days: next.map(|n| (n - day) as i32),
            discontinuation: stopped,
            is_retreatment_visit: retreatment_visit,
            treatment_state,
        });
        p.after_visit(measured, day, injected);
        next
    }

    /// The first discontinuation rule that fires at this visit, where vision measured
    /// `measured`, in priority order. Runs of visits (below the poor-vision threshold, with a
    /// loss from baseline) count this visit's measurement.
    fn discontinuation(
        &self,
        p: &PatientState,
        day: u32,
        interval: Option<u32>,
        measured: f64,
        rng: &mut SimRng,
    ) -> Option<DiscontinuationType> {
        use DiscontinuationType::*;
        let d = &self.protocol.discontinuation;
        let years_enrolled = f64::from(day - p.enrolment_day) / 365.25;
        let exposure_days = match d.mortality.exposure {
            None | Some(MortalityExposure::SinceLastVisit) => interval.map(f64::from),
            Some(MortalityExposure::MeanPastInterval { default_visits_per_year }) => {
                Some(match (p.first_visit, p.last_visit) {
                    (Some(first), Some(last)) if p.visit_number >= 2 => {
                        f64::from(last - first) / f64::from(p.visit_number - 1)
                    }
                    _ => 365.25 / default_visits_per_year,
                })
            }
        };
        let death = exposure_days.map_or(0.0, |days| {
            let q = self.annual_death_probability(p.baseline.female, p.baseline.age + years_enrolled);
            let hazard = -(1.0 - q).ln() * d.mortality.hazard_ratio;
            1.0 - (-hazard * days / 365.25).exp()
        });
        let months = years_enrolled * 12.0;
        let a = &d.attrition;
        let time_factor = if months < 12.0 {
            a.time_factors.months_0_12
        } else if months < 24.0 {
            a.time_factors.months_12_24
        } else {
            a.time_factors.months_24_plus
        };
        let per_year = match a.burden_measure {
            None | Some(BurdenMeasure::InjectionsLastYear) => {
                Some(p.recent_visits.iter().filter(|(v, injected)| *injected && day - v < 365).count() as f64)
            }
            Some(BurdenMeasure::AnnualisedRate) => {
                // Visits are kept in day order: the window's first and last are its ends.
                let mut window = p.recent_visits.iter().filter(|(v, _)| day - v <= 365);
                let first = window.next().map(|(v, injected)| (*v, usize::from(*injected)));
                first.and_then(|(first, injected)| {
                    let (last, injections) =
                        window.fold((first, injected), |(_, n), (v, injected)| (*v, n + usize::from(*injected)));
                    (last > first).then(|| injections as f64 / (f64::from(last - first) / 365.25))
                })
            }
        };
        let burden = match per_year {
            None => 1.0,
            Some(r) if r < 6.0 => a.burden_factors.injections_0_6,
            Some(r) if r < 12.0 => a.burden_factors.injections_6_12,
            Some(_) => a.burden_factors.injections_12_plus,
        };
        let below_threshold = p.below_threshold_after(measured);
        let with_loss = p.with_loss_after(measured);
        let rules = [
            (Death, death),
            (
                PoorVision,
                if below_threshold >= d.poor_vision.consecutive_visits { d.poor_vision.probability } else { 0.0 },
            ),
            (
                Deterioration,
                if with_loss >= d.deterioration.consecutive_visits { d.deterioration.probability } else { 0.0 },
            ),
            (
                StableTreatmentDecision,
                if p.injections >= d.stable_treatment_decision.min_injections
                    && p.stable_visits >= d.stable_treatment_decision.consecutive_visits
                {
                    d.stable_treatment_decision.probability
                } else {
                    0.0
                },
            ),
            (
                NoImprovementDecision,
                if p.injections >= d.no_improvement_decision.min_injections
                    && p.without_improvement >= d.no_improvement_decision.visits
                {
                    d.no_improvement_decision.probability
                } else {
                    0.0
                },
            ),
            (Attrition, a.per_visit * time_factor * burden),
            (Administrative, d.administrative.per_visit),
        ];
        rules.into_iter().find(|(_, p)| *p > 0.0 && rng.random::<f64>() < *p).map(|(kind, _)| kind)
    }

    /// The next visit day after an injection on `day`.
    fn after_injection(&self, p: &mut PatientState, day: u32) -> u32 {
        let t = &self.protocol.treatment;
        if matches!(p.phase, Phase::Loading | Phase::RetreatmentLoading) {
            p.loading_given += 1;
            if p.loading_given < t.loading_injections {
                return day + t.loading_interval_days;
            }
            p.phase = Phase::Maintenance;
            p.current_interval = t.min_interval_days;
            return day + t.first_maintenance_interval_days.unwrap_or(t.min_interval_days);
        }
        p.current_interval = match t.regimen {
            Regimen::Fixed => t.min_interval_days,
            // Every visit injects: the interval just followed grows when the macula is dry and
            // shrinks when the disease is active.
            Regimen::TreatAndExtend if t.rule() == InjectionRule::EveryVisit => {
                let followed = p.current_interval.clamp(t.min_interval_days, t.max_interval_days);
                match p.state {
                    DiseaseState::Stable => (followed + t.extension_days).min(t.max_interval_days),
                    DiseaseState::Active | DiseaseState::HighlyActive => {
                        followed.saturating_sub(t.shortening_days).max(t.min_interval_days)
                    }
                    DiseaseState::Naive => followed,
                }
            }
            // APE's rule counts the interval from the injection just given, so every injection
            // brings the next visit back to the minimum (and `shortening_days` never acts).
            Regimen::TreatAndExtend => t.min_interval_days,
        };
        day + p.current_interval
    }

    /// The next visit day after a visit on `day` without an injection.
    fn after_no_injection(&self, p: &mut PatientState, day: u32) -> u32 {
        let t = &self.protocol.treatment;
        let current = p.last_injection.map_or(t.min_interval_days, |last| day - last);
        let current = current.clamp(t.min_interval_days, t.max_interval_days);
        p.current_interval = (current + t.extension_days).min(t.max_interval_days);
        day + p.current_interval
    }
}

/// A life table as a list indexed by whole years of age, 0 to its last age: each age takes the
/// row at or before it, ages before the first row take the first.
fn by_age(table: &std::collections::BTreeMap<u32, f64>) -> Vec<f64> {
    let last = table.keys().next_back().copied().unwrap_or(0);
    let first = table.values().next().copied().unwrap_or(0.0);
    (0..=last).map(|age| table.range(..=age).next_back().map_or(first, |(_, p)| *p)).collect()
}

/// Everything that changes during one patient's course.
struct PatientState {
    id: i64,
    enrolment_day: u32,
    baseline: Baseline,
    ceiling: f64,
    state: DiseaseState,
    actual: f64,
    phase: Phase,
    loading_given: u32,
    current_interval: u32,
    injections: u32,
    /// (day, injected) of the visits of about the last year.
    recent_visits: VecDeque<(u32, bool)>,
    last_injection: Option<u32>,
    first_visit: Option<u32>,
    last_visit: Option<u32>,
    visit_number: i32,
    improving: u32,
    stable_visits: u32,
    without_improvement: u32,
    with_loss: u32,
    below_threshold: u32,
    last_measured: Option<f64>,
    restarted_left: u32,
    // Discontinuation, monitoring and retreatment.
    discontinuation: Option<(i32, DiscontinuationType, f64)>,
    vision_at_stop: f64,
    monitoring_days: Vec<u32>,
    monitoring_visit: usize,
    recurred: bool,
    retreating: bool,
    retreatment_count: i32,
    died: bool,
    deterioration_letters: f64,
    poor_vision_letters: f64,
}

impl PatientState {
    fn new(index: u64, enrolment_day: u32, baseline: Baseline, protocol: &Protocol) -> Self {
        PatientState {
            id: index as i64 + 1,
            enrolment_day,
            baseline,
            ceiling: ceiling(&protocol.vision.ceiling, baseline.vision),
            state: DiseaseState::Naive,
            actual: baseline.vision,
            phase: if protocol.treatment.loading_injections > 0 { Phase::Loading } else { Phase::Maintenance },
            loading_given: 0,
            current_interval: protocol.treatment.min_interval_days,
            injections: 0,
            recent_visits: VecDeque::new(),
            last_injection: None,
            first_visit: None,
            last_visit: None,
            visit_number: 0,
            improving: 0,
            stable_visits: 0,
            without_improvement: 0,
            with_loss: 0,
            below_threshold: 0,
            last_measured: None,
            restarted_left: 0,
            discontinuation: None,
            vision_at_stop: 0.0,
            monitoring_days: Vec::new(),
            monitoring_visit: 0,
            recurred: false,
            retreating: false,
            retreatment_count: 0,
            died: false,
            deterioration_letters: protocol.discontinuation.deterioration.loss_letters,
            poor_vision_letters: protocol.discontinuation.poor_vision.below_letters,
        }
    }

    /// Treatment stops at `day`: plan monitoring if the protocol and the reason call for it.
    fn stop(&mut self, kind: DiscontinuationType, day: u32, measured: f64, protocol: &Protocol) {
        use DiscontinuationType::*;
        self.discontinuation = Some((day as i32, kind, measured));
        self.vision_at_stop = measured;
        self.retreating = false;
        let m = &protocol.monitoring;
        let weeks: &[u32] = match kind {
            _ if !m.enabled => &[],
            StableTreatmentDecision => &m.planned_weeks,
            NoImprovementDecision | Deterioration | PoorVision => &m.unplanned_weeks,
            Death | Attrition | Administrative => &[],
        };
        self.monitoring_days = weeks.iter().map(|w| day + w * 7).collect();
        self.monitoring_visit = 0;
        self.recurred = false;
        if !self.monitoring_days.is_empty() {
            self.phase = Phase::Monitoring;
        }
    }

    /// Visits in a row below the poor-vision threshold, counting one that measured `measured`.
    fn below_threshold_after(&self, measured: f64) -> u32 {
        if measured < self.poor_vision_letters { self.below_threshold + 1 } else { 0 }
    }

    /// Visits in a row with the deterioration loss from baseline, counting one that measured
    /// `measured`.
    fn with_loss_after(&self, measured: f64) -> u32 {
        if measured - self.baseline.vision <= -self.deterioration_letters { self.with_loss + 1 } else { 0 }
    }

    /// Counters, updated after each recorded visit.
    fn after_visit(&mut self, measured: f64, day: u32, injected: bool) {
        self.stable_visits = if self.state == DiseaseState::Stable { self.stable_visits + 1 } else { 0 };
        self.without_improvement = match self.last_measured {
            Some(previous) if measured <= previous => self.without_improvement + 1,
            Some(_) => 0,
            None => 0,
        };
        self.with_loss = self.with_loss_after(measured);
        self.below_threshold = self.below_threshold_after(measured);
        self.last_measured = Some(measured);
        self.first_visit.get_or_insert(day);
        self.last_visit = Some(day);
        while self.recent_visits.front().is_some_and(|(d, _)| day - *d > 365) {
            self.recent_visits.pop_front();
        }
        self.recent_visits.push_back((day, injected));
    }

    /// The cohort-flow category of a visit after a gap of `interval` days.
    fn flow_category(&mut self, interval: Option<u32>, phase: Phase) -> &'static str {
        if phase == Phase::Monitoring {
            return "Monitoring";
        }
        let Some(gap) = interval else { return "Initial" };
        if gap > 180 {
            self.restarted_left = 3;
        } else if gap <= 63 && self.restarted_left > 0 {
            self.restarted_left -= 1;
            return "Restarted";
        }
        // By the interval in whole weeks, rounded (a visit moved off a weekend keeps its week),
        // each name stating the weeks it holds.
        match (gap + 3) / 7 {
            0..=5 => "Intensive (up to 5 weeks)",
            6..=9 => "Regular (6-9 weeks)",
            10..=15 => "Extended (10-15 weeks)",
            16 => "Maximum extension (16 weeks)",
            17..=26 => "Gap (17-26 weeks)",
            27..=52 => "Long gap (27-52 weeks)",
            _ => "Very long gap (over 52 weeks)",
        }
    }

    fn into_patient(self) -> Patient {
        Patient {
            patient_id: self.id,
            enrolment_day: self.enrolment_day as i32,
            age: self.baseline.age,
            female: self.baseline.female,
            baseline_vision: self.baseline.vision,
            final_vision: self.last_measured.unwrap_or(self.baseline.vision),
            final_disease_state: self.state,
            total_visits: self.visit_number,
            total_injections: self.injections as i32,
            discontinuation: self.discontinuation,
            retreatment_count: self.retreatment_count,
            died: self.died,
        }
    }
}
