//! Static assets: the app's own script and style sheet (in `assets/`), and plotly.js, which comes
//! from a package registry at build time (npm, or the `plotly` crate) and is never committed here. Each is served at a
//! URL that contains its hash, so browsers may cache it for good.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: String,
    url: String,
}

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    [
        ("app.js", "text/javascript; charset=utf-8", include_str!("../assets/app.js").to_string()),
        ("app.css", "text/css; charset=utf-8", include_str!("../assets/app.css").to_string()),
        ("plotly.js", "text/javascript; charset=utf-8", plotly_js()),
    ]
    .into_iter()
    .map(|(name, content_type, body)| {
        let hash = cohort_store::hash::sha256_parts([body.as_str()]);
        let (stem, ext) = name.rsplit_once('.').expect("asset names have an extension");
        let url = format!("/assets/{stem}-{}.{ext}", &hash[..12]);
        Asset { name, content_type, body, url }
    })
    .collect()
});

/// plotly.js: the basic bundle fetched from npm when the crate was built (`build.rs`).
#[cfg(plotly_basic)]
fn plotly_js() -> String {
    include_str!(concat!(env!("OUT_DIR"), "/plotly-basic.min.js")).to_string()
}

/// plotly.js: the full bundle the `plotly` crate embeds, when npm was not available at build time
/// (the crate's offline page sources are plotly.js and then MathJax, which the app does not need).
#[cfg(not(plotly_basic))]
fn plotly_js() -> String {
    let sources = plotly::Plot::offline_js_sources();
    let start = sources.find('>').map(|i| i + 1).unwrap_or(0);
    let end = sources.find("</script>").unwrap_or(sources.len());
    sources[start..end].to_string()
}

/// The versioned URL of asset `name` (`app.js`, `app.css`, `plotly.js`).
pub fn url(name: &str) -> &'static str {
    ASSETS.iter().find(|a| a.name == name).map(|a| a.url.as_str()).unwrap_or("/assets/missing")
}

pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/assets/{file}", get(serve))
}

async fn serve(Path(file): Path<String>) -> Response {
    let path = format!("/assets/{file}");
    match ASSETS.iter().find(|a| a.url == path) {
        Some(asset) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type)),
                (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable")),
            ],
            asset.body.as_str(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
