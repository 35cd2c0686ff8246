//! `cohort registry`: the profile kept with the dataset, a cohort's figures, saved cohorts and
//! "made on version N" once the dataset moves on.

use crate::util::Env;

fn write_registry(env: &Env, extra: usize) -> std::path::PathBuf {
    let mut csv = String::from("id,site,diagnosis,age,enrolled\n");
    for i in 0..(120 + extra) {
        let diagnosis = ["DMD", "SMA", "BMD"][i % 3];
        let site = if i % 4 == 0 { "Canary Clinic" } else { "Big Hospital" };
        csv.push_str(&format!("P{i:03},{site},{diagnosis},{},2024-0{}-15\n", 2 + i % 30, 1 + i % 6));
    }
    env.write("people.csv", csv)
}

#[test]
fn registry_keeps_its_profile_computes_cohorts_and_saves_them() {
    let env = Env::new();
    let data = write_registry(&env, 0);
    env.ok(&["ingest", data.to_str().unwrap(), "--name", "reg"]);
    // Without a profile it says how to keep one.
    let r = env.fails(&["registry", "reg"], 1);
    assert!(r.stderr.contains("--set-profile"), "{}", r.stderr);
    let profile = env.write(
        "registry.yaml",
        "table: people\nparticipant: id\nenrolled: enrolled\nsite: site\ncategories: [diagnosis]\nnumeric: [age]\n",
    );
    let all = env.json(&["registry", "reg", "--set-profile", profile.to_str().unwrap()]);
    assert_eq!(all["registry"]["participants"], 120);
    let site = all["registry"]["tables"].as_array().unwrap().iter().find(|t| t["id"] == "site").unwrap();
    assert!(site.to_string().contains("Canary Clinic"), "the command line shows site names: {site}");

    // Filters combine; the checklist of diagnoses counts under the other filters.
    let dmd_old = env.json(&["registry", "reg", "--filter", "diagnosis=DMD", "-f", "age=20..", "--save-as", "dmd-20"]);
    let expected = (0..120).filter(|i| i % 3 == 0 && 2 + i % 30 >= 20).count();
    assert_eq!(dmd_old["registry"]["participants"], expected as u64);
    let facet = dmd_old["registry"]["facets"].as_array().unwrap().iter().find(|f| f["column"] == "diagnosis").unwrap();
    let sma = facet["options"].as_array().unwrap().iter().find(|o| o["value"] == "SMA").unwrap();
    assert_eq!(sma["participants"], (0..120).filter(|i| i % 3 == 1 && 2 + i % 30 >= 20).count() as u64);

    // A saved cohort is a schema in queries: its participants, the version's other tables.
    let counted = env.scalar(r#"SELECT count(*) FROM "reg#dmd-20".people"#);
    assert_eq!(counted, expected.to_string());
    assert_eq!(env.scalar(r#"SELECT count(*) FROM "reg#dmd-20".people WHERE diagnosis <> 'DMD' OR age < 20"#), "0");
    let r = env.fails(&["query", r#"SELECT * FROM "reg#nope".people"#], 1);
    assert!(r.stderr.contains("no saved cohort `nope`"), "{}", r.stderr);

    // Exports of the cohort: its participants as stored, and de-identified under a profile.
    let out = env.path("dmd-20.csv");
    env.ok(&["export", "reg#dmd-20.people", "--output", out.to_str().unwrap()]);
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count() - 1, expected, "{text}");
    assert!(text.lines().skip(1).all(|l| l.contains(",DMD,")), "{text}");
    let profiles = env.store().join("export-profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    std::fs::write(profiles.join("safe.yaml"), "tables:\n  people:\n    participant: id\n    drop: [site]\n    keep: [diagnosis, age]\n    dates: [enrolled]\n").unwrap();
    let safe = env.path("dmd-20-safe.csv");
    env.ok(&["export", "reg#dmd-20.people", "--profile", "safe", "--output", safe.to_str().unwrap()]);
    let text = std::fs::read_to_string(&safe).unwrap();
    assert_eq!(text.lines().count() - 1, expected);
    assert!(!text.contains("Canary") && !text.contains(",P0"), "sites dropped, ids pseudonymised:\n{text}");
    let exports = env.json(&["audit", "show", "--action", "export"]);
    assert!(exports.to_string().contains("cohort dmd-20"), "{exports}");

    // The cohort's public face: a bundle of its participants alone, saying which cohort it is.
    let bundle_path = env.path("dmd-20.bundle.json");
    env.ok(&[
        "publish",
        "reg#dmd-20",
        "--profile",
        profile.to_str().unwrap(),
        "--output",
        bundle_path.to_str().unwrap(),
    ]);
    let bundle: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&bundle_path).unwrap()).unwrap();
    assert_eq!((bundle["cohort"].as_str(), bundle["participants"].as_u64()), (Some("dmd-20"), Some(expected as u64)));

    // The cohort in an analysis: the same answer as its filters written as the analysis's own,
    // named as the cohort, and only of the tables the cohort narrows.
    let of_cohort = env.json(&["analyze", "reg#dmd-20", "describe", "age"]);
    let filtered =
        env.json(&["analyze", "reg", "describe", "age", "--where", "diagnosis = DMD", "--where", "age >= 20"]);
    assert_eq!(of_cohort["dataset"], "reg@1#dmd-20");
    assert_eq!(of_cohort["result"], filtered["result"], "the cohort is its filters");
    assert_eq!(of_cohort["rows"]["used"], expected as u64);
    let unified = env.json(&["analyze", "reg#dmd-20", "describe", "age", "--unified"]);
    assert_eq!(unified["result"], filtered["result"], "the unified view of the cohort is its participants");
    let r = env.fails(&["analyze", "reg#nope", "describe", "age"], 1);
    assert!(r.stderr.contains("no saved cohort `nope`"), "{}", r.stderr);

    let listed = env.json(&["registry", "reg", "--cohorts"]);
    assert_eq!(listed["cohorts"][0]["name"], "dmd-20");
    assert_eq!(listed["cohorts"][0]["filters"], serde_json::json!(["diagnosis=DMD", "age=20.."]));
    let saved = env.json(&["registry", "reg", "--cohort", "dmd-20"]);
    assert_eq!(saved["registry"], dmd_old["registry"], "a saved cohort is its filters");
    assert_eq!(saved["cohort"]["made_on_version"], 1);

    // The dataset moves on: the cohort is computed on the new version, and says so.
    let data = write_registry(&env, 30);
    env.ok(&["ingest", data.to_str().unwrap(), "--name", "reg"]);
    let moved = env.json(&["registry", "reg", "--cohort", "dmd-20"]);
    assert_eq!(
        (moved["cohort"]["made_on_version"].as_u64(), moved["cohort"]["computed_on_version"].as_u64()),
        (Some(1), Some(2))
    );
    let r = env.ok(&["registry", "reg", "--cohort", "dmd-20"]);
    assert!(r.stderr.contains("made on version 1") && r.stderr.contains("computed on version 2"), "{}", r.stderr);
    let analysed = env.json(&["analyze", "reg#dmd-20", "describe", "age"]);
    let warned =
        analysed["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("made on version 1"));
    assert!(warned, "an analysis of the moved-on cohort says so: {analysed}");
    assert!(r.stdout.contains("of 150 participants"), "{}", r.stdout);

    let r = env.fails(&["registry", "reg", "--cohort", "nope"], 1);
    assert!(r.stderr.contains("no saved cohort `nope`") && r.stderr.contains("dmd-20"), "{}", r.stderr);
    let r = env.fails(&["registry", "reg", "--filter", "age=old..", "--save-as", "x"], 1);
    assert!(r.stderr.contains("is not a number"), "{}", r.stderr);
    assert_eq!(env.json(&["registry", "reg", "--cohorts"])["cohorts"].as_array().unwrap().len(), 1, "nothing saved");
    let r = env.fails(&["registry", "reg", "--filter", "age=1..", "--save-as", "Bad Name"], 1);
    assert!(r.stderr.contains("cannot name a cohort"), "{}", r.stderr);
    let audited = env.json(&["audit", "show", "--action", "registry"]);
    assert!(audited.as_array().unwrap().len() >= 5, "every view is in the audit log: {audited}");
}

const WRITE_CODED_REGISTRY: &str = r#"
import sys
import pandas as pd, pyreadstat
out = sys.argv[1]
people = pd.DataFrame({
    "id": [f"P{i:03d}" for i in range(60)],
    "sex": [9.0 if i == 7 else float(1 + i % 2) for i in range(60)],
    "age": [None if i % 10 == 0 else float(20 + i) for i in range(60)],
})
pyreadstat.write_sav(people, f"{out}/people.sav", column_labels={"id": "Participant", "sex": "Sex", "age": "Age in years"},
                     variable_value_labels={"sex": {1: "Male", 2: "Female"}})
"#;

/// The dictionary browser flags what may be wrong: a required column some participants lack, a
/// value the code list does not name (here 9, coded in no list), and a label the profile gives
/// unlike the source file's; codes come from the file.
#[test]
fn the_dictionary_flags_missing_required_values_unnamed_codes_and_other_labels() {
    let env = Env::new();
    env.python_fixtures(WRITE_CODED_REGISTRY);
    env.ok(&["ingest", env.path("people.sav").to_str().unwrap(), "--name", "coded"]);
    let profile = env.write(
        "coded.yaml",
        "table: people\nparticipant: id\ncategories: [sex]\nnumeric: [age]\nlabels: {age: Age at entry, sex: Sex}\n\
         domains: {Demographics: [sex, age]}\nrequired: [id, sex, age]\n",
    );
    let shown = env.json(&["registry", "coded", "--set-profile", profile.to_str().unwrap()]);
    let entry = |column: &str| {
        shown["registry"]["dictionary"].as_array().unwrap().iter().find(|e| e["column"] == column).unwrap().clone()
    };
    let (sex, age, id) = (entry("sex"), entry("age"), entry("id"));
    assert_eq!(sex["domain"], "Demographics");
    assert!(sex["codes"].as_str().unwrap().contains("Male"), "{sex}");
    let concerns = |e: &serde_json::Value| e["concerns"].as_array().cloned().unwrap_or_default();
    assert!(concerns(&sex).iter().any(|c| c.as_str().unwrap().contains("does not name: 9")), "{sex}");
    assert!(concerns(&age).iter().any(|c| c.as_str().unwrap() == "required, but 6 have no value"), "{age}");
    assert!(
        concerns(&age).iter().any(|c| c.as_str().unwrap().contains("`Age at entry` here but `Age in years`")),
        "{age}"
    );
    assert_eq!(id["label"], "Participant", "the source's label when the profile gives none");
    assert!(concerns(&id).is_empty() && concerns(&entry("sex")).len() == 1, "{id} {sex}");
    assert_eq!((age["completeness"].as_f64(), age["completeness_all"].as_f64()), (Some(0.9), Some(0.9)));
}
