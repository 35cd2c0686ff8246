//! Logging in and out: the form, the session cookies, and their audit records.

use askama::Template;
use axum::Form;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use cohort_audit::{Entry, Outcome};
use cohort_auth::Verdict;
use serde::Deserialize;

use super::{CSRF_COOKIE, ClientAddr, SESSION_COOKIE, actor, cookie, write_audit};
use crate::error::blocking;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    next: String,
    user: String,
    message: Option<String>,
}

/// `?next=/path` on the login page.
#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// The login form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    user: String,
    password: String,
    #[serde(default)]
    next: String,
}

/// Only a path on this server: `//evil.example` and `https://...` go home instead.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => n.to_string(),
        _ => "/".to_string(),
    }
}

fn page(status: StatusCode, next: String, user: String, message: Option<String>) -> Response {
    (status, crate::pages::render(&LoginPage { next, user, message })).into_response()
}

/// `GET /login`.
pub async fn form(State(state): State<AppState>, Query(query): Query<NextQuery>) -> Response {
    if !state.access.accounts.any().unwrap_or(true) {
        return Redirect::to("/").into_response();
    }
    page(StatusCode::OK, safe_next(query.next.as_deref()), String::new(), None)
}

/// `POST /login`: checks the password (slowly, by design), throttled per account and address.
pub async fn submit(
    State(state): State<AppState>,
    Extension(ClientAddr(from)): Extension<ClientAddr>,
    Form(form): Form<LoginForm>,
) -> Response {
    let name = form.user.trim().to_lowercase();
    let next = safe_next(Some(&form.next));
    let attempt = |outcome: Outcome, detail: &str| {
        let mut who = actor(None);
        who.user = name.clone();
        let mut entry = Entry::new(who, "login", outcome);
        entry.from = Some(from.to_string());
        entry.detail = Some(detail.to_string());
        entry
    };
    let refusal = match state.access.throttle.attempt(&name, from) {
        Verdict::Allow => None,
        Verdict::Locked(left) => Some((
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many wrong passwords: this account is locked for {} more minutes.",
                left.as_secs().div_ceil(60)
            ),
            "locked out",
            left,
        )),
        Verdict::TooMany(left) => Some((
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many login attempts from your address: wait {} seconds.", left.as_secs().max(1)),
            "too many attempts from the address",
            left,
        )),
    };
    if let Some((status, message, detail, left)) = refusal {
        if let Err(e) = write_audit(&state, attempt(Outcome::Refused, detail), "/login").await {
            return e.into_response();
        }
        let mut response = page(status, next, name, Some(message));
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(left.as_secs().max(1)));
        return response;
    }
    let accounts = state.access.accounts.clone();
    let (user, password) = (name.clone(), form.password);
    let checked = blocking(move || {
        accounts.check_password(&user, &password).map_err(|e| crate::error::ApiError::internal(e.to_string()))
    })
    .await;
    let principal = match checked {
        Ok(Some(p)) => p,
        Ok(None) => {
            let locked = state.access.throttle.failed(&name);
            let detail = if locked { "wrong name or password; now locked out" } else { "wrong name or password" };
            if let Err(e) = write_audit(&state, attempt(Outcome::Refused, detail), "/login").await {
                return e.into_response();
            }
            return page(StatusCode::UNAUTHORIZED, next, name, Some("Wrong name or password.".into()));
        }
        Err(e) => return e.into_response(),
    };
    state.access.throttle.succeeded(&principal.user);
    if let Err(e) = write_audit(&state, attempt(Outcome::Served, "logged in"), "/login").await {
        return e.into_response();
    }
    let (id, session) = state.access.sessions.start(&principal.user);
    let mut response = Redirect::to(&next).into_response();
    let max_age = state.access.sessions.policy().absolute.as_secs();
    let secure = if state.access.secure_cookies { "; Secure" } else { "" };
    let cookies = [
        format!("{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"),
        format!("{CSRF_COOKIE}={}; Path=/; SameSite=Strict; Max-Age={max_age}{secure}", session.csrf),
    ];
    for c in cookies {
        response.headers_mut().append(header::SET_COOKIE, HeaderValue::from_str(&c).expect("cookie is ASCII"));
    }
    response
}

/// `POST /logout`: ends the session and clears its cookies.
pub async fn logout(
    State(state): State<AppState>,
    Extension(ClientAddr(from)): Extension<ClientAddr>,
    headers: HeaderMap,
) -> Response {
    if let Some(id) = cookie(&headers, SESSION_COOKIE)
        && let Ok(session) = state.access.sessions.check(id)
    {
        state.access.sessions.end(id);
        let mut who = actor(None);
        who.user = session.user;
        who.via = "session".into();
        let mut entry = Entry::new(who, "logout", Outcome::Served);
        entry.from = Some(from.to_string());
        if let Err(e) = write_audit(&state, entry, "/logout").await {
            return e.into_response();
        }
    }
    let mut response = Redirect::to("/login").into_response();
    for name in [SESSION_COOKIE, CSRF_COOKIE] {
        let c = format!("{name}=; Path=/; Max-Age=0; SameSite=Strict");
        response.headers_mut().append(header::SET_COOKIE, HeaderValue::from_str(&c).expect("ASCII"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_server() {
        assert_eq!(safe_next(Some("/datasets/x?table=y")), "/datasets/x?table=y");
        for evil in ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"] {
            assert_eq!(safe_next(Some(evil)), "/", "{evil}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
