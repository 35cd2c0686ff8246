//! `cohort dictionary`: every column's type, role, completeness, distinct values and range, as a
//! table, JSON or CSV.

use crate::util::Env;

#[test]
fn the_dictionary_measures_every_column() {
    let env = Env::new();
    let csv = env.write("eyes.csv", "eye_id,side,iop\n001,L,14.5\n002,R,\n003,L,21.0\n004,\"R, right\",\n");
    env.ok(&["ingest", csv.to_str().unwrap(), "--name", "eyes"]);
    let json = env.json(&["dictionary", "eyes"]);
    let columns = json["eyes"].as_array().unwrap();
    let get = |name: &str| columns.iter().find(|c| c["column"] == name).unwrap().clone();
    assert_eq!(get("eye_id")["role"], "identifier");
    assert_eq!(get("eye_id")["sql_type"], "VARCHAR", "leading zeros keep identifiers as text");
    assert_eq!(get("iop")["completeness"], 50.0);
    assert_eq!(get("iop")["min"], "14.5");
    assert_eq!(get("side")["distinct"], 3);

    let out = env.ok(&["dictionary", "eyes", "--csv"]).stdout;
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("table,column,type,role,label,completeness_percent,distinct,min,max,mean,codes"));
    let side = out.lines().find(|l| l.starts_with("eyes,side,")).unwrap();
    assert!(side.contains("\"R, right\""), "fields with commas are quoted: {side}");
    assert_eq!(out.lines().count(), 4, "{out}");

    let r = env.fails(&["dictionary", "eyes", "--table", "nope"], 1);
    assert!(r.stderr.contains("nope") && r.stderr.contains("eyes"), "{}", r.stderr);
}

/// The quality report stored with an ingested version: duplicate rows, candidate keys, and
/// identifiers that are not unique; `cohort show` prints it.
#[test]
fn ingest_reports_duplicates_and_keys() {
    let env = Env::new();
    let visits = env.write("visits.csv", "patient_id,site,va\n001,S1,50\n002,S1,60\n002,S2,61\n003,S1,50\n003,S1,50\n");
    let patients = env.write("patients.csv", "patient_id,born,weight\n001,1950,70.5\n002,1948,81.0\n003,1961,66.2\n");
    let report = env.json(&["ingest", visits.to_str().unwrap(), patients.to_str().unwrap(), "--name", "q"]);
    let quality = |table: &str| {
        report["tables"].as_array().unwrap().iter().find(|t| t["table"] == table).unwrap()["quality"].clone()
    };
    let v = quality("visits");
    assert_eq!(v["rows"], 5);
    assert_eq!(v["duplicate_rows"], 1);
    assert_eq!(v["identifiers_not_unique"], serde_json::json!([["patient_id", 2]]));
    assert_eq!(v["candidate_keys"], serde_json::json!([]));
    let p = quality("patients");
    assert_eq!(p["candidate_keys"], serde_json::json!(["patient_id", "born"]), "measurements (weight) are not keys");
    assert_eq!(p["duplicate_rows"], 0);
    let show = env.ok(&["show", "q"]).stdout;
    assert!(
        show.contains("quality: 1 duplicate row(s)") && show.contains("patient_id (2 repeated or missing)"),
        "{show}"
    );
}
