//! Checks on a parsed protocol that types cannot express.

use std::collections::BTreeMap;
use std::fmt;

use super::{BaselineVision, Calibration, DiseaseState, FORMAT, Protocol, Regimen, Row, Targets, YearTargets};

/// One problem in a protocol: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Dotted key path (`disease.transitions.ACTIVE`).
    pub key: String,
    /// The line of that key in the file, when it can be found.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "`{}` (line {line}): {}", self.key, self.message),
            None => write!(f, "`{}`: {}", self.key, self.message),
        }
    }
}

/// Sums of probabilities may be off by rounding in the last digits, no more.
const SUM_TOLERANCE: f64 = 1e-9;

struct Checker<'a> {
    text: &'a str,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn fail(&mut self, key: &str, message: impl Into<String>) {
        self.problems.push(Problem { key: key.to_string(), line: line_of(self.text, key), message: message.into() });
    }

    fn probability(&mut self, key: &str, value: f64) {
        if !(0.0..=1.0).contains(&value) {
            self.fail(key, format!("must be a probability between 0 and 1, not {value}"));
        }
    }

    fn non_negative(&mut self, key: &str, value: f64) {
        if !(value >= 0.0 && value.is_finite()) {
            self.fail(key, format!("must be 0 or more, not {value}"));
        }
    }

    fn positive(&mut self, key: &str, value: f64) {
        if !(value > 0.0 && value.is_finite()) {
            self.fail(key, format!("must be more than 0, not {value}"));
        }
    }

    fn at_most(&mut self, key: &str, low_name: &str, low: f64, high_name: &str, high: f64) {
        if low > high {
            self.fail(key, format!("`{low_name}` ({low}) is more than `{high_name}` ({high})"));
        }
    }

    /// A row of probabilities that must sum to 1.
    fn distribution(&mut self, key: &str, row: &Row) {
        for (state, p) in row {
            self.probability(&format!("{key}.{}", state.as_str()), *p);
        }
        let sum: f64 = row.values().sum();
        if (sum - 1.0).abs() > SUM_TOLERANCE {
            self.fail(key, format!("probabilities sum to {sum}, not 1"));
        }
    }

    /// A map that must have exactly the states `wanted`.
    fn states<V>(&mut self, key: &str, map: &BTreeMap<DiseaseState, V>, wanted: &[DiseaseState]) {
        for s in wanted {
            if !map.contains_key(s) {
                self.fail(key, format!("has no entry for {}", s.as_str()));
            }
        }
        for s in map.keys().filter(|s| !wanted.contains(s)) {
            self.fail(&format!("{key}.{}", s.as_str()), "is never used by the engine; remove it");
        }
    }
}

const TREATABLE: [DiseaseState; 3] = [DiseaseState::Stable, DiseaseState::Active, DiseaseState::HighlyActive];

impl Protocol {
    /// Every problem with the protocol's values; `text` is its YAML, used to find lines.
    pub fn validate(&self, text: &str) -> Vec<Problem> {
        let mut c = Checker { text, problems: Vec::new() };
        if self.format != FORMAT {
            c.fail("format", format!("this cohort reads `{FORMAT}`, not `{}`", self.format));
        }
        if self.name.trim().is_empty() {
            c.fail("name", "is empty");
        }

        let t = &self.treatment;
        if t.loading_injections > 0 && t.loading_interval_days == 0 {
            c.fail("treatment.loading_interval_days", "must be more than 0 when there are loading injections");
        }
        if t.min_interval_days == 0 {
            c.fail("treatment.min_interval_days", "must be more than 0");
        }
        if t.first_maintenance_interval_days == Some(0) {
            c.fail("treatment.first_maintenance_interval_days", "must be more than 0");
        }
        c.at_most(
            "treatment.min_interval_days",
            "min_interval_days",
            t.min_interval_days.into(),
            "max_interval_days",
            t.max_interval_days.into(),
        );
        if t.regimen == Regimen::Fixed
            && (t.min_interval_days != t.max_interval_days || t.extension_days != 0 || t.shortening_days != 0)
        {
            c.fail(
                "treatment.regimen",
                "a fixed regimen has one interval: set min_interval_days = max_interval_days and \
                 extension_days = shortening_days = 0",
            );
        }

        let p = &self.population;
        c.non_negative("population.age.sd", p.age.sd);
        c.at_most("population.age", "min", p.age.min, "max", p.age.max);
        c.probability("population.female_probability.base", p.female_probability.base);
        c.probability("population.female_probability.max", p.female_probability.max);
        c.positive("population.female_probability.scale_years", p.female_probability.scale_years);
        match &p.baseline_vision {
            BaselineVision::Normal { sd, min, max, .. } => {
                c.non_negative("population.baseline_vision.sd", *sd);
                c.at_most("population.baseline_vision", "min", *min, "max", *max);
            }
            BaselineVision::Uniform { min, max } => c.at_most("population.baseline_vision", "min", *min, "max", *max),
            BaselineVision::BetaWithThreshold { alpha, beta, min, max, threshold, threshold_reduction } => {
                c.positive("population.baseline_vision.alpha", *alpha);
                c.positive("population.baseline_vision.beta", *beta);
                c.at_most("population.baseline_vision", "min", *min, "max", *max);
                c.probability("population.baseline_vision.threshold_reduction", *threshold_reduction);
                if threshold < min || threshold > max {
                    c.fail("population.baseline_vision.threshold", format!("{threshold} is outside [{min}, {max}]"));
                }
            }
        }

        let d = &self.disease;
        if d.update_interval_days == 0 {
            c.fail("disease.update_interval_days", "must be more than 0");
        }
        c.states("disease.transitions", &d.transitions, &DiseaseState::ALL);
        for (state, row) in &d.transitions {
            c.distribution(&format!("disease.transitions.{}", state.as_str()), row);
        }
        c.positive("disease.efficacy_half_life_days", d.efficacy_half_life_days);
        c.states("disease.treatment_multipliers", &d.treatment_multipliers, &TREATABLE);
        for (state, row) in &d.treatment_multipliers {
            for (target, m) in row {
                c.non_negative(&format!("disease.treatment_multipliers.{}.{}", state.as_str(), target.as_str()), *m);
            }
        }

        let v = &self.vision;
        c.non_negative("vision.measurement_noise_sd", v.measurement_noise_sd);
        if v.treatment_effect.is_empty() {
            c.fail("vision.treatment_effect", "needs at least one point");
        }
        for pair in v.treatment_effect.windows(2) {
            let ((d0, e0), (d1, e1)) = (pair[0], pair[1]);
            if d1 <= d0 {
                c.fail("vision.treatment_effect", format!("days must increase ({d0} then {d1})"));
            }
            if e1 > e0 {
                c.fail("vision.treatment_effect", format!("the effect must not grow with time ({e0} then {e1})"));
            }
        }
        for (_, e) in &v.treatment_effect {
            c.probability("vision.treatment_effect", *e);
        }
        if let Some((_, last)) = v.treatment_effect.last()
            && *last != 0.0
        {
            c.fail("vision.treatment_effect", "the last point must have effect 0 (the effect is 0 after it)");
        }
        let imp = &v.improvement;
        for (state, prob) in &imp.probability {
            c.probability(&format!("vision.improvement.probability.{}", state.as_str()), *prob);
        }
        let improvable: Vec<DiseaseState> = imp.probability.keys().copied().collect();
        if imp.probability.contains_key(&DiseaseState::Naive) {
            c.fail("vision.improvement.probability.NAIVE", "naive disease never improves; remove it");
        }
        c.states("vision.improvement.gain", &imp.gain, &improvable);
        for (state, gain) in &imp.gain {
            c.non_negative(&format!("vision.improvement.gain.{}.sd", state.as_str()), gain.sd);
        }
        if imp.max_fortnights == 0 {
            c.fail("vision.improvement.max_fortnights", "must be more than 0");
        }
        c.probability("vision.improvement.min_effect", imp.min_effect);
        c.states("vision.decline", &v.decline, &DiseaseState::ALL);
        for (state, decline) in &v.decline {
            c.non_negative(&format!("vision.decline.{}.untreated.sd", state.as_str()), decline.untreated.sd);
            c.non_negative(&format!("vision.decline.{}.treated.sd", state.as_str()), decline.treated.sd);
        }
        let h = &v.haemorrhage;
        c.probability("vision.haemorrhage.recent_risk", h.recent_risk);
        c.probability("vision.haemorrhage.medium_risk", h.medium_risk);
        c.probability("vision.haemorrhage.long_risk", h.long_risk);
        c.at_most(
            "vision.haemorrhage.recent_days",
            "recent_days",
            h.recent_days.into(),
            "medium_days",
            h.medium_days.into(),
        );
        c.non_negative("vision.haemorrhage.highly_active_multiplier", h.highly_active_multiplier);
        let worst_risk = h.recent_risk.max(h.medium_risk).max(h.long_risk) * h.highly_active_multiplier;
        if worst_risk > 1.0 {
            c.fail("vision.haemorrhage.highly_active_multiplier", format!("makes a fortnightly risk of {worst_risk}"));
        }
        c.non_negative("vision.haemorrhage.loss_min", h.loss_min);
        c.at_most("vision.haemorrhage.loss_min", "loss_min", h.loss_min, "loss_max", h.loss_max);
        let ceil = &v.ceiling;
        c.positive("vision.ceiling.baseline_factor", ceil.baseline_factor);
        for (key, value) in [
            ("vision.ceiling.default", ceil.default),
            ("vision.ceiling.high_baseline", ceil.high_baseline),
            ("vision.ceiling.low_baseline", ceil.low_baseline),
        ] {
            if !(0.0..=100.0).contains(&value) {
                c.fail(key, format!("must be between 0 and 100 letters, not {value}"));
            }
        }
        c.at_most(
            "vision.ceiling.low_baseline_below",
            "low_baseline_below",
            ceil.low_baseline_below,
            "high_baseline_above",
            ceil.high_baseline_above,
        );

        let disc = &self.discontinuation;
        c.positive("discontinuation.mortality.hazard_ratio", disc.mortality.hazard_ratio);
        if let Some(super::MortalityExposure::MeanPastInterval { default_visits_per_year }) = disc.mortality.exposure {
            c.positive(
                "discontinuation.mortality.exposure.mean_past_interval.default_visits_per_year",
                default_visits_per_year,
            );
        }
        for (sex, table) in
            [("male", &disc.mortality.annual_probability.male), ("female", &disc.mortality.annual_probability.female)]
        {
            let key = format!("discontinuation.mortality.annual_probability.{sex}");
            if table.is_empty() {
                c.fail(&key, "has no ages");
            }
            for (age, prob) in table {
                if !(0.0..1.0).contains(prob) {
                    c.fail(&key, format!("age {age}: {prob} is not a probability below 1"));
                }
            }
        }
        c.probability("discontinuation.poor_vision.probability", disc.poor_vision.probability);
        c.probability("discontinuation.deterioration.probability", disc.deterioration.probability);
        c.non_negative("discontinuation.deterioration.loss_letters", disc.deterioration.loss_letters);
        c.probability(
            "discontinuation.stable_treatment_decision.probability",
            disc.stable_treatment_decision.probability,
        );
        c.probability("discontinuation.no_improvement_decision.probability", disc.no_improvement_decision.probability);
        for (key, n) in [
            ("discontinuation.poor_vision.consecutive_visits", disc.poor_vision.consecutive_visits),
            ("discontinuation.deterioration.consecutive_visits", disc.deterioration.consecutive_visits),
            (
                "discontinuation.stable_treatment_decision.consecutive_visits",
                disc.stable_treatment_decision.consecutive_visits,
            ),
            ("discontinuation.no_improvement_decision.visits", disc.no_improvement_decision.visits),
        ] {
            if n == 0 {
                c.fail(key, "must be at least 1");
            }
        }
        let a = &disc.attrition;
        c.probability("discontinuation.attrition.per_visit", a.per_visit);
        let factors = [
            ("discontinuation.attrition.time_factors.months_0_12", a.time_factors.months_0_12),
            ("discontinuation.attrition.time_factors.months_12_24", a.time_factors.months_12_24),
            ("discontinuation.attrition.time_factors.months_24_plus", a.time_factors.months_24_plus),
            ("discontinuation.attrition.burden_factors.injections_0_6", a.burden_factors.injections_0_6),
            ("discontinuation.attrition.burden_factors.injections_6_12", a.burden_factors.injections_6_12),
            ("discontinuation.attrition.burden_factors.injections_12_plus", a.burden_factors.injections_12_plus),
        ];
        for (key, f) in factors {
            c.non_negative(key, f);
        }
        let worst_time = factors[..3].iter().map(|f| f.1).fold(0.0, f64::max);
        let worst_burden = factors[3..].iter().map(|f| f.1).fold(0.0, f64::max);
        if a.per_visit * worst_time * worst_burden > 1.0 {
            c.fail("discontinuation.attrition", "per_visit times the largest factors exceeds 1");
        }
        c.probability("discontinuation.administrative.per_visit", disc.administrative.per_visit);

        let m = &self.monitoring;
        for (key, weeks) in
            [("monitoring.planned_weeks", &m.planned_weeks), ("monitoring.unplanned_weeks", &m.unplanned_weeks)]
        {
            if m.enabled && weeks.is_empty() {
                c.fail(key, "needs at least one week when monitoring is enabled");
            }
            if weeks.first() == Some(&0) || weeks.windows(2).any(|w| w[1] <= w[0]) {
                c.fail(key, "weeks must be more than 0 and increase");
            }
        }
        c.probability("monitoring.recurrence_detection_probability", m.recurrence_detection_probability);
        c.probability("monitoring.retreatment_probability", m.retreatment_probability);
        c.non_negative("monitoring.retreatment_min_loss_letters", m.retreatment_min_loss_letters);
        if let Some(targets) = &self.targets {
            check_targets(&mut c, targets);
        }
        if let Some(calibration) = &self.calibration {
            self.check_calibration(&mut c, calibration);
        }
        c.problems
    }

    /// Why the engine never reads parameter `key` under this protocol's other settings, if it
    /// does not: freeing it would let a search wander without effect.
    fn unused_by_engine(&self, key: &str) -> Option<&'static str> {
        let t = &self.treatment;
        let under = |prefix: &str| key == prefix || key.starts_with(&format!("{prefix}."));
        if under("monitoring") && !self.monitoring.enabled {
            return Some("monitoring is off (`monitoring.enabled: false`)");
        }
        if (under("treatment.extension_days") || under("treatment.shortening_days")) && t.regimen == Regimen::Fixed {
            return Some("a fixed regimen neither extends nor shortens its interval");
        }
        if under("treatment.shortening_days")
            && t.regimen == Regimen::TreatAndExtend
            && t.rule() == super::InjectionRule::SkipWhenStable
        {
            return Some("under `skip_when_stable` every injection resets the interval to the minimum");
        }
        if (under("treatment.loading_interval_days") || under("treatment.first_maintenance_interval_days"))
            && t.loading_injections == 0
        {
            return Some("there are no loading injections");
        }
        None
    }

    fn check_calibration(&self, c: &mut Checker, calibration: &Calibration) {
        if calibration.free.is_empty() {
            c.fail("calibration.free", "names no parameter: list at least one, with its bounds");
        }
        if self.targets.is_none() {
            c.fail("calibration", "there are no `targets` to calibrate to");
        }
        let values = serde_json::to_value(self).expect("a protocol serialises");
        let mut seen = std::collections::BTreeSet::new();
        for free in &calibration.free {
            let key = free.parameter.as_str();
            if !seen.insert(key) {
                c.fail("calibration.free", format!("`{key}` is listed twice"));
            }
            if key.starts_with("targets") || key.starts_with("calibration") || key.starts_with("format") {
                c.fail("calibration.free", format!("`{key}` is not a model parameter"));
                continue;
            }
            if key.starts_with("disease.transitions") {
                c.fail(
                    "calibration.free",
                    format!(
                        "`{key}`: a transition probability cannot move alone (each row sums to 1); free a \
                         `disease.treatment_multipliers` entry instead"
                    ),
                );
                continue;
            }
            if let Some(why) = self.unused_by_engine(key) {
                c.fail("calibration.free", format!("`{key}` does not change what is simulated here: {why}"));
                continue;
            }
            match parameter_value(&values, key) {
                Some(current) => {
                    if free.min >= free.max || free.min.is_nan() || free.max.is_nan() {
                        c.fail(
                            "calibration.free",
                            format!("`{key}`: bounds must have min below max, not [{}, {}]", free.min, free.max),
                        );
                    } else if !(free.min..=free.max).contains(&current) {
                        c.fail(
                            "calibration.free",
                            format!("`{key}` is {current}, outside its bounds [{}, {}]", free.min, free.max),
                        );
                    }
                }
                None => c.fail(
                    "calibration.free",
                    format!(
                        "`{key}` is not a number in this protocol, so the engine has no such parameter to move \
                         (a dotted key path such as `vision.improvement.probability.ACTIVE`)"
                    ),
                ),
            }
        }
    }
}

/// Targets that cannot be met by any simulation: bad tolerances, impossible values, years out of
/// order, cumulative figures that fall.
fn check_targets(c: &mut Checker, targets: &Targets) {
    if targets.years.is_empty() && targets.reference_run.is_none() {
        c.fail("targets", "has no target: give `years`, a `reference_run`, or both");
    }
    if let Some(run) = &targets.reference_run {
        check_reference_run(c, run);
    }
    let mut previous: Option<&YearTargets> = None;
    for y in &targets.years {
        let at = |what: &str| format!("year {}: {what}", y.year);
        if y.year == 0 {
            c.fail("targets.years", "years of follow-up start at 1");
        }
        if let Some(p) = previous
            && p.year >= y.year
        {
            c.fail("targets.years", at("years must be listed once each, in ascending order"));
        }
        let given =
            [("vision_change", y.vision_change), ("injections", y.injections), ("discontinued", y.discontinued)];
        if given.iter().all(|(_, t)| t.is_none()) {
            c.fail("targets.years", at("has no target: give vision_change, injections or discontinued"));
        }
        for (name, target) in given {
            let Some(t) = target else { continue };
            if !(t.tolerance > 0.0 && t.tolerance.is_finite()) {
                c.fail(
                    "targets.years",
                    at(&format!("the tolerance of `{name}` must be more than 0, not {}", t.tolerance)),
                );
            }
            let possible = match name {
                "vision_change" => (-100.0..=100.0).contains(&t.value),
                "injections" => t.value >= 0.0 && t.value <= f64::from(y.year) * 27.0,
                _ => (0.0..=1.0).contains(&t.value),
            };
            if !possible {
                c.fail("targets.years", at(&format!("`{name}` cannot be {}", t.value)));
            }
        }
        // Injections and stops accumulate: a later year's target cannot lie wholly below an
        // earlier one's.
        if let Some(p) = previous {
            for (name, before, now) in
                [("injections", p.injections, y.injections), ("discontinued", p.discontinued, y.discontinued)]
            {
                if let (Some(b), Some(n)) = (before, now)
                    && n.value + n.tolerance < b.value - b.tolerance
                {
                    c.fail(
                        "targets.years",
                        format!(
                            "`{name}` counts from enrolment, so it cannot fall from {} in year {} to {} in year {}",
                            b.value, p.year, n.value, y.year
                        ),
                    );
                }
            }
        }
        previous = Some(y);
    }
}

/// A reference run that no run can be compared with.
fn check_reference_run(c: &mut Checker, run: &super::ReferenceRun) {
    if run.patients == 0 {
        c.fail("targets.reference_run.patients", "must be more than 0");
    }
    c.positive("targets.reference_run.years", run.years);
    let figures = [
        ("visits_per_patient", run.visits_per_patient, 0.0..=1e4),
        ("injections_per_patient", run.injections_per_patient, 0.0..=1e4),
        ("discontinued", run.discontinued, 0.0..=1.0),
        ("baseline_vision", run.baseline_vision, 0.0..=100.0),
        ("final_vision", run.final_vision, 0.0..=100.0),
    ];
    let mix = run.discontinuation_mix.iter().map(|(name, t)| (name.as_str(), Some(*t), 0.0..=1.0));
    let names: Vec<&str> = crate::engine::DiscontinuationType::ALL.iter().map(|t| t.as_str()).collect();
    for (name, target, possible) in figures.into_iter().chain(mix) {
        let Some(t) = target else { continue };
        let key = format!("targets.reference_run.{name}");
        if run.discontinuation_mix.contains_key(name) && !names.contains(&name) {
            c.fail(
                "targets.reference_run.discontinuation_mix",
                format!("`{name}` is not a discontinuation type; they are {}", names.join(", ")),
            );
        }
        if !(t.tolerance > 0.0 && t.tolerance.is_finite()) {
            c.fail(&key, format!("the tolerance must be more than 0, not {}", t.tolerance));
        }
        if !possible.contains(&t.value) {
            c.fail(&key, format!("cannot be {}", t.value));
        }
    }
}

/// The number at dotted `key` in a protocol's JSON form (map keys, or list positions).
pub(crate) fn parameter_value(values: &serde_json::Value, key: &str) -> Option<f64> {
    values.pointer(&json_pointer(key))?.as_f64()
}

/// The JSON pointer of a dotted key path (`vision.treatment_effect.1.0` is
/// `/vision/treatment_effect/1/0`).
pub(crate) fn json_pointer(key: &str) -> String {
    key.split('.').map(|segment| format!("/{}", segment.replace('~', "~0").replace('/', "~1"))).collect()
}

/// The 1-based line of the dotted `key` in block-style YAML `text`: each segment is looked for as
/// `segment:` at the start of a line more indented than its parent's. Stops at the deepest
/// segment found (keys inside a flow map share their parent's line).
pub(crate) fn line_of(text: &str, key: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found: Option<usize> = None;
    let mut indent: Option<usize> = None;
    let mut start = 0;
    for segment in key.split('.') {
        let wanted = format!("{segment}:");
        let hit = lines.iter().enumerate().skip(start).find_map(|(i, line)| {
            let trimmed = line.trim_start();
            let this_indent = line.len() - trimmed.len();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                return None;
            }
            if let Some(parent) = indent
                && this_indent <= parent
            {
                // Left the parent's block without finding the segment.
                return Some(None);
            }
            trimmed.starts_with(&wanted).then_some(Some((i, this_indent)))
        });
        match hit.flatten() {
            Some((i, this_indent)) => {
                found = Some(i + 1);
                indent = Some(this_indent);
                start = i + 1;
            }
            None => break,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::line_of;

    const YAML: &str = "a: 1\nb:\n  c:\n    d: 2\n  e: {f: 1}\ng: 3\n";

    #[test]
    fn lines_of_keys() {
        assert_eq!(line_of(YAML, "a"), Some(1));
        assert_eq!(line_of(YAML, "b.c.d"), Some(4));
        assert_eq!(line_of(YAML, "b.e.f"), Some(5));
        assert_eq!(line_of(YAML, "g"), Some(6));
        assert_eq!(line_of(YAML, "b.g"), Some(2));
        assert_eq!(line_of(YAML, "zzz"), None);
    }
}
