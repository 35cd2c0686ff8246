//! Statistics on a dataset: `POST /api/v1/datasets/{name}/analyses` takes a plan and answers it
//! (the same JSON `cohort analyze --json` prints, byte for byte), `GET` lists the history.

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use cohort_analysis::analyze::ask::Understood;
use cohort_analysis::analyze::{self, Analysis, AnalyzeError, Filter, Plan, history};
use cohort_auth::{Principal, Role};
use cohort_store::{DatasetName, Session};
use serde::Deserialize;

use crate::access::Served;
use crate::error::{ApiError, blocking};
use crate::state::AppState;

/// A plan for the dataset in the path.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisRequest {
    /// The version (default: the current one).
    #[serde(default)]
    pub version: Option<u32>,
    /// The table (needed when the version has several).
    #[serde(default)]
    pub table: Option<String>,
    /// Which rows: all must hold.
    #[serde(default)]
    pub filters: Vec<Filter>,
    /// What to compute.
    pub analysis: Analysis,
    /// 1 - the confidence level (default 0.05).
    #[serde(default)]
    pub alpha: Option<f64>,
    /// Analyse the one-row-per-participant unified view (`table`: its participant table).
    #[serde(default)]
    pub unified: bool,
    /// A saved cohort of the dataset (a registry's): only its participants' rows are analysed.
    #[serde(default)]
    pub cohort: Option<String>,
}

impl From<AnalyzeError> for ApiError {
    fn from(e: AnalyzeError) -> Self {
        match e {
            AnalyzeError::Store(e) => e.into(),
            AnalyzeError::Plan(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_plan", m),
            AnalyzeError::Data(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unsuitable_data", m),
            AnalyzeError::Query(m) => ApiError::internal(format!("reading the rows: {m}")),
            AnalyzeError::TooBig(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "analysis_too_big", m),
        }
    }
}

/// `POST /api/v1/datasets/{name}/analyses`: the answer, with the plan as run, the version and its
/// content hash, the rows used and dropped, the methods and the warnings. Recorded in the
/// history; the same plan on the same version answers from the cache.
pub async fn run(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    Json(request): Json<AnalysisRequest>,
) -> Result<(Extension<Served>, Response), ApiError> {
    let dataset = DatasetName::new(&name)?;
    let version = match request.version {
        Some(v) => format!("{dataset}@{v}"),
        None => dataset.to_string(),
    };
    let plan = Plan {
        dataset: match &request.cohort {
            Some(cohort) => format!("{version}#{cohort}"),
            None => version,
        },
        table: request.table,
        filters: request.filters,
        analysis: request.analysis,
        alpha: request.alpha.unwrap_or(0.05),
        unified: request.unified,
    };
    let store = state.store.clone();
    let by = format!("web:{}", who.user);
    state
        .engines
        .run(move || {
            let session = Session::new(&store)?;
            let reply = analyze::run_recorded(&store, &session, &plan, &by)?;
            // Aggregates leave, not rows; the plan says what was asked of which rows.
            let served = Served { rows: None, datasets: vec![reply.dataset.clone()], asked: Some(plan.canonical()) };
            let response = ([(header::CONTENT_TYPE, "application/json")], reply.json).into_response();
            Ok((Extension(served), response))
        })
        .await
}

/// A question about the dataset in the path.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AskRequest {
    /// The question, in words.
    pub question: String,
    /// The version (default: the current one).
    #[serde(default)]
    pub version: Option<u32>,
    /// The table (needed when the version has several).
    #[serde(default)]
    pub table: Option<String>,
    /// Ask of the one-row-per-participant unified view (`table` is then not given).
    #[serde(default)]
    pub unified: bool,
}

/// Longest question read.
const MAX_QUESTION: usize = 500;

/// `POST /api/v1/datasets/{name}/ask`: the question understood as a plan (with how each word was
/// read), or a question back with the choices that would settle it. Nothing runs: the page shows
/// the plan and posts it to `/analyses`.
pub async fn ask(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(request): Json<AskRequest>,
) -> Result<(Extension<Served>, Json<Understood>), ApiError> {
    if request.question.trim().is_empty() || request.question.len() > MAX_QUESTION {
        return Err(ApiError::invalid(format!("ask a question of 1 to {MAX_QUESTION} characters")));
    }
    let dataset = DatasetName::new(&name)?;
    let reference = match request.version {
        Some(v) => format!("{dataset}@{v}"),
        None => dataset.to_string(),
    };
    let version = {
        let (state, reference) = (state.clone(), reference.clone());
        blocking(move || Ok(state.resolve(&cohort_store::VersionRef::parse(&reference)?)?)).await?
    };
    if request.unified {
        // The view is built for the question (one row per participant, so small), as for a run.
        let (store, question) = (state.store.clone(), request.question.clone());
        let served = Served { rows: None, datasets: vec![version.label()], asked: Some(request.question) };
        return state
            .engines
            .run(move || {
                let session = Session::new(&store)?;
                Ok((Extension(served), Json(analyze::understand_unified(&store, &session, &reference, &question)?)))
            })
            .await;
    }
    let table = analyze::pick_table(&version, request.table.as_deref())?.clone();
    let dictionary = crate::api::datasets::table_dictionary(&state, &reference, &table.name).await?;
    let understood = analyze::understand_with(&reference, &table, &dictionary, &request.question);
    let served = Served { rows: None, datasets: vec![version.label()], asked: Some(request.question.clone()) };
    Ok((Extension(served), Json(understood)))
}

/// `?limit=N` for the history.
#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    /// Entries to return (default 50).
    pub limit: Option<usize>,
}

/// `GET /api/v1/datasets/{name}/analyses`: the analyses of this dataset, newest first; each
/// account sees its own (admins everyone's), as with the console's history.
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    Query(query): Query<HistoryQuery>,
) -> Result<Json<Vec<history::Entry>>, ApiError> {
    let dataset = DatasetName::new(name.split('@').next().unwrap_or(&name))?.to_string();
    let store = state.store.clone();
    let limit = query.limit.unwrap_or(50);
    let entries = blocking(move || {
        let own = format!("web:{}", who.user);
        let visible = |e: &history::Entry| {
            analyze::dataset_name(&e.plan.dataset) == dataset.as_str() && (who.has(Role::Admin) || e.by == own)
        };
        Ok(history::history(&store, limit, visible)?)
    })
    .await?;
    Ok(Json(entries))
}
