//! `cohort list`.

use super::Context;
use crate::ExitStatus;
use crate::ui::{bytes, count, print_json, table, when};

pub fn run(ctx: &Context) -> anyhow::Result<ExitStatus> {
    let datasets = ctx.open_store()?.list()?;
    if ctx.global.json {
        print_json(&datasets)?;
        return Ok(ExitStatus::Success);
    }
    if datasets.is_empty() {
        println!("No datasets yet. Load one with `cohort ingest FILE --name NAME`.");
        return Ok(ExitStatus::Success);
    }
    let mut t = table(&["name", "kind", "version", "tables", "rows", "size", "updated"]);
    for d in &datasets {
        t.add_row(vec![
            d.name.to_string(),
            d.kind.to_string(),
            match d.current_version {
                Some(v) => format!("{v} of {}", d.versions),
                None => format!("none of {}", d.versions),
            },
            d.tables.to_string(),
            count(d.rows),
            bytes(d.bytes),
            when(d.updated_at),
        ]);
    }
    println!("{t}");
    Ok(ExitStatus::Success)
}
