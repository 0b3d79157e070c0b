//! Accounts that log in only through an upstream provider: an organising body may decide
//! that its schools' staff (or every account of its schools) use the school's Microsoft or
//! Google account and hold no password on the STS. Their password login is refused like
//! any wrong password, their password is never asked for (no new-password step, no
//! password on the account page), and "forgot password" writes them to use that account.

use diesel::prelude::*;

use crate::domain::DomainResult;
use crate::domain::types::{AccountKind, OrganisingBodyId};
use crate::domain::users::User;
use crate::store::DbConn;
use crate::store::schema::{school_members, schools, upstream_only};

/// Every kind of account, in a rule.
const EVERY_KIND: &str = "*";

fn kind_key(kind: Option<AccountKind>) -> &'static str {
    kind.map_or(EVERY_KIND, AccountKind::as_str)
}

/// Makes the accounts of `body`'s schools of `kind` (none: of every kind) upstream-only,
/// or no longer.
pub fn set(
    conn: &mut DbConn,
    body: &OrganisingBodyId,
    kind: Option<AccountKind>,
    only: bool,
) -> DomainResult<()> {
    let rule = (
        upstream_only::organising_body_id.eq(body.to_string()),
        upstream_only::kind.eq(kind_key(kind)),
    );
    if only {
        crate::on_backend!(
            conn,
            diesel::insert_into(upstream_only::table)
                .values(rule)
                .on_conflict_do_nothing()
        )?;
    } else {
        diesel::delete(
            upstream_only::table
                .filter(upstream_only::organising_body_id.eq(body.to_string()))
                .filter(upstream_only::kind.eq(kind_key(kind))),
        )
        .execute(conn)?;
    }
    Ok(())
}

/// The kinds `body` keeps upstream-only (`*`: every kind).
pub fn rules_of(conn: &mut DbConn, body: &OrganisingBodyId) -> DomainResult<Vec<String>> {
    Ok(upstream_only::table
        .filter(upstream_only::organising_body_id.eq(body.to_string()))
        .select(upstream_only::kind)
        .order(upstream_only::kind)
        .load(conn)?)
}

/// Whether `user` logs in only upstream: a school of theirs belongs to a body whose rule
/// names their kind or every kind.
pub fn applies_to(conn: &mut DbConn, user: &User) -> DomainResult<bool> {
    let found: Option<String> = school_members::table
        .filter(school_members::user_id.eq(user.id.to_string()))
        .inner_join(schools::table)
        .inner_join(
            upstream_only::table
                .on(upstream_only::organising_body_id.eq(schools::organising_body_id)),
        )
        .filter(upstream_only::kind.eq_any([EVERY_KIND, user.kind.as_str()]))
        .select(upstream_only::kind)
        .first(conn)
        .optional()?;
    Ok(found.is_some())
}
