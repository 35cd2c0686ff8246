//! Acceptance 1: ingest -> query -> export round-trips values exactly.

use crate::util::Env;

/// Written the way DuckDB's CSV writer writes (quotes only where needed), so the export must be
/// byte-identical.
pub const PEOPLE_CSV: &str = "\
patient_id,stage,age,weight_kg,visit_date,measured_at,smoker,name,comment
00123,01,71,70.5,2024-01-31,2024-01-31 12:34:56,true,Zoë Ångström,\"has, a comma\"
00124,10,,81.25,2023-12-01,2023-12-01 08:00:00,false,Ole,\"she said \"\"hi\"\"\"
99999,02,45,,,,,,
";

#[test]
fn csv_ingest_query_export_round_trips_exactly() {
    let env = Env::new();
    let csv = env.write("people.csv", PEOPLE_CSV);
    let report = env.json(&["ingest", csv.to_str().unwrap(), "--name", "rt"]);
    assert_eq!(report["outcome"]["outcome"], "created");
    assert_eq!(report["outcome"]["rows"], 3);

    // Types: identifiers and codes with leading zeros stay text; the rest is typed.
    let types = env.query_csv("SELECT column_name, column_type FROM (DESCRIBE rt.people)");
    for expected in [
        "patient_id,VARCHAR",
        "stage,VARCHAR",
        "age,BIGINT",
        "weight_kg,DOUBLE",
        "visit_date,DATE",
        "measured_at,TIMESTAMP",
        "smoker,BOOLEAN",
        "name,VARCHAR",
    ] {
        assert!(types.contains(expected), "{expected} missing from:\n{types}");
    }
    // Nulls are nulls, not empty strings or zeros.
    assert_eq!(
        env.scalar("SELECT count(*) FILTER (age IS NULL) || '/' || count(*) FILTER (name IS NULL) FROM rt.people"),
        "1/1"
    );
    assert_eq!(env.scalar("SELECT visit_date + 1 FROM rt.people WHERE patient_id = '00123'"), "2024-02-01");

    // CSV export is byte-identical to the input.
    let out = env.path("out.csv");
    env.ok(&["export", "rt.people", "--format", "csv", "--output", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), PEOPLE_CSV);
    // ...and so is the same export on standard output, and the table as a query.
    assert_eq!(env.ok(&["export", "rt", "--format", "csv"]).stdout, PEOPLE_CSV);
    assert_eq!(env.query_csv("SELECT * FROM rt.people"), PEOPLE_CSV);

    // JSON keeps types: strings with leading zeros, numbers, booleans, nulls.
    let json = env.ok(&["export", "rt.people", "--format", "json"]).stdout;
    let rows: Vec<serde_json::Value> = json.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows[0]["patient_id"], "00123");
    assert_eq!(rows[0]["stage"], "01");
    assert_eq!(rows[0]["age"], 71);
    assert_eq!(rows[0]["weight_kg"], 70.5);
    assert_eq!(rows[0]["smoker"], true);
    assert_eq!(rows[0]["visit_date"], "2024-01-31");
    assert_eq!(rows[0]["name"], "Zoë Ångström");
    assert_eq!(rows[1]["comment"], "she said \"hi\"");
    assert!(rows[2]["age"].is_number() && rows[2]["weight_kg"].is_null() && rows[2]["smoker"].is_null());
}

#[test]
fn parquet_export_and_reingest_round_trips_exactly() {
    let env = Env::new();
    let csv = env.write("people.csv", PEOPLE_CSV);
    env.ok(&["ingest", csv.to_str().unwrap(), "--name", "rt"]);
    // The format follows the file name's extension.
    let pq = env.path("people.parquet");
    env.ok(&["export", "rt.people", "--output", pq.to_str().unwrap()]);
    let from_query = env.path("query.parquet");
    env.ok(&["query", "SELECT * FROM rt.people", "--output", from_query.to_str().unwrap()]);
    assert_eq!(&std::fs::read(&from_query).unwrap()[..4], b"PAR1");
    let r = env.fails(&["query", "SELECT 1", "--output", env.path("x.txt").to_str().unwrap()], 1);
    assert!(r.stderr.contains("--format"), "{}", r.stderr);
    env.ok(&["ingest", pq.to_str().unwrap(), "--name", "again"]);
    // Parquet also streams to a pipe.
    let piped = env.cmd().args(["export", "rt.people", "--format", "parquet"]).output().unwrap();
    assert!(piped.status.success());
    let piped_file = env.path("piped/people.parquet");
    std::fs::create_dir_all(piped_file.parent().unwrap()).unwrap();
    std::fs::write(&piped_file, &piped.stdout).unwrap();
    env.ok(&["ingest", piped_file.to_str().unwrap(), "--name", "piped"]);
    assert_eq!(env.ok(&["export", "piped.people"]).stdout, PEOPLE_CSV);
    assert_eq!(env.ok(&["export", "again.people", "--format", "csv"]).stdout, PEOPLE_CSV);
    let types = env.query_csv("SELECT column_type FROM (DESCRIBE again.people)");
    assert_eq!(types, env.query_csv("SELECT column_type FROM (DESCRIBE rt.people)"));
}

#[test]
fn several_files_become_tables_of_one_dataset_and_export_to_a_directory() {
    let env = Env::new();
    let a = env.write("Patients.csv", "patient_id,age\n001,70\n002,81\n");
    let b = env.write("Visit Log.tsv", "patient_id\tvisit\n001\t1\n001\t2\n002\t1\n");
    env.ok(&["ingest", a.to_str().unwrap(), b.to_str().unwrap(), "--name", "trial"]);
    let shown = env.json(&["show", "trial"]);
    let tables: Vec<&str> =
        shown["shown"]["tables"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(tables, vec!["patients", "visit_log"]);
    assert_eq!(env.scalar("SELECT count(*) FROM trial.visit_log v JOIN trial.patients p USING (patient_id)"), "3");

    // Without a table, several tables need a directory.
    let r = env.fails(&["export", "trial", "--format", "csv"], 1);
    assert!(r.stderr.contains("trial.patients") && r.stderr.contains("--output DIR"), "{}", r.stderr);
    let dir = env.path("out");
    std::fs::create_dir(&dir).unwrap();
    env.ok(&["export", "trial", "--format", "csv", "--output", dir.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(dir.join("patients.csv")).unwrap(), "patient_id,age\n001,70\n002,81\n");
    assert!(dir.join("visit_log.csv").exists());
}

#[test]
fn show_and_list_describe_the_dataset() {
    let env = Env::new();
    let csv = env.write("people.csv", PEOPLE_CSV);
    env.ok(&["ingest", csv.to_str().unwrap(), "--name", "rt", "--description", "demo people", "--tag", "demo"]);
    let list = env.json(&["list"]);
    assert_eq!(list[0]["name"], "rt");
    assert_eq!(list[0]["kind"], "upload");
    assert_eq!(list[0]["rows"], 3);
    assert_eq!(list[0]["tags"][0], "demo");
    let show = env.json(&["show", "rt"]);
    let table = &show["shown"]["tables"][0];
    assert_eq!(table["rows"], 3);
    assert!(table["files"][0]["path"].as_str().unwrap().ends_with("people/part-00000.parquet"));
    assert_eq!(table["files"][0]["sha256"].as_str().unwrap().len(), 64);
    let age = table["columns"].as_array().unwrap().iter().find(|c| c["name"] == "age").unwrap();
    assert_eq!(age["null_count"], 1);
    assert_eq!(age["min"], "45");
    assert_eq!(age["max"], "71");
    assert_eq!(age["role"], "measure");
    let id = table["columns"].as_array().unwrap().iter().find(|c| c["name"] == "patient_id").unwrap();
    assert_eq!(id["role"], "identifier");
    let version = &show["versions"][0];
    assert_eq!(version["sources"][0]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(version["provenance"]["command"], "ingest");
    // The human form names the essentials.
    let text = env.ok(&["show", "rt"]).stdout;
    for needle in ["rt (upload)", "demo people", "Table people", "patient_id", "VARCHAR", "Versions", "content hash"] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
}
