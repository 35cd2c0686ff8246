//! `cohort`: parse, set up logging and Ctrl-C, dispatch, and turn errors into exit codes.

mod cli;
mod commands;
mod ui;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use cohort_ingest::IngestError;
use cohort_sim::protocol::ProtocolError;
use cohort_store::{CancelToken, ErrorClass, StoreError};

use crate::cli::Cli;

/// Exit codes scripts can rely on (also listed in `cohort --help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything worked.
    Success = 0,
    /// The command failed (bad input, missing dataset, ...).
    Failure = 1,
    /// `doctor` found problems.
    Unhealthy = 3,
    /// The store was busy or the disk full.
    Resource = 4,
    /// Interrupted by Ctrl-C.
    Interrupted = 130,
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    if !matches!(cli.command, crate::cli::Command::Serve(_)) {
        end_quietly_on_closed_pipe();
    }
    init_tracing(cli.global.verbose);
    let cancel = CancelToken::new();
    {
        let cancel = cancel.clone();
        let _ = ctrlc::set_handler(move || {
            if cancel.is_cancelled() {
                std::process::exit(ExitStatus::Interrupted as i32);
            }
            cancel.cancel();
        });
    }
    let status = match commands::run(cli, &cancel) {
        Ok(status) => status,
        Err(error) => report(&error),
    };
    ExitCode::from(status as u8)
}

/// glibc gives every thread that allocates its own malloc arena (up to 8 per core) and keeps
/// freed memory in it, so the resident set of a multi-threaded conversion wanders far above what
/// is in use: measured here, 175-335 MB for an ingest that needs 145 MB. One arena per core keeps
/// `--memory-limit` honest at no measurable cost in speed. Must run before any thread starts.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        // SAFETY: mallopt only changes allocator tuning; called before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, cores.max(2) as libc::c_int);
        }
    }
}

/// `cohort query ... | head` closes the pipe after a few lines. Rust ignores SIGPIPE, so every
/// later write fails and `println!` panics; a command-line tool should instead end at once, as
/// `cat` does, with the status a shell reports for it (141). The server keeps ignoring SIGPIPE:
/// a browser closing a connection must never end it.
fn end_quietly_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of one signal, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .init();
}

fn run_error_class(e: &cohort_sim::run::RunError) -> (ErrorClass, Option<String>) {
    match e {
        cohort_sim::run::RunError::Cancelled => (ErrorClass::Cancelled, None),
        cohort_sim::run::RunError::Checkpoint(_) => (ErrorClass::User, None),
        other if cohort_store::error::is_disk_full_message(&other.to_string()) => (
            ErrorClass::Resource,
            Some(
                "free some disk space, then `cohort simulate --resume NAME` finishes the run; nothing was committed"
                    .into(),
            ),
        ),
        _ => (ErrorClass::Internal, None),
    }
}

/// Prints an error (and what to do about it) to standard error and picks the exit code.
fn report(error: &anyhow::Error) -> ExitStatus {
    let (class, hint) = if let Some(e) = error.downcast_ref::<StoreError>() {
        (e.class(), e.hint())
    } else if let Some(e) = error.downcast_ref::<IngestError>() {
        (e.class(), e.hint())
    } else if let Some(e) = error.downcast_ref::<ProtocolError>() {
        (ErrorClass::User, e.hint())
    } else if let Some(e) = error.downcast_ref::<cohort_sim::run::RunError>() {
        run_error_class(e)
    } else if let Some(e) = error.downcast_ref::<cohort_sim::job::JobError>() {
        match e {
            cohort_sim::job::JobError::Run(e) => run_error_class(e),
            cohort_sim::job::JobError::Store(e) => (e.class(), e.hint()),
            cohort_sim::job::JobError::Protocol(e) => (ErrorClass::User, e.hint()),
            cohort_sim::job::JobError::NothingToResume(_) => (ErrorClass::User, None),
        }
    } else {
        (ErrorClass::User, None)
    };
    if class == ErrorClass::Cancelled {
        eprintln!("cancelled: nothing was committed");
        return ExitStatus::Interrupted;
    }
    eprintln!("error: {error:#}");
    if let Some(hint) = hint {
        eprintln!("\nhint: {hint}");
    }
    if class == ErrorClass::Internal {
        eprintln!("\nThis looks like a bug or a failing dependency; run again with `-v` for detail.");
    }
    match class {
        ErrorClass::Resource => ExitStatus::Resource,
        _ => ExitStatus::Failure,
    }
}
