//! Who am I, the accounts, and the audit log (the last two for admins).

use axum::Json;
use axum::extract::{Extension, Query, State};
use cohort_audit::{Filter, Record, Verification};
use cohort_auth::{Principal, TokenInfo};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, blocking};
use crate::state::AppState;

/// `GET /api/v1/me`.
#[derive(Debug, Clone, Serialize)]
pub struct Me {
    /// The account (`local` when the store has no accounts).
    pub user: String,
    /// Its role.
    pub role: String,
    /// How the request proved it: `session`, `token:<id>`, `local`.
    pub via: String,
    /// The datasets the account is limited to, if it is.
    pub datasets: Option<Vec<String>>,
}

/// `GET /api/v1/me`: who the request runs as.
pub async fn me(Extension(who): Extension<Principal>) -> Json<Me> {
    Json(Me {
        user: who.user.clone(),
        role: who.role.to_string(),
        via: who.via.to_string(),
        datasets: who.datasets.map(|d| d.into_iter().collect()),
    })
}

/// An account as listed (no password hash).
#[derive(Debug, Clone, Serialize)]
pub struct Account {
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: String,
    /// When it was made.
    pub created: jiff::Timestamp,
    /// When its password changed.
    pub password_changed: jiff::Timestamp,
    /// Its dataset grants, if limited.
    pub datasets: Option<Vec<String>>,
    /// Its API tokens (without secrets).
    pub tokens: Vec<TokenInfo>,
}

/// Every account.
pub async fn accounts(state: &AppState) -> Result<Vec<Account>, ApiError> {
    let data = state.access.accounts.snapshot().map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(data
        .users
        .iter()
        .map(|u| Account {
            name: u.name.clone(),
            role: u.role.to_string(),
            created: u.created,
            password_changed: u.password_changed,
            datasets: u.datasets.as_ref().map(|d| d.iter().cloned().collect()),
            tokens: data.tokens.iter().filter(|t| t.user == u.name).map(TokenInfo::from).collect(),
        })
        .collect())
}

/// `GET /api/v1/users`.
pub async fn users(State(state): State<AppState>) -> Result<Json<Vec<Account>>, ApiError> {
    Ok(Json(accounts(&state).await?))
}

/// Filters of the audit listing.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only this account's entries.
    pub user: Option<String>,
    /// Only entries about this dataset.
    pub dataset: Option<String>,
    /// Only entries at or after this time (RFC 3339, or a date).
    pub since: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// The newest N (default 200).
    pub limit: Option<usize>,
    /// Only entries older than this sequence number: the next page back.
    pub before: Option<u64>,
}

/// The newest entries that `query` accepts, newest first.
pub async fn audit_entries(state: &AppState, query: AuditQuery) -> Result<Vec<Record>, ApiError> {
    let filter = Filter {
        user: query.user.filter(|s| !s.is_empty()),
        dataset: query.dataset.filter(|s| !s.is_empty()),
        since: query
            .since
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| cohort_audit::parse_since(s).map_err(ApiError::invalid))
            .transpose()?,
        action: query.action.filter(|s| !s.is_empty()),
    };
    let limit = query.limit.unwrap_or(200);
    let before = query.before;
    let log = state.access.audit.log().clone();
    blocking(move || {
        let mut records = log.records(&filter).map_err(|e| ApiError::internal(e.to_string()))?;
        records.retain(|r| before.is_none_or(|b| r.seq < b));
        records.reverse();
        records.truncate(limit);
        Ok(records)
    })
    .await
}

/// `GET /api/v1/audit?user=&dataset=&since=&action=&limit=`.
pub async fn audit(
    State(state): State<AppState>,
    Query(query): Query<AuditQuery>,
) -> Result<Json<Vec<Record>>, ApiError> {
    Ok(Json(audit_entries(&state, query).await?))
}

/// Checks the whole chain.
pub async fn verification(state: &AppState) -> Result<Verification, ApiError> {
    let log = state.access.audit.log().clone();
    blocking(move || log.verify(None).map_err(|e| ApiError::internal(e.to_string()))).await
}

/// `GET /api/v1/audit/verify`.
pub async fn verify(State(state): State<AppState>) -> Result<Json<Verification>, ApiError> {
    Ok(Json(verification(&state).await?))
}
