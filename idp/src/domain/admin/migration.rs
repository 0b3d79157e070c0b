//! The migration screens: the runs of `account-migration` that concern the person's
//! organising bodies, and per run the rows reported about those bodies (skipped,
//! conflicting, incomplete, each with its reason), searchable and downloadable as CSV.
//! For the bodies' administrators and the platform's; a school's staff has none.

use chrono::{DateTime, Utc};
use diesel::dsl::exists;
use diesel::prelude::*;

use super::scope::Staff;
use crate::domain::DomainResult;
use crate::domain::audit::Origin;
use crate::domain::migration::import::{self, Context};
use crate::domain::migration::{self, Directory, LegacyRecord, Outcome, ReportedRow, Run};
use crate::store::DbConn;
use crate::store::schema::{migrated_accounts, migration_problems, school_members, schools};

/// The organising bodies whose migration `staff` sees (none: every body).
fn bodies(conn: &mut DbConn, staff: &Staff) -> DomainResult<Option<Vec<String>>> {
    if staff.is_platform_admin() {
        return Ok(None);
    }
    Ok(Some(
        staff
            .administered_bodies(conn)?
            .into_iter()
            .map(|b| b.id.to_string())
            .collect(),
    ))
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
    let Some(bodies) = bodies(conn, staff)? else {
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

/// The run `run_id` and its rows about `staff`'s bodies that contain `text`; none when the
/// run does not concern them (audited when it exists).
pub fn run_rows(
    conn: &mut DbConn,
    staff: &Staff,
    run_id: &str,
    text: &str,
    origin: Origin<'_>,
    now: DateTime<Utc>,
) -> DomainResult<Option<(Run, Vec<ReportedRow>)>> {
    let Some(run) = migration::run(conn, run_id)? else {
        return Ok(None);
    };
    let bodies = bodies(conn, staff)?;
    if let Some(bodies) = &bodies
        && !concerns(conn, run_id, bodies)?
    {
        staff.out_of_scope(conn, &format!("migration run {run_id}"), origin, now)?;
        return Ok(None);
    }
    let rows = migration::problems_of(conn, run_id, bodies.as_deref(), text)?;
    Ok(Some((run, rows)))
}

/// One reported row of the run `run_id`, if it concerns `staff`'s bodies.
pub fn reported_row(
    conn: &mut DbConn,
    staff: &Staff,
    run_id: &str,
    line: u64,
    origin: Origin<'_>,
    now: DateTime<Utc>,
) -> DomainResult<Option<(Run, ReportedRow)>> {
    let Some((run, rows)) = run_rows(conn, staff, run_id, "", origin, now)? else {
        return Ok(None);
    };
    Ok(rows
        .into_iter()
        .find(|r| r.line == line)
        .map(|row| (run, row)))
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
pub fn fix_row(
    conn: &mut DbConn,
    staff: &Staff,
    run_id: &str,
    line: u64,
    correction: &Correction,
    origin: Origin<'_>,
    now: DateTime<Utc>,
) -> DomainResult<Option<(Run, ReportedRow, Fixed)>> {
    let Some((run, row)) = reported_row(conn, staff, run_id, line, origin, now)? else {
        return Ok(None);
    };
    let line_key = i32::try_from(line).unwrap_or(i32::MAX);
    let body: Option<String> = migration_problems::table
        .find((run_id, line_key))
        .select(migration_problems::organising_body_id)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten();
    let directory = Directory::load(conn, body.as_deref())?;
    let mut record = row.record.clone();
    correction.apply(&mut record);
    let input = format!(
        "line {line} of run {run_id}, corrected by {}",
        staff.user.username
    );
    let mut fixing = migration::start_run(conn, &run.source, &input, false, now)?;
    let ctx = Context {
        run: &fixing,
        directory: &directory,
        now,
    };
    let batch = import::import_batch(conn, &ctx, vec![(line, record)], None)?;
    let links = import::finish_links(conn, &ctx, None)?;
    fixing.counts.merge(&batch.counts);
    fixing.counts.merge(&links.counts);
    let reported: Vec<ReportedRow> = batch.reported.into_iter().chain(links.reported).collect();
    migration::record_problems(conn, &fixing, &directory, &reported)?;
    migration::save_counts(conn, &fixing)?;
    migration::finish_run(conn, &mut fixing, now)?;
    let refused = reported
        .into_iter()
        .find(|r| matches!(r.outcome, Outcome::Skipped | Outcome::Conflict));
    if let Some(refused) = refused {
        return Ok(Some((run, row, Fixed::Refused(Box::new(refused)))));
    }
    diesel::delete(migration_problems::table.find((run_id, line_key))).execute(conn)?;
    Ok(Some((run, row, Fixed::Migrated)))
}
