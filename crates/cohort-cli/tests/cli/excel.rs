//! Excel workbooks written by openpyxl (installed by `scripts/test`): every sheet with data is a
//! table, title rows above the header are skipped, and cell types survive.

use crate::util::Env;

const WRITE_WORKBOOKS: &str = r#"
import sys, datetime, zipfile
from openpyxl import Workbook
out = sys.argv[1]
book = Workbook()
patients = book.active
patients.title = "Patients"
patients.append(["Trial export, November 2026"])
patients.append([])
patients.append(["patient_id", "enrolled_on", "age", "baseline_va"])
patients.append(["00017", datetime.date(2024, 1, 3), 71, 55.5])
patients.append(["00018", datetime.date(2024, 2, 10), 64, None])
visits = book.create_sheet("Visits")
visits.append(["patient_id", "seen_at", "injected"])
visits.append(["00017", datetime.datetime(2024, 1, 3, 9, 30), True])
visits.append(["00018", datetime.datetime(2024, 2, 10, 14, 0), False])
book.create_sheet("Empty")
book.save(f"{out}/trial.xlsx")
single = Workbook()
single.active.append(["code", "label"])
single.active.append(["A1", "first, with a comma"])
single.save(f"{out}/codes.xlsx")
with zipfile.ZipFile(f"{out}/bundle.zip", "w") as z:
    z.write(f"{out}/codes.xlsx", "lookups/codes.xlsx")
    z.writestr("lookups/sites.csv", "site,city\nS01,Leeds\n")
"#;

#[test]
fn every_sheet_becomes_a_table_with_its_types() {
    let env = Env::new();
    env.python_fixtures(WRITE_WORKBOOKS);
    let report = env.json(&["ingest", env.path("trial.xlsx").to_str().unwrap(), "--name", "trial"]);
    let tables: Vec<&str> = report["tables"].as_array().unwrap().iter().map(|t| t["table"].as_str().unwrap()).collect();
    assert_eq!(tables.len(), 2, "the empty sheet is not a table: {tables:?}");
    let patients = tables.iter().find(|t| t.eq_ignore_ascii_case("patients")).unwrap();
    let visits = tables.iter().find(|t| t.eq_ignore_ascii_case("visits")).unwrap();
    assert_eq!(
        env.query_csv(&format!("SELECT column_name, column_type FROM (DESCRIBE trial.\"{patients}\")")),
        "column_name,column_type\npatient_id,VARCHAR\nenrolled_on,DATE\nage,BIGINT\nbaseline_va,DOUBLE\n",
        "the title rows are skipped and the types kept"
    );
    assert_eq!(
        env.query_csv(&format!("SELECT * FROM trial.\"{patients}\" ORDER BY 1")),
        "patient_id,enrolled_on,age,baseline_va\n00017,2024-01-03,71,55.5\n00018,2024-02-10,64,\n"
    );
    assert_eq!(
        env.query_csv(&format!(
            "SELECT patient_id, strftime(seen_at, '%Y-%m-%d %H:%M') AS t, injected FROM trial.\"{visits}\" ORDER BY 1"
        )),
        "patient_id,t,injected\n00017,2024-01-03 09:30,true\n00018,2024-02-10 14:00,false\n"
    );
    let sources = env.json(&["show", "trial"])["versions"][0]["sources"].to_string();
    assert!(sources.contains("trial.xlsx!Patients"), "{sources}");

    // One sheet: the table is named after the file. In a ZIP: a workbook's sheets are tables too.
    env.ok(&["ingest", env.path("codes.xlsx").to_str().unwrap(), "--name", "codes"]);
    assert_eq!(env.query_csv("SELECT label FROM codes.codes"), "label\n\"first, with a comma\"\n");
    env.ok(&["ingest", env.path("bundle.zip").to_str().unwrap(), "--name", "bundle"]);
    assert_eq!(env.scalar("SELECT count(*) FROM bundle.codes"), "1");
    assert_eq!(env.scalar("SELECT city FROM bundle.sites"), "Leeds");
}

#[test]
fn a_corrupt_workbook_names_the_file_and_changes_nothing() {
    let env = Env::new();
    env.ok(&["ingest", env.write("x.csv", "a\n1\n").to_str().unwrap(), "--name", "keep"]);
    let before = env.tree();
    let bad = env.write("broken.xlsx", "PK\u{3}\u{4} this is not a workbook");
    let r = env.fails(&["ingest", bad.to_str().unwrap(), "--name", "bad"], 1);
    assert!(r.stderr.contains("broken.xlsx") && r.stderr.contains("workbook"), "{}", r.stderr);
    assert_eq!(env.tree(), before);
}

const WRITE_OTHER_FORMATS: &str = r#"
import sys, gzip, datetime
import pandas as pd, xlwt
out = sys.argv[1]
frame = pd.DataFrame({"patient_id": ["00017", "00018"], "enrolled_on": [datetime.date(2024, 1, 3), datetime.date(2024, 2, 10)],
                      "age": [71, 64], "baseline_va": [55.5, 60.25]})
frame.to_excel(f"{out}/odsbook.ods", engine="odf", index=False)
book = xlwt.Workbook()
sheet = book.add_sheet("Patients")
dates = xlwt.easyxf(num_format_str="YYYY-MM-DD")
for col, name in enumerate(frame.columns):
    sheet.write(0, col, name)
for row, r in enumerate(frame.itertuples(index=False), 1):
    sheet.write(row, 0, r.patient_id)
    sheet.write(row, 1, r.enrolled_on, dates)
    sheet.write(row, 2, r.age)
    sheet.write(row, 3, r.baseline_va)
book.save(f"{out}/xlsbook.xls")
with gzip.open(f"{out}/gzipped.csv.gz", "wt") as f:
    frame.to_csv(f, index=False)
frame.to_csv(f"{out}/tabbed.tsv", sep="\t", index=False)
"#;

#[test]
fn ods_xls_gzipped_csv_and_tsv_keep_their_values() {
    let env = Env::new();
    env.python_fixtures(WRITE_OTHER_FORMATS);
    for (file, table) in [
        ("odsbook.ods", "odsbook"),
        ("xlsbook.xls", "xlsbook"),
        ("gzipped.csv.gz", "gzipped"),
        ("tabbed.tsv", "tabbed"),
    ] {
        env.ok(&["ingest", env.path(file).to_str().unwrap(), "--name", table]);
        assert_eq!(
            env.query_csv(&format!(
                "SELECT patient_id, enrolled_on, typeof(enrolled_on) AS t, age, baseline_va FROM {table}.{table} ORDER BY 1"
            )),
            "patient_id,enrolled_on,t,age,baseline_va\n00017,2024-01-03,DATE,71,55.5\n00018,2024-02-10,DATE,64,60.25\n",
            "{file}"
        );
    }
}
