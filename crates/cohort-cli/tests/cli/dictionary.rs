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
    assert_eq!(lines.next(), Some("table,column,type,role,label,completeness_percent,distinct,min,max,mean"));
    let side = out.lines().find(|l| l.starts_with("eyes,side,")).unwrap();
    assert!(side.contains("\"R, right\""), "fields with commas are quoted: {side}");
    assert_eq!(out.lines().count(), 4, "{out}");

    let r = env.fails(&["dictionary", "eyes", "--table", "nope"], 1);
    assert!(r.stderr.contains("nope") && r.stderr.contains("eyes"), "{}", r.stderr);
}
