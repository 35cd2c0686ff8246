//! `cohort user`: accounts and API tokens. Every change is in the audit log.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context as _, bail};
use cohort_audit::Outcome;
use cohort_auth::{Accounts, Role};

use super::Context;
use super::audit::{entry, record};
use crate::ExitStatus;
use crate::cli::{TokenCommand, UserCommand};

pub fn run(ctx: &Context, command: &UserCommand) -> anyhow::Result<ExitStatus> {
    let store = ctx.open_or_create_store()?;
    let accounts = Accounts::new(store.layout().access_dir());
    let audited = |action: &str, detail: String| {
        let mut e = entry(action, Outcome::Served);
        e.detail = Some(detail);
        record(&store, e)
    };
    match command {
        UserCommand::Add { name, role, password_stdin } => {
            let role: Role = role.parse()?;
            let first = !accounts.any()?;
            if first && role != Role::Admin {
                bail!(
                    "the first account must be an admin, so that someone can manage the others: \
                     `cohort user add {name} --role admin`"
                );
            }
            let password = read_password(*password_stdin)?;
            accounts.add_user(name, role, &password)?;
            audited("user.add", format!("{name} as {role}"))?;
            ctx.note(format!("added {name} ({role})"));
            if first {
                ctx.note("From now on, `cohort serve` asks everyone to log in.");
            }
        }
        UserCommand::Remove { name } => {
            accounts.remove_user(name)?;
            audited("user.remove", name.clone())?;
            ctx.note(format!("removed {name}; its tokens no longer work and its sessions end"));
        }
        UserCommand::List => list(ctx, &accounts)?,
        UserCommand::Passwd { name, password_stdin } => {
            if accounts.snapshot()?.user(name).is_none() {
                bail!(cohort_auth::AuthError::NoSuchUser(name.clone()));
            }
            let password = read_password(*password_stdin)?;
            accounts.set_password(name, &password)?;
            audited("user.passwd", name.clone())?;
            ctx.note(format!("changed the password of {name}; its sessions end"));
        }
        UserCommand::Role { name, role } => {
            let role: Role = role.parse()?;
            accounts.set_role(name, role)?;
            audited("user.role", format!("{name} to {role}"))?;
            ctx.note(format!("{name} is now {role}"));
        }
        UserCommand::Grant { name, datasets, all } => {
            let grants = (!*all).then(|| datasets.iter().cloned().collect());
            accounts.set_grants(name, grants)?;
            let what = if *all { "every dataset".to_string() } else { datasets.join(", ") };
            audited("user.grant", format!("{name}: {what}"))?;
            ctx.note(format!("{name} may see {what}"));
        }
        UserCommand::SiteNames { name, datasets, none } => {
            let granted: std::collections::BTreeSet<String> =
                if *none { Default::default() } else { datasets.iter().cloned().collect() };
            accounts.set_site_names(name, granted)?;
            let what = if *none {
                "no registry's site names".to_string()
            } else {
                format!("the site names of {}", datasets.join(", "))
            };
            audited("user.site_names", format!("{name}: {what}"))?;
            ctx.note(format!("{name} may see {what}"));
        }
        UserCommand::Token(action) => token(ctx, &accounts, action, &audited)?,
    }
    Ok(ExitStatus::Success)
}

fn list(ctx: &Context, accounts: &Accounts) -> anyhow::Result<()> {
    let data = accounts.snapshot()?;
    if ctx.global.json {
        let users: Vec<_> = data
            .users
            .iter()
            .map(|u| {
                serde_json::json!({
                    "name": u.name, "role": u.role, "created": u.created,
                    "password_changed": u.password_changed, "datasets": u.datasets, "site_names": u.site_names,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&users)?);
        return Ok(());
    }
    if data.users.is_empty() {
        ctx.note("No accounts: `cohort serve` serves this store to loopback only. Add one with `cohort user add NAME --role admin`.");
        return Ok(());
    }
    let mut table = crate::ui::table(&["account", "role", "datasets", "created", "tokens"]);
    for u in &data.users {
        let tokens = data.tokens.iter().filter(|t| t.user == u.name && t.revoked.is_none()).count();
        table.add_row([
            u.name.clone(),
            u.role.to_string(),
            u.datasets.as_ref().map_or("all".into(), |d| d.iter().cloned().collect::<Vec<_>>().join(", ")),
            u.created.strftime("%Y-%m-%d").to_string(),
            tokens.to_string(),
        ]);
    }
    println!("{table}");
    Ok(())
}

fn token(
    ctx: &Context,
    accounts: &Accounts,
    action: &TokenCommand,
    audited: &dyn Fn(&str, String) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    match action {
        TokenCommand::Add { user, name, role, expires_in } => {
            let role = role.as_deref().map(str::parse::<Role>).transpose()?;
            let expires = expires_in
                .map(|d| jiff::Timestamp::now().checked_add(jiff::SignedDuration::try_from(d)?))
                .transpose()
                .context("--expires-in is too long")?;
            let (info, secret) = accounts.create_token(user, name, role, expires)?;
            audited("token.add", format!("{} for {user} ({})", info.id, info.role))?;
            if ctx.global.json {
                println!(
                    "{}",
                    serde_json::json!({"id": info.id, "user": info.user, "role": info.role, "expires": info.expires, "token": secret})
                );
            } else {
                ctx.note(format!("token {} for {user} ({}); copy it now, it is not shown again:", info.id, info.role));
                println!("{secret}");
            }
        }
        TokenCommand::List => {
            let data = accounts.snapshot()?;
            let tokens: Vec<cohort_auth::TokenInfo> = data.tokens.iter().map(Into::into).collect();
            if ctx.global.json {
                println!("{}", serde_json::to_string_pretty(&tokens)?);
                return Ok(());
            }
            let mut table = crate::ui::table(&["id", "account", "name", "role", "created", "expires", "state"]);
            let now = jiff::Timestamp::now();
            for t in tokens {
                let state = match (t.revoked, t.expires) {
                    (Some(_), _) => "revoked",
                    (None, Some(e)) if e <= now => "expired",
                    _ => "active",
                };
                table.add_row([
                    t.id,
                    t.user,
                    t.name,
                    t.role.to_string(),
                    t.created.strftime("%Y-%m-%d").to_string(),
                    t.expires.map(|e| e.strftime("%Y-%m-%d").to_string()).unwrap_or_else(|| "never".into()),
                    state.into(),
                ]);
            }
            println!("{table}");
        }
        TokenCommand::Revoke { id } => {
            let info = accounts.revoke_token(id)?;
            audited("token.revoke", format!("{} of {}", info.id, info.user))?;
            ctx.note(format!("revoked token {id}"));
        }
    }
    Ok(())
}

/// The new password: asked twice on a terminal, or the first line of standard input.
fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("reading the password from standard input")?;
        let password = line.trim_end_matches(['\n', '\r']).to_string();
        if password.is_empty() {
            bail!("standard input held no password (give it on the first line)");
        }
        return Ok(password);
    }
    let first = rpassword::prompt_password("New password: ")?;
    let again = rpassword::prompt_password("Again: ")?;
    if first != again {
        bail!("the two passwords differ; nothing changed");
    }
    Ok(first)
}
