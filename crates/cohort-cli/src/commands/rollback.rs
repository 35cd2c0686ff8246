//! `cohort rollback`.

use cohort_store::DatasetName;

use super::Context;
use crate::ExitStatus;
use crate::ui::print_json;

pub fn run(ctx: &Context, dataset: &str, to: u32) -> anyhow::Result<ExitStatus> {
    let name = DatasetName::new(dataset)?;
    let previous = ctx.open_store()?.rollback(&name, to)?;
    if ctx.global.json {
        print_json(&serde_json::json!({"dataset": name, "previous": previous, "current": to}))?;
    } else {
        match previous {
            Some(p) if p == to => println!("{name}: version {to} was already current"),
            Some(p) => println!("{name}: current version {p} -> {to}"),
            None => println!("{name}: current version is now {to}"),
        }
    }
    Ok(ExitStatus::Success)
}
