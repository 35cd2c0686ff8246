//! Versions, identical-content detection, rollback, `NAME@N`, gc, doctor and crash recovery at
//! exact points of a commit.

use crate::util::Env;

fn ingest(env: &Env, name: &str, file: &str, contents: &str) -> serde_json::Value {
    let dir = env.path(&format!("src-{}", contents.len()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(file);
    std::fs::write(&p, contents).unwrap();
    env.json(&["ingest", p.to_str().unwrap(), "--name", name])
}

#[test]
fn versions_rollback_and_old_versions_stay_queryable() {
    let env = Env::new();
    assert_eq!(ingest(&env, "t", "data.csv", "x\n1\n")["outcome"]["version"], 1);
    assert_eq!(ingest(&env, "t", "data.csv", "x\n1\n2\n")["outcome"]["version"], 2);
    // The same file again: no new version.
    let again = ingest(&env, "t", "data.csv", "x\n1\n2\n");
    assert_eq!(again["outcome"]["outcome"], "unchanged");
    assert_eq!(again["outcome"]["version"], 2);
    // Same content through a different path (other options, so the shortcut cannot apply): the
    // content hash still says "unchanged".
    let p = env.path("src-6/data.csv");
    let by_hash = env.json(&["ingest", p.to_str().unwrap(), "--name", "t", "--null", ""]);
    assert_eq!(by_hash["outcome"]["outcome"], "unchanged", "{by_hash}");
    assert_eq!(env.json(&["versions", "t"]).as_array().unwrap().len(), 2);

    assert_eq!(env.scalar("SELECT count(*) FROM t.data"), "2");
    assert_eq!(env.scalar("SELECT count(*) FROM \"t@1\".data"), "1");
    assert_eq!(env.scalar("SELECT (SELECT count(*) FROM \"t@1\".data) + (SELECT count(*) FROM t.data)"), "3");

    let r = env.ok(&["rollback", "t", "--to", "1"]);
    assert!(r.stdout.contains("current version 2 -> 1"), "{}", r.stdout);
    assert_eq!(env.scalar("SELECT count(*) FROM t.data"), "1");
    assert_eq!(env.json(&["list"])[0]["current_version"], 1);

    let r = env.fails(&["rollback", "t", "--to", "9"], 1);
    assert!(r.stderr.contains("no version 9") && r.stderr.contains("versions 1, 2"), "{}", r.stderr);
    let r = env.fails(&["query", "SELECT * FROM \"t@9\".data"], 1);
    assert!(r.stderr.contains("no version 9") && r.stderr.contains("versions 1, 2"), "{}", r.stderr);
}

#[test]
fn gc_keeps_current_and_newest_and_doctor_catches_damage() {
    let env = Env::new();
    for rows in ["x\n1\n", "x\n1\n2\n", "x\n1\n2\n3\n"] {
        ingest(&env, "t", "data.csv", rows);
    }
    env.ok(&["rollback", "t", "--to", "1"]);
    let dry = env.json(&["gc", "--keep", "1", "--dry-run"]);
    assert_eq!(dry["expired_versions"].as_array().unwrap().len(), 1);
    assert!(env.store().join("datasets/1/v2").exists(), "a dry run removes nothing");

    let gc = env.json(&["gc", "--keep", "1"]);
    assert_eq!(gc["expired_versions"][0]["version"], 2);
    assert!(!env.store().join("datasets/1/v2").exists());
    assert!(env.store().join("datasets/1/v1").exists() && env.store().join("datasets/1/v3").exists());
    let r = env.fails(&["export", "t@2.data"], 1);
    assert!(r.stderr.contains("version 2 of `t` is deleted"), "{}", r.stderr);
    assert_eq!(env.scalar("SELECT count(*) FROM \"t@3\".data"), "3");
    env.fails(&["gc", "--keep", "0"], 1);

    assert_eq!(env.json(&["doctor"])["problems"].as_array().unwrap().len(), 0);

    // Flip one byte of version 3's file.
    let file = env.store().join("datasets/1/v3/data/part-00000.parquet");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[10] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();
    let r = env.fails(&["doctor"], 3);
    assert!(r.stdout.contains("t@3") && r.stdout.contains("sha256"), "{}", r.stdout);
    let repaired = env.ok(&["--json", "doctor", "--repair"]);
    let report: serde_json::Value = serde_json::from_str(&repaired.stdout).unwrap();
    assert_eq!(report["quarantined"][0][1], 3);
    let r = env.fails(&["rollback", "t", "--to", "3"], 1);
    assert!(r.stderr.contains("quarantined"), "{}", r.stderr);
    env.ok(&["doctor"]);

    // A missing file of the current version: repair falls back to the newest healthy version.
    ingest(&env, "u", "data.csv", "y\n1\n");
    ingest(&env, "u", "data.csv", "y\n1\n2\n3\n4\n");
    let current = env.json(&["show", "u"]);
    let path = current["shown"]["tables"][0]["files"][0]["path"].as_str().unwrap().to_string();
    std::fs::remove_file(env.store().join(path)).unwrap();
    let r = env.fails(&["doctor"], 3);
    assert!(r.stdout.contains("missing"), "{}", r.stdout);
    env.ok(&["doctor", "--repair"]);
    assert_eq!(env.json(&["show", "u"])["shown"]["version"], 1);
    assert_eq!(env.scalar("SELECT count(*) FROM u.data"), "1");
}

/// Abort (as a kill would) at each step of a commit: the version is either wholly there or not at
/// all, and the next command recovers.
#[test]
fn crash_at_each_commit_step_recovers() {
    for (point, visible) in [
        ("ingest.after_convert", false),
        ("commit.before_lock", false),
        ("commit.after_rename", false),
        ("commit.after_catalog", true),
        // Killed while datasets.duckdb was updated in place: its log is left beside it.
        ("views.before_checkpoint", true),
    ] {
        let env = Env::new();
        ingest(&env, "t", "data.csv", "x\n1\n");
        let p = env.path("next/data.csv");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "x\n1\n2\n").unwrap();
        let out = env
            .cmd()
            .args(["ingest", p.to_str().unwrap(), "--name", "t"])
            .env("COHORT_FAILPOINT", point)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{point}: the process should have died");

        let versions = env.json(&["versions", "t"]);
        let expected = if visible { 2 } else { 1 };
        assert_eq!(versions.as_array().unwrap().len(), expected, "{point}: {versions}");
        assert_eq!(env.scalar("SELECT count(*) FROM t.data"), expected.to_string(), "{point}");
        let doctor = env.json(&["doctor"]);
        assert_eq!(doctor["problems"].as_array().unwrap().len(), 0, "{point}: {doctor}");
        assert_eq!(doctor["views_in_sync"], true, "{point}: {doctor}");
        let staging: Vec<_> = std::fs::read_dir(env.store().join("staging")).unwrap().collect();
        assert!(staging.is_empty(), "{point}: staging left behind: {staging:?}");
        let dirs: Vec<_> = std::fs::read_dir(env.store().join("datasets/1")).unwrap().collect();
        assert_eq!(dirs.len(), expected, "{point}: version directories {dirs:?}");
        // And the store still takes new versions.
        ingest(&env, "t", "data.csv", "x\n1\n2\n3\n4\n5\n");
    }
}

#[test]
fn a_moved_store_keeps_working_and_doctor_repairs_its_views() {
    let env = Env::new();
    ingest(&env, "t", "data.csv", "x\n1\n2\n");
    let moved = env.path("elsewhere");
    std::fs::rename(env.store(), &moved).unwrap();
    let run = |args: &[&str]| -> crate::util::Run {
        let mut c = std::process::Command::new(crate::util::BIN);
        c.arg("--store").arg(&moved).args(args).output().unwrap().into()
    };
    // The catalog stores paths relative to the store, so queries work at once.
    let q = run(&["query", "SELECT count(*) FROM t.data", "--format", "csv"]);
    assert_eq!(q.stdout, "count_star()\n2\n", "{}", q.stderr);
    // The views for other tools point at the old place until doctor rewrites them.
    let d = run(&["doctor"]);
    assert_eq!(d.code, 3, "{}", d.stdout);
    assert!(d.stdout.contains("datasets.duckdb"), "{}", d.stdout);
    assert_eq!(run(&["doctor", "--repair"]).code, 0);
    assert_eq!(run(&["doctor"]).code, 0);
}

/// Ctrl-C during a long ingest stops it, exits 130 and leaves the store as it was.
#[test]
fn ctrl_c_cancels_an_ingest_and_changes_nothing() {
    let env = Env::new();
    ingest(&env, "t", "data.csv", "x\n1\n");
    let before = env.tree();
    let big = env.path("big/visits.csv");
    std::fs::create_dir_all(big.parent().unwrap()).unwrap();
    crate::util::write_visits_csv(&big, 4_000_000, 5);
    let child = env
        .cmd()
        .args(["ingest", big.to_str().unwrap(), "--name", "big"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the conversion has started writing into staging.
    let staging = env.store().join("staging");
    let out = crate::util::interrupt_when(child, "staging", || crate::util::has_entries(&staging));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("cancelled"), "{stderr}");
    assert_eq!(env.tree(), before);
}

/// Ctrl-C during a long export stops it and leaves no file, whole or partial, behind.
#[test]
fn ctrl_c_cancels_an_export_and_leaves_no_file() {
    let env = Env::new();
    let big = env.path("big/visits.csv");
    std::fs::create_dir_all(big.parent().unwrap()).unwrap();
    crate::util::write_visits_csv(&big, 3_000_000, 6);
    env.ok(&["ingest", big.to_str().unwrap(), "--name", "big"]);
    let out_dir = env.path("out");
    std::fs::create_dir(&out_dir).unwrap();
    let target = out_dir.join("visits.json");
    let child = env
        .cmd()
        .args(["export", "big.visits", "--output", target.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = crate::util::interrupt_when(child, "the export's file", || crate::util::has_entries(&out_dir));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(&out_dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}
