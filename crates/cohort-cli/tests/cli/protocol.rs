//! `cohort protocol list|show|validate|new`.

use crate::util::Env;

#[test]
fn list_show_new_and_validate() {
    let env = Env::new();
    let list = env.json(&["protocol", "list"]);
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["aflibercept-tae", "aflibercept-tnt", "ape-tae", "ape-tnt"]);
    assert_eq!(list[0]["sha256"].as_str().unwrap().len(), 64);

    let yaml = env.ok(&["protocol", "show", "aflibercept-tnt"]).stdout;
    assert!(yaml.contains("format: cohort-protocol/1") && yaml.contains("regimen: fixed"), "{yaml}");
    let shown = env.json(&["protocol", "show", "aflibercept-tnt"]);
    assert_eq!(shown["protocol"]["treatment"]["min_interval_days"], 56);

    let file = env.path("mine.yaml");
    env.ok(&["protocol", "new", "mine", "--from", "aflibercept-tnt", "--output", file.to_str().unwrap()]);
    let r = env.fails(&["protocol", "new", "mine", "--output", file.to_str().unwrap()], 1);
    assert!(r.stderr.contains("already exists") && r.stderr.contains("--force"), "{}", r.stderr);
    let ok = env.ok(&["protocol", "validate", file.to_str().unwrap()]);
    assert!(
        ok.stdout.contains("ok:") && ok.stdout.contains(shown["summary"]["sha256"].as_str().unwrap()),
        "{}",
        ok.stdout
    );
    // Shown as the file: same values, same hash as the built-in it copies.
    assert_eq!(
        env.json(&["protocol", "show", file.to_str().unwrap()])["summary"]["sha256"],
        shown["summary"]["sha256"]
    );

    let text = std::fs::read_to_string(&file).unwrap().replace("extension_days: 0", "extension_day: 0");
    std::fs::write(&file, &text).unwrap();
    let bad = env.fails(&["protocol", "validate", file.to_str().unwrap()], 1);
    let line = text.lines().position(|l| l.contains("extension_day: 0")).unwrap() + 1;
    assert!(
        bad.stderr.contains("unknown field `extension_day`") && bad.stderr.contains(&format!("line {line}")),
        "{}",
        bad.stderr
    );
    let r = env.fails(&["protocol", "show", "aflibercept-xyz"], 1);
    assert!(r.stderr.contains("hint:") && r.stderr.contains("aflibercept-tae"), "{}", r.stderr);
}

/// Targets are checked by `validate`; `simulate calibrate` fits the free parameters and writes a
/// protocol that validates, carrying how it was fitted; bad input writes nothing.
#[test]
fn targets_are_reported_and_calibration_writes_a_fitted_protocol() {
    let env = Env::new();
    let file = env.path("mine.yaml");
    // APE's values, without the reference run, every visit injecting.
    env.ok(&["protocol", "new", "mine", "--from", "ape-tae", "--output", file.to_str().unwrap()]);
    let text = std::fs::read_to_string(&file).unwrap();
    let base = text[..text.find("\ntargets:").unwrap() + 1]
        .replace("injection_rule: skip_when_stable", "injection_rule: every_visit");
    let with_targets = format!(
        "{base}\ntargets:\n  source: a test\n  years:\n    - year: 1\n      vision_change: {{value: 0.0, tolerance: 2.0}}\n      \
         injections: {{value: 6.5, tolerance: 1.0}}\ncalibration:\n  free:\n    \
         - {{parameter: vision.improvement.probability.ACTIVE, min: 0.05, max: 0.9}}\n    \
         - {{parameter: vision.decline.ACTIVE.treated.mean, min: -1.0, max: 0.0}}\n"
    );
    std::fs::write(&file, &with_targets).unwrap();
    let checked = env.json(&["protocol", "validate", file.to_str().unwrap(), "--patients", "3000"]);
    let targets = checked[0]["validation"]["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 2, "{checked}");
    assert_eq!(checked[0]["validation"]["years"][0]["patients"], 3000);

    let fitted = env.path("fitted.yaml");
    let out = fitted.to_str().unwrap();
    let fit = env.json(&["simulate", "calibrate", file.to_str().unwrap(), "--output", out, "--patients", "3000"]);
    assert_eq!(fit["met"], true, "{fit}");
    assert!(fit["evaluations"].as_u64().unwrap() >= 1);
    let again = env.json(&["protocol", "validate", out, "--patients", "3000"]);
    assert!(again[0]["validation"]["targets"].as_array().unwrap().iter().all(|t| t["met"] == true), "{again}");
    let shown = env.json(&["protocol", "show", out]);
    assert_eq!(shown["protocol"]["calibration"]["fitted"]["patients"], 3000);
    assert_eq!(shown["protocol"]["calibration"]["fitted"]["met"], true);
    let r = env.fails(&["simulate", "calibrate", file.to_str().unwrap(), "--output", out], 1);
    assert!(r.stderr.contains("already exists") && r.stderr.contains("--force"), "{}", r.stderr);

    // Reversed bounds: the key and line, and no file.
    let reversed = with_targets.replace("min: -1.0, max: 0.0", "min: 0.0, max: -1.0");
    std::fs::write(&file, reversed).unwrap();
    let nowhere = env.path("nowhere.yaml");
    let r = env.fails(&["simulate", "calibrate", file.to_str().unwrap(), "--output", nowhere.to_str().unwrap()], 1);
    assert!(r.stderr.contains("`calibration.free` (line") && r.stderr.contains("min below max"), "{}", r.stderr);
    assert!(!nowhere.exists());
}
