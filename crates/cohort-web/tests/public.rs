//! The public face (`cohort serve --public`): served from verified bundles alone, with the store
//! deleted before the first request, and nothing participant-level or small on any route.

use std::path::{Path, PathBuf};

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use cohort_ingest::{IngestOptions, IngestRequest, ingest};
use cohort_publish::{Profile, publish};
use cohort_store::{CancelToken, DatasetName, NoProgress, Settings, Store, VersionRef};
use cohort_web::public::{PublicError, PublicSite, ROUTES};
use tower::ServiceExt;

const K: u64 = 11;

/// Values that exist only in participant-level rows.
const CANARIES: [&str; 5] = ["CANARY-NAME-Pq3", "CANARY-SITE-Hollow", "P0042", "1931-02-29x", "canary@example.org"];

const PROFILE: &str = "\
table: people
participant: id
enrolled: enrolled
site: site
region: region
categories: [sex]
numeric: [age]
visits: {table: visits, participant: id, date: date, domains: {vision: [va], imaging: [oct]}}
";

/// A registry of 240 participants with visits; a few are rare (sex `X`, one small site, one
/// small region) and carry the canaries.
fn write_registry(dir: &Path) -> Vec<PathBuf> {
    let mut people = String::from("id,name,email,sex,site,region,enrolled,age,note\n");
    let mut visits = String::from("id,date,va,oct\n");
    for i in 0..240u32 {
        let rare = i % 60 == 42;
        let id = format!("P{i:04}");
        let (name, email, site, note) = if rare {
            (CANARIES[0], CANARIES[4], CANARIES[1], CANARIES[3])
        } else {
            ("Someone", "someone@example.net", ["North Eye", "South Eye", "East Eye"][i as usize % 3], "fine")
        };
        let sex = if rare {
            "X"
        } else if i % 2 == 0 {
            "F"
        } else {
            "M"
        };
        let region = if rare { "Island" } else { ["North", "South"][i as usize % 2] };
        let enrolled = format!("20{}-{:02}-15", 18 + i % 5, 1 + i % 12);
        people.push_str(&format!("{id},{name},{email},{sex},{site},{region},{enrolled},{},{note}\n", 55 + i % 40));
        for v in 0..(1 + i % 9) {
            let oct = if v % 2 == 0 { "thick" } else { "" };
            visits.push_str(&format!("{id},20{}-{:02}-10,{},{oct}\n", 19 + (i + v) % 5, 1 + v % 12, 40 + v));
        }
    }
    let files = vec![dir.join("people.csv"), dir.join("visits.csv")];
    std::fs::write(&files[0], people).unwrap();
    std::fs::write(&files[1], visits).unwrap();
    files
}

/// Publishes the registry to `dir/registry.bundle.json` and deletes the store.
fn published_bundle(dir: &Path) -> PathBuf {
    let store_dir = dir.join("store");
    {
        let store = Store::init(&store_dir, Settings::default()).unwrap();
        let request = IngestRequest {
            name: DatasetName::new("registry").unwrap(),
            files: write_registry(dir),
            description: None,
            tags: None,
            created_by: "test".into(),
            options: IngestOptions::default(),
        };
        ingest(&store, &request, &NoProgress, &CancelToken::default()).unwrap();
        let profile_path = dir.join("public.yaml");
        std::fs::write(&profile_path, PROFILE).unwrap();
        let (profile, text) = Profile::read(&profile_path).unwrap();
        let reference = VersionRef { dataset: DatasetName::new("registry").unwrap(), version: None };
        let bundle = publish(&store, &reference, &profile, &text, Some(K)).unwrap();
        std::fs::write(dir.join("registry.bundle.json"), bundle.to_json()).unwrap();
    }
    std::fs::remove_dir_all(&store_dir).unwrap();
    dir.join("registry.bundle.json")
}

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, String) {
    let request = Request::builder().uri(uri).body(Body::empty()).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The integers a page shows as counts of people or visits: what the templates mark `count`.
fn shown_counts(html: &str) -> Vec<u64> {
    let mut out = Vec::new();
    for opening in ["<td class=\"num count\">", "<th class=\"num count\">", "<dd class=\"count\">"] {
        for (at, _) in html.match_indices(opening) {
            let text = &html[at + opening.len()..];
            let value = &text[..text.find('<').unwrap_or(0)];
            if let Ok(n) = value.replace(',', "").parse::<u64>() {
                out.push(n);
            }
        }
    }
    out
}

#[tokio::test]
async fn every_public_route_answers_from_the_bundle_alone_without_a_participant_value_or_a_small_count() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = published_bundle(dir.path());
    assert!(!dir.path().join("store").exists(), "the store is gone before the server starts");
    let app = cohort_web::public_router(PublicSite::load(&[bundle]).unwrap());

    let (_, dashboard) = get(&app, "/datasets/registry").await;
    let assets: Vec<String> = dashboard
        .match_indices("\"/assets/")
        .map(|(at, _)| dashboard[at + 1..].split('"').next().unwrap().into())
        .collect();
    assert_eq!(assets.len(), 3, "the dashboard loads its style sheet, script and plotly.js: {assets:?}");
    let mut visited = 0;
    for (method, pattern) in ROUTES {
        assert_eq!(*method, "GET", "the public face only reads");
        let uris: Vec<String> = match *pattern {
            "/assets/{file}" => assets.clone(),
            p if p.contains("{name}") => vec![p.replace("{name}", "registry")],
            p => vec![p.to_string()],
        };
        for uri in uris {
            let (status, body) = get(&app, &uri).await;
            assert_eq!(status, StatusCode::OK, "{uri}: {body}");
            let leaked: Vec<_> = CANARIES.iter().filter(|c| body.contains(*c)).collect();
            assert!(leaked.is_empty(), "{uri} shows {leaked:?}");
            if !uri.starts_with("/assets/") {
                let small: Vec<u64> = shown_counts(&body).into_iter().filter(|n| (1..K).contains(n)).collect();
                assert!(small.is_empty(), "{uri} shows the small counts {small:?}");
            }
            visited += 1;
        }
    }
    assert!(visited >= ROUTES.len());

    let (_, page) = get(&app, "/datasets/registry").await;
    for section in [
        "Key figures",
        "Enrolment over time",
        "Distributions",
        "Regions and sites",
        "Retention",
        "Data availability",
        "Data dictionary",
    ] {
        assert!(page.contains(section), "the dashboard has {section}");
    }
    assert!(page.contains("<dd class=\"count\">240</dd>"), "the participant count is shown");
    assert!(page.contains(cohort_publish::SUPPRESSED_KEY), "the rare categories are counted together, unnamed");
    let (_, api) = get(&app, "/api/v1/datasets/registry").await;
    let published: serde_json::Value = serde_json::from_str(&api).unwrap();
    assert_eq!(published["participants"], 240);
    let sex = published["tables"].as_array().unwrap().iter().find(|t| t["id"] == "category-sex").unwrap();
    let cells = sex["cells"].as_array().unwrap();
    assert!(!cells.iter().any(|c| c["key"] == "X"), "four participants of sex X are not named: {sex}");
    assert!(cells.iter().any(|c| c["key"] == cohort_publish::SUPPRESSED_KEY), "{sex}");
    assert!(!page.contains("<td>X</td>"), "nor on the page");
    let visits = published["longitudinal"]["visits"].as_u64().unwrap();
    assert!(
        page.contains(&format!("<dd class=\"count\">{}</dd>", cohort_web::pages::thousands(visits))),
        "the page and the API agree on visits"
    );

    let (status, body) = get(&app, "/datasets/elsewhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("registry"), "the 404 names what is published: {body}");
    let (status, _) = get(&app, "/api/v1/datasets/registry/tables/people/rows").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no participant-level route exists here");
}

#[test]
fn an_edited_bundle_is_refused_at_start_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = published_bundle(dir.path());
    let text = std::fs::read_to_string(&bundle).unwrap();
    let published: serde_json::Value = serde_json::from_str(&text).unwrap();

    // Lower the participant count by one, as a hand edit would.
    let n = published["participants"].as_u64().unwrap();
    let edited = dir.path().join("edited.bundle.json");
    std::fs::write(
        &edited,
        text.replacen(&format!("\"participants\": {n}"), &format!("\"participants\": {}", n - 1), 1),
    )
    .unwrap();
    let error = PublicSite::load(std::slice::from_ref(&edited)).unwrap_err();
    assert!(matches!(error, PublicError::Bundle(cohort_publish::PublishError::Tampered { .. })), "{error}");
    let message = error.to_string();
    assert!(message.contains("edited.bundle.json") && message.contains("publish it again"), "{message}");

    // One good bundle does not carry an edited one: all or nothing.
    assert!(PublicSite::load(&[bundle.clone(), edited]).is_err());

    let not_json = dir.path().join("notes.txt");
    std::fs::write(&not_json, "hello").unwrap();
    let message = PublicSite::load(&[not_json]).unwrap_err().to_string();
    assert!(message.contains("notes.txt") && message.contains("not a cohort bundle"), "{message}");

    let message = PublicSite::load(&[bundle.clone(), bundle]).unwrap_err().to_string();
    assert!(message.contains("both bundles of `registry`"), "{message}");
    assert!(PublicSite::load(&[]).unwrap_err().to_string().contains("cohort publish"));
}
