//! `cohort publish`: a bundle of aggregates, audited, with no participant value in it.

use crate::util::Env;

#[test]
fn publish_writes_a_bundle_without_participant_values_and_explains_bad_profiles() {
    let env = Env::new();
    let mut csv = String::from("id,name,sex,site,enrolled\n");
    for i in 0..200 {
        let sex = if i % 50 == 0 {
            "X"
        } else if i % 2 == 0 {
            "F"
        } else {
            "M"
        };
        let site = if i < 3 { "St Canary Clinic" } else { "Big Hospital" };
        csv.push_str(&format!("P{i},Person {i},{sex},{site},2024-0{}-15\n", 1 + i % 6));
    }
    let data = env.write("people.csv", csv);
    env.ok(&["ingest", data.to_str().unwrap(), "--name", "reg"]);
    let profile =
        env.write("public.yaml", "table: people\nparticipant: id\nenrolled: enrolled\nsite: site\ncategories: [sex]\n");
    let out = env.path("reg.json");
    let summary =
        env.json(&["publish", "reg", "--profile", profile.to_str().unwrap(), "--output", out.to_str().unwrap()]);
    assert_eq!(summary["k"], 11);
    assert!(summary["tables_with_suppressed_cells"].as_u64().unwrap() >= 1, "{summary}");
    let text = std::fs::read_to_string(&out).unwrap();
    for secret in ["St Canary Clinic", "Person 1", "P17"] {
        assert!(!text.contains(secret), "{secret} is in the bundle");
    }
    let bundle: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(bundle["participants"], 200);
    let sex = bundle["tables"].as_array().unwrap().iter().find(|t| t["id"] == "category-sex").unwrap();
    let cells = sex["cells"].as_array().unwrap();
    assert!(!cells.iter().any(|c| c["key"] == "X"), "4 participants of sex X are suppressed, unnamed: {sex}");
    assert!(cells.iter().any(|c| c["key"] == cohort_publish_suppressed_key()), "{sex}");
    let audited = env.json(&["audit", "show", "--action", "publish"]);
    assert_eq!(audited[0]["datasets"], serde_json::json!(["reg@1"]));

    let bad = env.write("bad.yaml", "table: people\nparticipant: id\ncategories: [gender]\n");
    let r = env.fails(&["publish", "reg", "--profile", bad.to_str().unwrap(), "--output", out.to_str().unwrap()], 1);
    assert!(r.stderr.contains("people.gender") && r.stderr.contains("sex"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), text, "a failed publish leaves the old bundle alone");

    // `serve --public` verifies each bundle before it listens: an edited one stops it.
    let edited = env.write("edited.json", text.replacen("\"participants\": 200", "\"participants\": 210", 1));
    let r = env.fails(&["serve", "--public", edited.to_str().unwrap(), "--addr", "127.0.0.1:0"], 1);
    assert!(r.stderr.contains("edited.json") && r.stderr.contains("changed after it was published"), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "nothing was served: {}", r.stdout);
}

/// The demo trial (40 participants) was mostly hidden when published by month and in ten bins:
/// `cohort publish` now takes the finest period and bins that keep most counts, says what each
/// table hides, lists only the profile's columns in the dictionary (with labels and plain kinds,
/// not SQL types), and rounds quartiles, saying so in the bundle.
#[test]
fn a_small_registry_publishes_a_face_worth_showing() {
    let env = Env::new();
    let examples = crate::util::in_crate("../../examples");
    env.ok(&["ingest", &format!("{examples}/patients.csv"), &format!("{examples}/visits.csv"), "--name", "demo-trial"]);
    let profile = format!("{examples}/demo-trial.public.yaml");
    let out = env.path("trial.json");
    let run = env.ok(&["publish", "demo-trial", "--profile", &profile, "--output", out.to_str().unwrap()]);
    assert!(
        run.stderr.contains("participants in hidden cells") && run.stderr.contains("enrolment by"),
        "{}",
        run.stderr
    );
    let bundle: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let period = bundle["choices"]["enrolment_period"].as_str().unwrap();
    assert_ne!(period, "month", "40 participants over a year are not published month by month");
    let enrolment =
        bundle["tables"].as_array().unwrap().iter().find(|t| t["id"] == format!("enrolment-by-{period}")).unwrap();
    assert!(enrolment["cells"].as_array().unwrap().iter().any(|c| c["count"].is_u64()), "{enrolment}");
    assert!(bundle["hidden_shares"][format!("enrolment-by-{period}")].as_f64().unwrap() <= 0.25);
    let bins = bundle["choices"]["bins"]["baseline_va"].as_u64().unwrap();
    assert!(bins < 10, "{bins} bins");
    // The dictionary: the profile's columns, in plain words.
    let dictionary = bundle["dictionary"].as_array().unwrap();
    let columns: Vec<&str> = dictionary.iter().map(|d| d["column"].as_str().unwrap()).collect();
    assert!(!columns.contains(&"birth_year"), "{columns:?}");
    assert!(columns.contains(&"baseline_va") && columns.contains(&"visual_acuity"), "{columns:?}");
    let text = std::fs::read_to_string(&out).unwrap();
    for sql in ["VARCHAR", "BIGINT", "DOUBLE", "sql_type"] {
        assert!(!text.contains(sql), "{sql} in the public bundle");
    }
    assert!(dictionary.iter().all(|d| {
        ["text", "whole number", "number", "date", "yes/no", "date and time"].contains(&d["kind"].as_str().unwrap())
    }));
    // Quartiles: whole numbers, published from 20 participants with a value, and said so.
    assert_eq!(
        (bundle["choices"]["quartiles_min_participants"].as_u64(), bundle["choices"]["quartiles_round_to"].as_f64()),
        (Some(20), Some(1.0))
    );
    let va = &bundle["numeric"][0];
    for q in ["q1", "median", "q3"] {
        assert_eq!(va[q].as_f64().unwrap().fract(), 0.0, "{q}: {va}");
    }
    // A profile that sets them is obeyed.
    let fixed = env.write(
        "fixed.yaml",
        std::fs::read_to_string(&profile).unwrap()
            + "enrolment_period: month\nbins: {baseline_va: 10}\nquartiles: {min_participants: 50}\n",
    );
    let fixed_out = env.path("fixed.json");
    env.ok(&["publish", "demo-trial", "--profile", fixed.to_str().unwrap(), "--output", fixed_out.to_str().unwrap()]);
    let fixed: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&fixed_out).unwrap()).unwrap();
    assert_eq!(fixed["choices"]["enrolment_period"], "month");
    assert_eq!(fixed["choices"]["bins"]["baseline_va"], 10);
    assert!(fixed["numeric"][0]["median"].is_null(), "40 participants are fewer than the 50 asked for");
    let bad = env.write("bad.yaml", std::fs::read_to_string(&profile).unwrap() + "enrolment_period: fortnight\n");
    let r = env.fails(
        &["publish", "demo-trial", "--profile", bad.to_str().unwrap(), "--output", fixed_out.to_str().unwrap()],
        1,
    );
    assert!(r.stderr.contains("fortnight") && r.stderr.contains("month, quarter or year"), "{}", r.stderr);
}

/// The key under which suppressed cells are counted together (`cohort_publish::SUPPRESSED_KEY`).
fn cohort_publish_suppressed_key() -> &'static str {
    "(others, suppressed)"
}
