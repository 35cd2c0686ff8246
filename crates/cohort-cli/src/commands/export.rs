//! `cohort export`.

use anyhow::bail;
use cohort_deid::ProfileSource;
use cohort_store::export::{Watch, copy_select};
use cohort_store::{Destination, OutputFormat, Session, TableRef};

use super::Context;
use super::query::{destination, format_of_path};
use crate::ExitStatus;
use crate::cli::{ExportArgs, ExportFormat};

pub fn run(ctx: &Context, args: &ExportArgs) -> anyhow::Result<ExitStatus> {
    let store = ctx.open_store()?;
    // `NAME#COHORT[.TABLE]`: a registry's saved cohort.
    let (target, cohort) = match args.target.split_once('#') {
        Some((dataset, rest)) => {
            let (cohort, table) = match rest.split_once('.') {
                Some((cohort, table)) => (cohort, Some(table)),
                None => (rest, None),
            };
            let plain = table.map_or_else(|| dataset.to_string(), |t| format!("{dataset}.{t}"));
            (TableRef::parse(&plain)?, Some(cohort.to_string()))
        }
        None => (TableRef::parse(&args.target)?, None),
    };
    let version = store.resolve(&target.version)?;
    if cohort.is_some() && matches!(args.format, Some(ExportFormat::CohortJson | ExportFormat::CohortFolder)) {
        bail!("a saved cohort exports as CSV, Parquet or JSON tables, not as the legacy JSON its dataset came from");
    }
    let source = match &args.profile {
        Some(spec) => Some(cohort_deid::locate(&store.layout().export_profiles_dir(), spec)?),
        None => None,
    };
    let format = match args.format {
        Some(ExportFormat::CohortJson) if matches!(source, Some(ProfileSource::File { .. })) => {
            bail!("`--format cohort-json` writes a dataset as it is; a de-identified export is CSV, Parquet or JSON")
        }
        Some(ExportFormat::CohortFolder) if matches!(source, Some(ProfileSource::File { .. })) => {
            bail!("`--format cohort-folder` writes a dataset as it is; a de-identified export is CSV, Parquet or JSON")
        }
        Some(ExportFormat::CohortJson) => return legacy_json(ctx, &store, &target, &version, args),
        Some(ExportFormat::CohortFolder) => return legacy_folder(ctx, &store, &target, &version, args),
        Some(ExportFormat::Csv) => OutputFormat::Csv,
        Some(ExportFormat::Parquet) => OutputFormat::Parquet,
        Some(ExportFormat::Json) => OutputFormat::Json,
        None => args.output.as_deref().and_then(format_of_path).unwrap_or(OutputFormat::Csv),
    };
    // No profile is the data as stored, like `--profile full`, and only the log tells them apart.
    let narrow = |session: &mut cohort_store::Session| -> Result<(), cohort_deid::DeidError> {
        let name = cohort.as_deref().expect("narrowed only for a cohort");
        cohort_registry::reference::narrow_to_cohort(session, &store, &version, name, "d")
            .map_err(|e| cohort_store::StoreError::from(e).into())
    };
    let export = cohort_deid::prepare_narrowed_export(
        &store,
        &version,
        source.as_ref().unwrap_or(&ProfileSource::Full),
        target.table.as_ref().map(|t| t.as_str()),
        cohort.is_some().then_some(&narrow as cohort_deid::Narrow<'_>),
    )?;
    let output_dir = args.output.as_ref().filter(|p| p.is_dir());
    if export.tables.len() > 1 && output_dir.is_none() {
        let names: Vec<_> = export.tables.iter().map(|t| format!("{}.{}", args.target, t.table)).collect();
        bail!(
            "`{}` has {} tables: export one ({}) or give `--output DIR` for all",
            args.target,
            export.tables.len(),
            names.join(", ")
        );
    }
    let names: Vec<&str> = export.tables.iter().map(|t| t.table.as_str()).collect();
    let mut detail = format!("format {format:?}, tables {}", names.join(", "));
    if source.is_some() {
        detail = format!("{}, {detail}", export.profile);
    }
    if let Some(cohort) = &cohort {
        detail = format!("cohort {cohort}, {detail}");
    }
    if !export.left_out.is_empty() {
        detail.push_str(&format!("; left out {}", export.left_out.join(", ")));
    }
    record_export(&store, &version, export.tables.iter().map(|t| t.rows).sum(), detail)?;
    let deidentified = match &source {
        Some(ProfileSource::File { name, .. }) => format!(", de-identified under `{name}`"),
        _ => String::new(),
    };
    for t in &export.tables {
        let dest = match output_dir {
            Some(dir) => Destination::File(dir.join(format!("{}.{}", t.table, format.extension()))),
            None => destination(args.output.as_deref(), format)?,
        };
        let bars = ctx.bars();
        let watch = Watch { progress: &bars, total: t.bytes, cancel: ctx.cancel };
        copy_select(export.session.connection(), &t.select, format, &dest, &watch)?;
        if let Destination::File(path) = &dest {
            ctx.note(format!("wrote {} ({} rows{deidentified})", path.display(), t.rows));
        }
    }
    if !export.left_out.is_empty() {
        ctx.note(format!("left out (not in the profile): {}", export.left_out.join(", ")));
    }
    Ok(ExitStatus::Success)
}

/// `--format cohort-json`: a migrated dataset as the legacy JSON it came from.
fn legacy_json(
    ctx: &Context,
    store: &cohort_store::Store,
    target: &TableRef,
    version: &cohort_store::ResolvedVersion,
    args: &ExportArgs,
) -> anyhow::Result<ExitStatus> {
    if target.table.is_some() {
        bail!("`--format cohort-json` writes a whole dataset: give `NAME` or `NAME@N`, not a table");
    }
    let session = Session::new(store)?;
    // The version resolved above, pinned, so that what is recorded is what is written.
    let pinned = cohort_store::VersionRef { dataset: version.dataset.clone(), version: Some(version.version) };
    let document = cohort_migrate::export::legacy_json(store, session.connection(), &pinned)?;
    record_export(store, version, version.tables.iter().map(|t| t.rows).sum(), "format cohort-json".into())?;
    let mut text = serde_json::to_vec_pretty(&document)?;
    text.push(b'\n');
    match &args.output {
        Some(path) => {
            cohort_store::fsutil::write_atomic(path, &text)?;
            ctx.note(format!("wrote {}", path.display()));
        }
        None => {
            use std::io::Write;
            std::io::stdout().write_all(&text)?;
        }
    }
    Ok(ExitStatus::Success)
}

/// `--format cohort-folder`: a dataset migrated from a folder, written back as every file it had.
fn legacy_folder(
    ctx: &Context,
    store: &cohort_store::Store,
    target: &TableRef,
    version: &cohort_store::ResolvedVersion,
    args: &ExportArgs,
) -> anyhow::Result<ExitStatus> {
    if target.table.is_some() {
        bail!("`--format cohort-folder` writes a whole dataset: give `NAME` or `NAME@N`, not a table");
    }
    let Some(dir) = &args.output else {
        bail!("`--format cohort-folder` writes a folder: give `--output DIR` (a new or empty folder)");
    };
    // Its files stay until they are read, whatever `gc` runs meanwhile.
    let _lease = store.lease(version)?;
    // The version resolved above, pinned, so that what is recorded is what is written.
    let pinned = cohort_store::VersionRef { dataset: version.dataset.clone(), version: Some(version.version) };
    let folder = cohort_migrate::export::Folder::rebuild(store, &pinned)?;
    record_export(store, version, version.tables.iter().map(|t| t.rows).sum(), "format cohort-folder".into())?;
    folder.write(dir)?;
    let files = folder.files();
    ctx.note(format!("wrote {} ({} files: {})", dir.display(), files.len(), files.join(", ")));
    Ok(ExitStatus::Success)
}

/// Records an export of `rows` rows of `version` in the audit log, before anything is written.
fn record_export(
    store: &cohort_store::Store,
    version: &cohort_store::ResolvedVersion,
    rows: u64,
    detail: String,
) -> anyhow::Result<()> {
    let mut audited = super::audit::entry("export", cohort_audit::Outcome::Served)
        .asked(std::env::args().collect::<Vec<_>>().join(" "));
    audited.datasets = vec![version.label()];
    audited.rows = Some(rows);
    audited.detail = Some(detail);
    super::audit::record(store, audited)
}
