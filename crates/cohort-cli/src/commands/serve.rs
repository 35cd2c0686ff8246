//! `cohort serve`.

use cohort_web::{AppState, ServeConfig};

use super::Context;
use crate::ExitStatus;
use crate::cli::ServeArgs;

pub fn run(ctx: &Context, args: &ServeArgs) -> anyhow::Result<ExitStatus> {
    let store = ctx.open_or_create_store()?;
    if args.demo {
        let added = cohort_web::demo::seed(&store)?;
        if !added.is_empty() {
            ctx.note(format!("added the demo datasets: {}", added.join(", ")));
        }
    }
    if args.insecure_no_auth && !args.addr.ip().is_loopback() {
        eprintln!(
            "WARNING: serving {} on {} with no access control: anyone who can reach this address can read and \
             change every dataset.",
            store.root().display(),
            args.addr
        );
    }
    let config = ServeConfig { addr: args.addr, insecure_no_auth: args.insecure_no_auth };
    let json = ctx.global.json;
    let root = store.root().display().to_string();
    cohort_web::serve(AppState::with_upload_limit(store, args.max_upload_size), config, ctx.cancel.clone(), |addr| {
        if json {
            println!("{}", serde_json::json!({"url": format!("http://{addr}/"), "store": root}));
        } else {
            println!("cohort is serving {root} at http://{addr}/ (Ctrl-C stops it)");
        }
    })?;
    Ok(ExitStatus::Success)
}
