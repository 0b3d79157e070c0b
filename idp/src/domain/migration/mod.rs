//! Accounts moved in from a legacy school system (what the `account-migration` crate
//! runs): the canonical record and its checks ([`record`]), the batched import into the
//! store ([`import`]), and here the runs with their reports and the names of what went
//! wrong, in words an organising body's secretary understands.
//!
//! A run is idempotent: every account is keyed by (source, legacy id) in
//! `migrated_accounts`, with a digest of the legacy row and the moment the import last
//! wrote the account. A re-run skips unchanged rows, updates changed ones, and reports a
//! conflict, never overwriting, when the account was changed on the STS since.

pub mod import;
pub mod invite;
pub mod period;
pub mod record;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::clock::{from_db, to_db};
use super::types::{UserId, normalize};
use super::{DomainError, DomainResult};
use crate::store::DbConn;
use crate::store::schema::{migrated_accounts, migration_problems, migration_runs};

pub use import::{Batch, Shadow};
pub use record::{Candidate, Directory, GuardianRef, LegacyRecord};

/// The legacy system's name: with the legacy id, the key of a migrated account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct SourceName(String);

impl SourceName {
    pub fn parse(text: &str) -> DomainResult<Self> {
        let text = text.trim();
        let fits = !text.is_empty()
            && text.len() <= 64
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !fits {
            return Err(DomainError::invalid(
                "source",
                "a name of 1 to 64 letters, digits, '-', '_' or '.' (e.g. smartschool-2019)",
            ));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a row was not migrated (or not entirely): a stable code for the report's readers
/// and for the screens that fix rows, with the words people read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    UnreadableRow,
    MissingLegacyId,
    DuplicateLegacyId,
    MissingIdentifier,
    InvalidIdentifier,
    InvalidEmail,
    UnknownKind,
    UnknownOrganisingBody,
    UnknownSchool,
    InvalidRelation,
    UnreadableHash,
    UnreadableActiveFlag,
    IdentifierTaken,
    IdentifierCaseDuplicate,
    GuardianNotFound,
    ChangedOnSts,
    /// A row to attach to an account whose legacy id was migrated meanwhile.
    AlreadyMigrated,
}

impl Reason {
    /// Every reason (the screens have words for each).
    pub const ALL: [Reason; 17] = [
        Self::UnreadableRow,
        Self::MissingLegacyId,
        Self::DuplicateLegacyId,
        Self::MissingIdentifier,
        Self::InvalidIdentifier,
        Self::InvalidEmail,
        Self::UnknownKind,
        Self::UnknownOrganisingBody,
        Self::UnknownSchool,
        Self::InvalidRelation,
        Self::UnreadableHash,
        Self::UnreadableActiveFlag,
        Self::IdentifierTaken,
        Self::IdentifierCaseDuplicate,
        Self::GuardianNotFound,
        Self::ChangedOnSts,
        Self::AlreadyMigrated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnreadableRow => "unreadable_row",
            Self::MissingLegacyId => "missing_legacy_id",
            Self::DuplicateLegacyId => "duplicate_legacy_id",
            Self::MissingIdentifier => "missing_identifier",
            Self::InvalidIdentifier => "invalid_identifier",
            Self::InvalidEmail => "invalid_email",
            Self::UnknownKind => "unknown_kind",
            Self::UnknownOrganisingBody => "unknown_organising_body",
            Self::UnknownSchool => "unknown_school",
            Self::InvalidRelation => "invalid_relation",
            Self::UnreadableHash => "unreadable_hash",
            Self::UnreadableActiveFlag => "unreadable_active_flag",
            Self::IdentifierTaken => "identifier_taken",
            Self::IdentifierCaseDuplicate => "identifier_case_duplicate",
            Self::GuardianNotFound => "guardian_not_found",
            Self::ChangedOnSts => "changed_on_sts",
            Self::AlreadyMigrated => "already_migrated",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(code.to_owned())).ok()
    }

    /// The reason in words, for the report.
    pub fn words(self) -> &'static str {
        match self {
            Self::UnreadableRow => "the row could not be read",
            Self::MissingLegacyId => "the row has no legacy id",
            Self::DuplicateLegacyId => "another row of this run has the same legacy id",
            Self::MissingIdentifier => "the row has no identifier",
            Self::InvalidIdentifier => "the identifier is not valid",
            Self::InvalidEmail => "the e-mail address is not valid",
            Self::UnknownKind => "the kind of account is missing or unknown",
            Self::UnknownOrganisingBody => "the organising body is unknown",
            Self::UnknownSchool => "the school is unknown",
            Self::InvalidRelation => "the relation to the guardian is not valid",
            Self::UnreadableHash => "the password hash cannot be read",
            Self::UnreadableActiveFlag => "the active flag cannot be read",
            Self::IdentifierTaken => "the identifier is taken by another person",
            Self::IdentifierCaseDuplicate => {
                "another legacy row has this identifier, differing only in case"
            }
            Self::GuardianNotFound => "the guardian was not found among the migrated accounts",
            Self::ChangedOnSts => {
                "the legacy row changed, but the account was also changed on the STS since \
                 the last migration (not overwritten)"
            }
            Self::AlreadyMigrated => "this legacy id is migrated already",
        }
    }
}

/// A reason with what it is about (the value that failed, the other legacy row…).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub reason: Reason,
    pub about: String,
}

impl Problem {
    pub fn new(reason: Reason, about: impl Into<String>) -> Self {
        Self {
            reason,
            about: about.into(),
        }
    }

    /// The reason in words, with what it is about.
    pub fn detail(&self) -> String {
        if self.about.is_empty() {
            self.reason.words().to_owned()
        } else {
            format!("{} ({})", self.reason.words(), self.about)
        }
    }
}

/// What became of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
    /// Not migrated; see the reason.
    Skipped,
    /// Migrated before, changed on both sides since: left as it is.
    Conflict,
    /// Migrated, but a part of it (a guardian link) could not be.
    Incomplete,
}

impl Outcome {
    /// Whether the row is still not migrated (skipped, or left as it is in a conflict).
    pub fn refused(self) -> bool {
        matches!(self, Self::Skipped | Self::Conflict)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
            Self::Skipped => "skipped",
            Self::Conflict => "conflict",
            Self::Incomplete => "incomplete",
        }
    }
}

/// A row the run reports: where it was, who it was, and what went wrong.
#[derive(Debug, Clone, Serialize)]
pub struct ReportedRow {
    pub line: u64,
    pub legacy_id: Option<String>,
    pub identifier: Option<String>,
    pub outcome: Outcome,
    pub reason: Reason,
    pub detail: String,
    /// The row as read, so it can be fixed and migrated later.
    pub record: LegacyRecord,
}

impl ReportedRow {
    pub fn new(line: u64, record: LegacyRecord, outcome: Outcome, problem: Problem) -> Self {
        Self {
            line,
            legacy_id: record.legacy_id().map(str::to_owned),
            identifier: record.identifier.clone(),
            outcome,
            reason: problem.reason,
            detail: problem.detail(),
            record,
        }
    }
}

/// How many rows met each fate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub read: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub skipped: u64,
    pub conflicts: u64,
    pub incomplete: u64,
    pub invited: u64,
}

impl Counts {
    pub fn merge(&mut self, other: &Counts) {
        self.read += other.read;
        self.created += other.created;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.skipped += other.skipped;
        self.conflicts += other.conflicts;
        self.incomplete += other.incomplete;
        self.invited += other.invited;
    }

    pub fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Created => self.created += 1,
            Outcome::Updated => self.updated += 1,
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Skipped => self.skipped += 1,
            Outcome::Conflict => self.conflicts += 1,
            Outcome::Incomplete => self.incomplete += 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Finished,
    /// Found unfinished by a later run of the same source (killed, crashed).
    Interrupted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Finished => "finished",
            Self::Interrupted => "interrupted",
        }
    }

    fn parse(text: &str) -> DomainResult<Self> {
        match text {
            "running" => Ok(Self::Running),
            "finished" => Ok(Self::Finished),
            "interrupted" => Ok(Self::Interrupted),
            other => Err(DomainError::Corrupt(format!("run status {other}"))),
        }
    }
}

/// One run of the command, as the store keeps it.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub id: String,
    pub source: SourceName,
    pub input: String,
    pub dry_run: bool,
    pub status: RunStatus,
    pub counts: Counts,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

fn json<T: Serialize>(value: &T) -> DomainResult<String> {
    serde_json::to_string(value).map_err(|e| DomainError::Internal(e.to_string()))
}

/// Starts a run. A run of the same source left `running` (its process was killed) is
/// marked interrupted: this one finishes its work, since unchanged rows are skipped.
/// A dry run writes nothing, not even itself: its report is the command's output.
pub fn start_run(
    conn: &mut DbConn,
    source: &SourceName,
    input: &str,
    dry_run: bool,
    now: DateTime<Utc>,
) -> DomainResult<Run> {
    let run = Run {
        id: uuid::Uuid::new_v4().to_string(),
        source: source.clone(),
        input: input.to_owned(),
        dry_run,
        status: RunStatus::Running,
        counts: Counts::default(),
        started_at: now,
        finished_at: None,
    };
    if dry_run {
        return Ok(run);
    }
    diesel::update(
        migration_runs::table
            .filter(migration_runs::source.eq(source.as_str()))
            .filter(migration_runs::status.eq(RunStatus::Running.as_str())),
    )
    .set(migration_runs::status.eq(RunStatus::Interrupted.as_str()))
    .execute(conn)?;
    diesel::insert_into(migration_runs::table)
        .values((
            migration_runs::id.eq(&run.id),
            migration_runs::source.eq(run.source.as_str()),
            migration_runs::input.eq(&run.input),
            migration_runs::dry_run.eq(run.dry_run),
            migration_runs::status.eq(run.status.as_str()),
            migration_runs::counts.eq(json(&run.counts)?),
            migration_runs::started_at.eq(to_db(now)),
        ))
        .execute(conn)?;
    Ok(run)
}

/// Saves a run's counts so far (the report stays true when the process is killed).
pub fn save_counts(conn: &mut DbConn, run: &Run) -> DomainResult<()> {
    if run.dry_run {
        return Ok(());
    }
    diesel::update(migration_runs::table.find(&run.id))
        .set(migration_runs::counts.eq(json(&run.counts)?))
        .execute(conn)?;
    Ok(())
}

pub fn finish_run(conn: &mut DbConn, run: &mut Run, now: DateTime<Utc>) -> DomainResult<()> {
    run.status = RunStatus::Finished;
    run.finished_at = Some(now);
    if run.dry_run {
        return Ok(());
    }
    diesel::update(migration_runs::table.find(&run.id))
        .set((
            migration_runs::status.eq(run.status.as_str()),
            migration_runs::counts.eq(json(&run.counts)?),
            migration_runs::finished_at.eq(Some(to_db(now))),
        ))
        .execute(conn)?;
    Ok(())
}

/// Keeps the rows a run reports (skipped, conflicting, incomplete).
pub fn record_problems(
    conn: &mut DbConn,
    run: &Run,
    directory: &Directory,
    rows: &[ReportedRow],
) -> DomainResult<()> {
    if rows.is_empty() || run.dry_run {
        return Ok(());
    }
    let values = rows
        .iter()
        .map(|row| {
            Ok((
                migration_problems::run_id.eq(&run.id),
                migration_problems::line.eq(i32::try_from(row.line).unwrap_or(i32::MAX)),
                migration_problems::legacy_id.eq(row.legacy_id.as_deref()),
                migration_problems::identifier.eq(row.identifier.as_deref()),
                migration_problems::outcome.eq(row.outcome.as_str()),
                migration_problems::reason.eq(row.reason.as_str()),
                migration_problems::detail.eq(&row.detail),
                migration_problems::record.eq(json(&row.record)?),
                migration_problems::organising_body_id
                    .eq(directory.body_of(&row.record).map(|b| b.to_string())),
            ))
        })
        .collect::<DomainResult<Vec<_>>>()?;
    // A guardian found missing at the end of a run may repeat the line of a row already
    // reported for something else: the first report of a line stands.
    for chunk in values.chunks(400) {
        crate::on_backend!(
            conn,
            diesel::insert_into(migration_problems::table)
                .values(chunk)
                .on_conflict_do_nothing()
        )?;
    }
    Ok(())
}

type RunRow = (
    String,
    String,
    String,
    bool,
    String,
    String,
    chrono::NaiveDateTime,
    Option<chrono::NaiveDateTime>,
);

fn run_of(row: RunRow) -> DomainResult<Run> {
    let (id, source, input, dry_run, status, counts, started_at, finished_at) = row;
    Ok(Run {
        id,
        source: SourceName(source),
        input,
        dry_run,
        status: RunStatus::parse(&status)?,
        counts: serde_json::from_str(&counts).map_err(|e| DomainError::Corrupt(e.to_string()))?,
        started_at: from_db(started_at),
        finished_at: finished_at.map(from_db),
    })
}

const RUN_COLUMNS: (
    migration_runs::id,
    migration_runs::source,
    migration_runs::input,
    migration_runs::dry_run,
    migration_runs::status,
    migration_runs::counts,
    migration_runs::started_at,
    migration_runs::finished_at,
) = (
    migration_runs::id,
    migration_runs::source,
    migration_runs::input,
    migration_runs::dry_run,
    migration_runs::status,
    migration_runs::counts,
    migration_runs::started_at,
    migration_runs::finished_at,
);

/// The run `id`, if there is one.
pub fn run(conn: &mut DbConn, id: &str) -> DomainResult<Option<Run>> {
    let row: Option<RunRow> = migration_runs::table
        .find(id)
        .select(RUN_COLUMNS)
        .first(conn)
        .optional()?;
    row.map(run_of).transpose()
}

/// Every run, newest first.
pub fn runs(conn: &mut DbConn) -> DomainResult<Vec<Run>> {
    let rows: Vec<RunRow> = migration_runs::table
        .order(migration_runs::started_at.desc())
        .select(RUN_COLUMNS)
        .load(conn)?;
    rows.into_iter().map(run_of).collect()
}

/// The CSV report's columns: `account-migration`'s files and `report` command, and the
/// organising bodies' screens.
pub const CSV_HEADER: [&str; 6] = [
    "line",
    "legacy_id",
    "identifier",
    "outcome",
    "reason",
    "detail",
];

/// A reported row as the CSV report's fields; what came from the legacy source is made
/// safe to open in a spreadsheet (`domain::spreadsheet`).
pub fn csv_fields(row: &ReportedRow) -> [String; 6] {
    let safe = |text: &str| crate::domain::spreadsheet::cell(text).into_owned();
    [
        row.line.to_string(),
        safe(row.legacy_id.as_deref().unwrap_or_default()),
        safe(row.identifier.as_deref().unwrap_or_default()),
        row.outcome.as_str().to_owned(),
        row.reason.as_str().to_owned(),
        safe(&row.detail),
    ]
}

/// The rows a run reported and no later fix migrated, in the order of the source.
pub fn problems(conn: &mut DbConn, run_id: &str) -> DomainResult<Vec<ReportedRow>> {
    problems_of(conn, run_id, &RowFilter::default())
}

/// Which of a run's reported rows to read.
#[derive(Debug, Clone, Copy)]
pub struct RowFilter<'a> {
    /// About these organising bodies (none: all).
    pub bodies: Option<&'a [String]>,
    /// Whose identifier, legacy id or detail contains this, in any case (compared here,
    /// alike on both backends).
    pub text: &'a str,
    /// After this line (a page's keyset).
    pub after: u64,
    pub limit: usize,
}

impl Default for RowFilter<'_> {
    fn default() -> Self {
        Self {
            bodies: None,
            text: "",
            after: 0,
            limit: usize::MAX,
        }
    }
}

/// Rows read per query while filtering on text.
const ROW_CHUNK: i64 = 500;

type ProblemRow = (
    i32,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
    String,
    Option<String>,
);

const PROBLEM_COLUMNS: (
    migration_problems::line,
    migration_problems::legacy_id,
    migration_problems::identifier,
    migration_problems::outcome,
    migration_problems::reason,
    migration_problems::detail,
    migration_problems::record,
    migration_problems::organising_body_id,
) = (
    migration_problems::line,
    migration_problems::legacy_id,
    migration_problems::identifier,
    migration_problems::outcome,
    migration_problems::reason,
    migration_problems::detail,
    migration_problems::record,
    migration_problems::organising_body_id,
);

/// A stored reported row, with the organising body it belongs to.
fn problem_of(row: ProblemRow) -> DomainResult<(ReportedRow, Option<String>)> {
    let (line, legacy_id, identifier, outcome, reason, detail, record, body) = row;
    let corrupt = |what: &str| DomainError::Corrupt(format!("migration problem {what}"));
    let row = ReportedRow {
        line: u64::try_from(line).unwrap_or_default(),
        legacy_id,
        identifier,
        outcome: serde_json::from_value(serde_json::Value::String(outcome))
            .map_err(|_| corrupt("outcome"))?,
        reason: Reason::parse(&reason).ok_or_else(|| corrupt("reason"))?,
        detail,
        record: serde_json::from_str(&record).map_err(|_| corrupt("record"))?,
    };
    Ok((row, body))
}

/// The rows a run reported that `filter` selects and no fix on the screens migrated since
/// (see [`resolve`]), in the order of the source, up to `filter.limit`.
pub fn problems_of(
    conn: &mut DbConn,
    run_id: &str,
    filter: &RowFilter<'_>,
) -> DomainResult<Vec<ReportedRow>> {
    let text = crate::domain::types::normalize(filter.text);
    let mut out = Vec::new();
    let mut after = i32::try_from(filter.after).unwrap_or(i32::MAX);
    while out.len() < filter.limit {
        let mut query = migration_problems::table
            .filter(migration_problems::run_id.eq(run_id))
            .filter(migration_problems::resolved_in.is_null())
            .filter(migration_problems::line.gt(after))
            .into_boxed();
        if let Some(bodies) = filter.bodies {
            query = query.filter(migration_problems::organising_body_id.eq_any(bodies.to_vec()));
        }
        let wanted = i64::try_from(filter.limit - out.len()).unwrap_or(i64::MAX);
        let chunk = if text.is_empty() { wanted } else { ROW_CHUNK };
        let rows: Vec<ProblemRow> = query
            .order(migration_problems::line)
            .select(PROBLEM_COLUMNS)
            .limit(chunk)
            .load(conn)?;
        let Some(last) = rows.last() else {
            break;
        };
        after = last.0;
        let read = rows.len();
        for row in rows {
            let (row, _) = problem_of(row)?;
            if (text.is_empty() || matches(&row, &text)) && out.len() < filter.limit {
                out.push(row);
            }
        }
        if i64::try_from(read).unwrap_or(i64::MAX) < chunk {
            break;
        }
    }
    Ok(out)
}

/// The rows `run_id` reported at these lines that no fix migrated since, each with the
/// organising body it belongs to.
pub fn problems_at(
    conn: &mut DbConn,
    run_id: &str,
    lines: &[u64],
) -> DomainResult<Vec<(ReportedRow, Option<String>)>> {
    let keys: Vec<i32> = lines
        .iter()
        .filter_map(|l| i32::try_from(*l).ok())
        .collect();
    let rows: Vec<ProblemRow> = migration_problems::table
        .filter(migration_problems::run_id.eq(run_id))
        .filter(migration_problems::resolved_in.is_null())
        .filter(migration_problems::line.eq_any(keys))
        .order(migration_problems::line)
        .select(PROBLEM_COLUMNS)
        .load(conn)?;
    rows.into_iter().map(problem_of).collect()
}

/// Marks reported rows of `run_id` as migrated by the run `by`: they leave the report, and
/// stay as the run's history (which bodies it concerned).
pub fn resolve(conn: &mut DbConn, run_id: &str, lines: &[u64], by: &str) -> DomainResult<()> {
    let keys: Vec<i32> = lines
        .iter()
        .filter_map(|l| i32::try_from(*l).ok())
        .collect();
    diesel::update(
        migration_problems::table
            .filter(migration_problems::run_id.eq(run_id))
            .filter(migration_problems::line.eq_any(keys)),
    )
    .set(migration_problems::resolved_in.eq(by))
    .execute(conn)?;
    Ok(())
}

/// Whether a reported row's identifier, legacy id or detail contains `text` (normalized).
fn matches(row: &ReportedRow, text: &str) -> bool {
    [
        row.identifier.as_deref(),
        row.legacy_id.as_deref(),
        Some(row.detail.as_str()),
    ]
    .into_iter()
    .flatten()
    .any(|field| crate::domain::types::normalize(field).contains(text))
}

/// Where a migrated account came from: what the "your account has moved" step tells.
#[derive(Debug, Clone, Serialize)]
pub struct Moved {
    /// What the person typed on the old platform.
    pub legacy_username: String,
    pub migrated_at: DateTime<Utc>,
}

/// The migration of `user`, if it came from a legacy system (the first, when several did).
pub fn moved(conn: &mut DbConn, user: UserId) -> DomainResult<Option<Moved>> {
    let row: Option<(String, chrono::NaiveDateTime)> = migrated_accounts::table
        .filter(migrated_accounts::user_id.eq(user.to_string()))
        .order(migrated_accounts::migrated_at)
        .select((
            migrated_accounts::legacy_username,
            migrated_accounts::migrated_at,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(|(legacy_username, at)| Moved {
        legacy_username,
        migrated_at: from_db(at),
    }))
}

/// The account an old platform's identifier now belongs to, for `days` after its migration
/// (`old_identifier_days`). Only one account may answer: an old identifier two legacy
/// systems both used opens neither.
pub fn account_by_old_identifier(
    conn: &mut DbConn,
    typed: &str,
    now: DateTime<Utc>,
    days: u32,
) -> DomainResult<Option<UserId>> {
    if days == 0 {
        return Ok(None);
    }
    let since = to_db(now - chrono::Duration::days(i64::from(days)));
    let mut ids: Vec<String> = migrated_accounts::table
        .filter(migrated_accounts::legacy_username_normalized.eq(normalize(typed)))
        .filter(migrated_accounts::migrated_at.ge(since))
        .select(migrated_accounts::user_id)
        .limit(3)
        .load(conn)?;
    ids.dedup();
    match ids.as_slice() {
        [one] => Ok(Some(UserId::parse(one)?)),
        _ => Ok(None),
    }
}
