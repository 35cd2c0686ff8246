//! `cohort show`.

use cohort_store::VersionRef;

use super::Context;
use crate::ExitStatus;
use crate::ui::{bytes, count, print_json, table, versions_table, when};

pub fn run(ctx: &Context, dataset: &str) -> anyhow::Result<ExitStatus> {
    let store = ctx.open_store()?;
    let detail = store.detail(&VersionRef::parse(dataset)?)?;
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
        if let Some(q) = quality_of(&detail, &t.name) {
            println!("  {q}");
        }
    }
    println!("\nVersions");
    println!("{}", versions_table(&detail.versions));
    if let Some(v) = detail.shown_info() {
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
        if let Some(report) = v.provenance.get("validation").filter(|r| r.is_object()) {
            super::protocol::print_validation(report);
        }
        let attachments = v.provenance.get("attachments").and_then(|a| a.as_array()).cloned().unwrap_or_default();
        if !attachments.is_empty() {
            println!("\nAttachments of version {}", v.version);
            let dir = store.root().join(&v.path).join(cohort_store::ATTACHMENTS_DIR);
            for a in attachments {
                let name = a["name"].as_str().unwrap_or_default();
                let sha256 = a["sha256"].as_str().unwrap_or_default();
                println!(
                    "  {name} ({}, sha256 {}) from {}",
                    bytes(a["bytes"].as_u64().unwrap_or(0)),
                    &sha256[..sha256.len().min(16)],
                    a["source"].as_str().unwrap_or("?")
                );
                println!("    {}", dir.join(name).display());
            }
        }
    }
    Ok(ExitStatus::Success)
}

/// One line from the quality report an ingest stored for `table`, if there is one.
fn quality_of(detail: &cohort_store::DatasetDetail, table: &str) -> Option<String> {
    let v = detail.shown_info()?;
    let report = v.provenance.get("tables")?.as_array()?.iter().find(|t| t["table"] == table)?;
    let q = report.get("quality")?;
    let list = |key: &str| -> Vec<String> {
        q[key].as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()).unwrap_or_default()
    };
    let mut parts = vec![format!("{} duplicate row(s)", count(q["duplicate_rows"].as_u64().unwrap_or(0)))];
    let keys = list("candidate_keys");
    parts.push(if keys.is_empty() {
        "no candidate key".into()
    } else {
        format!("candidate keys: {}", keys.join(", "))
    });
    let not_unique: Vec<String> = q["identifiers_not_unique"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| Some(format!("{} ({} repeated or missing)", p[0].as_str()?, p[1]))).collect())
        .unwrap_or_default();
    if !not_unique.is_empty() {
        parts.push(format!("identifiers that are not unique: {}", not_unique.join(", ")));
    }
    for c in report.get("coerced").and_then(|c| c.as_array()).into_iter().flatten() {
        let examples: Vec<String> = c["examples"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e.as_str().map(|e| format!("{e:?}")))
            .collect();
        let column = c["column"].as_str().unwrap_or("?");
        let examples = if examples.is_empty() { String::new() } else { format!(" (e.g. {})", examples.join(", ")) };
        parts.push(if c["kept_as_text"] == true {
            format!("{column}: kept as text: {}{examples}", c["reason"].as_str().unwrap_or("values of another type"))
        } else {
            format!(
                "{column}: {} value(s) of another kind than {} set aside as null{examples}",
                c["values"],
                c["to_type"].as_str().unwrap_or("?")
            )
        });
    }
    Some(format!("quality: {}", parts.join("; ")))
}
