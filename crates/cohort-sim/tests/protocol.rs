//! Protocol files: the built-ins, strictness, validation messages and the canonical hash.

use cohort_sim::protocol::{BUILTINS, Protocol, ProtocolError, Regimen, builtin, editable_copy, resolve};

/// APE's treat-and-extend without its reference run: every key the engine reads, and nothing
/// more, for tests to break one at a time.
fn tae() -> String {
    let yaml = builtin("ape-tae").unwrap().yaml;
    yaml[..yaml.find("\ntargets:").unwrap() + 1].to_string()
}

/// The 1-based line of the first line of `yaml` that contains `needle`.
fn line(yaml: &str, needle: &str) -> usize {
    yaml.lines().position(|l| l.contains(needle)).expect("the needle is in the file") + 1
}

fn parse_error(yaml: &str) -> String {
    match Protocol::from_yaml("p.yaml", yaml) {
        Err(e @ ProtocolError::Parse { .. }) => e.to_string(),
        other => panic!("expected a parse error, got {other:?}"),
    }
}

fn problems(yaml: &str) -> Vec<String> {
    match Protocol::from_yaml("p.yaml", yaml) {
        Err(ProtocolError::Invalid { problems, .. }) => problems.iter().map(|p| p.to_string()).collect(),
        other => panic!("expected validation problems, got {other:?}"),
    }
}

#[test]
fn builtins_load_with_ape_values() {
    let names: Vec<&str> = BUILTINS.iter().map(|b| b.name).collect();
    assert_eq!(names, ["aflibercept-tae", "aflibercept-tnt", "ape-tae", "ape-tnt"]);
    for b in BUILTINS {
        b.load().unwrap();
    }
    let tae = builtin("ape-tae").unwrap().load().unwrap();
    let tnt = builtin("ape-tnt").unwrap().load().unwrap();
    assert_eq!(tae.treatment.regimen, Regimen::TreatAndExtend);
    assert_eq!((tae.treatment.min_interval_days, tae.treatment.max_interval_days), (56, 112));
    assert_eq!((tae.treatment.extension_days, tae.treatment.shortening_days), (14, 14));
    assert_eq!(tnt.treatment.regimen, Regimen::Fixed);
    assert_eq!((tnt.treatment.min_interval_days, tnt.treatment.max_interval_days), (56, 56));
    assert_eq!(tae.discontinuation.mortality.hazard_ratio, 1.36);
    assert_eq!(tae.discontinuation.mortality.annual_probability.male[&50], 0.0024);
    assert_eq!(tae.discontinuation.mortality.annual_probability.female.len(), 51);
    assert_eq!(tae.monitoring.planned_weeks, vec![12, 24, 36]);
    assert_ne!(tae.canonical_sha256(), tnt.canonical_sha256());
}

#[test]
fn unknown_missing_and_mistyped_keys_name_the_key_and_line() {
    let unknown = tae().replace("  weekend_visits: false", "  weekend_visits: false\n  weekend_vists: true");
    let e = parse_error(&unknown);
    assert!(
        e.contains("unknown field `weekend_vists`") && e.contains(&format!("line {}", line(&unknown, "weekend_vists"))),
        "{e}"
    );

    let missing = tae().replace("  extension_days: 14             # when not injected (treat-and-extend)\n", "");
    let e = parse_error(&missing);
    // Reported at the `treatment` mapping's last key.
    let last = line(&missing, "first_maintenance_interval_days");
    assert!(e.contains("missing field `extension_days`") && e.contains(&format!("line {last}")), "{e}");

    let e = parse_error(&tae().replace("loading_injections: 3", "loading_injections: three"));
    assert!(e.contains(&format!("line {}", line(&tae(), "loading_injections: 3"))), "{e}");

    let e = parse_error(&tae().replace("ACTIVE: {STABLE: 0.05, ACTIVE: 0.90", "ACTVE: {STABLE: 0.05, ACTIVE: 0.90"));
    assert!(e.contains("ACTVE"), "{e}");
}

#[test]
fn probabilities_must_sum_to_one_and_lie_in_range() {
    let p = problems(&tae().replace(
        "ACTIVE: {STABLE: 0.05, ACTIVE: 0.90, HIGHLY_ACTIVE: 0.05}",
        "ACTIVE: {STABLE: 0.05, ACTIVE: 0.95, HIGHLY_ACTIVE: 0.05}",
    ));
    let at = line(&tae(), "ACTIVE: {STABLE: 0.05, ACTIVE: 0.90");
    assert_eq!(p, vec![format!("`disease.transitions.ACTIVE` (line {at}): probabilities sum to 1.05, not 1")]);

    let p =
        problems(&tae().replace("recurrence_detection_probability: 0.87", "recurrence_detection_probability: 1.87"));
    assert!(p[0].contains("monitoring.recurrence_detection_probability") && p[0].contains("between 0 and 1"), "{p:?}");
}

#[test]
fn intervals_and_regimens_are_checked_and_every_problem_is_reported() {
    let yaml = tae()
        .replace("min_interval_days: 56", "min_interval_days: 120")
        .replace("planned_weeks: [12, 24, 36]", "planned_weeks: [24, 12]");
    let p = problems(&yaml);
    assert_eq!(p.len(), 2, "{p:?}");
    let at = line(&yaml, "min_interval_days: 120");
    assert!(
        p[0].contains(&format!("`treatment.min_interval_days` (line {at})")) && p[0].contains("more than"),
        "{p:?}"
    );
    assert!(p[1].contains("monitoring.planned_weeks") && p[1].contains("increase"), "{p:?}");

    let fixed = builtin("ape-tnt").unwrap().yaml.replace("max_interval_days: 56", "max_interval_days: 84");
    let p = problems(&fixed);
    assert!(p[0].contains("treatment.regimen") && p[0].contains("one interval"), "{p:?}");
}

#[test]
fn negative_intervals_are_type_errors() {
    let e = parse_error(&tae().replace("loading_interval_days: 28", "loading_interval_days: -28"));
    assert!(e.contains(&format!("line {}", line(&tae(), "loading_interval_days: 28"))), "{e}");
}

#[test]
fn unused_rows_are_refused() {
    let yaml = tae().replace(
        "    STABLE: {STABLE: 1.1, ACTIVE: 0.9, HIGHLY_ACTIVE: 0.0}",
        "    NAIVE: {STABLE: 1.0}\n    STABLE: {STABLE: 1.1, ACTIVE: 0.9, HIGHLY_ACTIVE: 0.0}",
    );
    let p = problems(&yaml);
    assert!(p[0].contains("disease.treatment_multipliers.NAIVE") && p[0].contains("never used"), "{p:?}");
}

#[test]
fn the_canonical_hash_follows_values_not_formatting() {
    let base = Protocol::from_yaml("p.yaml", &tae()).unwrap().canonical_sha256();
    assert_eq!(base, builtin("ape-tae").unwrap().load().unwrap().canonical_sha256(), "targets change nothing");
    let reformatted = tae()
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| l.split("  #").next().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
        .replace("baseline_factor: 1.1", "baseline_factor: 1.10");
    assert_eq!(Protocol::from_yaml("p.yaml", &reformatted).unwrap().canonical_sha256(), base);
    let renamed = editable_copy(builtin("ape-tae").unwrap(), "my-protocol");
    let copy = Protocol::from_yaml("my.yaml", &renamed).unwrap();
    assert_eq!(copy.name, "my-protocol");
    assert_eq!(copy.canonical_sha256(), base, "a renamed copy simulates the same way");
    let changed = tae().replace("extension_days: 14 ", "extension_days: 28 ");
    assert_ne!(Protocol::from_yaml("p.yaml", &changed).unwrap().canonical_sha256(), base);
}

#[test]
fn resolve_takes_builtin_names_and_files() {
    assert_eq!(resolve("aflibercept-tnt").unwrap().0.name, "aflibercept-tnt");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mine.yaml");
    std::fs::write(&path, editable_copy(builtin("aflibercept-tae").unwrap(), "mine")).unwrap();
    assert_eq!(resolve(path.to_str().unwrap()).unwrap().0.name, "mine");
    let e = resolve("aflibercept-xyz").unwrap_err();
    assert!(matches!(e, ProtocolError::NotFound(_)));
    assert!(e.hint().unwrap().contains("aflibercept-tae"));
}

const TARGETS: &str = "
targets:
  source: test
  years:
    - year: 1
      vision_change: {value: 6.0, tolerance: 1.5}
      injections: {value: 7.5, tolerance: 0.75}
    - year: 2
      injections: {value: 12.5, tolerance: 1.0}
calibration:
  free:
    - {parameter: vision.improvement.probability.ACTIVE, min: 0.05, max: 0.9}
";

#[test]
fn targets_and_calibration_do_not_change_what_is_simulated() {
    let plain = Protocol::from_yaml("p.yaml", &tae()).unwrap();
    let with = Protocol::from_yaml("p.yaml", &format!("{}{TARGETS}", tae())).unwrap();
    assert_eq!(with.targets.as_ref().unwrap().years.len(), 2);
    assert_eq!(plain.canonical_sha256(), with.canonical_sha256());
    // A file without the injection rule means APE's under treat-and-extend, every visit under a
    // fixed regimen, as files written before the rule existed.
    let older = tae().replace("  injection_rule: skip_when_stable", "  # no rule");
    let older = Protocol::from_yaml("p.yaml", &older).unwrap();
    assert_eq!(older.treatment.injection_rule, None);
    assert_eq!(older.treatment.rule(), cohort_sim::protocol::InjectionRule::SkipWhenStable);
}

#[test]
fn bad_targets_and_free_parameters_name_the_key_and_line() {
    let bad = TARGETS
        .replace("injections: {value: 12.5, tolerance: 1.0}", "injections: {value: 5.0, tolerance: 1.0}")
        .replace("tolerance: 1.5}", "tolerance: 0}")
        .replace("probability.ACTIVE, min: 0.05, max: 0.9", "probability.ACTIVE, min: 0.9, max: 0.05")
        + "    - {parameter: vision.improvement.chance, min: 0, max: 1}\n"
        + "    - {parameter: disease.transitions.ACTIVE.STABLE, min: 0, max: 1}\n"
        + "    - {parameter: monitoring.retreatment_probability, min: 0, max: 1}\n"
        + "    - {parameter: treatment.shortening_days, min: 0, max: 28}\n";
    let p = problems(&format!("{}{bad}", tae()));
    let all = p.join("\n");
    assert!(all.contains("year 1: the tolerance of `vision_change` must be more than 0"), "{all}");
    assert!(all.contains("cannot fall from 7.5 in year 1 to 5 in year 2"), "{all}");
    assert!(all.contains("bounds must have min below max"), "{all}");
    assert!(all.contains("`vision.improvement.chance` is not a number in this protocol"), "{all}");
    assert!(all.contains("a transition probability cannot move alone"), "{all}");
    // APE's protocol has no monitoring, and its rule never shortens an interval.
    assert!(
        all.contains("`monitoring.retreatment_probability` does not change what is simulated here: monitoring is off"),
        "{all}"
    );
    assert!(all.contains("`treatment.shortening_days` does not change what is simulated here"), "{all}");
    let line = tae().lines().count();
    assert!(p.iter().all(|m| m.contains("(line ")), "every problem has its line: {all}");
    assert!(all.contains(&format!("`targets.years` (line {})", line + 4)), "{all}");
}
