//! Keys, relationships and the unified view on an EHR-like extract of seven tables in one ZIP
//! (CSV, NDJSON and an Excel workbook), written by a seeded Python generator.

use crate::util::Env;

const WRITE_EXTRACT: &str = r#"
import sys, random, datetime, zipfile, io, json
from openpyxl import Workbook
out = sys.argv[1]
rng = random.Random(7)
day = lambda d: (datetime.date(2020, 1, 1) + datetime.timedelta(days=d)).isoformat()
sites = [(f"S{i:02d}", name) for i, name in enumerate(["Leeds", "York", "Hull", "Bradford"], 1)]
patients = [(f"P{i:04d}", rng.choice(sites)[0], rng.choice("FM"), rng.randint(1930, 1965)) for i in range(1, 301)]
admissions, labs, diagnoses, medications, referrals = [], [], [], [], []
for p in patients:
    for _ in range(rng.randint(0, 4)):
        a = (f"A{len(admissions) + 1:05d}", p[0], day(rng.randint(0, 900)), rng.choice(["eye", "general"]), rng.randint(1, 12))
        admissions.append(a)
        for _ in range(rng.randint(1, 3)):
            labs.append((f"L{len(labs) + 1:06d}", a[0], rng.choice(["hba1c", "crp"]), round(rng.uniform(3, 12), 1)))
    for _ in range(rng.randint(1, 2)):
        diagnoses.append((p[0], rng.choice(["H35.32", "E11.9", "I10"]), day(rng.randint(0, 900))))
    if rng.random() < 0.6:
        medications.append({"medication_id": f"M{len(medications) + 1:05d}", "patient_id": p[0],
                            "drug": rng.choice(["aflibercept", "ranibizumab"]), "dose_mg": 2.0})
# 2% of lab rows point at admissions missing from the extract; still a relationship (98% found).
for i in range(len(labs) // 50):
    labs.append((f"L9{i:05d}", f"A9{i:04d}", "crp", 5.0))
# Referrals come from another system: most patient ids there are not this extract's.
for i in range(200):
    pid = rng.choice(patients)[0] if i % 4 == 0 else f"X{i:04d}"
    referrals.append((f"R{i:04d}", pid, day(rng.randint(0, 900))))
def csv(header, rows):
    return "\n".join([",".join(header)] + [",".join(str(v) for v in r) for r in rows]) + "\n"
book = Workbook()
book.active.title = "sites"
book.active.append(["site_id", "site_name"])
for s in sites:
    book.active.append(list(s))
sites_xlsx = io.BytesIO()
book.save(sites_xlsx)
with zipfile.ZipFile(f"{out}/ehr.zip", "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("extract/sites.xlsx", sites_xlsx.getvalue())
    z.writestr("extract/patients.csv", csv(["patient_id", "site_id", "sex", "birth_year"], patients))
    z.writestr("extract/admissions.csv", csv(["admission_id", "patient_id", "admitted_on", "ward", "length_of_stay"], admissions))
    z.writestr("extract/labs.csv", csv(["lab_id", "admission_id", "test", "value"], labs))
    z.writestr("extract/diagnoses.csv", csv(["patient_id", "icd10", "diagnosed_on"], diagnoses))
    z.writestr("extract/medications.ndjson", "".join(json.dumps(m) + "\n" for m in medications))
    z.writestr("extract/referrals.csv", csv(["referral_id", "patient_id", "referred_on"], referrals))
    z.writestr("extract/data_dictionary.txt", "patients: one row per participant\n")
known = {a[0] for a in admissions}
json.dump({
    "patients": len(patients),
    "admissions": len(admissions),
    "labs_linked": sum(1 for l in labs if l[1] in known),
    "diagnoses": len(diagnoses),
    "medications": len(medications),
    "los_mean_p0001": (lambda s: sum(s) / len(s) if s else None)([a[4] for a in admissions if a[1] == "P0001"]),
}, open(f"{out}/expected.json", "w"))
"#;

fn links(rel: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = rel["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            format!("{}.{} -> {}.{}", l["child_table"], l["child_column"], l["parent_table"], l["parent_column"])
                .replace('"', "")
        })
        .collect();
    out.sort();
    out
}

#[test]
fn an_ehr_extract_gets_its_keys_relationships_and_a_unified_view() {
    let env = Env::new();
    env.python_fixtures(WRITE_EXTRACT);
    let expected = env.json_file("expected.json");
    env.ok(&["ingest", env.path("ehr.zip").to_str().unwrap(), "--name", "ehr"]);

    let rel = env.json(&["relate", "ehr"]);
    let mut keys: Vec<String> = rel["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| format!("{}.{}", k["table"].as_str().unwrap(), k["column"].as_str().unwrap()))
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "admissions.admission_id",
            "labs.lab_id",
            "medications.medication_id",
            "patients.patient_id",
            "referrals.referral_id",
            "sites.site_id"
        ],
        "diagnoses has no key: a patient has several"
    );
    assert_eq!(
        links(&rel),
        [
            "admissions.patient_id -> patients.patient_id",
            "diagnoses.patient_id -> patients.patient_id",
            "labs.admission_id -> admissions.admission_id",
            "medications.patient_id -> patients.patient_id",
            "patients.site_id -> sites.site_id",
        ],
        "referrals.patient_id matches by name but only 25% of its values: not a relationship"
    );
    let labs = rel["links"].as_array().unwrap().iter().find(|l| l["child_table"] == "labs").unwrap();
    let coverage = labs["coverage"].as_f64().unwrap();
    assert!((0.97..0.99).contains(&coverage), "2% of lab rows have no admission: {labs}");
    assert!(labs["confidence"].as_f64().unwrap() < 1.0, "{labs}");

    // The unified view: one row per participant, whatever the fan-out of the child tables.
    let patients = expected["patients"].as_u64().unwrap();
    let out = env.path("participants.parquet");
    let unified = env.json(&["relate", "ehr", "--unified", "--output", out.to_str().unwrap()]);
    assert_eq!(unified["root"], "patients", "{unified}");
    assert_eq!(unified["rows"].as_u64(), Some(patients), "{unified}");
    assert_eq!(unified["participants"].as_u64(), Some(patients), "{unified}");
    assert_eq!(unified["looked_up"], serde_json::json!(["sites"]));
    assert_eq!(unified["unrelated"], serde_json::json!(["referrals"]));
    let file = out.to_str().unwrap();
    assert_eq!(
        env.query_csv(&format!(
            "SELECT count(*) AS n, count(DISTINCT patient_id) AS ids, sum(admissions_rows) AS adm, sum(labs_rows) AS labs, \
             sum(diagnoses_rows) AS dx, sum(medications_rows) AS meds, count(sites_site_name) AS named FROM '{file}'"
        )),
        format!(
            "n,ids,adm,labs,dx,meds,named\n{patients},{patients},{},{},{},{},{patients}\n",
            expected["admissions"], expected["labs_linked"], expected["diagnoses"], expected["medications"]
        ),
        "every child row is counted once, through its path to the participant"
    );
    let los = env.scalar(&format!("SELECT admissions_length_of_stay_mean FROM '{file}' WHERE patient_id = 'P0001'"));
    match expected["los_mean_p0001"].as_f64() {
        Some(mean) => assert!((los.parse::<f64>().unwrap() - mean).abs() < 1e-9, "{los} vs {mean}"),
        None => assert_eq!(los, ""),
    }

    // A user's decisions hold: reject one, add one; they survive a new version of the dataset.
    env.ok(&["relate", "ehr", "--reject", "diagnoses.patient_id=patients.patient_id"]);
    env.ok(&["relate", "ehr", "--add", "referrals.patient_id=patients.patient_id"]);
    let rel = env.json(&["relate", "ehr"]);
    let now = links(&rel);
    assert!(!now.contains(&"diagnoses.patient_id -> patients.patient_id".to_string()), "{now:?}");
    assert!(now.contains(&"referrals.patient_id -> patients.patient_id".to_string()), "{now:?}");
    assert_eq!(rel["rejected"][0]["child_table"], "diagnoses");
    let unified = env.json(&["relate", "ehr", "--unified"]);
    assert_eq!(unified["rows"].as_u64(), Some(patients));
    assert_eq!(unified["unrelated"], serde_json::json!(["diagnoses"]));

    let bad = env.fails(&["relate", "ehr", "--add", "labs.nope=patients.patient_id"], 1);
    assert!(bad.stderr.contains("no column `nope`"), "{}", bad.stderr);
}

/// Statistics on the unified view: one row per participant, child tables aggregated, exactly as
/// `cohort relate --unified` writes it; the answer's hash covers every table the view reads.
#[test]
fn analyses_run_on_the_unified_view() {
    let env = Env::new();
    env.python_fixtures(WRITE_EXTRACT);
    let patients = env.json_file("expected.json")["patients"].as_u64().unwrap();
    env.ok(&["ingest", env.path("ehr.zip").to_str().unwrap(), "--name", "ehr"]);
    let out = env.path("participants.parquet");
    env.ok(&["relate", "ehr", "--unified", "--output", out.to_str().unwrap()]);
    let answer = env.json(&["analyze", "ehr", "--unified", "describe", "admissions_rows", "--by", "sex"]);
    assert_eq!(
        (answer["table"].as_str(), answer["rows"]["table"].as_u64()),
        (Some("unified"), Some(patients)),
        "{answer}"
    );
    assert_eq!(answer["plan"]["unified"], true);
    assert_eq!(answer["content_sha256"].as_str().unwrap().len(), 64);
    let groups = answer["result"]["variables"][0]["groups"].as_array().unwrap();
    let file = out.to_str().unwrap();
    for g in groups {
        let sex = g["group"].as_str().unwrap();
        let reference = env.query_csv(&format!(
            "SELECT count(*) AS n, avg(admissions_rows) AS mean FROM '{file}' WHERE sex = '{sex}'"
        ));
        let line: Vec<&str> = reference.lines().nth(1).unwrap().split(',').collect();
        assert_eq!(g["n"].as_u64().unwrap().to_string(), line[0], "{sex}");
        assert!((g["mean"].as_f64().unwrap() - line[1].parse::<f64>().unwrap()).abs() < 1e-9, "{sex}");
    }
    // A model across tables: does the number of admissions differ by sex.
    let compare = env.json(&["analyze", "ehr", "--unified", "compare", "admissions_rows", "--by", "sex"]);
    assert!(compare["result"]["welch_t"]["p"].as_f64().is_some(), "{compare}");
    // The same in words, of the view: its aggregates are columns a question can name.
    let asked = env.json(&["ask", "ehr", "does the number of admissions rows differ by sex", "--unified"]);
    assert_eq!(asked["understood"]["plan"]["unified"], true, "{asked}");
    assert_eq!(asked["understood"]["plan"]["analysis"]["variable"], "admissions_rows", "{asked}");
    assert_eq!(asked["answer"]["result"], compare["result"], "the question's answer is the plan's");
    // Without relationships there is no view, and the error says what to do.
    env.write("lone.csv", "a,b\n1,2\n3,4\n");
    env.ok(&["ingest", env.path("lone.csv").to_str().unwrap(), "--name", "lone"]);
    let run = env.fails(&["analyze", "lone", "--unified", "describe", "a"], 1);
    assert!(run.stderr.contains("cohort relate lone --add"), "{}", run.stderr);
}
