//! Named crash points for testing crash safety.
//!
//! `COHORT_FAILPOINT=<name>` makes the process abort (as if killed) when it reaches the point of
//! that name; `COHORT_FAILPOINT=<name>:wait=<path>` makes it create `<path>.reached` and then wait
//! until `<path>` exists, so a test can act at an exact moment (modify a source file mid-ingest,
//! kill the process). Unset, a failpoint costs one environment lookup.

use std::path::PathBuf;
use std::time::Duration;

/// Environment variable naming the active failpoint.
pub const ENV: &str = "COHORT_FAILPOINT";

/// Triggers the failpoint `name` if it is the active one.
pub fn hit(name: &str) {
    let Ok(spec) = std::env::var(ENV) else { return };
    let (point, action) = spec.split_once(':').unwrap_or((spec.as_str(), "abort"));
    if point != name {
        return;
    }
    match action.strip_prefix("wait=") {
        Some(path) => {
            let go = PathBuf::from(path);
            let _ = std::fs::write(go.with_extension("reached"), name);
            while !go.exists() {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        None => std::process::abort(),
    }
}
