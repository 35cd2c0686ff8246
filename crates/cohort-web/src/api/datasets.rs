//! Datasets: list, detail (tables, columns, versions), rows (paginated, sorted, filtered),
//! downloads, and rollback.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use cohort_analysis::dictionary::DictionaryEntry;
use cohort_store::export::{Watch, copy_select};
use cohort_store::name::{quote_ident, quote_literal};
use cohort_store::{
    CancelToken, DatasetDetail, DatasetName, DatasetSummary, Destination, NoProgress, OutputFormat, Session,
    StoreError, TableInfo, VersionRef, table_source,
};
use serde::{Deserialize, Serialize};

use crate::access::Served;
use crate::error::{ApiError, blocking};
use crate::state::{AppState, Row, SelectionKey};
use cohort_auth::Principal;

/// Rows a page of a table may hold at most.
pub const MAX_PAGE_ROWS: u64 = 1_000;

/// `GET /api/v1/datasets`: every dataset the account may see.
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Json<Vec<DatasetSummary>>, ApiError> {
    Ok(Json(list_datasets(&state, &who).await?))
}

/// Every dataset `who` may see, newest change first.
pub async fn list_datasets(state: &AppState, who: &Principal) -> Result<Vec<DatasetSummary>, ApiError> {
    let state = state.clone();
    let who = who.clone();
    blocking(move || {
        let mut all: Vec<DatasetSummary> =
            state.datasets()?.iter().filter(|d| who.may_see(d.name.as_str())).cloned().collect();
        all.sort_by_key(|d| std::cmp::Reverse(d.updated_at));
        Ok(all)
    })
    .await
}

/// `GET /api/v1/datasets/{name}`: tables, columns and versions (`NAME@N` for an older version).
pub async fn detail(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<(Extension<Served>, Json<DatasetDetail>), ApiError> {
    let detail = dataset_detail(&state, &name).await?;
    Ok((Extension(Served::version(&detail.shown, None)), Json((*detail).clone())))
}

/// The detail of `reference` (`NAME` or `NAME@N`).
pub async fn dataset_detail(state: &AppState, reference: &str) -> Result<std::sync::Arc<DatasetDetail>, ApiError> {
    let state = state.clone();
    let reference = VersionRef::parse(reference)?;
    blocking(move || Ok(state.detail(&reference)?)).await
}

/// How to page, sort and filter a table, from the query string.
#[derive(Debug, Clone, Default)]
pub struct RowsQuery {
    /// Rows to skip.
    pub offset: Option<u64>,
    /// Rows to return (at most [`MAX_PAGE_ROWS`]; default 50).
    pub limit: Option<u64>,
    /// Column to sort by.
    pub sort: Option<String>,
    /// `asc` (default) or `desc`.
    pub order: Option<String>,
    /// Filters, `filter.COLUMN=EXPR`: `>5`, `<=3`, `=2`, `!=x`, or text to look for.
    pub filters: Vec<(String, String)>,
}

impl RowsQuery {
    /// Reads the parameters, refusing unknown ones.
    pub fn from_params(mut params: HashMap<String, String>) -> Result<RowsQuery, ApiError> {
        let number = |params: &mut HashMap<String, String>, key: &str| {
            params
                .remove(key)
                .filter(|v| !v.is_empty())
                .map(|v| {
                    v.parse::<u64>().map_err(|_| ApiError::invalid(format!("{key} must be a whole number, not `{v}`")))
                })
                .transpose()
        };
        let offset = number(&mut params, "offset")?;
        let limit = number(&mut params, "limit")?;
        let sort = params.remove("sort").filter(|s| !s.is_empty());
        let order = params.remove("order").filter(|s| !s.is_empty());
        let mut filters = Vec::new();
        let mut unknown = Vec::new();
        for (key, value) in params {
            match key.strip_prefix("filter.") {
                Some(column) => filters.push((column.to_string(), value)),
                None => unknown.push(key),
            }
        }
        if let Some(key) = unknown.first() {
            return Err(ApiError::invalid(format!(
                "unknown parameter `{key}` (use offset, limit, sort, order and filter.COLUMN)"
            )));
        }
        filters.sort();
        Ok(RowsQuery { offset, limit, sort, order, filters })
    }
}

/// A page of rows.
#[derive(Debug, Clone, Serialize)]
pub struct RowsPage {
    /// The table's columns, in order.
    pub columns: Vec<String>,
    /// Their SQL types, in the same order (what a filter on each reads).
    pub types: Vec<String>,
    /// The rows, as objects keyed by column (shared with the page cache).
    pub rows: Arc<Vec<Row>>,
    /// Rows that match the filters.
    pub total: u64,
    /// The first row's position.
    pub offset: u64,
    /// Rows asked for.
    pub limit: u64,
    /// The version read (`NAME@N`).
    pub version: String,
}

/// `GET /api/v1/datasets/{name}/tables/{table}/rows`.
pub async fn rows(
    State(state): State<AppState>,
    Path((name, table)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<(Extension<Served>, Json<RowsPage>), ApiError> {
    let query = RowsQuery::from_params(params)?;
    let page = table_rows(&state, &name, &table, query).await?;
    let served = Served { rows: Some(page.rows.len() as u64), datasets: vec![page.version.clone()], asked: None };
    Ok((Extension(served), Json(page)))
}

/// A page of `reference`'s table `table`.
pub async fn table_rows(
    state: &AppState,
    reference: &str,
    table: &str,
    query: RowsQuery,
) -> Result<RowsPage, ApiError> {
    let store = state.store.clone();
    let app = state.clone();
    let (reference, table) = (VersionRef::parse(reference)?, table.to_string());
    let (page, decode) = state
        .engines
        .run_warm(&state.store, move |conn| {
            let version = app.resolve(&reference)?;
            let _lease = store.lease(&version)?;
            let info = find_table(&version.tables, &reference, &table)?;
            let selection = Selection::parse(info, &query)?;
            let offset = query.offset.unwrap_or(0);
            let limit = query.limit.unwrap_or(50);
            if limit == 0 || limit > MAX_PAGE_ROWS {
                return Err(ApiError::invalid(format!("limit must be 1 to {MAX_PAGE_ROWS}, not {limit}")));
            }
            let source = table_source(&store, info);
            let key = (info.sha256.clone(), selection.where_clause.clone());
            let total = match app.row_counts.get(&key) {
                Some(total) => total,
                None => {
                    let total: i64 = conn
                        .query_row(&format!("SELECT count(*) FROM {source} {}", selection.where_clause), [], |r| {
                            r.get(0)
                        })
                        .map_err(StoreError::sql)?;
                    app.row_counts.keep(key, total.max(0) as u64);
                    total.max(0) as u64
                }
            };
            let selected = (info.sha256.clone(), selection.where_clause.clone(), selection.order_clause.clone());
            let rows_of = |paging: &str| {
                format!(
                    "SELECT to_json(t)::VARCHAR FROM (SELECT * FROM {source} {} {} {paging}) t",
                    selection.where_clause, selection.order_clause
                )
            };
            let page_key =
                (info.sha256.clone(), selection.where_clause.clone(), selection.order_clause.clone(), offset, limit);
            let mut decode = None;
            let rows = if let Some(all) = app.selections.rows(&selected) {
                let start = (offset as usize).min(all.len());
                Arc::new(all[start..(start + limit as usize).min(all.len())].to_vec())
            } else if let Some(rows) = app.row_pages.get(&page_key) {
                rows
            } else {
                // The page's position is a parameter: the warm engine's statement cache then
                // parses and plans a table's page query once, not once a page.
                let mut stmt = conn.prepare_cached(&rows_of("LIMIT ? OFFSET ?")).map_err(StoreError::sql)?;
                let mut bytes = 0;
                let rows = stmt
                    .query_map([limit as i64, offset as i64], |r| r.get::<_, String>(0))
                    .map_err(StoreError::sql)?
                    .map(|r| {
                        let text = r.map_err(StoreError::sql)?;
                        bytes += text.len();
                        row_json(text)
                    })
                    .collect::<Result<Vec<Row>, ApiError>>()?;
                let rows = Arc::new(rows);
                if bytes <= crate::state::MAX_CACHED_ROW_PAGE_BYTES {
                    app.row_pages.keep(page_key, rows.clone());
                }
                if total <= crate::state::MAX_DECODED_ROWS && app.selections.paged(&selected) {
                    decode = Some((selected, rows_of(""), version.clone()));
                }
                rows
            };
            let page = RowsPage {
                version: version.label(),
                columns: info.columns.iter().map(|c| c.name.clone()).collect(),
                types: info.columns.iter().map(|c| c.sql_type.clone()).collect(),
                rows,
                total,
                offset,
                limit,
            };
            Ok((page, decode))
        })
        .await?;
    if let Some((key, sql, version)) = decode {
        tokio::spawn(decode_selection(state.clone(), key, sql, version));
    }
    Ok(page)
}

/// A row's JSON text as [`Row`].
fn row_json(text: String) -> Result<Row, ApiError> {
    serde_json::value::RawValue::from_string(text).map_err(|e| ApiError::internal(format!("a row is not JSON: {e}")))
}

/// Reads every row of a selection (`sql`, over a table of `version`) and keeps them in
/// [`crate::state::Selections`], unless they exceed what one selection may take.
async fn decode_selection(state: AppState, key: SelectionKey, sql: String, version: cohort_store::ResolvedVersion) {
    let store = state.store.clone();
    let app = state.clone();
    let decoded = state
        .engines
        .run_warm(&state.store, move |conn| {
            let _lease = store.lease(&version)?;
            let max_bytes = app.selections.max_bytes();
            let mut stmt = conn.prepare(&sql).map_err(StoreError::sql)?;
            let (mut rows, mut bytes) = (Vec::new(), 0);
            for text in stmt.query_map([], |r| r.get::<_, String>(0)).map_err(StoreError::sql)? {
                let text = text.map_err(StoreError::sql)?;
                bytes += text.len();
                if bytes > max_bytes {
                    return Ok(false);
                }
                rows.push(row_json(text)?);
            }
            app.selections.keep(key, Arc::new(rows), bytes);
            Ok(true)
        })
        .await;
    match decoded {
        Ok(true) => {}
        Ok(false) => tracing::debug!("a selection is too large to keep decoded"),
        Err(e) => tracing::warn!("could not decode a selection of rows: {}", e.message),
    }
}

fn find_table<'a>(tables: &'a [TableInfo], reference: &VersionRef, table: &str) -> Result<&'a TableInfo, ApiError> {
    tables.iter().find(|t| t.name == table).ok_or_else(|| {
        StoreError::TableNotFound {
            dataset: reference.to_string(),
            table: table.to_string(),
            available: tables.iter().map(|t| t.name.clone()).collect(),
        }
        .into()
    })
}

/// The WHERE and ORDER BY of a filtered, sorted view of a table, from request parameters checked
/// against the table's columns (values are quoted as literals, never spliced).
struct Selection {
    where_clause: String,
    order_clause: String,
}

impl Selection {
    fn parse(table: &TableInfo, query: &RowsQuery) -> Result<Selection, ApiError> {
        let column = |name: &str| {
            table.columns.iter().find(|c| c.name == name).ok_or_else(|| {
                let names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
                ApiError::invalid(format!(
                    "table `{}` has no column `{name}` (it has {})",
                    table.name,
                    names.join(", ")
                ))
            })
        };
        let mut conditions = Vec::new();
        for (name, expr) in query.filters.iter().filter(|(_, v)| !v.trim().is_empty()) {
            let col = column(name)?;
            conditions.push(condition(col, expr.trim())?);
        }
        let order_clause = match &query.sort {
            Some(name) => {
                let col = column(name)?;
                let direction = match query.order.as_deref().unwrap_or("asc") {
                    "asc" => "ASC",
                    "desc" => "DESC",
                    other => return Err(ApiError::invalid(format!("order must be asc or desc, not `{other}`"))),
                };
                // Rows of equal values keep their order in the files, so that every page of a
                // sorted table comes from one order (without it, pages could repeat or skip a row).
                format!("ORDER BY {} {direction} NULLS LAST, filename, file_row_number", quote_ident(&col.name))
            }
            None => String::new(),
        };
        let where_clause =
            if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };
        Ok(Selection { where_clause, order_clause })
    }
}

/// What a column's values are, for reading a filter on it.
#[derive(Clone, Copy, PartialEq)]
enum FilterKind {
    Number,
    Date,
    Text,
    Other,
}

fn filter_kind(sql_type: &str) -> FilterKind {
    if cohort_store::model::is_numeric(sql_type) || sql_type.starts_with("DECIMAL") {
        FilterKind::Number
    } else if sql_type == "DATE" || sql_type.starts_with("TIMESTAMP") {
        FilterKind::Date
    } else if sql_type == "VARCHAR" {
        FilterKind::Text
    } else {
        FilterKind::Other
    }
}

/// The condition a filter box's text asks for on `col`: `>5`, `<=3`, `=2`, `!=x`; a range
/// `60..70` or `60-70` (inclusive); on a date, a year `2023` or a month `2023-10` too; on text,
/// anything else is text to look for. A value that cannot be one of the column's is an error
/// that says what would be read, never a silent "no rows".
fn condition(col: &cohort_store::ColumnInfo, expr: &str) -> Result<String, ApiError> {
    let ident = quote_ident(&col.name);
    let kind = filter_kind(&col.sql_type);
    let fits = |value: &str| match kind {
        FilterKind::Number => value.parse::<f64>().is_ok(),
        FilterKind::Date => date_bounds(value).is_some() || value.parse::<jiff::civil::DateTime>().is_ok(),
        FilterKind::Text | FilterKind::Other => true,
    };
    let refuse = |value: &str| {
        let forms = match kind {
            FilterKind::Number => "a number, `>5`, `<=3`, `!=2`, or a range `60..70`",
            _ => {
                "a date `2023-10-01`, a month `2023-10`, a year `2023`, `>2023-01-01`, or a range `2023-01-01..2023-06-30`"
            }
        };
        ApiError::invalid(format!("`{expr}` on `{}`: `{value}` is not a {}; write {forms}", col.name, col.sql_type))
    };
    let typed = |value: &str| format!("CAST({} AS {})", quote_literal(value), col.sql_type);
    if let Some(op) = ["!=", ">=", "<=", "=", ">", "<"].into_iter().find(|op| expr.starts_with(op)) {
        let value = expr[op.len()..].trim();
        if !fits(value) {
            return Err(refuse(value));
        }
        let op = if op == "!=" { "<>" } else { op };
        return Ok(match kind {
            FilterKind::Text | FilterKind::Other => {
                format!("{ident} {op} TRY_CAST({} AS {})", quote_literal(value), col.sql_type)
            }
            _ => format!("{ident} {op} {}", typed(value)),
        });
    }
    if matches!(kind, FilterKind::Number | FilterKind::Date) {
        // A range: `a..b`, or `a-b` between two numbers (a leading minus is a sign).
        let split = expr.split_once("..").filter(|_| !fits(expr)).or_else(|| {
            (kind == FilterKind::Number && !fits(expr))
                .then(|| expr[1..].find('-').map(|i| (&expr[..=i], &expr[i + 2..])))
                .flatten()
        });
        if let Some((low, high)) = split.map(|(l, h)| (l.trim(), h.trim())) {
            for value in [low, high] {
                if !fits(value) {
                    return Err(refuse(value));
                }
            }
            let (from, to) = match kind {
                FilterKind::Date => (
                    date_bounds(low).map_or(low.to_string(), |b| b.0),
                    date_bounds(high).map_or(high.to_string(), |b| b.1),
                ),
                _ => (low.to_string(), high.to_string()),
            };
            return Ok(match kind {
                FilterKind::Date => format!("{ident} >= {} AND {ident} < {}", typed(&from), typed(&to)),
                _ => format!("{ident} BETWEEN {} AND {}", typed(&from), typed(&to)),
            });
        }
        if kind == FilterKind::Date
            && let Some((from, to)) = date_bounds(expr)
        {
            return Ok(format!("{ident} >= {} AND {ident} < {}", typed(&from), typed(&to)));
        }
        if !fits(expr) {
            return Err(refuse(expr));
        }
        return Ok(format!("{ident} = {}", typed(expr)));
    }
    Ok(match kind {
        FilterKind::Text => format!("{ident} ILIKE {}", quote_literal(&format!("%{}%", escape_like(expr)))),
        _ => format!("CAST({ident} AS VARCHAR) = {}", quote_literal(expr)),
    })
}

/// The first day of `text` (a year `2023`, a month `2023-10` or a day `2023-10-05`) and the day
/// after its last, as ISO dates.
fn date_bounds(text: &str) -> Option<(String, String)> {
    use jiff::ToSpan;
    let parts: Vec<&str> = text.split('-').collect();
    let number = |s: &str, len: usize| {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse::<i16>().ok()).flatten()
    };
    let (start, span) = match parts.as_slice() {
        [y] => (jiff::civil::Date::new(number(y, 4)?, 1, 1).ok()?, 1.year()),
        [y, m] => (jiff::civil::Date::new(number(y, 4)?, number(m, 2)? as i8, 1).ok()?, 1.month()),
        [y, m, d] => (jiff::civil::Date::new(number(y, 4)?, number(m, 2)? as i8, number(d, 2)? as i8).ok()?, 1.day()),
        _ => return None,
    };
    Some((start.to_string(), start.checked_add(span).ok()?.to_string()))
}

/// Makes `%` and `_` in user text literal in an ILIKE pattern (DuckDB's default escape is `\`).
fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// `GET /api/v1/datasets/{name}/tables/{table}/download?format=csv|parquet` with the same
/// filters and sort as `rows`: the whole (filtered) table as a file. It is written by DuckDB
/// under the memory limit to a temporary file in the store, then streamed from disk.
pub async fn download(
    State(state): State<AppState>,
    Path((name, table)): Path<(String, String)>,
    Query(mut params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let format = match params.remove("format").as_deref().unwrap_or("csv") {
        "csv" => Download::Copy(OutputFormat::Csv),
        "parquet" => Download::Copy(OutputFormat::Parquet),
        "xlsx" => Download::Excel,
        other => return Err(ApiError::invalid(format!("format must be csv, parquet or xlsx, not `{other}`"))),
    };
    let query = RowsQuery::from_params(params)?;
    let filters = query.filters.clone();
    let store = state.store.clone();
    let reference = VersionRef::parse(&name)?;
    let dataset = reference.dataset.to_string();
    let table_name = table.clone();
    let app = state.clone();
    let (file, served, version) = state
        .engines
        .run(move || {
            let version = app.resolve(&reference)?;
            let _lease = store.lease(&version)?;
            let info = find_table(&version.tables, &reference, &table_name)?;
            let selection = Selection::parse(info, &query)?;
            let session = Session::new(&store)?;
            let spill = store.layout().spill_dir();
            std::fs::create_dir_all(&spill).map_err(|e| ApiError::from(StoreError::from(e)))?;
            let path = spill.join(format!("download-{}-{}.{}", std::process::id(), unique(), format.extension()));
            let select = format!(
                "SELECT * FROM {} {} {}",
                table_source(&store, info),
                selection.where_clause,
                selection.order_clause
            );
            let rows = match format {
                Download::Copy(format) => {
                    let watch = Watch { progress: &NoProgress, total: info.bytes, cancel: &CancelToken::default() };
                    copy_select(session.connection(), &select, format, &Destination::File(path.clone()), &watch)?
                }
                Download::Excel => {
                    let columns: Vec<(String, String)> =
                        info.columns.iter().map(|c| (c.name.clone(), c.sql_type.clone())).collect();
                    crate::excel::write(session.connection(), &select, &columns, &format!("`{}`", info.name), &path)?
                }
            };
            let served = Served::version(&version, Some(rows));
            let file = std::fs::File::open(&path).map_err(|e| ApiError::from(StoreError::from(e)))?;
            // The open handle keeps the bytes; the name goes now, so nothing is left behind however
            // the download ends.
            let _ = std::fs::remove_file(&path);
            Ok((file, served, version.version))
        })
        .await?;
    let filename = download_name(&dataset, version, &table, &filters, format.extension());
    let content_type = match format {
        Download::Copy(OutputFormat::Parquet) => "application/vnd.apache.parquet",
        Download::Excel => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        Download::Copy(_) => "text/csv; charset=utf-8",
    };
    Ok(attachment(file, &filename, content_type, served))
}

/// A download's file name: the dataset, the version it holds and the table, then the filters, so
/// that a filtered download never takes the whole table's name (`trial-v3-visits.csv`,
/// `trial-v3-visits-where-sex-F-age-60..70.csv`). A name that would grow too long ends in a
/// digest of the filters instead.
fn download_name(dataset: &str, version: u32, table: &str, filters: &[(String, String)], extension: &str) -> String {
    let base = format!("{dataset}-v{version}-{table}");
    let filters: Vec<_> = filters.iter().filter(|(_, v)| !v.trim().is_empty()).collect();
    if filters.is_empty() {
        return format!("{base}.{extension}");
    }
    let words: Vec<String> = filters
        .iter()
        .map(|(column, expr)| {
            let expr = expr
                .trim()
                .replace(">=", "ge")
                .replace("<=", "le")
                .replace("!=", "not")
                .replace('>', "gt")
                .replace('<', "lt");
            format!("{column}-{expr}")
        })
        .collect();
    let safe: String = words
        .join("-")
        .chars()
        .map(|c| if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
        .collect();
    if safe.chars().count() <= 80 {
        return format!("{base}-where-{safe}.{extension}");
    }
    let digest = cohort_store::hash::sha256_bytes(words.join("\n").as_bytes());
    format!("{base}-filtered-{}.{extension}", &digest[..8])
}

/// `file` (already unlinked) streamed as a download called `filename`, with what it served.
pub(crate) fn attachment(file: std::fs::File, filename: &str, content_type: &'static str, served: Served) -> Response {
    let length = file.metadata().map(|m| m.len()).ok();
    let body = Body::from_stream(read_chunks(tokio::fs::File::from_std(file)));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Some(len) = length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    response.extensions_mut().insert(served);
    response
}

/// A download's file format.
#[derive(Debug, Clone, Copy)]
enum Download {
    /// Written by DuckDB's COPY.
    Copy(OutputFormat),
    /// An Excel workbook.
    Excel,
}

impl Download {
    fn extension(self) -> &'static str {
        match self {
            Download::Copy(f) => f.extension(),
            Download::Excel => "xlsx",
        }
    }
}

/// A file as a stream of 256 KiB chunks.
fn read_chunks(file: tokio::fs::File) -> impl futures::Stream<Item = std::io::Result<Vec<u8>>> {
    futures::stream::unfold(Some(file), |file| async move {
        use tokio::io::AsyncReadExt;
        let mut file = file?;
        let mut buf = vec![0u8; 256 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(buf), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}

fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The body of a rollback.
#[derive(Debug, Deserialize)]
pub struct RollbackRequest {
    /// The version to make current.
    pub version: u32,
}

/// `POST /api/v1/datasets/{name}/rollback` with `{"version": N}`: makes version N current again.
pub async fn rollback(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(request): Json<RollbackRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let store = state.store.clone();
    let dataset = DatasetName::new(&name)?;
    let previous = blocking(move || Ok(store.rollback(&dataset, request.version)?)).await?;
    Ok(Json(serde_json::json!({"dataset": name, "current_version": request.version, "previous_version": previous})))
}

/// `GET /api/v1/datasets/{name}/tables/{table}/dictionary`: every column's type, role, label,
/// completeness, distinct values and range.
pub async fn dictionary(
    State(state): State<AppState>,
    Path((name, table)): Path<(String, String)>,
) -> Result<Json<Vec<DictionaryEntry>>, ApiError> {
    Ok(Json((*table_dictionary(&state, &name, &table).await?).clone()))
}

/// The data dictionary of `reference`'s table `table` (computed once per table content).
pub async fn table_dictionary(
    state: &AppState,
    reference: &str,
    table: &str,
) -> Result<std::sync::Arc<Vec<DictionaryEntry>>, ApiError> {
    let store = state.store.clone();
    let app = state.clone();
    let (reference, table) = (VersionRef::parse(reference)?, table.to_string());
    state
        .engines
        .run(move || {
            let version = app.resolve(&reference)?;
            let info = find_table(&version.tables, &reference, &table)?;
            if let Some(hit) = app.dictionaries.get(&info.sha256) {
                return Ok(hit);
            }
            let session = Session::new(&store)?;
            let entries = std::sync::Arc::new(cohort_analysis::dictionary::table_dictionary(&store, &session, info)?);
            app.dictionaries.keep(info.sha256.clone(), entries.clone());
            Ok(entries)
        })
        .await
}

/// What one column holds, for its summary chart.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ColumnSummary {
    /// Numbers: counts in equal-width bins.
    Numeric {
        /// Bins, lowest first: `(lower edge, upper edge, rows)`.
        bins: Vec<(f64, f64, i64)>,
        /// Rows without a value.
        missing: i64,
    },
    /// Dates and times: counts per month.
    Temporal {
        /// `(month, rows)`, earliest first.
        months: Vec<(String, i64)>,
        /// Rows without a value.
        missing: i64,
    },
    /// Anything else: the most frequent values.
    Categorical {
        /// `(value, rows)`, most frequent first (at most 20).
        values: Vec<(String, i64)>,
        /// Distinct values in all.
        distinct: i64,
        /// Rows without a value.
        missing: i64,
    },
    /// An identifier: its values are not charted, only counted.
    Identifier {
        /// Distinct values.
        distinct: i64,
        /// Rows without a value.
        missing: i64,
    },
}

/// Bins of a numeric column's histogram.
const SUMMARY_BINS: i64 = 20;

/// `GET /api/v1/datasets/{name}/tables/{table}/columns/{column}`: the column's summary chart data.
pub async fn column_summary(
    State(state): State<AppState>,
    Path((name, table, column)): Path<(String, String, String)>,
) -> Result<Json<ColumnSummary>, ApiError> {
    let store = state.store.clone();
    let reference = VersionRef::parse(&name)?;
    let app = state.clone();
    state
        .engines
        .run_warm(&state.store, move |conn| {
            let version = app.resolve(&reference)?;
            let info = find_table(&version.tables, &reference, &table)?;
            let col = info.columns.iter().find(|c| c.name == column).ok_or_else(|| {
                ApiError::not_found("column_not_found", format!("`{reference}.{table}` has no column `{column}`"))
            })?;
            // A table's content never changes under its hash: its columns are summarised once.
            let key = (info.sha256.clone(), col.name.clone());
            if let Some(hit) = app.column_summaries.get(&key) {
                return Ok(Json(hit));
            }
            let _lease = store.lease(&version)?;
            let summary = summarise_column(conn, &table_source(&store, info), col)?;
            app.column_summaries.keep(key, summary.clone());
            Ok(Json(summary))
        })
        .await
}

/// What `col` of the table `source` reads holds: the numbers in bins, the dates by month, the
/// most frequent values, or for an identifier only how many there are.
fn summarise_column(
    conn: &duckdb::Connection,
    source: &str,
    col: &cohort_store::ColumnInfo,
) -> Result<ColumnSummary, ApiError> {
    let c = quote_ident(&col.name);
    let scalar =
        |sql: String| -> Result<i64, ApiError> { Ok(conn.query_row(&sql, [], |r| r.get(0)).map_err(StoreError::sql)?) };
    let pairs = |sql: String| -> Result<Vec<(String, i64)>, ApiError> {
        let mut stmt = conn.prepare(&sql).map_err(StoreError::sql)?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(StoreError::sql)?;
        Ok(rows.collect::<Result<Vec<_>, _>>().map_err(StoreError::sql)?)
    };
    let missing = scalar(format!("SELECT count(*) FILTER (WHERE {c} IS NULL) FROM {source}"))?;
    let t = col.sql_type.as_str();
    let numeric = cohort_store::model::is_numeric(t);
    if col.role.as_deref() == Some("identifier") {
        let distinct = scalar(format!("SELECT count(DISTINCT {c}) FROM {source}"))?;
        return Ok(ColumnSummary::Identifier { distinct, missing });
    }
    if numeric {
        let sql = format!(
            "WITH s AS (SELECT min({c})::DOUBLE AS lo, max({c})::DOUBLE AS hi FROM {source}) \
                 SELECT CASE WHEN hi = lo THEN 0 ELSE least({last}, floor(({c}::DOUBLE - lo) / (hi - lo) * {SUMMARY_BINS}))::BIGINT END AS bin, \
                        any_value(lo), any_value(hi), count(*) \
                 FROM {source}, s WHERE {c} IS NOT NULL GROUP BY bin ORDER BY bin",
            last = SUMMARY_BINS - 1
        );
        let mut stmt = conn.prepare(&sql).map_err(StoreError::sql)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, f64>(1)?, r.get::<_, f64>(2)?, r.get::<_, i64>(3)?)))
            .map_err(StoreError::sql)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::sql)?;
        let bins = rows
            .into_iter()
            .map(|(bin, lo, hi, n)| {
                let width = (hi - lo) / SUMMARY_BINS as f64;
                (lo + bin as f64 * width, lo + (bin + 1) as f64 * width, n)
            })
            .collect();
        return Ok(ColumnSummary::Numeric { bins, missing });
    }
    if t == "DATE" || t.starts_with("TIMESTAMP") {
        let months = pairs(format!(
            "SELECT strftime(date_trunc('month', {c}), '%Y-%m'), count(*) FROM {source} WHERE {c} IS NOT NULL \
                 GROUP BY 1 ORDER BY 1"
        ))?;
        return Ok(ColumnSummary::Temporal { months, missing });
    }
    let values = pairs(format!(
        "SELECT CAST({c} AS VARCHAR), count(*) FROM {source} WHERE {c} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 20"
    ))?;
    let distinct = scalar(format!("SELECT count(DISTINCT {c}) FROM {source}"))?;
    Ok(ColumnSummary::Categorical { values, distinct, missing })
}
