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

#[test]
fn values_of_another_type_become_nulls_with_count_and_examples() {
    let env = Env::new();
    // Visual acuity in letters, with two entries in words ("count fingers", "hand motion");
    // thickness with a third of its entries as text, which is too many to drop.
    let mut small = String::from("patient_id,va,crt\n");
    for i in 0..100 {
        let va = match i {
            10 => "CF".to_string(),
            20 => "HM".to_string(),
            _ => (40 + i % 40).to_string(),
        };
        let crt = if i % 3 == 0 { "n.d.".to_string() } else { (250 + i).to_string() };
        small.push_str(&format!("P{i:03},{va},{crt}\n"));
    }
    let report = env.json(&["ingest", env.write("small.csv", &small).to_str().unwrap(), "--name", "small"]);
    let coerced = &report["tables"][0]["coerced"];
    assert_eq!(coerced.as_array().map(|a| a.len()), Some(2), "{report}");
    assert_eq!(coerced[0]["column"], "va");
    assert_eq!(coerced[0]["to_type"], "BIGINT");
    assert_eq!(coerced[0]["values"], 2);
    assert_eq!(coerced[0]["examples"], serde_json::json!(["CF", "HM"]));
    // A third of `crt` is words: it stays text, and the report says why.
    assert_eq!((coerced[1]["column"].as_str(), coerced[1]["kept_as_text"].as_bool()), (Some("crt"), Some(true)));
    assert_eq!((coerced[1]["values"].as_u64(), coerced[1]["to_type"].as_str()), (Some(34), Some("BIGINT")));
    assert!(coerced[1]["reason"].as_str().unwrap().contains("34 of 100 values are not a whole number"), "{report}");
    assert_eq!(
        env.query_csv("SELECT typeof(va) AS t, count(va) AS n, typeof(crt) AS c FROM small.small GROUP BY ALL"),
        "t,n,c\nBIGINT,98,VARCHAR\n"
    );
    let shown = env.ok(&["show", "small"]).stdout;
    assert!(
        shown.contains("va: 2 value(s) of another kind than BIGINT set aside as null (e.g. \"CF\", \"HM\")"),
        "{shown}"
    );

    // Past the sniffer's sample: the typed read fails, and the misfits are found by a second read.
    let mut big = String::from("patient_id,va,crt\n");
    for i in 0..30_000 {
        let va = if i == 29_990 { "CF".to_string() } else { (40 + i % 40).to_string() };
        let crt = if i >= 27_000 { "n.d.".to_string() } else { (250 + i % 100).to_string() };
        big.push_str(&format!("P{i:05},{va},{crt}\n"));
    }
    let report = env.json(&["ingest", env.write("big.csv", &big).to_str().unwrap(), "--name", "big"]);
    let coerced: std::collections::BTreeMap<String, serde_json::Value> = report["tables"][0]["coerced"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["column"].as_str().unwrap().to_string(), c.clone()))
        .collect();
    assert_eq!(
        (coerced["va"]["values"].as_u64(), coerced["va"]["kept_as_text"].as_bool()),
        (Some(1), Some(false)),
        "{report}"
    );
    assert_eq!(
        (coerced["crt"]["values"].as_u64(), coerced["crt"]["kept_as_text"].as_bool()),
        (Some(3_000), Some(true)),
        "{report}"
    );
    assert_eq!(
        env.query_csv(
            "SELECT typeof(va) AS t, count(va) AS n, typeof(crt) AS c, count(*) AS rows FROM big.big GROUP BY ALL"
        ),
        "t,n,c,rows\nBIGINT,29999,VARCHAR,30000\n"
    );
    // Asked to keep a column as text, it is kept whole.
    env.ok(&["ingest", env.path("small.csv").to_str().unwrap(), "--name", "kept", "--text-columns", "va"]);
    assert_eq!(env.scalar("SELECT count(va) FROM kept.small"), "100");
}

/// `distinct` is exact: DuckDB's own estimate said 217 for a key of 228 values.
#[test]
fn distinct_values_are_counted_exactly() {
    let env = Env::new();
    for unique in [100u64, 228, 1_000, 5_000] {
        let mut csv = String::from("sample,batch\n");
        for i in 0..unique * 2 {
            csv.push_str(&format!("S-{:06},{}\n", (i * 7919) % unique, i % 13));
        }
        let name = format!("d{unique}");
        let report = env.json(&["ingest", env.write(&format!("{name}.csv"), &csv).to_str().unwrap(), "--name", &name]);
        let quality = &report["tables"][0]["quality"]["columns"];
        assert_eq!(
            quality[0]["distinct"].as_u64(),
            Some(unique),
            "the ingest's quality report counts exactly: {quality}"
        );
        let json = env.json(&["dictionary", &name]);
        let columns = json[name.as_str()].as_array().unwrap();
        let distinct = |c: &str| columns.iter().find(|e| e["column"] == c).unwrap()["distinct"].as_u64();
        assert_eq!((distinct("sample"), distinct("batch")), (Some(unique), Some(13)), "{name}");
    }
}

/// A table of 2,000 columns ingests with a type per column, and its dictionary (whose `SUMMARIZE`
/// of every column at once ran out of a 1 GB budget) comes back whole.
#[test]
fn a_table_of_two_thousand_columns_ingests_and_has_a_dictionary() {
    let env = Env::new();
    let columns = 2_000;
    let mut csv = String::from("patient_id");
    for c in 1..columns {
        csv.push_str(&format!(",v{c:04}"));
    }
    csv.push('\n');
    for r in 0..60 {
        csv.push_str(&format!("P{r:03}"));
        for c in 1..columns {
            csv.push(',');
            csv.push_str(&match c % 4 {
                0 => format!("{}", (r * c) % 97),
                1 => format!("{}.{}", r % 10, c % 10),
                2 => ["A", "B", "C"][(r + c) % 3].to_string(),
                _ => format!("2023-{:02}-{:02}", 1 + (r + c) % 12, 13 + (r + c) % 15),
            });
        }
        csv.push('\n');
    }
    let file = env.write("wide.csv", &csv);
    let report = env.json(&["ingest", file.to_str().unwrap(), "--name", "wide"]);
    assert_eq!(report["tables"][0]["quality"]["columns"].as_array().map(Vec::len), Some(columns));
    let json = env.json(&["dictionary", "wide"]);
    let entries = json["wide"].as_array().unwrap();
    assert_eq!(entries.len(), columns);
    let ty = |i: usize| entries[i]["sql_type"].as_str().unwrap().to_string();
    assert_eq!([ty(1), ty(2), ty(3), ty(4)], ["DOUBLE", "VARCHAR", "DATE", "BIGINT"]);
    assert_eq!(entries[4]["distinct"].as_u64().map(|d| d > 1), Some(true));
}
