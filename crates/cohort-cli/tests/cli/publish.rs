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

/// The key under which suppressed cells are counted together (`cohort_publish::SUPPRESSED_KEY`).
fn cohort_publish_suppressed_key() -> &'static str {
    "(others, suppressed)"
}
