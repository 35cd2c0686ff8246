//! `cohort export --profile`: de-identified files, audited, with errors that name the profile.

use crate::util::Env;

#[test]
fn export_under_a_profile_writes_no_identifier_and_is_audited() {
    let env = Env::new();
    let mut patients = String::from("patient_id,name,email,zip,age,enrolled,notes\n");
    let mut visits = String::from("patient_id,visit_date,comment\n");
    for i in 0..12 {
        patients.push_str(&format!(
            "CANARY-{i},Canary Name {i},canary{i}@example.org,0213{},{},2021-03-{:02},\"call 555-301-{:04}\"\n",
            i % 10,
            80 + i,
            10 + i,
            1000 + i
        ));
        visits.push_str(&format!("CANARY-{i},2021-04-{:02},see https://canary.example.com/{i}\n", 10 + i));
    }
    let p = env.write("patients.csv", patients);
    let v = env.write("visits.csv", visits);
    env.ok(&["ingest", p.to_str().unwrap(), v.to_str().unwrap(), "--name", "trial"]);
    let profiles = env.store().join("export-profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    std::fs::write(
        profiles.join("safe.yaml"),
        "tables:\n  patients:\n    participant: patient_id\n    drop: [name, email]\n    zip3: [zip]\n    age: [age]\n    \
         dates: [enrolled]\n    free_text: [notes]\n  visits:\n    participant: patient_id\n    dates: [visit_date]\n    \
         free_text: [comment]\n",
    )
    .unwrap();
    let out = env.path("out");
    std::fs::create_dir_all(&out).unwrap();
    env.ok(&["export", "trial", "--profile", "safe", "--output", out.to_str().unwrap()]);
    let written = std::fs::read_to_string(out.join("patients.csv")).unwrap()
        + &std::fs::read_to_string(out.join("visits.csv")).unwrap();
    for marker in ["CANARY", "Canary", "canary", "555-301"] {
        assert!(!written.contains(marker), "`{marker}` in the export:\n{written}");
    }
    assert!(written.contains("021,") && written.contains(",90,"), "ZIP3 and the age cap:\n{written}");

    // The same participant gets the same pseudonym and offset in a second export (one key per
    // profile, kept in the store, readable by its owner only).
    let again = env.path("again.csv");
    env.ok(&["export", "trial.patients", "--profile", "safe", "--output", again.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&again).unwrap(), std::fs::read_to_string(out.join("patients.csv")).unwrap());

    let audited = env.json(&["audit", "show", "--action", "export"]);
    let details: Vec<&str> = audited.as_array().unwrap().iter().map(|r| r["detail"].as_str().unwrap()).collect();
    assert!(
        details[0].starts_with("profile safe (sha256 ") && details[0].contains("tables patients, visits"),
        "{details:?}"
    );
    assert_eq!(audited[0]["rows"], 24);

    // A profile that names a missing column, or a missing profile: a clear error, nothing written.
    std::fs::write(profiles.join("typo.yaml"), "tables:\n  patients:\n    participant: patient_id\n    drop: [nmae]\n")
        .unwrap();
    let r = env
        .fails(&["export", "trial.patients", "--profile", "typo", "--output", env.path("t.csv").to_str().unwrap()], 1);
    assert!(r.stderr.contains("patients.nmae") && r.stderr.contains("typo.yaml"), "{}", r.stderr);
    assert!(!env.path("t.csv").exists());
    let r = env.fails(&["export", "trial", "--profile", "nope"], 1);
    assert!(r.stderr.contains("no export profile `nope`") && r.stderr.contains("safe, typo"), "{}", r.stderr);
    assert_eq!(
        env.json(&["audit", "show", "--action", "export"]).as_array().unwrap().len(),
        2,
        "failures export nothing"
    );

    // `full` is the data as stored, and says so in the log.
    let full = env.path("full.csv");
    env.ok(&["export", "trial.patients", "--profile", "full", "--output", full.to_str().unwrap()]);
    assert!(std::fs::read_to_string(&full).unwrap().contains("Canary Name 3"));
    let last = env.json(&["audit", "show", "--action", "export", "--last", "1"]);
    assert!(last[0]["detail"].as_str().unwrap().starts_with("profile full"), "{last}");
}
