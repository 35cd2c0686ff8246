//! Uploads: files streamed to disk one request each (`PUT`, raw body, so the browser can show
//! progress and no multipart parser holds them), with a size limit, then ingested as one dataset
//! version. The files wait in the store's `tmp/<pid>/uploads/<id>/`, which recovery removes if the
//! server dies, which the console cannot read (see `cohort_store::console`), and which goes as
//! soon as the ingest ends, whether it worked or not.

use std::path::PathBuf;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cohort_ingest::{IngestOptions, IngestReport, IngestRequest, ingest};
use cohort_store::{CancelToken, DatasetName, NoProgress, StoreError};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use crate::error::ApiError;
use crate::state::AppState;

/// The largest file an upload accepts by default.
pub const MAX_FILE_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// A new upload.
#[derive(Debug, Serialize)]
pub struct Upload {
    /// Its id, for the file and ingest requests.
    pub id: String,
    /// The largest file it accepts, in bytes.
    pub max_file_bytes: u64,
}

fn upload_dir(state: &AppState, id: &str) -> Result<PathBuf, ApiError> {
    if id.is_empty() || id.len() > 32 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ApiError::not_found("upload_not_found", format!("there is no upload `{id}`")));
    }
    Ok(state.store.layout().spill_dir().join("uploads").join(id))
}

/// `POST /api/v1/uploads`: starts an upload.
pub async fn create(State(state): State<AppState>) -> Result<(StatusCode, Json<Upload>), ApiError> {
    let id = format!("u{}{:x}", std::process::id(), jiff::Timestamp::now().as_nanosecond());
    let dir = upload_dir(&state, &id)?;
    tokio::fs::create_dir_all(&dir).await.map_err(|e| ApiError::from(StoreError::from(e)))?;
    Ok((StatusCode::CREATED, Json(Upload { id, max_file_bytes: state.max_upload_bytes })))
}

/// A file received.
#[derive(Debug, Serialize)]
pub struct Received {
    /// Its name.
    pub file: String,
    /// Its size.
    pub bytes: u64,
}

/// `PUT /api/v1/uploads/{id}/files/{file}`: one file, the raw request body, streamed to disk. A
/// file over the limit is refused as soon as it passes it and nothing of it is kept.
pub async fn put_file(
    State(state): State<AppState>,
    Path((id, file)): Path<(String, String)>,
    body: Body,
) -> Result<Json<Received>, ApiError> {
    let dir = upload_dir(&state, &id)?;
    if !dir.is_dir() {
        return Err(ApiError::not_found("upload_not_found", format!("there is no upload `{id}`")));
    }
    let name_ok = !file.is_empty()
        && file.len() <= 200
        && !file.starts_with('.')
        && file.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | ' ' | '(' | ')'));
    if !name_ok {
        return Err(ApiError::invalid(format!(
            "`{file}` is not a file name cohort accepts (letters, digits, spaces, `.`, `_`, `-`, brackets)"
        )));
    }
    let target = dir.join(&file);
    let partial = dir.join(format!(".{file}.partial"));
    let mut out = tokio::fs::File::create(&partial).await.map_err(|e| ApiError::from(StoreError::from(e)))?;
    let mut stream = body.into_data_stream();
    let mut bytes = 0u64;
    let limit = state.max_upload_bytes;
    let outcome: Result<(), ApiError> = async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| ApiError::invalid(format!("the upload of `{file}` broke off: {e}")))?;
            bytes += chunk.len() as u64;
            if bytes > limit {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "file_too_large",
                    format!("`{file}` is larger than the {limit} bytes an upload accepts"),
                )
                .with_hint("split the file, or ask an administrator to load it on the server"));
            }
            out.write_all(&chunk).await.map_err(|e| ApiError::from(StoreError::from(e)))?;
        }
        out.sync_all().await.map_err(|e| ApiError::from(StoreError::from(e)))?;
        Ok(())
    }
    .await;
    drop(out);
    if let Err(e) = outcome {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(e);
    }
    tokio::fs::rename(&partial, &target).await.map_err(|e| ApiError::from(StoreError::from(e)))?;
    Ok(Json(Received { file, bytes }))
}

/// What to make of an upload's files.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestUpload {
    /// The dataset to create or add a version to.
    pub name: String,
    /// A description for the dataset.
    pub description: Option<String>,
}

/// `POST /api/v1/uploads/{id}/ingest`: ingests every file of the upload as one version of
/// `name` (one table per file) and answers with the ingest report. On any error nothing is
/// committed, and the files go too: participant data does not wait on the server for a retry
/// that may never come (the browser sends them again). Errors name files as uploaded, never
/// where the server kept them.
pub async fn ingest_upload(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(request): Json<IngestUpload>,
) -> Result<Json<IngestReport>, ApiError> {
    let dir = upload_dir(&state, &id)?;
    let name = DatasetName::new(request.name.trim())?;
    let store = state.store.clone();
    state
        .engines
        .run(move || {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map_err(|_| ApiError::not_found("upload_not_found", format!("there is no upload `{id}`")))?
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.file_name().is_some_and(|n| !n.to_string_lossy().starts_with('.')))
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(ApiError::invalid("the upload has no files yet"));
            }
            let request = IngestRequest {
                name,
                files,
                description: request.description,
                tags: None,
                created_by: "web via cohort serve".into(),
                options: IngestOptions::default(),
            };
            let ingested = ingest(&store, &request, &NoProgress, &CancelToken::default());
            let _ = std::fs::remove_dir_all(&dir);
            let mut report = ingested.map_err(|e| ingest_error(e, &dir))?;
            // The report names sources as the client sent them, not as the server stored them.
            for t in &mut report.tables {
                t.source = as_uploaded(&t.source, &dir);
            }
            for d in &mut report.documents {
                d.source = as_uploaded(std::path::Path::new(&d.source), &dir).display().to_string();
            }
            Ok(Json(report))
        })
        .await
}

/// `path` (or `path!entry` inside an archive) as the client named it: without the upload's folder.
fn as_uploaded(path: &std::path::Path, dir: &std::path::Path) -> PathBuf {
    let text = path.to_string_lossy();
    let folder = format!("{}/", dir.display());
    PathBuf::from(text.replace(&folder, ""))
}

fn ingest_error(e: cohort_ingest::IngestError, dir: &std::path::Path) -> ApiError {
    let hint = e.hint().map(|h| h.replace(&format!("{}/", dir.display()), ""));
    let status = match e.class() {
        cohort_store::ErrorClass::User => StatusCode::UNPROCESSABLE_ENTITY,
        cohort_store::ErrorClass::Resource => StatusCode::INSUFFICIENT_STORAGE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let message = e.to_string().replace(&format!("{}/", dir.display()), "");
    let error = ApiError::new(status, "ingest_failed", message);
    match hint {
        Some(h) => error.with_hint(h),
        None => error,
    }
}
