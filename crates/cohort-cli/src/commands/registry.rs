//! `cohort registry`: a registry's figures for a cohort, its kept profile and saved cohorts.

use anyhow::Context as _;
use cohort_audit::Outcome;
use cohort_publish::Profile;
use cohort_registry::SiteNames;
use cohort_store::{KeptProfile, SavedCohort, VersionRef};
use serde_json::json;

use super::Context;
use super::ingest::actor;
use crate::ExitStatus;
use crate::cli::RegistryArgs;
use crate::ui;

pub fn run(ctx: &Context, args: &RegistryArgs) -> anyhow::Result<ExitStatus> {
    let store = ctx.open_store()?;
    let version = store.resolve(&VersionRef::parse(&args.dataset)?)?;
    let dataset = version.dataset.clone();
    if let Some(path) = &args.set_profile {
        let (profile, text) = Profile::read(path)?;
        cohort_publish::check_profile(&version, &profile)?;
        let kept = KeptProfile { text, version: version.version, set_by: actor(), set_at: jiff::Timestamp::now() };
        store.keep_registry_profile(&dataset, &kept)?;
        ctx.note(format!(
            "kept {} as the registry profile of `{dataset}` (set on version {})",
            path.display(),
            version.version
        ));
    }
    if args.cohorts {
        let cohorts = store.saved_cohorts(&dataset)?;
        if ctx.global.json {
            ui::print_json(&json!({ "dataset": dataset.as_str(), "cohorts": cohorts }))?;
        } else if cohorts.is_empty() {
            ctx.note(format!("`{dataset}` has no saved cohorts (save one with --filter ... --save-as NAME)"));
        } else {
            let mut table = ui::table(&["cohort", "filters", "made on", "by", "when"]);
            for c in &cohorts {
                table.add_row(vec![
                    c.name.clone(),
                    c.filters.join("  "),
                    format!("version {}", c.version),
                    c.made_by.clone(),
                    ui::when(c.made_at),
                ]);
            }
            println!("{table}");
        }
        return Ok(ExitStatus::Success);
    }
    let (_, profile) = cohort_registry::kept_profile(&store, &dataset)?;
    let mut filters = Vec::new();
    let mut saved = None;
    if let Some(name) = &args.cohort {
        let cohorts = store.saved_cohorts(&dataset)?;
        let found = cohort_registry::find_cohort(&cohorts, dataset.as_str(), name)?.clone();
        filters.extend(found.filters.iter().cloned());
        saved = Some(found);
    }
    filters.extend(args.filters.iter().cloned());
    let dashboard =
        cohort_registry::dashboard::compute(&store, &version, &profile, &filters, SiteNames::Shown, &args.by)?;
    let mut entry = super::audit::entry("registry", Outcome::Served);
    entry.datasets = vec![version.label()];
    entry.detail = Some(if filters.is_empty() { "all participants".into() } else { filters.join(" ") });
    super::audit::record(&store, entry)?;
    if let Some(name) = &args.save_as {
        cohort_registry::check_cohort_name(name)?;
        let cohort = SavedCohort {
            name: name.clone(),
            filters: filters.clone(),
            version: version.version,
            made_by: actor(),
            made_at: jiff::Timestamp::now(),
        };
        store.save_cohort(&dataset, &cohort).context("saving the cohort")?;
        ctx.note(format!(
            "saved cohort `{name}` of `{dataset}` ({} participants on version {}); use it with --cohort {name}",
            ui::count(dashboard.participants),
            version.version
        ));
    }
    let origin = saved.as_ref().map(|c| {
        json!({"name": c.name, "filters": c.filters, "made_on_version": c.version, "made_by": c.made_by,
               "computed_on_version": version.version})
    });
    if ctx.global.json {
        ui::print_json(&json!({ "cohort": origin, "registry": dashboard }))?;
        return Ok(ExitStatus::Success);
    }
    if let Some(c) = &saved
        && c.version != version.version
    {
        ctx.note(format!(
            "cohort `{}` was made on version {}; these figures are computed on version {}",
            c.name, c.version, version.version
        ));
    }
    println!(
        "{}: {} of {} participants{}",
        version.label(),
        ui::count(dashboard.participants),
        ui::count(dashboard.registry_participants),
        if filters.is_empty() { String::new() } else { format!(" ({})", filters.join(", ")) }
    );
    for said in &dashboard.left_out {
        ctx.note(said.clone());
    }
    if let Some(l) = &dashboard.longitudinal {
        println!(
            "visits {} · person-years {} · cutoff {}",
            l.visits.map(ui::count).unwrap_or_else(|| "-".into()),
            l.person_years.map(|y| format!("{y:.1}")).unwrap_or_else(|| "-".into()),
            dashboard.cutoff.as_deref().unwrap_or("-")
        );
    }
    for t in dashboard.tables.iter().filter(|t| t.cells.len() <= 24) {
        let mut table = ui::table(&[t.dimension.as_str(), "participants"]);
        for cell in &t.cells {
            table.add_row(vec![cell.key.clone(), cell.count.map(ui::count).unwrap_or_default()]);
        }
        println!("\n{}\n{table}", t.title);
    }
    if !dashboard.numeric.is_empty() {
        let mut table = ui::table(&["measure", "lower quartile", "median", "upper quartile"]);
        let number = |x: Option<f64>| x.map(|x| format!("{x}")).unwrap_or_default();
        for n in &dashboard.numeric {
            table.add_row(vec![n.column.clone(), number(n.q1), number(n.median), number(n.q3)]);
        }
        println!("\n{table}");
    }
    let fits = |b: &&cohort_publish::Breakdown| b.rows.len() <= 24 && b.columns.len() <= 8;
    for b in dashboard.breakdowns.iter().filter(fits) {
        let mut header = vec![b.rows_are.as_str()];
        header.extend(b.columns.iter().map(String::as_str));
        let mut table = ui::table(&header);
        for (row, counts) in b.rows.iter().zip(&b.counts) {
            let mut cells = vec![row.clone()];
            cells.extend(counts.iter().map(|n| ui::count(*n)));
            table.add_row(cells);
        }
        println!("\n{}\n{table}", b.title);
    }
    let long = dashboard.tables.iter().filter(|t| t.cells.len() > 24).count()
        + dashboard.breakdowns.iter().filter(|b| !fits(b)).count();
    if long > 0 {
        ctx.note(format!("{long} longer table(s), such as enrolment by month, are in --json"));
    }
    Ok(ExitStatus::Success)
}
