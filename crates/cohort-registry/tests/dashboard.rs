//! The registry's figures against pandas, on a generated multi-disease registry: every figure of
//! each cohort, the facets, filters that combine, and a saved cohort.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use cohort_publish::Table;
use cohort_registry::{Dashboard, SiteNames};
use cohort_store::{CancelToken, DatasetName, NoProgress, SavedCohort, Settings, Store, VersionRef};
use serde_json::Value;

const PROFILE: &str = "
table: participants
participant: participant_id
enrolled: enrolled
site: site
region: region
categories: [sex, diagnosis]
numeric: [age]
filters: [diagnosis, sex, age, enrolled, site, region]
labels: {age: Age at enrolment}
domains: {Demographics: [sex, age], Diagnosis: [diagnosis, enrolled]}
required: [sex, age, participant_id]
visits:
  table: visits
  participant: participant_id
  date: visit_date
  domains: {motor: [ambulatory], respiratory: [fvc_percent], cardiac: [ef_percent]}
";

/// Runs the reference script, which writes the registry's files into `dir`.
fn reference(dir: &Path) -> Value {
    let root = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    let script = PathBuf::from(root).join("tests/reference/registry.py");
    let out = Command::new("python3").arg(&script).arg(dir).output().expect("python3 runs");
    assert!(
        out.status.success(),
        "{} (run ./scripts/test to install pandas):\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the script prints JSON")
}

fn registry(dir: &Path) -> Store {
    let store = Store::init(&dir.join("store"), Settings::default()).unwrap();
    let request = cohort_ingest::IngestRequest {
        name: DatasetName::new("registry").unwrap(),
        files: vec![dir.join("participants.csv"), dir.join("visits.csv")],
        description: None,
        tags: None,
        created_by: "test".into(),
        options: Default::default(),
    };
    cohort_ingest::ingest(&store, &request, &NoProgress, &CancelToken::default()).unwrap();
    store
}

fn cells(table: &Table) -> BTreeMap<String, u64> {
    table.cells.iter().map(|c| (c.key.clone(), c.count.expect("nothing suppressed"))).collect()
}

fn expected_cells(v: &Value) -> BTreeMap<String, u64> {
    v.as_object().unwrap().iter().map(|(k, n)| (k.clone(), n.as_u64().unwrap())).collect()
}

fn close(what: &str, ours: Option<f64>, theirs: &Value) {
    match (ours, theirs.as_f64()) {
        (Some(a), Some(b)) => assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{what}: ours {a}, pandas {b}"),
        (None, None) => {}
        other => panic!("{what}: {other:?}"),
    }
}

fn check(d: &Dashboard, expected: &Value) {
    let what = format!("{:?}", d.filters);
    assert_eq!(d.participants, expected["participants"].as_u64().unwrap(), "{what}: participants");
    assert_eq!(d.registry_participants, 3_000);
    for (id, want) in expected["tables"].as_object().unwrap() {
        let table = d.tables.iter().find(|t| &t.id == id).unwrap_or_else(|| panic!("{what}: no table {id}"));
        let mut ours = cells(table);
        let want = expected_cells(want);
        // The dashboard lists every bin and bucket, zeros too; pandas lists what it saw.
        ours.retain(|k, n| *n > 0 || want.contains_key(k));
        assert_eq!(ours, want, "{what}: table {id}");
    }
    let age = d.numeric.iter().find(|n| n.column == "age").unwrap();
    for (i, ours) in [age.q1, age.median, age.q3].into_iter().enumerate() {
        close(&format!("{what}: age quartile {i}"), ours, &expected["age"][i]);
    }
    let long = d.longitudinal.as_ref().unwrap();
    assert_eq!(long.visits, expected["visits"].as_u64(), "{what}: visits");
    close(&format!("{what}: person-years"), long.person_years, &expected["person_years"]);
    let gap = &long.median_gap_days;
    for (i, ours) in [gap.q1, gap.median, gap.q3].into_iter().enumerate() {
        close(&format!("{what}: median gap quartile {i}"), ours, &expected["median_gap_days"][i]);
    }
    for entry in &d.dictionary {
        let key = format!("{}.{}", entry.table, entry.column);
        close(&format!("{what}: completeness of {key}"), entry.completeness, &expected["completeness"][&key]);
        close(
            &format!("{what}: completeness of {key} in all"),
            entry.completeness_all,
            &expected["completeness_all"][&key],
        );
    }
    // The dictionary browser: domains from the profile (the visits' domains for visit columns),
    // required columns flagged when some participant lacks a value.
    let entry = |table: &str, column: &str| {
        d.dictionary
            .iter()
            .find(|e| e.table == table && e.column == column)
            .unwrap_or_else(|| panic!("{table}.{column}"))
    };
    assert_eq!(entry("participants", "age").domain.as_deref(), Some("Demographics"));
    assert_eq!(entry("visits", "fvc_percent").domain.as_deref(), Some("respiratory"));
    assert_eq!(entry("participants", "site").domain, None);
    for column in ["sex", "age", "participant_id"] {
        let e = entry("participants", column);
        assert!(e.required, "{what}: {column} is required");
        let flagged = e.concerns.iter().any(|c| c.starts_with("required, but"));
        assert_eq!(flagged, e.completeness.is_some_and(|c| c < 1.0), "{what}: {column}: {:?}", e.concerns);
    }
    for (id, want) in expected["breakdowns"].as_object().unwrap() {
        let b = d.breakdowns.iter().find(|b| &b.id == id).unwrap_or_else(|| panic!("{what}: no breakdown {id}"));
        let mut ours = BTreeMap::new();
        for (row, counts) in b.rows.iter().zip(&b.counts) {
            assert_eq!(counts.len(), b.columns.len(), "{what}: {id}: a count a column");
            for (column, n) in b.columns.iter().zip(counts).filter(|(_, n)| **n > 0) {
                ours.insert(format!("{row}|{column}"), *n);
            }
        }
        assert_eq!(ours, expected_cells(want), "{what}: breakdown {id}");
    }
    let facet = d.facets.iter().find(|f| f.column == "diagnosis").unwrap();
    let offered: BTreeMap<String, u64> = facet.options.iter().map(|o| (o.value.clone(), o.participants)).collect();
    assert_eq!(offered, expected_cells(&expected["facet_diagnosis"]), "{what}: diagnosis checklist");
}

#[test]
fn every_figure_of_every_cohort_is_what_pandas_computes() {
    let dir = tempfile::tempdir().unwrap();
    let expected = reference(dir.path());
    let store = registry(dir.path());
    let profile = cohort_publish::Profile::parse(PROFILE).unwrap();
    let version = store.resolve(&VersionRef::parse("registry").unwrap()).unwrap();
    for cohort in expected["cohorts"].as_array().unwrap() {
        let filters: Vec<String> = serde_json::from_value(cohort["filters"].clone()).unwrap();
        let dashboard = cohort_registry::dashboard::compute(
            &store,
            &version,
            &profile,
            &filters,
            SiteNames::Shown,
            &["all".into()],
        )
        .unwrap();
        assert_eq!(
            dashboard.cutoff.as_deref(),
            expected["cutoff"].as_str(),
            "the registry's cutoff, whatever the cohort"
        );
        check(&dashboard, cohort);
    }
}

/// Sites are named to those allowed to see them; others see `Site N` by size in the whole
/// registry, the same label whatever the cohort, and filter by it.
#[test]
fn anonymous_sites_keep_their_labels_across_cohorts() {
    let dir = tempfile::tempdir().unwrap();
    reference(dir.path());
    let store = registry(dir.path());
    let profile = cohort_publish::Profile::parse(PROFILE).unwrap();
    let version = store.resolve(&VersionRef::parse("registry").unwrap()).unwrap();
    let compute = |filters: &[&str], names| {
        let filters: Vec<String> = filters.iter().map(|f| f.to_string()).collect();
        cohort_registry::dashboard::compute(&store, &version, &profile, &filters, names, &[]).unwrap()
    };
    let named = compute(&[], SiteNames::Shown);
    let anonymous = compute(&[], SiteNames::Anonymous);
    let sites = |d: &Dashboard| cells(d.tables.iter().find(|t| t.id == "site").unwrap());
    assert!(sites(&named).keys().all(|k| k.starts_with("Canary Hospital")));
    let text = serde_json::to_string(&anonymous).unwrap();
    assert!(!text.contains("Canary"), "no site name reaches an anonymous view");
    // The largest site is Site 1, in every cohort.
    let largest = sites(&named).into_iter().max_by_key(|(name, n)| (*n, std::cmp::Reverse(name.clone()))).unwrap();
    assert_eq!(sites(&anonymous)["Site 1"], largest.1);
    let narrowed = compute(&["sex=F"], SiteNames::Anonymous);
    let narrowed_named = compute(&["sex=F"], SiteNames::Shown);
    assert_eq!(sites(&narrowed)["Site 1"], sites(&narrowed_named)[&largest.0], "Site 1 is the same site");
    // Filtering by the label is filtering by the site.
    let by_label = compute(&["site=Site 1"], SiteNames::Anonymous);
    assert_eq!(by_label.participants, largest.1);
    assert!(!serde_json::to_string(&by_label).unwrap().contains("Canary"));
}

/// A saved cohort is its filters: the same participants on the same version, kept with who made
/// it and the version it was made on.
#[test]
fn a_saved_cohort_gives_what_its_filters_give() {
    let dir = tempfile::tempdir().unwrap();
    reference(dir.path());
    let store = registry(dir.path());
    let dataset = DatasetName::new("registry").unwrap();
    let profile = cohort_publish::Profile::parse(PROFILE).unwrap();
    let version = store.resolve(&VersionRef::parse("registry").unwrap()).unwrap();
    let filters = vec!["diagnosis=DMD".to_string(), "age=10..".to_string()];
    let saved = SavedCohort {
        name: "dmd-over-10".into(),
        filters: filters.clone(),
        version: version.version,
        made_by: "test".into(),
        // The catalog keeps microseconds.
        made_at: jiff::Timestamp::from_microsecond(jiff::Timestamp::now().as_microsecond()).unwrap(),
    };
    store.save_cohort(&dataset, &saved).unwrap();
    let kept = store.saved_cohorts(&dataset).unwrap();
    assert_eq!(kept, vec![saved]);
    let direct =
        cohort_registry::dashboard::compute(&store, &version, &profile, &filters, SiteNames::Shown, &[]).unwrap();
    let from_saved =
        cohort_registry::dashboard::compute(&store, &version, &profile, &kept[0].filters, SiteNames::Shown, &[])
            .unwrap();
    assert_eq!(direct, from_saved);
    assert!(store.remove_cohort(&dataset, "dmd-over-10").unwrap());
    assert!(store.saved_cohorts(&dataset).unwrap().is_empty());
}

/// Filters that do not fit the data say what to write instead, and change nothing.
#[test]
fn bad_filters_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    reference(dir.path());
    let store = registry(dir.path());
    let profile = cohort_publish::Profile::parse(PROFILE).unwrap();
    let version = store.resolve(&VersionRef::parse("registry").unwrap()).unwrap();
    for (filter, says) in [
        ("weight=1..2", "no column `weight`"),
        ("sex=1..2", "a range needs numbers or dates"),
        ("age=ten..", "is not a number"),
        ("has:genetics", "no domain `genetics`"),
    ] {
        let err = cohort_registry::dashboard::compute(
            &store,
            &version,
            &profile,
            &[filter.to_string()],
            SiteNames::Shown,
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains(says), "{filter}: {err}");
    }
    // Enrolment is broken down by what is asked for, and only by a category or the region.
    let by = |by: &[&str]| {
        let by: Vec<String> = by.iter().map(|b| b.to_string()).collect();
        cohort_registry::dashboard::compute(&store, &version, &profile, &[], SiteNames::Shown, &by)
    };
    let err = by(&["age"]).unwrap_err().to_string();
    assert!(err.contains("by=age") && err.contains("sex, diagnosis, region"), "{err}");
    let d = by(&["sex"]).unwrap();
    let ids: Vec<&str> =
        d.breakdowns.iter().map(|b| b.id.as_str()).filter(|id| id.starts_with("enrolment-by")).collect();
    assert_eq!(ids, ["enrolment-by-month-by-sex"]);
    let offered: Vec<(&str, bool)> = d.enrolment_by.iter().map(|e| (e.column.as_str(), e.shown)).collect();
    assert_eq!(offered, [("sex", true), ("diagnosis", false), ("region", false)]);
}

/// The per-participant summary is computed once a version and profile, kept, and read again; it
/// is the same however many buckets the visits are summarised in.
#[test]
fn the_summary_is_kept_and_the_same_in_any_number_of_buckets() {
    let dir = tempfile::tempdir().unwrap();
    reference(dir.path());
    let store = registry(dir.path());
    let profile = cohort_publish::Profile::parse(PROFILE).unwrap();
    let version = store.resolve(&VersionRef::parse("registry").unwrap()).unwrap();
    let kept = cohort_publish::summary::kept(&store, &version, &profile).unwrap();
    let written = std::fs::metadata(&kept.path).unwrap().modified().unwrap();
    cohort_registry::dashboard::compute(&store, &version, &profile, &["sex=F".into()], SiteNames::Shown, &[]).unwrap();
    let again = cohort_publish::summary::kept(&store, &version, &profile).unwrap();
    assert_eq!(again.path, kept.path);
    assert_eq!(std::fs::metadata(&again.path).unwrap().modified().unwrap(), written, "read, not computed again");
    let kept_files = std::fs::read_dir(kept.path.parent().unwrap()).unwrap().count();
    assert_eq!(kept_files, 2, "one summary and its description");

    let one = dir.path().join("one.parquet");
    let seven = dir.path().join("seven.parquet");
    let meta_one = cohort_publish::summary::compute(&store, &version, &profile, &one, 1).unwrap();
    let meta_seven = cohort_publish::summary::compute(&store, &version, &profile, &seven, 7).unwrap();
    assert_eq!(meta_one, meta_seven);
    assert_eq!(meta_one, kept.meta);
    assert_eq!(meta_one.participants, 3_000);
    let conn = duckdb::Connection::open_in_memory().unwrap();
    let differ: i64 = conn
        .query_row(
            &format!(
                "SELECT count(*) FROM ((SELECT * FROM '{a}' EXCEPT ALL SELECT * FROM '{b}') \
                 UNION ALL (SELECT * FROM '{b}' EXCEPT ALL SELECT * FROM '{a}'))",
                a = one.display(),
                b = seven.display()
            ),
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(differ, 0, "the same rows in one bucket as in seven");
    let followed: i64 = conn
        .query_row(&format!("SELECT count(*) FROM '{}' WHERE __cohort_followed > 0", one.display()), [], |r| r.get(0))
        .unwrap();
    assert!(followed > 0, "some participants were followed a year or more");
}

/// A measure whose range is narrow is binned from counts by whole number; a wide one by a query
/// of its own. Both give the same histogram.
#[test]
fn histograms_are_the_same_binned_from_whole_numbers_or_counted() {
    let dir = tempfile::tempdir().unwrap();
    reference(dir.path());
    let store = registry(dir.path());
    let profile = cohort_publish::Profile::parse(PROFILE).unwrap();
    let version = store.resolve(&VersionRef::parse("registry").unwrap()).unwrap();
    let summary = cohort_publish::summary::kept(&store, &version, &profile).unwrap();
    assert!(summary.meta.ranges.contains_key("age"), "age's range is known");
    let mut wide = summary.clone();
    wide.meta.ranges.clear();
    let conn = duckdb::Connection::open_in_memory().unwrap();
    for condition in [None, Some("sex = 'F'"), Some("age >= 40")] {
        let figures = |summary: &cohort_publish::summary::Summary| {
            let source = cohort_publish::compute::Source { summary, condition };
            cohort_publish::compute::figures(&conn, &profile, 11, &source).unwrap()
        };
        let (narrow, counted) = (figures(&summary), figures(&wide));
        let histogram = |f: &cohort_publish::compute::Figures| {
            f.tables.iter().find(|t| t.id == "histogram-age").cloned().expect("a histogram of age")
        };
        assert_eq!(histogram(&narrow), histogram(&counted), "{condition:?}");
        assert_eq!(narrow.tables, counted.tables, "{condition:?}");
        assert_eq!(narrow.choices, counted.choices, "{condition:?}");
    }
}

/// A participant with two rows is counted once, a row without an id not at all, and visits of
/// nobody in the participant table are left out; the dashboard says so.
#[test]
fn rows_the_figures_leave_out_are_said() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("participants.csv"),
        "participant_id,sex,age,enrolled\nP1,F,30,2020-01-01\nP2,M,40,2020-02-01\nP2,M,40,2020-02-01\n,F,50,2020-03-01\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("visits.csv"),
        "participant_id,visit_date,ambulatory,fvc_percent,ef_percent\n\
         P1,2020-06-01,1,80,\nP1,2021-06-01,1,,\nP2,2020-09-01,,,55\nP9,2020-09-01,1,70,60\n",
    )
    .unwrap();
    let store = registry(dir.path());
    let profile = cohort_publish::Profile::parse(
        "
table: participants
participant: participant_id
enrolled: enrolled
categories: [sex]
numeric: [age]
visits:
  table: visits
  participant: participant_id
  date: visit_date
  domains: {motor: [ambulatory], cardiac: [ef_percent]}
",
    )
    .unwrap();
    let version = store.resolve(&VersionRef::parse("registry").unwrap()).unwrap();
    let d = cohort_registry::dashboard::compute(&store, &version, &profile, &[], SiteNames::Shown, &[]).unwrap();
    assert_eq!(d.participants, 2);
    assert_eq!(d.registry_participants, 2);
    let sex = d.tables.iter().find(|t| t.id == "category-sex").unwrap();
    assert_eq!(cells(sex), BTreeMap::from([("F".to_string(), 1), ("M".to_string(), 1)]));
    let long = d.longitudinal.as_ref().unwrap();
    assert_eq!(long.visits, Some(3), "P9's visit is nobody's");
    let cardiac = d.tables.iter().find(|t| t.id == "availability-cardiac").unwrap();
    assert_eq!(cells(cardiac), BTreeMap::from([("with data".to_string(), 1), ("without".to_string(), 1)]));
    assert_eq!(d.left_out.len(), 3, "{:?}", d.left_out);
    assert!(d.left_out[0].starts_with("1 row of `participants` repeat a participant"), "{:?}", d.left_out);
    assert!(d.left_out[1].contains("have no `participant_id`"), "{:?}", d.left_out);
    assert!(d.left_out[2].starts_with("1 row of `visits` name a participant who is not in"), "{:?}", d.left_out);
}
