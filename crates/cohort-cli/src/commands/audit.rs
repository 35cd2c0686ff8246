//! `cohort audit`, and the records the command line itself writes.

use anyhow::Context as _;
use cohort_audit::{Actor, AuditLog, Entry, Filter, Outcome};
use cohort_store::Store;

use super::Context;
use crate::ExitStatus;
use crate::cli::AuditCommand;

pub fn run(ctx: &Context, command: &AuditCommand) -> anyhow::Result<ExitStatus> {
    let store = ctx.open_store()?;
    let log = AuditLog::new(store.layout().audit_dir());
    match command {
        AuditCommand::Verify { expect, expect_from, record } => {
            let anchor = match expect_from {
                Some(file) => Some(
                    cohort_audit::last_anchor(file)?
                        .with_context(|| format!("{} records no head yet (write one with `--record`)", file.display()))?
                        .head,
                ),
                None => expect.clone(),
            };
            let check = log.verify(anchor.as_deref())?;
            if anchor.is_none() {
                ctx.note(
                    "warning: checked against the log's own head file only; a log cut at its end with its head \
                     rewritten to match would pass. Keep the head elsewhere (`--record FILE` on another disk, or \
                     the hash below in a ticket) and check later with `--expect-from FILE` or `--expect HASH`.",
                );
            }
            if let Some(file) = record.as_ref().filter(|_| check.is_intact()) {
                let recorded = cohort_audit::record_anchor(file, &check)?;
                ctx.note(format!(
                    "Recorded head {} ({} entries) in {}",
                    recorded.head,
                    recorded.entries,
                    file.display()
                ));
            }
            if ctx.global.json {
                println!("{}", serde_json::to_string_pretty(&check)?);
            } else if check.is_intact() {
                println!("The audit log is intact: {} entries.", check.entries);
                println!("Head: {} (keep it elsewhere; `--expect` checks it later)", check.last_hash);
            } else {
                println!("The audit log has been altered or damaged:");
                for p in &check.problems {
                    match p.line {
                        Some(line) => println!("  line {line}: {}", p.message),
                        None => println!("  {}", p.message),
                    }
                }
            }
            Ok(if check.is_intact() { ExitStatus::Success } else { ExitStatus::Unhealthy })
        }
        AuditCommand::Show { user, dataset, since, action, last } => {
            let since = since
                .as_deref()
                .map(|s| cohort_audit::parse_since(s).map_err(anyhow::Error::msg))
                .transpose()
                .context("invalid --since")?;
            let filter = Filter { user: user.clone(), dataset: dataset.clone(), since, action: action.clone() };
            let mut records = log.records(&filter)?;
            if let Some(n) = last {
                records.drain(..records.len().saturating_sub(*n));
            }
            if ctx.global.json {
                println!("{}", serde_json::to_string_pretty(&records)?);
                return Ok(ExitStatus::Success);
            }
            if records.is_empty() {
                ctx.note("No entries match.");
                return Ok(ExitStatus::Success);
            }
            let mut table =
                crate::ui::table(&["#", "when", "who", "from", "action", "datasets", "outcome", "rows", "asked"]);
            for r in records {
                let e = r.entry;
                let mut outcome = e.outcome.as_str().to_string();
                if let Some(d) = e.detail {
                    outcome = format!("{outcome}: {d}");
                }
                table.add_row([
                    r.seq.to_string(),
                    r.at.strftime("%Y-%m-%d %H:%M:%S").to_string(),
                    format!("{} ({}, {})", e.actor.user, e.actor.role, e.actor.via),
                    e.from.unwrap_or_default(),
                    e.action,
                    e.datasets.join(", "),
                    outcome,
                    e.rows.map(|n| n.to_string()).unwrap_or_default(),
                    e.asked.unwrap_or_default(),
                ]);
            }
            println!("{table}");
            Ok(ExitStatus::Success)
        }
    }
}

/// Who runs this command: the operating-system account.
pub fn cli_actor() -> Actor {
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| {
        // SAFETY: getuid has no preconditions and cannot fail.
        format!("uid{}", unsafe { libc::getuid() })
    });
    Actor { user: format!("os:{user}"), role: "cli".into(), via: "cli".into() }
}

/// Records an action of the command line in the store's audit log. A record that cannot be
/// written fails the command, before any participant-level data leaves.
pub fn record(store: &Store, entry: Entry) -> anyhow::Result<()> {
    let mut entry = entry;
    entry.from.get_or_insert_with(|| "cli".into());
    AuditLog::new(store.layout().audit_dir())
        .append(&[entry])
        .context("refusing to go on: the audit record of this command cannot be written")?;
    Ok(())
}

/// An entry of `action` by the command line's user.
pub fn entry(action: &str, outcome: Outcome) -> Entry {
    Entry::new(cli_actor(), action, outcome)
}
