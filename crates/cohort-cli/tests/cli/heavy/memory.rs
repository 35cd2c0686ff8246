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

/// Peak resident memory of process `pid` (Linux `VmHWM`).
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

/// Runs six heavy console queries at once against a server started with `extra` arguments under
/// a 1 GB cap; returns the server's peak resident memory and the HTTP statuses.
fn six_heavy_queries(env: &Env, token: &str, extra: &[&str]) -> (u64, Vec<String>) {
    let mut args = vec!["--memory-limit", "1GB", "--json", "serve", "--addr", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let (mut server, url) = super::browser::started(env.cmd().args(&args));
    // `string_agg` of 30 million numbers holds its whole result at once: hundreds of megabytes
    // that cannot spill.
    let sql = r#"{"sql": "SELECT length(string_agg(x::VARCHAR, ',')) AS n FROM range(30000000) t(x)"}"#;
    let queries: Vec<std::process::Child> = (0..6)
        .map(|_| {
            std::process::Command::new("curl")
                .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "120", "-H"])
                .arg(format!("Authorization: Bearer {token}"))
                .args(["-H", "Content-Type: application/json", "-d", sql])
                .arg(format!("{url}/api/v1/query"))
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let statuses: Vec<String> =
        queries.into_iter().map(|q| String::from_utf8(q.wait_with_output().unwrap().stdout).unwrap()).collect();
    let small = std::process::Command::new("curl")
        .args(["-s", "-H"])
        .arg(format!("Authorization: Bearer {token}"))
        .args(["-H", "Content-Type: application/json", "-d", r#"{"sql": "SELECT 42 AS answer"}"#])
        .arg(format!("{url}/api/v1/query"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&small.stdout).contains("42"), "the server still answers");
    let peak = peak_rss(server.id());
    let _ = server.kill();
    let _ = server.wait();
    (peak, statuses)
}

/// Finding 3 of the security review: `--memory-limit` bounded each DuckDB engine, not the
/// process, and six heavy console queries took a 1 GB server to 3.9 GB. Now the engines share
/// the cap: they run in turns, each within its share, and a query too big for its share fails
/// alone with a clear error.
#[test]
fn six_heavy_queries_at_once_stay_under_the_server_s_cap() {
    const CAP: u64 = 1_000_000_000;
    /// The server's own code, stacks, caches and allocator slack, measured at about 100 MB idle.
    const MARGIN: u64 = 250_000_000;
    let env = Env::new();
    env.ok(&["init"]);
    let add =
        env.exec_with_stdin(&["user", "add", "admin", "--role", "admin", "--password-stdin"], "plum violin harbour\n");
    assert_eq!(add.code, 0, "{}", add.stderr);
    let token = env.json(&["user", "token", "add", "admin"])["token"].as_str().unwrap().to_string();

    let (peak, statuses) = six_heavy_queries(&env, &token, &[]);
    eprintln!("with engine slots: peak RSS {peak}, statuses {statuses:?}");
    assert!(peak < CAP + MARGIN, "peak RSS {peak} exceeds the cap {CAP} + {MARGIN}");
    // Each got its share, too small for its giant string: refused alone, with what to do.
    assert!(statuses.iter().all(|s| s == "422" || s == "200"), "each query answered, none left hanging: {statuses:?}");

    // The control: with admission control off (what the server did before), the same queries
    // take the process past the cap, so the bound above is the slots' doing.
    let (unbounded, statuses) = six_heavy_queries(&env, &token, &["--engine-slots", "0"]);
    eprintln!("without: peak RSS {unbounded}, statuses {statuses:?}");
    assert!(unbounded > CAP + MARGIN, "without slots the peak was only {unbounded}: the test proves nothing");
}
