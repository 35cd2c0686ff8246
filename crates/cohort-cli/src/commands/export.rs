//! `cohort export`.

use anyhow::bail;
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
    record_export(&store, &version, rows, format!("format {format:?}, tables {}", names.join(", ")))?;
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
