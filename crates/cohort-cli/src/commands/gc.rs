//! `cohort gc`.

use cohort_store::GcOptions;

use super::Context;
use crate::ExitStatus;
use crate::ui::{bytes, print_json};

pub fn run(ctx: &Context, keep: Option<u32>, discard_interrupted: bool, dry_run: bool) -> anyhow::Result<ExitStatus> {
    let report = ctx.open_store()?.gc(&GcOptions { keep, discard_interrupted, dry_run })?;
    if ctx.global.json {
        print_json(&report)?;
        return Ok(ExitStatus::Success);
    }
    let verb = if dry_run { "would remove" } else { "removed" };
    for v in &report.expired_versions {
        println!("{verb} {}@{} ({})", v.dataset, v.version, bytes(v.bytes));
    }
    for p in &report.removed_paths {
        println!("{verb} {}", p.display());
    }
    for p in &report.in_use {
        println!("kept {} for now: a query, export or page is reading it (run gc again later)", p.display());
    }
    println!(
        "{} {} in {} version(s) and {} path(s)",
        if dry_run { "Would free" } else { "Freed" },
        bytes(report.freed_bytes),
        report.expired_versions.len(),
        report.removed_paths.len()
    );
    Ok(ExitStatus::Success)
}
