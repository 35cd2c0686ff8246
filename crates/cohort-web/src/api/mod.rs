//! The JSON API under `/api/v1`, which the pages themselves use. Errors are
//! `{"error": {"code", "message", "hint"}}` with a fitting HTTP status; `openapi.json` describes
//! every route.

pub mod access;
pub mod analyses;
pub mod datasets;
pub mod exports;
pub mod openapi;
pub mod query;
pub mod registry;
pub mod simulations;
pub mod system;
pub mod tasks;
pub mod uploads;

use axum::Router;
use axum::routing::{delete, get, post, put};

use crate::error::ApiError;
use crate::state::AppState;

/// The API's routes, relative to `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi::document))
        .route("/status", get(system::status))
        .route("/datasets", get(datasets::list))
        .route("/datasets/{name}", get(datasets::detail))
        .route("/datasets/{name}/tables/{table}/rows", get(datasets::rows))
        .route("/datasets/{name}/tables/{table}/dictionary", get(datasets::dictionary))
        .route("/datasets/{name}/tables/{table}/columns/{column}", get(datasets::column_summary))
        .route("/datasets/{name}/tables/{table}/download", get(datasets::download))
        .route("/datasets/{name}/export", get(exports::export))
        .route("/datasets/{name}/rollback", post(datasets::rollback))
        .route("/datasets/{name}/analyses", get(analyses::list).post(analyses::run))
        .route("/datasets/{name}/ask", post(analyses::ask))
        .route("/datasets/{name}/registry", get(registry::view))
        .route("/datasets/{name}/registry/cohorts", get(registry::cohorts).post(registry::save))
        .route("/datasets/{name}/registry/cohorts/{cohort}", delete(registry::remove))
        .route("/datasets/{name}/registry/tables/{id}", get(registry::download))
        .route("/protocols", get(simulations::protocols))
        .route("/simulations", post(simulations::start))
        .route("/simulations/estimate", post(simulations::estimate_run))
        .route("/simulations/interrupted", get(simulations::interrupted))
        .route("/simulations/{name}/resume", post(simulations::resume))
        .route("/simulations/{name}/results", get(simulations::results))
        .route("/simulations/{name}/patients/{id}", get(simulations::patient))
        .route("/uploads", post(uploads::create))
        .route("/uploads/{id}/files/{file}", put(uploads::put_file))
        .route("/uploads/{id}/ingest", post(uploads::ingest_upload))
        .route("/query", post(query::run))
        .route("/query/history", get(query::list_history))
        .route("/query/download", get(query::download))
        .route("/me", get(access::me))
        .route("/users", get(access::users))
        .route("/audit", get(access::audit))
        .route("/audit/verify", get(access::verify))
        .route("/tasks", get(tasks::list))
        .route("/tasks/{id}", get(tasks::get))
        .route("/tasks/{id}/events", get(tasks::events))
        .route("/tasks/{id}/cancel", post(tasks::cancel))
        .fallback(|| async {
            ApiError::not_found("no_such_endpoint", "no such API endpoint (see /api/v1/openapi.json)")
        })
}
