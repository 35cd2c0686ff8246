//! `cohort publish`.

use cohort_audit::Outcome;
use cohort_publish::Profile;
use cohort_store::VersionRef;

use super::Context;
use crate::ExitStatus;
use crate::cli::PublishArgs;

pub fn run(ctx: &Context, args: &PublishArgs) -> anyhow::Result<ExitStatus> {
    let store = ctx.open_store()?;
    let (profile, text) = Profile::read(&args.profile)?;
    // `NAME#COHORT`: a registry's saved cohort, narrowed by the registry layer.
    let (dataset, cohort) = match args.dataset.split_once('#') {
        Some((dataset, cohort)) => (dataset, Some(cohort.to_string())),
        None => (args.dataset.as_str(), None),
    };
    let reference = VersionRef::parse(dataset)?;
    let condition = |version: &cohort_store::ResolvedVersion, summary: &cohort_publish::summary::Summary| {
        let name = cohort.as_deref().expect("narrowed only for a cohort");
        cohort_registry::reference::saved_cohort_condition(&store, version, name, &profile, summary)
            .map_err(|e| cohort_store::StoreError::from(e).into())
    };
    let to_publish = cohort.clone().map(|name| cohort_publish::CohortToPublish { name, condition: &condition });
    let bundle = cohort_publish::publish_cohort(&store, &reference, &profile, &text, args.k, to_publish)?;
    let output = args.output.clone().unwrap_or_else(|| match &bundle.cohort {
        Some(c) => format!("{}-v{}-{c}.bundle.json", bundle.dataset, bundle.version).into(),
        None => format!("{}-v{}.bundle.json", bundle.dataset, bundle.version).into(),
    });
    let mut entry = super::audit::entry("publish", Outcome::Served);
    entry.datasets = vec![format!("{}@{}", bundle.dataset, bundle.version)];
    if let Some(c) = &bundle.cohort {
        entry.asked = Some(format!("cohort {c}"));
    }
    entry.detail = Some(format!("k = {}, {} tables, to {}", bundle.k, bundle.tables.len(), output.display()));
    super::audit::record(&store, entry)?;
    // What suppression hides of each table, said before the bundle is written.
    if !ctx.global.json && !ctx.global.quiet {
        let mut table = crate::ui::table(&["table", "cells listed", "participants in hidden cells"]);
        for t in &bundle.tables {
            let share = bundle.hidden_shares.get(&t.id).copied().unwrap_or(0.0);
            table.add_row(vec![
                t.id.clone(),
                t.cells
                    .iter()
                    .filter(|c| c.count.is_some() && c.key != cohort_publish::SUPPRESSED_KEY)
                    .count()
                    .to_string(),
                format!("{:.0}%", share * 100.0),
            ]);
        }
        eprintln!("{table}");
        let c = &bundle.choices;
        let mut chosen = Vec::new();
        if let Some(period) = &c.enrolment_period {
            chosen.push(format!("enrolment by {period}"));
        }
        for (column, bins) in &c.bins {
            chosen.push(format!("{column} in {bins} bins"));
        }
        chosen.push(format!(
            "quartiles from {} participants with a value{}",
            c.quartiles_min_participants,
            c.quartiles_round_to.map(|r| format!(", rounded to {r}")).unwrap_or_default()
        ));
        ctx.note(format!(
            "{} (the finest periods and bins that keep at most a quarter of a table's participants in hidden cells, \
             unless the profile sets `enrolment_period:`, `bins:` or `quartiles:`)",
            chosen.join("; ")
        ));
    }
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
                "choices": bundle.choices, "hidden_shares": bundle.hidden_shares,
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
