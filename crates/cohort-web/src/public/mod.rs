//! `cohort serve --public`: the public face of published bundles. It has no store, no accounts
//! and no participant-level data, only bundles that `cohort publish` computed and suppressed, so
//! it may be deployed anywhere. Each bundle's checksum is verified when the server starts: a
//! bundle edited by hand is refused rather than served.
//!
//! The pages and the JSON API mirror each other: `/datasets/NAME` is the dashboard of the bundle
//! that `/api/v1/datasets/NAME` returns as published.

pub(crate) mod view;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cohort_publish::{Bundle, PublishError};
use serde::Serialize;

use crate::error::ApiError;
use crate::pages::{PageError, render};

/// Every route of the public face (method, pattern), for the tests that crawl it.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/datasets/{name}"),
    ("GET", "/api/v1/datasets"),
    ("GET", "/api/v1/datasets/{name}"),
    ("GET", "/assets/{file}"),
];

/// Why the bundles cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum PublicError {
    /// No bundle was given.
    #[error("give at least one bundle: `cohort serve --public NAME-vN.bundle.json` (made by `cohort publish`)")]
    NoBundles,
    /// A bundle cannot be read or was edited.
    #[error(transparent)]
    Bundle(#[from] PublishError),
    /// Two bundles of one dataset.
    #[error(
        "{first} and {second} are both bundles of `{dataset}`; serve one bundle per dataset (the newest is usually the one you want)"
    )]
    Duplicate {
        /// The dataset.
        dataset: String,
        /// One file.
        first: String,
        /// The other.
        second: String,
    },
}

/// The verified bundles a public server answers from. A bundle never changes, so every answer
/// (its JSON, its dashboard, the list and the home page) is made once, when the server starts.
#[derive(Debug, Clone)]
pub struct PublicSite {
    inner: Arc<Answers>,
}

#[derive(Debug)]
struct Answers {
    /// By dataset name: the bundle as published (checksum included) and its dashboard.
    datasets: BTreeMap<String, (Bytes, Bytes)>,
    list: Bytes,
    home: Bytes,
}

impl PublicSite {
    /// Reads and verifies every bundle in `paths`: all of them or none.
    pub fn load(paths: &[PathBuf]) -> Result<PublicSite, PublicError> {
        if paths.is_empty() {
            return Err(PublicError::NoBundles);
        }
        let mut bundles: BTreeMap<String, (Bundle, &PathBuf)> = BTreeMap::new();
        for path in paths {
            let bundle = Bundle::read(path)?;
            if let Some((_, first)) = bundles.get(&bundle.dataset) {
                return Err(PublicError::Duplicate {
                    dataset: bundle.dataset,
                    first: first.display().to_string(),
                    second: path.display().to_string(),
                });
            }
            bundles.insert(bundle.dataset.clone(), (bundle, path));
        }
        let listed: Vec<Listed> = bundles.values().map(|(b, _)| Listed::of(b)).collect();
        let list = serde_json::to_vec(&serde_json::json!({ "datasets": listed })).expect("the list serialises");
        let home = render(&HomePage { datasets: listed }).0;
        let datasets = bundles
            .into_iter()
            .map(|(name, (bundle, _))| {
                let page = render(&view::Dashboard::of(&bundle)).0;
                (name, (Bytes::from(bundle.to_json()), Bytes::from(page)))
            })
            .collect();
        Ok(PublicSite { inner: Arc::new(Answers { datasets, list: list.into(), home: home.into() }) })
    }

    /// The datasets served, in name order.
    pub fn datasets(&self) -> impl Iterator<Item = &str> {
        self.inner.datasets.keys().map(String::as_str)
    }

    fn published(&self, name: &str) -> Result<&(Bytes, Bytes), ApiError> {
        self.inner.datasets.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.datasets().collect();
            ApiError::not_found("dataset_not_found", format!("No published dataset is called `{name}`."))
                .with_hint(format!("This server publishes: {}.", known.join(", ")))
        })
    }
}

/// Every route of the public face.
pub fn router(site: PublicSite) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/datasets/{name}", get(dashboard))
        .route("/api/v1/datasets", get(list))
        .route("/api/v1/datasets/{name}", get(bundle))
        .merge(crate::assets::routes())
        .fallback(|| async { PageError::from(ApiError::not_found("no_such_page", "There is no such page.")) })
        .with_state(site)
}

/// A bundle as the list shows it.
#[derive(Debug, Serialize)]
struct Listed {
    dataset: String,
    version: u32,
    published_at: String,
    cutoff: Option<String>,
    participants: Option<u64>,
    k: u64,
    url: String,
    api_url: String,
}

impl Listed {
    fn of(b: &Bundle) -> Listed {
        Listed {
            dataset: b.dataset.clone(),
            version: b.version,
            published_at: b.published_at.strftime("%Y-%m-%d").to_string(),
            cutoff: b.cutoff.clone(),
            participants: b.participants,
            k: b.k,
            url: format!("/datasets/{}", b.dataset),
            api_url: format!("/api/v1/datasets/{}", b.dataset),
        }
    }
}

fn json(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

fn html(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"))], body).into_response()
}

async fn list(State(site): State<PublicSite>) -> Response {
    json(site.inner.list.clone())
}

/// The bundle exactly as published and verified, checksum included.
async fn bundle(State(site): State<PublicSite>, Path(name): Path<String>) -> Result<Response, ApiError> {
    Ok(json(site.published(&name)?.0.clone()))
}

#[derive(Template)]
#[template(path = "public_home.html")]
struct HomePage {
    datasets: Vec<Listed>,
}

async fn home(State(site): State<PublicSite>) -> Response {
    html(site.inner.home.clone())
}

async fn dashboard(State(site): State<PublicSite>, Path(name): Path<String>) -> Result<Response, PageError> {
    Ok(html(site.published(&name)?.1.clone()))
}
