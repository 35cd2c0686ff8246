//! `cohort migrate`: every legacy shape in, verified, written back; crashes, dry runs and name
//! clashes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::util::{Env, Lcg, wait_until};

/// A spec v1.0 cohort: nested objects, a lab value that is text in one record and a number in
/// others, a unicode name, an empty entity list and fields the spec does not know.
fn spec_v1() -> Value {
    json!({
        "schema_version": "1.0",
        "cohort_id": "6f1c2a9e-1b7d-4c1e-9a55-0c3d2b1e8f00",
        "name": "Diabetes-Kohorte Zürich – Ärzte",
        "description": "Type 2 diabetes, 2019-2023",
        "tags": ["diabetes", "zürich"],
        "created_at": "2024-03-01T10:15:00Z",
        "created_by": "dr.müller",
        "healthsim_version": "1.4.2",
        "provenance_summary": {"generator": "patientsim", "seed": 42},
        "custom_field": {"kept": true},
        "entities": {
            "patients": [
                {"mrn": "MRN-0001", "name": {"given_name": "Zoë", "middle_name": null, "family_name": "Ørsted",
                 "prefix": "Dr."}, "birth_date": "1950-02-03", "gender": "F", "ssn": "123-45-6789",
                 "address": {"street": "Bahnhofstrasse 1", "city": "Zürich", "postal_code": "8001"},
                 "contact": {"phone": "+41 44 000 00 00", "email": "zoe@example.org"}},
                {"mrn": "MRN-0002", "name": {"given_name": "Li", "family_name": "Wei"}, "birth_date": "1961-12-30",
                 "gender": "M", "race": "Asian", "address": {"city": "Basel"}}
            ],
            "encounters": [
                {"encounter_id": "E-1", "patient_mrn": "MRN-0001", "class_code": "I", "status": "finished",
                 "admission_time": "2023-01-02T08:00:00Z", "discharge_time": "2023-01-05T12:30:00Z",
                 "facility": {"name": "Universitätsspital", "id": "F-9"}},
                {"encounter_id": "E-2", "patient_mrn": "MRN-0002", "class_code": "O", "status": "finished",
                 "admission_time": "2023-02-10T09:00:00Z"}
            ],
            "lab_results": [
                {"patient_mrn": "MRN-0001", "loinc_code": "4548-4", "value": "7.2", "unit": "%",
                 "collected_time": "2023-01-03T07:00:00Z"},
                {"patient_mrn": "MRN-0001", "loinc_code": "2345-7", "value": 142, "unit": "mg/dL"},
                {"patient_mrn": "MRN-0002", "loinc_code": "2345-7", "value": 98.5, "unit": "mg/dL"}
            ],
            "diagnoses": [{"patient_mrn": "MRN-0001", "code": "E11.9", "description": "Type 2 diabetes mellitus",
                           "diagnosed_date": "2019-06-01"}],
            "procedures": []
        }
    })
}

fn workspace_v2() -> Value {
    let wrap = |id: &str, kind: &str, data: Value, source: &str| {
        json!({"entity_id": id, "entity_type": kind, "data": data,
               "provenance": {"source_type": source, "source_system": "patientsim", "skill_used": "generate-cohort",
                              "derived_from": [], "created_at": "2024-05-01T00:00:00Z",
                              "generation_params": {"age_range": [40, 80], "seed": 7}}})
    };
    json!({
        "metadata": {"workspace_id": "ws-42", "name": "Heart failure workspace", "description": "HF",
                     "tags": ["cardiology"], "created_at": "2024-05-01T00:00:00Z",
                     "updated_at": "2024-06-01T00:00:00Z", "product": "patientsim", "schema_version": "2.0"},
        "provenance_summary": {"total_entities": 3, "by_source_type": {"generated": 2, "derived": 1},
                               "source_systems": ["patientsim"], "skills_used": ["generate-cohort"]},
        "entities": {
            "patients": [wrap("p1", "patient", json!({"patient_id": "P1", "gender": "M", "birth_date": "1944-01-01"}), "generated"),
                         wrap("p2", "patient", json!({"patient_id": "P2", "gender": "F"}), "generated")],
            "medications": [wrap("m1", "medication", json!({"patient_id": "P1", "code": "C03CA01", "dose": {"value": 40, "unit": "mg"}}), "derived")]
        }
    })
}

/// Flat legacy: singular and plural keys of one type side by side.
fn flat_legacy() -> Value {
    json!({
        "name": "Flat cohort",
        "patient": [{"mrn": "F-1", "gender": "U"}],
        "patients": [{"mrn": "F-2", "gender": "O"}],
        "diagnosis": [{"patient_mrn": "F-1", "code": "I10"}],
        "diagnoses": [{"patient_mrn": "F-2", "code": "J45"}, {"patient_mrn": "F-2", "code": "E78"}],
        "note": "hand-edited"
    })
}

/// A simulation run; `total_injections` is stored wrong on purpose (the app had a bug), and one
/// patient has no visits.
fn simulation() -> Value {
    json!({
        "simulation_type": "ABS", "population_size": 3, "duration_years": 1,
        "enable_clinician_variation": true, "planned_discontinue_prob": 0.2, "admin_discontinue_prob": 0.05,
        "timestamp": "2023-06-01T12:00:00", "patient_count": 3, "runtime_seconds": 0.8,
        "total_injections": 5, "mean_injections": 1.0,
        "discontinuation_counts": {"Planned": 1, "Administrative": 0, "Not Renewed": 0, "Premature": 0},
        "total_discontinuations": 1, "unique_discontinued_patients": 1,
        "recurrences": {"total": 0, "by_type": {}, "unique_count": 0}, "retreatments": 0,
        "mean_va_data": [{"time": 0, "visual_acuity": 61.5}],
        "patient_histories": {
            "P001": [
                {"date": "2023-01-02", "type": "regular_visit", "actions": ["vision_test", "oct_scan", "injection"],
                 "baseline_vision": 58, "vision": 60, "disease_state": "active", "phase": "loading", "interval": 4,
                 "clinician_id": "C1", "fluid_detected": true,
                 "treatment_status": {"active": true, "recurrence_detected": false, "discontinuation_date": null,
                                      "cessation_type": null}},
                {"date": "2023-01-30", "type": "regular_visit", "actions": ["vision_test", "injection"],
                 "vision": 64, "disease_state": "stable", "phase": "loading", "interval": 4},
                {"date": "2023-02-27", "type": "regular_visit", "actions": ["vision_test"], "vision": 66,
                 "disease_state": "stable", "phase": "maintenance", "is_discontinuation_visit": true,
                 "discontinuation_type": "Planned"}
            ],
            "P002": [
                {"date": "2023-01-09", "type": "regular_visit", "actions": ["vision_test", "injection"],
                 "baseline_vision": 70, "vision": 70, "disease_state": "highly_active", "phase": "loading"}
            ],
            "P003": []
        }
    })
}

fn write_json(path: &Path, value: &Value) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
}

/// The legacy folder of every test: each shape once, a truncated file and one cohort cannot read.
fn legacy(env: &Env) -> PathBuf {
    let root = env.path("healthsim");
    write_json(&root.join("cohorts/diabetes.json"), &spec_v1());
    write_json(&root.join("workspaces/hf.json"), &workspace_v2());
    write_json(&root.join("scenarios/flat.json"), &flat_legacy());
    let ward = root.join("cohorts/ward-7");
    write_json(
        &ward.join("cohort.json"),
        &json!({"id": "w7", "name": "Ward 7 – Nord", "created_at": "2023-01-01T00:00:00Z",
                                                 "updated_at": "2023-02-01T00:00:00Z", "tags": ["ward"]}),
    );
    write_json(&ward.join("patient.json"), &json!([{"mrn": "W-1", "gender": "F"}, {"mrn": "W-2", "gender": "M"}]));
    write_json(
        &ward.join("encounter.json"),
        &json!({"facility": {"name": "Nord"}, "provider": {"npi": "1234567890"},
                                                     "encounter": [{"encounter_id": "WE-1", "patient_mrn": "W-1", "class_code": "E"}]}),
    );
    write_json(
        &ward.join("pharmacy-claims.json"),
        &json!({"claim_id": "PC-1", "member_id": "W-2", "ndc": "00002-1433-80"}),
    );
    write_json(&root.join("runs/ape-2023.json"), &simulation());
    write_json(
        &root.join("exports/visits.json"),
        &json!([{"id": 1, "site": "A", "score": 3}, {"id": 2, "site": "B", "score": "n/a"}, {"id": 3, "site": "A", "score": 4.5}]),
    );
    std::fs::write(root.join("exports/events.ndjson"), "{\"id\": 1, \"kind\": \"x\"}\n{\"id\": 2, \"kind\": \"y\"}\n")
        .unwrap();
    let truncated = serde_json::to_string_pretty(&spec_v1()).unwrap();
    std::fs::write(root.join("cohorts/truncated.json"), &truncated[..truncated.len() / 2]).unwrap();
    write_json(&root.join("cohorts/settings.json"), &json!({"theme": "dark", "recent": ["a", "b"]}));
    std::fs::write(root.join("cohorts/README.txt"), "notes").unwrap();
    root
}

/// Every file under `dir` with its SHA-256.
fn hashes(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.clone(), cohort_store::hash::sha256_file(&p, |_| {}).unwrap().0);
            }
        }
    }
    out
}

fn by_source(report: &Value) -> BTreeMap<String, Value> {
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let source = Path::new(f["source"].as_str().unwrap());
            let name = source.file_name().unwrap().to_string_lossy().into_owned();
            (name, f.clone())
        })
        .collect()
}

fn export(env: &Env, dataset: &str) -> Value {
    let out = env.ok(&["export", dataset, "--format", "cohort-json"]);
    serde_json::from_str(&out.stdout).unwrap()
}

fn migrate_json(env: &Env, args: &[&str], code: i32) -> Value {
    let mut all = vec!["--json", "migrate"];
    all.extend_from_slice(args);
    let r = env.exec(&all);
    assert_eq!(r.code, code, "cohort {all:?}:\n{}\n{}", r.stdout, r.stderr);
    serde_json::from_str(&r.stdout).unwrap()
}

#[test]
fn every_shape_migrates_verifies_and_writes_back() {
    let env = Env::new();
    let root = legacy(&env);
    let before = hashes(&root);
    // The truncated file fails, so the exit code is 1; everything else goes in.
    let report = migrate_json(&env, &[root.to_str().unwrap()], 1);
    let files = by_source(&report);
    let outcome = |f: &str| files[f]["outcome"].as_str().unwrap().to_string();
    let shape = |f: &str| files[f]["shape"].as_str().unwrap_or_default().to_string();
    for (file, expected_shape) in [
        ("diabetes.json", "spec-v1"),
        ("hf.json", "workspace-v2"),
        ("flat.json", "flat-legacy"),
        ("ward-7", "folder-per-cohort"),
        ("ape-2023.json", "simulation-results"),
        ("visits.json", "generic-records"),
        ("events.ndjson", "generic-records"),
    ] {
        assert_eq!(outcome(file), "migrated", "{file}: {}", files[file]);
        assert_eq!(shape(file), expected_shape, "{file}");
    }
    assert_eq!(outcome("truncated.json"), "failed");
    let why = files["truncated.json"]["reason"].as_str().unwrap();
    assert!(why.starts_with("line ") && why.contains(", column ") && why.contains("truncated"), "{why}");
    assert_eq!(outcome("settings.json"), "skipped");
    assert!(files["settings.json"]["reason"].as_str().unwrap().contains("no `entities`"));
    assert!(report["passed_over"][0][0].as_str().unwrap().ends_with("README.txt"));

    // Originals untouched, all of them; the backup holds a checked copy of each migrated one.
    assert_eq!(hashes(&root), before, "the legacy folder changed");
    let backup = PathBuf::from(report["backup"].as_str().unwrap());
    let manifest: Value = serde_json::from_slice(&std::fs::read(backup.join("manifest.json")).unwrap()).unwrap();
    let backed_up = manifest["files"].as_array().unwrap();
    assert_eq!(backed_up.len(), 10, "7 files and the folder's 4: {manifest}");
    for f in backed_up {
        let original = PathBuf::from(f["original"].as_str().unwrap());
        assert_eq!(before[&original], f["sha256"].as_str().unwrap());
        let copy = cohort_store::hash::sha256_file(&backup.join(f["copy"].as_str().unwrap()), |_| {}).unwrap().0;
        assert_eq!(copy, f["sha256"].as_str().unwrap());
    }
    assert!(!backed_up.iter().any(|f| f["original"].as_str().unwrap().contains("truncated")));

    // Spec v1.0 writes back as the very same document.
    let name = files["diabetes.json"]["dataset"].as_str().unwrap();
    assert_eq!(name, "diabetes-kohorte-zurich-arzte");
    assert_eq!(export(&env, name), spec_v1());
    let list = env.json(&["list"]);
    let d = list.as_array().unwrap().iter().find(|d| d["name"] == name).unwrap();
    assert_eq!((d["kind"].as_str(), d["description"].as_str()), (Some("cohort"), Some("Type 2 diabetes, 2019-2023")));
    assert_eq!(d["tags"], json!(["diabetes", "zürich"]));
    // Typed columns, nested objects as structs, the mixed value set apart but not lost.
    let q = |sql: &str| env.scalar(sql);
    assert_eq!(q(&format!("SELECT typeof(birth_date) FROM \"{name}\".patients LIMIT 1")), "DATE");
    assert_eq!(q(&format!("SELECT name.family_name FROM \"{name}\".patients WHERE mrn = 'MRN-0001'")), "Ørsted");
    assert_eq!(q(&format!("SELECT address.city FROM \"{name}\".patients WHERE mrn = 'MRN-0001'")), "Zürich");
    assert_eq!(q(&format!("SELECT typeof(value) FROM \"{name}\".lab_results LIMIT 1")), "DOUBLE");
    assert_eq!(q(&format!("SELECT sum(value) FROM \"{name}\".lab_results")), "240.5");
    assert_eq!(q(&format!("SELECT value__json FROM \"{name}\".lab_results WHERE value IS NULL")), "\"\"\"7.2\"\"\"");
    assert_eq!(q(&format!("SELECT count(*) FROM \"{name}\".encounters")), "2");
    let notes = files["diabetes.json"]["notes"].to_string();
    assert!(notes.contains("lab_results.value: 1 value(s)"), "{notes}");

    // Workspace v2.0: named from its metadata, wrapper provenance as columns, kept on the way back.
    assert_eq!(files["hf.json"]["dataset"], "heart-failure-workspace");
    assert_eq!(q("SELECT _provenance_source_type FROM \"heart-failure-workspace\".medications"), "derived");
    assert_eq!(q("SELECT dose.value FROM \"heart-failure-workspace\".medications"), "40");
    let back = export(&env, "heart-failure-workspace");
    assert_eq!(back["schema_version"], "1.0");
    assert_eq!(back["cohort_id"], "ws-42");
    assert_eq!(back["provenance_summary"], workspace_v2()["provenance_summary"]);
    let original = workspace_v2()["entities"]["patients"][0].clone();
    let exported = &back["entities"]["patients"][0];
    assert_eq!(exported["patient_id"], original["data"]["patient_id"]);
    assert_eq!(exported["_healthsim"]["provenance"], original["provenance"]);
    assert_eq!(exported["_healthsim"]["entity_id"], "p1");

    // Flat legacy: `diagnosis` and `diagnoses` are one table.
    assert_eq!(files["flat.json"]["entities"], json!([["diagnoses", 3], ["patients", 2]]));
    assert_eq!(q("SELECT count(*) FROM \"flat-cohort\".diagnoses"), "3");
    assert_eq!(export(&env, "flat-cohort")["note"], "hand-edited");

    // Folder per cohort: the metadata file names it; one file holding several kinds.
    let ward = &files["ward-7"];
    assert_eq!(ward["dataset"], "ward-7-nord");
    assert_eq!(
        ward["entities"],
        json!([["encounters", 1], ["facilities", 1], ["providers", 1], ["patients", 2], ["pharmacy_claims", 1]])
    );
    let back = export(&env, "ward-7-nord");
    assert_eq!((back["cohort_id"].as_str(), back["name"].as_str()), (Some("w7"), Some("Ward 7 – Nord")));
    assert_eq!(back["entities"]["pharmacy_claims"][0]["ndc"], "00002-1433-80");

    // Simulation results: tables named as `cohort simulate` names them, the aggregates checked.
    let sim = &files["ape-2023.json"];
    assert_eq!(sim["kind"], "simulation");
    assert_eq!(q("SELECT count(*) FROM \"ape-2023\".patients"), "3");
    assert_eq!(q("SELECT count(*) FROM \"ape-2023\".visits"), "4");
    assert_eq!(
        env.query_csv("SELECT patient_id, visit_number, day, days_since_enrolment, injected, cumulative_injections FROM \"ape-2023\".visits ORDER BY patient_id, visit_number"),
        "patient_id,visit_number,day,days_since_enrolment,injected,cumulative_injections\n\
         P001,1,0,0,true,1\nP001,2,28,28,true,2\nP001,3,56,56,false,2\nP002,1,7,0,true,1\n"
    );
    assert_eq!(q("SELECT total_injections FROM \"ape-2023\".patients WHERE patient_id = 'P001'"), "2");
    let checks: BTreeMap<String, Value> = sim["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["aggregate"].as_str().unwrap().to_string(), c.clone()))
        .collect();
    assert_eq!(checks["total_injections"]["agrees"], false, "{checks:?}");
    assert_eq!(checks["total_injections"]["derived"], 3);
    assert_eq!(checks["patient_count"]["agrees"], true);
    assert_eq!(checks["discontinuation_counts.Planned"]["agrees"], true);
    assert_eq!(checks["unique_discontinued_patients"]["agrees"], true);
    assert!(sim["notes"].to_string().contains("stored aggregate `total_injections` is 5, but the tables give 3"));
    assert_eq!(export(&env, "ape-2023"), simulation(), "the run writes back whole, with its patient without visits");

    // Generic records: one table each; the mixed `score` kept.
    assert_eq!(q("SELECT count(*) FROM visits.visits"), "3");
    assert_eq!(q("SELECT sum(score) FROM visits.visits"), "7.5");
    assert_eq!(q("SELECT score__json FROM visits.visits WHERE id = 2"), "\"\"\"n/a\"\"\"");
    assert_eq!(export(&env, "events"), json!([{"id": 1, "kind": "x"}, {"id": 2, "kind": "y"}]));

    // Running again changes nothing: every source is already migrated (the journal says so).
    let tree = env.tree();
    let again = migrate_json(&env, &["--no-backup", root.to_str().unwrap()], 1);
    let again = by_source(&again);
    for file in ["diabetes.json", "hf.json", "flat.json", "ward-7", "ape-2023.json", "visits.json", "events.ndjson"] {
        assert_eq!(again[file]["outcome"], "already-migrated", "{file}: {}", again[file]);
    }
    let changed: Vec<_> = env.tree().into_iter().filter(|(k, v)| tree.get(k) != Some(v)).map(|(k, _)| k).collect();
    assert!(changed.iter().all(|k| k.starts_with("catalog")), "a re-run changed {changed:?}");
}

#[test]
fn a_dry_run_writes_nothing() {
    let env = Env::new();
    let root = legacy(&env);
    let legacy_before = hashes(&root);
    // No store yet: the dry run plans and creates none.
    let plan = migrate_json(&env, &["--dry-run", root.to_str().unwrap()], 1);
    assert!(!env.store().exists(), "a dry run created the store");
    let files = by_source(&plan);
    assert_eq!(plan["dry_run"], true);
    assert_eq!(files["diabetes.json"]["outcome"], "would-migrate");
    assert_eq!(files["diabetes.json"]["dataset"], "diabetes-kohorte-zurich-arzte");
    assert_eq!(files["ape-2023.json"]["entities"], json!([["patients", 3], ["visits", 4]]));
    assert_eq!(files["truncated.json"]["outcome"], "failed");

    // With a store holding one of the names: the clash shows in the plan, and nothing changes.
    env.ok(&["migrate", "--no-backup", root.join("cohorts/diabetes.json").to_str().unwrap()]);
    let other = env.path("other/diabetes-copy.json");
    let mut changed = spec_v1();
    changed["entities"]["patients"][1]["gender"] = json!("U");
    write_json(&other, &changed);
    let store_before = env.tree();
    let legacy_now = hashes(&root);
    let plan = migrate_json(&env, &["--dry-run", root.to_str().unwrap(), other.to_str().unwrap()], 1);
    let files = by_source(&plan);
    assert_eq!(files["diabetes.json"]["outcome"], "already-migrated");
    assert_eq!(files["diabetes-copy.json"]["outcome"], "conflict");
    assert!(files["diabetes-copy.json"]["reason"].as_str().unwrap().contains("--overwrite"));
    assert_eq!(env.tree(), store_before, "the dry run changed the store");
    assert_eq!(hashes(&root), legacy_now);
    assert_eq!(hashes(&root), legacy_before);
    assert!(!env.store().join("backups").exists());
}

#[test]
fn a_name_clash_is_a_conflict_until_overwrite_makes_a_new_version() {
    let env = Env::new();
    let first = env.path("a/cohort.json");
    write_json(&first, &spec_v1());
    let second = env.path("b/cohort.json");
    let mut changed = spec_v1();
    changed["entities"]["patients"].as_array_mut().unwrap().push(json!({"mrn": "MRN-0003"}));
    write_json(&second, &changed);
    env.ok(&["migrate", first.to_str().unwrap()]);
    let report = migrate_json(&env, &[second.to_str().unwrap()], 0);
    assert_eq!(report["files"][0]["outcome"], "conflict");
    let name = "diabetes-kohorte-zurich-arzte";
    assert_eq!(env.json(&["versions", name]).as_array().unwrap().len(), 1);

    let report = migrate_json(&env, &["--overwrite", second.to_str().unwrap()], 0);
    assert_eq!(report["files"][0]["outcome"], "migrated");
    assert_eq!(report["files"][0]["version"], 2);
    assert_eq!(env.json(&["versions", name]).as_array().unwrap().len(), 2, "the old version stays");
    assert_eq!(export(&env, &format!("{name}@1")), spec_v1());
    assert_eq!(export(&env, name), changed);

    // `--name` migrates it beside the first instead.
    let third = env.path("c/cohort.json");
    write_json(&third, &flat_legacy());
    let report = migrate_json(&env, &["--name", "flat-copy", third.to_str().unwrap()], 0);
    assert_eq!(report["files"][0]["dataset"], "flat-copy");
}

/// Killed (SIGKILL) in the middle of committing a batch, then run again: every file is migrated
/// exactly once, and the originals and the backup are intact.
#[test]
fn killed_midway_a_rerun_migrates_every_file_exactly_once() {
    let env = Env::new();
    let root = env.path("many");
    let mut rng = Lcg(7);
    for i in 0..30 {
        let patients: Vec<Value> = (0..(5 + rng.next() % 20))
            .map(|p| json!({"mrn": format!("M{i}-{p}"), "age": rng.next() % 90, "gender": (["F", "M"][(p % 2) as usize])}))
            .collect();
        write_json(
            &root.join(format!("cohort-{i:02}.json")),
            &json!({"schema_version": "1.0", "name": format!("Cohort {i}"), "created_at": "2024-01-01T00:00:00Z",
                    "entities": {"patients": patients, "encounters": [{"encounter_id": format!("E{i}"), "patient_mrn": format!("M{i}-0")}]}}),
        );
    }
    let before = hashes(&root);
    let go = env.path("go");
    let mut child = env
        .cmd()
        .args(["migrate", "--batch-size", "10", root.to_str().unwrap()])
        .env("COHORT_FAILPOINT", format!("commit.after_catalog:wait={}", go.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The first batch of ten is in the catalog, with its journal entries; the rest are not.
    wait_until("the first commit", || go.with_extension("reached").exists());
    child.kill().unwrap();
    assert!(!child.wait().unwrap().success());
    assert_eq!(hashes(&root), before, "the originals changed");
    let backups: Vec<PathBuf> =
        std::fs::read_dir(env.store().join("backups")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(backups.len(), 1);
    let first_backup = hashes(&backups[0]);

    let report = migrate_json(&env, &[root.to_str().unwrap()], 0);
    let outcomes: Vec<&str> =
        report["files"].as_array().unwrap().iter().map(|f| f["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes.iter().filter(|o| **o == "already-migrated").count(), 10, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| **o == "migrated").count(), 20, "{outcomes:?}");
    let list = env.json(&["list"]);
    assert_eq!(list.as_array().unwrap().len(), 30);
    for d in list.as_array().unwrap() {
        assert_eq!(d["current_version"], 1, "{} was migrated twice", d["name"]);
    }
    for i in 0..30 {
        let source: Value =
            serde_json::from_slice(&std::fs::read(root.join(format!("cohort-{i:02}.json"))).unwrap()).unwrap();
        assert_eq!(export(&env, &format!("cohort-{i}")), source);
    }
    assert_eq!(hashes(&root), before, "the originals changed");
    assert_eq!(hashes(&backups[0]), first_backup, "the first backup changed");
    let doctor = env.json(&["doctor"]);
    assert_eq!(doctor["problems"].as_array().unwrap().len(), 0, "{doctor}");
    assert!(std::fs::read_dir(env.store().join("staging")).unwrap().next().is_none(), "staging left behind");
}

/// A 50 MB cohort goes in and writes back identical.
#[test]
fn a_fifty_megabyte_cohort_round_trips() {
    let env = Env::new();
    let path = env.path("big.json");
    let mut rng = Lcg(11);
    let mut patients = Vec::new();
    let mut labs = Vec::new();
    let mut p: u64 = 0;
    loop {
        let mrn = format!("MRN-{p:07}");
        patients.push(json!({"mrn": mrn, "name": {"given_name": format!("Given{}", rng.next() % 1000),
            "family_name": format!("Family{}", rng.next() % 5000)}, "birth_date": format!("19{:02}-0{}-1{}", 20 + rng.next() % 80, 1 + rng.next() % 9, rng.next() % 10),
            "gender": (["F", "M", "O", "U"][(rng.next() % 4) as usize]), "address": {"city": "Zürich", "postal_code": format!("{}", 8000 + rng.next() % 100)}}));
        for _ in 0..4 {
            let value =
                if rng.next().is_multiple_of(50) { json!("<5") } else { json!((rng.next() % 2000) as f64 / 10.0) };
            labs.push(json!({"patient_mrn": mrn, "loinc_code": "2345-7", "value": value, "unit": "mg/dL",
                             "collected_time": format!("2023-0{}-1{}T08:00:00Z", 1 + rng.next() % 9, rng.next() % 10)}));
        }
        p += 1;
        if p.is_multiple_of(10_000) && serde_json::to_vec(&json!([&patients, &labs])).unwrap().len() > 50_000_000 {
            break;
        }
    }
    let doc = json!({"schema_version": "1.0", "name": "Big", "created_at": "2024-01-01T00:00:00Z",
                     "entities": {"patients": patients, "lab_results": labs}});
    std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() > 50_000_000);
    let report = migrate_json(&env, &["--no-backup", path.to_str().unwrap()], 0);
    assert_eq!(report["files"][0]["outcome"], "migrated", "{}", report["files"][0]);
    assert_eq!(env.scalar("SELECT count(*) FROM big.patients"), p.to_string());
    assert_eq!(export(&env, "big"), doc);
}

/// With no path, the legacy apps' folders under the home directory are searched.
#[test]
fn with_no_path_the_legacy_folders_are_searched() {
    let env = Env::new();
    let home = env.path("home");
    write_json(&home.join(".healthsim/cohorts/diabetes.json"), &spec_v1());
    write_json(&home.join(".healthsim/workspaces/hf.json"), &workspace_v2());
    let out = env.cmd().args(["--json", "migrate", "--dry-run"]).env("HOME", &home).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let files = by_source(&plan);
    assert_eq!(files.len(), 2, "{plan}");
    assert_eq!(files["diabetes.json"]["outcome"], "would-migrate");
    assert_eq!(files["hf.json"]["shape"], "workspace-v2");

    let empty = env.path("empty-home");
    std::fs::create_dir_all(&empty).unwrap();
    let out = env.cmd().args(["migrate", "--dry-run"]).env("HOME", &empty).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no legacy folders found"));
}

/// A saved cohort folder as the legacy app left it: entity files of names no list knows beside
/// known ones, nested objects and lists, and the README, HL7 message and X12 transactions that
/// belong to the cohort. Returns the JSON files' content by name.
fn saved_folder(dir: &Path) -> BTreeMap<String, Value> {
    let address = |street: &str, city: &str, zip: &str| json!({"line1": street, "line2": null, "city": city, "state": "MA", "postal_code": zip, "country": "US"});
    let json_files = BTreeMap::from([
        (
            "patient.json".to_string(),
            json!([
                {"mrn": "MRN-100234", "name": {"given_name": "Maria", "middle_name": "L", "family_name": "Gonzalez",
                 "prefix": null, "suffix": null}, "birth_date": "1961-04-12", "gender": "F", "race": "2106-3",
                 "ethnicity": "2135-2", "ssn": "999-12-3456", "address": address("12 Elm St", "Springfield", "01103"),
                 "contact": {"phone": "+1 413 555 0101", "email": "maria.gonzalez@example.org"},
                 "conditions": [{"code": "E11.9", "onset": "2015-06-01"}]},
                {"mrn": "MRN-100235", "name": {"given_name": "James", "family_name": "O'Neil"},
                 "birth_date": "1948-11-30", "gender": "M", "address": address("4 Oak Ave", "Chicopee", "01020"),
                 "contact": {"phone": "+1 413 555 0199"}, "conditions": []}
            ]),
        ),
        (
            "person.json".to_string(),
            json!({"person_id": "PER-100234", "mrn": "MRN-100234", "ssn": "999-12-3456",
                   "name": {"given_name": "Maria", "family_name": "Gonzalez"}, "birth_date": "1961-04-12",
                   "identifiers": [{"system": "MRN", "value": "MRN-100234"}, {"system": "MEMBER", "value": "MEM-88121"}],
                   "address": address("12 Elm St", "Springfield", "01103")}),
        ),
        (
            "member.json".to_string(),
            json!([{"member_id": "MEM-88121", "subscriber_id": "SUB-88121", "relationship": "18",
                    "name": {"given_name": "Maria", "family_name": "Gonzalez"}, "birth_date": "1961-04-12",
                    "gender": "F", "plan": {"plan_code": "HMO-GOLD", "group_number": "GRP-4410",
                    "payer": {"name": "Commonwealth Health Plan", "payer_id": "CHP01"}},
                    "enrollment_segments": [
                        {"start_date": "2022-01-01", "end_date": "2022-12-31", "coverage": "HLT", "pcp_npi": "1234567893"},
                        {"start_date": "2023-01-01", "end_date": null, "coverage": "HLT", "pcp_npi": "1234567893"}]}]),
        ),
        (
            "claims.json".to_string(),
            json!([
                {"claim_id": "CLM-2023-0001", "member_id": "MEM-88121", "claim_type": "837P", "status": "paid",
                 "service_date": "2023-03-14", "billing_provider": {"npi": "1234567893", "name": "Springfield Family Medicine"},
                 "diagnoses": ["E11.9", "I10"], "total_charge": 245.0, "total_paid": 180.5,
                 "claim_lines": [
                    {"line_number": 1, "procedure_code": "99214", "modifiers": [], "charge": 180.0, "units": 1},
                    {"line_number": 2, "procedure_code": "83036", "modifiers": ["QW"], "charge": 65.0, "units": 1}]},
                {"claim_id": "CLM-2023-0002", "member_id": "MEM-88121", "claim_type": "837P", "status": "denied",
                 "service_date": "2023-05-02", "billing_provider": {"npi": "1234567893", "name": "Springfield Family Medicine"},
                 "diagnoses": ["E11.9"], "total_charge": 95.0, "total_paid": 0,
                 "denial_reason": "CO-97", "claim_lines": [
                    {"line_number": 1, "procedure_code": "99213", "modifiers": [], "charge": 95.0, "units": 1}]}
            ]),
        ),
        (
            "enrollment.json".to_string(),
            json!({"enrollment_id": "ENR-5512", "member_id": "MEM-88121", "sponsor": "Acme Manufacturing",
                   "maintenance_type": "021", "effective_date": "2022-01-01",
                   "coverages": [{"insurance_line": "HLT", "plan_code": "HMO-GOLD", "start": "2022-01-01"},
                                 {"insurance_line": "DEN", "plan_code": "DEN-BASIC", "start": "2022-07-01"}],
                   "dependents": [{"relationship": "01", "name": {"given_name": "Luis", "family_name": "Gonzalez"},
                                   "birth_date": "1959-02-20"}]}),
        ),
    ]);
    std::fs::create_dir_all(dir).unwrap();
    for (name, value) in &json_files {
        write_json(&dir.join(name), value);
    }
    std::fs::write(
        dir.join("README.md"),
        "# Diabetes pilot\n\nSaved by the cohort builder on 2023-06-01. One member, her claims and enrollment.\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("adt-a01-admission.hl7"),
        "MSH|^~\\&|HEALTHSIM|SPRINGFIELD|EHR|HOSP|20230314083000||ADT^A01|MSG00001|P|2.5.1\r\
         EVN|A01|20230314083000\r\
         PID|1||MRN-100234^^^SPRINGFIELD^MR||Gonzalez^Maria^L||19610412|F|||12 Elm St^^Springfield^MA^01103\r\
         PV1|1|I|MED^201^A|E|||1234567893^Patel^Anita\r",
    )
    .unwrap();
    std::fs::write(
        dir.join("claim-837p.edi"),
        "ISA*00*          *00*          *ZZ*HEALTHSIM      *ZZ*CHP01          *230315*1200*^*00501*000000001*0*P*:~\
         GS*HC*HEALTHSIM*CHP01*20230315*1200*1*X*005010X222A1~ST*837*0001*005010X222A1~\
         CLM*CLM-2023-0001*245***11:B:1*Y*A*Y*Y~HI*ABK:E119*ABF:I10~LX*1~SV1*HC:99214*180*UN*1***1~\
         SE*7*0001~GE*1*1~IEA*1*000000001~",
    )
    .unwrap();
    std::fs::write(
        dir.join("enrollment-834.edi"),
        "ISA*00*          *00*          *ZZ*ACME           *ZZ*CHP01          *211215*0900*^*00501*000000002*0*P*:~\
         GS*BE*ACME*CHP01*20211215*0900*2*X*005010X220A1~ST*834*0001*005010X220A1~BGN*00*ENR-5512*20211215~\
         INS*Y*18*021*28*A***FT~REF*0F*SUB-88121~NM1*IL*1*Gonzalez*Maria****34*999123456~\
         HD*021**HLT*HMO-GOLD~DTP*348*D8*20220101~SE*9*0001~GE*1*2~IEA*1*000000002~",
    )
    .unwrap();
    json_files
}

/// Every file directly in `dir` with its bytes.
fn files_in(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap())
        })
        .collect()
}

/// The folder `export --format cohort-folder` writes equals `original`: JSON files as JSON
/// values, every other file byte for byte.
fn assert_same_folder(original: &Path, back: &Path) {
    let (a, b) = (files_in(original), files_in(back));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>(), "the files written back differ");
    for (name, bytes) in &a {
        if name.ends_with(".json") {
            let (x, y): (Value, Value) =
                (serde_json::from_slice(bytes).unwrap(), serde_json::from_slice(&b[name]).unwrap());
            assert_eq!(x, y, "{name} written back differs");
        } else {
            assert!(*bytes == b[name], "{name} is not written back byte for byte");
        }
    }
}

/// The real-data problem: a saved folder whose files are not all named after entity types was
/// split into datasets called `patient` and `claims`, its other JSON and its README, HL7 and X12
/// files left out. It is one cohort, named after the folder, with every file in it.
#[test]
fn a_saved_folder_is_one_cohort_with_every_file() {
    let env = Env::new();
    let folder = env.path("saved/diabetes-pilot");
    let json_files = saved_folder(&folder);
    let report = migrate_json(&env, &[env.path("saved").to_str().unwrap()], 0);
    let files = report["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "one source, the folder: {report}");
    let f = &files[0];
    assert_eq!(PathBuf::from(f["source"].as_str().unwrap()), folder);
    assert_eq!((f["shape"].as_str(), f["outcome"].as_str()), (Some("folder-per-cohort"), Some("migrated")), "{f}");
    assert_eq!(f["dataset"], "diabetes-pilot");
    assert_eq!(
        f["entities"],
        json!([["claims", 2], ["enrollments", 1], ["members", 1], ["patients", 2], ["persons", 1]])
    );
    assert!(report["passed_over"].as_array().unwrap().is_empty(), "{report}");
    let list = env.json(&["list"]);
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["diabetes-pilot"]);

    // Every entity type a table, nested objects and lists kept as structs and lists.
    let show = env.json(&["show", "diabetes-pilot"]);
    let tables: Vec<&str> =
        show["shown"]["tables"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(tables, ["claims", "enrollments", "members", "patients", "persons"]);
    let q = |sql: &str| env.scalar(sql);
    assert_eq!(q("SELECT plan.payer.payer_id FROM \"diabetes-pilot\".members"), "CHP01");
    assert_eq!(q("SELECT len(enrollment_segments) FROM \"diabetes-pilot\".members"), "2");
    assert_eq!(q("SELECT sum(len(claim_lines)) FROM \"diabetes-pilot\".claims"), "3");
    assert_eq!(q("SELECT coverages[2].plan_code FROM \"diabetes-pilot\".enrollments"), "DEN-BASIC");
    assert_eq!(q("SELECT name.family_name FROM \"diabetes-pilot\".patients WHERE mrn = 'MRN-100235'"), "O'Neil");
    assert_eq!(q("SELECT identifiers[2].value FROM \"diabetes-pilot\".persons"), "MEM-88121");

    // The other files are attachments, each with its SHA-256, listed by `cohort show`.
    let others = ["README.md", "adt-a01-admission.hl7", "claim-837p.edi", "enrollment-834.edi"];
    let provenance = &show["versions"][0]["provenance"];
    let attachments: BTreeMap<&str, &str> = provenance["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["name"].as_str().unwrap(), a["sha256"].as_str().unwrap()))
        .collect();
    let text = env.ok(&["show", "diabetes-pilot"]).stdout;
    for name in others {
        let sha = cohort_store::hash::sha256_file(&folder.join(name), |_| {}).unwrap().0;
        assert_eq!(attachments.get(name), Some(&sha.as_str()), "{name}");
        assert!(text.contains(&format!("{name} (")) && text.contains(&sha[..16]), "`show` lacks {name}:\n{text}");
    }
    assert!(text.contains("Attachments of version 1"), "{text}");

    // The backup holds every file of the folder, checksummed.
    let backup = PathBuf::from(report["backup"].as_str().unwrap());
    let manifest: Value = serde_json::from_slice(&std::fs::read(backup.join("manifest.json")).unwrap()).unwrap();
    let backed_up: BTreeMap<String, String> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let original = PathBuf::from(f["original"].as_str().unwrap());
            (original.file_name().unwrap().to_string_lossy().into_owned(), f["sha256"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(backed_up.len(), 9, "5 JSON files and 4 others: {manifest}");
    for (name, sha) in &backed_up {
        assert_eq!(*sha, cohort_store::hash::sha256_file(&folder.join(name), |_| {}).unwrap().0, "{name}");
    }

    // The folder written back: every file, JSON as equal values, the others byte for byte.
    let back = env.path("back/diabetes-pilot");
    env.ok(&["export", "diabetes-pilot", "--format", "cohort-folder", "--output", back.to_str().unwrap()]);
    assert_same_folder(&folder, &back);
    assert_eq!(files_in(&back).len(), json_files.len() + others.len());
    // Never into a folder that has files, and the folder is left as it was.
    let r =
        env.fails(&["export", "diabetes-pilot", "--format", "cohort-folder", "--output", back.to_str().unwrap()], 1);
    assert!(r.stderr.contains("not empty"), "{}", r.stderr);
    assert_same_folder(&folder, &back);
    // The spec v1.0 document still comes out, with the folder's name and every entity.
    let doc = export(&env, "diabetes-pilot");
    assert_eq!(doc["name"], "diabetes-pilot");
    assert_eq!(doc["entities"]["claims"], json_files["claims.json"]);
    assert_eq!(doc["entities"]["enrollments"][0], json_files["enrollment.json"]);
}

/// Folders of one name in different places, and a folder named like a dataset from elsewhere,
/// all migrate under names of their own; a folder that changed becomes a new version of the
/// dataset it made before.
#[test]
fn folders_never_clash_and_a_changed_folder_is_a_new_version() {
    let env = Env::new();
    let ward = |site: &str, mrns: &[&str]| {
        let dir = env.path(&format!("{site}/ward-7"));
        let patients: Vec<Value> = mrns.iter().map(|m| json!({"mrn": m, "site": site})).collect();
        write_json(&dir.join("patient.json"), &json!(patients));
        dir
    };
    ward("site-a", &["A-1", "A-2"]);
    ward("site-b", &["B-1"]);
    // `icu` exists already, from elsewhere; so does `patient`, once made from a loose file.
    let csv = env.write("icu.csv", "bed,occupied\n1,true\n2,false\n");
    env.ok(&["ingest", csv.to_str().unwrap(), "--name", "icu"]);
    write_json(&env.path("loose/patient.json"), &json!([{"mrn": "L-1"}]));
    env.ok(&["migrate", "--no-backup", env.path("loose/patient.json").to_str().unwrap()]);
    let icu = env.path("units/icu");
    write_json(&icu.join("patient.json"), &json!([{"mrn": "I-1"}]));
    std::fs::write(icu.join("README.md"), "ICU beds").unwrap();
    let paths = [env.path("site-a"), env.path("site-b"), env.path("units")];
    let args: Vec<&str> = paths.iter().map(|p| p.to_str().unwrap()).collect();

    let names = |report: &Value| -> Vec<(String, String, String)> {
        report["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let source = f["source"].as_str().unwrap();
                let at = source.strip_prefix(env.dir.path().to_str().unwrap()).unwrap().to_string();
                (at, f["outcome"].as_str().unwrap().to_string(), f["dataset"].as_str().unwrap().to_string())
            })
            .collect()
    };
    let plan = migrate_json(&env, &[&["--dry-run"], args.as_slice()].concat(), 0);
    let expected = [("/site-a/ward-7", "ward-7"), ("/site-b/ward-7", "ward-7-2"), ("/units/icu", "icu-2")];
    let would: Vec<_> = expected.iter().map(|(s, d)| (s.to_string(), "would-migrate".into(), d.to_string())).collect();
    assert_eq!(names(&plan), would);
    let report = migrate_json(&env, &args, 0);
    let done: Vec<_> = expected.iter().map(|(s, d)| (s.to_string(), "migrated".into(), d.to_string())).collect();
    assert_eq!(names(&report), done, "{report}");
    assert!(report["files"][1]["notes"].to_string().contains("`ward-7` is taken"), "{report}");
    assert_eq!(env.scalar("SELECT string_agg(mrn, ' ' ORDER BY mrn) FROM \"ward-7\".patients"), "A-1 A-2");
    assert_eq!(env.scalar("SELECT mrn FROM \"ward-7-2\".patients"), "B-1");
    assert_eq!(env.scalar("SELECT count(*) FROM icu.icu"), "2", "the dataset from elsewhere is untouched");
    assert_eq!(env.json(&["versions", "icu"]).as_array().unwrap().len(), 1);
    assert_eq!(env.scalar("SELECT mrn FROM \"icu-2\".patients"), "I-1");
    assert_eq!(env.scalar("SELECT mrn FROM patient.patient"), "L-1");

    // Again: the journal knows every folder.
    let again = migrate_json(&env, &args, 0);
    assert!(names(&again).iter().all(|(_, o, _)| o == "already-migrated"), "{again}");

    // site-a's folder changes: a new version of the dataset it made, whatever else is named so.
    ward("site-a", &["A-1", "A-2", "A-3"]);
    let report = migrate_json(&env, &args, 0);
    let outcomes = names(&report);
    assert_eq!(outcomes[0], ("/site-a/ward-7".into(), "migrated".into(), "ward-7".into()), "{report}");
    assert_eq!(report["files"][0]["version"], 2);
    assert_eq!(outcomes[1].1, "already-migrated");
    assert_eq!(env.scalar("SELECT count(*) FROM \"ward-7\".patients"), "3");
    assert_eq!(env.scalar("SELECT count(*) FROM \"ward-7@1\".patients"), "2", "the old version stays");
    assert_eq!(env.json(&["versions", "ward-7-2"]).as_array().unwrap().len(), 1);
    assert_eq!(env.json(&["list"]).as_array().unwrap().len(), 5);
}

/// One entity list with fifteen shapes of object: keys that come and go, one key a number, text,
/// object, list or boolean from row to row, nested objects whose inner fields differ in type or
/// only in case, an empty key and a field named like cohort's own column.
fn fifteen_shapes() -> Value {
    json!([
        {"mrn": "P01", "age": 54, "name": {"given": "Ana", "family": "Silva"}, "address": {"city": "Porto", "zip": 4000}},
        {"mrn": "P02", "age": "fifty", "name": "Bo Li", "address": {"city": "Lyon", "zip": "69001"}},
        {"mrn": "P03", "age": {"years": 61, "months": 2}, "name": ["Cy", "Doe"], "active": true},
        {"mrn": "P04", "age": [61], "active": "yes", "tags": ["a", "b"]},
        {"mrn": 5, "age": true, "tags": "a,b", "address": ["Main St 1", "Bern"]},
        {"id": "X6", "address": {"city": {"name": "Zug", "canton": "ZG"}, "zip": 6300}},
        {"id": 7, "address": {"city": "Chur", "zip": 7000, "lines": ["Bahnhofstrasse 1"]}, "tags": [1, "two", {"three": 3}]},
        {"mrn": "P08", "address": {"City": "Sion", "zip": 1950}},
        {"mrn": "P09", "visits": [{"date": "2023-01-02", "score": 3}, {"date": "2023-02-01", "score": "n/a"}]},
        {"mrn": "P10", "visits": [{"date": 20230301}], "Name": "upper-case key"},
        {"mrn": "P11", "birth_date": "1970-01-01", "weight": 70.5, "extra": null},
        {"mrn": "P12", "birth_date": "not known", "weight": 71},
        {"mrn": "P13", "contact": {"phone": {"home": "+41 1", "mobile": "+41 2"}}},
        {"mrn": "P14", "contact": {"phone": "+41 3", "email": null}, "": "an empty key",
         "_original_json": "a field named like cohort's column"},
        {"mrn": "P15", "flags": {}, "notes": [], "nested": {"a": {"b": {"c": [1, {"d": "deep"}]}}}}
    ])
}

/// Entity lists of any mix of shapes migrate, verify and write back; what does not fit a column
/// is in `<field>__json`; and the dry run said beforehand exactly what the run then did.
#[test]
fn fifteen_shapes_of_entity_migrate_and_the_dry_run_says_so() {
    let env = Env::new();
    let root = legacy(&env);
    let shapes = root.join("cohorts/shapes");
    write_json(&shapes.join("patient.json"), &fifteen_shapes());
    // Fifteen shapes that share no key: DuckDB took such rows for maps (a binder error naming
    // cohort's scratch file) after the dry run had said "would migrate".
    let disjoint: Vec<Value> =
        (0..15).map(|i| Value::Object((0..5).map(|j| (format!("field_{i}_{j}"), json!(i * j))).collect())).collect();
    write_json(&shapes.join("encounter.json"), &json!(disjoint));
    // Two that once passed a dry run and failed in the run: a run whose patients have no visits
    // (an empty table), and a folder of only metadata and a README (no table at all).
    write_json(
        &root.join("runs/no-visits.json"),
        &json!({"simulation_type": "DES", "patient_count": 2, "patient_histories": {"P1": [], "P2": []}}),
    );
    write_json(&root.join("cohorts/readme-only/cohort.json"), &json!({"id": "r", "name": "Readme only"}));
    std::fs::write(root.join("cohorts/readme-only/README.md"), "nothing saved yet").unwrap();
    let plan = migrate_json(&env, &["--dry-run", root.to_str().unwrap()], 1);
    let report = migrate_json(&env, &[root.to_str().unwrap()], 1);
    let (planned, done) = (by_source(&plan), by_source(&report));
    assert_eq!(planned.keys().collect::<Vec<_>>(), done.keys().collect::<Vec<_>>());
    for (source, p) in &planned {
        let d = &done[source];
        let expected = match p["outcome"].as_str().unwrap() {
            "would-migrate" => "migrated",
            other => other,
        };
        assert_eq!(d["outcome"], expected, "{source}: the dry run said {p}, the run did {d}");
        assert_eq!(
            (&d["dataset"], &d["entities"], &d["shape"]),
            (&p["dataset"], &p["entities"], &p["shape"]),
            "{source}"
        );
    }
    assert_eq!(done["no-visits.json"]["outcome"], "migrated", "{}", done["no-visits.json"]);
    assert_eq!(export(&env, "no-visits")["patient_histories"], json!({"P1": [], "P2": []}));
    assert_eq!(done["readme-only"]["outcome"], "skipped", "{}", done["readme-only"]);
    let s = &done["shapes"];
    assert_eq!(s["outcome"], "migrated", "{s}");
    assert_eq!(s["entities"], json!([["encounters", 15], ["patients", 15]]));
    assert_eq!(env.scalar("SELECT field_14_4 FROM shapes.encounters WHERE field_14_4 IS NOT NULL"), "56");

    // What does not fit a column is in its `__json` column, nested conflicts too.
    let q = |sql: &str| env.scalar(sql);
    assert_eq!(q("SELECT count(*) FROM shapes.patients"), "15");
    assert_eq!(q("SELECT count(*) FROM shapes.patients WHERE age__json IS NOT NULL"), "4");
    assert_eq!(q("SELECT age FROM shapes.patients WHERE mrn = 'P02'"), "fifty");
    assert_eq!(q("SELECT age__json::JSON->>'years' FROM shapes.patients WHERE mrn = 'P03'"), "61");
    assert_eq!(q("SELECT mrn__json FROM shapes.patients WHERE mrn IS NULL AND mrn__json IS NOT NULL"), "5");
    assert_eq!(q("SELECT address.city FROM shapes.patients WHERE mrn = 'P01'"), "Porto");
    assert_eq!(q("SELECT address.lines[1] FROM shapes.patients WHERE id__json = '7'"), "Bahnhofstrasse 1");
    // Porto and Chur fit; Lyon's zip is text, Zug's city an object, Sion's `City` another spelling,
    // and Bern's address a list: those four are kept whole as JSON.
    assert_eq!(q("SELECT count(*) FROM shapes.patients WHERE address__json IS NOT NULL"), "4");
    assert_eq!(
        q("SELECT address__json FROM shapes.patients WHERE mrn = 'P08'"),
        "\"{\"\"City\"\":\"\"Sion\"\",\"\"zip\"\":1950}\""
    );
    assert_eq!(q("SELECT count(*) FROM shapes.patients WHERE visits__json IS NOT NULL"), "2");
    assert_eq!(q("SELECT typeof(birth_date) FROM shapes.patients LIMIT 1"), "VARCHAR");
    assert_eq!(q("SELECT sum(weight) FROM shapes.patients"), "141.5");
    assert_eq!(
        q("SELECT \"_original_json_2\" FROM shapes.patients WHERE mrn = 'P14'"),
        "a field named like cohort's column"
    );
    assert_eq!(q("SELECT \"_\" FROM shapes.patients WHERE mrn = 'P14'"), "an empty key");
    assert_eq!(q("SELECT \"Name_2\" FROM shapes.patients WHERE mrn = 'P10'"), "upper-case key");
    // A list of a number and an object, deep inside: the whole value is kept as JSON.
    assert_eq!(q("SELECT nested__json::JSON->'a'->'b'->'c'->1->>'d' FROM shapes.patients WHERE mrn = 'P15'"), "deep");
    let notes = s["notes"].to_string();
    assert!(notes.contains("patients.age: 4 value(s) that do not fit"), "{notes}");
    assert!(notes.contains("stored as column `Name_2`"), "{notes}");
    assert!(!notes.contains(".ndjson") && !notes.contains("migrate-"), "a note names a temporary file: {notes}");

    // Written back: the folder's file, and the spec v1.0 document.
    let back = env.path("back/shapes");
    env.ok(&["export", "shapes", "--format", "cohort-folder", "--output", back.to_str().unwrap()]);
    assert_same_folder(&shapes, &back);
    assert_eq!(export(&env, "shapes")["entities"]["patients"], fifteen_shapes());
}

/// JSON that is not entities, inside a cohort folder, is kept whole in `documents` and written
/// back byte for byte; it never makes the folder fail or be skipped.
#[test]
fn other_json_in_a_cohort_folder_lands_in_documents() {
    let env = Env::new();
    let dir = env.path("cohorts/asthma");
    write_json(&dir.join("patient.json"), &json!([{"mrn": "AS-1", "gender": "F"}]));
    let settings = "{\n  \"theme\": \"dark\",\n  \"page_size\": 50,\n  \"show_ssn\": false\n}\n";
    std::fs::write(dir.join("settings.json"), settings).unwrap();
    std::fs::write(dir.join("codes.json"), "[\"J45.20\", \"J45.21\",\n \"J45.901\"]").unwrap();
    std::fs::write(dir.join("threshold.json"), "0.75").unwrap();
    std::fs::write(dir.join("log.ndjson"), "{\"event\": \"opened\"}\n42\n\"closed\"\n").unwrap();
    let report = migrate_json(&env, &[env.path("cohorts").to_str().unwrap()], 0);
    let f = &report["files"][0];
    assert_eq!((f["outcome"].as_str(), f["dataset"].as_str()), (Some("migrated"), Some("asthma")), "{report}");
    assert_eq!(report["files"].as_array().unwrap().len(), 1);
    assert!(f["notes"].to_string().contains("4 JSON document(s) that are not entities"), "{f}");
    assert_eq!(
        env.query_csv("SELECT file FROM asthma.documents ORDER BY file"),
        "file\ncodes.json\nlog.ndjson\nsettings.json\nthreshold.json\n"
    );
    assert_eq!(
        env.scalar("SELECT \"json\"::JSON->>'theme' FROM asthma.documents WHERE file = 'settings.json'"),
        "dark"
    );
    assert_eq!(env.scalar("SELECT count(*) FROM asthma.patients"), "1");
    let back = env.path("asthma-again");
    std::fs::create_dir(&back).unwrap();
    env.ok(&["export", "asthma", "--format", "cohort-folder", "-o", back.to_str().unwrap()]);
    assert_same_folder(&dir, &back);
    let (original, again) = (files_in(&dir), files_in(&back));
    for document in ["settings.json", "codes.json", "threshold.json", "log.ndjson"] {
        assert!(original[document] == again[document], "{document} is not written back byte for byte");
    }
}

/// Numbers are written back as they were written: a 25-digit identifier and a decimal with more
/// digits than a double keeps survive migration and `cohort export --format cohort-json` as text,
/// digit for digit (they were parsed into doubles and came back rounded).
#[test]
fn big_and_precise_numbers_come_back_digit_for_digit() {
    let env = Env::new();
    let text = r#"{"schema_version": "1.0", "name": "Precise", "created_at": "2024-01-01T00:00:00Z",
        "entities": {"lab_results": [
            {"id": "L1", "accession": 1234567890123456789012345, "value": 0.1234567890123456789, "unit": "mg/L"},
            {"id": "L2", "accession": 42, "value": 1.50, "unit": "mg/L"}
        ]}}"#;
    let file = env.write("precise.json", text);
    let report = migrate_json(&env, &["--no-backup", file.to_str().unwrap()], 0);
    let file_report = &by_source(&report)["precise.json"];
    assert_eq!(file_report["outcome"], "migrated", "{report}");
    // The columns hold no rounded number: what a double cannot hold is kept as written, and said.
    assert!(
        file_report["notes"].to_string().contains("lab_results.accession: 1 number(s) with more digits"),
        "{report}"
    );
    assert_eq!(
        env.query_csv("SELECT accession, accession__json, value, value__json FROM precise.lab_results ORDER BY id"),
        "accession,accession__json,value,value__json\n,1234567890123456789012345,,0.1234567890123456789\n42,,1.5,\n"
    );
    let out = env.ok(&["export", "precise", "--format", "cohort-json"]).stdout;
    for digits in ["1234567890123456789012345", "0.1234567890123456789", "1.50"] {
        assert!(out.contains(digits), "{digits} did not come back as written:\n{out}");
    }
}
