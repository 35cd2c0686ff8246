//! The HTML pages, rendered on the server from the same functions the API answers with. Their
//! state is in the URL (`?table=visits`, `?runs=a&runs=b`) and the store, so a refresh, the back
//! button or a second tab all show the same thing.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Extension, Path, Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use cohort_auth::Principal;
use cohort_store::{DatasetKind, VersionRef};

use cohort_analysis::dictionary::DictionaryEntry;

use crate::api::datasets::{dataset_detail, list_datasets, table_dictionary};
use crate::api::query::{TIME_LIMIT, query_history};
use crate::api::simulations::{
    InterruptedRun, MAX_WEB_PATIENTS, ProtocolInfo, builtin_protocols, interrupted_runs, run_results_cached,
};
use crate::api::system::{Status, server_status};
use crate::error::ApiError;
use crate::state::AppState;

/// Every page route (method, pattern), for tools that classify requests the way
/// [`crate::access::policy`] does (the audit tests).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/datasets/{name}"),
    ("GET", "/datasets/{name}/analyze"),
    ("GET", "/datasets/{name}/registry"),
    ("GET", "/simulate"),
    ("GET", "/simulations/{name}"),
    ("GET", "/compare"),
    ("GET", "/query"),
    ("GET", "/upload"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("GET", "/admin/users"),
    ("GET", "/admin/audit"),
    ("GET", "/assets/{file}"),
];

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/datasets/{name}", get(dataset))
        .route("/datasets/{name}/analyze", get(analyze))
        .route("/datasets/{name}/registry", get(crate::registry_page::page))
        .route("/simulate", get(simulate))
        .route("/simulations/{name}", get(results))
        .route("/compare", get(compare))
        .route("/query", get(query))
        .route("/upload", get(upload))
        .route("/login", get(crate::access::login::form).post(crate::access::login::submit))
        .route("/logout", axum::routing::post(crate::access::login::logout))
        .route("/admin/users", get(crate::access::pages::users))
        .route("/admin/audit", get(crate::access::pages::audit))
        .fallback(|| async { PageError(ApiError::not_found("no_such_page", "There is no such page.")) })
}

/// An error shown as a page.
pub struct PageError(ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError(e)
    }
}

impl From<cohort_store::StoreError> for PageError {
    fn from(e: cohort_store::StoreError) -> Self {
        PageError(e.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    title: String,
    message: String,
    hint: Option<String>,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let e = self.0;
        let title =
            if e.status == StatusCode::NOT_FOUND { "Not found".into() } else { format!("Error {}", e.status.as_u16()) };
        let page = ErrorPage { title, message: e.message, hint: e.hint };
        (e.status, render(&page)).into_response()
    }
}

pub(crate) fn render(template: &impl Template) -> Html<String> {
    Html(template.render().unwrap_or_else(|e| format!("<h1>The page could not be drawn</h1><p>{e}</p>")))
}

pub(crate) type PageResult = Result<Html<String>, PageError>;

/// `1234567` as `1,234,567`, as every page prints counts.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes for people: `1.2 GB`.
pub(crate) fn size(bytes: u64) -> String {
    let units = ["bytes", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < units.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} bytes") } else { format!("{value:.1} {}", units[unit]) }
}

fn when(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

struct DatasetRow {
    name: String,
    href: String,
    description: Option<String>,
    kind: String,
    tables: u32,
    rows: String,
    size: String,
    versions: u32,
    updated: String,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    status: Status,
    store_size: String,
    memory: String,
    memory_limit: String,
    datasets: Vec<DatasetRow>,
    interrupted: Vec<InterruptedRun>,
    recent: Vec<String>,
}

async fn home(State(state): State<AppState>, Extension(who): Extension<Principal>) -> PageResult {
    let status = server_status(&state, &who).await?;
    let datasets = list_datasets(&state, &who)
        .await?
        .into_iter()
        .map(|d| DatasetRow {
            href: if d.kind == DatasetKind::Simulation {
                format!("/simulations/{}", d.name)
            } else {
                format!("/datasets/{}", d.name)
            },
            name: d.name.to_string(),
            description: d.description,
            kind: d.kind.to_string(),
            tables: d.tables,
            rows: thousands(d.rows),
            size: size(d.bytes),
            versions: d.versions,
            updated: when(d.updated_at),
        })
        .collect();
    let recent = status
        .recent
        .iter()
        .map(|a| match a.version {
            Some(v) => format!("{}: version {v} of {} ({})", when(a.at), a.dataset, a.kind),
            None => format!("{}: {} has no readable version", when(a.at), a.dataset),
        })
        .collect();
    let page = HomePage {
        store_size: size(status.store_bytes),
        memory: status.memory_bytes.map(size).unwrap_or_else(|| "unknown".into()),
        memory_limit: size(status.memory_limit_bytes),
        datasets,
        interrupted: interrupted_runs(&state, &who).await?,
        recent,
        status,
    };
    Ok(render(&page))
}

struct VersionRow {
    version: u32,
    created: String,
    created_by: String,
    rows: String,
    status: String,
    is_current: bool,
}

#[derive(Template)]
#[template(path = "dataset.html")]
struct DatasetPage {
    name: String,
    reference: String,
    kind: String,
    description: Option<String>,
    version: u32,
    is_current: bool,
    rows: String,
    size: String,
    tables: Vec<String>,
    table: String,
    dictionary: std::sync::Arc<Vec<DictionaryEntry>>,
    versions: Vec<VersionRow>,
    /// Whether a registry profile is kept, so the registry dashboard opens.
    registry: bool,
}

/// The table `?table=` names (the first when none), or a 404 that lists the tables.
fn chosen_table(reference: &str, tables: &[String], asked: Option<&String>) -> Result<String, ApiError> {
    match asked {
        Some(t) if tables.contains(t) => Ok(t.clone()),
        Some(t) => Err(ApiError::not_found("table_not_found", format!("`{reference}` has no table `{t}`"))
            .with_hint(format!("its tables: {}", tables.join(", ")))),
        None => Ok(tables.first().cloned().unwrap_or_default()),
    }
}

async fn dataset(
    State(state): State<AppState>,
    Path(reference): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> PageResult {
    let detail = dataset_detail(&state, &reference).await?;
    let tables: Vec<String> = detail.shown.tables.iter().map(|t| t.name.clone()).collect();
    let table = chosen_table(&reference, &tables, params.get("table"))?;
    let dictionary =
        if table.is_empty() { Default::default() } else { table_dictionary(&state, &reference, &table).await? };
    let shown = detail.shown_info();
    let store = state.store.clone();
    let dataset = detail.summary.name.clone();
    let registry = crate::error::blocking(move || Ok(store.registry_profile(&dataset)?.is_some())).await?;
    let page = DatasetPage {
        registry,
        name: detail.summary.name.to_string(),
        reference: VersionRef::parse(&reference)?.to_string(),
        kind: detail.summary.kind.to_string(),
        description: detail.summary.description.clone(),
        version: detail.shown.version,
        is_current: detail.shown.is_current,
        rows: thousands(shown.map(|v| v.rows).unwrap_or(0)),
        size: size(shown.map(|v| v.bytes).unwrap_or(0)),
        tables,
        table,
        dictionary,
        versions: detail
            .versions
            .iter()
            .map(|v| VersionRow {
                version: v.version,
                created: when(v.created_at),
                created_by: v.created_by.clone(),
                rows: thousands(v.rows),
                status: v.status.as_str().to_string(),
                is_current: v.is_current,
            })
            .collect(),
    };
    Ok(render(&page))
}

/// A column as the Analyze page offers it.
struct ColumnChoice {
    name: String,
    label: String,
    sql_type: String,
    /// `number`, `boolean` or `category`: what the page lets it be used for.
    kind: &'static str,
    /// A coded column's labels, separated by `|` (offered as the event's value).
    levels: String,
}

#[derive(Template)]
#[template(path = "analyze.html")]
struct AnalyzePage {
    name: String,
    reference: String,
    version: u32,
    is_current: bool,
    tables: Vec<String>,
    table: String,
    /// Whether the one-row-per-participant unified view is analysed rather than `table`.
    unified: bool,
    columns: Vec<ColumnChoice>,
    /// The dataset's saved cohorts (a registry's), and the one analysed (empty: everyone).
    cohorts: Vec<String>,
    cohort: String,
}

/// The Analyze page: an analysis chosen, its variables picked from the table's columns (labels
/// shown, kinds checked before running), filters; the answer and how it was computed.
async fn analyze(
    State(state): State<AppState>,
    Path(reference): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> PageResult {
    let detail = dataset_detail(&state, &reference).await?;
    let tables: Vec<String> = detail.shown.tables.iter().map(|t| t.name.clone()).collect();
    let table = chosen_table(&reference, &tables, params.get("table"))?;
    let unified = params.get("view").is_some_and(|v| v == "unified") && tables.len() > 1;
    let unified_columns = if unified {
        let (store, reference) = (state.store.clone(), reference.clone());
        let built = state
            .engines
            .run(move || {
                let session = cohort_store::Session::new(&store)?;
                Ok(cohort_analysis::analyze::unified_columns(&store, &session, &reference)?)
            })
            .await?;
        Some(built)
    } else {
        None
    };
    let shown_columns = match &unified_columns {
        Some(columns) => Some(columns.as_slice()),
        None => detail.shown.table(&table).map(|t| t.columns.as_slice()),
    };
    let columns = shown_columns
        .map(|columns| {
            columns
                .iter()
                .map(|c| ColumnChoice {
                    name: c.name.clone(),
                    label: c.label.clone().unwrap_or_default(),
                    sql_type: c.sql_type.clone(),
                    levels: c
                        .value_labels
                        .as_ref()
                        .map(|l| l.values().cloned().collect::<Vec<_>>().join("|"))
                        .unwrap_or_default(),
                    kind: if c.sql_type == "BOOLEAN" {
                        "boolean"
                    } else if cohort_analysis::analyze::frame::reads_as_number(&c.sql_type, c.value_labels.is_some()) {
                        "number"
                    } else {
                        "category"
                    },
                })
                .collect()
        })
        .unwrap_or_default();
    let cohorts: Vec<String> = state.store.saved_cohorts(&detail.summary.name)?.into_iter().map(|c| c.name).collect();
    let cohort = params.get("cohort").cloned().unwrap_or_default();
    if !cohort.is_empty() && !cohorts.contains(&cohort) {
        return Err(crate::error::ApiError::not_found(
            "no_such_cohort",
            format!(
                "{} has no saved cohort `{cohort}` (saved: {})",
                detail.summary.name,
                if cohorts.is_empty() { "none".into() } else { cohorts.join(", ") }
            ),
        )
        .into());
    }
    let page = AnalyzePage {
        cohorts,
        cohort,
        name: detail.summary.name.to_string(),
        reference: VersionRef::parse(&reference)?.to_string(),
        version: detail.shown.version,
        is_current: detail.shown.is_current,
        tables,
        table,
        unified,
        columns,
    };
    Ok(render(&page))
}

#[derive(Template)]
#[template(path = "simulate.html")]
struct SimulatePage {
    protocols: Vec<ProtocolInfo>,
    max_patients: u64,
}

async fn simulate() -> PageResult {
    Ok(render(&SimulatePage { protocols: builtin_protocols()?, max_patients: MAX_WEB_PATIENTS }))
}

#[derive(Template)]
#[template(path = "results.html")]
struct ResultsPage {
    name: String,
    reference: String,
    description: String,
    patients: String,
    visits_per_patient: String,
    injections_per_patient: String,
    vision: String,
    discontinued: String,
    retreatments: String,
    results_json: String,
}

/// JSON safe to place inside a `<script>` element.
pub(crate) fn script_json(value: &serde_json::Value) -> String {
    value.to_string().replace("</", "<\\/").replace("<!--", "<\\!--")
}

async fn results(State(state): State<AppState>, Path(reference): Path<String>) -> Result<Response, PageError> {
    let detail = dataset_detail(&state, &reference).await?;
    // A version never changes, so neither does its page: render it once.
    let shown = detail.shown_info();
    let key = shown.map(|v| format!("results:{reference}:{}", v.content_hash));
    if let Some(page) = key.as_deref().and_then(|k| state.cached_page(k)) {
        return Ok(html_bytes(page));
    }
    let results = run_results_cached(&state, &reference).await?;
    let s = &results["summary"];
    let n = s["patients"].as_f64().unwrap_or(0.0);
    let per = |key: &str| if n > 0.0 { format!("{:.2}", s[key].as_f64().unwrap_or(0.0) / n) } else { "none".into() };
    let page = ResultsPage {
        name: detail.summary.name.to_string(),
        reference: VersionRef::parse(&reference)?.to_string(),
        description: detail.summary.description.clone().unwrap_or_default(),
        patients: thousands(n as u64),
        visits_per_patient: per("visits"),
        injections_per_patient: per("injections"),
        vision: match (s["mean_baseline_vision"].as_f64(), s["mean_final_vision"].as_f64()) {
            (Some(b), Some(f)) => format!("{b:.1} → {f:.1} letters ({:+.1})", f - b),
            _ => "none".into(),
        },
        discontinued: if n > 0.0 {
            format!("{:.1}%", 100.0 * s["discontinued"].as_f64().unwrap_or(0.0) / n)
        } else {
            "none".into()
        },
        retreatments: thousands(s["retreatments"].as_u64().unwrap_or(0)),
        results_json: script_json(&results),
    };
    let page = axum::body::Bytes::from(render(&page).0);
    if let Some(key) = key {
        state.keep_page(key, page.clone());
    }
    Ok(html_bytes(page))
}

fn html_bytes(page: axum::body::Bytes) -> Response {
    ([(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

#[derive(Template)]
#[template(path = "compare.html")]
struct ComparePage {
    simulations: Vec<String>,
    chosen: Vec<String>,
    results_json: String,
}

async fn compare(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    RawQuery(query): RawQuery,
) -> PageResult {
    // `runs` repeats (`?runs=a&runs=b`), which a map would collapse.
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::invalid(format!("the query string is malformed: {e}")))?;
    let chosen: Vec<String> = pairs.into_iter().filter(|(k, v)| k == "runs" && !v.is_empty()).map(|(_, v)| v).collect();
    if let Some(hidden) = chosen.iter().find(|run| !who.may_see(run.split('@').next().unwrap_or(run))) {
        let name = hidden.split('@').next().unwrap_or(hidden).to_string();
        return Err(ApiError::from(cohort_store::StoreError::DatasetNotFound { name, similar: Vec::new() }).into());
    }
    let simulations: Vec<String> = list_datasets(&state, &who)
        .await?
        .into_iter()
        .filter(|d| d.kind == DatasetKind::Simulation)
        .map(|d| d.name.to_string())
        .collect();
    let mut all = Vec::new();
    if chosen.len() >= 2 {
        for run in &chosen {
            all.push((*run_results_cached(&state, run).await?).clone());
        }
    }
    let page = ComparePage { simulations, chosen, results_json: script_json(&serde_json::Value::Array(all)) };
    Ok(render(&page))
}

struct HistoryRow {
    at: String,
    sql: String,
    href: String,
    datasets: String,
    rows: String,
    seconds: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "query.html")]
struct QueryPage {
    sql: String,
    time_limit: u64,
    history: Vec<HistoryRow>,
    /// A table the account can read, for the example (`"trial"."visits"`), if there is one.
    example: Option<(String, String)>,
}

async fn query(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(params): Query<HashMap<String, String>>,
) -> PageResult {
    let history = query_history(&state, &who, 50)
        .await?
        .into_iter()
        .map(|h| HistoryRow {
            at: when(h.at),
            href: format!("/query?{}", serde_urlencoded::to_string([("sql", h.sql.as_str())]).unwrap_or_default()),
            sql: h.sql,
            datasets: h.datasets.join(", "),
            rows: h.rows.map(thousands).unwrap_or_default(),
            seconds: format!("{:.2}", h.seconds),
            error: h.error,
        })
        .collect();
    let sql = params.get("sql").cloned().unwrap_or_default();
    let mut example = None;
    if let Some(first) = list_datasets(&state, &who).await?.into_iter().next() {
        let detail = dataset_detail(&state, first.name.as_str()).await?;
        example = detail.shown.tables.first().map(|t| (first.name.to_string(), t.name.to_string()));
    }
    Ok(render(&QueryPage { sql, time_limit: TIME_LIMIT.as_secs(), history, example }))
}

#[derive(Template)]
#[template(path = "upload.html")]
struct UploadPage {
    max_size: String,
}

async fn upload(State(state): State<AppState>) -> PageResult {
    Ok(render(&UploadPage { max_size: size(state.max_upload_bytes) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(size(999), "999 bytes");
        assert_eq!(size(1_500_000), "1.5 MB");
    }
}
