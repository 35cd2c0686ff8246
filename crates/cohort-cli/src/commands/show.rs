//! `cohort show`.

use cohort_store::VersionRef;

use super::Context;
use crate::ExitStatus;
use crate::ui::{bytes, count, print_json, table, versions_table, when};

pub fn run(ctx: &Context, dataset: &str) -> anyhow::Result<ExitStatus> {
    let detail = ctx.open_store()?.detail(&VersionRef::parse(dataset)?)?;
    if ctx.global.json {
        print_json(&detail)?;
        return Ok(ExitStatus::Success);
    }
    let s = &detail.summary;
    let shown = &detail.shown;
    println!("{} ({})", s.name, s.kind);
    if let Some(d) = &s.description {
        println!("  {d}");
    }
    if !s.tags.is_empty() {
        println!("  tags: {}", s.tags.join(", "));
    }
    println!(
        "  showing version {}{} of {}; created {}, updated {}",
        shown.version,
        if shown.is_current { " (current)" } else { "" },
        s.versions,
        when(s.created_at),
        when(s.updated_at)
    );
    for t in &shown.tables {
        println!("\nTable {} — {} rows, {} in {} file(s)", t.name, count(t.rows), bytes(t.bytes), t.files.len());
        let mut cols = table(&["column", "type", "role", "nulls", "min", "max"]);
        for c in &t.columns {
            cols.add_row(vec![
                c.name.clone(),
                c.sql_type.clone(),
                c.role.clone().unwrap_or_default(),
                c.null_count.map(count).unwrap_or_else(|| "?".into()),
                c.min.clone().unwrap_or_default(),
                c.max.clone().unwrap_or_default(),
            ]);
        }
        println!("{cols}");
    }
    println!("\nVersions");
    println!("{}", versions_table(&detail.versions));
    if let Some(v) = detail.versions.iter().find(|v| v.version == shown.version) {
        println!("\nProvenance of version {}", v.version);
        for src in &v.sources {
            println!("  {} ({}, sha256 {})", src.path, bytes(src.bytes), &src.sha256[..src.sha256.len().min(16)]);
        }
        if let Some(tool) = v.provenance.get("command").and_then(|c| c.as_str()) {
            println!(
                "  made by `cohort {tool}` {}",
                v.provenance.get("tool_version").and_then(|t| t.as_str()).unwrap_or("")
            );
        }
        println!("  content hash {}", v.content_hash);
    }
    Ok(ExitStatus::Success)
}
