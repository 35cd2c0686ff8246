//! Access control in one place: every request passes [`guard`], which finds out who is asking
//! (an API token, a session cookie, or nobody), checks CSRF on anything that changes state,
//! applies the route's [`policy`], the account's dataset grants, and then records the request
//! in the audit log when the route is participant-level or changes something. A request whose
//! record cannot be written is answered with an error instead of its data.

pub mod login;
pub mod pages;
pub mod policy;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{ConnectInfo, MatchedPath, RawPathParams, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use cohort_audit::{Actor, AuditLog, Entry, GroupWriter, Outcome};
use cohort_auth::{Accounts, LoginThrottle, Principal, Session, SessionPolicy, Sessions, ThrottlePolicy, Via};

use crate::error::ApiError;
use crate::pages::PageError;
use crate::state::AppState;
use policy::{Need, Policy};

/// The session cookie (HttpOnly).
pub const SESSION_COOKIE: &str = "cohort_session";
/// The CSRF token cookie, which the pages' script copies into `X-CSRF-Token`.
pub const CSRF_COOKIE: &str = "cohort_csrf";
/// The header a state-changing request of a session carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How sessions and logins behave.
#[derive(Debug, Clone, Copy)]
pub struct AccessConfig {
    /// Session lifetimes.
    pub sessions: SessionPolicy,
    /// Login throttling.
    pub throttle: ThrottlePolicy,
    /// Mark cookies `Secure` (browsers then send them only over HTTPS, and to `localhost`).
    pub secure_cookies: bool,
}

impl Default for AccessConfig {
    fn default() -> Self {
        AccessConfig { sessions: SessionPolicy::default(), throttle: ThrottlePolicy::default(), secure_cookies: true }
    }
}

/// Accounts, sessions, the login throttle and the audit writer of a server.
pub struct Access {
    /// The store's accounts.
    pub accounts: Arc<Accounts>,
    /// Live browser sessions.
    pub sessions: Sessions,
    /// Failed-login counting.
    pub throttle: LoginThrottle,
    /// The audit log's writer.
    pub audit: GroupWriter,
    /// Cookie settings.
    pub secure_cookies: bool,
}

impl Access {
    /// Access control over the accounts in `accounts_dir`, recording to the log in `audit_dir`.
    pub fn new(accounts_dir: &std::path::Path, audit_dir: &std::path::Path, config: AccessConfig) -> Self {
        Access {
            accounts: Arc::new(Accounts::new(accounts_dir)),
            sessions: Sessions::new(config.sessions),
            throttle: LoginThrottle::new(config.throttle),
            audit: GroupWriter::start(Arc::new(AuditLog::new(audit_dir))),
            secure_cookies: config.secure_cookies,
        }
    }
}

/// What a handler tells the audit log about what it served: participant-level rows that left,
/// the dataset versions read (`NAME@N`), and what was asked when the request line does not say
/// (a query's SQL). Handlers attach it to their response as an `Extension`.
#[derive(Debug, Clone, Default)]
pub struct Served {
    /// Rows that left.
    pub rows: Option<u64>,
    /// Dataset versions read.
    pub datasets: Vec<String>,
    /// What was asked, beyond the request line.
    pub asked: Option<String>,
}

impl Served {
    /// `version` was read, and `rows` participant-level rows left.
    pub fn version(version: &cohort_store::ResolvedVersion, rows: Option<u64>) -> Self {
        Served { rows, datasets: vec![version.label()], asked: None }
    }
}

/// The address a request came from (unspecified when the server was not told).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

/// What is known about a request before it runs.
struct Incoming {
    route: Option<String>,
    policy: Policy,
    from: IpAddr,
    asked: String,
    api: bool,
    dataset: Option<String>,
}

/// Who is asking, as far as the request shows.
struct Identity {
    principal: Option<Principal>,
    /// Their session, when they came with one (its CSRF token).
    session: Option<Session>,
    /// Why credentials they presented were not accepted.
    problem: Option<String>,
}

/// The middleware every route passes through.
pub async fn guard(
    State(state): State<AppState>,
    params: Result<RawPathParams, RawPathParamsRejection>,
    mut request: Request,
    next: Next,
) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string());
    let policy = policy::policy(request.method(), route.as_deref());
    let uri = request.uri();
    let r = Incoming {
        // A route without parameters (or no route) rejects the extractor: no dataset then.
        dataset: params.ok().and_then(|p| p.iter().find(|(key, _)| *key == "name").map(|(_, v)| v.to_string())),
        api: uri.path().starts_with("/api/"),
        asked: format!("{} {}", request.method(), uri.path_and_query().map_or(uri.path(), |p| p.as_str())),
        from: client_address(&request),
        policy,
        route,
    };

    let identity = match identify(&state, request.headers()) {
        Ok(identity) => identity,
        Err(e) => return refuse(&state, &r, None, e).await,
    };
    if identity.principal.as_ref().is_some_and(|p| p.via == Via::Local) && !host_is_loopback(request.headers()) {
        let e = ApiError::new(
            StatusCode::FORBIDDEN,
            "not_loopback",
            "this store has no accounts, so it is served only to this machine's loopback address",
        )
        .with_hint("open it at http://127.0.0.1:PORT/, or create an account with `cohort user add NAME --role admin`");
        return refuse(&state, &r, None, e).await;
    }
    let safe = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && let Err(e) = check_csrf(request.headers(), &identity) {
        return refuse(&state, &r, identity.principal.as_ref(), e).await;
    }
    if let Need::Role(need) = r.policy.need {
        match &identity.principal {
            None => {
                if !r.api && safe {
                    let target = format!("/login?next={}", urlencode(r.asked.split_once(' ').map_or("/", |x| x.1)));
                    if r.policy.audit.is_some() {
                        let e = ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", "not logged in");
                        if let Err(e) = record(&state, &r, None, Outcome::Refused, None, Some(e.message)).await {
                            return e.into_response();
                        }
                    }
                    return Redirect::to(&target).into_response();
                }
                let message = identity.problem.clone().unwrap_or_else(|| "log in, or send an API token".into());
                let e = ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
                    .with_hint("send `Authorization: Bearer <token>` (make one with `cohort user token add`)");
                let mut response = refuse(&state, &r, None, e).await;
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return response;
            }
            Some(p) if !p.has(need) => {
                let e = ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    format!("this needs the {need} role; `{}` has {}", p.user, p.role),
                )
                .with_hint("ask an administrator for a role that allows it");
                return refuse(&state, &r, Some(p), e).await;
            }
            Some(_) => {}
        }
    }
    if let (Some(p), Some(reference)) = (&identity.principal, &r.dataset) {
        let name = reference.split('@').next().unwrap_or(reference);
        if !p.may_see(name) {
            // The same answer as for a dataset that does not exist: grants do not reveal names.
            let e =
                ApiError::from(cohort_store::StoreError::DatasetNotFound { name: name.into(), similar: Vec::new() });
            return refuse(&state, &r, Some(p), e).await;
        }
    }

    if let Some(p) = &identity.principal {
        request.extensions_mut().insert(p.clone());
    }
    request.extensions_mut().insert(ClientAddr(r.from));
    let response = next.run(request).await;
    if r.policy.audit.is_none() {
        return response;
    }
    let status = response.status();
    let outcome = if status.is_success() || status.is_redirection() {
        Outcome::Served
    } else if status == StatusCode::FORBIDDEN {
        // A handler's own refusal (the `full` export profile for a non-admin).
        Outcome::Refused
    } else {
        Outcome::Failed
    };
    let served = response.extensions().get::<Served>().cloned();
    let detail = (outcome != Outcome::Served).then(|| format!("HTTP {}", status.as_u16()));
    match record(&state, &r, identity.principal.as_ref(), outcome, served, detail).await {
        Ok(()) => response,
        Err(e) => e.into_response(),
    }
}

/// Answers a refused request, recording it first when the route is audited.
async fn refuse(state: &AppState, r: &Incoming, who: Option<&Principal>, e: ApiError) -> Response {
    if r.policy.audit.is_some()
        && let Err(audit) = record(state, r, who, Outcome::Refused, None, Some(e.message.clone())).await
    {
        return audit.into_response();
    }
    if r.api { e.into_response() } else { PageError::from(e).into_response() }
}

/// Writes the audit record of a request; an error to answer with if it cannot be written.
async fn record(
    state: &AppState,
    r: &Incoming,
    who: Option<&Principal>,
    outcome: Outcome,
    served: Option<Served>,
    detail: Option<String>,
) -> Result<(), ApiError> {
    let Some(action) = r.policy.audit else { return Ok(()) };
    let served = served.unwrap_or_default();
    let mut entry = Entry::new(actor(who), action, outcome).asked(match &served.asked {
        Some(more) => format!("{}\n{more}", r.asked),
        None => r.asked.clone(),
    });
    entry.from = Some(r.from.to_string());
    entry.datasets = if !served.datasets.is_empty() {
        served.datasets
    } else if let Some(reference) = &r.dataset {
        vec![resolved(state, reference, outcome).await]
    } else {
        Vec::new()
    };
    // A HEAD request runs the GET handler, whose body (and rows) the server then drops.
    let headers_only = r.asked.starts_with("HEAD ");
    entry.rows = if outcome == Outcome::Served && !headers_only { served.rows } else { None };
    entry.detail = match (headers_only, detail) {
        (true, None) => Some("HEAD: headers only, no rows sent".into()),
        (_, detail) => detail,
    };
    write_audit(state, entry, r.route.as_deref().unwrap_or("?")).await
}

/// `NAME@N` for a served request that named only `NAME` (the version current now); the name as
/// given otherwise.
async fn resolved(state: &AppState, reference: &str, outcome: Outcome) -> String {
    if outcome != Outcome::Served || reference.contains('@') {
        return reference.to_string();
    }
    let (app, name) = (state.clone(), reference.to_string());
    let detail = tokio::task::spawn_blocking(move || {
        cohort_store::VersionRef::parse(&name).ok().and_then(|r| app.detail(&r).ok())
    })
    .await
    .ok()
    .flatten();
    match detail {
        Some(d) => d.shown.label(),
        None => reference.to_string(),
    }
}

/// Writes `entry`, or the error that must replace the response.
pub(crate) async fn write_audit(state: &AppState, entry: Entry, what: &str) -> Result<(), ApiError> {
    state.access.audit.write(entry).await.map(|_| ()).map_err(|e| {
        tracing::error!(route = what, error = %e, "refusing a request whose audit record cannot be written");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "audit_unavailable",
            format!("the request was not served because its audit record could not be written: {e}"),
        )
        .with_hint("an administrator must repair the audit log before anything more is served")
    })
}

/// The audit log's view of who.
pub(crate) fn actor(who: Option<&Principal>) -> Actor {
    match who {
        Some(p) => Actor { user: p.user.clone(), role: p.role.to_string(), via: p.via.to_string() },
        None => Actor { user: String::new(), role: "public".into(), via: "anonymous".into() },
    }
}

fn identify(state: &AppState, headers: &HeaderMap) -> Result<Identity, ApiError> {
    let access = &state.access;
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let presented = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).map(str::trim);
        return Ok(match presented.map(|t| access.accounts.check_token(t)) {
            Some(Ok(p)) => Identity { principal: Some(p), session: None, problem: None },
            Some(Err(why)) => {
                Identity { principal: None, session: None, problem: Some(format!("the API token was refused: {why}")) }
            }
            None => Identity {
                principal: None,
                session: None,
                problem: Some("the Authorization header must be `Bearer <token>`".into()),
            },
        });
    }
    if let Some(id) = cookie(headers, SESSION_COOKIE) {
        return Ok(match access.sessions.check(id) {
            Ok(session) => match access.accounts.session_principal(&session.user, session.started) {
                Ok(Some(p)) => Identity { principal: Some(p), session: Some(session), problem: None },
                Ok(None) => {
                    access.sessions.end(id);
                    Identity {
                        principal: None,
                        session: None,
                        problem: Some("your account or password changed; log in again".into()),
                    }
                }
                Err(e) => return Err(ApiError::internal(e.to_string())),
            },
            Err(refusal) => Identity { principal: None, session: None, problem: Some(refusal.message().into()) },
        });
    }
    let any = access.accounts.any().map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Identity { principal: (!any).then(Principal::local), session: None, problem: None })
}

/// Refuses a state-changing request from another site, or a session's request without its
/// token. Token-authenticated requests carry no ambient credentials and need no token.
fn check_csrf(headers: &HeaderMap, identity: &Identity) -> Result<(), ApiError> {
    let forged = |why: &str| {
        ApiError::new(StatusCode::FORBIDDEN, "csrf", format!("refused as a possible cross-site request forgery: {why}"))
            .with_hint("reload the page and try again")
    };
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Err(forged(&format!("it came from another site ({site})")));
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
        let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest);
        if origin_host != host {
            return Err(forged(&format!("its origin {origin} is not this server")));
        }
    }
    if let Some(session) = &identity.session {
        let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
        if sent.is_empty() {
            return Err(forged("the X-CSRF-Token header is missing"));
        }
        if !session.csrf_matches(sent) {
            return Err(forged("the X-CSRF-Token header does not match the session"));
        }
    }
    Ok(())
}

/// The value of cookie `name`.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn host_is_loopback(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else { return true };
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn client_address(request: &Request) -> IpAddr {
    request.extensions().get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

pub(crate) fn urlencode(text: &str) -> String {
    serde_urlencoded::to_string([("", text)]).map(|s| s[1..].to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        let mut h = HeaderMap::new();
        for (host, ok) in [
            ("127.0.0.1:8080", true),
            ("localhost:1", true),
            ("[::1]:80", true),
            ("evil.example:8080", false),
            ("10.0.0.2", false),
        ] {
            h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
            assert_eq!(host_is_loopback(&h), ok, "{host}");
        }
    }
}
