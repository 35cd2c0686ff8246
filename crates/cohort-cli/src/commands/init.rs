//! `cohort init`.

use cohort_store::Store;

use super::Context;
use crate::ExitStatus;
use crate::ui::print_json;

pub fn run(ctx: &Context) -> anyhow::Result<ExitStatus> {
    let existed = Store::exists(&ctx.global.store);
    let store = Store::init(&ctx.global.store, ctx.settings.clone())?;
    if ctx.global.json {
        print_json(&serde_json::json!({"store": store.root(), "created": !existed}))?;
    } else if existed {
        println!("A store already exists at {}", store.root().display());
    } else {
        println!("Created a store at {}", store.root().display());
    }
    Ok(ExitStatus::Success)
}
