//! `cargo run --release -p account-migration --bin migration-bench -- [--rows N]
//! [--database-url URL]`: writes a legacy CSV export of N accounts (families sharing an
//! address, pupils linked to guardians, bcrypt and ASP.NET Identity hashes, three schools),
//! then runs the release `account-migration` binary on it twice (the import, then a re-run
//! of the unchanged file) and reports each run's time, rows/s and peak resident memory.
//! The store is a fresh SQLite file unless a database URL (an empty PostgreSQL database)
//! is given. See docs/performance.md.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use idp::domain::schools::{self, DataChanges, NewSchool};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 100_000)]
    rows: usize,
    /// The store to migrate into (default: a fresh SQLite file in a temporary directory).
    #[arg(long)]
    database_url: Option<String>,
    /// Rows per transaction.
    #[arg(long, default_value_t = 500)]
    batch_size: usize,
}

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

const SCHOOLS: [&str; 3] = [
    "Atheneum Etterbeek",
    "Basisschool De Klaproos",
    "Lycée Dachsbeck",
];
const BCRYPT: &str = "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy";
const ASPNET_V3: &str =
    "AQAAAAEAACcQAAAAEGRlZmdoaWprbG1ub3BxcnOmsV53ZNW9+jOm1P664c/yiJBqMtX8hq3kyC9rmSYagw==";

/// A legacy export: every third account a guardian, the pupils after them linked to one.
fn write_export(path: &Path, rows: usize) -> BenchResult<()> {
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    writeln!(
        out,
        "legacy_id;identifier;email;given_name;family_name;kind;organising_body;schools;guardians;password_hash;active"
    )?;
    for n in 0..rows {
        let (kind, guardians) = match n % 3 {
            0 => ("guardian", String::new()),
            1 => ("pupil", format!("{}:mother", n - 1)),
            _ => ("staff", String::new()),
        };
        let hash = match n % 4 {
            0 => BCRYPT,
            1 => ASPNET_V3,
            2 => "",
            _ => BCRYPT,
        };
        writeln!(
            out,
            "{n};user.{n};family{}@example.be;Given{n};Family{};{kind};Scholengroep Bench;{};{guardians};{hash};1",
            n / 3,
            n / 3,
            SCHOOLS[n % 3]
        )?;
    }
    out.flush()?;
    Ok(())
}

fn prepare_store(url: &str) -> BenchResult<()> {
    let pool = account_migration::open_store(url)?;
    let mut conn = pool.get()?;
    let now = chrono::Utc::now();
    let body = schools::create_body(&mut conn, "Scholengroep Bench", now)?;
    for name in SCHOOLS {
        let school = NewSchool {
            organising_body: body.id,
            name,
            data_changes: DataChanges::Contact,
            contact: None,
        };
        schools::create_school(&mut conn, school, now)?;
    }
    Ok(())
}

/// The peak resident memory (VmHWM, KiB) of a running process.
fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Runs the release binary once; returns its wall time and peak resident memory (MiB).
fn run_binary(
    binary: &Path,
    url: &str,
    export: &Path,
    args: &Args,
    dir: &Path,
) -> BenchResult<(Duration, f64)> {
    let started = Instant::now();
    let mut child = Command::new(binary)
        .args(["run", "--source", "bench", "--csv"])
        .arg(export)
        .args(["--batch-size", &args.batch_size.to_string(), "--report"])
        .arg(dir.join("report"))
        .env("IDP_DATABASE_URL", url)
        .env("IDP_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let mut peak = 0;
    loop {
        if let Some(kib) = peak_kib(pid) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait()? {
            if !status.success() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    std::io::Read::read_to_string(&mut e, &mut err)?;
                }
                return Err(format!("account-migration failed: {err}").into());
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((started.elapsed(), peak as f64 / 1024.0))
}

fn main() -> BenchResult<()> {
    let args = Args::parse();
    let exe = std::env::current_exe()?;
    let binary = exe
        .parent()
        .ok_or("no directory")?
        .join(format!("account-migration{}", std::env::consts::EXE_SUFFIX));
    if !binary.exists() {
        return Err(format!(
            "{} is missing: cargo build --release -p account-migration",
            binary.display()
        )
        .into());
    }
    let dir: PathBuf = std::env::temp_dir().join(format!("migration-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url = args
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}/idp.db", dir.join("store").display()));
    prepare_store(&url)?;
    let export = dir.join("export.csv");
    write_export(&export, args.rows)?;
    let size = std::fs::metadata(&export)?.len();
    println!(
        "{} legacy accounts, {:.1} MB of CSV, into {}",
        args.rows,
        size as f64 / 1e6,
        if url.starts_with("sqlite") {
            "SQLite"
        } else {
            "PostgreSQL"
        }
    );
    for label in ["import", "re-run (nothing changed)"] {
        let (took, peak) = run_binary(&binary, &url, &export, &args, &dir)?;
        println!(
            "{label:<26} {:>7.2} s  {:>9.0} rows/s  peak RSS {peak:.1} MB",
            took.as_secs_f64(),
            args.rows as f64 / took.as_secs_f64()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
