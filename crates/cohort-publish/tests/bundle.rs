//! Publishing generated datasets and scanning every number of the bundle: no count from 1 to
//! k-1 anywhere, and no hidden cell recoverable from a table's total.

use cohort_publish::{Bundle, Profile, PublishError, SUPPRESSED_KEY, publish, suppress::is_small};
use cohort_store::{DatasetKind, DatasetName, Settings, Store, TableName, VersionMeta, VersionRef};
use proptest::prelude::*;

const PROFILE: &str = "\
table: participants
participant: id
enrolled: enrolled
site: site
region: region
categories: [sex, diagnosis]
numeric: [age]
visits:
  table: visits
  participant: id
  date: day
  domains:
    vision: [va]
";

/// A dataset of `participants` participants and their visits, skewed so that small cells occur.
fn store_with(dir: &std::path::Path, seed: u64, participants: usize) -> Store {
    let store = Store::init(&dir.join("store"), Settings::default()).unwrap();
    let mut staging = store.stage(&DatasetName::new("reg").unwrap()).unwrap();
    let people = staging.table_dir(&TableName::new("participants").unwrap()).unwrap();
    let visits = staging.table_dir(&TableName::new("visits").unwrap()).unwrap();
    let conn = duckdb::Connection::open_in_memory().unwrap();
    conn.execute_batch(&format!(
        "SELECT setseed({s});
         CREATE TABLE p AS SELECT i AS id,
           CASE WHEN random() < 0.9 THEN 'F' WHEN random() < 0.9 THEN 'M' ELSE 'X' END AS sex,
           ['AMD', 'DMO', 'RVO', 'rare'][1 + least(3, floor(-ln(random()) * 1.2))::INT] AS diagnosis,
           'site-' || least(7, floor(-ln(random()) * 2))::INT AS site,
           ['north', 'south', 'islands'][1 + least(2, floor(-ln(random()))::INT)] AS region,
           CASE WHEN random() < 0.05 THEN NULL ELSE 50 + floor(random() * 45) END AS age,
           CASE WHEN random() < 0.02 THEN NULL ELSE DATE '2019-01-01' + (floor(random() * 1800))::INT END AS enrolled
         FROM range({n}) t(i);
         CREATE TABLE v AS SELECT p.id, coalesce(p.enrolled, DATE '2020-01-01') + (j * (20 + floor(random() * 80)))::INT AS day,
           CASE WHEN random() < 0.1 THEN NULL ELSE floor(random() * 90) END AS va
         FROM p, range(floor(random() * 12)::INT) r(j);
         COPY p TO '{people}/p.parquet' (FORMAT parquet);
         COPY v TO '{visits}/v.parquet' (FORMAT parquet);",
        s = (seed % 1000) as f64 / 1000.0,
        n = participants,
        people = people.display(),
        visits = visits.display(),
    ))
    .unwrap();
    let meta = VersionMeta {
        kind: DatasetKind::Upload,
        description: None,
        tags: None,
        created_by: "test".into(),
        sources: vec![],
        provenance: serde_json::json!({}),
    };
    staging.commit(meta).unwrap();
    store
}

/// Every count in the bundle passes, and every table's hidden cells are safe.
fn check(bundle: &Bundle) -> Result<(), TestCaseError> {
    let k = bundle.k;
    let json = serde_json::to_value(bundle).unwrap();
    let mut counts = Vec::new();
    walk(&json, None, &mut counts);
    prop_assert!(!counts.is_empty());
    for (key, n) in counts {
        prop_assert!(!is_small(n, k), "`{key}` = {n} with k = {k}");
    }
    for t in &bundle.tables {
        if let Some(total) = t.total {
            let visible: u64 = t.cells.iter().filter_map(|c| c.count).sum();
            let rest = total - visible;
            prop_assert!(
                t.hidden() == 0 && rest == 0 || t.hidden() >= 2 && !is_small(rest, k),
                "{}: {} hidden cells sum to {rest}",
                t.id,
                t.hidden()
            );
        } else {
            prop_assert!(t.cells.iter().all(|c| c.count.is_none()), "{}: a hidden total hides every cell", t.id);
        }
        // No label of a cell from 1 to k-1 (or hidden to protect one) appears: hidden cells are
        // one unnamed cell, and a table with one lists no zeros beside it.
        let merged = t.cells.iter().any(|c| c.key == SUPPRESSED_KEY);
        for c in t.cells.iter().filter(|c| c.key != SUPPRESSED_KEY) {
            let n = c.count;
            prop_assert!(n.is_some_and(|n| !is_small(n, k)), "{}: `{}` listed with {n:?}", t.id, c.key);
            prop_assert!(!(merged && n == Some(0)), "{}: `{}` listed as 0 beside suppressed cells", t.id, c.key);
        }
    }
    Ok(())
}

/// The profile, allowing a k below the floor with a reason.
fn profile_allowing_low_k() -> String {
    format!(
        "{PROFILE}allow_k_below: 11\nk_reason: \"aggregate counts of 5 and more approved by the ethics board (ref. 2026-17)\"\n"
    )
}

/// Integers under keys that hold counts of participants or visits.
fn walk(value: &serde_json::Value, key: Option<&str>, out: &mut Vec<(String, u64)>) {
    match value {
        serde_json::Value::Object(map) => map.iter().for_each(|(k, v)| walk(v, Some(k), out)),
        serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, key, out)),
        serde_json::Value::Number(n) => {
            if let (Some(key), Some(n)) = (key, n.as_u64())
                && ["count", "total", "participants", "visits"].contains(&key)
            {
                out.push((key.to_string(), n));
            }
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn no_small_count_and_nothing_recoverable(seed in 0u64..1000, participants in 1usize..400, k in prop_oneof![Just(11u64), 2u64..30]) {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), seed, participants);
        let text = profile_allowing_low_k();
        let profile: Profile = serde_saphyr::from_str(&text).unwrap();
        let bundle = publish(&store, &VersionRef::parse("reg").unwrap(), &profile, &text, Some(k)).unwrap();
        prop_assert_eq!(bundle.k_reason.is_some(), k < 11);
        check(&bundle)?;
        // Sites are never named.
        let text = String::from_utf8(bundle.to_json()).unwrap();
        prop_assert!(!text.contains("site-"), "a site name was published");
    }
}

#[test]
fn a_big_enough_dataset_publishes_its_figures() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), 7, 3000);
    let profile: Profile = serde_saphyr::from_str(PROFILE).unwrap();
    let bundle = publish(&store, &VersionRef::parse("reg").unwrap(), &profile, PROFILE, None).unwrap();
    assert_eq!(bundle.participants, Some(3000));
    assert_eq!(bundle.k, 11);
    let sex = bundle.table("category-sex").unwrap();
    assert_eq!(sex.total, Some(3000));
    assert!(sex.cells.iter().any(|c| c.key == "F" && c.count.unwrap() > 2000));
    let months = bundle.table("enrolment-by-month").unwrap();
    assert!(months.cells.len() > 50, "{} months", months.cells.len());
    let age = &bundle.numeric[0];
    assert!(age.median.unwrap() > 60.0 && age.median.unwrap() < 85.0, "{age:?}");
    let longitudinal = bundle.longitudinal.as_ref().unwrap();
    assert!(longitudinal.person_years.unwrap() > 100.0);
    for id in ["visits-per-participant", "active", "retention-year-1", "availability-vision"] {
        assert!(bundle.table(id).is_some(), "{id}");
    }
    assert!(bundle.dictionary.iter().any(|d| d.column == "age" && d.completeness.is_some()));
}

#[test]
fn an_edited_bundle_is_refused_and_a_bad_profile_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), 3, 500);
    let profile: Profile = serde_saphyr::from_str(PROFILE).unwrap();
    let bundle = publish(&store, &VersionRef::parse("reg").unwrap(), &profile, PROFILE, None).unwrap();
    let path = dir.path().join("reg.bundle.json");
    std::fs::write(&path, bundle.to_json()).unwrap();
    assert_eq!(Bundle::read(&path).unwrap(), bundle);
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text.replacen("\"participants\": 500", "\"participants\": 501", 1);
    assert_ne!(edited, text);
    std::fs::write(&path, edited).unwrap();
    assert!(matches!(Bundle::read(&path), Err(PublishError::Tampered { .. })));

    let wrong: Profile = serde_saphyr::from_str(&PROFILE.replace("[sex, diagnosis]", "[sex, diagnosys]")).unwrap();
    let err = publish(&store, &VersionRef::parse("reg").unwrap(), &wrong, PROFILE, None).unwrap_err();
    assert!(err.to_string().contains("participants.diagnosys") && err.to_string().contains("diagnosis"), "{err}");
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, "table: participants\nparticipant: id\nsites: site\n").unwrap();
    let err = Profile::read(&file).unwrap_err().to_string();
    assert!(err.contains("bad.yaml") && err.contains("sites"), "{err}");
}

/// Finding 6: `--k 2` was accepted, and a 4-participant bundle listed a rare diagnosis and one
/// enrolment month per participant, each with its count hidden.
#[test]
fn k_has_a_floor_and_suppressed_cells_are_never_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), 11, 4);
    let profile: Profile = serde_saphyr::from_str(PROFILE).unwrap();
    let reg = VersionRef::parse("reg").unwrap();
    let err = publish(&store, &reg, &profile, PROFILE, Some(2)).unwrap_err();
    assert!(matches!(err, PublishError::KBelowFloor { k: 2, floor: 11 }), "{err}");
    assert!(err.to_string().contains("allow_k_below: 11") && err.to_string().contains("k_reason"), "{err}");
    let no_reason: Profile = serde_saphyr::from_str(&format!("{PROFILE}allow_k_below: 11\n")).unwrap();
    assert!(publish(&store, &reg, &no_reason, PROFILE, Some(5)).is_err(), "a reason is needed too");

    let bundle = publish(&store, &reg, &profile, PROFILE, None).unwrap();
    let text = String::from_utf8(bundle.to_json()).unwrap();
    for rare in ["rare", "RVO", "DMO", "AMD", "\"F\"", "\"M\"", "\"X\""] {
        assert!(!text.contains(rare), "{rare} is named in a bundle of 4 participants");
    }
    // Even by year (the coarsest period, chosen when every finer one hides more), nothing is
    // listed one by one.
    assert_eq!(bundle.choices.enrolment_period.as_deref(), Some("year"));
    let years = bundle.table("enrolment-by-year").unwrap();
    assert_eq!(years.cells.len(), 1, "no year is listed one by one: {:?}", years.cells);
    assert_eq!((years.cells[0].key.as_str(), years.cells[0].count), (SUPPRESSED_KEY, None));

    let text = profile_allowing_low_k();
    let low: Profile = serde_saphyr::from_str(&text).unwrap();
    let bundle = publish(&store, &reg, &low, &text, Some(2)).unwrap();
    assert_eq!(bundle.k, 2);
    assert!(bundle.k_reason.as_deref().unwrap().contains("ethics board"), "the reason is in the bundle");
}
