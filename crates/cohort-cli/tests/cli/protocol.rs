//! `cohort protocol list|show|validate|new`.

use crate::util::Env;

#[test]
fn list_show_new_and_validate() {
    let env = Env::new();
    let list = env.json(&["protocol", "list"]);
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["aflibercept-tae", "aflibercept-tnt"]);
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
    std::fs::write(&file, text).unwrap();
    let bad = env.fails(&["protocol", "validate", file.to_str().unwrap()], 1);
    assert!(bad.stderr.contains("unknown field `extension_day`") && bad.stderr.contains("line 17"), "{}", bad.stderr);
    let r = env.fails(&["protocol", "show", "aflibercept-xyz"], 1);
    assert!(r.stderr.contains("hint:") && r.stderr.contains("aflibercept-tae"), "{}", r.stderr);
}
