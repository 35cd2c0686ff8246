//! The JSON API, endpoint by endpoint, including its errors, on a store seeded with the demo.

use std::time::{Duration, Instant};

use axum::body::{Body, to_bytes};
use axum::http::{Method, Request, StatusCode};
use cohort_store::{Settings, Store};
use cohort_web::{AppState, router};
use serde_json::{Value, json};
use tower::ServiceExt;

struct App {
    _dir: tempfile::TempDir,
    store: Store,
    state: AppState,
}

fn app() -> App {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(&dir.path().join("store"), Settings::default()).unwrap();
    cohort_web::demo::seed(&store).unwrap();
    let state = AppState::new(store.clone());
    App { _dir: dir, store, state }
}

impl App {
    async fn call(&self, method: Method, uri: &str, body: Option<Value>) -> (StatusCode, Vec<u8>, String) {
        let mut request = Request::builder().method(method).uri(uri);
        let body = match body {
            Some(v) => {
                request = request.header("content-type", "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let response = router(self.state.clone()).oneshot(request.body(body).unwrap()).await.unwrap();
        let status = response.status();
        let content_type =
            response.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        (status, to_bytes(response.into_body(), usize::MAX).await.unwrap().to_vec(), content_type)
    }

    /// A download: its status, bytes and the file name it is saved under.
    async fn download(&self, uri: &str) -> (StatusCode, Vec<u8>, String) {
        let request = Request::builder().method(Method::GET).uri(uri).body(Body::empty()).unwrap();
        let response = router(self.state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let disposition =
            response.headers().get("content-disposition").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        let name = disposition.split("filename=\"").nth(1).unwrap_or("").trim_end_matches('"').to_string();
        (status, to_bytes(response.into_body(), usize::MAX).await.unwrap().to_vec(), name)
    }

    async fn get(&self, uri: &str) -> (StatusCode, Value) {
        let (status, body, _) = self.call(Method::GET, uri, None).await;
        (status, serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{uri}: not JSON ({e})")))
    }

    async fn post(&self, uri: &str, body: Value) -> (StatusCode, Value) {
        let (status, body, _) = self.call(Method::POST, uri, Some(body)).await;
        (status, serde_json::from_slice(&body).unwrap())
    }

    /// Requires an error with `status` and `code`.
    async fn error(&self, uri: &str, status: StatusCode, code: &str) -> Value {
        let (got, body) = self.get(uri).await;
        assert_eq!((got, body["error"]["code"].as_str()), (status, Some(code)), "{uri}: {body}");
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
        body
    }

    async fn wait_for_task(&self, id: u64) -> Value {
        let started = Instant::now();
        loop {
            let (_, view) = self.get(&format!("/api/v1/tasks/{id}")).await;
            if ["succeeded", "failed", "cancelled"].contains(&view["state"].as_str().unwrap()) {
                return view;
            }
            assert!(started.elapsed() < Duration::from_secs(120), "task {id} never finished: {view}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datasets_their_rows_dictionary_downloads_and_rollback() {
    let app = app();
    let (status, list) = app.get("/api/v1/datasets").await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    for demo in cohort_web::demo::DEMO_DATASETS {
        assert!(names.contains(demo), "{names:?}");
    }

    let (_, detail) = app.get("/api/v1/datasets/demo-trial").await;
    let tables: Vec<&str> =
        detail["shown"]["tables"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(tables, ["patients", "visits"]);

    // Paging, sorting and filtering agree with the same question asked in SQL.
    let (_, page) =
        app.get("/api/v1/datasets/demo-trial/tables/patients/rows?limit=5&sort=baseline_va&order=desc").await;
    assert_eq!(page["total"], 40);
    let values: Vec<i64> =
        page["rows"].as_array().unwrap().iter().map(|r| r["baseline_va"].as_i64().unwrap()).collect();
    assert_eq!(values.len(), 5);
    assert!(values.windows(2).all(|w| w[0] >= w[1]), "{values:?}");
    let (_, filtered) =
        app.get("/api/v1/datasets/demo-trial/tables/patients/rows?filter.sex=F&filter.baseline_va=%3E60").await;
    let session = cohort_store::Session::for_sql(&app.store, "\"demo-trial\"").unwrap();
    let expected: i64 = session
        .connection()
        .query_row("SELECT count(*) FROM \"demo-trial\".patients WHERE sex = 'F' AND baseline_va > 60", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(filtered["total"], expected);
    assert!(
        filtered["rows"].as_array().unwrap().iter().all(|r| r["sex"] == "F" && r["baseline_va"].as_i64().unwrap() > 60)
    );
    // Ranges, months, and filters that cannot be read: said, not answered with no rows.
    let count = |sql: &str| -> i64 { session.connection().query_row(sql, [], |r| r.get(0)).unwrap() };
    for range in ["60..70", "60-70", "60%20..%2070"] {
        let (status, page) =
            app.get(&format!("/api/v1/datasets/demo-trial/tables/patients/rows?filter.baseline_va={range}")).await;
        assert_eq!(status, StatusCode::OK, "{range}: {page}");
        let expected = count("SELECT count(*) FROM \"demo-trial\".patients WHERE baseline_va BETWEEN 60 AND 70");
        assert_eq!(page["total"], expected, "{range}");
    }
    let (_, month) = app.get("/api/v1/datasets/demo-trial/tables/visits/rows?filter.visit_date=2024-04").await;
    let in_april = count(
        "SELECT count(*) FROM \"demo-trial\".visits WHERE visit_date >= DATE '2024-04-01' AND visit_date < DATE '2024-05-01'",
    );
    assert!(in_april > 0);
    assert_eq!(month["total"], in_april, "a month on a date column is that month");
    for (column, bad, says) in
        [("baseline_va", "%3Eabc", "`abc` is not a"), ("baseline_va", "sixty", "`sixty` is not a")]
    {
        let uri = format!("/api/v1/datasets/demo-trial/tables/patients/rows?filter.{column}={bad}");
        let body = app.error(&uri, StatusCode::BAD_REQUEST, "invalid_parameter").await;
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says) && message.contains("60..70"), "{message}");
    }
    let body = app
        .error(
            "/api/v1/datasets/demo-trial/tables/visits/rows?filter.visit_date=2024-13",
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        )
        .await;
    assert!(body["error"]["message"].as_str().unwrap().contains("a month `2023-10`"), "{body}");
    // Text that looks like SQL is only ever a value.
    let (status, injected) =
        app.get("/api/v1/datasets/demo-trial/tables/patients/rows?filter.sex=x%27%20OR%201%3D1%20--").await;
    assert_eq!((status, injected["total"].as_i64()), (StatusCode::OK, Some(0)));

    let (_, dictionary) = app.get("/api/v1/datasets/demo-trial/tables/patients/dictionary").await;
    let entries = dictionary.as_array().unwrap();
    assert_eq!(entries.len(), page["columns"].as_array().unwrap().len());
    let sex = entries.iter().find(|e| e["column"] == "sex").unwrap();
    assert!(sex["distinct"].as_u64().unwrap() >= 2, "{sex}");
    assert!((0.0..=100.0).contains(&sex["completeness"].as_f64().unwrap()));

    // Column summaries: a histogram of numbers, months of dates, top values, identifiers only counted.
    let (_, numeric) = app.get("/api/v1/datasets/demo-trial/tables/patients/columns/baseline_va").await;
    assert_eq!(numeric["kind"], "numeric", "{numeric}");
    let binned: i64 = numeric["bins"].as_array().unwrap().iter().map(|b| b[2].as_i64().unwrap()).sum();
    assert_eq!(binned + numeric["missing"].as_i64().unwrap(), 40);
    let (_, dates) = app.get("/api/v1/datasets/demo-trial/tables/patients/columns/enrolled_on").await;
    assert_eq!(dates["kind"], "temporal", "{dates}");
    let (_, sex) = app.get("/api/v1/datasets/demo-trial/tables/patients/columns/sex").await;
    assert_eq!(sex["kind"], "categorical", "{sex}");
    let (_, id) = app.get("/api/v1/datasets/demo-trial/tables/patients/columns/patient_id").await;
    assert_eq!(id["kind"], "identifier", "{id}");
    assert!(id.get("values").is_none(), "identifiers are not listed");
    app.error("/api/v1/datasets/demo-trial/tables/patients/columns/nope", StatusCode::NOT_FOUND, "column_not_found")
        .await;

    // A download is what `cohort export` writes.
    let (status, csv, content_type) =
        app.call(Method::GET, "/api/v1/datasets/demo-trial/tables/visits/download?format=csv", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/csv"));
    let exported = app._dir.path().join("visits.csv");
    let version = app.store.resolve(&cohort_store::VersionRef::parse("demo-trial").unwrap()).unwrap();
    let table = version.table("visits").unwrap();
    let watch = cohort_store::export::Watch {
        progress: &cohort_store::NoProgress,
        total: 0,
        cancel: &cohort_store::CancelToken::default(),
    };
    cohort_store::export::copy_select(
        cohort_store::Session::new(&app.store).unwrap().connection(),
        &format!("SELECT * FROM {}", cohort_store::table_source(&app.store, table)),
        cohort_store::OutputFormat::Csv,
        &cohort_store::Destination::File(exported.clone()),
        &watch,
    )
    .unwrap();
    assert_eq!(csv, std::fs::read(&exported).unwrap());
    let (_, parquet, _) = app
        .call(
            Method::GET,
            "/api/v1/datasets/demo-trial/tables/visits/download?format=parquet&filter.injected=true",
            None,
        )
        .await;
    assert_eq!(&parquet[..4], b"PAR1");
    let (status, xlsx, content_type) =
        app.call(Method::GET, "/api/v1/datasets/demo-trial/tables/visits/download?format=xlsx", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.contains("spreadsheetml"), "{content_type}");
    assert_eq!(&xlsx[..2], b"PK", "an xlsx file is a zip");

    // A filtered download is named for what it holds; the whole table's name says its version.
    let (_, _, whole) = app.download("/api/v1/datasets/demo-trial/tables/visits/download?format=csv").await;
    assert_eq!(whole, "demo-trial-v1-visits.csv");
    let (_, _, filtered) =
        app.download("/api/v1/datasets/demo-trial/tables/visits/download?format=csv&filter.injected=true").await;
    assert_eq!(filtered, "demo-trial-v1-visits-where-injected-true.csv");
    let (_, _, ranged) = app
        .download(
            "/api/v1/datasets/demo-trial/tables/patients/download?format=xlsx&filter.baseline_va=%3E%3D60&filter.sex=F",
        )
        .await;
    assert_eq!(ranged, "demo-trial-v1-patients-where-baseline_va-ge60-sex-F.xlsx");
    let long = "x".repeat(100);
    let (_, _, digest) =
        app.download(&format!("/api/v1/datasets/demo-trial/tables/patients/download?filter.sex={long}")).await;
    assert!(digest.starts_with("demo-trial-v1-patients-filtered-") && digest.len() < 60, "{digest}");

    let leftovers: Vec<_> = std::fs::read_dir(app.store.layout().spill_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("download-"))
        .collect();
    assert!(leftovers.is_empty(), "downloads leave no files behind: {leftovers:?}");

    // Errors: a stable code, a fitting status, and nothing changed.
    app.error("/api/v1/datasets/nope", StatusCode::NOT_FOUND, "dataset_not_found").await;
    app.error("/api/v1/datasets/demo-trial@9", StatusCode::NOT_FOUND, "version_not_found").await;
    app.error("/api/v1/datasets/Bad%20Name", StatusCode::BAD_REQUEST, "invalid_name").await;
    app.error("/api/v1/datasets/demo-trial/tables/nope/rows", StatusCode::NOT_FOUND, "table_not_found").await;
    let e = app
        .error(
            "/api/v1/datasets/demo-trial/tables/patients/rows?sort=nope",
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        )
        .await;
    assert!(e["error"]["message"].as_str().unwrap().contains("baseline_va"), "the message lists the columns: {e}");
    app.error("/api/v1/datasets/demo-trial/tables/patients/rows?limit=0", StatusCode::BAD_REQUEST, "invalid_parameter")
        .await;
    app.error("/api/v1/datasets/demo-trial/tables/patients/rows?limit=x", StatusCode::BAD_REQUEST, "invalid_parameter")
        .await;
    app.error(
        "/api/v1/datasets/demo-trial/tables/patients/rows?order=up&sort=sex",
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
    )
    .await;
    app.error(
        "/api/v1/datasets/demo-trial/tables/patients/rows?colour=red",
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
    )
    .await;
    app.error(
        "/api/v1/datasets/demo-trial/tables/patients/download?format=xls",
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
    )
    .await;
    app.error("/api/v1/nothing-here", StatusCode::NOT_FOUND, "no_such_endpoint").await;

    // Rollback moves the pointer; a version that does not exist is refused.
    let csv = app._dir.path().join("patients.csv");
    std::fs::write(&csv, "patient_id,site\n1,S01\n").unwrap();
    ingest(&app.store, "demo-trial", &csv);
    // The server sees a commit made by another process (its catalog cache notices the change).
    let (_, detail) = app.get("/api/v1/datasets/demo-trial").await;
    assert_eq!(detail["summary"]["current_version"], 2);
    let (status, body) = app.post("/api/v1/datasets/demo-trial/rollback", json!({"version": 1})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, detail) = app.get("/api/v1/datasets/demo-trial").await;
    assert_eq!(detail["summary"]["current_version"], 1);
    let (status, body) = app.post("/api/v1/datasets/demo-trial/rollback", json!({"version": 99})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("version_not_found")), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulations_run_as_tasks_with_progress_and_results() {
    let app = app();
    let (_, protocols) = app.get("/api/v1/protocols").await;
    assert_eq!(protocols.as_array().unwrap().len(), 4);

    let (status, estimate) = app
        .post("/api/v1/simulations/estimate", json!({"protocol": "aflibercept-tnt", "patients": 3000, "years": 2}))
        .await;
    assert_eq!(status, StatusCode::OK, "{estimate}");
    assert_eq!(estimate["dataset"], "aflibercept-tnt-3000p-2y-seed42");
    assert!(estimate["estimate"]["visits"].as_u64().unwrap() > 3000);

    for (body, status, code) in [
        (json!({"protocol": "aflibercept-tae", "patients": 0}), StatusCode::BAD_REQUEST, "invalid_parameter"),
        (json!({"protocol": "nope", "patients": 10}), StatusCode::BAD_REQUEST, "invalid_parameter"),
        (json!({"patients": 10}), StatusCode::BAD_REQUEST, "invalid_parameter"),
        (
            json!({"protocol_yaml": "format: 1\nname: x\n", "patients": 10}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_protocol",
        ),
        (
            json!({"protocol": "aflibercept-tae", "patients": 10, "years": -1}),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
        (
            json!({"protocol": "aflibercept-tae", "patients": 10, "name": "demo-trial"}),
            StatusCode::CONFLICT,
            "kind_mismatch",
        ),
        (
            json!({"protocol": "aflibercept-tae", "patients": 10, "name": "no spaces"}),
            StatusCode::BAD_REQUEST,
            "invalid_name",
        ),
    ] {
        let (got, error) = app.post("/api/v1/simulations", body.clone()).await;
        assert_eq!((got, error["error"]["code"].as_str()), (status, Some(code)), "{body}: {error}");
    }
    let (status, _, _) =
        app.call(Method::POST, "/api/v1/simulations", Some(json!({"patients": 10, "colour": 1}))).await;
    assert!(status.is_client_error(), "unknown fields are refused");

    let (status, task) = app
        .post(
            "/api/v1/simulations",
            json!({"protocol": "aflibercept-tae", "patients": 3000, "years": 3, "name": "web-run"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{task}");
    let done = app.wait_for_task(task["id"].as_u64().unwrap()).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["version"], 1);
    assert_eq!(done["done"], done["total"]);
    let (_, tasks) = app.get("/api/v1/tasks").await;
    assert_eq!(tasks[0]["id"], task["id"], "newest first: {tasks}");

    // A finished task's event stream holds its final state, then ends.
    let (status, events, content_type) =
        app.call(Method::GET, &format!("/api/v1/tasks/{}/events", task["id"]), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/event-stream"));
    let events = String::from_utf8(events).unwrap();
    assert!(events.contains("event: progress") && events.contains("\"state\":\"succeeded\""), "{events}");
    // An event stream flows as it is written: never compressed, whatever the browser accepts.
    let request = Request::get(format!("/api/v1/tasks/{}/events", task["id"]))
        .header("accept-encoding", "gzip, br")
        .body(Body::empty())
        .unwrap();
    let response = router(app.state.clone()).oneshot(request).await.unwrap();
    assert!(response.headers().get("content-encoding").is_none(), "{:?}", response.headers());

    let (_, results) = app.get("/api/v1/simulations/web-run/results").await;
    let patients = results["summary"]["patients"].as_i64().unwrap();
    assert!(patients > 2900, "{}", results["summary"]);
    // Every month of the flow adds up to the patients enrolled by its end.
    let session = cohort_store::Session::for_sql(&app.store, "\"web-run\"").unwrap();
    for row in results["flow"].as_array().unwrap().iter().step_by(7) {
        let month = row["month_end"].as_str().unwrap();
        let in_month: i64 = results["flow"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["month_end"] == month)
            .map(|r| r["patients"].as_i64().unwrap())
            .sum();
        let enrolled: i64 = session
            .connection()
            .query_row(
                &format!("SELECT count(*) FROM \"web-run\".patients WHERE enrolment_date <= DATE '{month}'"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(in_month, enrolled, "{month}");
    }
    for key in [
        "flow_by_follow_up",
        "vision",
        "vision_distributions",
        "stops",
        "incidence",
        "per_patient",
        "per_year",
        "intervals",
    ] {
        assert!(!results[key].as_array().unwrap().is_empty(), "{key} is empty");
    }
    let (_, timeline) = app.get("/api/v1/simulations/web-run/patients/17").await;
    assert_eq!(timeline["patient"]["patient_id"], 17);
    assert!(!timeline["visits"].as_array().unwrap().is_empty());
    app.error("/api/v1/simulations/web-run/patients/999999", StatusCode::NOT_FOUND, "patient_not_found").await;
    app.error("/api/v1/simulations/web-run/patients/x", StatusCode::BAD_REQUEST, "invalid_parameter").await;
    app.error("/api/v1/simulations/demo-trial/results", StatusCode::CONFLICT, "not_a_simulation").await;
    app.error("/api/v1/simulations/nope/results", StatusCode::NOT_FOUND, "dataset_not_found").await;
    app.error("/api/v1/tasks/999", StatusCode::NOT_FOUND, "task_not_found").await;
    app.error("/api/v1/tasks/x", StatusCode::BAD_REQUEST, "invalid_parameter").await;
}

/// A run cancelled from the web stays resumable, and resuming it gives the very run an
/// uninterrupted one gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_run_resumes_to_the_same_result() {
    let app = app();
    let run = json!({"protocol": "aflibercept-tae", "patients": 600000, "years": 1, "name": "long"});
    let (_, task) = app.post("/api/v1/simulations", run.clone()).await;
    let id = task["id"].as_u64().unwrap();
    let started = Instant::now();
    loop {
        let (_, view) = app.get(&format!("/api/v1/tasks/{id}")).await;
        if view["done"].as_u64().unwrap() > 0 || view["state"] != "queued" && view["state"] != "running" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (status, _) = app.post(&format!("/api/v1/tasks/{id}/cancel"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let cancelled = app.wait_for_task(id).await;
    assert_eq!(cancelled["state"], "cancelled", "{cancelled}");
    let (_, interrupted) = app.get("/api/v1/simulations/interrupted").await;
    assert_eq!(interrupted[0]["dataset"], "long", "{interrupted}");
    let (status, body) = app.post("/api/v1/simulations", run.clone()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("interrupted_run_exists")));
    let (status, resumed) = app.post("/api/v1/simulations/long/resume", json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let resumed = app.wait_for_task(resumed["id"].as_u64().unwrap()).await;
    assert_eq!(resumed["state"], "succeeded", "{resumed}");

    let other = app_without_demo();
    let (_, task) = other.post("/api/v1/simulations", run).await;
    other.wait_for_task(task["id"].as_u64().unwrap()).await;
    let hash = |store: &Store| {
        store.versions(&cohort_store::DatasetName::new("long").unwrap()).unwrap()[0].content_hash.clone()
    };
    assert_eq!(hash(&app.store), hash(&other.store));
    let (status, body) = app.post("/api/v1/simulations/long/resume", json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let nothing = app.wait_for_task(body["id"].as_u64().unwrap()).await;
    assert_eq!(nothing["state"], "failed");
    assert!(nothing["error"].as_str().unwrap().contains("no interrupted run"), "{nothing}");
}

fn app_without_demo() -> App {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(&dir.path().join("store"), Settings::default()).unwrap();
    let state = AppState::new(store.clone());
    App { _dir: dir, store, state }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_status_assets_and_the_openapi_description() {
    let app = app();
    for (uri, needle) in [
        ("/", "demo-tae"),
        ("/datasets/demo-trial", "id=\"dictionary\""),
        ("/datasets/demo-trial?table=visits", "visual_acuity"),
        ("/simulations/demo-tae", "id=\"results-data\""),
        ("/simulate", "aflibercept-tnt"),
        ("/compare?runs=demo-tae&runs=demo-tnt", "id=\"compare-data\""),
        ("/compare", "Choose two or more runs"),
        ("/upload", "id=\"drop\""),
    ] {
        let (status, body, content_type) = app.call(Method::GET, uri, None).await;
        let body = String::from_utf8(body).unwrap();
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert!(content_type.starts_with("text/html"), "{uri}");
        assert!(body.contains(needle), "{uri} lacks {needle}");
    }
    for (uri, status) in [
        ("/datasets/nope", StatusCode::NOT_FOUND),
        ("/datasets/demo-trial?table=nope", StatusCode::NOT_FOUND),
        ("/simulations/demo-trial", StatusCode::CONFLICT),
        ("/no/such/page", StatusCode::NOT_FOUND),
    ] {
        let (got, body, content_type) = app.call(Method::GET, uri, None).await;
        assert_eq!(got, status, "{uri}");
        assert!(content_type.starts_with("text/html"), "{uri}: errors on pages are pages");
        assert!(String::from_utf8(body).unwrap().contains("role=\"alert\""), "{uri}");
    }

    let (_, status) = app.get("/api/v1/status").await;
    assert_eq!(status["datasets"], cohort_web::demo::DEMO_DATASETS.len());
    assert!(status["memory_bytes"].as_u64().unwrap() > 0 && status["store_bytes"].as_u64().unwrap() > 0);

    // Assets are served once, under hashed names, for good.
    let (_, home, _) = app.call(Method::GET, "/simulations/demo-tae", None).await;
    let home = String::from_utf8(home).unwrap();
    for name in ["app-", "app-", "plotly-"] {
        let start = home.find(&format!("/assets/{name}")).unwrap_or_else(|| panic!("{name} is not linked"));
        let url = &home[start..start + home[start..].find('"').unwrap()];
        let response = router(app.state.clone()).oneshot(Request::get(url).body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        assert!(response.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    }

    // The description and the router agree: every documented route answers (not "no such
    // endpoint"), with its placeholders filled.
    let (_, spec) = app.get("/api/v1/openapi.json").await;
    assert_eq!(spec["openapi"], "3.1.0");
    let paths = spec["paths"].as_object().unwrap();
    assert_eq!(
        paths.values().map(|p| p.as_object().unwrap().len()).sum::<usize>(),
        cohort_web::api::openapi::ROUTES.len()
    );
    for (path, methods) in paths {
        let uri = format!("/api/v1{path}")
            .replace("{name}", "demo-tae")
            .replace("{table}", "patients")
            .replace("{id}", "1")
            .replace("{column}", "age");
        for method in methods.as_object().unwrap().keys() {
            if path.ends_with("/events")
                || path.ends_with("/resume")
                || path == "/simulations"
                || path.starts_with("/uploads")
            {
                continue; // streams and task starts are exercised above
            }
            let method: Method = method.to_uppercase().parse().unwrap();
            let body = (method == Method::POST).then(|| json!({}));
            let (status, body, _) = app.call(method.clone(), &uri, body).await;
            let text = String::from_utf8_lossy(&body);
            assert!(
                status != StatusCode::METHOD_NOT_ALLOWED && !text.contains("no_such_endpoint"),
                "{method} {uri} is documented but not routed: {status} {text}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sql_console_answers_pages_refuses_the_rest_and_keeps_a_history() {
    let app = app();
    let sql = "SELECT sex, count(*) AS n FROM \"demo-trial\".patients GROUP BY sex ORDER BY sex";
    let (status, page) = app.post("/api/v1/query", json!({"sql": sql})).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["columns"], json!(["sex", "n"]));
    assert_eq!(page["datasets"], json!(["demo-trial@1"]));
    let counted: i64 = page["rows"].as_array().unwrap().iter().map(|r| r["n"].as_i64().unwrap()).sum();
    assert_eq!(counted, 40);
    let (_, second) =
        app.post("/api/v1/query", json!({"sql": "SELECT * FROM range(250)", "offset": 200, "limit": 100})).await;
    assert_eq!((second["total"].as_u64(), second["rows"].as_array().unwrap().len()), (Some(250), 50));

    for (sql, status, code) in [
        ("COPY (SELECT 1) TO '/tmp/cohort-console-test.csv'", StatusCode::FORBIDDEN, "query_refused"),
        ("SET threads = 1", StatusCode::FORBIDDEN, "query_refused"),
        ("SELECT * FROM read_csv('/etc/passwd')", StatusCode::BAD_REQUEST, "sql_error"),
        ("SELECT * FROM nope.nothing", StatusCode::BAD_REQUEST, "sql_error"),
        // A typo is a mistake to correct, not a refusal.
        ("SELEC 1", StatusCode::BAD_REQUEST, "sql_error"),
    ] {
        let (got, body) = app.post("/api/v1/query", json!({"sql": sql})).await;
        assert_eq!((got, body["error"]["code"].as_str()), (status, Some(code)), "{sql}: {body}");
        // One voice: what to do on the page, never a command to run.
        let hint = body["error"]["hint"].as_str().unwrap_or_default();
        assert!(!hint.contains("`cohort "), "{sql}: the hint names a command: {hint}");
    }
    let (_, typo) = app.post("/api/v1/query", json!({"sql": "SELEC 1"})).await;
    assert!(typo["error"]["message"].as_str().unwrap().contains("cannot be parsed"), "{typo}");
    let missing = app.error("/api/v1/datasets/no-such-thing", StatusCode::NOT_FOUND, "dataset_not_found").await;
    assert_eq!(missing["error"]["hint"], "the Datasets page lists the datasets you can open");
    let (got, body) = app.post("/api/v1/query", json!({"sql": "SELECT 1", "limit": 5000})).await;
    assert_eq!((got, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_parameter")));
    assert!(!std::path::Path::new("/tmp/cohort-console-test.csv").exists());

    // The whole result downloads, named for what it read, and the run is in the history.
    let encoded = serde_urlencoded::to_string([("sql", sql)]).unwrap();
    let (status, csv, name) = app.download(&format!("/api/v1/query/download?{encoded}")).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&csv));
    assert_eq!(
        String::from_utf8(csv).unwrap(),
        format!(
            "sex,n\n{}",
            page["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| format!("{},{}\n", r["sex"].as_str().unwrap(), r["n"]))
                .collect::<String>()
        )
    );
    assert!(name.starts_with("query-demo-trial-v1-") && name.ends_with(".csv"), "{name}");
    let (_, other, _) = app.download("/api/v1/query/download?sql=SELECT%201").await;
    assert_eq!(other, b"1\n1\n", "a header (the column is called 1) and the value");
    let (_, _, other_name) = app.download("/api/v1/query/download?sql=SELECT%201&format=xlsx").await;
    assert!(other_name.starts_with("query-") && other_name.ends_with(".xlsx") && other_name != name, "{other_name}");
    let (_, all, _) = app.download("/api/v1/query/download?sql=SELECT%20*%20FROM%20range(2500)&format=parquet").await;
    assert_eq!(&all[..4], b"PAR1", "more rows than a page, as Parquet");
    let (_, downloaded) = app.get("/api/v1/query/history?limit=4").await;
    assert_eq!(downloaded[0]["rows"], 2500, "{downloaded}");
    let (status, refused, _) = app
        .download("/api/v1/query/download?sql=COPY%20(SELECT%201)%20TO%20%27%2Ftmp%2Fcohort-console-test.csv%27")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{}", String::from_utf8_lossy(&refused));
    assert!(!std::path::Path::new("/tmp/cohort-console-test.csv").exists());
    let leftovers: Vec<_> = std::fs::read_dir(app.store.layout().spill_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("console-"))
        .collect();
    assert!(leftovers.is_empty(), "console downloads leave nothing behind: {leftovers:?}");
    let (_, typo) = app.post("/api/v1/query", json!({"sql": "SELEC 1"})).await;
    assert!(typo["error"]["message"].as_str().unwrap().contains("cannot be parsed"), "{typo}");

    let (_, history) = app.get("/api/v1/query/history?limit=3").await;
    let history = history.as_array().unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(history[0]["sql"], "SELEC 1");
    let (_, page, _) = app.call(Method::GET, "/query", None).await;
    assert!(String::from_utf8(page).unwrap().contains("GROUP BY sex"), "the query page lists the history");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_stream_files_to_disk_then_ingest_them() {
    let app = app();
    let (status, upload) = app.post("/api/v1/uploads", json!({})).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = upload["id"].as_str().unwrap();
    for (file, body) in [("eyes.csv", "eye_id,iop\n001,14\n002,\n"), ("notes.csv", "eye_id,note\n001,fine\n")] {
        let request = Request::put(format!("/api/v1/uploads/{id}/files/{file}")).body(Body::from(body)).unwrap();
        let response = router(app.state.clone()).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    for (file, code) in [("..%2Fescape.csv", StatusCode::BAD_REQUEST), (".hidden.csv", StatusCode::BAD_REQUEST)] {
        let request = Request::put(format!("/api/v1/uploads/{id}/files/{file}")).body(Body::from("a\n1\n")).unwrap();
        let response = router(app.state.clone()).oneshot(request).await.unwrap();
        assert_eq!(response.status(), code, "{file}");
    }
    // Past the limit: 413 as soon as the limit is passed, and nothing of the file is kept.
    let small = AppState::with_upload_limit(app.store.clone(), 1_000);
    let (_, limited) = {
        let response =
            router(small.clone()).oneshot(Request::post("/api/v1/uploads").body(Body::empty()).unwrap()).await.unwrap();
        (
            response.status(),
            serde_json::from_slice::<Value>(&to_bytes(response.into_body(), usize::MAX).await.unwrap()).unwrap(),
        )
    };
    let big = Body::from_stream(futures::stream::iter((0..100).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 100]))));
    let request =
        Request::put(format!("/api/v1/uploads/{}/files/big.csv", limited["id"].as_str().unwrap())).body(big).unwrap();
    let response = router(small).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let upload_dir = app.store.layout().spill_dir().join("uploads").join(limited["id"].as_str().unwrap());
    assert_eq!(std::fs::read_dir(&upload_dir).unwrap().count(), 0, "nothing of a refused file is kept");

    let request = Request::put("/api/v1/uploads/nope/files/a.csv").body(Body::from("a\n")).unwrap();
    assert_eq!(router(app.state.clone()).oneshot(request).await.unwrap().status(), StatusCode::NOT_FOUND);

    let (status, report) = app.post(&format!("/api/v1/uploads/{id}/ingest"), json!({"name": "eyes"})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["outcome"]["outcome"], "created");
    assert_eq!(report["tables"].as_array().unwrap().len(), 2);
    let (_, page) = app.get("/api/v1/datasets/eyes/tables/eyes/rows").await;
    assert_eq!(page["rows"][0]["eye_id"], "001");
    let (status, _) = app.post(&format!("/api/v1/uploads/{id}/ingest"), json!({"name": "eyes"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "an ingested upload is gone");

    // A file that is not a table: a clear error naming the file as uploaded (not where the server
    // kept it), nothing committed, and the upload gone.
    let (_, upload) = app.post("/api/v1/uploads", json!({})).await;
    let id = upload["id"].as_str().unwrap();
    let request = Request::put(format!("/api/v1/uploads/{id}/files/bad.xyz")).body(Body::from("?")).unwrap();
    router(app.state.clone()).oneshot(request).await.unwrap();
    let (status, body) = app.post(&format!("/api/v1/uploads/{id}/ingest"), json!({"name": "bad"})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("ingest_failed")),
        "{body}"
    );
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("`bad.xyz`"), "{body}");
    assert!(
        !body.to_string().contains(&app.store.root().display().to_string()),
        "the server's paths stay private: {body}"
    );
    app.error("/api/v1/datasets/bad", StatusCode::NOT_FOUND, "dataset_not_found").await;
    assert!(!app.store.layout().spill_dir().join("uploads").join(id).exists(), "a failed upload's files are removed");
    let (status, _) = app.post(&format!("/api/v1/uploads/{id}/ingest"), json!({"name": "bad"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A running server leaves `datasets.duckdb` to its background keeper: a commit made through it
/// reaches the file within moments, and one made just before it stops reaches it on the way out.
#[test]
fn a_running_server_keeps_the_views_database_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(&dir.path().join("store"), Settings::default()).unwrap();
    let state = AppState::new(store.clone());
    assert!(state.store.settings().views_in_background);
    let views = |sql: &str| -> i64 {
        let config = duckdb::Config::default().access_mode(duckdb::AccessMode::ReadOnly).unwrap();
        let conn = duckdb::Connection::open_with_flags(store.layout().views_db(), config).unwrap();
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    };
    let commit = |name: &str, rows: usize| {
        let mut staging = state.store.stage(&cohort_store::DatasetName::new(name).unwrap()).unwrap();
        let table = staging.table_dir(&cohort_store::TableName::new(name).unwrap()).unwrap();
        let part = table.join("part-0.parquet");
        duckdb::Connection::open_in_memory()
            .unwrap()
            .execute_batch(&format!("COPY (SELECT range AS x FROM range({rows})) TO '{}'", part.display()))
            .unwrap();
        let meta = cohort_store::VersionMeta {
            kind: cohort_store::DatasetKind::Upload,
            description: None,
            tags: None,
            created_by: "test".into(),
            sources: Vec::new(),
            provenance: json!({}),
        };
        staging.commit(meta).unwrap();
    };
    let stop = cohort_store::CancelToken::default();
    let config = cohort_web::ServeConfig { addr: "127.0.0.1:0".parse().unwrap() };
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let server = {
        let (state, stop) = (state.clone(), stop.clone());
        std::thread::spawn(move || cohort_web::serve(state, config, stop, move |addr| ready_tx.send(addr).unwrap()))
    };
    ready_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    commit("early", 3);
    let deadline = Instant::now() + Duration::from_secs(20);
    while views("SELECT count(*) FROM cohort_catalog.datasets WHERE name = 'early'") == 0 {
        assert!(Instant::now() < deadline, "the keeper never brought datasets.duckdb up to date");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(views("SELECT count(*) FROM early.early"), 3);
    commit("late", 4);
    stop.cancel();
    server.join().unwrap().unwrap();
    assert_eq!(views("SELECT count(*) FROM late.late"), 4, "caught up on the way out");
}

#[test]
fn a_non_loopback_address_is_refused_without_an_admin_account() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(&dir.path().join("store"), Settings::default()).unwrap();
    let config = cohort_web::ServeConfig { addr: "0.0.0.0:0".parse().unwrap() };
    let err = cohort_web::serve(AppState::new(store), config, cohort_store::CancelToken::default(), |_| {
        panic!("it must not start")
    })
    .unwrap_err();
    assert!(err.to_string().contains("cohort user add NAME --role admin"), "{err}");
}

/// Text and scripts go compressed when the browser asks (brotli or gzip), the same bytes once
/// decoded; assets keep their long cache lifetime.
#[tokio::test]
async fn responses_are_compressed_when_the_browser_asks() {
    let app = app();
    let (_, page, _) = app.call(Method::GET, "/simulations/demo-tae", None).await;
    let page = String::from_utf8(page).unwrap();
    let start = page.find("/assets/plotly-").expect("plotly is linked");
    let plotly = &page[start..start + page[start..].find('"').unwrap()];
    let fetch = |uri: String, encoding: Option<&'static str>| {
        let state = app.state.clone();
        async move {
            let mut request = Request::get(uri);
            if let Some(e) = encoding {
                request = request.header("accept-encoding", e);
            }
            let response = router(state).oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
            let headers = response.headers().clone();
            (headers, to_bytes(response.into_body(), usize::MAX).await.unwrap().to_vec())
        }
    };
    let (plain_headers, plain) = fetch(plotly.to_string(), None).await;
    assert!(plain_headers.get("content-encoding").is_none());
    let (br_headers, br) = fetch(plotly.to_string(), Some("br")).await;
    assert_eq!(br_headers["content-encoding"], "br");
    assert!(br_headers["cache-control"].to_str().unwrap().contains("immutable"));
    assert!(br.len() * 2 < plain.len(), "plotly: {} bytes in brotli, {} plain", br.len(), plain.len());
    let (gz_headers, gz) = fetch("/simulations/demo-tae".to_string(), Some("gzip")).await;
    assert_eq!(gz_headers["content-encoding"], "gzip");
    let mut decoded = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut decoded).unwrap();
    assert!(decoded.contains("/assets/plotly-") && decoded.len() > gz.len(), "the page, decoded");
    let (api_headers, _) = fetch("/api/v1/simulations/demo-tae/results".to_string(), Some("gzip")).await;
    assert_eq!(api_headers["content-encoding"], "gzip", "the JSON API too");
    // A download is a file, saved as the server wrote it.
    let (download, csv) =
        fetch("/api/v1/datasets/demo-trial/tables/visits/download?format=csv".to_string(), Some("gzip, br")).await;
    assert!(download.contains_key("content-disposition"), "{download:?}");
    assert!(download.get("content-encoding").is_none() && csv.starts_with(b"patient_id"), "{download:?}");
}

/// An empty store's pages say what to do on the page: upload, run a simulation; never a command,
/// and never two messages where one is true.
#[tokio::test]
async fn an_empty_store_points_to_the_pages_that_fill_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(&dir.path().join("store"), Settings::default()).unwrap();
    let state = AppState::new(store);
    let page = |uri: &'static str| {
        let state = state.clone();
        async move {
            let response = router(state).oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
            String::from_utf8(to_bytes(response.into_body(), usize::MAX).await.unwrap().to_vec()).unwrap()
        }
    };
    let home = page("/").await;
    assert!(home.contains(r#"<a href="/upload">Upload files</a>"#) && !home.contains("cohort ingest"), "{home}");
    let compare = page("/compare").await;
    assert!(compare.contains("There are no simulation runs yet"), "{compare}");
    assert!(!compare.contains("Choose two or more runs"), "one message, the true one");
    let query = page("/query").await;
    assert!(query.contains("there is no dataset yet") && !query.contains("demo-trial"), "{query}");
}

/// What a user opening an Excel download sees: dates are dates, times are times, numbers are
/// numbers, and a value Excel cannot hold exactly (a 20-digit identifier, a date in 1850) is its
/// exact text rather than something near it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excel_downloads_hold_dates_as_dates_and_never_round_a_value() {
    use calamine::{Data, Reader};
    let app = app();
    let dir = tempfile::tempdir().unwrap();
    let parquet = dir.path().join("labs.parquet");
    // Typed columns, as a Parquet file or a statistics package brings them.
    duckdb::Connection::open_in_memory()
        .unwrap()
        .execute_batch(&format!(
            "COPY (SELECT * FROM (VALUES
               (1, DATE '2024-02-29', TIMESTAMP '2024-02-29 08:15:30', 12345678901234567891::DECIMAL(38,0),
                12.50::DECIMAL(4,2), 9007199254740993::BIGINT, TIME '08:15:30', 'a'),
               (2, DATE '1850-06-01', TIMESTAMP '2024-03-01 23:59:59.250', 42::DECIMAL(38,0),
                0.10::DECIMAL(4,2), 7::BIGINT, TIME '23:59:59.5', 'b'),
               (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL))
             AS t(id, drawn_on, drawn_at, big_id, dose, count_big, drawn_time, label)) TO '{}' (FORMAT parquet)",
            parquet.display()
        ))
        .unwrap();
    ingest(&app.store, "labs", &parquet);
    let version = app.store.resolve(&cohort_store::VersionRef::parse("labs").unwrap()).unwrap();
    let types: Vec<String> = version.table("labs").unwrap().columns.iter().map(|c| c.sql_type.clone()).collect();
    assert_eq!(
        types,
        ["INTEGER", "DATE", "TIMESTAMP", "DECIMAL(38,0)", "DECIMAL(4,2)", "BIGINT", "TIME", "VARCHAR"],
        "the test's premise: {types:?}"
    );

    let (status, bytes, name) = app.download("/api/v1/datasets/labs/tables/labs/download?format=xlsx&sort=id").await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(name, "labs-v1-labs.xlsx");
    let mut workbook: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
    let sheet = workbook.worksheet_range_at(0).unwrap().unwrap();
    let rows: Vec<&[Data]> = sheet.rows().collect();
    assert_eq!(rows.len(), 4, "a header and three rows");
    // A date cell holds Excel's serial number: days since 1899-12-30, the time a fraction of one.
    let date = |cell: &Data| match cell {
        Data::DateTime(d) => {
            let days = d.as_f64().floor();
            let day = jiff::civil::date(1899, 12, 30).checked_add(jiff::Span::new().days(days as i64)).unwrap();
            let millis = ((d.as_f64() - days) * 86_400_000.0).round() as i64;
            let at = day.to_datetime(jiff::civil::Time::midnight()).checked_add(jiff::Span::new().milliseconds(millis));
            Some(at.unwrap().strftime("%Y-%m-%d %H:%M:%S%.f").to_string())
        }
        other => panic!("not a date cell: {other:?}"),
    };
    // Row 1: every value in its own Excel type.
    assert_eq!(rows[1][0], Data::Float(1.0));
    assert_eq!(date(&rows[1][1]).as_deref(), Some("2024-02-29 00:00:00"));
    assert!(matches!(&rows[1][1], Data::DateTime(d) if !d.is_datetime() || d.as_f64().fract() == 0.0));
    assert_eq!(date(&rows[1][2]).as_deref(), Some("2024-02-29 08:15:30"));
    assert_eq!(rows[1][3], Data::String("12345678901234567891".into()), "20 digits are more than a float holds");
    assert_eq!(rows[1][4], Data::Float(12.5));
    assert_eq!(rows[1][5], Data::String("9007199254740993".into()), "2^53 + 1 is not a float");
    assert!(
        matches!(&rows[1][6], Data::DateTime(d) if (d.as_f64() - (8.0 * 3600.0 + 15.0 * 60.0 + 30.0) / 86_400.0).abs() < 1e-9)
    );
    assert_eq!(rows[1][7], Data::String("a".into()));
    // Row 2: before Excel's first date, so text; milliseconds kept.
    assert_eq!(rows[2][1], Data::String("1850-06-01".into()));
    assert_eq!(date(&rows[2][2]).as_deref(), Some("2024-03-01 23:59:59.25"));
    assert_eq!(rows[2][3], Data::Float(42.0));
    assert_eq!(rows[2][4], Data::Float(0.1));
    assert_eq!(rows[2][5], Data::Float(7.0));
    assert_eq!(rows[2][6], Data::String("23:59:59.5".into()), "Excel times here are whole seconds");
    // Row 3: missing values are empty cells.
    assert!(rows[3][1..].iter().all(|c| *c == Data::Empty), "{:?}", rows[3]);
}

/// `rows` rows of `word` in `path` (a CSV named for the table it becomes), ingested as a new version
/// of `wave`.
fn ingest_words(store: &cohort_store::Store, path: &std::path::Path, word: &str, rows: usize) {
    let mut text = String::from("id,word\n");
    for i in 0..rows {
        text.push_str(&format!("{i},{word}\n"));
    }
    std::fs::write(path, text).unwrap();
    ingest(store, "wave", path);
}

/// Ingests the file at `path` as a new version of `name`, as the CLI or an upload would.
fn ingest(store: &cohort_store::Store, name: &str, path: &std::path::Path) {
    let request = cohort_ingest::IngestRequest {
        name: cohort_store::DatasetName::new(name).unwrap(),
        files: vec![path.to_path_buf()],
        description: None,
        tags: None,
        created_by: "test".into(),
        options: Default::default(),
    };
    cohort_ingest::ingest(store, &request, &cohort_store::NoProgress, &cohort_store::CancelToken::default()).unwrap();
}

/// Pages of rows come from warm engines, kept between requests; while readers page through a
/// table, a new version commits, and every page is wholly the one version it names.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn warm_engines_serve_whole_versions_while_a_commit_lands() {
    let app = app();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("words.csv");
    ingest_words(&app.store, &csv, "one", 2_000);
    let (_, first) = app.get("/api/v1/datasets/wave/tables/words/rows?limit=5").await;
    assert_eq!(first["version"], "wave@1", "{first}");
    assert_eq!(app.state.engines.idle_engines(), 1, "the engine is kept for the next request");
    let (_, again) = app.get("/api/v1/datasets/wave/tables/words/rows?limit=5").await;
    assert_eq!(again, first);
    assert_eq!(app.state.engines.idle_engines(), 1, "and used again, not a second one opened");
    assert_eq!(app.state.row_pages.len(), 1, "the page is kept: a version never changes");
    let (_, other) = app.get("/api/v1/datasets/wave/tables/words/rows?limit=5&offset=5").await;
    assert_ne!(other["rows"], first["rows"]);
    assert_eq!(app.state.row_pages.len(), 2, "each page under its own position");
    app.error("/api/v1/datasets/wave/tables/words/rows?filter.nope=1", StatusCode::BAD_REQUEST, "invalid_parameter")
        .await;

    // Eight readers page through the table while version 2 (other words, more rows) commits.
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let state = app.state.clone();
            tokio::spawn(async move {
                let mut pages = Vec::new();
                for _ in 0..15 {
                    let request = Request::builder()
                        .uri("/api/v1/datasets/wave/tables/words/rows?limit=1000&offset=500")
                        .body(Body::empty())
                        .unwrap();
                    let response = router(state.clone()).oneshot(request).await.unwrap();
                    let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
                    pages.push(serde_json::from_slice::<Value>(&body).unwrap());
                }
                pages
            })
        })
        .collect();
    let store = app.store.clone();
    let commit = tokio::task::spawn_blocking(move || ingest_words(&store, &csv, "two", 3_000));
    let mut versions = std::collections::BTreeSet::new();
    for reader in readers {
        for page in reader.await.unwrap() {
            let version = page["version"].as_str().unwrap().to_string();
            let words: std::collections::BTreeSet<&str> =
                page["rows"].as_array().unwrap().iter().map(|r| r["word"].as_str().unwrap()).collect();
            let (total, word) = match version.as_str() {
                "wave@1" => (2_000, "one"),
                "wave@2" => (3_000, "two"),
                other => panic!("a page of {other}: {page}"),
            };
            assert_eq!(page["total"], total, "{version}: its own row count");
            assert_eq!(words.into_iter().collect::<Vec<_>>(), [word], "{version}: its own rows, and only them");
            versions.insert(version);
        }
    }
    commit.await.unwrap();
    let (_, last) = app.get("/api/v1/datasets/wave/tables/words/rows?limit=5").await;
    assert_eq!(last["version"], "wave@2");
    assert!(versions.contains("wave@1"), "readers read while the commit ran: {versions:?}");
    assert!((1..=4).contains(&app.state.engines.idle_engines()), "warm engines are kept, and only a few");
}

/// Paging through a table decodes its selection whole, in the background, once a second page is
/// read; pages are then slices of it. Pages read by query and pages sliced agree, and a sorted
/// table with many equal values gives every row exactly once across its pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_decodes_a_selection_once_and_every_page_agrees() {
    let app = app();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("words.csv");
    let mut text = String::from("id,word\n");
    for i in 0..2_000 {
        text.push_str(&format!("{i},{}\n", ["c", "a", "b"][i % 3]));
    }
    std::fs::write(&csv, text).unwrap();
    ingest(&app.store, "ties", &csv);
    let page_ids = |page: &Value| -> Vec<i64> {
        page["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().and_then(|id| id.parse().ok()).unwrap_or_else(|| panic!("{r}")))
            .collect()
    };
    let read_all = |sorted: bool| {
        let app = &app;
        async move {
            let mut ids = Vec::new();
            for offset in (0..2_000).step_by(100) {
                let sort = if sorted { "&sort=word&order=desc" } else { "" };
                let (status, page) =
                    app.get(&format!("/api/v1/datasets/ties/tables/words/rows?limit=100&offset={offset}{sort}")).await;
                assert_eq!(status, StatusCode::OK, "{page}");
                ids.extend(page_ids(&page));
            }
            ids
        }
    };
    for sorted in [false, true] {
        let by_query = read_all(sorted).await;
        let mut seen = by_query.clone();
        seen.sort();
        assert_eq!(seen, (0..2_000).collect::<Vec<i64>>(), "every row once (sorted: {sorted})");
        if sorted {
            // Words descending; equal words keep the files' order (ids rising).
            let word = |id: i64| ["c", "a", "b"][id as usize % 3];
            assert!(by_query.windows(2).all(|w| word(w[0]) > word(w[1]) || (word(w[0]) == word(w[1]) && w[0] < w[1])));
        }
        let wanted = if sorted { 2 } else { 1 };
        for _ in 0..200 {
            if app.state.selections.decoded() >= wanted {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        assert_eq!(app.state.selections.decoded(), wanted, "the selection is decoded once it is paged");
        assert_eq!(read_all(sorted).await, by_query, "sliced pages are the pages the queries gave");
    }
    let (_, tail) = app.get("/api/v1/datasets/ties/tables/words/rows?limit=100&offset=1950").await;
    assert_eq!(page_ids(&tail), (1_950..2_000).collect::<Vec<i64>>(), "the last page is short");
    let (_, past) = app.get("/api/v1/datasets/ties/tables/words/rows?limit=100&offset=5000").await;
    assert_eq!((past["rows"].as_array().unwrap().len(), &past["total"]), (0, &json!(2_000)));
}

/// A run's results are computed when it commits and kept with the store by its content hash: the
/// first view serves what was kept (a mark put into the kept file shows through a fresh server),
/// and a kept file that cannot be read is computed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runs_results_are_computed_when_it_commits_and_kept() {
    let app = app();
    let (status, task) = app
        .post(
            "/api/v1/simulations",
            json!({"protocol": "aflibercept-tae", "patients": 800, "years": 2, "name": "kept"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{task}");
    let done = app.wait_for_task(task["id"].as_u64().unwrap()).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let detail = app.store.detail(&cohort_store::VersionRef::parse("kept").unwrap()).unwrap();
    let path = app.store.layout().derived().join("results").join(format!("{}.json", detail.versions[0].content_hash));
    assert!(path.is_file(), "the results are kept at commit: {}", path.display());
    let kept: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert!(kept["summary"]["patients"].as_i64().unwrap() > 700, "{}", kept["summary"]);

    let (_, served) = app.get("/api/v1/simulations/kept/results").await;
    for part in ["summary", "flow", "vision", "activity", "key_figures", "per_year"] {
        assert_eq!(served[part], kept[part], "{part}");
    }
    let mut marked = kept.clone();
    marked["summary"]["patients"] = json!(123_456_789);
    std::fs::write(&path, serde_json::to_vec(&marked).unwrap()).unwrap();
    let fresh =
        App { _dir: tempfile::tempdir().unwrap(), store: app.store.clone(), state: AppState::new(app.store.clone()) };
    let (_, served) = fresh.get("/api/v1/simulations/kept/results").await;
    assert_eq!(served["summary"]["patients"], 123_456_789, "served from the kept file");

    std::fs::write(&path, b"{ torn").unwrap();
    let fresh =
        App { _dir: tempfile::tempdir().unwrap(), store: app.store.clone(), state: AppState::new(app.store.clone()) };
    let (_, served) = fresh.get("/api/v1/simulations/kept/results").await;
    assert_eq!(served["summary"], kept["summary"], "computed again");
    let rewritten: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(rewritten["summary"], kept["summary"], "and kept again");
}
