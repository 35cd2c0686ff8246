//! Arbitrary bytes as a ZIP archive: unpacking either refuses them with an error or yields files
//! that all lie inside the target directory.
#![no_main]

use cohort_ingest::archive::{Limits, unpack};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("temp dir");
    let zip = dir.path().join("input.zip");
    std::fs::write(&zip, data).expect("write input");
    let into = dir.path().join("out");
    let limits = Limits { max_total_bytes: 64 << 20, ..Limits::default() };
    if let Ok(unpacked) = unpack(&zip, &into, limits) {
        let files: Vec<_> = unpacked.tables.iter().chain(&unpacked.documents).collect();
        if files.is_empty() {
            return; // an archive of folders or hidden entries only: nothing unpacked
        }
        let root = into.canonicalize().expect("unpacked into a directory");
        for (file, _entry) in files {
            let file = file.canonicalize().expect("an unpacked table exists");
            assert!(file.starts_with(&root), "{} escaped {}", file.display(), root.display());
        }
    }
});
