//! `cohort simulate`: a run becomes a `simulation` dataset, identical whatever the threads.

use crate::util::Env;

#[test]
fn a_run_is_byte_identical_across_threads_and_chunks() {
    let env = Env::new();
    let first = env.json(&[
        "--threads",
        "1",
        "simulate",
        "--patients",
        "3000",
        "--years",
        "3",
        "--seed",
        "7",
        "--name",
        "run",
        "--chunk-patients",
        "1000",
    ]);
    assert_eq!(first["commit"]["outcome"], "created", "{first}");
    // Other thread counts and chunk sizes write the same bytes, so the store sees no change.
    for (threads, chunk) in [("2", "333"), ("2", "3000")] {
        let again = env.json(&[
            "--threads",
            threads,
            "simulate",
            "--patients",
            "3000",
            "--years",
            "3",
            "--seed",
            "7",
            "--name",
            "run",
            "--chunk-patients",
            chunk,
        ]);
        assert_eq!(again["commit"]["outcome"], "unchanged", "threads {threads}, chunk {chunk}: {again}");
    }
    // Another seed is another cohort.
    let other = env.json(&["simulate", "--patients", "3000", "--years", "3", "--seed", "8", "--name", "run"]);
    assert_eq!(other["commit"]["outcome"], "created");
}

#[test]
fn the_dataset_holds_consistent_patients_and_visits_with_provenance() {
    let env = Env::new();
    let out = env.ok(&["simulate", "--patients", "2000", "--years", "2", "--seed", "42"]);
    let name = out.stdout.trim();
    assert_eq!(name, "aflibercept-tae-2000p-2y-seed42");
    let show = env.json(&["show", name]);
    assert_eq!(show["summary"]["kind"], "simulation");
    let provenance = &show["versions"][0]["provenance"];
    let protocol = env.json(&["protocol", "show", "aflibercept-tae"]);
    assert_eq!(provenance["protocol_sha256"], protocol["summary"]["sha256"]);
    assert_eq!(provenance["params"]["seed"], 42);
    assert_eq!(provenance["status"], "complete");
    // The protocol's evidence is kept with the run, and `cohort show` prints it.
    let validation = &provenance["validation"];
    assert_eq!((validation["seed"].as_u64(), validation["patients"].as_u64()), (Some(42), Some(20_000)));
    assert!(validation["targets"].as_array().unwrap().iter().all(|t| t["met"] == true), "{validation}");
    let text = env.ok(&["show", name]).stdout;
    assert!(text.contains("Targets of aflibercept-tae") && text.contains("vision change"), "{text}");
    assert!(text.contains("Calibrated by `cohort simulate calibrate`"), "{text}");
    let q = |sql: &str| env.scalar(&sql.replace("DS", &format!("\"{name}\"")));
    assert_eq!(q("SELECT count(*) FROM DS.patients"), provenance["patients"].to_string());
    assert_eq!(q("SELECT count(*) FROM DS.visits"), provenance["visits"].to_string());
    // Every patient's visit count and injections agree with its visits.
    assert_eq!(
        q("SELECT count(*) FROM DS.patients p LEFT JOIN (SELECT patient_id, count(*) n, sum(injected::INT) i \
           FROM DS.visits GROUP BY 1) v USING (patient_id) WHERE coalesce(v.n, 0) <> p.total_visits \
           OR coalesce(v.i, 0) <> p.total_injections"),
        "0"
    );
    // Discontinued patients have exactly one discontinuation visit per stop; the rest none.
    assert_eq!(q("SELECT count(*) FROM DS.patients WHERE discontinued <> (discontinuation_type IS NOT NULL)"), "0");
    assert_eq!(q("SELECT count(*) FROM DS.visits WHERE is_discontinuation_visit AND injected"), "0");
    assert_eq!(q("SELECT count(*) FROM DS.visits WHERE dayofweek(date) IN (0, 6)"), "0");
    assert_eq!(q("SELECT min(vision) >= 0 AND max(vision) <= 100 FROM DS.visits"), "true");
    // Underlying vision never rises past the patient's ceiling (a baseline above the ceiling is
    // where a patient starts, and the first update brings it down): the built-in's 30% above
    // baseline, within the absolute limits.
    assert_eq!(
        q("SELECT count(*) FROM DS.visits v JOIN DS.patients p USING (patient_id) WHERE v.vision_actual > \
           greatest(p.baseline_vision, least(p.baseline_vision * 1.3, CASE WHEN p.baseline_vision > 80 THEN 95 \
           WHEN p.baseline_vision < 50 THEN 75 ELSE 85 END)) + 1e-9"),
        "0"
    );
}

#[test]
fn treat_and_treat_injects_at_every_maintenance_visit() {
    let env = Env::new();
    env.ok(&["simulate", "--protocol", "aflibercept-tnt", "--patients", "2000", "--name", "tnt"]);
    assert_eq!(env.scalar("SELECT count(*) FROM tnt.visits WHERE phase = 'maintenance' AND NOT is_discontinuation_visit AND NOT injected"), "0");
    assert!(env.scalar("SELECT count(*) FROM tnt.visits WHERE phase = 'maintenance'").parse::<u64>().unwrap() > 1000);
}

#[test]
fn constant_rate_recruitment() {
    let env = Env::new();
    env.ok(&["simulate", "--per-week", "20", "--years", "2", "--name", "weekly"]);
    let n: f64 = env.scalar("SELECT count(*) FROM weekly.patients").parse().unwrap();
    let expected = 20.0 * 730.0 / 7.0;
    assert!((n - expected).abs() < 5.0 * expected.sqrt(), "{n} patients, expected about {expected}");
}

#[test]
fn bad_parameters_are_refused_and_change_nothing() {
    let env = Env::new();
    env.ok(&["simulate", "--patients", "100", "--name", "ok"]);
    let before = env.tree();
    for (args, needle) in [
        (vec!["simulate", "--patients", "0"], "at least 1"),
        (vec!["simulate", "--patients", "1000000000"], "more than"),
        (vec!["simulate", "--patients", "10", "--years", "0"], "--years"),
        (vec!["simulate", "--per-week=-3"], "--per-week"),
        (vec!["simulate", "--patients", "10", "--start", "2024-13-01"], "--start"),
        (vec!["simulate", "--patients", "10", "--protocol", "nope"], "no built-in protocol or file named `nope`"),
        (vec!["simulate", "--patients", "10", "--name", "../x"], "invalid dataset name"),
    ] {
        let r = env.fails(&args, 1);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
    }
    assert_eq!(env.tree(), before, "a refused run changed the store");
    // An ingested dataset's name cannot take a simulation.
    let csv = env.write("t.csv", "a\n1\n");
    env.ok(&["ingest", csv.to_str().unwrap(), "--name", "uploaded"]);
    let before_kind = env.tree();
    let r = env.fails(&["simulate", "--patients", "10", "--name", "uploaded"], 1);
    assert!(r.stderr.contains("is of kind `upload`"), "{}", r.stderr);
    assert_eq!(env.tree(), before_kind);
}

#[test]
fn estimate_predicts_the_run_without_touching_anything() {
    let env = Env::new();
    let e = env.json(&["simulate", "--patients", "20000", "--years", "5", "--estimate"]);
    assert!(!env.store().exists(), "an estimate creates no store");
    let visits = e["estimate"]["visits"].as_f64().unwrap();
    assert!(e["estimate"]["bytes"].as_u64().unwrap() > 0 && e["free_bytes"].as_u64().unwrap() > 0, "{e}");
    let run = env.json(&["simulate", "--patients", "20000", "--years", "5"]);
    let actual = run["run"]["visits"].as_f64().unwrap();
    assert!((visits - actual).abs() / actual < 0.05, "estimated {visits} visit rows, simulated {actual}");
}

/// The store on a 24 MB tmpfs (private mount namespace): a run that cannot fit is refused before
/// it starts; forced, it fills the disk, fails with exit 4, commits nothing and stays resumable.
#[test]
fn a_run_that_does_not_fit_the_disk() {
    let env = Env::new();
    let mnt = env.path("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let script = format!(
        r#"set -u
mount -t tmpfs -o size=24m tmpfs "{mnt}" || exit 99
"{bin}" --store "{mnt}/s" simulate --patients 100 --name small > /dev/null 2>&1 || exit 98
"{bin}" --store "{mnt}/s" simulate --patients 1000000 --name big 2> "{dir}/refused.txt"; echo $? > "{dir}/refused.code"
"{bin}" --store "{mnt}/s" simulate --patients 1000000 --name big --force 2> "{dir}/forced.txt"; echo $? > "{dir}/forced.code"
"{bin}" --store "{mnt}/s" --json list > "{dir}/list.json"
ls -A "{mnt}/s/staging" > "{dir}/staging.txt"
exit 0
"#,
        mnt = mnt.display(),
        bin = crate::util::BIN,
        dir = env.dir.path().display(),
    );
    let out = std::process::Command::new("unshare").args(["-rm", "sh", "-c", &script]).output().unwrap();
    assert!(out.status.success(), "could not set up a small filesystem: {out:?}");
    let read = |n: &str| std::fs::read_to_string(env.path(n)).unwrap();
    assert_eq!(read("refused.code").trim(), "1", "{}", read("refused.txt"));
    assert!(
        read("refused.txt").contains("needs about") && read("refused.txt").contains("--force"),
        "{}",
        read("refused.txt")
    );
    assert_eq!(read("forced.code").trim(), "4", "{}", read("forced.txt"));
    assert!(
        read("forced.txt").contains("nothing was committed") && read("forced.txt").contains("--resume"),
        "{}",
        read("forced.txt")
    );
    let list: serde_json::Value = serde_json::from_str(&read("list.json")).unwrap();
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["small"]);
    // The partial run is kept, to finish with --resume once there is room.
    assert!(read("staging.txt").contains("resumable-big@run"), "{}", read("staging.txt"));
}

/// Ctrl-C stops a run between chunks: exit 130, nothing committed, and the run kept so that
/// `--resume` finishes it.
#[test]
fn ctrl_c_stops_a_run_which_resume_finishes() {
    let env = Env::new();
    env.ok(&["simulate", "--patients", "100", "--name", "small"]);
    let child = env
        .cmd()
        .args(["simulate", "--patients", "3000000", "--chunk-patients", "5000", "--name", "big"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let staging = env.store().join("staging");
    let out = crate::util::interrupt_when(child, "staging", || crate::util::has_entries(&staging));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("cancelled") && stderr.contains("--resume big"), "{stderr}");
    let names: Vec<String> =
        env.json(&["list"]).as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, vec!["small"], "nothing was committed");
    assert!(staging.join("resumable-big@run").is_dir());
    let doctor = env.ok(&["doctor"]).stdout;
    assert!(doctor.contains("interrupted run of big") && doctor.contains("--resume big"), "{doctor}");
    // gc keeps it unless asked; then it goes, and nothing else does.
    env.ok(&["gc"]);
    assert!(staging.join("resumable-big@run").is_dir());
    let gc = env.json(&["gc", "--discard-interrupted"]);
    assert!(gc["freed_bytes"].as_u64().unwrap() > 0, "{gc}");
    assert!(!crate::util::has_entries(&staging));
    assert_eq!(env.scalar("SELECT count(*) FROM small.patients"), "100");
}

/// A run killed after a checkpoint and resumed is identical to one that was never interrupted.
#[test]
fn a_killed_run_resumes_to_the_same_bytes() {
    let whole = Env::new();
    let uninterrupted = whole.json(&["simulate", "--patients", "250000", "--years", "2", "--name", "r"]);
    let env = Env::new();
    // SIGKILL as soon as the first part is checkpointed, while the next is being written.
    let mut child = env
        .cmd()
        .args(["simulate", "--patients", "250000", "--years", "2", "--name", "r"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let checkpoint = env.store().join("staging/resumable-r@run/run.json");
    crate::util::wait_until("a checkpoint", || checkpoint.exists());
    child.kill().unwrap();
    assert!(!child.wait().unwrap().success(), "the run should have been killed");
    assert!(env.json(&["list"]).as_array().unwrap().is_empty(), "nothing is visible before the run ends");
    // And a crash right after a checkpoint, at an exact point.
    let again =
        env.cmd().args(["simulate", "--resume", "r"]).env("COHORT_FAILPOINT", "simulate.after_part").output().unwrap();
    assert!(!again.status.success(), "the failpoint should have killed the resumed run");
    // Recovery on the next open keeps the interrupted run.
    env.ok(&["doctor"]);
    let r = env.fails(&["simulate", "--patients", "250000", "--years", "2", "--seed", "9", "--name", "r"], 1);
    assert!(r.stderr.contains("--resume r"), "{}", r.stderr);
    let resumed = env.json(&["simulate", "--resume", "r"]);
    assert_eq!(resumed["commit"]["content_hash"], uninterrupted["commit"]["content_hash"]);
    assert_eq!(resumed["run"]["visits"], uninterrupted["run"]["visits"]);
    assert!(!crate::util::has_entries(&env.store().join("staging")), "the finished run left staging behind");
    let r = env.fails(&["simulate", "--resume", "r"], 1);
    assert!(r.stderr.contains("no interrupted run"), "{}", r.stderr);
}

/// Three shards, run separately and merged, equal the same run on one machine.
#[test]
fn shards_merge_into_the_single_machine_run() {
    let whole = Env::new();
    let single = whole.json(&["simulate", "--patients", "250000", "--years", "2", "--name", "s"]);
    let env = Env::new();
    let args = ["simulate", "--patients", "250000", "--years", "2", "--name", "s", "--shard"];
    for shard in ["3/3", "1/3"] {
        let mut a = args.to_vec();
        a.push(shard);
        let r = env.json(&a);
        assert_eq!(r["shard"]["count"], 3, "{r}");
    }
    assert!(env.json(&["list"]).as_array().unwrap().is_empty(), "shards are not visible on their own");
    let r = env.fails(&["simulate", "merge", "s"], 1);
    assert!(r.stderr.contains("2/3") && r.stderr.contains("not run yet"), "{}", r.stderr);
    let mut a = args.to_vec();
    a.push("2/3");
    env.json(&a);
    let merged = env.json(&["simulate", "merge", "s"]);
    assert_eq!(merged["commit"]["content_hash"], single["commit"]["content_hash"]);
    assert!(!crate::util::has_entries(&env.store().join("staging")), "shards left behind");
    // The run's results were computed when it committed, for the single run and the merged one
    // alike, and they agree.
    let kept = |env: &Env| {
        let hash = single["commit"]["content_hash"].as_str().unwrap();
        let path = env.store().join("derived").join("results").join(format!("{hash}.json"));
        serde_json::from_slice::<serde_json::Value>(&std::fs::read(&path).unwrap()).unwrap()
    };
    assert_eq!(kept(&env), kept(&whole));
    env.ok(&["doctor"]);
    let r = env.fails(&["simulate", "--patients", "10", "--shard", "4/3"], 1);
    assert!(r.stderr.contains("I/N"), "{}", r.stderr);
}

/// Shards run on machines without the store hand their parts on through an object-store folder
/// (here `file://`); a crash after an uploaded part loses nothing, and the merge equals the same
/// run on one machine.
#[test]
fn shards_through_an_object_store_merge_into_the_single_machine_run() {
    let whole = Env::new();
    let single = whole.json(&["simulate", "--patients", "250000", "--years", "2", "--name", "s"]);
    let env = Env::new();
    let url = format!("file://{}", env.path("bucket/runs/s").display());
    let args = |shard: &'static str| -> Vec<String> {
        ["simulate", "--patients", "250000", "--years", "2", "--shard", shard, "--to", &url].map(String::from).to_vec()
    };
    // Shard 1/2 owns parts 0 and 2: it dies right after uploading part 0, then the same command
    // finishes it.
    let crashed = env.cmd().args(args("1/2")).env("COHORT_FAILPOINT", "simulate.after_part").output().unwrap();
    assert!(!crashed.status.success(), "the failpoint should have killed the shard");
    let r = env.fails(&["simulate", "merge", "s", "--from", &url], 1);
    assert!(r.stderr.contains("2/2") && r.stderr.contains("not run yet"), "{}", r.stderr);
    let again = env.cmd().args(args("1/2")).output().unwrap();
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{stderr}");
    assert!(stderr.contains("continuing"), "the rerun continues after the uploaded part: {stderr}");
    let shard = env.cmd().arg("--json").args(args("2/2")).output().unwrap();
    assert!(shard.status.success(), "{}", String::from_utf8_lossy(&shard.stderr));
    assert!(!env.store().exists(), "a shard sent to an object store needs no store");

    let merged = env.json(&["simulate", "merge", "s", "--from", &url]);
    assert_eq!(merged["commit"]["content_hash"], single["commit"]["content_hash"]);
    assert_eq!(merged["shards"], 2);
    env.ok(&["doctor"]);
    let r = env.fails(&["simulate", "merge", "t", "--from", "ftp://host/x"], 1);
    assert!(r.stderr.contains("s3://"), "{}", r.stderr);
    let r = env.fails(&["simulate", "merge", "t", "--from", env.path("empty").to_str().unwrap()], 1);
    assert!(r.stderr.contains("no shards"), "{}", r.stderr);
}

/// The same through S3: a moto server (installed by `scripts/test` from PyPI) stands in for S3,
/// with the usual AWS_* variables pointing at it.
#[test]
fn shards_through_s3_merge_into_the_single_machine_run() {
    let env = Env::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut moto = std::process::Command::new("python3")
        .args(["-m", "moto.server", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3 runs");
    let endpoint = format!("http://127.0.0.1:{port}");
    crate::util::wait_until("moto answers (run ./scripts/test, which installs moto[server])", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let made = std::process::Command::new("python3")
        .args([
            "-c",
            "import boto3,sys; boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', \
             aws_access_key_id='test', aws_secret_access_key='test').create_bucket(Bucket='runs')",
            &endpoint,
        ])
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let s3 = |args: &[&str]| {
        let out = env
            .cmd()
            .args(args)
            .env("AWS_ENDPOINT", &endpoint)
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
    };
    for shard in ["1/2", "2/2"] {
        let (ok, _, stderr) =
            s3(&["simulate", "--patients", "150000", "--years", "1", "--shard", shard, "--to", "s3://runs/a/b"]);
        assert!(ok, "{stderr}");
    }
    let (ok, stdout, stderr) = s3(&["--json", "simulate", "merge", "m", "--from", "s3://runs/a/b"]);
    let _ = moto.kill();
    let _ = moto.wait();
    assert!(ok, "{stderr}");
    let merged: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let whole = Env::new();
    let single = whole.json(&["simulate", "--patients", "150000", "--years", "1", "--name", "m"]);
    assert_eq!(merged["commit"]["content_hash"], single["commit"]["content_hash"]);
}
