//! `cohort versions`.

use cohort_store::DatasetName;

use super::Context;
use crate::ExitStatus;
use crate::ui::{bytes, count, print_json, table, when};

pub fn run(ctx: &Context, dataset: &str) -> anyhow::Result<ExitStatus> {
    let versions = ctx.open_store()?.versions(&DatasetName::new(dataset)?)?;
    if ctx.global.json {
        print_json(&versions)?;
        return Ok(ExitStatus::Success);
    }
    let mut t = table(&["version", "created", "by", "rows", "size", "status", "content hash"]);
    for v in &versions {
        t.add_row(vec![
            format!("{}{}", v.version, if v.is_current { " (current)" } else { "" }),
            when(v.created_at),
            v.created_by.clone(),
            count(v.rows),
            bytes(v.bytes),
            v.status.as_str().to_string(),
            v.content_hash[..12.min(v.content_hash.len())].to_string(),
        ]);
    }
    println!("{t}");
    Ok(ExitStatus::Success)
}
