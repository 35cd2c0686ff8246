//! Access control end to end, through the router: who sees what (a crawler over every route with
//! canary values planted in the data), sessions, CSRF, login throttling, API tokens, and the
//! audit record of every participant-level request.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::http::{Method, Request, StatusCode, header};
use cohort_audit::{AuditLog, Filter, Outcome, Record};
use cohort_auth::{Accounts, Role, SessionPolicy, ThrottlePolicy};
use cohort_ingest::{IngestOptions, IngestRequest, ingest};
use cohort_store::{CancelToken, DatasetName, NoProgress, Settings, Store};
use cohort_web::access::AccessConfig;
use cohort_web::{AppState, router};
use tower::ServiceExt;

/// Values that exist only in participant-level rows of `registry`.
const CANARIES: [&str; 6] = [
    "CANARY-NAME-Zq81",
    "canary.mail@example.org",
    "CANARY-MRN-55127",
    "CANARY-NOTE-ff20",
    "CANARY-SITE-Kx7",
    "1907-04-13",
];

const PASSWORD: &str = "plum violin harbour";

/// The store's de-identifying export profile for `registry`.
const DEID_PROFILE: &str = "\
tables:
  people:
    participant: person_id
    drop: [full_name, email, mrn, site, note]
    dates: [birth_date]
";

struct App {
    _dir: tempfile::TempDir,
    store: Store,
    state: AppState,
    accounts: Accounts,
}

/// A response, with its body as text.
struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
    bytes: Vec<u8>,
}

/// How a request proves who it is.
#[derive(Clone, Default, Debug)]
struct Who {
    label: &'static str,
    cookie: Option<String>,
    csrf: Option<String>,
    token: Option<String>,
}

fn registry_csv() -> String {
    let mut csv = String::from("person_id,full_name,email,mrn,site,birth_date,note\n");
    for i in 0..30 {
        let (name, mail, mrn, note, site, birth) = if i == 7 {
            (CANARIES[0], CANARIES[1], CANARIES[2], CANARIES[3], CANARIES[4], CANARIES[5])
        } else {
            ("Someone Else", "someone@example.net", "MRN-1", "routine", "Site A", "1950-01-01")
        };
        csv.push_str(&format!("P{i:03},{name},{mail},{mrn},{site},{birth},{note}\n"));
    }
    csv
}

fn app_with(config: AccessConfig, demo: bool) -> App {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(&dir.path().join("store"), Settings::default()).unwrap();
    if demo {
        cohort_web::demo::seed(&store).unwrap();
    }
    let csv = dir.path().join("people.csv");
    std::fs::write(&csv, registry_csv()).unwrap();
    let request = IngestRequest {
        name: DatasetName::new("registry").unwrap(),
        files: vec![csv],
        description: None,
        tags: None,
        created_by: "test".into(),
        options: IngestOptions::default(),
    };
    ingest(&store, &request, &NoProgress, &CancelToken::default()).unwrap();
    // `registry` is a registry too: its dashboard counts per site.
    let profile = "table: people\nparticipant: person_id\nsite: site\nregion: note\ncategories: [note]\n";
    let kept = cohort_store::KeptProfile {
        text: profile.into(),
        version: 1,
        set_by: "test".into(),
        set_at: jiff::Timestamp::now(),
    };
    store.keep_registry_profile(&DatasetName::new("registry").unwrap(), &kept).unwrap();
    std::fs::create_dir_all(store.layout().export_profiles_dir()).unwrap();
    std::fs::write(store.layout().export_profiles_dir().join("deid.yaml"), DEID_PROFILE).unwrap();
    let state = AppState::with_config(store.clone(), 1 << 20, config);
    let accounts = Accounts::new(store.layout().access_dir());
    App { _dir: dir, store, state, accounts }
}

fn app() -> App {
    app_with(AccessConfig::default(), false)
}

impl App {
    async fn send(&self, who: &Who, method: Method, uri: &str, body: Option<(&str, String)>) -> Reply {
        let mut request = Request::builder().method(method).uri(uri).header(header::HOST, "127.0.0.1:8080");
        if let Some(cookie) = &who.cookie {
            request = request.header(header::COOKIE, cookie);
        }
        if let Some(csrf) = &who.csrf {
            request = request.header("x-csrf-token", csrf);
        }
        if let Some(token) = &who.token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some((content_type, text)) => {
                request = request.header(header::CONTENT_TYPE, content_type);
                Body::from(text)
            }
            None => Body::empty(),
        };
        let response = router(self.state.clone()).oneshot(request.body(body).unwrap()).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        Reply { status, headers, body: String::from_utf8_lossy(&bytes).into_owned(), bytes: bytes.to_vec() }
    }

    async fn get(&self, who: &Who, uri: &str) -> Reply {
        self.send(who, Method::GET, uri, None).await
    }

    async fn post_json(&self, who: &Who, uri: &str, json: serde_json::Value) -> Reply {
        self.send(who, Method::POST, uri, Some(("application/json", json.to_string()))).await
    }

    async fn login(&self, user: &str, password: &str) -> Reply {
        let form = serde_urlencoded::to_string([("user", user), ("password", password), ("next", "/")]).unwrap();
        self.send(&Who::default(), Method::POST, "/login", Some(("application/x-www-form-urlencoded", form))).await
    }

    /// Logs in and returns the session's cookie and CSRF token.
    async fn session(&self, label: &'static str, user: &str) -> Who {
        let reply = self.login(user, PASSWORD).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{user}: {}", reply.body);
        let cookies: Vec<String> =
            reply.headers.get_all(header::SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_string()).collect();
        let value = |name: &str| {
            cookies
                .iter()
                .find_map(|c| {
                    c.strip_prefix(&format!("{name}=")).map(|rest| rest.split(';').next().unwrap().to_string())
                })
                .unwrap()
        };
        let session = value("cohort_session");
        let csrf = value("cohort_csrf");
        let cookie_line = cookies.iter().find(|c| c.starts_with("cohort_session=")).unwrap();
        for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
            assert!(cookie_line.contains(attribute), "{cookie_line} lacks {attribute}");
        }
        Who {
            label,
            cookie: Some(format!("cohort_session={session}; cohort_csrf={csrf}")),
            csrf: Some(csrf),
            token: None,
        }
    }

    fn token(&self, label: &'static str, user: &str, role: Option<Role>) -> Who {
        let (_, secret) = self.accounts.create_token(user, "test", role, None).unwrap();
        Who { label, token: Some(secret), ..Who::default() }
    }

    fn audit(&self) -> Vec<Record> {
        AuditLog::new(self.store.layout().audit_dir()).records(&Filter::default()).unwrap()
    }

    fn add_users(&self) {
        self.accounts.add_user("root", Role::Admin, PASSWORD).unwrap();
        self.accounts.add_user("ana", Role::Analyst, PASSWORD).unwrap();
        self.accounts.add_user("vic", Role::Viewer, PASSWORD).unwrap();
        self.accounts.add_user("gina", Role::Analyst, PASSWORD).unwrap();
        self.accounts.set_grants("gina", Some(["demo-trial".to_string(), "demo-tae".to_string()].into())).unwrap();
    }
}

fn canaries_in(text: &str) -> Vec<&'static str> {
    CANARIES.iter().copied().filter(|c| text.contains(c)).collect()
}

/// Every page and every API route, with its parameters filled for `registry` (or a simulation
/// run for simulation routes): what the crawler visits.
fn routes() -> Vec<(Method, String, Option<serde_json::Value>)> {
    let mut out: Vec<(Method, String, Option<serde_json::Value>)> = [
        "/",
        "/datasets/registry",
        "/datasets/registry?table=people",
        "/datasets/registry/analyze",
        "/datasets/registry/registry",
        "/datasets/registry/registry?site=Site%202",
        "/simulate",
        "/simulations/demo-tae",
        "/compare?runs=demo-tae&runs=demo-tnt",
        "/compare?runs=registry&runs=demo-tae",
        "/query",
        "/query?sql=SELECT%20*%20FROM%20registry.people",
        "/upload",
        "/admin/users",
        "/admin/audit",
        "/login",
    ]
    .iter()
    .map(|p| (Method::GET, p.to_string(), None))
    .collect();
    for (method, path, _) in cohort_web::api::openapi::ROUTES {
        let simulation = path.starts_with("/simulations/") || path.starts_with("/tasks");
        let filled = path
            .replace("{name}", if simulation { "demo-tae" } else { "registry" })
            .replace("{table}", "people")
            .replace("{column}", "full_name")
            .replace("{id}", if path.contains("/registry/") { "site" } else { "1" })
            .replace("{cohort}", "c1")
            .replace("{file}", "x.csv");
        let method: Method = method.to_uppercase().parse().unwrap();
        let body = match (method.clone(), *path) {
            (Method::POST, "/query") => Some(serde_json::json!({"sql": "SELECT * FROM registry.people"})),
            (Method::POST, "/datasets/{name}/rollback") => Some(serde_json::json!({"version": 1})),
            (Method::POST, "/datasets/{name}/registry/cohorts") => {
                Some(serde_json::json!({"name": "c1", "filters": ["note=routine"]}))
            }
            (Method::POST, "/simulations/estimate") => {
                Some(serde_json::json!({"protocol": "aflibercept-tae", "patients": 10, "years": 1}))
            }
            (Method::POST, _) => Some(serde_json::json!({})),
            _ => None,
        };
        let uri = if *path == "/query/download" {
            "/api/v1/query/download?sql=SELECT%20*%20FROM%20registry.people".to_string()
        } else if path.ends_with("/download") {
            format!("/api/v1{filled}?format=csv")
        } else if path.ends_with("/export") {
            format!("/api/v1{filled}?profile=deid")
        } else {
            format!("/api/v1{filled}")
        };
        // Starting things (simulations, uploads) is not a read; the crawler leaves them out and
        // the role tests below cover them.
        if method == Method::POST
            && ["/simulations", "/uploads", "/uploads/{id}/ingest", "/simulations/{name}/resume", "/tasks/{id}/cancel"]
                .contains(path)
        {
            continue;
        }
        if method == Method::PUT {
            continue;
        }
        out.push((method, uri, body));
    }
    out
}

/// The crawler: every route, as nobody, as each role, with sessions and with tokens. Canary
/// values appear only for those who may read `registry`'s rows, and for them they do appear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_participant_value_reaches_a_role_that_must_not_see_it() {
    let app = app_with(AccessConfig::default(), true);
    app.add_users();
    let who = vec![
        Who { label: "anonymous", ..Who::default() },
        app.session("viewer", "vic").await,
        app.session("granted analyst", "gina").await,
        app.token("viewer token", "vic", None),
        app.token("analyst token scoped to viewer", "ana", Some(Role::Viewer)),
        Who { label: "forged token", token: Some("cohort_deadbeef_0000".into()), ..Who::default() },
        Who {
            label: "forged cookie",
            cookie: Some("cohort_session=abc; cohort_csrf=abc".into()),
            csrf: Some("abc".into()),
            ..Who::default()
        },
        app.session("analyst", "ana").await,
        app.session("admin", "root").await,
        app.token("admin token", "root", None),
    ];
    let may_read_registry = ["analyst", "admin", "admin token"];
    let routes = routes();
    assert!(routes.len() > 30, "the crawler visits every route");
    for w in &who {
        let mut seen = BTreeSet::new();
        for (method, uri, body) in &routes {
            let reply = match body {
                Some(json) => app.post_json(w, uri, json.clone()).await,
                None => app.send(w, method.clone(), uri, None).await,
            };
            assert!(reply.status != StatusCode::INTERNAL_SERVER_ERROR, "{} {method} {uri}: {}", w.label, reply.body);
            let found = canaries_in(&reply.body);
            if !may_read_registry.contains(&w.label) {
                assert!(found.is_empty(), "{} got {found:?} from {method} {uri}", w.label);
            }
            seen.extend(found);
        }
        if may_read_registry.contains(&w.label) {
            assert_eq!(seen.len(), CANARIES.len(), "{} should see every canary somewhere", w.label);
        }
    }
}

/// The registry dashboard: viewers cannot reach it; analysts see sites as `Site N` unless
/// granted their names (`cohort user site-names`), admins see them; on every registry route
/// (views, site comparisons, downloads, saved cohorts), and every view and download is audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn site_names_reach_only_those_granted_them() {
    let app = app();
    app.add_users();
    app.accounts.add_user("sam", Role::Analyst, PASSWORD).unwrap();
    app.accounts.set_site_names("sam", ["registry".to_string()].into()).unwrap();
    let site = CANARIES[4];
    let registry_routes = [
        "/datasets/registry/registry".to_string(),
        "/datasets/registry/registry?site=Site%202".to_string(),
        "/api/v1/datasets/registry/registry".to_string(),
        "/api/v1/datasets/registry/registry?site=Site%202".to_string(),
        "/api/v1/datasets/registry/registry?filter=note%3DCANARY-NOTE-ff20".to_string(),
        "/api/v1/datasets/registry/registry/tables/site".to_string(),
        "/api/v1/datasets/registry/registry/tables/sites-by-region".to_string(),
        "/api/v1/datasets/registry/registry/tables/dashboard".to_string(),
        "/api/v1/datasets/registry/registry/cohorts".to_string(),
    ];
    let viewer = app.session("viewer", "vic").await;
    for uri in &registry_routes {
        let reply = app.get(&viewer, uri).await;
        assert!(matches!(reply.status, StatusCode::FORBIDDEN), "viewer {uri}: {}", reply.status);
    }
    for (who, names) in [
        (app.session("analyst", "ana").await, false),
        (app.token("analyst token", "ana", None), false),
        (app.session("granted analyst", "sam").await, true),
        (app.session("admin", "root").await, true),
    ] {
        let mut seen = false;
        for uri in &registry_routes {
            let reply = app.get(&who, uri).await;
            assert_eq!(reply.status, StatusCode::OK, "{} {uri}: {}", who.label, reply.body);
            if !names {
                assert!(!reply.body.contains(site), "{} got the site's name from {uri}", who.label);
            }
            seen |= reply.body.contains(site);
        }
        assert_eq!(seen, names, "{}: site names shown", who.label);
        // The anonymous label filters as the name does: the canary's site has one participant.
        let label = if names { site.to_string() } else { "Site 2".to_string() };
        let one = app
            .get(&who, &format!("/api/v1/datasets/registry/registry?filter=site%3D{}", label.replace(' ', "%20")))
            .await;
        let one: serde_json::Value = serde_json::from_str(&one.body).unwrap();
        assert_eq!(one["registry"]["participants"], 1, "{}: {one}", who.label);
    }
    // A value chosen on the form that nobody has under the other filters stays on it, checked.
    let admin = app.session("admin", "root").await;
    let page = app.get(&admin, "/datasets/registry/registry?f.note=routine&f.site=CANARY-SITE-Kx7").await;
    assert!(page.body.contains(r#"value="CANARY-SITE-Kx7" checked"#), "{}", page.body);
    assert!(page.body.contains(r#"id="participants">0<"#));
    // A saved cohort, and every view and download in the audit log.
    let analyst = app.session("analyst", "ana").await;
    let saved = app
        .post_json(
            &analyst,
            "/api/v1/datasets/registry/registry/cohorts",
            serde_json::json!({"name": "routine", "filters": ["note=routine"]}),
        )
        .await;
    assert_eq!(saved.status, StatusCode::CREATED, "{}", saved.body);
    let view = app.get(&analyst, "/api/v1/datasets/registry/registry?cohort=routine").await;
    let view: serde_json::Value = serde_json::from_str(&view.body).unwrap();
    assert_eq!(
        (view["registry"]["participants"].as_u64(), view["cohort"]["made_by"].as_str()),
        (Some(29), Some("web:ana"))
    );
    // The console reads a saved cohort as a schema; an account without the dataset cannot.
    let sql = serde_json::json!({"sql": "SELECT count(*) AS n FROM \"registry#routine\".people"});
    let counted = app.post_json(&analyst, "/api/v1/query", sql.clone()).await;
    assert_eq!(counted.status, StatusCode::OK, "{}", counted.body);
    assert!(counted.body.contains("\"n\":29"), "{}", counted.body);
    let gina = app.session("analyst of other datasets", "gina").await;
    let refused = app.post_json(&gina, "/api/v1/query", sql).await;
    assert_ne!(refused.status, StatusCode::OK, "{}", refused.body);
    assert!(!refused.body.contains("\"n\":29"));
    // The cohort's participants through a de-identified export profile, offered on its page.
    let page = app.get(&analyst, "/datasets/registry/registry?cohort=routine").await;
    assert!(page.body.contains("export?profile=deid&amp;cohort=routine"), "{}", page.body);
    let zip = app.get(&analyst, "/api/v1/datasets/registry/export?profile=deid&cohort=routine").await;
    assert_eq!(zip.status, StatusCode::OK, "{}", zip.body);
    let files = unzipped(&zip);
    assert_eq!(files["people.csv"].lines().count() - 1, 29, "the cohort's participants only");
    assert!(canaries_in(&files["people.csv"]).is_empty());
    let csv = app.get(&analyst, "/api/v1/datasets/registry/registry/tables/category-note?cohort=routine").await;
    assert_eq!(csv.body, "note,participants\nroutine,29\n");
    let audit = app.audit();
    let downloads = |outcome: Outcome| {
        audit.iter().filter(|r| r.entry.action == "registry.download" && r.entry.outcome == outcome).count()
    };
    // Three download routes for each of four readers, and the saved cohort's CSV; the viewer's
    // three refused.
    assert_eq!(
        (downloads(Outcome::Served), downloads(Outcome::Refused)),
        (3 * 4 + 1, 3),
        "every download is recorded once"
    );
    assert!(audit.iter().any(|r| r.entry.action == "registry.cohort.save" && r.entry.actor.user == "ana"));
    let views: Vec<Option<&str>> =
        audit.iter().filter(|r| r.entry.action == "registry.view").map(|r| r.entry.asked.as_deref()).collect();
    assert!(views.iter().any(|a| a.is_some_and(|a| a.contains("cohort routine"))), "{views:?}");
    let exports: Vec<Option<&str>> =
        audit.iter().filter(|r| r.entry.action == "dataset.export").map(|r| r.entry.asked.as_deref()).collect();
    assert!(exports.iter().any(|a| a.is_some_and(|a| a.contains("cohort routine, profile deid"))), "{exports:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_grants_and_what_each_may_reach() {
    let app = app_with(AccessConfig::default(), true);
    app.add_users();
    let anonymous = Who::default();
    let vic = app.session("viewer", "vic").await;
    let ana = app.session("analyst", "ana").await;
    let gina = app.session("granted", "gina").await;

    // Not logged in: pages send to the login page, the API answers 401.
    let page = app.get(&anonymous, "/datasets/registry").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.headers[header::LOCATION], "/login?next=%2Fdatasets%2Fregistry");
    let api = app.get(&anonymous, "/api/v1/datasets").await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
    assert!(api.headers.contains_key(header::WWW_AUTHENTICATE));
    assert_eq!(app.get(&anonymous, "/login").await.status, StatusCode::OK);

    // A viewer sees the list and simulation aggregates, not rows.
    assert_eq!(app.get(&vic, "/api/v1/datasets").await.status, StatusCode::OK);
    assert_eq!(app.get(&vic, "/api/v1/simulations/demo-tae/results").await.status, StatusCode::OK);
    let rows = app.get(&vic, "/api/v1/datasets/registry/tables/people/rows").await;
    assert_eq!(rows.status, StatusCode::FORBIDDEN);
    assert!(rows.body.contains("needs the analyst role"), "{}", rows.body);
    assert_eq!(app.get(&vic, "/api/v1/simulations/demo-tae/patients/1").await.status, StatusCode::FORBIDDEN);

    // An analyst reads rows; only an admin uploads, rolls back, or reads the audit log.
    assert_eq!(app.get(&ana, "/api/v1/datasets/registry/tables/people/rows").await.status, StatusCode::OK);
    assert_eq!(app.get(&ana, "/api/v1/audit").await.status, StatusCode::FORBIDDEN);
    let rollback = app.post_json(&ana, "/api/v1/datasets/registry/rollback", serde_json::json!({"version": 1})).await;
    assert_eq!(rollback.status, StatusCode::FORBIDDEN);
    assert_eq!(app.post_json(&ana, "/api/v1/uploads", serde_json::json!({})).await.status, StatusCode::FORBIDDEN);

    // Grants: gina sees only her datasets, and the others do not exist for her.
    let list = app.get(&gina, "/api/v1/datasets").await;
    let names: Vec<String> = serde_json::from_str::<Vec<serde_json::Value>>(&list.body)
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names.iter().collect::<BTreeSet<_>>(),
        ["demo-tae", "demo-trial"].iter().map(|s| s.to_string()).collect::<Vec<_>>().iter().collect()
    );
    for uri in [
        "/api/v1/datasets/registry",
        "/api/v1/datasets/registry@1/tables/people/rows",
        "/api/v1/datasets/registry%401/tables/people/rows",
        "/datasets/registry",
    ] {
        let reply = app.get(&gina, uri).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(
            reply.body,
            app.get(&gina, &uri.replace("registry", "no-such-thing")).await.body.replace("no-such-thing", "registry"),
            "a refusal reads like a missing dataset"
        );
    }
    let query =
        app.post_json(&gina, "/api/v1/query", serde_json::json!({"sql": "SELECT * FROM registry.people"})).await;
    assert_eq!(query.status, StatusCode::BAD_REQUEST, "{}", query.body);
    assert!(canaries_in(&query.body).is_empty());
    let trial = app
        .post_json(
            &gina,
            "/api/v1/query",
            serde_json::json!({"sql": "SELECT count(*) AS n FROM \"demo-trial\".patients"}),
        )
        .await;
    assert_eq!(trial.status, StatusCode::OK, "{}", trial.body);

    // Every refused participant-level request is in the audit log.
    let refused: Vec<Record> = app.audit().into_iter().filter(|r| r.entry.outcome == Outcome::Refused).collect();
    assert!(refused.iter().any(|r| r.entry.actor.user == "vic" && r.entry.action == "dataset.rows"), "{refused:#?}");
    assert!(refused.iter().any(|r| r.entry.actor.user == "gina" && r.entry.datasets == ["registry@1"]), "{refused:#?}");
    assert!(refused.iter().any(|r| r.entry.actor.role == "public" && r.entry.action == "dataset.page"), "{refused:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csrf_forged_and_expired_sessions_are_refused() {
    let app = app_with(
        AccessConfig {
            sessions: SessionPolicy { idle: Duration::from_millis(600), absolute: Duration::from_secs(60) },
            ..AccessConfig::default()
        },
        false,
    );
    app.add_users();
    let ana = app.session("analyst", "ana").await;
    let sql = serde_json::json!({"sql": "SELECT count(*) AS n FROM registry.people"});

    // The session's token is required on anything that changes state or runs a query.
    let without = Who { csrf: None, ..ana.clone() };
    let reply = app.post_json(&without, "/api/v1/query", sql.clone()).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    assert!(reply.body.contains("X-CSRF-Token header is missing"), "{}", reply.body);
    let wrong = Who { csrf: Some("0".repeat(64)), ..ana.clone() };
    assert_eq!(app.post_json(&wrong, "/api/v1/query", sql.clone()).await.status, StatusCode::FORBIDDEN);
    // A cross-site form post is refused even with the cookie sent along.
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/query")
        .header(header::HOST, "127.0.0.1:8080")
        .header(header::ORIGIN, "https://evil.example")
        .header(header::COOKIE, ana.cookie.clone().unwrap())
        .header("x-csrf-token", ana.csrf.clone().unwrap())
        .header(header::CONTENT_TYPE, "application/json");
    request = request.header("sec-fetch-site", "cross-site");
    let response = router(app.state.clone()).oneshot(request.body(Body::from(sql.to_string())).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let ok = app.post_json(&ana, "/api/v1/query", sql.clone()).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);

    // A forged session id is nobody; an idle session ends; a password change ends sessions.
    let forged = Who { cookie: Some(format!("cohort_session={}", "ab".repeat(32))), ..Who::default() };
    assert_eq!(app.get(&forged, "/api/v1/me").await.status, StatusCode::UNAUTHORIZED);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let idle = app.get(&ana, "/api/v1/me").await;
    assert_eq!(idle.status, StatusCode::UNAUTHORIZED);
    assert!(idle.body.contains("idle too long"), "{}", idle.body);
    let again = app.session("analyst", "ana").await;
    assert_eq!(app.get(&again, "/api/v1/me").await.status, StatusCode::OK);
    app.accounts.set_password("ana", "quiet lantern meadow").unwrap();
    let changed = app.get(&again, "/api/v1/me").await;
    assert_eq!(changed.status, StatusCode::UNAUTHORIZED);

    // Logging out ends the session on the server, not only in the browser.
    let root = app.session("admin", "root").await;
    let out = app.send(&root, Method::POST, "/logout", None).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(out.headers.get_all(header::SET_COOKIE).iter().any(|c| c.to_str().unwrap().contains("Max-Age=0")));
    assert_eq!(app.get(&root, "/api/v1/me").await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_at_their_absolute_limit() {
    let app = app_with(
        AccessConfig {
            sessions: SessionPolicy { idle: Duration::from_secs(60), absolute: Duration::from_millis(700) },
            ..AccessConfig::default()
        },
        false,
    );
    app.add_users();
    let ana = app.session("analyst", "ana").await;
    for _ in 0..3 {
        assert_eq!(app.get(&ana, "/api/v1/me").await.status, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let expired = app.get(&ana, "/api/v1/me").await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert!(expired.body.contains("time limit"), "{}", expired.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_guessing_is_slowed_and_locked_out() {
    let app = app_with(
        AccessConfig {
            throttle: ThrottlePolicy {
                max_failures: 5,
                lockout: Duration::from_secs(600),
                per_address: 8,
                window: Duration::from_secs(600),
            },
            ..AccessConfig::default()
        },
        false,
    );
    app.add_users();
    let started = std::time::Instant::now();
    for _ in 0..5 {
        let reply = app.login("ana", "wrong guess number one").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert!(reply.body.contains("Wrong name or password"));
    }
    // Each guess costs an Argon2id hash.
    assert!(started.elapsed() >= Duration::from_millis(5 * 5), "{:?}", started.elapsed());
    let locked = app.login("ana", PASSWORD).await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS, "even the right password waits out the lock");
    assert!(locked.body.contains("locked"), "{}", locked.body);
    assert!(locked.headers.contains_key(header::RETRY_AFTER));
    // Unknown names lock the same way, so lockouts do not reveal which names exist.
    let ghost = app.login("nobody", "wrong guess number one").await;
    assert_eq!(ghost.status, StatusCode::UNAUTHORIZED);
    // The address has now made 7 attempts; past 8 it is turned away before any password check.
    app.login("vic", "wrong").await;
    let flood = app.login("root", PASSWORD).await;
    assert_eq!(flood.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(flood.body.contains("from your address"), "{}", flood.body);
    let logins: Vec<Record> = app.audit().into_iter().filter(|r| r.entry.action == "login").collect();
    assert_eq!(logins.len(), 9);
    assert!(logins.iter().all(|r| r.entry.outcome == Outcome::Refused));
    assert!(
        logins.iter().all(|r| !r.entry.asked.as_deref().unwrap_or("").contains("guess")),
        "passwords never reach the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_scoped_and_revocable() {
    let app = app();
    app.add_users();
    let (info, secret) = app.accounts.create_token("ana", "nightly", None, None).unwrap();
    let token = Who { token: Some(secret), ..Who::default() };
    // No CSRF token needed: a bearer token is not sent by browsers on their own.
    let reply = app
        .post_json(&token, "/api/v1/query", serde_json::json!({"sql": "SELECT count(*) AS n FROM registry.people"}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let me: serde_json::Value = serde_json::from_str(&app.get(&token, "/api/v1/me").await.body).unwrap();
    assert_eq!(me["via"], format!("token:{}", info.id));
    app.accounts.revoke_token(&info.id).unwrap();
    let revoked = app.get(&token, "/api/v1/datasets/registry/tables/people/rows").await;
    assert_eq!(revoked.status, StatusCode::UNAUTHORIZED);
    assert!(revoked.body.contains("revoked"), "{}", revoked.body);
    let bad_header = Request::builder()
        .uri("/api/v1/me")
        .header(header::HOST, "127.0.0.1")
        .header(header::AUTHORIZATION, "Basic YW5hOnB3")
        .body(Body::empty())
        .unwrap();
    assert_eq!(router(app.state.clone()).oneshot(bad_header).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let last = app.audit().pop().unwrap();
    assert_eq!((last.entry.action.as_str(), last.entry.outcome), ("dataset.rows", Outcome::Refused));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_participant_level_request_is_recorded_once_with_its_rows() {
    let app = app();
    app.add_users();
    let ana = app.session("analyst", "ana").await;
    let before = app.audit().len();
    let rows = app.get(&ana, "/api/v1/datasets/registry/tables/people/rows?limit=7").await;
    assert_eq!(rows.status, StatusCode::OK);
    let query = app
        .post_json(&ana, "/api/v1/query", serde_json::json!({"sql": "SELECT full_name FROM registry.people LIMIT 3"}))
        .await;
    assert_eq!(query.status, StatusCode::OK);
    let download =
        app.get(&ana, "/api/v1/datasets/registry/tables/people/download?format=csv&filter.site=Site%20A").await;
    assert_eq!(download.status, StatusCode::OK);
    let page = app.get(&ana, "/datasets/registry").await;
    assert_eq!(page.status, StatusCode::OK);
    let records = app.audit();
    let new = &records[before..];
    let summary: Vec<(&str, Option<u64>, Vec<String>)> =
        new.iter().map(|r| (r.entry.action.as_str(), r.entry.rows, r.entry.datasets.clone())).collect();
    assert_eq!(
        summary,
        [
            ("dataset.rows", Some(7), vec!["registry@1".to_string()]),
            ("query", Some(3), vec!["registry@1".to_string()]),
            ("table.download", Some(29), vec!["registry@1".to_string()]),
            ("dataset.page", None, vec!["registry@1".to_string()]),
        ]
    );
    for r in new {
        assert_eq!(r.entry.actor.user, "ana");
        assert_eq!(r.entry.actor.via, "session");
        assert_eq!(r.entry.outcome, Outcome::Served);
    }
    assert!(new[1].entry.asked.as_deref().unwrap().contains("SELECT full_name FROM registry.people LIMIT 3"));
    assert!(
        new[0].entry.asked.as_deref().unwrap().starts_with("GET /api/v1/datasets/registry/tables/people/rows?limit=7")
    );
    // Aggregates and the login page are not participant-level and leave no record.
    app.get(&ana, "/api/v1/datasets").await;
    app.get(&ana, "/login").await;
    assert_eq!(app.audit().len(), records.len());
    let check = AuditLog::new(app.store.layout().audit_dir()).verify(None).unwrap();
    assert!(check.is_intact(), "{:?}", check.problems);
}

/// The files of a ZIP answer, by name.
fn unzipped(reply: &Reply) -> std::collections::BTreeMap<String, String> {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.headers[header::CONTENT_TYPE], "application/zip");
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(reply.bytes.clone())).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut file = zip.by_index(i).unwrap();
            let mut text = String::new();
            std::io::Read::read_to_string(&mut file, &mut text).unwrap();
            (file.name().unwrap().to_string(), text)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn de_identified_exports_hide_every_identifier_and_the_full_profile_needs_an_admin() {
    let app = app();
    app.add_users();
    let ana = app.session("analyst", "ana").await;
    let root = app.session("admin", "root").await;
    let before = app.audit().len();

    let files = unzipped(&app.get(&ana, "/api/v1/datasets/registry/export?profile=deid").await);
    assert_eq!(files.keys().collect::<Vec<_>>(), ["export-profile.yaml", "people.csv"]);
    let people = &files["people.csv"];
    assert_eq!(people.lines().next().unwrap(), "person_id,birth_date");
    assert_eq!(people.lines().count(), 31);
    assert!(canaries_in(people).is_empty(), "{:?} in a de-identified export", canaries_in(people));
    assert!(!people.contains("P007"), "participant ids are pseudonyms");

    // `full` is the data as stored: refused to an analyst (and recorded), served to an admin.
    let refused = app.get(&ana, "/api/v1/datasets/registry/export?profile=full").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("admin role"), "{}", refused.body);
    let full = unzipped(&app.get(&root, "/api/v1/datasets/registry/export?profile=full").await);
    assert_eq!(canaries_in(&full["people.csv"]).len(), CANARIES.len());

    // Only the store's profiles, by name.
    let path = app.get(&ana, "/api/v1/datasets/registry/export?profile=..%2F..%2Fetc%2Fpasswd").await;
    assert_eq!(path.status, StatusCode::BAD_REQUEST);
    let missing = app.get(&ana, "/api/v1/datasets/registry/export?profile=nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("deid"), "the error lists the profiles there are: {}", missing.body);

    let new: Vec<_> = app.audit()[before..].iter().map(|r| r.entry.clone()).collect();
    let summary: Vec<(&str, &str, Outcome, Option<u64>)> =
        new.iter().map(|e| (e.actor.user.as_str(), e.action.as_str(), e.outcome, e.rows)).collect();
    assert_eq!(
        summary,
        [
            ("ana", "dataset.export", Outcome::Served, Some(30)),
            ("ana", "dataset.export", Outcome::Refused, None),
            ("root", "dataset.export", Outcome::Served, Some(30)),
            ("ana", "dataset.export", Outcome::Failed, None),
            ("ana", "dataset.export", Outcome::Failed, None),
        ]
    );
    assert!(new[0].asked.as_deref().unwrap().contains("profile deid"), "{:?}", new[0].asked);
    assert!(new[2].asked.as_deref().unwrap().contains("profile full"), "{:?}", new[2].asked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_audit_record_cannot_be_written_is_not_served() {
    let app = app();
    app.add_users();
    let ana = app.session("analyst", "ana").await;
    let log = app.store.layout().audit_dir().join("audit.log");
    std::fs::remove_file(&log).unwrap();
    std::fs::create_dir(&log).unwrap();
    let reply = app.get(&ana, "/api/v1/datasets/registry/tables/people/rows").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{}", reply.body);
    assert!(reply.body.contains("audit record could not be written"), "{}", reply.body);
    assert!(canaries_in(&reply.body).is_empty());
    let query = app.post_json(&ana, "/api/v1/query", serde_json::json!({"sql": "SELECT * FROM registry.people"})).await;
    assert_eq!(query.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(canaries_in(&query.body).is_empty());
    // Aggregates do not need the log.
    assert_eq!(app.get(&ana, "/api/v1/datasets").await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_without_accounts_answers_only_loopback_names() {
    let app = app();
    let local = app.get(&Who::default(), "/api/v1/me").await;
    assert_eq!(local.status, StatusCode::OK);
    assert!(local.body.contains("\"via\":\"local\""), "{}", local.body);
    // DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends Host: evil.example.
    let request = Request::builder()
        .uri("/api/v1/datasets/registry/tables/people/rows")
        .header(header::HOST, "evil.example:8080")
        .body(Body::empty())
        .unwrap();
    let response = router(app.state.clone()).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    assert!(canaries_in(&String::from_utf8_lossy(&body)).is_empty());
    // Local reads are recorded too.
    let rows = app.get(&Who::default(), "/api/v1/datasets/registry/tables/people/rows").await;
    assert_eq!(rows.status, StatusCode::OK);
    let last = app.audit().pop().unwrap();
    assert_eq!((last.entry.actor.user.as_str(), last.entry.actor.via.as_str()), ("local", "local"));
}

/// Finding 1 of the security review: the console could read the server's scratch folder, where
/// uploads wait and downloads are written. It reads the files of the datasets it names, and
/// nothing else of the store; each read is audited with those datasets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_reads_nothing_outside_the_datasets_it_names() {
    let app = app_with(AccessConfig::default(), true);
    app.add_users();
    let root = app.session("admin", "root").await;
    let gina = app.session("granted", "gina").await;

    // An upload waiting to be ingested, and a download being written, as the server keeps them.
    let upload = app.post_json(&root, "/api/v1/uploads", serde_json::json!({})).await;
    assert_eq!(upload.status, StatusCode::CREATED, "{}", upload.body);
    let id = serde_json::from_str::<serde_json::Value>(&upload.body).unwrap()["id"].as_str().unwrap().to_string();
    let put = app
        .send(&root, Method::PUT, &format!("/api/v1/uploads/{id}/files/people.csv"), Some(("text/csv", registry_csv())))
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    let spill = app.store.layout().spill_dir();
    std::fs::write(spill.join(".download-registry.csv"), registry_csv()).unwrap();
    let store = app.store.root().display().to_string();
    let spill = spill.display().to_string();

    let probes = [
        "SELECT current_setting('allowed_directories') AS dirs".to_string(),
        format!("SELECT * FROM read_csv('{spill}/uploads/*/*')"),
        format!("SELECT * FROM read_csv('{spill}/.download-*')"),
        format!("SELECT * FROM read_text('{spill}/uploads/{id}/people.csv')"),
        format!("SELECT * FROM glob('{store}/**')"),
        format!("SELECT * FROM read_text('{store}/tmp/**')"),
        format!("SELECT * FROM read_parquet('{store}/datasets/*/*/*/*.parquet')"),
        format!("SELECT * FROM read_text('{store}/access/accounts.json')"),
        format!("SELECT * FROM read_text('{store}/audit/audit.log')"),
        format!("SELECT * FROM read_csv('{store}/catalog.duckdb')"),
    ];
    for sql in &probes {
        let reply = app.post_json(&gina, "/api/v1/query", serde_json::json!({ "sql": sql })).await;
        assert!(canaries_in(&reply.body).is_empty(), "{sql} leaked: {}", reply.body);
        // The same query as a download reads no more.
        let uri = format!("/api/v1/query/download?{}", serde_urlencoded::to_string([("sql", sql.as_str())]).unwrap());
        let download = app.get(&gina, &uri).await;
        assert!(canaries_in(&download.body).is_empty(), "{sql} leaked as a download: {}", download.body);
        // Refusals quote the query; an answer must name no private file.
        if reply.status == StatusCode::OK {
            for private in [format!("{spill}/uploads"), format!("{spill}/.download"), format!("{store}/access")] {
                assert!(!reply.body.contains(&private), "{sql} shows {private}: {}", reply.body);
            }
        }
    }
    // What the console may read: the folders of the datasets named, and its own spill folder (which
    // DuckDB always allows, and which holds only the run's own spill).
    let dirs = app
        .post_json(
            &gina,
            "/api/v1/query",
            serde_json::json!({"sql": "SELECT unnest(current_setting('allowed_directories')) AS dir FROM \"demo-trial\".patients LIMIT 5"}),
        )
        .await;
    assert_eq!(dirs.status, StatusCode::OK, "{}", dirs.body);
    let dirs: Vec<String> = serde_json::from_str::<serde_json::Value>(&dirs.body).unwrap()["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["dir"].as_str().unwrap().to_string())
        .collect();
    assert!(dirs.iter().any(|d| d.starts_with(&format!("{store}/datasets/"))), "{dirs:?}");
    for dir in &dirs {
        let own_spill = dir.starts_with(&format!("{spill}/console-"));
        assert!(dir.starts_with(&format!("{store}/datasets/")) || own_spill, "the console may read {dir}");
    }

    // What the console read is in its audit record.
    let audited = app.audit().into_iter().rev().find(|r| r.entry.actor.user == "gina" && r.entry.action == "query");
    let audited = audited.expect("the console run is audited");
    assert_eq!(audited.entry.datasets, ["demo-trial@1"], "{audited:#?}");
}

/// Waits until task `id`, as `who` sees it, satisfies `done`; returns its view.
async fn wait_for(app: &App, who: &Who, id: u64, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let started = std::time::Instant::now();
    loop {
        let view: serde_json::Value =
            serde_json::from_str(&app.get(who, &format!("/api/v1/tasks/{id}")).await.body).unwrap();
        if done(&view) {
            return view;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "task {id}: {view}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Finding 2: grants stopped at reading. A grant-limited analyst started a run named after a
/// dataset it cannot see (replacing it), listed every user's tasks and interrupted runs, and
/// cancelled another analyst's run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_cover_tasks_runs_and_the_names_they_write() {
    let app = app_with(AccessConfig::default(), true);
    app.add_users();
    let ana = app.session("analyst", "ana").await;
    let gina = app.session("granted", "gina").await;
    let root = app.session("admin", "root").await;
    let run = |name: &str, patients: u64| serde_json::json!({"protocol": "aflibercept-tae", "patients": patients, "years": 1, "name": name});

    // A name outside the grant is refused alike whether a dataset has it or not, and nothing changes.
    let taken = app.post_json(&gina, "/api/v1/simulations", run("registry", 100)).await;
    let free = app.post_json(&gina, "/api/v1/simulations", run("no-such-dataset", 100)).await;
    assert_eq!(taken.status, StatusCode::FORBIDDEN, "{}", taken.body);
    assert_eq!((free.status, free.body.replace("no-such-dataset", "registry")), (taken.status, taken.body.clone()));
    assert_eq!(app.store.versions(&DatasetName::new("registry").unwrap()).unwrap().len(), 1);

    // Another analyst's task: invisible to gina, and her cancel reads like one of a task that
    // does not exist; the owner and admins see it.
    let started = app.post_json(&ana, "/api/v1/simulations", run("ana-run", 600_000)).await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    let id = serde_json::from_str::<serde_json::Value>(&started.body).unwrap()["id"].as_u64().unwrap();
    let listed = |who: &Who| {
        let (app, who) = (&app, who.clone());
        async move {
            let body = app.get(&who, "/api/v1/tasks").await.body;
            serde_json::from_str::<Vec<serde_json::Value>>(&body).unwrap().iter().any(|t| t["id"] == id)
        }
    };
    assert!(!listed(&gina).await && listed(&ana).await && listed(&root).await);
    for suffix in ["", "/cancel"] {
        let method = if suffix.is_empty() { Method::GET } else { Method::POST };
        let json = || Some(("application/json", "{}".to_string()));
        let mine = app.send(&gina, method.clone(), &format!("/api/v1/tasks/{id}{suffix}"), json()).await;
        let none = app.send(&gina, method, &format!("/api/v1/tasks/9999{suffix}"), json()).await;
        assert_eq!(mine.status, StatusCode::NOT_FOUND, "{suffix}: {}", mine.body);
        assert_eq!(mine.body.replace(&format!("task {id} "), "task 9999 "), none.body, "{suffix}");
    }
    let events = app.get(&gina, &format!("/api/v1/tasks/{id}/events")).await;
    assert_eq!(events.status, StatusCode::NOT_FOUND);
    let view = wait_for(&app, &ana, id, |v| {
        v["done"].as_u64().unwrap_or(0) > 0 || v["state"] != "running" && v["state"] != "queued"
    })
    .await;
    assert_ne!(view["state"], "cancelled", "gina's cancel did nothing");
    let cancel = app.post_json(&ana, &format!("/api/v1/tasks/{id}/cancel"), serde_json::json!({})).await;
    assert_eq!(cancel.status, StatusCode::OK, "{}", cancel.body);
    assert_eq!(wait_for(&app, &ana, id, |v| v["state"] == "cancelled").await["owner"], "ana");

    // The interrupted run is ana's business: gina neither sees nor resumes it.
    let interrupted = |who: &Who| {
        let (app, who) = (&app, who.clone());
        async move { app.get(&who, "/api/v1/simulations/interrupted").await.body.contains("ana-run") }
    };
    assert!(interrupted(&ana).await && !interrupted(&gina).await);
    let resume = app.post_json(&gina, "/api/v1/simulations/ana-run/resume", serde_json::json!({})).await;
    let nothing = app.post_json(&gina, "/api/v1/simulations/no-such-run/resume", serde_json::json!({})).await;
    assert_eq!(resume.status, StatusCode::NOT_FOUND, "{}", resume.body);
    assert_eq!(resume.body.replace("ana-run", "no-such-run"), nothing.body);
    assert!(!app.get(&gina, "/").await.body.contains("ana-run"), "the home page lists only gina's runs");
}

/// Finding 4: names leaked through the status, the home page and errors about versions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_outside_the_grant_are_never_told() {
    let app = app_with(AccessConfig::default(), true);
    app.add_users();
    let gina = app.session("granted", "gina").await;
    let store = app.store.root().display().to_string();
    for path in ["/api/v1/status", "/", "/api/v1/datasets", "/query", "/simulate"] {
        let reply = app.get(&gina, path).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert!(!reply.body.contains("registry"), "{path} names a dataset outside the grant: {}", reply.body);
        assert!(!reply.body.contains(&store), "{path} tells a non-admin where the store is");
    }
    let status: serde_json::Value = serde_json::from_str(&app.get(&gina, "/api/v1/status").await.body).unwrap();
    assert_eq!(status["datasets"], 2, "only the granted datasets are counted: {status}");
    // `notthere` has as many letters as `registry`, so that errors quoting the query line up.
    for (secret, missing) in [
        ("SELECT * FROM \"registry@99\".people", "SELECT * FROM \"notthere@99\".people"),
        ("SELECT * FROM \"registry@1\".people", "SELECT * FROM \"notthere@1\".people"),
        ("SELECT * FROM registry.people", "SELECT * FROM notthere.people"),
    ] {
        let a = app.post_json(&gina, "/api/v1/query", serde_json::json!({ "sql": secret })).await;
        let b = app.post_json(&gina, "/api/v1/query", serde_json::json!({ "sql": missing })).await;
        assert_eq!(a.status, b.status, "{secret}: {} / {}", a.body, b.body);
        assert_eq!(a.body.replace("registry", "notthere"), b.body, "{secret}");
    }
}

/// Finding 5: one analyst's query history showed another's queries, literals and all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_account_sees_its_own_query_history() {
    let app = app_with(AccessConfig::default(), true);
    app.add_users();
    let ana = app.session("analyst", "ana").await;
    let gina = app.session("granted", "gina").await;
    let root = app.session("admin", "root").await;
    let sql = "SELECT count(*) AS n FROM \"demo-trial\".patients WHERE patient_id <> 'CANARY-PRIVATE-1'";
    assert_eq!(app.post_json(&ana, "/api/v1/query", serde_json::json!({ "sql": sql })).await.status, StatusCode::OK);
    let mine = "SELECT 1 AS gina_was_here FROM \"demo-trial\".patients LIMIT 1";
    assert_eq!(app.post_json(&gina, "/api/v1/query", serde_json::json!({ "sql": mine })).await.status, StatusCode::OK);
    let history = |who: &Who| {
        let (app, who) = (&app, who.clone());
        async move { app.get(&who, "/api/v1/query/history").await.body }
    };
    let (for_ana, for_gina, for_root) = (history(&ana).await, history(&gina).await, history(&root).await);
    assert!(for_ana.contains("CANARY-PRIVATE-1") && !for_ana.contains("gina_was_here"), "{for_ana}");
    assert!(!for_gina.contains("CANARY-PRIVATE-1") && for_gina.contains("gina_was_here"), "{for_gina}");
    assert!(for_root.contains("CANARY-PRIVATE-1") && for_root.contains("gina_was_here"), "admins see every query");
    assert!(!app.get(&gina, "/query").await.body.contains("CANARY-PRIVATE-1"), "nor on the console's page");
}

/// Finding 7: a HEAD request was recorded as having served rows, though no body left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_request_is_recorded_as_such() {
    let app = app();
    app.add_users();
    let ana = app.session("analyst", "ana").await;
    let path = "/api/v1/datasets/registry/tables/people/rows";
    let head = app.send(&ana, Method::HEAD, path, None).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.bytes.is_empty(), "no body");
    let get = app.get(&ana, path).await;
    assert_eq!(get.status, StatusCode::OK);
    let records: Vec<Record> = app.audit().into_iter().filter(|r| r.entry.action == "dataset.rows").collect();
    assert_eq!(records.len(), 2, "{records:#?}");
    assert!(records[0].entry.asked.as_deref().unwrap().starts_with("HEAD "), "{records:#?}");
    assert_eq!(
        (records[0].entry.rows, records[0].entry.detail.as_deref()),
        (None, Some("HEAD: headers only, no rows sent"))
    );
    assert_eq!(records[1].entry.rows, Some(30), "the GET served its rows");
}

/// Statistics read participant-level rows: analysts within their grants may run them; each run is
/// audited with its plan and kept in a history its author (and admins) can read; the same plan
/// answers with the same bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyses_are_for_analysts_within_their_grants_and_audited_with_their_plan() {
    let app = app_with(AccessConfig::default(), true);
    app.add_users();
    let (ana, vic, gina, root) = (
        app.session("analyst", "ana").await,
        app.session("viewer", "vic").await,
        app.session("granted", "gina").await,
        app.session("admin", "root").await,
    );
    let uri = "/api/v1/datasets/registry/analyses";
    let plan = serde_json::json!({"analysis": {"type": "describe", "variables": ["site"]}});
    let first = app.post_json(&ana, uri, plan.clone()).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let answer: serde_json::Value = serde_json::from_str(&first.body).unwrap();
    assert_eq!((answer["dataset"].as_str(), answer["rows"]["used"].as_u64()), (Some("registry@1"), Some(30)));
    assert!(answer["method"][0].as_str().unwrap().contains("quartiles"), "{answer}");
    assert_eq!(app.post_json(&ana, uri, plan.clone()).await.bytes, first.bytes, "the same plan, the same bytes");

    assert_eq!(app.post_json(&vic, uri, plan.clone()).await.status, StatusCode::FORBIDDEN);
    let outside = app.post_json(&gina, uri, plan.clone()).await;
    let nowhere = app.post_json(&gina, "/api/v1/datasets/no-such-dataset/analyses", plan.clone()).await;
    assert_eq!((outside.status, nowhere.status), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
    assert_eq!(outside.body.replace("registry", "X"), nowhere.body.replace("no-such-dataset", "X"));
    let bad = app
        .post_json(&ana, uri, serde_json::json!({"analysis": {"type": "compare", "variable": "site", "by": "sitee"}}))
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("did you mean `site`"), "{}", bad.body);

    let records: Vec<Record> = app.audit().into_iter().filter(|r| r.entry.action == "dataset.analysis").collect();
    let outcomes: Vec<Outcome> = records.iter().map(|r| r.entry.outcome).collect();
    use Outcome::{Failed, Refused, Served};
    assert_eq!(outcomes, [Served, Served, Refused, Refused, Refused, Failed], "{records:#?}");
    assert_eq!(records[0].entry.datasets, ["registry@1"]);
    assert!(records[0].entry.asked.as_deref().unwrap().contains("\"type\":\"describe\""), "{records:#?}");
    assert_eq!(records[0].entry.rows, None, "aggregates, not rows, left");

    let mine = app.get(&ana, uri).await;
    let entries: serde_json::Value = serde_json::from_str(&mine.body).unwrap();
    assert_eq!(entries.as_array().unwrap().len(), 3, "{entries}");
    assert_eq!(entries[2]["cached"], false);
    assert_eq!(entries[1]["cached"], true);
    assert!(entries[0]["error"].as_str().unwrap().contains("sitee"));
    assert_eq!(app.get(&root, uri).await.body, mine.body, "admins see everyone's");
    assert_eq!(app.get(&gina, uri).await.status, StatusCode::NOT_FOUND);

    // A question in words: read against the dictionary, for analysts within their grants.
    let ask = "/api/v1/datasets/registry/ask";
    let question = serde_json::json!({"question": "how many people per site"});
    let understood = app.post_json(&ana, ask, question.clone()).await;
    assert_eq!(understood.status, StatusCode::OK, "{}", understood.body);
    let understood: serde_json::Value = serde_json::from_str(&understood.body).unwrap();
    assert_eq!(understood["plan"]["analysis"], serde_json::json!({"type": "describe", "variables": ["site"]}));
    assert_eq!(app.post_json(&vic, ask, question.clone()).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.post_json(&gina, ask, question.clone()).await.status, StatusCode::NOT_FOUND);
    let asked: Vec<Record> = app.audit().into_iter().filter(|r| r.entry.action == "dataset.ask").collect();
    assert_eq!(asked.len(), 3);
    assert!(asked[0].entry.asked.as_deref().unwrap().contains("how many people per site"), "{asked:#?}");
}

/// The audit page shows a page of entries, newest first, and links to the next page back with
/// the same filters; older pages hold only older entries.
#[tokio::test]
async fn the_audit_page_pages_back_through_the_log() {
    let app = app();
    app.add_users();
    let admin = app.session("admin", "root").await;
    // Participant-level reads are audited: 130 of them.
    for _ in 0..130 {
        assert_eq!(app.get(&admin, "/api/v1/datasets/registry/tables/people/rows").await.status, StatusCode::OK);
    }
    let first = app.get(&admin, "/admin/audit?dataset=registry").await;
    assert_eq!(first.status, StatusCode::OK);
    // The first cell of each row is the entry's sequence number.
    let seqs = |body: &str| -> Vec<u64> {
        body.split("<tr class=\"outcome-")
            .skip(1)
            .filter_map(|row| row.split("<td class=\"num\">").nth(1)?.split('<').next()?.trim().parse().ok())
            .collect()
    };
    let start = first.body.find("id=\"audit-older\" href=\"").expect("a link to older entries") + 23;
    let href =
        first.body[start..start + first.body[start..].find('"').unwrap()].replace("&amp;", "&").replace("&#38;", "&");
    assert!(href.contains("dataset=registry") && href.contains("before="), "{href}");
    let older = app.get(&admin, &href).await;
    assert_eq!(older.status, StatusCode::OK, "{href}: {}", older.body);
    let (newest, next) = (seqs(&first.body), seqs(&older.body));
    assert!(
        !next.is_empty() && next.iter().all(|s| s < newest.iter().min().unwrap()),
        "{href}: {:?} then {:?}",
        &newest[..3],
        &next[..next.len().min(3)]
    );
}

/// With no accounts, the accounts page says so and what it means, instead of an empty table.
#[tokio::test]
async fn an_empty_accounts_page_says_what_it_means() {
    let app = app();
    let page = app.get(&Who::default(), "/admin/users").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("id=\"no-accounts\"") && !page.body.contains("id=\"accounts\""), "{}", page.body);
}
