//! Overriding inferred types, roles and labels (`--type`, `--role`, `--label`, `--schema`), and
//! the overrides holding for later ingests of the same dataset.

use crate::util::Env;

#[test]
fn overrides_apply_and_hold_for_later_ingests() {
    let env = Env::new();
    let visits = env.write("visits.csv", "patient_id,site,va,seen\nP1,1,55,2024-01-03\nP2,2,61,2024-01-04\n");
    let schema = env.write(
        "schema.yaml",
        "columns:\n  visits.va: { type: decimal, role: measure, label: \"Visual acuity (ETDRS letters)\" }\n",
    );
    env.ok(&[
        "ingest",
        visits.to_str().unwrap(),
        "--name",
        "trial",
        "--schema",
        schema.to_str().unwrap(),
        "--type",
        "site=text",
        "--role",
        "site=category",
        "--label",
        "seen=Visit date",
    ]);
    let d = env.dictionary("trial", Some("visits"));
    assert_eq!((d["site"]["sql_type"].as_str(), d["site"]["role"].as_str()), (Some("VARCHAR"), Some("category")));
    assert_eq!(d["va"]["sql_type"], "DOUBLE");
    assert_eq!(d["va"]["label"], "Visual acuity (ETDRS letters)");
    assert_eq!(d["seen"]["label"], "Visit date");
    assert_eq!(env.scalar("SELECT string_agg(site, '|' ORDER BY site) FROM trial.visits"), "1|2");

    // The next ingest gives no overrides: those of the current version apply again.
    env.write("visits.csv", "patient_id,site,va,seen\nP1,1,55,2024-01-03\nP2,2,61,2024-01-04\nP3,3,70,2024-02-01\n");
    let again = env.json(&["ingest", visits.to_str().unwrap(), "--name", "trial"]);
    assert_eq!(again["outcome"]["version"], 2, "{again}");
    let d = env.dictionary("trial", Some("visits"));
    assert_eq!((d["site"]["sql_type"].as_str(), d["site"]["role"].as_str()), (Some("VARCHAR"), Some("category")));
    assert_eq!(d["va"]["label"], "Visual acuity (ETDRS letters)");
}

#[test]
fn bad_overrides_are_refused_and_change_nothing() {
    let env = Env::new();
    let visits = env.write("visits.csv", "patient_id,va\nP1,55\n");
    env.ok(&["ingest", visits.to_str().unwrap(), "--name", "keep"]);
    let before = env.tree();
    let r = env.fails(&["ingest", visits.to_str().unwrap(), "--name", "x", "--type", "va=float128"], 1);
    assert!(r.stderr.contains("unknown type `float128`") && r.stderr.contains("integer"), "{}", r.stderr);
    let r = env.fails(&["ingest", visits.to_str().unwrap(), "--name", "x", "--role", "visits.nope=measure"], 1);
    assert!(r.stderr.contains("`visits.nope`, which no table has"), "{}", r.stderr);
    let schema = env.write("schema.yaml", "columns:\n  va: { kind: measure }\n");
    let r = env.fails(&["ingest", visits.to_str().unwrap(), "--name", "x", "--schema", schema.to_str().unwrap()], 1);
    assert!(r.stderr.contains("schema.yaml") && r.stderr.contains("kind"), "{}", r.stderr);
    let words = env.write("words.csv", "patient_id,va\nP1,fifty\n");
    let r = env.fails(&["ingest", words.to_str().unwrap(), "--name", "x", "--type", "va=integer"], 1);
    assert!(r.stderr.contains("words.csv"), "{}", r.stderr);
    assert_eq!(env.tree(), before);
}

#[test]
fn inference_reads_day_first_dates_booleans_decimals_and_gives_each_column_a_role() {
    let env = Env::new();
    let file = env.write(
        "visits.csv",
        "patient_id,seen,injected,dose_mg,site_code,comment\n\
         P1,25/04/2024,yes,1.50,0042,first visit\n\
         P2,03/05/2024,no,2.25,0043,\n\
         P3,13/12/2023,yes,3.00,0044,moved away\n",
    );
    env.ok(&["ingest", file.to_str().unwrap(), "--name", "trial"]);
    let d = env.dictionary("trial", Some("visits"));
    let typed = |c: &str| (d[c]["sql_type"].as_str().unwrap().to_string(), d[c]["role"].as_str().unwrap().to_string());
    assert_eq!(typed("patient_id"), ("VARCHAR".into(), "identifier".into()));
    assert_eq!(typed("seen"), ("DATE".into(), "date".into()));
    assert_eq!(typed("injected"), ("BOOLEAN".into(), "category".into()));
    assert_eq!(typed("dose_mg"), ("DOUBLE".into(), "measure".into()));
    assert_eq!(typed("site_code"), ("VARCHAR".into(), "identifier".into()));
    assert_eq!(typed("comment"), ("VARCHAR".into(), "text".into()));
    assert_eq!(env.scalar("SELECT seen FROM trial.visits WHERE patient_id = 'P1'"), "2024-04-25", "day first");
}
