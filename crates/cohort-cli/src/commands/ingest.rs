//! `cohort ingest`.

use anyhow::bail;
use cohort_ingest::schema::SchemaOverrides;
use cohort_ingest::{DEFAULT_NULL_STRINGS, IngestOptions, IngestRequest, ingest};
use cohort_store::{CommitOutcome, DatasetName, TableName};

use super::Context;
use crate::ExitStatus;
use crate::cli::IngestArgs;
use crate::ui::{bytes, count, print_json};

pub fn run(ctx: &Context, args: &IngestArgs) -> anyhow::Result<ExitStatus> {
    let name = match &args.name {
        Some(n) => DatasetName::new(n)?,
        None if args.files.len() == 1 => {
            let (_, stem) = cohort_ingest::format::detect(&args.files[0])?;
            DatasetName::new(TableName::from_file_stem(&stem)?.as_str())?
        }
        None => bail!("several files make one dataset: name it with `--name NAME`"),
    };
    let store = ctx.open_or_create_store()?;
    let options = IngestOptions {
        delimiter: args.delimiter,
        header: if args.header {
            Some(true)
        } else if args.no_header {
            Some(false)
        } else {
            None
        },
        skip_rows: args.skip,
        null_strings: if args.nulls.is_empty() {
            DEFAULT_NULL_STRINGS.iter().map(|s| s.to_string()).collect()
        } else {
            args.nulls.clone()
        },
        text_columns: args.text_columns.clone(),
        encoding: args.encoding.clone(),
        decimal_comma: args.decimal_comma,
        date_format: args.date_format.clone(),
        schema: schema_overrides(args)?,
        max_file_bytes: args.max_file_size,
    };
    let request = IngestRequest {
        name,
        files: args.files.clone(),
        description: args.description.clone(),
        tags: (!args.tags.is_empty()).then(|| args.tags.clone()),
        created_by: format!("{} via cohort ingest", actor()),
        options,
    };
    let report = ingest(&store, &request, &ctx.bars(), ctx.cancel)?;
    if ctx.global.json {
        let mut value = serde_json::to_value(&report)?;
        value["peak_rss_bytes"] = peak_rss_bytes().into();
        print_json(&value)?;
        return Ok(ExitStatus::Success);
    }
    for document in &report.documents {
        ctx.note(format!("  {}: attached to the version as `{}`", document.source, document.name));
    }
    for t in &report.tables {
        for c in &t.coerced {
            let examples = c.examples.iter().map(|e| format!("{e:?}")).collect::<Vec<_>>().join(", ");
            let examples = if examples.is_empty() { String::new() } else { format!(" (e.g. {examples})") };
            if c.kept_as_text {
                let why = c.reason.as_deref().unwrap_or("values of another type");
                ctx.note(format!("  {}.{}: kept as text: {why}{examples}", t.table, c.column));
            } else {
                ctx.note(format!(
                    "  {}.{}: {} value(s) of another kind than {} set aside as null{examples}; `--text-columns {}` \
                     keeps them",
                    t.table, c.column, c.values, c.to_type, c.column
                ));
            }
        }
        if let Some(d) = &t.dialect {
            for (column, why) in &d.text_columns {
                ctx.note(format!("  {}.{column}: kept as text ({why})", t.table));
            }
            for column in &d.decimal_comma_columns {
                ctx.note(format!("  {}.{column}: numbers read with a decimal comma (`60,5` is 60.5)", t.table));
            }
        }
    }
    match &report.outcome {
        CommitOutcome::Created { dataset, version, new_dataset, rows, bytes: size, .. } => println!(
            "{dataset}: {}version {version} ({} table{}, {} rows, {} of Parquet) in {:.1}s",
            if *new_dataset { "new dataset, " } else { "" },
            report.tables.len(),
            if report.tables.len() == 1 { "" } else { "s" },
            count(*rows),
            bytes(*size),
            report.seconds
        ),
        CommitOutcome::Unchanged { dataset, version, .. } => {
            println!("{dataset}: unchanged (version {version} already holds this content)")
        }
    }
    Ok(ExitStatus::Success)
}

/// `user@host`, for the record of who made a version.
pub fn actor() -> String {
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("{user}@{host}")
}

/// This process's peak resident memory (Linux `VmHWM`), for the ingest report.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// `--schema` and the `--type`/`--role`/`--label` settings, which win over the file's.
fn schema_overrides(args: &IngestArgs) -> anyhow::Result<SchemaOverrides> {
    let mut overrides = match &args.schema {
        Some(path) => SchemaOverrides::from_yaml_file(path)?,
        None => SchemaOverrides::default(),
    };
    for (what, settings) in [("type", &args.types), ("role", &args.roles), ("label", &args.labels)] {
        for setting in settings {
            if let Err(e) = overrides.add_setting(what, setting) {
                bail!("--{what} {e}");
            }
        }
    }
    Ok(overrides)
}
