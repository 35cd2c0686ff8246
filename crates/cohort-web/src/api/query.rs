//! The SQL console: one read-only SELECT over the store, a page at a time, and its history.

use axum::Json;
use axum::extract::{Extension, Query, State};
use cohort_auth::{Principal, Role};
use cohort_store::console::{HistoryEntry, Reader, export_console, history, run_console};
use cohort_store::export::{Watch, copy_select};
use cohort_store::{CancelToken, Destination, NoProgress, OutputFormat, StoreError};
use serde::{Deserialize, Serialize};

use crate::access::Served;
use crate::error::{ApiError, blocking};
use crate::state::AppState;

/// How long a console query may run.
pub const TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Rows a console page may hold at most.
pub const MAX_PAGE_ROWS: u64 = 1_000;

/// A console query.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    /// The SQL: one SELECT; datasets are schemas (`"trial"."visits"`, `"trial@2"."visits"`).
    pub sql: String,
    /// Rows to skip.
    #[serde(default)]
    pub offset: u64,
    /// Rows to return (default 100, at most 1000).
    pub limit: Option<u64>,
}

/// A page of a console query's result.
#[derive(Debug, Clone, Serialize)]
pub struct QueryPage {
    /// Result columns.
    pub columns: Vec<String>,
    /// The page's rows, as objects keyed by column.
    pub rows: Vec<serde_json::Value>,
    /// Rows in the whole result.
    pub total: u64,
    /// First row's position.
    pub offset: u64,
    /// Rows asked for.
    pub limit: u64,
    /// Seconds the query took.
    pub seconds: f64,
    /// Dataset versions read (`NAME@N`).
    pub datasets: Vec<String>,
}

/// `POST /api/v1/query`.
pub async fn run(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Json(request): Json<QueryRequest>,
) -> Result<(Extension<Served>, Json<QueryPage>), ApiError> {
    let limit = request.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_PAGE_ROWS {
        return Err(ApiError::invalid(format!("limit must be 1 to {MAX_PAGE_ROWS}, not {limit}")));
    }
    let store = state.store.clone();
    state
        .engines
        .run(move || {
            let may_read = |name: &str| who.may_see(name);
            let by = format!("web:{}", who.user);
            let cohorts = |session: &mut cohort_store::Session| saved_cohorts(session, &store, &request.sql, &may_read);
            let reader = Reader { may_read: &may_read, mounts: &cohorts };
            let result = run_console(&store, &request.sql, request.offset, limit, TIME_LIMIT, &by, &reader)?;
            let rows = result
                .rows
                .iter()
                .map(|r| serde_json::from_str(r).map_err(|e| ApiError::internal(format!("a row is not JSON: {e}"))))
                .collect::<Result<Vec<_>, _>>()?;
            let served = Served {
                rows: Some(rows.len() as u64),
                datasets: result.datasets.clone(),
                asked: Some(request.sql.clone()),
            };
            Ok((
                Extension(served),
                Json(QueryPage {
                    columns: result.columns,
                    rows,
                    total: result.total,
                    offset: result.offset,
                    limit: result.limit,
                    seconds: result.seconds,
                    datasets: result.datasets,
                }),
            ))
        })
        .await
}

/// Mounts the registry cohorts `sql` names (`"registry#cohort"`), as the console's sandbox asks.
fn saved_cohorts(
    session: &mut cohort_store::Session,
    store: &cohort_store::Store,
    sql: &str,
    may_read: &dyn Fn(&str) -> bool,
) -> Result<(), StoreError> {
    cohort_registry::reference::mount_cohorts(session, store, sql, may_read).map(|_| ()).map_err(StoreError::from)
}

/// `GET /api/v1/query/download` parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownloadRequest {
    /// The SQL, as for [`run`].
    pub sql: String,
    /// `csv` (default), `parquet` or `xlsx`.
    pub format: Option<String>,
}

/// `GET /api/v1/query/download?sql=...&format=csv|parquet|xlsx`: the whole result of a console
/// query as a file, under the console's sandbox and time limit, recorded in its history. The file
/// is named for the datasets read and the query (`query-trial-v3-1f2e3d4c.csv`), so that two
/// queries' downloads never take each other's name.
pub async fn download(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(request): Query<DownloadRequest>,
) -> Result<axum::response::Response, ApiError> {
    let (extension, content_type, format) = match request.format.as_deref().unwrap_or("csv") {
        "csv" => ("csv", "text/csv; charset=utf-8", Some(OutputFormat::Csv)),
        "parquet" => ("parquet", "application/vnd.apache.parquet", Some(OutputFormat::Parquet)),
        "xlsx" => ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", None),
        other => return Err(ApiError::invalid(format!("format must be csv, parquet or xlsx, not `{other}`"))),
    };
    let store = state.store.clone();
    let sql = request.sql.clone();
    let (file, datasets) = state
        .engines
        .run(move || {
            let may_read = |name: &str| who.may_see(name);
            let by = format!("web:{}", who.user);
            let cohorts = |session: &mut cohort_store::Session| saved_cohorts(session, &store, &sql, &may_read);
            let reader = Reader { may_read: &may_read, mounts: &cohorts };
            export_console(&store, &sql, TIME_LIMIT, &by, &reader, |export| {
                let path = export.folder.join(format!("result.{extension}"));
                let rows = match format {
                    Some(format) => {
                        let watch = Watch { progress: &NoProgress, total: 0, cancel: &CancelToken::default() };
                        copy_select(
                            export.connection,
                            &export.select,
                            format,
                            &Destination::File(path.clone()),
                            &watch,
                        )?
                    }
                    None => crate::excel::write(
                        export.connection,
                        &export.select,
                        &export.columns,
                        "the query's result",
                        &path,
                    )?,
                };
                let file = std::fs::File::open(&path).map_err(|e| ApiError::from(StoreError::from(e)))?;
                Ok::<_, ApiError>((file, rows))
            })
        })
        .await?;
    let digest = cohort_store::hash::sha256_bytes(request.sql.trim().as_bytes());
    let read: Vec<String> = datasets.iter().map(|d| d.replace('@', "-v")).collect();
    let filename =
        format!("query-{}{}.{extension}", read.iter().map(|d| format!("{d}-")).collect::<String>(), &digest[..8]);
    let served = Served { rows: None, datasets, asked: Some(request.sql) };
    Ok(crate::api::datasets::attachment(file, &filename, content_type, served))
}

/// `?limit=N` for the history.
#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    /// Entries to return (default 100).
    pub limit: Option<usize>,
}

/// `GET /api/v1/query/history`: the newest console runs first.
pub async fn list_history(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(query): Query<HistoryQuery>,
) -> Result<Json<Vec<HistoryEntry>>, ApiError> {
    Ok(Json(query_history(&state, &who, query.limit.unwrap_or(100)).await?))
}

/// The newest `limit` console runs of `who` (of everyone, for an admin): a query's text holds
/// what its author typed (an identifier, a note), which is theirs alone.
pub async fn query_history(state: &AppState, who: &Principal, limit: usize) -> Result<Vec<HistoryEntry>, ApiError> {
    let store = state.store.clone();
    let who = who.clone();
    blocking(move || {
        let own = format!("web:{}", who.user);
        let visible = |e: &HistoryEntry| {
            (who.has(Role::Admin) || e.by == own)
                && e.datasets.iter().all(|d| who.may_see(d.split('@').next().unwrap_or(d)))
        };
        Ok(history(&store, usize::MAX)?.into_iter().filter(visible).take(limit).collect())
    })
    .await
}
