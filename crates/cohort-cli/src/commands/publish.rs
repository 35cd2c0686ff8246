//! `cohort publish`.

use cohort_audit::Outcome;
use cohort_publish::{Profile, publish};
use cohort_store::VersionRef;

use super::Context;
use crate::ExitStatus;
use crate::cli::PublishArgs;

pub fn run(ctx: &Context, args: &PublishArgs) -> anyhow::Result<ExitStatus> {
    let store = ctx.open_store()?;
    let (profile, text) = Profile::read(&args.profile)?;
    let reference = VersionRef::parse(&args.dataset)?;
    let bundle = publish(&store, &reference, &profile, &text, args.k)?;
    let output =
        args.output.clone().unwrap_or_else(|| format!("{}-v{}.bundle.json", bundle.dataset, bundle.version).into());
    let mut entry = super::audit::entry("publish", Outcome::Served);
    entry.datasets = vec![format!("{}@{}", bundle.dataset, bundle.version)];
    entry.detail = Some(format!("k = {}, {} tables, to {}", bundle.k, bundle.tables.len(), output.display()));
    super::audit::record(&store, entry)?;
    cohort_store::fsutil::write_atomic(&output, &bundle.to_json())?;
    let hidden = bundle.tables.iter().filter(|t| t.has_suppressed()).count();
    let cells: usize = bundle.tables.iter().map(|t| t.cells.len()).sum();
    if ctx.global.json {
        println!(
            "{}",
            serde_json::json!({
                "bundle": output, "dataset": bundle.dataset, "version": bundle.version, "k": bundle.k,
                "tables": bundle.tables.len(), "cells": cells, "tables_with_suppressed_cells": hidden,
                "k_reason": bundle.k_reason, "checksum": bundle.checksum,
            })
        );
    } else {
        ctx.note(format!(
            "published {}@{} to {}: {} tables ({hidden} with suppressed cells), {cells} cells (k = {})",
            bundle.dataset,
            bundle.version,
            output.display(),
            bundle.tables.len(),
            bundle.k
        ));
    }
    Ok(ExitStatus::Success)
}
