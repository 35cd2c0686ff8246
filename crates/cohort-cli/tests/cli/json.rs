//! JSON sources: arrays of objects and newline-delimited JSON, written by Python's `json` and
//! pandas, become tables whose nested objects and arrays stay structs and lists.

use crate::util::Env;

const WRITE_FIXTURES: &str = r#"
import json, sys
import pandas as pd
out = sys.argv[1]
visits = [
    {"patient_id": "001", "visit": {"date": "2024-01-03", "va": 55, "eye": "OD"}, "drugs": ["aflibercept", "ranibizumab"], "injected": True, "note": None},
    {"patient_id": "002", "visit": {"date": "2024-02-10", "va": 61, "eye": "OS"}, "drugs": [], "injected": False, "note": "late", "extra": 3.5},
]
json.dump(visits, open(f"{out}/visits.json", "w"))
labs = pd.DataFrame({"patient_id": ["001", "002", "003"], "hba1c": [6.1, 7.25, None], "taken_at": pd.to_datetime(["2024-03-01 10:00", "2024-03-02 11:30", "2024-03-03 09:15"])})
labs.to_json(f"{out}/labs.ndjson", orient="records", lines=True, date_format="iso")
"#;

#[test]
fn json_arrays_and_ndjson_become_tables_with_nested_columns() {
    let env = Env::new();
    env.python_fixtures(WRITE_FIXTURES);
    let visits = env.path("visits.json");
    let labs = env.path("labs.ndjson");
    env.ok(&["ingest", visits.to_str().unwrap(), labs.to_str().unwrap(), "--name", "ehr"]);

    let types = env.query_csv("SELECT column_name, column_type FROM (DESCRIBE ehr.visits)");
    for expected in [
        "patient_id,VARCHAR",
        "visit,\"STRUCT(date DATE, va BIGINT, eye VARCHAR)\"",
        "drugs,VARCHAR[]",
        "injected,BOOLEAN",
        "extra,DOUBLE",
    ] {
        assert!(types.contains(expected), "{expected} missing from\n{types}");
    }
    assert_eq!(
        env.query_csv(
            "SELECT patient_id, visit.va, drugs[1] AS first, len(drugs) AS n, extra FROM ehr.visits ORDER BY 1"
        ),
        "patient_id,va,first,n,extra\n001,55,aflibercept,2,\n002,61,,0,3.5\n",
        "a key that appears only in a later object still becomes a column"
    );
    assert_eq!(
        env.query_csv("SELECT patient_id, hba1c, strftime(taken_at, '%Y-%m-%d %H:%M') AS t FROM ehr.labs ORDER BY 1"),
        "patient_id,hba1c,t\n001,6.1,2024-03-01 10:00\n002,7.25,2024-03-02 11:30\n003,,2024-03-03 09:15\n"
    );
}

#[test]
fn malformed_json_names_the_file_and_changes_nothing() {
    let env = Env::new();
    let good = env.write("a.ndjson", "{\"x\": 1}\n");
    env.ok(&["ingest", good.to_str().unwrap(), "--name", "j"]);
    let before = env.tree();
    let bad = env.write("broken.json", "[{\"a\": 1}, {\"a\": 2,, }]");
    let r = env.fails(&["ingest", bad.to_str().unwrap(), "--name", "j"], 1);
    assert!(r.stderr.contains("broken.json") && r.stderr.to_lowercase().contains("json"), "{}", r.stderr);
    assert_eq!(env.tree(), before, "a failed ingest changes nothing");
}
