//! Acceptance 2: SIGKILL at random points during ingest never leaves a visible partial version,
//! and the next open recovers.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::util::{Env, Lcg, write_visits_csv};

const ROWS: u64 = 300_000;
const KILLS: usize = 24;

#[test]
fn sigkill_during_ingest_never_leaves_a_partial_version() {
    let env = Env::new();
    env.ok(&["init"]);
    // Variants with different row counts, so a partial version would show as a wrong count.
    let variants: Vec<(std::path::PathBuf, u64)> = (0..4)
        .map(|i| {
            let p = env.path(&format!("v{i}/visits.csv"));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            write_visits_csv(&p, ROWS + i, i);
            (p, ROWS + i)
        })
        .collect();
    let allowed: BTreeSet<u64> = variants.iter().map(|v| v.1).collect();

    // How long one ingest takes here, to spread the kills over its whole run.
    let started = Instant::now();
    env.ok(&["ingest", variants[0].0.to_str().unwrap(), "--name", "crash"]);
    let full = started.elapsed();

    let mut rng = Lcg(42);
    let mut committed_after_kill = 0;
    for round in 0..KILLS {
        let (file, _) = &variants[1 + round % 3];
        let delay = Duration::from_micros(rng.next() % (full.as_micros() as u64 * 12 / 10).max(1));
        let mut child = env.cmd().args(["ingest", file.to_str().unwrap(), "--name", "crash"]).spawn().unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        if status.success() {
            committed_after_kill += 1;
        }

        // The next command recovers; every visible version is whole.
        let doctor = env.json(&["doctor"]);
        assert_eq!(doctor["problems"].as_array().unwrap().len(), 0, "round {round}: {doctor}");
        assert_eq!(doctor["views_in_sync"], true, "round {round}: {doctor}");
        for v in env.json(&["versions", "crash"]).as_array().unwrap() {
            let n = v["version"].as_u64().unwrap();
            let rows = v["rows"].as_u64().unwrap();
            assert!(allowed.contains(&rows), "round {round}: version {n} has {rows} rows");
            let counted: u64 = env.scalar(&format!("SELECT count(*) FROM \"crash@{n}\".visits")).parse().unwrap();
            assert_eq!(counted, rows, "round {round}: version {n}");
        }
        assert_eq!(std::fs::read_dir(env.store().join("staging")).unwrap().count(), 0, "round {round}");
    }
    eprintln!("{KILLS} kills, {committed_after_kill} of which came after the commit finished");
}
