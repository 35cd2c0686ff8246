//! `cohort export`.

use anyhow::bail;
use cohort_deid::{ExportProfile, Key, ProfileSource};
use cohort_store::export::{Watch, copy_select};
use cohort_store::{Destination, OutputFormat, Session, StoreError, TableRef, table_source};

use super::Context;
use super::query::{destination, format_of_path};
use crate::ExitStatus;
use crate::cli::{ExportArgs, ExportFormat};

pub fn run(ctx: &Context, args: &ExportArgs) -> anyhow::Result<ExitStatus> {
    let store = ctx.open_store()?;
    let target = TableRef::parse(&args.target)?;
    let version = store.resolve(&target.version)?;
    let profile = match &args.profile {
        Some(spec) => Some(cohort_deid::locate(&store.layout().export_profiles_dir(), spec)?),
        None => None,
    };
    if let Some(ProfileSource::File { name, path }) = &profile {
        if args.format == Some(ExportFormat::CohortJson) {
            bail!("`--format cohort-json` writes a dataset as it is; a de-identified export is CSV, Parquet or JSON");
        }
        return deidentified(ctx, &store, &target, &version, args, name, path);
    }
    let format = match args.format {
        Some(ExportFormat::CohortJson) => return legacy_json(ctx, &store, &target, &version, args),
        Some(ExportFormat::Csv) => OutputFormat::Csv,
        Some(ExportFormat::Parquet) => OutputFormat::Parquet,
        Some(ExportFormat::Json) => OutputFormat::Json,
        None => args.output.as_deref().and_then(format_of_path).unwrap_or(OutputFormat::Csv),
    };
    let tables: Vec<_> = match &target.table {
        Some(name) => vec![version.table(name.as_str()).ok_or_else(|| StoreError::TableNotFound {
            dataset: target.version.to_string(),
            table: name.to_string(),
            available: version.tables.iter().map(|t| t.name.clone()).collect(),
        })?],
        None => version.tables.iter().collect(),
    };
    let session = Session::new(&store)?;
    let output_dir = args.output.as_ref().filter(|p| p.is_dir());
    if tables.len() > 1 && output_dir.is_none() {
        let names: Vec<_> = tables.iter().map(|t| format!("{}.{}", args.target, t.name)).collect();
        bail!(
            "`{}` has {} tables: export one ({}) or give `--output DIR` for all",
            args.target,
            tables.len(),
            names.join(", ")
        );
    }
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let rows = tables.iter().map(|t| t.rows).sum();
    let full = if profile == Some(ProfileSource::Full) { "profile full (as stored), " } else { "" };
    record_export(&store, &version, rows, format!("{full}format {format:?}, tables {}", names.join(", ")))?;
    for t in tables {
        let dest = match output_dir {
            Some(dir) => Destination::File(dir.join(format!("{}.{}", t.name, format.extension()))),
            None => destination(args.output.as_deref(), format)?,
        };
        let bars = ctx.bars();
        let watch = Watch { progress: &bars, total: t.bytes, cancel: ctx.cancel };
        copy_select(
            session.connection(),
            &format!("SELECT * FROM {}", table_source(&store, t)),
            format,
            &dest,
            &watch,
        )?;
        if let Destination::File(path) = &dest {
            ctx.note(format!("wrote {} ({} rows)", path.display(), t.rows));
        }
    }
    Ok(ExitStatus::Success)
}

/// `--profile NAME`: the tables the profile names, de-identified by DuckDB as it writes them.
fn deidentified(
    ctx: &Context,
    store: &cohort_store::Store,
    target: &TableRef,
    version: &cohort_store::ResolvedVersion,
    args: &ExportArgs,
    name: &str,
    path: &std::path::Path,
) -> anyhow::Result<ExitStatus> {
    let (profile, text) = ExportProfile::read(path)?;
    if let Some(table) = &target.table
        && version.table(table.as_str()).is_none()
    {
        return Err(StoreError::TableNotFound {
            dataset: target.version.to_string(),
            table: table.to_string(),
            available: version.tables.iter().map(|t| t.name.clone()).collect(),
        }
        .into());
    }
    let plan = cohort_deid::plan(version, &profile, path, target.table.as_ref().map(|t| t.as_str()))?;
    let format = match args.format {
        Some(ExportFormat::Parquet) => OutputFormat::Parquet,
        Some(ExportFormat::Json) => OutputFormat::Json,
        Some(ExportFormat::Csv) => OutputFormat::Csv,
        Some(ExportFormat::CohortJson) => unreachable!("refused by the caller"),
        None => args.output.as_deref().and_then(format_of_path).unwrap_or(OutputFormat::Csv),
    };
    let output_dir = args.output.as_ref().filter(|p| p.is_dir());
    if plan.tables.len() > 1 && output_dir.is_none() {
        let names: Vec<_> = plan.tables.iter().map(|t| t.table.as_str()).collect();
        bail!(
            "the profile exports {} tables of `{}` ({}): give `--output DIR` for all, or name one as `{}.TABLE`",
            plan.tables.len(),
            args.target,
            names.join(", "),
            args.target
        );
    }
    let mut session = Session::new(store)?;
    session.mount(store, version, "d")?;
    let key = Key::for_profile(&store.layout().export_keys_dir(), name)?;
    cohort_deid::prepare(session.connection(), &plan, &key)?;

    let names: Vec<&str> = plan.tables.iter().map(|t| t.table.as_str()).collect();
    let mut detail = format!(
        "profile {name} (sha256 {}), format {format:?}, tables {}",
        &cohort_store::hash::sha256_parts([text.as_str()])[..16],
        names.join(", ")
    );
    if !plan.left_out.is_empty() {
        detail.push_str(&format!("; left out {}", plan.left_out.join(", ")));
    }
    record_export(store, version, plan.tables.iter().map(|t| t.rows).sum(), detail)?;
    for t in &plan.tables {
        let dest = match output_dir {
            Some(dir) => Destination::File(dir.join(format!("{}.{}", t.table, format.extension()))),
            None => destination(args.output.as_deref(), format)?,
        };
        let bars = ctx.bars();
        let bytes = version.table(&t.table).map_or(0, |info| info.bytes);
        let watch = Watch { progress: &bars, total: bytes, cancel: ctx.cancel };
        copy_select(session.connection(), &t.select, format, &dest, &watch)?;
        if let Destination::File(path) = &dest {
            ctx.note(format!("wrote {} ({} rows, de-identified under `{name}`)", path.display(), t.rows));
        }
    }
    if !plan.left_out.is_empty() {
        ctx.note(format!("left out (not in the profile): {}", plan.left_out.join(", ")));
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
