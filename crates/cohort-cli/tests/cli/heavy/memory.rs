//! The memory cap: a CSV four times larger than `--memory-limit` ingests with peak resident memory
//! under the cap plus a small constant.

use crate::util::{Env, write_visits_csv};

const CAP: u64 = 256_000_000;
/// Code, stacks and allocator slack outside DuckDB's buffer pool.
const CONSTANT: u64 = 64_000_000;

#[test]
fn csv_four_times_the_cap_ingests_under_the_cap() {
    let env = Env::new();
    let csv = env.path("big.csv");
    let mut rows = 4_000_000;
    let mut size = write_visits_csv(&csv, rows, 1);
    // About 60 bytes a row; grow to at least four times the cap.
    if size < 4 * CAP {
        rows = rows * (4 * CAP) / size + 1000;
        size = write_visits_csv(&csv, rows, 1);
    }
    assert!(size >= 4 * CAP);
    let report = env.json(&["--memory-limit", &CAP.to_string(), "ingest", csv.to_str().unwrap(), "--name", "big"]);
    assert_eq!(report["outcome"]["rows"], rows);
    let peak = report["peak_rss_bytes"].as_u64().expect("peak_rss_bytes in the report");
    eprintln!("CSV {size} bytes, cap {CAP}, peak RSS {peak}");
    assert!(peak < CAP + CONSTANT, "peak RSS {peak} exceeds cap {CAP} + {CONSTANT}");
    assert_eq!(env.scalar("SELECT count(*) FROM big.big"), rows.to_string());
}
