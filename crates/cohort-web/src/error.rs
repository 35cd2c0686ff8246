//! Errors as the API and the pages report them: an HTTP status, a stable machine-readable code,
//! and a message that says what to do.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cohort_store::{ErrorClass, StoreError};
use serde::Serialize;

/// An error answered with a JSON body `{"error": {"code", "message", "hint"}}`.
#[derive(Debug, Clone, Serialize)]
pub struct ApiError {
    /// The HTTP status.
    #[serde(skip)]
    pub status: StatusCode,
    /// Stable, for scripts: `dataset_not_found`, `invalid_parameter`, ...
    pub code: &'static str,
    /// For people.
    pub message: String,
    /// What to do next, when there is something.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl ApiError {
    /// A new error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), hint: None }
    }

    /// A request parameter is missing or malformed (400).
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_parameter", message)
    }

    /// Something that does not exist (404).
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    /// A bug or an unexpected failure (500).
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let (status, code) = match &e {
            StoreError::DatasetNotFound { .. } => (StatusCode::NOT_FOUND, "dataset_not_found"),
            StoreError::VersionNotFound { .. } | StoreError::VersionUnavailable { .. } => {
                (StatusCode::NOT_FOUND, "version_not_found")
            }
            StoreError::NoCurrentVersion { .. } => (StatusCode::NOT_FOUND, "no_current_version"),
            StoreError::TableNotFound { .. } => (StatusCode::NOT_FOUND, "table_not_found"),
            StoreError::InvalidName { .. } => (StatusCode::BAD_REQUEST, "invalid_name"),
            StoreError::Sql { .. } if e.to_string().contains("Out of Memory") => {
                let message = e.to_string();
                return ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "query_too_big", message).with_hint(
                    "the query needs more memory than its share of the server's cap (`--memory-limit`, shared by \
                     `--engine-slots` queries at once): narrow it (fewer rows or columns, no giant string_agg), or \
                     ask an admin for fewer slots or a larger cap",
                );
            }
            StoreError::Sql { .. } => (StatusCode::BAD_REQUEST, "sql_error"),
            StoreError::QueryRefused { .. } => (StatusCode::FORBIDDEN, "query_refused"),
            StoreError::QueryTimeout { .. } => (StatusCode::SERVICE_UNAVAILABLE, "query_timeout"),
            StoreError::KindMismatch { .. } => (StatusCode::CONFLICT, "kind_mismatch"),
            StoreError::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "store_busy"),
            StoreError::Cancelled => (StatusCode::CONFLICT, "cancelled"),
            _ if e.is_disk_full() => (StatusCode::INSUFFICIENT_STORAGE, "disk_full"),
            _ => match e.class() {
                ErrorClass::User => (StatusCode::BAD_REQUEST, "bad_request"),
                ErrorClass::Resource => (StatusCode::SERVICE_UNAVAILABLE, "resource_exhausted"),
                ErrorClass::Integrity => (StatusCode::INTERNAL_SERVER_ERROR, "integrity"),
                ErrorClass::Cancelled => (StatusCode::CONFLICT, "cancelled"),
                ErrorClass::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            },
        };
        ApiError { status, code, message: e.to_string(), hint: web_hint(&e) }
    }
}

impl From<cohort_registry::RegistryError> for ApiError {
    fn from(e: cohort_registry::RegistryError) -> Self {
        use cohort_registry::RegistryError as R;
        let message = e.to_string();
        match e {
            R::Store(e) => e.into(),
            R::Publish(cohort_publish::PublishError::Store(e)) => e.into(),
            R::BadCohortName { .. } => ApiError::invalid(message),
            R::Filter { .. } | R::UnknownColumn { .. } => ApiError::new(StatusCode::BAD_REQUEST, "invalid_filter", message)
                .with_hint("filters read `COLUMN=V1,V2`, `COLUMN!=V`, `COLUMN=FROM..TO` or `has:DOMAIN`"),
            R::NoCohort { .. } => ApiError::not_found("no_such_cohort", message),
            R::NoProfile { .. } => ApiError::not_found("no_registry_profile", message)
                .with_hint("an administrator keeps the registry's profile with `cohort registry NAME --set-profile FILE`"),
            R::Publish(cohort_publish::PublishError::Query { message: why, .. }) if why.contains("Out of Memory") => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "query_too_big", message).with_hint(
                    "the registry's figures need more memory than an engine's share of the server's cap: an admin can \
                     raise `cohort serve --memory-limit` or lower `--engine-slots`",
                )
            }
            R::Publish(cohort_publish::PublishError::Query { .. }) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "figure_failed", message)
            }
            R::BadProfile { .. } | R::Publish(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "registry_profile_mismatch", message).with_hint(
                    "the kept profile no longer fits this version: keep a new one with `cohort registry NAME --set-profile FILE`",
                )
            }
        }
    }
}

/// What a person using the web app can do about `e`, on the page: the store's own hints name
/// command-line commands, which a web user has no use for.
fn web_hint(e: &StoreError) -> Option<String> {
    Some(match e {
        StoreError::DatasetNotFound { similar, .. } if !similar.is_empty() => {
            format!("did you mean {}?", similar.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", "))
        }
        StoreError::DatasetNotFound { .. } => "the Datasets page lists the datasets you can open".into(),
        StoreError::VersionNotFound { dataset, available, .. } => format!(
            "`{dataset}` has versions {}: its page lists them",
            available.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
        ),
        StoreError::VersionUnavailable { .. } => "the dataset's page lists the versions that can be read".into(),
        StoreError::NoCurrentVersion { .. } => {
            "upload the data again, or ask an analyst to make a readable version current on the dataset's page".into()
        }
        StoreError::Busy { .. } => "try again in a moment".into(),
        StoreError::QueryRefused { .. } => "the console runs one read-only SELECT over the datasets".into(),
        StoreError::QueryTimeout { .. } => "narrow the query: filters, fewer joins, fewer rows".into(),
        StoreError::Sql { message } if message.contains("does not exist") => {
            "datasets are schemas: `SELECT * FROM \"<dataset>\".\"<table>\"` (`\"<dataset>@<N>\"` for version N); \
             the Datasets page lists the datasets and each dataset's page its tables"
                .into()
        }
        StoreError::Parquet { .. } | StoreError::Inconsistent(_) => {
            "ask an administrator to check the store's files; nothing was changed".into()
        }
        _ if e.is_disk_full() => "the server's disk is full: ask an administrator; nothing was changed".into(),
        _ => return e.hint().filter(|h| !h.contains("`cohort ")),
    })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, "{}", self.message);
        }
        (self.status, Json(serde_json::json!({ "error": self }))).into_response()
    }
}

/// Runs blocking store work (DuckDB, files) off the async runtime.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| ApiError::internal(format!("a worker failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use cohort_publish::PublishError;
    use cohort_registry::RegistryError;

    use super::*;

    /// A registry figure that ran out of an engine's memory says so and what to do (it was
    /// answered as a profile that no longer fits, with that hint).
    #[test]
    fn registry_errors_say_what_happened() {
        let oom = RegistryError::Publish(PublishError::Query {
            what: "median_gap_days".into(),
            message: "Out of Memory Error: failed to allocate data of size 16.0 MiB".into(),
        });
        let e = ApiError::from(oom);
        assert_eq!((e.status, e.code), (StatusCode::UNPROCESSABLE_ENTITY, "query_too_big"));
        assert!(e.hint.as_deref().unwrap().contains("--memory-limit"));
        let missing = RegistryError::Publish(PublishError::Missing {
            what: "column",
            name: "people.sex".into(),
            dataset: "reg@2".into(),
            available: "id".into(),
        });
        assert_eq!(ApiError::from(missing).code, "registry_profile_mismatch");
        let filter = RegistryError::Filter { filter: "age=x..".into(), why: "not a number".into() };
        assert_eq!(ApiError::from(filter).status, StatusCode::BAD_REQUEST);
    }
}
