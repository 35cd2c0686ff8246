//! Runs a reference script (Python: scipy, statsmodels, lifelines) and reads what it printed.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// The JSON printed by `tests/reference/<script>.py`: its data and the reference's answers.
/// The packages it needs are installed by `./scripts/test`.
pub fn reference(script: &str) -> Value {
    // Found when the test runs: a test binary can be reused from a build of another checkout with
    // the same sources, and a path fixed at build time would read that checkout's script.
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    let path = PathBuf::from(dir).join("tests/reference").join(format!("{script}.py"));
    let out = Command::new("python3")
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("running python3 {}: {e}", path.display()));
    assert!(
        out.status.success(),
        "{} failed (run ./scripts/test to install scipy, statsmodels and lifelines):\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{} printed no JSON: {e}", path.display()))
}

/// A column of numbers from JSON (`null` is NaN).
#[allow(dead_code)]
pub fn numbers(v: &Value) -> Vec<f64> {
    v.as_array().expect("a list").iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect()
}

/// Asserts `ours` agrees with `theirs` to `rel` relative (and 1e-12 absolute, for zeros).
#[track_caller]
#[allow(dead_code)]
pub fn agree(what: &str, ours: f64, theirs: f64, rel: f64) {
    let ok = (ours.is_nan() && theirs.is_nan()) || (ours - theirs).abs() <= rel * theirs.abs() + 1e-12;
    assert!(ok, "{what}: ours {ours} vs reference {theirs} (tolerance {rel} relative)");
}
