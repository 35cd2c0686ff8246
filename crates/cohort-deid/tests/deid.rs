//! De-identification end to end: a registry with canary identifiers in every direct-identifier
//! column and in free text, exported under a profile through DuckDB. No canary may survive, and
//! every interval between a participant's dates must.

use std::collections::BTreeMap;
use std::path::Path;

use cohort_deid::{ExportProfile, Key, Plan, SHIFT_DAYS, plan, prepare};
use cohort_ingest::{IngestOptions, IngestRequest, ingest};
use cohort_store::{CancelToken, DatasetName, NoProgress, ResolvedVersion, Session, Settings, Store, VersionRef};
use duckdb::Connection;
use proptest::prelude::*;

const PROFILE: &str = "\
description: Safe Harbor
tables:
  patients:
    participant: patient_id
    drop: [full_name, email, phone, street, ssn, mrn]
    hash: [family_id]
    dates: [birth_date, enrolled_on]
    zip3: [zip]
    age: [age]
    free_text: [notes]
    keep: [sex]
  visits:
    participant: patient_id
    hash: [visit_id]
    dates: [visit_date]
    free_text: [comment]
    keep: [visual_acuity]
";

/// Identifiers planted in the data; none may appear in an export.
fn canaries(i: usize) -> Vec<String> {
    vec![
        format!("CANARY-PID-{i:04}"),
        format!("Canaryname Person{i}"),
        format!("canary{i}@example.org"),
        format!("(555) 301-{:04}", 1000 + i),
        format!("{i} Canary Lane"),
        format!("{:03}-{:02}-{:04}", 100 + i, 10 + i % 80, 2000 + i),
        format!("MRN-CANARY-{i:05}"),
        format!("FAM-CANARY-{i:03}"),
        format!("https://canary.example.com/p/{i}"),
        format!("10.1.{}.{}", i % 200, 7 + i % 100),
        format!("VISIT-CANARY-{i:04}-"),
    ]
}

fn write_registry(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut patients = String::from(
        "patient_id,full_name,email,phone,street,ssn,mrn,family_id,zip,age,birth_date,enrolled_on,notes,sex\n",
    );
    let mut visits = String::from("patient_id,visit_id,visit_date,comment,visual_acuity\n");
    for i in 0..40usize {
        let c = canaries(i);
        let zip = match i % 4 {
            0 => "02139",
            1 => "03601", // a prefix too small to publish
            2 => "94110-1234",
            _ => "",
        };
        let age = [34, 89, 90, 97, 104][i % 5];
        let notes = format!(
            "\"Seen with {} at {}; call {} or +44 20 7946 {:04}; SSN {}; host {}; fe80::1:{i}\"",
            c[2], c[8], c[3], i, c[5], c[9]
        );
        patients.push_str(&format!(
            "{},{},{},{},{},{},{},{},{zip},{age},19{:02}-0{}-1{},2021-0{}-0{},{notes},{}\n",
            c[0],
            c[1],
            c[2],
            c[3],
            c[4],
            c[5],
            c[6],
            c[7],
            30 + i % 60,
            1 + i % 9,
            i % 10,
            1 + i % 9,
            1 + i % 9,
            ["F", "M"][i % 2]
        ));
        for v in 0..3 {
            visits.push_str(&format!(
                "{},{}{v},2022-{:02}-{:02},\"mail {} or ring 5553019{:03}\",{}\n",
                c[0],
                c[10],
                1 + (i + v * 4) % 12,
                1 + (i * 3 + v) % 28,
                c[2],
                i,
                50 + v
            ));
        }
    }
    let files = vec![dir.join("patients.csv"), dir.join("visits.csv")];
    std::fs::write(&files[0], patients).unwrap();
    std::fs::write(&files[1], visits).unwrap();
    files
}

struct Registry {
    _dir: tempfile::TempDir,
    store: Store,
    version: ResolvedVersion,
    profile_path: std::path::PathBuf,
}

fn registry() -> Registry {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(&dir.path().join("store"), Settings::default()).unwrap();
    let request = IngestRequest {
        name: DatasetName::new("registry").unwrap(),
        files: write_registry(dir.path()),
        description: None,
        tags: None,
        created_by: "test".into(),
        options: IngestOptions::default(),
    };
    ingest(&store, &request, &NoProgress, &CancelToken::default()).unwrap();
    let version = store.resolve(&VersionRef { dataset: DatasetName::new("registry").unwrap(), version: None }).unwrap();
    let profile_path = dir.path().join("safe-harbor.yaml");
    std::fs::write(&profile_path, PROFILE).unwrap();
    Registry { _dir: dir, store, version, profile_path }
}

/// Every row of every table of `plan`, as strings, by table.
fn exported(r: &Registry, plan: &Plan, key: &Key) -> BTreeMap<String, Vec<BTreeMap<String, Option<String>>>> {
    let mut session = Session::new(&r.store).unwrap();
    session.mount(&r.store, &r.version, "d").unwrap();
    prepare(session.connection(), plan, key).unwrap();
    let mut out = BTreeMap::new();
    for t in &plan.tables {
        let conn = session.connection();
        let names: Vec<String> = {
            let mut stmt = conn.prepare(&format!("DESCRIBE {}", t.select)).unwrap();
            stmt.query_map([], |row| row.get::<_, String>(0)).unwrap().map(Result::unwrap).collect()
        };
        let casts = names.iter().map(|n| format!("CAST(\"{n}\" AS VARCHAR)")).collect::<Vec<_>>().join(", ");
        let mut stmt = conn.prepare(&format!("SELECT {casts} FROM ({})", t.select)).unwrap();
        let rows = stmt
            .query_map([], |row| {
                Ok(names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (n.clone(), row.get::<_, Option<String>>(i).unwrap()))
                    .collect())
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        out.insert(t.table.clone(), rows);
    }
    out
}

fn days(date: &str) -> i64 {
    let d: jiff::civil::Date = date[..10].parse().unwrap();
    d.since(jiff::civil::date(2000, 1, 1)).unwrap().get_days() as i64
}

#[test]
fn no_canary_survives_and_every_interval_within_a_participant_does() {
    let r = registry();
    let (profile, _) = ExportProfile::read(&r.profile_path).unwrap();
    let plan = plan(&r.version, &profile, &r.profile_path, None).unwrap();
    let key = Key::from_bytes([7; 32]);
    let tables = exported(&r, &plan, &key);
    assert_eq!(tables["patients"].len(), 40);
    assert_eq!(tables["visits"].len(), 120);

    // No canary anywhere, in any form.
    let every_value: Vec<&str> =
        tables.values().flatten().flat_map(|row| row.values().flatten().map(String::as_str)).collect();
    for i in 0..40 {
        for canary in canaries(i) {
            let found: Vec<&&str> = every_value.iter().filter(|v| v.contains(&canary)).collect();
            assert!(found.is_empty(), "`{canary}` survived: {found:?}");
        }
    }
    for value in &every_value {
        for marker in ["CANARY", "Canary", "canary", "@example", "555301", "7946"] {
            assert!(!value.contains(marker), "`{marker}` survived in `{value}`");
        }
    }
    let columns: Vec<&String> = tables["patients"][0].keys().collect();
    assert_eq!(columns, ["age", "birth_date", "enrolled_on", "family_id", "notes", "patient_id", "sex", "zip"]);

    // The original rows, to compare with.
    let mut session = Session::new(&r.store).unwrap();
    session.mount(&r.store, &r.version, "d").unwrap();
    let conn = session.connection();
    let originals: Vec<(String, String, String, Option<String>, i64)> = conn
        .prepare("SELECT patient_id, CAST(birth_date AS VARCHAR), CAST(enrolled_on AS VARCHAR), CAST(zip AS VARCHAR), age FROM d.patients")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let visits: Vec<(String, String)> = conn
        .prepare("SELECT patient_id, CAST(visit_date AS VARCHAR) FROM d.visits")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();

    for (id, birth, enrolled, zip, age) in &originals {
        let pseudonym = key.pseudonym(id);
        let row = tables["patients"].iter().find(|row| row["patient_id"].as_deref() == Some(&pseudonym)).unwrap();
        let shift = days(enrolled) - days(row["enrolled_on"].as_deref().unwrap());
        assert!((SHIFT_DAYS.0 as i64..=SHIFT_DAYS.1 as i64).contains(&shift), "{id}: shifted by {shift} days");
        assert_eq!(
            days(birth) - days(row["birth_date"].as_deref().unwrap()),
            shift,
            "{id}: one offset per participant"
        );
        for (_, date) in visits.iter().filter(|(v, _)| v == id) {
            let moved = tables["visits"]
                .iter()
                .filter(|v| v["patient_id"].as_deref() == Some(&pseudonym))
                .map(|v| days(v["visit_date"].as_deref().unwrap()))
                .any(|d| days(date) - d == shift);
            assert!(moved, "{id}: the visit of {date} moved by the same {shift} days (so every interval is kept)");
        }
        let expected_zip = match zip.as_deref() {
            None => None,
            Some(z) if z.starts_with("036") => Some("000".to_string()),
            Some(z) => Some(z.chars().filter(char::is_ascii_digit).collect::<String>()[..3].to_string()),
        };
        assert_eq!(row["zip"], expected_zip, "{id}: ZIP {zip:?}");
        let expected_age = (*age).min(90).to_string();
        assert_eq!(row["age"].as_deref(), Some(expected_age.as_str()), "{id}: age {age}");
        let notes = row["notes"].as_deref().unwrap();
        for label in ["[email]", "[url]", "[phone]", "[ssn]", "[ip]"] {
            assert!(notes.contains(label), "{id}: {label} in `{notes}`");
        }
    }
    // Visits join their patients through the pseudonym; other ids get their own.
    let patient_ids: std::collections::BTreeSet<_> =
        tables["patients"].iter().map(|row| row["patient_id"].clone().unwrap()).collect();
    assert!(tables["visits"].iter().all(|v| patient_ids.contains(v["patient_id"].as_deref().unwrap())));
    let visit_ids: std::collections::BTreeSet<_> = tables["visits"].iter().map(|v| v["visit_id"].clone()).collect();
    assert_eq!(visit_ids.len(), 120, "each visit id keeps its own pseudonym");

    // One table whose only id is the participant's: each row once, however many rows share one.
    std::fs::write(
        &r.profile_path,
        PROFILE
            .replace("    hash: [visit_id]\n", "")
            .replace("keep: [visual_acuity]", "keep: [visual_acuity, visit_id]"),
    )
    .unwrap();
    let (profile, _) = ExportProfile::read(&r.profile_path).unwrap();
    let visits_only = cohort_deid::plan(&r.version, &profile, &r.profile_path, Some("visits")).unwrap();
    assert_eq!(visits_only.tables.len(), 1);
    assert_eq!(exported(&r, &visits_only, &key)["visits"].len(), 120);

    // Another key: other pseudonyms and offsets, so two profiles' exports cannot be linked.
    let other = exported(&r, &plan, &Key::from_bytes([8; 32]));
    assert!(other["patients"].iter().all(|row| !patient_ids.contains(row["patient_id"].as_deref().unwrap())));
}

#[test]
fn a_profile_that_does_not_fit_the_dataset_is_refused_with_what_to_do() {
    let r = registry();
    let refused = |text: &str| {
        std::fs::write(&r.profile_path, text).unwrap();
        match ExportProfile::read(&r.profile_path) {
            Err(e) => e.to_string(),
            Ok((profile, _)) => plan(&r.version, &profile, &r.profile_path, None).unwrap_err().to_string(),
        }
    };
    let m = refused(&PROFILE.replace("drop: [full_name,", "drop: [fullname,"));
    assert!(m.contains("patients.fullname") && m.contains("full_name") && m.contains("safe-harbor.yaml"), "{m}");
    let m = refused(&PROFILE.replace("    keep: [sex]\n", ""));
    assert!(m.contains("`sex`") && m.contains("nothing is exported by default"), "{m}");
    let m = refused(&PROFILE.replace("keep: [sex]", "keep: [sex, email]"));
    assert!(m.contains("patients.email") && m.contains("more than one rule"), "{m}");
    let m = refused(
        &PROFILE.replace("    participant: patient_id\n    hash: [visit_id]", "    hash: [visit_id, patient_id]"),
    );
    assert!(m.contains("visits.visit_date") && m.contains("no `participant`"), "{m}");
    let m = refused(
        &PROFILE
            .replace("dates: [birth_date, enrolled_on]", "dates: [birth_date, enrolled_on, sex]")
            .replace("    keep: [sex]\n", ""),
    );
    assert!(m.contains("patients.sex") && m.contains("not dates"), "{m}");
    let m = refused(&PROFILE.replace("  visits:", "  visit:"));
    assert!(m.contains("`visit`") && m.contains("visits"), "{m}");
    let m = refused(&PROFILE.replace("zip3:", "zip:"));
    assert!(m.contains("zip") && m.contains("line"), "an unknown key is refused with its line: {m}");
}

/// Identifiers as people write them, inside other text.
fn identifier() -> impl Strategy<Value = String> {
    prop_oneof![
        ("[a-z][a-z0-9._]{0,10}", "[a-z]{2,8}", "(com|org|co\\.uk|health)")
            .prop_map(|(user, host, tld)| format!("{user}@{host}.{tld}")),
        ("(http://|https://|www\\.)", "[a-z]{3,10}", "(/[a-z0-9]{1,6}){0,3}")
            .prop_map(|(scheme, host, path)| format!("{scheme}{host}.org{path}")),
        (0u8..=255, 0u8..=255, 0u8..=255, 0u8..=255).prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        (100u16..900, 10u8..99, 1000u16..9999).prop_map(|(a, b, c)| format!("{a}-{b}-{c}")),
        (200u16..999, 200u16..999, 1000u16..9999, 0usize..4).prop_map(|(a, b, c, style)| match style {
            0 => format!("({a}) {b}-{c}"),
            1 => format!("{a}-{b}-{c}"),
            2 => format!("+1 {a} {b} {c}"),
            _ => format!("{a}.{b}.{c}"),
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn free_text_loses_every_identifier(
        before in "[A-Za-z ,;]{0,20}",
        found in identifier(),
        after in "[A-Za-z ,;]{0,20}",
    ) {
        let conn = Connection::open_in_memory().unwrap();
        let text = format!("{before} {found} {after}");
        let scrubbed: String = conn
            .query_row(&format!("SELECT {}", cohort_deid::text::scrub_sql("?")), [&text], |row| row.get(0))
            .unwrap();
        prop_assert!(!scrubbed.contains(&found), "`{}` left `{}` in `{}`", text, found, scrubbed);
        let digits: String = found.chars().filter(char::is_ascii_digit).collect();
        if digits.len() >= 7 {
            let left: String = scrubbed.chars().filter(char::is_ascii_digit).collect();
            prop_assert!(!left.contains(&digits), "the digits of `{}` survive in `{}`", found, scrubbed);
        }
    }
}

#[test]
fn ordinary_clinical_text_is_left_alone() {
    let conn = Connection::open_in_memory().unwrap();
    for text in [
        "VA 65 letters at 12:30:00 on 2024-03-06, CST 312 um",
        "dose 2.0 mg, next in 8 weeks; IOP 14/15",
        "aflibercept q8w since 2021",
    ] {
        let scrubbed: String =
            conn.query_row(&format!("SELECT {}", cohort_deid::text::scrub_sql("?")), [text], |row| row.get(0)).unwrap();
        assert_eq!(scrubbed, text);
    }
}

#[test]
fn a_profiles_key_is_made_once_private_and_kept() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("export-keys");
    let first = Key::for_profile(&keys, "safe").unwrap();
    let again = Key::for_profile(&keys, "safe").unwrap();
    assert_eq!(first.pseudonym("P1"), again.pseudonym("P1"), "one profile, one key: exports stay linkable");
    assert_ne!(first.pseudonym("P1"), Key::for_profile(&keys, "other").unwrap().pseudonym("P1"));
    let mode = std::fs::metadata(keys.join("safe.key")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    std::fs::write(keys.join("broken.key"), "not hex").unwrap();
    let message = Key::for_profile(&keys, "broken").err().unwrap().to_string();
    assert!(message.contains("broken.key") && message.contains("backup"), "{message}");
}
