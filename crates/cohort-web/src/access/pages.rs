//! The admin pages: accounts, and the audit log with its verification.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Html;
use cohort_audit::Record;

use crate::api::access::{Account, AuditQuery, accounts, audit_entries, verification};
use crate::pages::PageError;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    accounts: Vec<Account>,
}

/// `GET /admin/users`.
pub async fn users(State(state): State<AppState>) -> Result<Html<String>, PageError> {
    Ok(crate::pages::render(&UsersPage { accounts: accounts(&state).await? }))
}

struct AuditRow {
    seq: u64,
    at: String,
    user: String,
    role: String,
    via: String,
    from: String,
    action: String,
    datasets: String,
    asked: String,
    outcome: &'static str,
    rows: String,
    detail: String,
}

impl From<Record> for AuditRow {
    fn from(r: Record) -> Self {
        let e = r.entry;
        AuditRow {
            seq: r.seq,
            at: r.at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
            user: e.actor.user,
            role: e.actor.role,
            via: e.actor.via,
            from: e.from.unwrap_or_default(),
            action: e.action,
            datasets: e.datasets.join(", "),
            asked: e.asked.unwrap_or_default(),
            outcome: e.outcome.as_str(),
            rows: e.rows.map(crate::pages::thousands).unwrap_or_default(),
            detail: e.detail.unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage {
    filter: AuditQuery,
    rows: Vec<AuditRow>,
    /// The link to the next page back, when this page is full.
    older: Option<String>,
    entries: u64,
    intact: bool,
    problems: Vec<String>,
    head: String,
}

/// Entries on a page of the audit log.
const PAGE: usize = 100;

/// `GET /admin/audit?user=&dataset=&since=&action=&before=`.
pub async fn audit(State(state): State<AppState>, Query(filter): Query<AuditQuery>) -> Result<Html<String>, PageError> {
    let page = filter.limit.unwrap_or(PAGE).min(PAGE);
    let records = audit_entries(&state, AuditQuery { limit: Some(page), ..filter.clone() }).await?;
    let check = verification(&state).await?;
    let older = (records.len() == page).then(|| records.last().map(|r| r.seq)).flatten().map(|seq| {
        let mut query: Vec<(&str, String)> = Vec::new();
        for (key, value) in
            [("user", &filter.user), ("dataset", &filter.dataset), ("action", &filter.action), ("since", &filter.since)]
        {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                query.push((key, v.to_string()));
            }
        }
        query.push(("before", seq.to_string()));
        format!("/admin/audit?{}", serde_urlencoded::to_string(&query).unwrap_or_default())
    });
    Ok(crate::pages::render(&AuditPage {
        older,
        rows: records.into_iter().map(AuditRow::from).collect(),
        entries: check.entries,
        intact: check.is_intact(),
        problems: check
            .problems
            .iter()
            .map(|p| match p.line {
                Some(line) => format!("line {line}: {}", p.message),
                None => p.message.clone(),
            })
            .collect(),
        head: check.last_hash,
        filter,
    }))
}
