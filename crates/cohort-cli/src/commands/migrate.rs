//! `cohort migrate`.

use anyhow::bail;
use cohort_migrate::{MigrateOptions, Outcome, migrate, source};
use cohort_store::DatasetName;

use super::Context;
use super::ingest::actor;
use crate::ExitStatus;
use crate::cli::MigrateArgs;
use crate::ui::{count, print_json, table};

/// Sources migrated without a remark are listed one by one up to this many; `--json` has all.
const LISTED: usize = 50;

pub fn run(ctx: &Context, args: &MigrateArgs) -> anyhow::Result<ExitStatus> {
    let paths = if args.paths.is_empty() {
        let home = std::env::var_os("HOME").map(std::path::PathBuf::from).unwrap_or_default();
        let found = source::default_locations(&home);
        if found.is_empty() {
            bail!(
                "no legacy folders found under {} ({}); give the files or folders to migrate",
                home.display(),
                source::DEFAULT_LOCATIONS.join(", ")
            );
        }
        for p in &found {
            ctx.note(format!("looking in {}", p.display()));
        }
        found
    } else {
        args.paths.clone()
    };
    // A dry run creates nothing: without a store it plans against an empty one made in a
    // temporary folder, which goes when the run ends.
    let scratch;
    let store = if !args.dry_run {
        ctx.open_or_create_store()?
    } else if cohort_store::Store::exists(&ctx.global.store) {
        ctx.open_store()?
    } else {
        scratch = tempfile::tempdir()?;
        cohort_store::Store::init(&scratch.path().join("store"), ctx.settings.clone())?
    };
    let options = MigrateOptions {
        dry_run: args.dry_run,
        overwrite: args.overwrite,
        no_backup: args.no_backup,
        backup_dir: args.backup_dir.clone(),
        name: args.name.as_deref().map(DatasetName::new).transpose()?,
        created_by: format!("{} via cohort migrate", actor()),
        batch_size: args.batch_size.map(|n| n as usize),
    };
    let report = migrate(&store, &paths, &options, &ctx.bars(), ctx.cancel)?;
    let status = if report.count(Outcome::Failed) > 0 {
        ExitStatus::Failure
    } else if report.count(Outcome::Cancelled) > 0 {
        ExitStatus::Interrupted
    } else {
        ExitStatus::Success
    };
    if ctx.global.json {
        print_json(&report)?;
        return Ok(status);
    }
    let mut t = table(&["source", "shape", "outcome", "dataset", "entities", "reason"]);
    let mut quiet = 0;
    for f in &report.files {
        let plain = matches!(f.outcome, Outcome::Migrated | Outcome::WouldMigrate | Outcome::AlreadyMigrated)
            && f.notes.is_empty();
        if plain && report.files.len() > LISTED {
            quiet += 1;
            continue;
        }
        let dataset = match (&f.dataset, f.version) {
            (Some(d), Some(v)) => format!("{d}@{v}"),
            (Some(d), None) => d.clone(),
            _ => String::new(),
        };
        let entities = f.entities.iter().map(|(t, n)| format!("{t} {}", count(*n))).collect::<Vec<_>>().join(", ");
        let mut reason = f.reason.clone().unwrap_or_default();
        for n in &f.notes {
            if !reason.is_empty() {
                reason.push('\n');
            }
            reason.push_str(n);
        }
        t.add_row(vec![
            f.source.display().to_string(),
            f.shape.map(|s| s.as_str().to_string()).unwrap_or_default(),
            f.outcome.as_str().to_string(),
            dataset,
            entities,
            reason,
        ]);
    }
    println!("{t}");
    if quiet > 0 {
        println!("... and {quiet} more without remarks (`--json` lists every source)");
    }
    for (path, why) in &report.passed_over {
        ctx.note(format!("passed over {}: {why}", path.display()));
    }
    let outcomes = [
        Outcome::WouldMigrate,
        Outcome::Migrated,
        Outcome::AlreadyMigrated,
        Outcome::Conflict,
        Outcome::Skipped,
        Outcome::Failed,
        Outcome::Cancelled,
    ];
    let summary: Vec<String> = outcomes
        .iter()
        .filter_map(|o| Some(report.count(*o)).filter(|n| *n > 0).map(|n| format!("{n} {}", o.as_str())))
        .collect();
    let entities: u64 = report
        .files
        .iter()
        .filter(|f| matches!(f.outcome, Outcome::Migrated | Outcome::WouldMigrate))
        .flat_map(|f| f.entities.iter().map(|(_, n)| n))
        .sum();
    println!(
        "{}{} ({} entities) in {:.1}s",
        if report.dry_run { "dry run, nothing written: " } else { "" },
        if summary.is_empty() { "no sources found".to_string() } else { summary.join(", ") },
        count(entities),
        report.seconds
    );
    if let Some(dir) = &report.backup {
        println!("originals backed up and verified in {}", dir.display());
    }
    Ok(status)
}
