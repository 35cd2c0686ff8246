//! `cohort relate`.

use anyhow::{Context as _, bail};
use cohort_analysis::relations::{Relations, relations, unified};
use cohort_store::export::{Watch, copy_select};
use cohort_store::{OutputFormat, RelationshipDecision, ResolvedVersion, Session, VersionRef};

use super::Context;
use super::ingest::actor;
use super::query::{destination, format_of_path};
use crate::ExitStatus;
use crate::cli::RelateArgs;
use crate::ui::{print_json, table};

pub fn run(ctx: &Context, args: &RelateArgs) -> anyhow::Result<ExitStatus> {
    let store = ctx.open_store()?;
    let reference = VersionRef::parse(&args.dataset)?;
    let detail = store.detail(&reference)?;
    let version = &detail.shown;
    for (spec, holds) in args.add.iter().map(|s| (s, true)).chain(args.reject.iter().map(|s| (s, false))) {
        let decision = parse_decision(spec, holds, version)?;
        store.decide_relationship(&reference.dataset, &decision)?;
        ctx.note(format!(
            "{} {}.{} -> {}.{}",
            if holds { "recorded" } else { "rejected" },
            decision.child_table,
            decision.child_column,
            decision.parent_table,
            decision.parent_column
        ));
    }
    let decisions = store.relationship_decisions(&reference.dataset)?;
    let info = detail.shown_info().with_context(|| format!("`{reference}` lists no record of the version shown"))?;
    let rel = relations(version, info, &decisions);
    if !args.unified {
        show(ctx, &rel)?;
        return Ok(ExitStatus::Success);
    }
    let plan = unified(&store, version, &rel, args.root.as_deref())
        .with_context(|| format!("building the unified view of `{reference}`"))
        .map_err(|e| {
            e.context("confirm a relationship with `cohort relate NAME --add CHILD.COLUMN=PARENT.KEY`, or pick the participant table with `--root TABLE`")
        })?;
    if args.sql {
        println!("{}", plan.sql);
        return Ok(ExitStatus::Success);
    }
    let session = Session::new(&store)?;
    let conn = session.connection();
    // Computed once (one row per participant, so it is small), then counted and written.
    conn.execute_batch(&format!("CREATE TEMP TABLE unified AS {}", plan.sql))?;
    if let Some(path) = &args.output {
        let format = format_of_path(path).unwrap_or(OutputFormat::Parquet);
        let bars = ctx.bars();
        let watch = Watch { progress: &bars, total: 0, cancel: ctx.cancel };
        copy_select(conn, "SELECT * FROM unified", format, &destination(Some(path), format)?, &watch)?;
    }
    let count = format!("SELECT count(*), count(DISTINCT {}) FROM unified", cohort_store::name::quote_ident(&plan.key));
    let (rows, participants): (i64, i64) = conn.query_row(&count, [], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let columns = conn.prepare("DESCRIBE unified")?.query_map([], |r| r.get::<_, String>(0))?.count();
    if ctx.global.json {
        print_json(&serde_json::json!({
            "root": plan.root,
            "key": plan.key,
            "rows": rows,
            "participants": participants,
            "columns": columns,
            "aggregated": plan.aggregated,
            "looked_up": plan.looked_up,
            "unrelated": plan.unrelated,
            "output": args.output,
        }))?;
        return Ok(ExitStatus::Success);
    }
    println!(
        "unified view: {rows} rows, one per `{}` of `{}` ({participants} distinct), {columns} columns",
        plan.key, plan.root
    );
    for (t, path) in &plan.aggregated {
        println!("  {t}: aggregated per participant (via {})", path.join(" -> "));
    }
    for t in &plan.looked_up {
        println!("  {t}: joined on its key");
    }
    if !plan.unrelated.is_empty() {
        println!("  not included (no relationship to `{}`): {}", plan.root, plan.unrelated.join(", "));
    }
    if let Some(path) = &args.output {
        ctx.note(format!("wrote {}", path.display()));
    }
    Ok(ExitStatus::Success)
}

fn show(ctx: &Context, rel: &Relations) -> anyhow::Result<()> {
    if ctx.global.json {
        print_json(rel)?;
        return Ok(());
    }
    let mut keys = table(&["table", "key", "confidence"]);
    for k in &rel.keys {
        keys.add_row(vec![k.table.clone(), k.column.clone(), format!("{:.2}", k.confidence)]);
    }
    println!("Keys\n{keys}\n");
    let mut links = table(&["column", "refers to", "coverage", "confidence", "why"]);
    for l in &rel.links {
        links.add_row(vec![
            format!("{}.{}", l.child_table, l.child_column),
            format!("{}.{}", l.parent_table, l.parent_column),
            if l.coverage.is_nan() { "-".into() } else { format!("{:.1}%", 100.0 * l.coverage) },
            format!("{:.2}", l.confidence),
            l.reason.clone(),
        ]);
    }
    println!("Relationships\n{links}");
    for r in &rel.rejected {
        println!("  rejected: {}.{} -> {}.{}", r.child_table, r.child_column, r.parent_table, r.parent_column);
    }
    Ok(())
}

/// `labs.admission_id=admissions.admission_id`, checked against the version's tables and columns.
fn parse_decision(spec: &str, holds: bool, version: &ResolvedVersion) -> anyhow::Result<RelationshipDecision> {
    let Some((child, parent)) = spec.split_once('=') else {
        bail!(
            "`{spec}`: write it as CHILD_TABLE.COLUMN=PARENT_TABLE.KEY, e.g. labs.admission_id=admissions.admission_id"
        );
    };
    let column = |side: &str| -> anyhow::Result<(String, String)> {
        let Some((t, c)) = side.trim().split_once('.') else {
            bail!("`{side}`: write TABLE.COLUMN");
        };
        let Some(table) = version.table(t) else {
            let names: Vec<_> = version.tables.iter().map(|t| t.name.as_str()).collect();
            bail!("`{spec}`: there is no table `{t}` (tables: {})", names.join(", "));
        };
        if !table.columns.iter().any(|col| col.name == c) {
            let names: Vec<_> = table.columns.iter().map(|c| c.name.as_str()).collect();
            bail!("`{spec}`: table `{t}` has no column `{c}` (columns: {})", names.join(", "));
        }
        Ok((t.to_string(), c.to_string()))
    };
    let (child_table, child_column) = column(child)?;
    let (parent_table, parent_column) = column(parent)?;
    if child_table == parent_table {
        bail!("`{spec}`: a relationship joins two different tables");
    }
    Ok(RelationshipDecision {
        child_table,
        child_column,
        parent_table,
        parent_column,
        holds,
        decided_by: actor(),
        decided_at: jiff::Timestamp::now(),
    })
}
