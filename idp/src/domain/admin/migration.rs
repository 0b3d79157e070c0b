//! The migration screens: the runs of `account-migration` that concern the person's
//! organising bodies, and per run the rows reported about those bodies (skipped,
//! conflicting, incomplete, each with its reason), searchable and downloadable as CSV.
//! For the bodies' administrators and the platform's; a school's staff has none.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::dsl::exists;
use diesel::prelude::*;

use super::Role;
use super::scope::{Access, Staff};
use crate::domain::audit::{self, Origin};
use crate::domain::migration::import::{self, Context};
use crate::domain::migration::invite::{self, Invited, Invitees, NotAgain, Pace};
use crate::domain::migration::{self, Directory, LegacyRecord, ReportedRow, RowFilter, Run};
use crate::domain::users::{self, User};
use crate::domain::{DomainResult, Idp};
use crate::store::DbConn;
use crate::store::schema::{migrated_accounts, migration_problems, school_members, schools};

/// The organising bodies whose migration `staff` sees (none: every body): those of their
/// roles, held already.
fn bodies(staff: &Staff) -> Option<Vec<String>> {
    if staff.is_platform_admin() {
        return None;
    }
    let administered = staff.roles.iter().filter_map(|role| match role {
        Role::BodyAdmin(body) => Some(body.to_string()),
        _ => None,
    });
    Some(administered.collect())
}

/// Whether the run reported rows about `bodies` or moved accounts into their schools.
fn concerns(conn: &mut DbConn, run_id: &str, bodies: &[String]) -> DomainResult<bool> {
    if bodies.is_empty() {
        return Ok(false);
    }
    let reported: bool = diesel::select(exists(
        migration_problems::table
            .filter(migration_problems::run_id.eq(run_id))
            .filter(migration_problems::organising_body_id.eq_any(bodies.to_vec())),
    ))
    .get_result(conn)?;
    if reported {
        return Ok(true);
    }
    let schools_of_bodies = schools::table
        .filter(schools::organising_body_id.eq_any(bodies.to_vec()))
        .select(schools::id);
    let members = school_members::table
        .filter(school_members::school_id.eq_any(schools_of_bodies))
        .select(school_members::user_id);
    Ok(diesel::select(exists(
        migrated_accounts::table
            .filter(migrated_accounts::run_id.eq(run_id))
            .filter(migrated_accounts::user_id.eq_any(members)),
    ))
    .get_result(conn)?)
}

/// The runs that concern `staff`'s bodies, newest first (dry runs included: they tell
/// what a real run would do).
pub fn runs(conn: &mut DbConn, staff: &Staff) -> DomainResult<Vec<Run>> {
    let all = migration::runs(conn)?;
    let Some(bodies) = bodies(staff) else {
        return Ok(all);
    };
    let mut out = Vec::new();
    for run in all {
        if concerns(conn, &run.id, &bodies)? {
            out.push(run);
        }
    }
    Ok(out)
}

/// The run `run_id`, with the bodies `staff` sees it for (none: every body), if it
/// concerns them (else audited when it exists, and none).
fn run_in_scope(
    conn: &mut DbConn,
    staff: &Staff,
    run_id: &str,
    origin: Origin<'_>,
    now: DateTime<Utc>,
) -> DomainResult<Option<(Run, Option<Vec<String>>)>> {
    let Some(run) = migration::run(conn, run_id)? else {
        return Ok(None);
    };
    let bodies = bodies(staff);
    if let Some(bodies) = &bodies
        && !concerns(conn, run_id, bodies)?
    {
        staff.out_of_scope(conn, &format!("migration run {run_id}"), origin, now)?;
        return Ok(None);
    }
    Ok(Some((run, bodies)))
}

/// Reported rows per page on the screens.
pub const PAGE: usize = 100;

/// Which rows of a run to list: containing `text`, after the line `after`, up to `limit`.
#[derive(Debug, Clone, Copy)]
pub struct RowsAsked<'a> {
    pub text: &'a str,
    pub after: u64,
    pub limit: usize,
}

/// The run `run_id` and the rows `asked` of those it reported about `staff`'s bodies;
/// none when the run does not concern them (audited when it exists).
pub fn run_rows(
    conn: &mut DbConn,
    staff: &Staff,
    run_id: &str,
    asked: RowsAsked<'_>,
    origin: Origin<'_>,
    now: DateTime<Utc>,
) -> DomainResult<Option<(Run, Vec<ReportedRow>)>> {
    let Some((run, bodies)) = run_in_scope(conn, staff, run_id, origin, now)? else {
        return Ok(None);
    };
    let filter = RowFilter {
        bodies: bodies.as_deref(),
        text: asked.text,
        after: asked.after,
        limit: asked.limit,
    };
    let rows = migration::problems_of(conn, run_id, &filter)?;
    Ok(Some((run, rows)))
}

/// Whether a row of `body` is for someone who sees `mine` (none: every body).
fn sees(mine: Option<&[String]>, body: Option<&String>) -> bool {
    match (mine, body) {
        (None, _) => true,
        (Some(mine), Some(body)) => mine.contains(body),
        (Some(_), None) => false,
    }
}

/// One reported row of the run `run_id` (not fixed since) with its organising body, if it
/// is one of `staff`'s bodies (another body's is audited).
pub fn reported_row(
    conn: &mut DbConn,
    staff: &Staff,
    run_id: &str,
    line: u64,
    origin: Origin<'_>,
    now: DateTime<Utc>,
) -> DomainResult<Option<(Run, ReportedRow, Option<String>)>> {
    let Some((run, bodies)) = run_in_scope(conn, staff, run_id, origin, now)? else {
        return Ok(None);
    };
    let Some((row, body)) = migration::problems_at(conn, run_id, &[line])?.pop() else {
        return Ok(None);
    };
    if !sees(bodies.as_deref(), body.as_ref()) {
        staff.out_of_scope(
            conn,
            &format!("row {line} of migration run {run_id}"),
            origin,
            now,
        )?;
        return Ok(None);
    }
    Ok(Some((run, row, body)))
}

/// What a person corrects in a reported row before migrating it again: the fields a
/// legacy export gets wrong most (the form shows them as read).
#[derive(Debug, Clone, Default)]
pub struct Correction {
    pub identifier: String,
    pub email: String,
    pub given_name: String,
    pub family_name: String,
    pub kind: String,
    /// School names or ids, `|` between them.
    pub schools: String,
}

impl Correction {
    /// The fields of `record`, to be corrected.
    pub fn of(record: &LegacyRecord) -> Self {
        Self {
            identifier: record.identifier.clone().unwrap_or_default(),
            email: record.emails.join("|"),
            given_name: record.given_name.clone().unwrap_or_default(),
            family_name: record.family_name.clone().unwrap_or_default(),
            kind: record.kind.clone().unwrap_or_default(),
            schools: record.schools.join("|"),
        }
    }

    fn apply(&self, record: &mut LegacyRecord) {
        let text = |t: &str| Some(t.trim().to_owned()).filter(|t| !t.is_empty());
        let list = |t: &str| -> Vec<String> { t.split('|').filter_map(text).collect() };
        record.identifier = text(&self.identifier);
        record.emails = list(&self.email);
        record.given_name = text(&self.given_name);
        record.family_name = text(&self.family_name);
        record.kind = text(&self.kind);
        record.schools = list(&self.schools);
    }
}

/// What became of a corrected row.
#[derive(Debug, Clone)]
pub enum Fixed {
    /// Migrated: the report no longer lists it.
    Migrated,
    /// Still not migrated, for this reason.
    Refused(Box<ReportedRow>),
}

/// Corrects the reported row `line` of the run `run_id` and migrates it again, in a run of
/// its own (the same source, the same legacy id, so later runs know it); with the run and
/// the row as reported. None when the row is not one of `staff`'s bodies.
#[allow(clippy::too_many_arguments)]
pub fn fix_row(
    conn: &mut DbConn,
    staff: &Staff,
    run_id: &str,
    line: u64,
    correction: &Correction,
    overwrite: bool,
    origin: Origin<'_>,
    now: DateTime<Utc>,
) -> DomainResult<Option<(Run, ReportedRow, Fixed)>> {
    let Some((run, row, body)) = reported_row(conn, staff, run_id, line, origin, now)? else {
        return Ok(None);
    };
    let mut record = row.record.clone();
    correction.apply(&mut record);
    let taken = vec![Taken { line, record, body }];
    let by = format!(
        "line {line} of run {run_id}, corrected by {}",
        staff.user.username
    );
    let again = migrate_again(conn, &run, taken, overwrite, &by, now)?;
    let fixed = match again.refused.into_iter().next() {
        Some(refused) => Fixed::Refused(Box::new(refused)),
        None => Fixed::Migrated,
    };
    Ok(Some((run, row, fixed)))
}

/// What became of the rows taken up again.
#[derive(Debug, Clone, Default)]
pub struct Retried {
    /// Lines migrated now: the report no longer lists them.
    pub migrated: Vec<u64>,
    /// Rows still not migrated, with their reason now.
    pub refused: Vec<ReportedRow>,
}

/// Migrates the reported rows `lines` of the run `run_id` again, as they were read, in a
/// run of their own: for what was fixed elsewhere since (a school created, a guardian
/// migrated, an identifier freed), or, with `overwrite`, to let the legacy rows win over
/// what was changed on the STS since the last migration. Lines no longer reported are
/// passed over (fixed meanwhile). None (audited) when one of them is another body's row.
#[allow(clippy::too_many_arguments)]
pub fn retry_rows(
    conn: &mut DbConn,
    staff: &Staff,
    run_id: &str,
    lines: &[u64],
    overwrite: bool,
    origin: Origin<'_>,
    now: DateTime<Utc>,
) -> DomainResult<Option<(Run, Retried)>> {
    let Some((run, bodies)) = run_in_scope(conn, staff, run_id, origin, now)? else {
        return Ok(None);
    };
    // Lines no longer reported (fixed meanwhile: a double click) are passed over.
    let rows = migration::problems_at(conn, run_id, lines)?;
    if rows
        .iter()
        .any(|(_, body)| !sees(bodies.as_deref(), body.as_ref()))
    {
        staff.out_of_scope(
            conn,
            &format!("rows of migration run {run_id}"),
            origin,
            now,
        )?;
        return Ok(None);
    }
    let taken: Vec<Taken> = rows
        .into_iter()
        .map(|(row, body)| Taken {
            line: row.line,
            record: row.record,
            body,
        })
        .collect();
    if taken.is_empty() {
        return Ok(Some((run, Retried::default())));
    }
    let by = format!(
        "{} line(s) of run {run_id}{}, by {}",
        taken.len(),
        if overwrite { ", overwriting" } else { "" },
        staff.user.username
    );
    let again = migrate_again(conn, &run, taken, overwrite, &by, now)?;
    Ok(Some((run, again)))
}

/// A reported row taken up again: its line, the record to migrate, its organising body.
struct Taken {
    line: u64,
    record: LegacyRecord,
    body: Option<String>,
}

/// Migrates `taken` in a run of its own (`input` says whose and why), each row with its
/// organising body's schools; the rows migrated leave `run`'s report.
fn migrate_again(
    conn: &mut DbConn,
    run: &Run,
    taken: Vec<Taken>,
    overwrite: bool,
    input: &str,
    now: DateTime<Utc>,
) -> DomainResult<Retried> {
    let mut again = migration::start_run(conn, &run.source, input, false, now)?;
    let mut by_body: BTreeMap<Option<String>, Vec<(u64, LegacyRecord)>> = BTreeMap::new();
    for t in taken {
        by_body.entry(t.body).or_default().push((t.line, t.record));
    }
    let mut refused = Vec::new();
    let mut migrated = Vec::new();
    for (body, rows) in by_body {
        let directory = Directory::load(conn, body.as_deref())?;
        let ctx = Context {
            run: &again,
            directory: &directory,
            now,
            overwrite,
        };
        let lines: Vec<u64> = rows.iter().map(|r| r.0).collect();
        let legacy_ids: Vec<String> = rows
            .iter()
            .filter_map(|r| r.1.legacy_id().map(str::to_owned))
            .collect();
        let batch = import::import_batch(conn, &ctx, rows, None)?;
        let links = import::finish_links(conn, &ctx, None, Some(&legacy_ids))?;
        let mut counts = batch.counts;
        counts.merge(&links.counts);
        let reported: Vec<ReportedRow> = batch.reported.into_iter().chain(links.reported).collect();
        migration::record_problems(conn, &again, &directory, &reported)?;
        again.counts.merge(&counts);
        for line in lines {
            match reported
                .iter()
                .find(|r| r.line == line && r.outcome.refused())
            {
                Some(row) => refused.push(row.clone()),
                None => migrated.push(line),
            }
        }
    }
    migration::finish_run(conn, &mut again, now)?;
    migration::resolve(conn, &run.id, &migrated, &again.id)?;
    Ok(Retried { migrated, refused })
}

/// What became of a row to attach to an existing account.
#[derive(Debug, Clone)]
pub enum Attached {
    /// The row is now this account's.
    To(Box<User>),
    /// No account with that identifier among those `staff` manages (or none at all).
    NoSuchAccount,
    /// The row itself cannot be taken (still invalid, or migrated meanwhile).
    Refused(Box<ReportedRow>),
}

/// Declares the reported row `line` of the run `run_id` (as corrected) to be the existing
/// account `identifier`, one the staff member manages: the row is not a new person but one
/// the STS knows (see `import::attach`). A run of its own records it; audited on the
/// account.
#[allow(clippy::too_many_arguments)]
pub fn attach_row(
    conn: &mut DbConn,
    staff: &Staff,
    run_id: &str,
    line: u64,
    correction: &Correction,
    identifier: &str,
    origin: Origin<'_>,
    now: DateTime<Utc>,
) -> DomainResult<Option<(Run, ReportedRow, Attached)>> {
    let Some((run, row, body)) = reported_row(conn, staff, run_id, line, origin, now)? else {
        return Ok(None);
    };
    let account = match users::find_by_username(conn, identifier.trim())? {
        Some(user) => staff.account(conn, &user.id.to_string(), Access::Manage, origin, now)?,
        None => None,
    };
    let Some((account, _)) = account else {
        return Ok(Some((run, row, Attached::NoSuchAccount)));
    };
    let mut record = row.record.clone();
    correction.apply(&mut record);
    if record.identifier.is_none() {
        // What the legacy platform lacked, the account has.
        record.identifier = Some(account.username.as_str().to_owned());
    }
    let directory = Directory::load(conn, body.as_deref())?;
    let input = format!(
        "line {line} of run {run_id}, attached to {} by {}",
        account.username, staff.user.username
    );
    let mut again = migration::start_run(conn, &run.source, &input, false, now)?;
    let ctx = Context {
        run: &again,
        directory: &directory,
        now,
        overwrite: false,
    };
    let batch = import::attach(conn, &ctx, line, record, account.id)?;
    again.counts.merge(&batch.counts);
    migration::record_problems(conn, &again, &directory, &batch.reported)?;
    migration::finish_run(conn, &mut again, now)?;
    if let Some(refused) = batch.reported.into_iter().find(|r| r.outcome.refused()) {
        return Ok(Some((run, row, Attached::Refused(Box::new(refused)))));
    }
    migration::resolve(conn, run_id, &[line], &again.id)?;
    let legacy_id = row.legacy_id.clone().unwrap_or_default();
    audit::Event::new(audit::Kind::LegacyRowAttached)
        .from(origin)
        .user(account.id)
        .detail(&format!(
            "{}/{legacy_id} by {}",
            run.source.as_str(),
            staff.user.username
        ))
        .record(conn, now)?;
    Ok(Some((run, row, Attached::To(Box::new(account)))))
}

/// The accounts of `run`'s source in `staff`'s bodies an invitation would reach now (up to
/// `limit`).
pub fn not_invited(conn: &mut DbConn, staff: &Staff, run: &Run, limit: i64) -> DomainResult<usize> {
    let bodies = bodies(staff);
    let invitees = Invitees {
        source: &run.source,
        bodies: bodies.as_deref(),
    };
    invite::not_invited(conn, invitees, false, limit)
}

/// Invites the accounts of the run `run_id`'s source in `staff`'s bodies not invited yet
/// (as `account-migration invite` does, at the configured pace); none when the run does
/// not concern them (audited).
pub fn invite(
    idp: &Idp,
    conn: &mut DbConn,
    staff: &Staff,
    run_id: &str,
    origin: Origin<'_>,
) -> DomainResult<Option<(Run, Invited)>> {
    let Some((run, bodies)) = run_in_scope(conn, staff, run_id, origin, idp.now())? else {
        return Ok(None);
    };
    let invitees = Invitees {
        source: &run.source,
        bodies: bodies.as_deref(),
    };
    let pace = Pace::configured(&idp.settings.invitations);
    let invited = invite::invite(idp, conn, invitees, pace)?;
    tracing::info!(
        staff = %staff.user.username,
        source = run.source.as_str(),
        invited = invited.invited,
        "invitations queued on the screens"
    );
    Ok(Some((run, invited)))
}

/// Sends the invitation of the account `id` again (see `invite::invite_again`); none when
/// it is out of `staff`'s scope (audited) or unknown. Audited on the account.
pub fn invite_again(
    idp: &Idp,
    conn: &mut DbConn,
    staff: &Staff,
    id: &str,
    origin: Origin<'_>,
) -> DomainResult<Option<Result<User, NotAgain>>> {
    let now = idp.now();
    let Some((user, _)) = staff.account(conn, id, Access::Help, origin, now)? else {
        return Ok(None);
    };
    if let Err(why) = invite::invite_again(idp, conn, &user)? {
        return Ok(Some(Err(why)));
    }
    audit::Event::new(audit::Kind::InvitationSent)
        .from(origin)
        .user(user.id)
        .detail(&format!(
            "{} by {}",
            user.email.as_deref().unwrap_or_default(),
            staff.user.username
        ))
        .record(conn, now)?;
    Ok(Some(Ok(user)))
}
