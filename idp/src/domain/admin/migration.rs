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
use crate::domain::migration::{self, ReportedRow, Run};
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
    let Some(run) = migration::runs(conn)?.into_iter().find(|r| r.id == run_id) else {
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
