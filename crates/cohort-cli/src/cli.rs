//! The command line, declared once: every flag, its environment variable and its help.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
A store is a directory: a DuckDB catalog (catalog.duckdb), immutable Parquet files per dataset
version (datasets/), and datasets.duckdb, which the stock DuckDB CLI or Python can open to find
every dataset as a view.

Exit codes: 0 success; 1 error; 2 usage error; 3 `doctor` found problems; 4 store busy or disk
full; 130 interrupted.

Examples:
  cohort ingest patients.csv visits.csv --name trial
  cohort query 'SELECT count(*) FROM trial.visits'
  cohort export trial.visits --format parquet --output visits.parquet
  cohort rollback trial --to 1";

/// A persistent, versioned home for patient-level research data.
#[derive(Debug, Parser)]
#[command(name = "cohort", version, after_help = AFTER_HELP, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// The store directory.
    #[arg(long, global = true, env = "COHORT_HOME", default_value = "./cohort-data", value_name = "DIR")]
    pub store: PathBuf,

    /// Memory cap for the whole process (at least 200MB), e.g. `1GB`, `512MiB`; DuckDB spills to
    /// the store's tmp/ beyond it.
    #[arg(long, global = true, env = "COHORT_MEMORY_LIMIT", default_value = "1GB", value_name = "SIZE")]
    pub memory_limit: String,

    /// Worker threads (default: one per core).
    #[arg(long, global = true, env = "COHORT_THREADS", value_name = "N")]
    pub threads: Option<u32>,

    /// Print machine-readable JSON on standard output.
    #[arg(long, global = true)]
    pub json: bool,

    /// No progress bars or notes on standard error.
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// More detail on standard error (repeat for more; `RUST_LOG` also works).
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a store (the directory given by --store).
    Init,
    /// Load CSV/TSV, JSON/NDJSON, Excel, Parquet files (or ZIP archives of them) as one dataset version
    /// (a table per file or sheet).
    #[command(after_help = "\
Each file becomes a table named after it (`Lab Results.csv` -> `lab_results`). Ingesting again
under the same name makes a new version; identical content makes none. Identifier-like columns
(`*_id`, `mrn`, `patid`, ...) and codes with leading zeros are kept as text.")]
    Ingest(IngestArgs),
    /// Bring legacy JSON in: synthetic-patient cohorts (every HealthSim shape) and simulation
    /// results from before Parquet. Originals are copied to a verified backup, never moved.
    #[command(after_help = "\
With no PATH, looks in ~/.healthsim/cohorts, ~/.healthsim/scenarios and ~/.healthsim/workspaces.
A folder of per-entity files (patient.json, person.json, claims.json, an optional cohort.json,
README, HL7 and X12 files) is one cohort, named after the folder: entity files become tables,
other JSON the `documents` table, other files attachments. Folders holding whole cohort files
are searched for JSON files.

Every source is reported as migrated, already migrated, conflict (its name is taken), skipped
(not a shape cohort knows) or failed (corrupt: the line and column are named; the file stays
where it was). Each new version is written back to JSON from the store and compared with its
source. The exit code is 0 unless a source failed. Running again skips what is done, also after a
crash.

Examples:
  cohort migrate --dry-run
  cohort migrate ~/old-app/cohorts/diabetes.json ~/old-app/runs/
  cohort migrate --json results.json > report.json
  cohort export diabetes-cohort --format cohort-json -o diabetes.json
  cohort export ward-7 --format cohort-folder -o ward-7-again/")]
    Migrate(MigrateArgs),
    /// List datasets.
    List,
    /// Show a dataset: tables, columns, versions and provenance (`NAME` or `NAME@N`).
    Show {
        /// `NAME` or `NAME@N`.
        dataset: String,
    },
    /// Print a dataset's data dictionary: every column's type, role, label, completeness, distinct
    /// values and range (`--csv` writes it as CSV, e.g. `> dictionary.csv`).
    Dictionary {
        /// `NAME` or `NAME@N`.
        dataset: String,
        /// Only this table.
        #[arg(long)]
        table: Option<String>,
        /// Write CSV to standard output instead of tables.
        #[arg(long)]
        csv: bool,
    },
    /// Statistics on a dataset: describe, compare groups, correlate, regress, survival.
    ///
    /// Give a plan file (YAML or JSON), or a dataset and an analysis with its variables. Every
    /// answer says which rows were used (and why others were not) and how it was computed;
    /// `--plan` prints the plan instead of running it, to save, edit and run again.
    ///
    ///   cohort analyze trial describe age sex --by arm
    ///   cohort analyze trial compare va --by arm --where "age >= 65"
    ///   cohort analyze trial correlate age weight crp
    ///   cohort analyze trial linear va --predictors age,sex,stage
    ///   cohort analyze trial logistic died --predictors age,sex,stage --reference stage=I
    ///   cohort analyze trial logistic status=dead --predictors age,sex
    ///   cohort analyze trial survival --time days --event died --by arm
    ///   cohort analyze trial cox --time days --event died --predictors age,sex,stage
    ///   cohort analyze ehr --unified describe admissions_rows --by sex
    ///   cohort analyze registry#dmd-over-10 describe age --table participants
    ///   cohort analyze plan.yaml
    ///   cohort analyze --history            (then --replay N runs entry N again)
    ///
    /// Filters (`--where`, repeatable, all must hold): COLUMN OP VALUE with OP one of
    /// = != < <= > >= in (values separated by commas), not in, is null, not null.
    #[command(verbatim_doc_comment)]
    Analyze(AnalyzeArgs),
    /// Ask a question in words; see the plan it was understood as, and its answer.
    ///
    /// Words are matched to columns by name, label and close spelling; when a question could be
    /// read two ways, the answer is a question back. Nothing but a plan is made from the words.
    ///
    ///   cohort ask trial "does survival differ by sex"
    ///   cohort ask trial "what predicts death"
    ///   cohort ask trial "compare age between arms"
    ///   cohort ask trial "correlation between age and weight loss"
    ///   cohort ask trial "how many patients per site" --plan > plan.yaml
    ///   cohort ask study "does the number of visits differ by arm" --unified
    #[command(verbatim_doc_comment)]
    Ask {
        /// `NAME` or `NAME@N`.
        dataset: String,
        /// The question.
        question: String,
        /// The table (needed when the version has several).
        #[arg(long, conflicts_with = "unified")]
        table: Option<String>,
        /// Ask of the one-row-per-participant unified view (see `cohort relate`), whose columns
        /// include each related table's row count and means.
        #[arg(long)]
        unified: bool,
        /// Print the plan understood (YAML; JSON with --json) instead of running it.
        #[arg(long)]
        plan: bool,
    },
    /// Show, confirm or correct the keys and relationships found between a dataset's tables, and
    /// build the one-row-per-participant unified view.
    ///
    /// Ingest detects each table's key (unique, never missing, an identifier-like name) and the
    /// columns that refer to another table's key (a matching name, and at least 80% of values
    /// found there). Decisions made here hold for every version of the dataset.
    ///
    ///   cohort relate ehr
    ///   cohort relate ehr --reject labs.admission_id=admissions.admission_id
    ///   cohort relate ehr --add notes.patient=patients.patient_id
    ///   cohort relate ehr --unified --output participants.parquet
    #[command(verbatim_doc_comment)]
    Relate(RelateArgs),
    /// Run SQL over the store. Datasets are schemas: `"trial"."visits"`; `"trial@2"."visits"` is
    /// version 2.
    Query(QueryArgs),
    /// Write a table (`NAME[@N].TABLE`) or every table of a dataset (`NAME[@N]`) to a file.
    Export(ExportArgs),
    /// List the versions of a dataset.
    Versions {
        /// The dataset.
        dataset: String,
    },
    /// Make an older version current again (only the pointer moves).
    Rollback {
        /// The dataset.
        dataset: String,
        /// The version to make current.
        #[arg(long, value_name = "N")]
        to: u32,
    },
    /// Remove files no version needs; with --keep, also versions older than the newest K.
    Gc {
        /// Keep the newest K versions of each dataset (the current one is always kept).
        #[arg(long, value_name = "K")]
        keep: Option<u32>,
        /// Also remove interrupted simulation runs and shards (otherwise kept for `--resume` and
        /// `merge`; `cohort doctor` lists them).
        #[arg(long)]
        discard_interrupted: bool,
        /// Show what would be removed without removing it.
        #[arg(long)]
        dry_run: bool,
    },
    /// Simulate anti-VEGF treatment of neovascular AMD under a protocol; the run becomes a
    /// dataset (tables `patients` and `visits`).
    #[command(after_help = "\
The same protocol, patients, years, start and seed give byte-identical output, whatever the
number of threads (--threads or RAYON_NUM_THREADS). Running it again is detected as unchanged.

Examples:
  cohort simulate --patients 10000 --years 5 --seed 42
  cohort simulate --protocol aflibercept-tnt --per-week 25 --years 3 --name tnt-weekly
  cohort query 'SELECT discontinuation_type, count(*) FROM \"aflibercept-tae-10000p-5y-seed42\".patients GROUP BY 1'")]
    Simulate(SimulateArgs),
    /// Treatment protocols for `cohort simulate`: list, show, validate, or copy one to edit.
    #[command(subcommand)]
    Protocol(ProtocolCommand),
    /// Serve the web app and its JSON API (`/api/v1`) over the store; `--demo` adds example data.
    #[command(after_help = "\
A store without accounts is served to this machine only (loopback), to whoever can reach it.
Once an account exists, everyone logs in; a non-loopback --addr needs an admin account first:

  cohort user add alice --role admin
  cohort serve --addr 0.0.0.0:8080

Put a TLS-terminating proxy in front: session cookies are marked Secure, so browsers send them
only over HTTPS (and to localhost). Every participant-level request is in the audit log
(`cohort audit show`).")]
    Serve(ServeArgs),
    /// Publish a dataset's public face: aggregates with every count from 1 to k-1 suppressed,
    /// as a checksummed bundle that holds no participant-level data.
    #[command(after_help = "\
The profile (YAML) says what the columns mean:

  table: patients            # one row per participant
  participant: patient_id
  enrolled: enrolled_on      # enrolment over time, retention
  site: site                 # counts per site (published as Site 1, Site 2, ...: never names)
  region: region
  categories: [sex, diagnosis]
  numeric: [age, baseline_va]
  visits:                    # longitudinal summaries
    table: visits
    participant: patient_id
    date: visit_date
    domains: {vision: [va_letters], imaging: [oct_thickness]}
  cutoff: 2026-06-30         # default: the latest date in the data
  k: 11                      # counts 1 to k-1 are never published
  enrolment_period: quarter  # month, quarter or year; default: the finest that keeps most counts
  bins: {age: 5}             # histogram bins; default: the most (10 down to 2) that keep most counts
  quartiles: {min_participants: 20, round_to: 1}   # the defaults
  labels: {baseline_va: Baseline vision (letters)}

The dictionary lists the profile's columns alone, with their labels and kinds. Before it writes
the bundle, publish says what share of each table's participants is in hidden cells.

Examples:
  cohort publish registry --profile public.yaml --output registry-public.json
  cohort serve --public registry-public.json --addr 0.0.0.0:8080")]
    Publish(PublishArgs),
    /// A registry's figures for a cohort chosen by filters: participants, sites, categories,
    /// measures, enrolment, visits and retention, as the registry dashboard shows them.
    #[command(after_help = "\
A registry's profile is its publish profile (see `cohort publish --help`), kept with the dataset
once, plus optional keys for the dashboard:

  filters: [diagnosis, sex, age, enrolled]          # the columns a cohort is chosen by
  labels: {age: Age at entry (years)}
  domains: {Demographics: [sex, age], Diagnosis: [diagnosis]}   # the dictionary's groups
  required: [sex, diagnosis]                         # flagged when a participant lacks one

Besides the published figures, the registry shows enrolment over time (cumulative, and by the
categories or region --by names), sites by region, size and year of enrolment, time between
visits and years followed, and a dictionary by domain with completeness in the cohort and in all.

Filters (all apply; values of one filter are alternatives):
  sex=F   diagnosis=DMD,BMD   sex!=F   age=10..20   age=10..   enrolled=..2021-12-31   has:imaging

Examples:
  cohort registry registry --set-profile registry.yaml
  cohort registry registry --filter diagnosis=DMD --filter age=10.. --json
  cohort registry registry --filter age=10.. --by sex --by region
  cohort registry registry --filter diagnosis=DMD --filter age=10.. --save-as dmd-over-10
  cohort registry registry --cohort dmd-over-10
  cohort registry registry --cohorts")]
    Registry(RegistryArgs),
    /// Accounts of the web app and their API tokens: add, remove, list, passwd, role, grant,
    /// token.
    #[command(subcommand)]
    User(UserCommand),
    /// The audit log of participant-level access and administrative actions: verify, show.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Check every file against its recorded SHA-256 and row count.
    Doctor {
        /// Quarantine versions with broken files and rewrite datasets.duckdb.
        #[arg(long)]
        repair: bool,
    },
}

/// `cohort serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free one. An address other than loopback needs an
    /// admin account (`cohort user add NAME --role admin`).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "IP:PORT")]
    pub addr: std::net::SocketAddr,
    /// Add example data if missing: two 2,000-patient simulation runs (treat-and-extend and
    /// treat-and-treat) and a small trial loaded from CSV.
    #[arg(long)]
    pub demo: bool,
    /// The largest file a web upload accepts.
    #[arg(long, default_value = "2GB", value_name = "SIZE", value_parser = cohort_store::parse_size)]
    pub max_upload_size: u64,
    /// Log out a browser session unused for this long.
    #[arg(long, default_value = "30m", value_name = "DURATION", value_parser = parse_duration)]
    pub session_idle: std::time::Duration,
    /// Log out a browser session this long after login, however busy.
    #[arg(long, default_value = "12h", value_name = "DURATION", value_parser = parse_duration)]
    pub session_max: std::time::Duration,
    /// Send session cookies without `Secure`, so that they also travel over plain HTTP to an
    /// address other than localhost. Only on a network you trust: anyone on it can read them.
    #[arg(long)]
    pub insecure_cookies: bool,
    /// Serve only these published bundles (from `cohort publish`) as a public dashboard: no
    /// store, no accounts, no participant-level data, so any address is allowed. Each bundle's
    /// checksum is verified first; an edited bundle is refused.
    #[arg(long, value_name = "BUNDLE", num_args = 1.., conflicts_with_all = ["demo", "insecure_cookies"])]
    pub public: Vec<std::path::PathBuf>,
    /// Queries, downloads and other data work that may run at once, sharing `--memory-limit`
    /// (the cap of the whole process) equally; more wait their turn (503 after 30 s). Default:
    /// one per 250 MB of the cap, at most 8. `0` gives each its own whole cap and no limit on how
    /// many (the process can then use several times the cap).
    #[arg(long, value_name = "N")]
    pub engine_slots: Option<usize>,
}

/// `30m`, `12h`, `90d`, `1h 30m`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let span: jiff::SignedDuration = text
        .parse::<jiff::Span>()
        .ok()
        .and_then(|s| s.to_duration(jiff::SpanRelativeTo::days_are_24_hours()).ok())
        .ok_or_else(|| format!("`{text}` is not a duration: write for example 30m, 12h or 90d"))?;
    std::time::Duration::try_from(span).map_err(|_| format!("`{text}` must be positive"))
}

/// `cohort publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The dataset (`NAME` or `NAME@N`), or a registry's saved cohort (`NAME#COHORT`).
    pub dataset: String,
    /// The publish profile (YAML).
    #[arg(long, value_name = "FILE")]
    pub profile: std::path::PathBuf,
    /// Where to write the bundle (default `NAME-vN.bundle.json`).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
    /// The suppression threshold, overriding the profile's (default 11).
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(2..))]
    pub k: Option<u64>,
}

/// `cohort registry`.
#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// The registry dataset (`NAME` or `NAME@N`).
    pub dataset: String,
    /// A filter choosing the cohort (repeatable): `COLUMN=V1,V2`, `COLUMN!=V`, `COLUMN=FROM..TO`,
    /// `has:DOMAIN`.
    #[arg(long = "filter", short = 'f', value_name = "FILTER")]
    pub filters: Vec<String>,
    /// Start from this saved cohort's filters (`--filter`s add to them).
    #[arg(long, value_name = "NAME")]
    pub cohort: Option<String>,
    /// Break enrolment over time down by this category or the region too (repeatable; `all`
    /// for each).
    #[arg(long, value_name = "COLUMN")]
    pub by: Vec<String>,
    /// Save the filters as a named cohort of the dataset (replacing one of that name).
    #[arg(long, value_name = "NAME", conflicts_with_all = ["set_profile", "cohorts"])]
    pub save_as: Option<String>,
    /// Keep this profile (YAML) with the dataset, then show the registry under it.
    #[arg(long, value_name = "FILE")]
    pub set_profile: Option<std::path::PathBuf>,
    /// List the dataset's saved cohorts.
    #[arg(long, conflicts_with_all = ["filters", "cohort", "set_profile"])]
    pub cohorts: bool,
}

/// `cohort user`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account. The password is asked for twice on a terminal, or read from standard
    /// input with --password-stdin; it needs at least 12 characters.
    Add {
        /// Its name: lowercase letters, digits, `.`, `_`, `-`.
        name: String,
        /// viewer (aggregates), analyst (participant-level data, queries, downloads) or admin
        /// (accounts, uploads, rollbacks, publishing, the audit log).
        #[arg(long, default_value = "viewer")]
        role: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove an account; its API tokens stop working and its sessions end.
    Remove {
        /// The account.
        name: String,
    },
    /// List the accounts with their roles, grants and tokens.
    List,
    /// Set a new password; the account's sessions end.
    Passwd {
        /// The account.
        name: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change an account's role.
    Role {
        /// The account.
        name: String,
        /// viewer, analyst or admin.
        role: String,
    },
    /// Limit an account to some datasets (`--all` lifts the limit). Others are invisible to
    /// it: not listed, not queryable, answered as not found.
    Grant {
        /// The account.
        name: String,
        /// The datasets it may see (replacing any earlier list).
        #[arg(required_unless_present = "all")]
        datasets: Vec<String>,
        /// Every dataset.
        #[arg(long, conflicts_with = "datasets")]
        all: bool,
    },
    /// Let an analyst see the site names of registry datasets on the registry dashboard
    /// (others see `Site 1`, `Site 2`, ... by size); admins always see them.
    SiteNames {
        /// The account.
        name: String,
        /// The registry datasets (replacing any earlier list).
        #[arg(required_unless_present = "none")]
        datasets: Vec<String>,
        /// No dataset's site names.
        #[arg(long, conflicts_with = "datasets")]
        none: bool,
    },
    /// API tokens for scripts: `Authorization: Bearer <token>`.
    #[command(subcommand)]
    Token(TokenCommand),
}

/// `cohort user token`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token; it is printed once and kept only as a hash.
    Add {
        /// The account it acts for.
        user: String,
        /// What it is for (`nightly-report`).
        #[arg(long, default_value = "")]
        name: String,
        /// Its scope: a role no higher than the account's (default: the account's).
        #[arg(long)]
        role: Option<String>,
        /// How long it works (`90d`); default: until revoked.
        #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
        expires_in: Option<std::time::Duration>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by its id.
    Revoke {
        /// The id `list` shows.
        id: String,
    },
}

/// `cohort audit`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check every entry's hash and its link to the one before, and the head: any edited,
    /// deleted, inserted, reordered or cut-off entry is found. Exit code 3 if the log is not intact.
    ///
    /// The log checks itself against its own head file, so a log cut at its end with the head
    /// rewritten to match would pass: keep the head somewhere else (`--record FILE` on another
    /// disk or machine, or the hash printed in a ticket) and check against it later.
    Verify {
        /// The head hash recorded earlier somewhere else (an earlier `verify`): the log must
        /// still contain it, which catches a wholesale rewrite of both files.
        #[arg(long, value_name = "HASH", conflicts_with = "expect_from")]
        expect: Option<String>,
        /// Like `--expect`, with the newest head recorded in FILE by `--record`.
        #[arg(long, value_name = "FILE")]
        expect_from: Option<std::path::PathBuf>,
        /// After a verification that finds the log intact, append its head to FILE (kept
        /// outside the store), for a later `--expect-from FILE`.
        #[arg(long, value_name = "FILE")]
        record: Option<std::path::PathBuf>,
    },
    /// Show entries, oldest first.
    Show {
        /// Only this account's.
        #[arg(long)]
        user: Option<String>,
        /// Only those about this dataset.
        #[arg(long)]
        dataset: Option<String>,
        /// Only those at or after this date or time (`2026-11-01`, `2026-11-01T09:00:00Z`).
        #[arg(long)]
        since: Option<String>,
        /// Only this action (`dataset.rows`, `query`, `table.download`, `login`, `user.add`, ...).
        #[arg(long)]
        action: Option<String>,
        /// The newest N only.
        #[arg(long, value_name = "N")]
        last: Option<usize>,
    },
}

/// `cohort simulate`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SimulateArgs {
    /// `merge NAME` commits the shards of a sharded run.
    #[command(subcommand)]
    pub action: Option<SimulateAction>,
    /// A built-in protocol (`cohort protocol list`) or a protocol file.
    #[arg(long, default_value = "aflibercept-tae", value_name = "NAME|FILE")]
    pub protocol: String,
    /// Finish an interrupted run (Ctrl-C, a crash, a full disk) of dataset NAME from its last
    /// checkpoint; the result is identical to an uninterrupted run.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["patients", "per_week", "name"])]
    pub resume: Option<String>,
    /// Patients to recruit, arriving as a Poisson process over the whole horizon.
    #[arg(long, required_unless_present_any = ["per_week", "resume"], conflicts_with = "per_week", value_name = "N")]
    pub patients: Option<u64>,
    /// Recruit at this mean number of patients per week for the whole horizon instead.
    #[arg(long, value_name = "RATE")]
    pub per_week: Option<f64>,
    /// Years simulated.
    #[arg(long, default_value_t = 5.0)]
    pub years: f64,
    /// Seed of the random streams.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// First day of the simulation.
    #[arg(long, default_value = "2024-01-01", value_name = "YYYY-MM-DD")]
    pub start: String,
    /// Dataset name (default: from the protocol, patients, years and seed).
    #[arg(long, short)]
    pub name: Option<String>,
    /// Print the estimate (patients, visit rows, disk, time) and stop.
    #[arg(long)]
    pub estimate: bool,
    /// Run even if the estimate says the disk is too small.
    #[arg(long)]
    pub force: bool,
    /// Simulate only shard I of N (1-based), into its own resumable staging area; when every
    /// shard is done, `cohort simulate merge NAME` commits them as one run.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// With --shard, on a machine without the store: upload the shard to this object-store
    /// folder (`s3://bucket/prefix`, credentials and endpoint from the AWS_* variables, or
    /// `file:///shared/path`) as each part finishes; the same command again continues after the
    /// last uploaded part; `cohort simulate merge NAME --from URL` commits every shard.
    #[arg(long, value_name = "URL", requires = "shard")]
    pub to: Option<String>,
    /// Patients per parallel chunk (output does not depend on it). Small chunks keep the waves in
    /// flight small (memory) and warm in cache (speed): 2,000 measured best here.
    #[arg(long, default_value_t = 2_000, hide = true)]
    pub chunk_patients: usize,
}

/// `cohort simulate merge`.
#[derive(Debug, Subcommand)]
pub enum SimulateAction {
    /// Commit the finished shards of a sharded run as one dataset version, identical to the same
    /// run on one machine.
    Merge {
        /// The dataset the shards were run for (or, with --from, the dataset to create).
        name: String,
        /// Take the shards from this object-store folder (what the shards were given as --to)
        /// instead of the store's staging area.
        #[arg(long, value_name = "URL")]
        from: Option<String>,
    },
    /// Fit a protocol's free parameters to its targets, and write the fitted protocol.
    ///
    /// The protocol lists its targets (`targets:`, year by year, each with a tolerance) and the
    /// parameters the search may move (`calibration: free:`, each with bounds). Every evaluation
    /// simulates the same patients, so parameter sets are compared on the same people. The
    /// fitted file carries the values, the targets, the figures achieved and how the fit was made
    /// (patients, seed, evaluations, engine), so the fit can be repeated.
    ///
    ///   cohort protocol new my-tae --from aflibercept-tae     (then edit targets and bounds)
    ///   cohort simulate calibrate my-tae.yaml --output my-tae-fitted.yaml
    #[command(verbatim_doc_comment)]
    Calibrate {
        /// A built-in name or a protocol file with `targets` and `calibration`.
        protocol: String,
        /// Where to write the fitted protocol (default: NAME-calibrated.yaml).
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Patients simulated at each evaluation.
        #[arg(long, default_value_t = 20_000)]
        patients: u64,
        /// Their seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The most evaluations the search may make.
        #[arg(long, default_value_t = 300)]
        max_evaluations: u32,
        /// Replace the output file if it exists.
        #[arg(long)]
        force: bool,
    },
}

/// `cohort protocol ...`.
#[derive(Debug, Subcommand)]
pub enum ProtocolCommand {
    /// List the built-in protocols.
    List,
    /// Print a protocol's YAML (a built-in name or a file); with --json, its values and hash.
    Show {
        /// A built-in name (`aflibercept-tae`) or a file.
        protocol: String,
    },
    /// Check protocol files: every key known, none missing, values consistent; and, for a
    /// protocol with targets, simulate it and report each target against what it achieves.
    Validate {
        /// Files (or built-in names) to check.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Patients simulated to check the targets.
        #[arg(long, default_value_t = 20_000)]
        patients: u64,
        /// Their seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Write an editable copy of a built-in protocol as NAME.yaml.
    New {
        /// The new protocol's name.
        name: String,
        /// The built-in to copy.
        #[arg(long, default_value = "aflibercept-tae")]
        from: String,
        /// Where to write it (default: NAME.yaml).
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Replace the file if it exists.
        #[arg(long)]
        force: bool,
    },
}

/// `cohort ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Files to load: CSV, TSV or TXT (optionally gzipped), Excel or OpenDocument workbooks,
    /// SPSS, Stata or SAS files, Parquet, JSON, or ZIP archives of these.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Dataset name (default: the file's name, when there is one file).
    #[arg(long, short)]
    pub name: Option<String>,
    /// A description of the dataset.
    #[arg(long)]
    pub description: Option<String>,
    /// A tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Field delimiter for text files (default: sniffed).
    #[arg(long, value_name = "CHAR")]
    pub delimiter: Option<char>,
    /// Text files have no header row (default: sniffed).
    #[arg(long, conflicts_with = "header")]
    pub no_header: bool,
    /// Text files have a header row (default: sniffed).
    #[arg(long)]
    pub header: bool,
    /// Lines above the table to skip in text files (a title, say). Without it, cohort refuses a
    /// file whose first lines do not fit the rest, rather than drop them.
    #[arg(long, value_name = "N")]
    pub skip: Option<u64>,
    /// A string that means "missing" (repeatable; replaces the default `""`, NA, N/A, NULL, null,
    /// NaN, #N/A).
    #[arg(long = "null", value_name = "TEXT")]
    pub nulls: Vec<String>,
    /// Columns to keep as text whatever they look like (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "COLUMNS")]
    pub text_columns: Vec<String>,
    /// The character encoding of text files (default: detected; UTF-16 by its byte-order mark,
    /// Latin-1 when the start of the file is not valid UTF-8).
    #[arg(long, value_parser = ["utf-8", "utf-16", "latin-1"])]
    pub encoding: Option<String>,
    /// Numbers in text files use a decimal comma (`60,5` is 60.5), as European exports do.
    /// Without it, a decimal comma is recognised in files whose fields are not comma-separated,
    /// wherever no comma could be a thousands separator.
    #[arg(long)]
    pub decimal_comma: bool,
    /// How dates in text files are written, as a strftime format (`%d/%m/%Y`, `%m/%d/%Y`,
    /// `%d.%m.%Y`). Without it, the format is detected, and a column whose day and month cannot
    /// be told apart (no day after the 12th) is kept as text.
    #[arg(long, value_name = "FORMAT")]
    pub date_format: Option<String>,
    /// A YAML file of column types, roles and labels that replace what is inferred
    /// (`columns: { visits.va: { type: integer, role: measure, label: "..." } }`). Kept with the
    /// version and applied again by later ingests that give none.
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
    /// Store a column as this type: `COLUMN=TYPE` or `TABLE.COLUMN=TYPE`, TYPE one of text,
    /// integer, decimal, date, timestamp, boolean (repeatable).
    #[arg(long = "type", value_name = "COLUMN=TYPE")]
    pub types: Vec<String>,
    /// Give a column a role: `COLUMN=ROLE`, ROLE one of identifier, date, category, measure, text
    /// (repeatable).
    #[arg(long = "role", value_name = "COLUMN=ROLE")]
    pub roles: Vec<String>,
    /// Give a column a label: `COLUMN=TEXT` (repeatable).
    #[arg(long = "label", value_name = "COLUMN=TEXT")]
    pub labels: Vec<String>,
    /// Refuse any source (a file, an archive entry, a sheet) larger than this (`500MB`, `2GB`).
    #[arg(long, value_name = "SIZE", value_parser = cohort_store::parse_size)]
    pub max_file_size: Option<u64>,
}

/// Result formats of `cohort query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QueryFormat {
    /// An aligned table (first --max-rows rows).
    Table,
    /// CSV with a header.
    Csv,
    /// One JSON object per line.
    Json,
    /// Parquet (needs --output or a redirected standard output).
    Parquet,
}

/// `cohort query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The SQL statement.
    pub sql: String,
    /// Output format (default: from the --output file's extension, else a table).
    #[arg(long, short, value_enum)]
    pub format: Option<QueryFormat>,
    /// Write to this file instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Rows shown in table format.
    #[arg(long, default_value_t = 40, value_name = "N")]
    pub max_rows: usize,
}

/// `cohort migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Files and folders to migrate (default: the legacy apps' folders under your home).
    pub paths: Vec<PathBuf>,
    /// Show the plan (each source's shape, dataset name, entity counts, conflicts) and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// When a dataset of the same name exists, add the source as its new version (the old
    /// version stays) instead of reporting a conflict. Folders never clash: one migrated before
    /// becomes a new version of its dataset, a new one gets a free name (`ward-7-2`).
    #[arg(long)]
    pub overwrite: bool,
    /// Do not copy the originals to a backup folder first.
    #[arg(long)]
    pub no_backup: bool,
    /// Where the backup folder goes (default: `backups/` in the store).
    #[arg(long, value_name = "DIR", conflicts_with = "no_backup")]
    pub backup_dir: Option<PathBuf>,
    /// The dataset name, when migrating one source (default: from the cohort's name or the file's).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Sources committed per catalog transaction (default 1000, fewer when they hold over 500,000
    /// entities). Each batch is converted, committed and verified before the next starts, so a
    /// crash or Ctrl-C loses at most one batch's work; a re-run finishes it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_size: Option<u64>,
}

/// File formats of `cohort export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// CSV with a header.
    Csv,
    /// Parquet, zstd-compressed.
    Parquet,
    /// One JSON object per line.
    Json,
    /// A migrated dataset written back as its legacy JSON: a cohort as a spec v1.0 document
    /// (`schema_version`, `name`, ..., `entities`), a simulation run with `patient_histories`.
    CohortJson,
    /// A cohort migrated from a folder written back as that folder, every file of it (JSON
    /// files, documents, README, HL7, X12, ...), into `--output DIR` (new or empty).
    CohortFolder,
}

/// `cohort export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// `NAME`, `NAME@N`, `NAME.TABLE` or `NAME@N.TABLE`.
    pub target: String,
    /// File format (default: from the --output file's extension, else CSV).
    #[arg(long, short, value_enum)]
    pub format: Option<ExportFormat>,
    /// A file (one table) or a directory (every table). Default: standard output.
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// De-identify under this export profile: a YAML file, the name of one in the store's
    /// `export-profiles/`, or `full` (everything as it is). The profile gives every column one
    /// rule: keep, drop, hash, dates, zip3, age or free_text; see the README.
    #[arg(long, value_name = "NAME|FILE")]
    pub profile: Option<String>,
}

/// Arguments of `cohort analyze`.
#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// A plan file (`.yaml`, `.yml`, `.json`), or `NAME` / `NAME@N` of a dataset; `NAME#COHORT`
    /// analyses a registry's saved cohort (its participant or visits table, or --unified).
    #[arg(required_unless_present_any = ["history", "replay"])]
    pub target: Option<String>,
    /// The analysis: describe, compare, correlate, linear, logistic, survival, cox.
    pub analysis: Option<String>,
    /// The variables: described, compared or correlated; a model's outcome (`NAME=VALUE` names
    /// the value that is the event).
    pub variables: Vec<String>,
    /// The table (needed when the version has several); with --unified, the participant table.
    #[arg(long)]
    pub table: Option<String>,
    /// Analyse the one-row-per-participant unified view of all the tables (see `cohort relate`).
    #[arg(long)]
    pub unified: bool,
    /// Group by this column (describe, compare, survival).
    #[arg(long)]
    pub by: Option<String>,
    /// A model's predictors, separated by commas.
    #[arg(long, value_delimiter = ',')]
    pub predictors: Vec<String>,
    /// Follow-up time (survival, cox).
    #[arg(long)]
    pub time: Option<String>,
    /// The event column (survival, cox); `COLUMN=VALUE` when the event is not 1 or true.
    #[arg(long)]
    pub event: Option<String>,
    /// The reference level of a categorical predictor: `PREDICTOR=LEVEL` (repeatable).
    #[arg(long, value_name = "PREDICTOR=LEVEL")]
    pub reference: Vec<String>,
    /// Keep only rows where COLUMN OP VALUE holds (repeatable).
    #[arg(long = "where", value_name = "FILTER")]
    pub filters: Vec<String>,
    /// 1 - the confidence level of intervals.
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
    /// Print the plan (YAML; JSON with --json) instead of running it.
    #[arg(long)]
    pub plan: bool,
    /// List the analyses run on this store, newest first (of DATASET, when given).
    #[arg(long, conflicts_with_all = ["analysis", "replay", "plan"])]
    pub history: bool,
    /// Entries `--history` lists.
    #[arg(long, default_value_t = 20, requires = "history")]
    pub limit: usize,
    /// Run again the plan of history entry N (1 is the newest, as `--history` numbers them).
    #[arg(long, value_name = "N", conflicts_with_all = ["target", "analysis"])]
    pub replay: Option<usize>,
}

/// Arguments of `cohort relate`.
#[derive(Debug, clap::Args)]
pub struct RelateArgs {
    /// `NAME` or `NAME@N`.
    pub dataset: String,
    /// Confirm a relationship, or add one that was not detected: `CHILD.COLUMN=PARENT.KEY`.
    #[arg(long, value_name = "CHILD.COLUMN=PARENT.KEY")]
    pub add: Vec<String>,
    /// Say a detected relationship does not hold: `CHILD.COLUMN=PARENT.KEY`.
    #[arg(long, value_name = "CHILD.COLUMN=PARENT.KEY")]
    pub reject: Vec<String>,
    /// Build the unified view: one row per participant, child tables aggregated before joining.
    #[arg(long)]
    pub unified: bool,
    /// The participant table (default: the table whose key most tables refer to).
    #[arg(long, requires = "unified")]
    pub root: Option<String>,
    /// Write the unified view to this file (`.parquet`, `.csv` or `.json`).
    #[arg(long, requires = "unified")]
    pub output: Option<std::path::PathBuf>,
    /// Print the unified view's SQL instead of running it.
    #[arg(long, requires = "unified")]
    pub sql: bool,
}
