//! The `idp` command: serve, migrate, and administer clients, users, schools and keys.

mod clients;
mod keys;
mod mail;
mod output;
mod roles;
mod schools;
mod users;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::domain::clock::SystemClock;

#[derive(Debug, Parser)]
#[command(
    name = "idp",
    version,
    about = "OpenID Connect provider for school platforms"
)]
pub struct Cli {
    /// Configuration file (TOML); `IDP_*` variables override it.
    #[arg(long, global = true, env = "IDP_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print results as JSON, for scripts.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the STS (the default).
    Serve,
    /// Database administration.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Manage relying parties.
    Client {
        #[command(subcommand)]
        command: clients::ClientCommand,
    },
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: users::UserCommand,
    },
    /// Manage organising bodies.
    Org {
        #[command(subcommand)]
        command: schools::OrgCommand,
    },
    /// Manage schools.
    School {
        #[command(subcommand)]
        command: schools::SchoolCommand,
    },
    /// Who may use the organising bodies' screens (/admin), and for whom.
    Role {
        #[command(subcommand)]
        command: roles::RoleCommand,
    },
    /// Manage the terms of use of organising bodies.
    Terms {
        #[command(subcommand)]
        command: schools::TermsCommand,
    },
    /// Mail.
    Mail {
        #[command(subcommand)]
        command: mail::MailCommand,
    },
    /// Signing keys: the timeline (no subcommand), rotation, resealing.
    Keys {
        #[command(subcommand)]
        command: Option<keys::KeysCommand>,
    },
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Apply pending migrations.
    Migrate,
    /// Copy a SQLite store to FILE while the STS serves (a consistent online copy; for
    /// PostgreSQL, use pg_dump).
    Backup { file: std::path::PathBuf },
    /// Check that the schema is current and count the main tables; fails when it is not.
    Check,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref(), std::env::vars()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&settings);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings),
        Command::Db {
            command: DbCommand::Migrate,
        } => migrate(&settings),
        Command::Db {
            command: DbCommand::Backup { file },
        } => backup(&settings, &file, cli.json),
        Command::Db {
            command: DbCommand::Check,
        } => check(&settings, cli.json),
        Command::Client { command } => clients::client(settings, command, cli.json),
        Command::User { command } => users::user(settings, command, cli.json),
        Command::Org { command } => schools::org(settings, command, cli.json),
        Command::School { command } => schools::school(settings, command, cli.json),
        Command::Role { command } => roles::role(settings, command, cli.json),
        Command::Terms { command } => schools::terms(settings, command, cli.json),
        Command::Keys { command } => keys::keys(
            settings,
            command.unwrap_or(keys::KeysCommand::List),
            cli.json,
        ),
        Command::Mail { command } => mail::mail(settings, command, cli.json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Log lines on stderr, filtered by `IDP_LOG` (default `info`), as text or JSON
/// (`log_format`); also for the `account-migration` command. Then the `IDP_*` variables
/// that are no setting are named.
pub fn init_tracing(settings: &Settings) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("IDP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a person at a terminal: in a file or a journal, escape codes are
    // noise (and writing them cost a tenth of a token request's time).
    let lines = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match settings.log_format {
        crate::config::LogFormat::Text => lines.try_init(),
        crate::config::LogFormat::Json => lines
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    for name in &settings.ignored_variables {
        tracing::warn!(variable = %name, "not a setting of the STS; ignored");
    }
}

pub type CliResult = Result<(), Box<dyn std::error::Error>>;

fn migrate(settings: &Settings) -> CliResult {
    let pool = crate::store::connect(&settings.database_url, 1)?;
    let mut conn = pool.get()?;
    let n = crate::store::migrate(&mut conn)?;
    println!("{n} migration(s) applied");
    Ok(())
}

fn backup(settings: &Settings, file: &std::path::Path, json_out: bool) -> CliResult {
    let pool = crate::store::connect(&settings.database_url, 1)?;
    crate::store::backup(&mut *pool.get()?, file)?;
    output::print(json_out, serde_json::json!({"backup": file}), || {
        format!("backed up to {}", file.display())
    });
    Ok(())
}

fn check(settings: &Settings, json_out: bool) -> CliResult {
    let pool = crate::store::connect(&settings.database_url, 1)?;
    let found = crate::store::check(&mut *pool.get()?)?;
    output::print(json_out, serde_json::json!(found), || {
        let mut lines = vec![format!(
            "{}: schema {}",
            found.backend,
            if found.schema_current {
                "current"
            } else {
                "NOT current (run idp db migrate)"
            }
        )];
        lines.extend(found.counts.iter().map(|(t, n)| format!("  {t}: {n}")));
        lines.join("\n")
    });
    if found.schema_current {
        Ok(())
    } else {
        Err(crate::domain::DomainError::Internal("the schema is not current".into()).into())
    }
}

fn serve(settings: Settings) -> CliResult {
    let listen = settings.listen.clone();
    let idp = Arc::new(crate::app::start(settings, Arc::new(SystemClock))?);
    let listener = std::net::TcpListener::bind(&listen)?;
    let issuer = idp.settings.issuer.clone();
    actix_web::rt::System::new().block_on(async move {
        let drain = std::time::Duration::from_secs(idp.settings.shutdown_drain_seconds);
        let running = crate::web::server(idp, listener)?;
        let server = running.server;
        actix_web::rt::spawn(crate::web::shutdown::on_signal(
            server.handle(),
            running.draining,
            drain,
        ));
        tracing::info!(%listen, "STS listening");
        println!("STS ready: issuer {issuer}\n  log in:    {issuer}/login\n  discovery: {issuer}/.well-known/openid-configuration");
        server.await
    })?;
    Ok(())
}
