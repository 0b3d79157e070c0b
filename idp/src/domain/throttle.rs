//! Rate limits shared by every instance through the database (fixed windows), so N
//! instances behind a load balancer enforce one limit, not N.
//!
//! Login failures are limited per identifier and per client address (NIST 800-63B §5.2.2,
//! OWASP ASVS V2.2.1). The limit applies to the identifier as typed, whether or not an
//! account has it, so being throttled tells nothing about which accounts exist.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use super::DomainResult;
use super::clock::{from_db, to_db};
use crate::store::DbConn;
use crate::store::schema::rate_limits;

/// At most `max` hits per `window`.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub max: i32,
    pub window: Duration,
}

/// Failed logins per identifier: 10 per 15 minutes.
pub const LOGIN_FAILURES_PER_ACCOUNT: Limit = Limit {
    max: 10,
    window: Duration::minutes(15),
};
/// Failed logins per client address: 100 per 15 minutes (schools share one address).
pub const LOGIN_FAILURES_PER_ADDRESS: Limit = Limit {
    max: 100,
    window: Duration::minutes(15),
};

/// The longest window of any limit (recovery requests: an hour); older windows are purged.
pub const LONGEST_WINDOW: Duration = Duration::hours(1);

/// When `key` may be hit again, if its window is full.
pub fn blocked_until(
    conn: &mut DbConn,
    key: &str,
    limit: Limit,
    now: DateTime<Utc>,
) -> DomainResult<Option<DateTime<Utc>>> {
    let row: Option<(chrono::NaiveDateTime, i32)> = rate_limits::table
        .find(key)
        .select((rate_limits::window_start, rate_limits::hits))
        .first(conn)
        .optional()?;
    Ok(row.and_then(|(start, hits)| {
        let end = from_db(start) + limit.window;
        (end > now && hits >= limit.max).then_some(end)
    }))
}

/// Counts one hit on `key`. Each statement is atomic, so concurrent instances never lose a
/// hit: increment within the window; else restart an expired window; else create it.
pub fn hit(conn: &mut DbConn, key: &str, limit: Limit, now: DateTime<Utc>) -> DomainResult<()> {
    let window_open_since = to_db(now - limit.window);
    let counted = diesel::update(
        rate_limits::table
            .find(key)
            .filter(rate_limits::window_start.gt(window_open_since)),
    )
    .set(rate_limits::hits.eq(rate_limits::hits + 1))
    .execute(conn)?;
    if counted > 0 {
        return Ok(());
    }
    let restarted = diesel::update(rate_limits::table.find(key))
        .set((
            rate_limits::window_start.eq(to_db(now)),
            rate_limits::hits.eq(1),
        ))
        .execute(conn)?;
    if restarted > 0 {
        return Ok(());
    }
    let inserted = diesel::insert_into(rate_limits::table)
        .values((
            rate_limits::key.eq(key),
            rate_limits::window_start.eq(to_db(now)),
            rate_limits::hits.eq(1),
        ))
        .execute(conn);
    if inserted.is_err() {
        // Another instance created it meanwhile: count on its row.
        diesel::update(rate_limits::table.find(key))
            .set(rate_limits::hits.eq(rate_limits::hits + 1))
            .execute(conn)?;
    }
    Ok(())
}

/// Forgets `key` (a successful login clears the identifier's failures).
pub fn clear(conn: &mut DbConn, key: &str) -> DomainResult<()> {
    diesel::delete(rate_limits::table.find(key)).execute(conn)?;
    Ok(())
}

/// Removes windows that ended before `now`.
pub fn purge(conn: &mut DbConn, now: DateTime<Utc>, longest: Duration) -> DomainResult<usize> {
    Ok(diesel::delete(
        rate_limits::table.filter(rate_limits::window_start.lt(to_db(now - longest))),
    )
    .execute(conn)?)
}
