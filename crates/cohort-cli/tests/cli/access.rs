//! `cohort user`, `cohort audit`, and `cohort serve` refusing to expose a store without accounts.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::util::{Env, Run};

const PASSWORD: &str = "plum violin harbour";

fn with_stdin(env: &Env, args: &[&str], input: &str) -> Run {
    env.exec_with_stdin(args, input)
}

fn add(env: &Env, name: &str, role: &str) {
    let r = with_stdin(env, &["user", "add", name, "--role", role, "--password-stdin"], &format!("{PASSWORD}\n"));
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn accounts_are_managed_from_the_command_line_and_every_change_is_audited() {
    let env = Env::new();
    env.ok(&["init"]);
    let r = with_stdin(&env, &["user", "add", "ana", "--role", "analyst", "--password-stdin"], "plum violin harbour\n");
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("the first account must be an admin"), "{}", r.stderr);
    let weak = with_stdin(&env, &["user", "add", "root", "--role", "admin", "--password-stdin"], "short\n");
    assert_eq!(weak.code, 1);
    assert!(weak.stderr.contains("at least 12"), "{}", weak.stderr);
    add(&env, "root", "admin");
    add(&env, "ana", "analyst");
    let r = with_stdin(&env, &["user", "add", "ana", "--password-stdin"], &format!("{PASSWORD}\n"));
    assert!(r.stderr.contains("already an account `ana`"), "{}", r.stderr);
    let file = std::fs::read_to_string(env.store().join("access/accounts.json")).unwrap();
    assert!(!file.contains(PASSWORD) && file.contains("$argon2id$"));

    env.ok(&["user", "role", "ana", "viewer"]);
    env.ok(&["user", "grant", "ana", "trial", "registry"]);
    let users = env.json(&["user", "list"]);
    let ana = users.as_array().unwrap().iter().find(|u| u["name"] == "ana").unwrap();
    assert_eq!(
        (ana["role"].as_str(), ana["datasets"].clone()),
        (Some("viewer"), serde_json::json!(["registry", "trial"]))
    );
    let r = env.fails(&["user", "role", "root", "viewer"], 1);
    assert!(r.stderr.contains("last admin"), "{}", r.stderr);
    let r = env.fails(&["user", "role", "ana", "superuser"], 1);
    assert!(r.stderr.contains("viewer, analyst or admin"), "{}", r.stderr);

    let token = env.json(&["user", "token", "add", "ana", "--name", "nightly", "--expires-in", "90d"]);
    let secret = token["token"].as_str().unwrap();
    assert!(secret.starts_with("cohort_"));
    assert!(!std::fs::read_to_string(env.store().join("access/accounts.json")).unwrap().contains(secret));
    let r = env.fails(&["user", "token", "add", "ana", "--role", "admin"], 1);
    assert!(r.stderr.contains("more than its account's role"), "{}", r.stderr);
    env.ok(&["user", "token", "revoke", token["id"].as_str().unwrap()]);
    let listed = env.json(&["user", "token", "list"]);
    assert!(listed[0]["revoked"].is_string(), "{listed}");
    let r = with_stdin(&env, &["user", "passwd", "ana", "--password-stdin"], "quiet lantern meadow\n");
    assert_eq!(r.code, 0, "{}", r.stderr);
    env.ok(&["user", "remove", "ana"]);
    env.fails(&["user", "remove", "ana"], 1);

    let actions: Vec<String> = env
        .json(&["audit", "show"])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        actions,
        ["user.add", "user.add", "user.role", "user.grant", "token.add", "token.revoke", "user.passwd", "user.remove"]
    );
    let verified = env.ok(&["audit", "verify"]);
    assert!(verified.stdout.contains("intact: 8 entries"), "{}", verified.stdout);
}

#[test]
fn audit_verify_finds_tampering_and_show_filters() {
    let env = Env::new();
    let csv = env.write("people.csv", "id,name\n1,Ann\n2,Bo\n");
    env.ok(&["ingest", csv.to_str().unwrap(), "--name", "people"]);
    let out = env.path("out.csv");
    env.ok(&["export", "people.people", "--output", out.to_str().unwrap()]);
    env.ok(&["query", "SELECT * FROM people.people"]);
    add(&env, "root", "admin");
    let all = env.json(&["audit", "show", "--dataset", "people"]);
    let exported = &all[0];
    assert_eq!(exported["action"], "export");
    assert_eq!(exported["rows"], 2);
    assert_eq!(exported["datasets"], serde_json::json!(["people@1"]));
    assert!(exported["actor"]["user"].as_str().unwrap().starts_with("os:"));
    assert_eq!(all[1]["action"], "query");
    assert_eq!(env.json(&["audit", "show", "--action", "user.add"]).as_array().unwrap().len(), 1);
    assert_eq!(env.json(&["audit", "show", "--since", "2999-01-01"]).as_array().unwrap().len(), 0);
    assert_eq!(env.json(&["audit", "show", "--last", "1"])[0]["action"], "user.add");
    let head = env.json(&["audit", "verify"])["last_hash"].as_str().unwrap().to_string();

    let log = env.store().join("audit/audit.log");
    let original = std::fs::read(&log).unwrap();
    let edited = String::from_utf8(original.clone()).unwrap().replacen("\"rows\":2", "\"rows\":1", 1);
    std::fs::write(&log, edited).unwrap();
    let r = env.fails(&["audit", "verify"], 3);
    assert!(r.stdout.contains("line 1: its contents do not match its hash"), "{}", r.stdout);

    let lines: Vec<&[u8]> = original.split_inclusive(|&b| b == b'\n').collect();
    std::fs::write(&log, lines[..2].concat()).unwrap();
    let r = env.fails(&["audit", "verify"], 3);
    assert!(r.stdout.contains("entries were removed from its end"), "{}", r.stdout);
    // Both files rewritten consistently: only an anchor kept elsewhere shows it.
    std::fs::write(&log, &original).unwrap();
    env.ok(&["audit", "verify", "--expect", &head]);
    let r = env.fails(&["audit", "verify", "--expect", &"ab".repeat(32)], 3);
    assert!(r.stdout.contains("no entry has the expected hash"), "{}", r.stdout);
}

/// Finding 7: a log whose end was cut and whose head file was rewritten to match passed
/// `verify` without a word. It still passes on its own (nothing in the store can tell), but
/// `verify` says so, and a head recorded outside the store with `--record` catches it.
#[test]
fn a_cut_log_with_a_matching_head_is_caught_by_a_head_kept_elsewhere() {
    let env = Env::new();
    let csv = env.write("people.csv", "id,name\n1,Ann\n2,Bo\n");
    env.ok(&["ingest", csv.to_str().unwrap(), "--name", "people"]);
    for _ in 0..3 {
        env.ok(&["query", "SELECT * FROM people.people"]);
    }
    let anchors = env.path("elsewhere/anchors.jsonl");
    std::fs::create_dir_all(anchors.parent().unwrap()).unwrap();
    let plain = env.ok(&["audit", "verify"]);
    assert!(plain.stderr.contains("warning: checked against the log's own head file only"), "{}", plain.stderr);
    let recorded = env.ok(&["audit", "verify", "--record", anchors.to_str().unwrap()]);
    assert!(recorded.stderr.contains("Recorded head"), "{}", recorded.stderr);
    env.ok(&["audit", "verify", "--expect-from", anchors.to_str().unwrap()]);

    // Cut the last two entries and rewrite the head to the new last one, as an intruder would.
    let log = env.store().join("audit/audit.log");
    let text = std::fs::read_to_string(&log).unwrap();
    let kept: Vec<&str> = text.lines().take(text.lines().count() - 2).collect();
    std::fs::write(&log, kept.join("\n") + "\n").unwrap();
    let last: serde_json::Value = serde_json::from_str(kept.last().unwrap()).unwrap();
    let head = serde_json::json!({"seq": last["seq"], "hash": last["hash"]});
    std::fs::write(env.store().join("audit/audit.head"), head.to_string()).unwrap();

    let fooled = env.ok(&["audit", "verify"]);
    assert!(
        fooled.stdout.contains("intact") && fooled.stderr.contains("warning"),
        "{}{}",
        fooled.stdout,
        fooled.stderr
    );
    let caught = env.fails(&["audit", "verify", "--expect-from", anchors.to_str().unwrap()], 3);
    assert!(caught.stdout.contains("no entry has the expected hash"), "{}", caught.stdout);
    let nothing = env.write("empty-anchors.jsonl", "");
    let r = env.fails(&["audit", "verify", "--expect-from", nothing.to_str().unwrap()], 1);
    assert!(r.stderr.contains("records no head yet"), "{}", r.stderr);
}

#[test]
fn serve_needs_an_admin_account_for_any_address_but_loopback() {
    let env = Env::new();
    env.ok(&["init"]);
    let r = env.fails(&["serve", "--addr", "0.0.0.0:0"], 1);
    assert!(r.stderr.contains("no admin account") && r.stderr.contains("cohort user add"), "{}", r.stderr);
    add(&env, "root", "admin");
    let mut server = env
        .cmd()
        .args(["--json", "serve", "--addr", "0.0.0.0:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert!(line.contains("\"url\""), "the server started: {line}");
}
