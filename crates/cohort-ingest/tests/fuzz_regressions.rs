//! Inputs the fuzzers (`fuzz/`, run by `scripts/fuzz`) once found, replayed with the fuzz targets'
//! own checks: unpacking an archive either fails or leaves every file inside its folder.

use std::path::PathBuf;

use cohort_ingest::archive::{Limits, unpack};

fn inputs(target: &str) -> Vec<PathBuf> {
    // Found when the test runs, not fixed at build time (a binary can be reused from another
    // checkout's build).
    let crate_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    let dir = PathBuf::from(crate_dir).join("../../fuzz/regressions").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    files.sort();
    files
}

#[test]
fn archives_the_fuzzer_found_unpack_safely() {
    let inputs = inputs("archive");
    assert!(!inputs.is_empty(), "fuzz/regressions/archive holds the inputs");
    for input in inputs {
        let dir = tempfile::tempdir().expect("temp dir");
        let into = dir.path().join("out");
        let Ok(unpacked) = unpack(&input, &into, Limits::default()) else { continue };
        let files: Vec<_> = unpacked.tables.iter().chain(&unpacked.documents).collect();
        if files.is_empty() {
            continue;
        }
        let root = into.canonicalize().expect("unpacked into a folder");
        for (file, entry) in files {
            let file = file.canonicalize().expect("an unpacked file exists");
            assert!(file.starts_with(&root), "{}: entry `{entry}` escaped to {}", input.display(), file.display());
        }
    }
}
