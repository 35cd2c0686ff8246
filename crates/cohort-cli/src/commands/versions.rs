//! `cohort versions`.

use cohort_store::DatasetName;

use super::Context;
use crate::ExitStatus;
use crate::ui::{print_json, versions_table};

pub fn run(ctx: &Context, dataset: &str) -> anyhow::Result<ExitStatus> {
    let versions = ctx.open_store()?.versions(&DatasetName::new(dataset)?)?;
    if ctx.global.json {
        print_json(&versions)?;
        return Ok(ExitStatus::Success);
    }
    println!("{}", versions_table(&versions));
    Ok(ExitStatus::Success)
}
