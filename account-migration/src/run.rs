//! One run: read the source in batches, import each batch in its own short transaction
//! (through `idp::domain::migration`), keep the report in the store and in files, show
//! progress. Killed at any moment, a run leaves every batch either in or out; the next run
//! of the same source skips what is in and finishes the rest.

use std::time::{Duration, Instant};

use idp::domain::clock::Clock;
use idp::domain::migration::import::{self, Context, Shadow};
use idp::domain::migration::{
    self, Directory, LegacyRecord, Outcome, Problem, Reason, ReportedRow, Run, SourceName,
};
use idp::domain::{DomainError, DomainResult};
use idp::store::DbConn;

use crate::progress::Progress;
use crate::report::{ReportError, ReportFiles};
use crate::source::{Row, Source};

/// What a run is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    pub source: SourceName,
    /// Show what would happen; write no account (each batch is rolled back).
    pub dry_run: bool,
    /// Rows per transaction: small enough that the STS's own writes wait a moment at most.
    pub batch_size: usize,
    /// The organising body of rows that name none (by name or id).
    pub organising_body: Option<String>,
}

impl Options {
    pub fn new(source: SourceName) -> Self {
        Self {
            source,
            dry_run: false,
            batch_size: 500,
            organising_body: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Store(#[from] DomainError),
    #[error("{0}")]
    Report(#[from] ReportError),
}

/// Runs the migration of `source` into the store behind `conn`.
pub fn run(
    conn: &mut DbConn,
    clock: &dyn Clock,
    source: &mut dyn Source,
    options: &Options,
    progress: &mut dyn Progress,
    mut report: Option<&mut ReportFiles>,
) -> Result<Run, RunError> {
    let directory = Directory::load(conn, options.organising_body.as_deref())?;
    let mut run = migration::start_run(
        conn,
        &options.source,
        &source.describe(),
        options.dry_run,
        clock.now(),
    )?;
    let mut shadow = options.dry_run.then(Shadow::default);
    let batch_size = options.batch_size.max(1);
    let mut next_statistics = 1_000;
    let mut turns = Turns::default();
    loop {
        let rows: Vec<Row> = (&mut *source).take(batch_size).collect();
        if rows.is_empty() {
            break;
        }
        let (readable, mut reported) = split_unreadable(rows);
        run.counts.read += reported.len() as u64;
        run.counts.skipped += reported.len() as u64;
        let ctx = Context {
            run: &run,
            directory: &directory,
            now: clock.now(),
            overwrite: false,
        };
        let writing = Instant::now();
        let batch = import::import_batch(conn, &ctx, readable, shadow.as_mut())?;
        reported.extend(batch.reported);
        run.counts.merge(&batch.counts);
        keep(conn, &run, &directory, &reported, report.as_deref_mut())?;
        turns.after_batch(conn, writing.elapsed())?;
        progress.update(source.progress(), &run.counts);
        if run.counts.created >= next_statistics {
            // The tables doubled: the planner learns it, and keeps using the indexes.
            idp::store::refresh_planner_statistics(conn)
                .map_err(|e| DomainError::Internal(e.to_string()))?;
            next_statistics = run.counts.created * 2;
        }
    }
    let ctx = Context {
        run: &run,
        directory: &directory,
        now: clock.now(),
        overwrite: false,
    };
    let links = import::finish_links(conn, &ctx, shadow.as_mut(), None)?;
    run.counts.merge(&links.counts);
    keep(conn, &run, &directory, &links.reported, report)?;
    migration::finish_run(conn, &mut run, clock.now())?;
    progress.finish(&run.counts);
    Ok(run)
}

/// SQLite has one writer at a time, and a writer that finds the lock taken polls for it
/// with growing sleeps: after 1, 3, 8, 18, 33, 53, 78, 103 and 128 ms, then every 50 to
/// 100 ms. An import that takes the lock again as soon as it let it go keeps the STS's
/// logins waiting for a second and more. So on SQLite the import leaves the lock free for
/// [`REST`] after every stretch of writing: no poll of the first 128 ms can miss a free
/// stretch that long, so a login's write waits at most about one stretch. While the STS
/// writes too (another connection committed lately) the stretches are as short as the
/// rests; alone, three times longer (the import then takes a quarter longer than flat out,
/// and a login that comes along waits a tenth of a second at most). PostgreSQL locks rows,
/// not the database: no rests there.
#[derive(Debug, Default)]
struct Turns {
    seen_version: Option<i64>,
    sts_wrote_at: Option<Instant>,
    wrote_since_rest: Duration,
}

/// The free stretch: at least the longest gap between a waiting writer's first polls.
const REST: Duration = Duration::from_millis(25);
/// How long after the STS's last write the import still takes short turns.
const STS_QUIET_AFTER: Duration = Duration::from_secs(5);

impl Turns {
    fn after_batch(&mut self, conn: &mut DbConn, wrote_for: Duration) -> DomainResult<()> {
        let Some(version) = idp::store::others_wrote_version(conn)
            .map_err(|e| DomainError::Internal(e.to_string()))?
        else {
            return Ok(());
        };
        if self.seen_version.is_some_and(|seen| seen != version) {
            self.sts_wrote_at = Some(Instant::now());
        }
        self.seen_version = Some(version);
        let sts_writing = self
            .sts_wrote_at
            .is_some_and(|at| at.elapsed() < STS_QUIET_AFTER);
        let stretch = if sts_writing { REST } else { 4 * REST };
        self.wrote_since_rest += wrote_for;
        if self.wrote_since_rest >= stretch {
            std::thread::sleep(REST);
            self.wrote_since_rest = Duration::ZERO;
        }
        Ok(())
    }
}

/// Rows the source could not read are reported as they are; the others go to the import.
fn split_unreadable(rows: Vec<Row>) -> (Vec<(u64, LegacyRecord)>, Vec<ReportedRow>) {
    let mut readable = Vec::with_capacity(rows.len());
    let mut reported = Vec::new();
    for row in rows {
        match row.record {
            Ok(record) => readable.push((row.line, record)),
            Err(why) => reported.push(ReportedRow::new(
                row.line,
                LegacyRecord::default(),
                Outcome::Skipped,
                Problem::new(Reason::UnreadableRow, why),
            )),
        }
    }
    (readable, reported)
}

/// The batch's report, in the store and in the files, with the counts so far.
fn keep(
    conn: &mut DbConn,
    run: &Run,
    directory: &Directory,
    reported: &[ReportedRow],
    report: Option<&mut ReportFiles>,
) -> Result<(), RunError> {
    migration::record_problems(conn, run, directory, reported)?;
    migration::save_counts(conn, run)?;
    if let Some(files) = report {
        files.rows(reported)?;
    }
    Ok(())
}

/// A run without report files or progress output (tests, other tools).
pub fn run_quietly(
    conn: &mut DbConn,
    clock: &dyn Clock,
    source: &mut dyn Source,
    options: &Options,
) -> DomainResult<Run> {
    match run(
        conn,
        clock,
        source,
        options,
        &mut crate::progress::Silent,
        None,
    ) {
        Ok(run) => Ok(run),
        Err(RunError::Store(e)) => Err(e),
        Err(RunError::Report(e)) => Err(DomainError::Internal(e.to_string())),
    }
}
