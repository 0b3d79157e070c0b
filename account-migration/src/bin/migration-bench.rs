//! `cargo run --release -p account-migration --bin migration-bench -- [--rows N]
//! [--database-url URL]`: writes a legacy CSV export of N accounts (families sharing an
//! address, pupils linked to guardians, bcrypt and ASP.NET Identity hashes, three schools),
//! then runs the release `account-migration` binary on it twice (the import, then a re-run
//! of the unchanged file) and reports each run's time, rows/s and peak resident memory.
//! Meanwhile it logs in, one after the other, accounts the STS already has (through the
//! STS's own login pipeline, on the same store) and reports how long those logins take
//! with and without the import running: the import must not hold them up.
//! Then it searches the 100,000 accounts as the organising body's administrator would on
//! its screens (`/admin`), and reports how long a search takes.
//! The store is a fresh SQLite file unless a database URL (an empty PostgreSQL database)
//! is given. See docs/performance.md.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use idp::config::Settings;
use idp::domain::Idp;
use idp::domain::admin::accounts::{self as admin_accounts, Search};
use idp::domain::admin::{Role, Staff, roles};
use idp::domain::clock::SystemClock;
use idp::domain::login::{self, FormOutcome};
use idp::domain::schools::{self, DataChanges, NewSchool};
use idp::domain::types::{Email, Username};
use idp::domain::users::{self, NewUser};

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
    /// Run the import alone, without logins on the side.
    #[arg(long)]
    without_logins: bool,
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

/// Accounts the STS has before the import, logged in while it runs.
const RESIDENTS: usize = 8;
const RESIDENT_PASSWORD: &str = "Tulpen-Boekentas-47";

/// The STS's domain on the bench store, with its production settings.
fn open_idp(url: &str) -> BenchResult<Idp> {
    let settings = Settings::load(None, [("IDP_DATABASE_URL".to_owned(), url.to_owned())])?;
    Ok(idp::app::start(settings, Arc::new(SystemClock))?)
}

fn create_residents(idp: &Idp) -> BenchResult<()> {
    let mut conn = idp.conn()?;
    let now = chrono::Utc::now();
    for n in 0..RESIDENTS {
        let new = NewUser {
            kind: Default::default(),
            username: Username::parse(&format!("resident.{n}"))?,
            email: Some(Email::parse(&format!("resident{n}@example.be"))?),
            email_verified: true,
            given_name: None,
            family_name: None,
            phone_number: None,
            locale: None,
            password: Some(RESIDENT_PASSWORD.to_owned()),
        };
        let user = users::create(&mut conn, &idp.hasher, new, now)?;
        users::mark_first_login(&mut conn, user.id, now)?;
    }
    Ok(())
}

/// How long the residents' logins took, and the ones that failed.
#[derive(Default)]
struct Logins {
    took: Vec<Duration>,
    failed: Vec<String>,
}

impl Logins {
    fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.took.clone();
        sorted.sort();
        let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted.get(at).map_or(0.0, |d| d.as_secs_f64() * 1e3)
    }

    fn line(&self, label: &str) -> String {
        format!(
            "logins {label:<19} {:>5} done, p50 {:>6.1} ms, p99 {:>6.1} ms, max {:>6.1} ms, {} failed{}",
            self.took.len(),
            self.percentile(0.5),
            self.percentile(0.99),
            self.percentile(1.0),
            self.failed.len(),
            self.failed
                .first()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        )
    }
}

/// Logs the residents in, one after the other, until `stop`.
fn log_in_until(idp: &Idp, stop: &AtomicBool) -> Logins {
    let mut logins = Logins::default();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let identifier = format!("resident.{}", n % RESIDENTS);
        n += 1;
        let started = Instant::now();
        let outcome = idp.conn().and_then(|mut conn| {
            let form = login::PasswordForm {
                request_id: "",
                identifier: &identifier,
                password: RESIDENT_PASSWORD,
                address: "192.0.2.7",
                language: None,
                link: None,
            };
            login::with_password(idp, &mut conn, form, login::CheckTurn::ungated())
        });
        match outcome {
            Ok(FormOutcome::Finished(_)) => logins.took.push(started.elapsed()),
            Ok(other) => logins.failed.push(format!("{other:?}")),
            Err(e) => logins.failed.push(e.to_string()),
        }
    }
    logins
}

/// The residents' logins while `work` runs.
fn logins_during<T>(idp: &Idp, work: impl FnOnce() -> T) -> (T, Logins) {
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let probe = scope.spawn(|| log_in_until(idp, &stop));
        let done = work();
        stop.store(true, Ordering::Relaxed);
        let logins = probe.join().unwrap_or_default();
        (done, logins)
    })
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
    let idp = open_idp(&url)?;
    create_residents(&idp)?;
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
    if !args.without_logins {
        let ((), alone) = logins_during(&idp, || std::thread::sleep(Duration::from_secs(2)));
        println!("{}", alone.line("alone"));
    }
    for label in ["import", "re-run (nothing changed)"] {
        let run = || run_binary(&binary, &url, &export, &args, &dir);
        let (ran, logins) = match args.without_logins {
            true => (run(), None),
            false => {
                let (ran, logins) = logins_during(&idp, run);
                (ran, Some(logins))
            }
        };
        let (took, peak) = ran?;
        println!(
            "{label:<26} {:>7.2} s  {:>9.0} rows/s  peak RSS {peak:.1} MB",
            took.as_secs_f64(),
            args.rows as f64 / took.as_secs_f64()
        );
        if let Some(logins) = logins {
            let during = label.split(' ').next().unwrap_or(label);
            println!("{}", logins.line(&format!("during {during}")));
        }
    }
    searches(&idp)?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The organising body's administrator searches its accounts: a name, an identifier, an
/// e-mail address, one school, nothing at all, a word nobody has, and deep pages.
fn searches(idp: &Idp) -> BenchResult<()> {
    let mut conn = idp.conn()?;
    let now = chrono::Utc::now();
    let body = schools::find_body(&mut conn, "Scholengroep Bench")?;
    let admin = users::find_by_username(&mut conn, "resident.0")?.ok_or("no resident")?;
    roles::grant(&mut conn, admin.id, Role::BodyAdmin(body.id), None, now)?;
    let staff = Staff::of(&mut conn, admin)?.ok_or("no staff")?;
    let school = schools::find_school(&mut conn, SCHOOLS[1])?;
    let cases: [(&str, Search); 7] = [
        (
            "a family name",
            Search {
                text: "family4242".into(),
                ..Search::default()
            },
        ),
        (
            "an identifier",
            Search {
                text: "user.77777".into(),
                ..Search::default()
            },
        ),
        (
            "an e-mail address",
            Search {
                text: "family123@example.be".into(),
                ..Search::default()
            },
        ),
        (
            "one school",
            Search {
                school: Some(school.id),
                ..Search::default()
            },
        ),
        ("everyone", Search::default()),
        (
            "nobody",
            Search {
                text: "zzz-nobody".into(),
                ..Search::default()
            },
        ),
        (
            "page 2,000",
            Search {
                after: Some("user.5".into()),
                ..Search::default()
            },
        ),
    ];
    for (label, search) in cases {
        let mut took = Vec::new();
        let mut found = 0;
        for _ in 0..20 {
            let started = Instant::now();
            found = admin_accounts::search(&mut conn, &staff, &search)?
                .accounts
                .len();
            took.push(started.elapsed());
        }
        took.sort();
        println!(
            "search {label:<20} {found:>3} found, p50 {:>6.1} ms, max {:>6.1} ms",
            took[took.len() / 2].as_secs_f64() * 1e3,
            took[took.len() - 1].as_secs_f64() * 1e3
        );
    }
    Ok(())
}
