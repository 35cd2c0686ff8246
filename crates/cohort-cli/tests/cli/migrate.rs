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
        .args(["migrate", root.to_str().unwrap()])
        .env("COHORT_FAILPOINT", format!("commit.after_catalog:wait={}", go.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The first source of the batch is in the catalog, with its journal entry; the rest are staged.
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
    assert_eq!(outcomes.iter().filter(|o| **o == "already-migrated").count(), 1, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| **o == "migrated").count(), 29, "{outcomes:?}");
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
