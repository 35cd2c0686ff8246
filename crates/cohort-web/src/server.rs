//! The HTTP server: routes, middleware, binding, and shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::http::{HeaderValue, header};
use cohort_store::CancelToken;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::public::{self, PublicSite};
use crate::state::AppState;
use crate::{access, api, assets, pages};

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on.
    pub addr: SocketAddr,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A non-loopback address for a store without an admin account.
    #[error(
        "refusing to listen on {0}: this store has no admin account, and without accounts anyone who can reach \
         the address could read participant-level data; create one first with `cohort user add NAME --role admin`, \
         or listen on 127.0.0.1 (the default)"
    )]
    NoAccounts(SocketAddr),
    /// The accounts file cannot be read.
    #[error("cannot read the accounts: {0}")]
    Accounts(String),
    /// The address is taken or not ours.
    #[error("cannot listen on {addr}: {source} (is another server running? choose another --addr)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The server failed while running.
    #[error("the server failed: {0}")]
    Serve(std::io::Error),
}

/// Every route of the app.
pub fn router(state: AppState) -> Router {
    hardened(
        Router::new()
            .merge(pages::routes())
            .nest("/api/v1", api::routes())
            .merge(assets::routes())
            .layer(axum::middleware::from_fn_with_state(state.clone(), access::guard))
            .with_state(state),
    )
}

/// Headers every answer carries, on either face; text and scripts compressed (gzip or brotli,
/// as the browser asks). Never a server-sent event stream, which must flow as it is written, nor
/// a download (`Content-Disposition`), which is a file to be saved as the server wrote it.
fn hardened(router: Router) -> Router {
    use tower_http::compression::predicate::{DefaultPredicate, Predicate};
    let not_a_download =
        |_: axum::http::StatusCode,
         _: axum::http::Version,
         headers: &axum::http::HeaderMap,
         _: &axum::http::Extensions| { !headers.contains_key(header::CONTENT_DISPOSITION) };
    router
        .layer(
            tower_http::compression::CompressionLayer::new().compress_when(DefaultPredicate::new().and(not_a_download)),
        )
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("same-origin"),
        ))
}

/// Serves `state` at `config.addr` until `stop` is cancelled (Ctrl-C) or SIGTERM arrives; `on_ready`
/// gets the bound address (the port may have been 0). Unfinished tasks are cancelled on the way
/// out and stay resumable. Blocks; it runs its own multi-threaded runtime.
pub fn serve(
    state: AppState,
    config: ServeConfig,
    stop: CancelToken,
    on_ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    if !config.addr.ip().is_loopback() {
        let accounts = state.access.accounts.snapshot().map_err(|e| ServeError::Accounts(e.to_string()))?;
        if !accounts.users.iter().any(|u| u.role == cohort_auth::Role::Admin) {
            return Err(ServeError::NoAccounts(config.addr));
        }
    }
    let app = router(state.clone());
    let stopping = Arc::new(AtomicBool::new(false));
    let keeper = keep_views(state.clone(), stopping.clone());
    let tasks = state.clone();
    let served = run(app, config, stop, on_ready, move || tasks.tasks.cancel_all());
    stopping.store(true, Ordering::Release);
    let _ = keeper.join();
    served
}

/// How often the views keeper looks for a changed catalog.
const VIEWS_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// Keeps `datasets.duckdb` up to date in the background: the server's commits leave it behind
/// ([`cohort_store::Settings::views_in_background`]) so that none waits for it, and this thread,
/// when the catalog file has changed, brings it up to date for every dataset changed since, many
/// commits in one update. It catches up once more on the way out.
fn keep_views(state: AppState, stopping: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("views-keeper".into())
        .spawn(move || {
            let store = &state.store;
            let mut seen = None;
            loop {
                let done = stopping.load(Ordering::Acquire);
                let now = Some(state.stamp());
                if now != seen || done {
                    match store.sync_views() {
                        // Syncing changed the catalog and the views file again: look once more.
                        Ok(n) if n > 0 => tracing::debug!(datasets = n, "brought datasets.duckdb up to date"),
                        Ok(_) => seen = now,
                        Err(e) => {
                            tracing::warn!("could not bring datasets.duckdb up to date (will retry): {e}");
                            std::thread::sleep(VIEWS_POLL * 20);
                        }
                    }
                }
                if done {
                    return;
                }
                std::thread::sleep(VIEWS_POLL);
            }
        })
        .expect("a thread for the views keeper")
}

/// Serves the public face of `site` (published bundles, no store) like [`serve`]. Any address
/// is allowed: there is nothing participant-level to protect.
pub fn serve_public(
    site: PublicSite,
    config: ServeConfig,
    stop: CancelToken,
    on_ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    run(public_router(site), config, stop, on_ready, || {})
}

/// Every route of the public face, with the same headers as the app.
pub fn public_router(site: PublicSite) -> Router {
    hardened(public::router(site))
}

fn run(
    app: Router,
    config: ServeConfig,
    stop: CancelToken,
    on_ready: impl FnOnce(SocketAddr),
    on_shutdown: impl FnOnce() + Send + 'static,
) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(ServeError::Serve)?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .map_err(|source| ServeError::Bind { addr: config.addr, source })?;
        let bound = listener.local_addr().map_err(ServeError::Serve)?;
        on_ready(bound);
        let shutdown = async move {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            let terminated = async {
                match term.as_mut() {
                    Some(t) => {
                        t.recv().await;
                    }
                    None => std::future::pending().await,
                }
            };
            let stopped = async {
                while !stop.is_cancelled() {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
            };
            tokio::select! {
                _ = terminated => {}
                _ = stopped => {}
            }
            on_shutdown();
        };
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(ServeError::Serve)
    })
}
