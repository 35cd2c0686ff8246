//! De-identified exports: a dataset under one of the store's export profiles, as a ZIP of its
//! tables and the profile that made them. A named profile needs the analyst role; `full` (the
//! data as stored) needs admin. Either way the export is audited, with the profile named.

use std::collections::HashMap;
use std::io::Write;

use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use cohort_auth::{Principal, Role};
use cohort_deid::{DeidError, FULL};
use cohort_store::export::{Watch, copy_select};
use cohort_store::{CancelToken, Destination, NoProgress, OutputFormat, StoreError, VersionRef};

use crate::access::Served;
use crate::api::datasets::attachment;
use crate::error::ApiError;
use crate::state::AppState;

impl From<DeidError> for ApiError {
    fn from(e: DeidError) -> Self {
        let message = e.to_string();
        match e {
            DeidError::Store(e) => e.into(),
            DeidError::NotFound { .. } => ApiError::not_found("profile_not_found", message),
            DeidError::Profile { .. } | DeidError::Mismatch { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "profile_invalid", message)
                    .with_hint("an admin can correct the profile in the store's export-profiles/ folder")
            }
            DeidError::Key { .. } | DeidError::Sql(_) => ApiError::internal(message),
        }
    }
}

fn io(e: std::io::Error) -> ApiError {
    ApiError::from(StoreError::from(e))
}

/// `GET /api/v1/datasets/{name}/export?profile=NAME&format=csv|parquet[&cohort=COHORT]`: with
/// `cohort`, a registry's saved cohort (its participants and their visits) is exported.
pub async fn export(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let profile = params.get("profile").cloned().ok_or_else(|| {
        ApiError::invalid("give the export profile: `profile=NAME` (one of the store's export-profiles/)")
    })?;
    // A name, never a path: the profiles an admin put in the store are the only ones on offer.
    if profile.is_empty() || !profile.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(ApiError::invalid(format!("`{profile}` is not a profile name (letters, digits, - and _)")));
    }
    if profile == FULL && who.role < Role::Admin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the `full` profile exports participant data as stored; it needs the admin role",
        )
        .with_hint("ask for a de-identified profile instead, or ask an admin"));
    }
    let format = match params.get("format").map(String::as_str).unwrap_or("csv") {
        "csv" => OutputFormat::Csv,
        "parquet" => OutputFormat::Parquet,
        other => return Err(ApiError::invalid(format!("format must be csv or parquet, not `{other}`"))),
    };
    let reference = VersionRef::parse(&name)?;
    let cohort = params.get("cohort").cloned();
    if let Some(c) = &cohort {
        cohort_registry::check_cohort_name(c)?;
    }
    let app = state.clone();
    let asked = profile.clone();
    let (file, version_label, served) = state
        .engines
        .run(move || {
            let store = &app.store;
            let version = app.resolve(&reference)?;
            let source = cohort_deid::locate(&store.layout().export_profiles_dir(), &asked)?;
            let narrow = |session: &mut cohort_store::Session| -> Result<(), DeidError> {
                let name = cohort.as_deref().expect("narrowed only for a cohort");
                cohort_registry::reference::narrow_to_cohort(session, store, &version, name, "d")
                    .map_err(|e| StoreError::from(e).into())
            };
            let narrowing = cohort.is_some().then_some(&narrow as cohort_deid::Narrow<'_>);
            let export = cohort_deid::prepare_narrowed_export(store, &version, &source, None, narrowing)?;
            let spill = store.layout().spill_dir();
            std::fs::create_dir_all(&spill).map_err(io)?;
            let work = tempfile::Builder::new().prefix("export-").tempdir_in(&spill).map_err(io)?;
            let zip_path = work.path().join("export.zip");
            let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).map_err(io)?);
            let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
            let zipped = |e: zip::result::ZipError| ApiError::internal(format!("writing the ZIP failed: {e}"));
            let mut rows = 0;
            for t in &export.tables {
                let file_name = format!("{}.{}", t.table, format.extension());
                let path = work.path().join(&file_name);
                let watch = Watch { progress: &NoProgress, total: t.bytes, cancel: &CancelToken::default() };
                copy_select(export.session.connection(), &t.select, format, &Destination::File(path.clone()), &watch)?;
                zip.start_file(file_name, options).map_err(zipped)?;
                std::io::copy(&mut std::fs::File::open(&path).map_err(io)?, &mut zip).map_err(io)?;
                std::fs::remove_file(&path).map_err(io)?;
                rows += t.rows;
            }
            if let Some(text) = &export.profile_text {
                zip.start_file("export-profile.yaml", options).map_err(zipped)?;
                zip.write_all(text.as_bytes()).map_err(io)?;
            }
            zip.finish().map_err(zipped)?;
            let file = std::fs::File::open(&zip_path).map_err(io)?;
            // The open handle keeps the bytes; the folder goes with `work`, whatever the download does.
            let mut served = Served::version(&version, Some(rows));
            let of = cohort.as_ref().map(|c| format!("cohort {c}, ")).unwrap_or_default();
            served.asked =
                Some(format!("{of}{}, {} tables, format {}", export.profile, export.tables.len(), format.extension()));
            let stem = match &cohort {
                Some(c) => format!("{}-v{}-{c}", version.dataset, version.version),
                None => format!("{}-v{}", version.dataset, version.version),
            };
            Ok((file, stem, served))
        })
        .await?;
    Ok(attachment(file, &format!("{version_label}-{profile}.zip"), "application/zip", served))
}
