//! `cohort serve`.

use cohort_auth::SessionPolicy;
use cohort_web::access::AccessConfig;
use cohort_web::public::PublicSite;
use cohort_web::{AppState, ServeConfig};

use super::Context;
use crate::ExitStatus;
use crate::cli::ServeArgs;

pub fn run(ctx: &Context, args: &ServeArgs) -> anyhow::Result<ExitStatus> {
    if !args.public.is_empty() {
        return public(ctx, args);
    }
    let store = ctx.open_or_create_store()?;
    if args.demo {
        let added = cohort_web::demo::seed(&store)?;
        if !added.is_empty() {
            ctx.note(format!("added the demo datasets: {}", added.join(", ")));
        }
    }
    let access = AccessConfig {
        sessions: SessionPolicy { idle: args.session_idle, absolute: args.session_max },
        secure_cookies: !args.insecure_cookies,
        ..AccessConfig::default()
    };
    let config = ServeConfig { addr: args.addr };
    let json = ctx.global.json;
    let root = store.root().display().to_string();
    cohort_web::serve(
        AppState::with_engines(store, args.max_upload_size, access, args.engine_slots),
        config,
        ctx.cancel.clone(),
        |addr| {
            if json {
                println!("{}", serde_json::json!({"url": format!("http://{addr}/"), "store": root}));
            } else {
                println!("cohort is serving {root} at http://{addr}/ (Ctrl-C stops it)");
            }
        },
    )?;
    Ok(ExitStatus::Success)
}

/// `--public`: published bundles only. The store is never opened.
fn public(ctx: &Context, args: &ServeArgs) -> anyhow::Result<ExitStatus> {
    let site = PublicSite::load(&args.public)?;
    let datasets: Vec<String> = site.datasets().map(String::from).collect();
    let json = ctx.global.json;
    cohort_web::serve_public(site, ServeConfig { addr: args.addr }, ctx.cancel.clone(), |addr| {
        if json {
            println!("{}", serde_json::json!({"url": format!("http://{addr}/"), "public": datasets}));
        } else {
            println!(
                "cohort is serving the public figures of {} at http://{addr}/ (Ctrl-C stops it)",
                datasets.join(", ")
            );
        }
    })?;
    Ok(ExitStatus::Success)
}
