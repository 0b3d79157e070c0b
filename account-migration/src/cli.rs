//! The `account-migration` command. It reads the STS's own configuration (`--config`,
//! `IDP_*`) for the database, so it writes exactly where the STS reads.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use idp::config::Settings;
use idp::domain::clock::SystemClock;
use idp::domain::migration::{self, SourceName};

use crate::report::ReportFiles;
use crate::run::{Options, run};
use crate::source::Source;
use crate::source::csv::{CsvSource, Encoding};
use crate::source::jsonl::JsonLinesSource;
use crate::source::mapping::Mapping;
use crate::source::sql::SqlSource;

#[derive(Debug, Parser)]
#[command(
    name = "account-migration",
    version,
    about = "Moves accounts from a legacy school system into the STS's identity store"
)]
pub struct Cli {
    /// The STS's configuration file (TOML); `IDP_*` variables override it.
    #[arg(long, global = true, env = "IDP_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the accounts of a source (again: only what changed).
    Run(RunArgs),
    /// The runs so far, newest first.
    Runs,
    /// Mail "your account moved, choose your password" to the migrated accounts of a source
    /// not invited yet, spread over time per recipient domain.
    Invite(InviteArgs),
    /// The rows a run skipped or found in conflict, as CSV.
    Report {
        /// The run's id (see `runs`).
        run: String,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The legacy system's name; with each row's legacy id, the key that makes re-runs safe.
    #[arg(long)]
    pub source: String,
    /// A CSV export (any delimiter; UTF-8 or Windows-1252).
    #[arg(long, conflicts_with_all = ["jsonl", "legacy_db"])]
    pub csv: Option<PathBuf>,
    /// A JSON Lines file.
    #[arg(long, conflicts_with_all = ["csv", "legacy_db"])]
    pub jsonl: Option<PathBuf>,
    /// The legacy database (sqlite://PATH or postgres://…), read with --mapping.
    #[arg(long, requires = "mapping", conflicts_with_all = ["csv", "jsonl"])]
    pub legacy_db: Option<String>,
    /// Which column holds which field (TOML; see docs/migration.md).
    #[arg(long)]
    pub mapping: Option<PathBuf>,
    /// The CSV delimiter (default: guessed from the header row).
    #[arg(long)]
    pub delimiter: Option<char>,
    #[arg(long, value_enum, default_value_t = Encoding::Auto)]
    pub encoding: Encoding,
    /// The organising body (name or id) of rows that name none.
    #[arg(long)]
    pub organising_body: Option<String>,
    /// Show what would happen; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Rows per transaction.
    #[arg(long, default_value_t = 500)]
    pub batch_size: usize,
    /// Where to write the report (BASE.json and BASE.csv); default migration-RUN_ID.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct InviteArgs {
    #[arg(long)]
    pub source: String,
    /// Mails per hour to one recipient domain (all of @school.example, all of @gmail.com);
    /// default: the STS's `invitations.per_domain_per_hour`.
    #[arg(long)]
    pub per_domain_per_hour: Option<u32>,
    /// Also invite accounts whose legacy password still works.
    #[arg(long)]
    pub everyone: bool,
    /// Days each invitation's link and code work after it leaves; default: the STS's
    /// `invitations.valid_days`.
    #[arg(long)]
    pub valid_days: Option<u32>,
}

pub type CliResult = Result<(), Box<dyn std::error::Error>>;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref(), std::env::vars()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    idp::cli::init_tracing(&settings);
    let result = match cli.command {
        Command::Run(args) => run_command(&settings, args),
        Command::Runs => runs(&settings),
        Command::Invite(args) => invite(settings, args),
        Command::Report { run } => report(&settings, &run),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn open_source(args: &RunArgs) -> Result<Box<dyn Source>, Box<dyn std::error::Error>> {
    let mapping = match &args.mapping {
        Some(path) => Mapping::read(path)?,
        None => Mapping::default(),
    };
    let delimiter = args
        .delimiter
        .map(|c| u8::try_from(c).map_err(|_| format!("delimiter {c:?} is not one byte")))
        .transpose()?;
    Ok(match (&args.csv, &args.jsonl, &args.legacy_db) {
        (Some(path), _, _) => Box::new(CsvSource::open(path, delimiter, args.encoding, &mapping)?),
        (_, Some(path), _) => Box::new(JsonLinesSource::open(path)?),
        (_, _, Some(url)) => Box::new(SqlSource::open(url, &mapping)?),
        _ => return Err("name a source: --csv FILE, --jsonl FILE or --legacy-db URL".into()),
    })
}

fn run_command(settings: &Settings, args: RunArgs) -> CliResult {
    let options = Options {
        source: SourceName::parse(&args.source)?,
        dry_run: args.dry_run,
        batch_size: args.batch_size,
        organising_body: args.organising_body.clone(),
    };
    let mut source = open_source(&args)?;
    let pool = crate::open_store(&settings.database_url)?;
    let mut conn = pool.get()?;
    let base = args.report.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "migration-{}-{}",
            options.source.as_str(),
            chrono::Utc::now().format("%Y%m%d-%H%M%S")
        ))
    });
    let mut files = ReportFiles::create(&base)?;
    let mut progress = crate::progress::for_stderr();
    let done = run(
        &mut conn,
        &SystemClock,
        source.as_mut(),
        &options,
        progress.as_mut(),
        Some(&mut files),
    )?;
    let (json, csv) = (files.json_path.clone(), files.csv_path.clone());
    files.finish(&done)?;
    let c = done.counts;
    println!(
        "{}{} rows read: {} created, {} updated, {} unchanged, {} skipped, {} conflicts, {} incomplete",
        if done.dry_run {
            "dry run (nothing written): "
        } else {
            ""
        },
        c.read,
        c.created,
        c.updated,
        c.unchanged,
        c.skipped,
        c.conflicts,
        c.incomplete
    );
    println!("report: {} and {}", display(&json), display(&csv));
    Ok(())
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

fn runs(settings: &Settings) -> CliResult {
    let pool = crate::open_store(&settings.database_url)?;
    let mut conn = pool.get()?;
    for run in migration::runs(&mut conn)? {
        let c = run.counts;
        println!(
            "{}  {}  {}  {:?}  read {} created {} updated {} unchanged {} skipped {} conflicts {}",
            run.id,
            run.started_at.format("%Y-%m-%d %H:%M"),
            run.source.as_str(),
            run.status,
            c.read,
            c.created,
            c.updated,
            c.unchanged,
            c.skipped,
            c.conflicts
        );
    }
    Ok(())
}

fn report(settings: &Settings, run: &str) -> CliResult {
    let pool = crate::open_store(&settings.database_url)?;
    let mut conn = pool.get()?;
    let mut out = csv::Writer::from_writer(std::io::stdout());
    out.write_record(crate::report::CSV_HEADER)?;
    for row in migration::problems(&mut conn, run)? {
        out.write_record(crate::report::csv_fields(&row))?;
    }
    out.flush()?;
    Ok(())
}

fn invite(settings: Settings, args: InviteArgs) -> CliResult {
    let source = SourceName::parse(&args.source)?;
    // The STS's own domain (mail templates, links on its issuer); it sends nothing itself:
    // the STS's outbox worker does, at each mail's time.
    let idp = idp::app::start(settings, std::sync::Arc::new(SystemClock))?;
    let mut conn = idp.conn()?;
    let configured = migration::invite::Pace::configured(&idp.settings.invitations);
    let pace = migration::invite::Pace {
        per_domain_per_hour: args
            .per_domain_per_hour
            .unwrap_or(configured.per_domain_per_hour),
        everyone: args.everyone,
        valid_days: args.valid_days.unwrap_or(configured.valid_days),
    };
    let everyone = migration::invite::Invitees::all(&source);
    let done = migration::invite::invite(&idp, &mut conn, everyone, pace)?;
    println!("{} invitation(s) queued", done.invited);
    for (domain, (n, last)) in &done.domains {
        println!(
            "  {domain}: {n}, the last leaving {}",
            last.format("%Y-%m-%d %H:%M UTC")
        );
    }
    Ok(())
}
