//! Acceptance 3: four processes ingesting and four querying one store at once all succeed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::util::{Env, write_visits_csv};

#[test]
fn four_ingesting_and_four_querying_processes_share_a_store() {
    let env = Arc::new(Env::new());
    let base = env.path("base/visits.csv");
    std::fs::create_dir_all(base.parent().unwrap()).unwrap();
    write_visits_csv(&base, 20_000, 0);
    env.ok(&["ingest", base.to_str().unwrap(), "--name", "base"]);

    let inputs: Vec<_> = (0..4)
        .map(|i| {
            let p = env.path(&format!("in{i}/visits.csv"));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            write_visits_csv(&p, 50_000 + i, i + 1);
            p
        })
        .collect();

    let done = Arc::new(AtomicBool::new(false));
    let queriers: Vec<_> = (0..4)
        .map(|q| {
            let env = env.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                let mut runs = 0;
                while !done.load(Ordering::SeqCst) || runs < 3 {
                    let sql = if q % 2 == 0 {
                        "SELECT count(*) FROM base.visits"
                    } else {
                        "SELECT site, avg(visual_acuity) FROM base.visits WHERE injected GROUP BY site"
                    };
                    let r = env.exec(&["query", sql, "--format", "csv"]);
                    assert_eq!(r.code, 0, "query {q} failed: {}", r.stderr);
                    let r = env.exec(&["list", "--json"]);
                    assert_eq!(r.code, 0, "list {q} failed: {}", r.stderr);
                    runs += 1;
                }
                runs
            })
        })
        .collect();

    let ingesters: Vec<_> = inputs
        .iter()
        .enumerate()
        .flat_map(|(i, p)| {
            // Each process ingests into the shared dataset and into one of its own.
            [("shared".to_string(), p.clone()), (format!("own{i}"), p.clone())]
        })
        .collect::<Vec<_>>()
        .chunks(2)
        .map(|jobs| {
            let env = env.clone();
            let jobs = jobs.to_vec();
            std::thread::spawn(move || {
                for (name, path) in jobs {
                    let r = env.exec(&["ingest", path.to_str().unwrap(), "--name", &name]);
                    assert_eq!(r.code, 0, "ingest into {name} failed: {}", r.stderr);
                }
            })
        })
        .collect();
    for t in ingesters {
        t.join().expect("an ingest failed");
    }
    done.store(true, Ordering::SeqCst);
    let runs: usize = queriers.into_iter().map(|t| t.join().expect("a query failed")).sum();
    assert!(runs >= 12);

    assert_eq!(env.json(&["versions", "shared"]).as_array().unwrap().len(), 4);
    for i in 0..4 {
        assert_eq!(env.scalar(&format!("SELECT count(*) FROM own{i}.visits")), (50_000 + i).to_string());
    }
    let doctor = env.json(&["doctor"]);
    assert_eq!(doctor["problems"].as_array().unwrap().len(), 0, "{doctor}");
    assert_eq!(doctor["views_in_sync"], true);
}
