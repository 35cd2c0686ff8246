//! `cohort query`.

use std::io::IsTerminal;

use anyhow::bail;
use arrow::record_batch::RecordBatch;
use cohort_store::export::{Watch, copy_select};
use cohort_store::{Destination, OutputFormat, Session, StoreError};

use super::Context;
use crate::ExitStatus;
use crate::cli::{QueryArgs, QueryFormat};
use crate::ui::batches_table;

pub fn run(ctx: &Context, args: &QueryArgs) -> anyhow::Result<ExitStatus> {
    let store = ctx.open_store()?;
    let sql = args.sql.trim().trim_end_matches(';').trim();
    if sql.is_empty() {
        bail!("the SQL statement is empty");
    }
    let mut session = Session::for_sql(&store, sql)?;
    // Saved cohorts of registries, as `"registry#cohort"`.
    cohort_registry::reference::mount_cohorts(&mut session, &store, sql, &|_| true)?;
    // Recorded before anything is read: the datasets the query can touch, and its SQL.
    let mut audited = super::audit::entry("query", cohort_audit::Outcome::Served).asked(sql);
    audited.datasets = session.mounted();
    super::audit::record(&store, audited)?;
    let format = match (args.format, args.output.as_deref().and_then(format_of_path)) {
        (Some(f), _) => f,
        (None, Some(OutputFormat::Csv)) => QueryFormat::Csv,
        (None, Some(OutputFormat::Json)) => QueryFormat::Json,
        (None, Some(OutputFormat::Parquet)) => QueryFormat::Parquet,
        (None, None) if args.output.is_some() => {
            bail!("cannot tell the format from the --output name: give `--format csv|json|parquet`")
        }
        (None, None) if ctx.global.json => QueryFormat::Json,
        (None, None) => QueryFormat::Table,
    };
    let file_format = match format {
        QueryFormat::Table if args.output.is_some() => {
            bail!("a table is for the terminal: give `--format csv|json|parquet` to write a file")
        }
        QueryFormat::Table => return print_table(ctx, &session, sql, args.max_rows),
        QueryFormat::Csv => OutputFormat::Csv,
        QueryFormat::Json => OutputFormat::Json,
        QueryFormat::Parquet => OutputFormat::Parquet,
    };
    if !is_query(sql) {
        bail!("only queries (SELECT, WITH, FROM, VALUES, DESCRIBE, SUMMARIZE, SHOW) can be written as {file_format}");
    }
    let dest = destination(args.output.as_deref(), file_format)?;
    let bars = ctx.bars();
    let watch = Watch { progress: &bars, total: 100, cancel: ctx.cancel };
    copy_select(session.connection(), sql, file_format, &dest, &watch)?;
    if let Destination::File(path) = &dest {
        ctx.note(format!("wrote {}", path.display()));
    }
    Ok(ExitStatus::Success)
}

/// Where results go: a file, or standard output unless that would put binary on a terminal.
pub fn destination(output: Option<&std::path::Path>, format: OutputFormat) -> anyhow::Result<Destination> {
    match output {
        Some(p) => Ok(Destination::File(p.to_path_buf())),
        None if format == OutputFormat::Parquet && std::io::stdout().is_terminal() => {
            bail!("Parquet is binary; give `--output FILE` or redirect standard output")
        }
        None => Ok(Destination::Stdout),
    }
}

/// The format a file name's extension names, if any.
pub fn format_of_path(path: &std::path::Path) -> Option<OutputFormat> {
    path.extension()?.to_str()?.parse().ok()
}

/// Whether DuckDB can run `sql` as a subquery (so it can be limited or copied).
fn is_query(sql: &str) -> bool {
    let first = sql.trim_start_matches('(').split_whitespace().next().unwrap_or("").to_ascii_uppercase();
    matches!(
        first.as_str(),
        "SELECT" | "WITH" | "FROM" | "VALUES" | "TABLE" | "DESCRIBE" | "SUMMARIZE" | "SHOW" | "PIVOT" | "UNPIVOT"
    ) || sql.starts_with('(')
}

fn print_table(ctx: &Context, session: &Session, sql: &str, max_rows: usize) -> anyhow::Result<ExitStatus> {
    // Stream the user's own statement and stop reading after `max_rows`: no rewriting, so DuckDB's
    // error positions match what the user typed, and dropping the stream ends the query.
    let mut stmt = session.connection().prepare(sql).map_err(StoreError::sql)?;
    let mut batches: Vec<RecordBatch> = Vec::new();
    let mut rows = 0usize;
    let mut more = false;
    let stream = stmt.stream_arrow([]).map_err(StoreError::sql)?;
    let schema = stream.get_schema();
    for batch in stream {
        let batch = batch.map_err(StoreError::sql)?;
        if rows == max_rows {
            more |= batch.num_rows() > 0;
            break;
        }
        let take = batch.num_rows().min(max_rows - rows);
        more |= take < batch.num_rows();
        rows += take;
        batches.push(batch.slice(0, take));
    }
    println!("{}", batches_table(&schema, &batches));
    if more {
        ctx.note(format!("(showing the first {max_rows} rows; use --max-rows N, or --format csv for all)"));
    } else {
        ctx.note(format!("({rows} row{})", if rows == 1 { "" } else { "s" }));
    }
    Ok(ExitStatus::Success)
}
