//! ZIP archives of tables, written by Python's `zipfile`: each table entry becomes a table as if
//! given on its own; unsafe archives are refused and change nothing.

use crate::util::Env;

/// Writes `name` in the test directory by running a Python snippet with `z` an open ZipFile.
fn zip(env: &Env, name: &str, body: &str) -> std::path::PathBuf {
    let path = env.path(name);
    let script = format!(
        "import zipfile, sys\nwith zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:\n{}",
        body.lines().map(|l| format!("    {l}\n")).collect::<String>()
    );
    let out = std::process::Command::new("python3").args(["-c", &script, path.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    path
}

const PATIENTS: &str = "patient_id,sex,birth_year\n001,F,1950\n002,M,1948\n003,F,1961\n";

#[test]
fn an_ehr_extract_becomes_one_table_per_entry() {
    let env = Env::new();
    let archive = zip(
        &env,
        "ehr.zip",
        &format!(
            "z.writestr('extract/patients.csv', {PATIENTS:?})\n\
             z.writestr('extract/admissions.csv', 'admission_id,patient_id,admitted_on\\nA1,001,2024-01-02\\nA2,003,2024-02-03\\n')\n\
             z.writestr('extract/labs.ndjson', '{{\"patient_id\": \"001\", \"hba1c\": 6.5}}\\n{{\"patient_id\": \"002\", \"hba1c\": 7.1}}\\n')\n\
             z.writestr('extract/meds.tsv', 'patient_id\\tdrug\\n001\\taflibercept\\n')\n\
             z.writestr('extract/coded/diagnoses.csv', 'patient_id,icd10\\n001,H35.32\\n002,H35.32\\n')\n\
             z.writestr('extract/README.txt', 'What the columns mean')\n\
             z.writestr('extract/dictionary.pdf', '%PDF-1.4 not really')\n\
             z.writestr('__MACOSX/extract/._patients.csv', 'junk')"
        ),
    );
    let report = env.json(&["ingest", archive.to_str().unwrap(), "--name", "ehr"]);
    let mut tables: Vec<&str> =
        report["tables"].as_array().unwrap().iter().map(|t| t["table"].as_str().unwrap()).collect();
    tables.sort();
    assert_eq!(tables, ["admissions", "diagnoses", "labs", "meds", "patients"]);
    let documents = report["documents"].to_string();
    assert!(documents.contains("README.txt") && documents.contains("dictionary.pdf"), "{documents}");
    // Documents are kept with the version, byte for byte.
    let show = env.json(&["show", "ehr"]);
    let version_dir = env.store().join(show["versions"][0]["path"].as_str().unwrap());
    assert_eq!(std::fs::read_to_string(version_dir.join("_attachments/README.txt")).unwrap(), "What the columns mean");
    assert_eq!(
        show["versions"][0]["provenance"]["attachments"][1]["source"]
            .as_str()
            .map(|s| s.ends_with("ehr.zip!extract/dictionary.pdf")),
        Some(true)
    );
    assert_eq!(env.scalar("SELECT count(*) FROM ehr.admissions"), "2");
    assert_eq!(env.scalar("SELECT patient_id FROM ehr.patients ORDER BY 1 LIMIT 1"), "001");
    let show = env.json(&["show", "ehr"]);
    let sources = show["versions"][0]["sources"].to_string();
    assert!(sources.contains("ehr.zip!extract/labs.ndjson"), "sources name the archive and entry: {sources}");
    assert!(
        !crate::util::has_entries(&env.store().join("tmp")) || no_unpacked_files(&env),
        "unpacked files are removed"
    );

    // The same archive again is the same version; the same table given on its own is stored the same.
    let again = env.json(&["ingest", archive.to_str().unwrap(), "--name", "ehr"]);
    assert_eq!(again["outcome"]["outcome"], "unchanged", "{again}");
    // A document given beside the tables is attached too, and is part of the content.
    let codebook = env.write("codebook.md", "# Codebook\n");
    let with_codebook = env.json(&["ingest", archive.to_str().unwrap(), codebook.to_str().unwrap(), "--name", "ehr"]);
    assert_eq!(with_codebook["outcome"]["version"], 2, "{with_codebook}");
    assert_eq!(with_codebook["documents"].as_array().unwrap().len(), 3);
    let documents = env.json(&["show", "ehr"])["versions"][0]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["table"].is_null())
        .count();
    assert_eq!(documents, 3, "documents are recorded among the sources, with no table");
    let same = env.json(&["ingest", archive.to_str().unwrap(), codebook.to_str().unwrap(), "--name", "ehr"]);
    assert_eq!(same["outcome"]["outcome"], "unchanged", "{same}");
    let single = env.write("patients.csv", PATIENTS);
    env.ok(&["ingest", single.to_str().unwrap(), "--name", "alone"]);
    let table = |dataset: &str| {
        let show = env.json(&["show", dataset]);
        let t = show["shown"]["tables"].as_array().unwrap().iter().find(|t| t["name"] == "patients").unwrap().clone();
        (t["sha256"].clone(), t["columns"].clone(), t["rows"].clone())
    };
    assert_eq!(table("ehr"), table("alone"), "a table from an archive equals the same file ingested alone");
}

fn no_unpacked_files(env: &Env) -> bool {
    walk(&env.store().join("tmp")).iter().all(|p| !p.contains("unpack-"))
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            out.push(e.path().display().to_string());
            out.extend(walk(&e.path()));
        }
    }
    out
}

#[test]
fn unsafe_archives_are_refused_and_change_nothing() {
    let env = Env::new();
    env.ok(&["ingest", env.write("x.csv", "a\n1\n").to_str().unwrap(), "--name", "keep"]);
    let before = env.tree();
    let cases = [
        ("slip.zip", "z.writestr('../evil.csv', 'a\\n1\\n')", "outside"),
        (
            "absolute.zip",
            "info = zipfile.ZipInfo('x.csv')\ninfo.filename = '/tmp/cohort-evil.csv'\nz.writestr(info, 'a\\n1\\n')",
            "outside",
        ),
        (
            "link.zip",
            "info = zipfile.ZipInfo('link.csv')\ninfo.external_attr = (0o120777 << 16)\nz.writestr(info, '/etc/passwd')",
            "symbolic link",
        ),
        ("nested.zip", "z.writestr('inner.zip', 'PK not really')", "inside archives"),
        ("bomb.zip", "z.writestr('zeros.csv', 'a\\n' + '0\\n' * 30_000_000)", "zip bomb"),
        ("docs.zip", "z.writestr('README.md', 'only words')", "no table"),
    ];
    for (name, body, expected) in cases {
        let archive = zip(&env, name, body);
        let r = env.fails(&["ingest", archive.to_str().unwrap(), "--name", "bad"], 1);
        assert!(r.stderr.contains(name) && r.stderr.contains(expected), "{name}: {}", r.stderr);
        assert_eq!(env.tree(), before, "{name} changed the store");
    }
    assert!(!env.dir.path().join("evil.csv").exists() && !std::path::Path::new("/tmp/cohort-evil.csv").exists());
    assert!(no_unpacked_files(&env), "refused archives leave nothing unpacked");
}

#[test]
fn one_file_many_files_and_an_archive_store_a_table_alike() {
    let env = Env::new();
    let patients = env.write("patients.csv", PATIENTS);
    let visits = env.write("visits.csv", "patient_id,va\n001,55\n002,61\n");
    let archive = zip(
        &env,
        "both.zip",
        &format!(
            "z.writestr('patients.csv', {PATIENTS:?})\nz.writestr('visits.csv', 'patient_id,va\\n001,55\\n002,61\\n')"
        ),
    );
    env.ok(&["ingest", patients.to_str().unwrap(), "--name", "one"]);
    env.ok(&["ingest", patients.to_str().unwrap(), visits.to_str().unwrap(), "--name", "many"]);
    env.ok(&["ingest", archive.to_str().unwrap(), "--name", "zipped"]);
    let table = |dataset: &str| {
        let show = env.json(&["show", dataset]);
        let t = show["shown"]["tables"].as_array().unwrap().iter().find(|t| t["name"] == "patients").unwrap().clone();
        (t["sha256"].clone(), t["columns"].clone(), t["rows"].clone(), t["arrow_schema"].clone())
    };
    let one = table("one");
    assert_eq!(table("many"), one, "several files: the same table as one file alone");
    assert_eq!(table("zipped"), one, "an archive: the same table as the file alone");
}
