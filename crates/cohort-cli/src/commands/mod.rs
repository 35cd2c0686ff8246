//! One module per subcommand; each returns the exit status.

mod analyze;
mod audit;
mod calibrate;
mod dictionary;
mod doctor;
mod export;
mod gc;
mod ingest;
mod init;
mod list;
mod migrate;
mod protocol;
mod publish;
mod query;
mod registry;
mod relate;
mod rollback;
mod serve;
mod show;
mod simulate;
mod user;
mod versions;

use anyhow::Context as _;
use cohort_store::{CancelToken, Settings, Store, parse_size};

use crate::ExitStatus;
use crate::cli::{Cli, Command, GlobalArgs};
use crate::ui::Bars;

/// What every command needs: the global flags, resource settings and the cancel token.
pub struct Context<'a> {
    /// Global flags.
    pub global: &'a GlobalArgs,
    /// Resource settings from the flags.
    pub settings: Settings,
    /// Set by Ctrl-C.
    pub cancel: &'a CancelToken,
}

impl Context<'_> {
    /// Opens the store named by `--store`.
    pub fn open_store(&self) -> anyhow::Result<Store> {
        Ok(Store::open(&self.global.store, self.settings.clone())?)
    }

    /// Opens the store named by `--store`, creating it (and saying so) if there is none: for
    /// commands that add data, where a missing store is not a mistake.
    pub fn open_or_create_store(&self) -> anyhow::Result<Store> {
        if Store::exists(&self.global.store) {
            return self.open_store();
        }
        let store = Store::init(&self.global.store, self.settings.clone())?;
        self.note(format!("Created a store at {}", store.root().display()));
        Ok(store)
    }

    /// Progress bars, unless output is for a machine or `--quiet`.
    pub fn bars(&self) -> Bars {
        Bars::new(!self.global.quiet && !self.global.json)
    }

    /// Prints a note for people on standard error (suppressed by `--quiet` and `--json`).
    pub fn note(&self, text: impl AsRef<str>) {
        if !self.global.quiet && !self.global.json {
            eprintln!("{}", text.as_ref());
        }
    }
}

/// Runs the command `cli` names.
pub fn run(cli: Cli, cancel: &CancelToken) -> anyhow::Result<ExitStatus> {
    let memory_limit =
        parse_size(&cli.global.memory_limit).map_err(anyhow::Error::msg).context("invalid --memory-limit")?;
    let settings = Settings { memory_limit, threads: cli.global.threads, ..Settings::default() };
    settings.validate().map_err(anyhow::Error::msg).context("invalid --memory-limit")?;
    let ctx = Context { global: &cli.global, settings, cancel };
    let status = dispatch(&ctx, &cli.command);
    let root = std::path::absolute(&cli.global.store).unwrap_or_else(|_| cli.global.store.clone());
    cohort_store::layout::Layout::new(root).remove_spill_dir_if_empty();
    status
}

fn dispatch(ctx: &Context<'_>, command: &Command) -> anyhow::Result<ExitStatus> {
    match command {
        Command::Init => init::run(ctx),
        Command::Ingest(args) => ingest::run(ctx, args),
        Command::Migrate(args) => migrate::run(ctx, args),
        Command::List => list::run(ctx),
        Command::Show { dataset } => show::run(ctx, dataset),
        Command::Dictionary { dataset, table, csv } => dictionary::run(ctx, dataset, table.as_deref(), *csv),
        Command::Analyze(args) => analyze::run(ctx, args),
        Command::Ask { dataset, question, table, unified, plan } => {
            analyze::ask(ctx, dataset, question, table.as_deref(), *unified, *plan)
        }
        Command::Relate(args) => relate::run(ctx, args),
        Command::Query(args) => query::run(ctx, args),
        Command::Export(args) => export::run(ctx, args),
        Command::Versions { dataset } => versions::run(ctx, dataset),
        Command::Rollback { dataset, to } => rollback::run(ctx, dataset, *to),
        Command::Gc { keep, discard_interrupted, dry_run } => gc::run(ctx, *keep, *discard_interrupted, *dry_run),
        Command::Doctor { repair } => doctor::run(ctx, *repair),
        Command::Protocol(action) => protocol::run(ctx, action),
        Command::Simulate(args) => simulate::run(ctx, args),
        Command::Serve(args) => serve::run(ctx, args),
        Command::Publish(args) => publish::run(ctx, args),
        Command::Registry(args) => registry::run(ctx, args),
        Command::User(action) => user::run(ctx, action),
        Command::Audit(action) => audit::run(ctx, action),
    }
}
