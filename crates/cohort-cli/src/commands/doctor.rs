//! `cohort doctor`.

use super::Context;
use crate::ExitStatus;
use crate::ui::{bytes, print_json};

pub fn run(ctx: &Context, repair: bool) -> anyhow::Result<ExitStatus> {
    let store = ctx.open_store()?;
    let report = store.doctor(repair, &ctx.bars())?;
    let status = if report.healthy() { ExitStatus::Success } else { ExitStatus::Unhealthy };
    if ctx.global.json {
        print_json(&report)?;
        return Ok(status);
    }
    for p in &report.recovery.removed_staging {
        println!("recovered: removed staging left by a crashed process: {}", p.display());
    }
    for p in &report.recovery.removed_versions {
        println!("recovered: removed an uncommitted version directory: {}", p.display());
    }
    for p in &report.problems {
        println!("problem: {}@{} {}: {} ({})", p.dataset, p.version, p.path, p.kind, p.detail);
    }
    if !report.views_in_sync {
        println!("problem: datasets.duckdb does not match the catalog (`--repair` rewrites it)");
    }
    for (dataset, version, path) in &report.quarantined {
        println!("repaired: moved {dataset}@{version} to {}", path.display());
    }
    for (dataset, current) in &report.moved_current {
        match current {
            Some(v) => println!("repaired: {dataset} now points at version {v}"),
            None => println!("repaired: {dataset} has no readable version left; ingest it again"),
        }
    }
    for (dataset, slot, size) in &report.resumable {
        let how = if slot == "run" {
            format!("`cohort simulate --resume {dataset}` finishes it")
        } else {
            format!("`cohort simulate merge {dataset}` commits the shards once all have run")
        };
        println!(
            "kept: an interrupted run of {dataset} ({slot}, {}); {how}, or `cohort gc --discard-interrupted` removes it",
            bytes(*size)
        );
    }
    println!(
        "Checked {} file(s), {}: {}",
        report.files_checked,
        bytes(report.bytes_checked),
        match (report.problems.len(), status) {
            (0, ExitStatus::Success) => "healthy".to_string(),
            (n, ExitStatus::Success) => format!("{n} problem(s) repaired"),
            (n, _) => format!("{n} problem(s); run `cohort doctor --repair` to quarantine broken versions"),
        }
    );
    Ok(status)
}
