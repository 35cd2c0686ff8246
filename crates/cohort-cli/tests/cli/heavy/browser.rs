//! The web app in a real browser: Playwright drives Debian's Chromium (both installed by
//! `scripts/test`) through `tests/browser/run.mjs` against `cohort serve --demo`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::util::Env;

#[test]
fn the_web_app_works_in_chromium() {
    let env = Env::new();
    let mut server = env
        .cmd()
        .args(["--json", "serve", "--demo", "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cohort serve starts");
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap()).read_line(&mut line).expect("the server prints its URL");
    let ready: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("`{line}`: {e}"));
    let url = ready["url"].as_str().unwrap().trim_end_matches('/').to_string();

    let browser_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/browser");
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
        .output()
        .expect("node runs (scripts/test installs the browser tests' packages)");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    let _ = server.kill();
    let _ = server.wait();
    eprintln!("{stdout}");
    assert!(
        !stderr.contains("Cannot find package 'playwright-core'"),
        "run ./scripts/test, which installs Chromium and tests/browser's packages\n{stderr}"
    );
    assert!(run.status.success(), "browser checks failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("all browser checks passed"), "{stdout}");

    // The browser's download equals `cohort export` of the same table, byte for byte.
    let exported = env.path("visits-export.csv");
    env.ok(&["export", "demo-trial.visits", "--output", exported.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(out_dir.join("visits.csv")).unwrap(),
        std::fs::read(&exported).unwrap(),
        "the downloaded CSV differs from `cohort export`"
    );
}
