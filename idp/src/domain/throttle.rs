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
use super::types::{UserId, normalize};
use crate::store::DbConn;
use crate::store::schema::rate_limits;

/// At most `max` hits per `window`.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub max: i32,
    pub window: Duration,
}

impl Limit {
    /// The window in whole minutes, for messages that say how long to wait.
    pub fn minutes(self) -> i64 {
        self.window.num_minutes()
    }
}

/// What is counted, and against which limit. The stored key is the variant's prefix and
/// the normalized subject, so every instance counts on the same row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThrottleKey {
    /// Failed logins with this identifier, as typed (whether or not an account has it):
    /// 10 per 15 minutes (NIST 800-63B §5.2.2).
    LoginFailuresOfIdentifier(String),
    /// Failed logins from this client address: 100 per 15 minutes (schools share one).
    LoginFailuresFromAddress(String),
    /// "Forgot password/identifier" requests from this address: 20 an hour.
    RecoveryRequestsFromAddress(String),
    /// Reset mails about this account: 3 an hour; more requests send nothing more.
    ResetMailsOfAccount(UserId),
    /// Identifier reminders to this mailbox: 3 an hour.
    RemindersToMailbox(String),
    /// Wrong reset codes for this identifier: 5 per 15 minutes (a code has about 40 bits).
    CodeFailuresOfIdentifier(String),
    /// Wrong reset codes from this address: 50 per 15 minutes.
    CodeFailuresFromAddress(String),
    /// Logins that succeeded from this address in the hour, never a limit itself: each
    /// allows the address one more failed login and one more recovery request (see
    /// [`address_allowance`]).
    LoginSuccessesFromAddress(String),
}

impl ThrottleKey {
    pub fn login_identifier(typed: &str) -> Self {
        Self::LoginFailuresOfIdentifier(normalize(typed))
    }
    pub fn reminders_to(mailbox: &str) -> Self {
        Self::RemindersToMailbox(normalize(mailbox))
    }
    pub fn code_identifier(typed: &str) -> Self {
        Self::CodeFailuresOfIdentifier(normalize(typed))
    }

    pub fn limit(&self) -> Limit {
        let per = |max, window| Limit { max, window };
        match self {
            Self::LoginFailuresOfIdentifier(_) => per(10, Duration::minutes(15)),
            Self::LoginFailuresFromAddress(_) => per(100, Duration::minutes(15)),
            Self::RecoveryRequestsFromAddress(_) => per(20, Duration::hours(1)),
            Self::ResetMailsOfAccount(_) => per(3, Duration::hours(1)),
            Self::RemindersToMailbox(_) => per(3, Duration::hours(1)),
            Self::CodeFailuresOfIdentifier(_) => per(5, Duration::minutes(15)),
            Self::CodeFailuresFromAddress(_) => per(50, Duration::minutes(15)),
            Self::LoginSuccessesFromAddress(_) => per(i32::MAX, Duration::hours(1)),
        }
    }

    /// Which limit this is, for `/metrics` (never the subject).
    pub fn name(&self) -> &'static str {
        match self {
            Self::LoginFailuresOfIdentifier(_) => "login_failures_of_identifier",
            Self::LoginFailuresFromAddress(_) => "login_failures_from_address",
            Self::RecoveryRequestsFromAddress(_) => "recovery_requests_from_address",
            Self::ResetMailsOfAccount(_) => "reset_mails_of_account",
            Self::RemindersToMailbox(_) => "reminders_to_mailbox",
            Self::CodeFailuresOfIdentifier(_) => "code_failures_of_identifier",
            Self::CodeFailuresFromAddress(_) => "code_failures_from_address",
            Self::LoginSuccessesFromAddress(_) => "login_successes_from_address",
        }
    }

    fn stored(&self) -> String {
        match self {
            Self::LoginFailuresOfIdentifier(id) => format!("login-failure:account:{id}"),
            Self::LoginFailuresFromAddress(a) => format!("login-failure:address:{a}"),
            Self::RecoveryRequestsFromAddress(a) => format!("recovery:address:{a}"),
            Self::ResetMailsOfAccount(user) => format!("recovery:mails:{user}"),
            Self::RemindersToMailbox(m) => format!("recovery:reminders:{m}"),
            Self::CodeFailuresOfIdentifier(id) => format!("recovery:code-failures:{id}"),
            Self::CodeFailuresFromAddress(a) => format!("recovery:code-failures-address:{a}"),
            Self::LoginSuccessesFromAddress(a) => format!("login-success:address:{a}"),
        }
    }
}

/// The longest window of any limit (recovery requests: an hour); older windows are purged.
pub const LONGEST_WINDOW: Duration = Duration::hours(1);

/// When `key` may be hit again, if its window is full.
pub fn blocked_until(
    conn: &mut DbConn,
    key: &ThrottleKey,
    now: DateTime<Utc>,
) -> DomainResult<Option<DateTime<Utc>>> {
    blocked_until_allowing(conn, key, now, 0)
}

/// As [`blocked_until`], with `extra` hits allowed above the limit.
pub fn blocked_until_allowing(
    conn: &mut DbConn,
    key: &ThrottleKey,
    now: DateTime<Utc>,
    extra: i32,
) -> DomainResult<Option<DateTime<Utc>>> {
    let limit = key.limit();
    let row = window(conn, key)?;
    let blocked = row.and_then(|(start, hits)| {
        let end = from_db(start) + limit.window;
        (end > now && hits >= limit.max.saturating_add(extra)).then_some(end)
    });
    if blocked.is_some() {
        crate::metrics::throttled(key.name());
    }
    Ok(blocked)
}

fn window(
    conn: &mut DbConn,
    key: &ThrottleKey,
) -> DomainResult<Option<(chrono::NaiveDateTime, i32)>> {
    Ok(rate_limits::table
        .find(key.stored())
        .select((rate_limits::window_start, rate_limits::hits))
        .first(conn)
        .optional()?)
}

/// The hits on `key` in its current window.
pub fn hits(conn: &mut DbConn, key: &ThrottleKey, now: DateTime<Utc>) -> DomainResult<i32> {
    Ok(match window(conn, key)? {
        Some((start, hits)) if from_db(start) + key.limit().window > now => hits,
        _ => 0,
    })
}

/// How a per-address limit applies at `address`. A whole school behind one NAT address
/// logs in by the hundred at 8:25, with typos, and a class may ask its first resets
/// together; an attacker from one address mostly fails. So: inside `school_networks` no
/// per-address limit at all (`None`; the per-account limits stay); elsewhere the limit
/// grows by one for each login that succeeded from the address in the hour. Successes say
/// nothing an attacker did not know, so this reveals no account.
pub fn address_allowance(
    conn: &mut DbConn,
    schools: &crate::config::Networks,
    address: &str,
    now: DateTime<Utc>,
) -> DomainResult<Option<i32>> {
    if schools.contains_text(address) {
        return Ok(None);
    }
    let successes = ThrottleKey::LoginSuccessesFromAddress(address.to_owned());
    Ok(Some(hits(conn, &successes, now)?))
}

/// Counts one hit on `key`. Each statement is atomic, so concurrent instances never lose a
/// hit: increment within the window; else restart an expired window; else create it.
pub fn hit(conn: &mut DbConn, key: &ThrottleKey, now: DateTime<Utc>) -> DomainResult<()> {
    let window_open_since = to_db(now - key.limit().window);
    let key = key.stored();
    let key = key.as_str();
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
    // In a savepoint: when a concurrent twin inserted the row first, the failed insert
    // must not abort a transaction this hit is part of (PostgreSQL would refuse every
    // statement after it).
    let inserted = crate::store::transaction(conn, |conn| {
        diesel::insert_into(rate_limits::table)
            .values((
                rate_limits::key.eq(key),
                rate_limits::window_start.eq(to_db(now)),
                rate_limits::hits.eq(1),
            ))
            .execute(conn)
    });
    if inserted.is_err() {
        // Another instance created it meanwhile: count on its row.
        diesel::update(rate_limits::table.find(key))
            .set(rate_limits::hits.eq(rate_limits::hits + 1))
            .execute(conn)?;
    }
    Ok(())
}

/// Forgets `key` (a successful login clears the identifier's failures).
pub fn clear(conn: &mut DbConn, key: &ThrottleKey) -> DomainResult<()> {
    diesel::delete(rate_limits::table.find(key.stored())).execute(conn)?;
    Ok(())
}

/// Removes windows that ended before `now`.
pub fn purge(conn: &mut DbConn, now: DateTime<Utc>, longest: Duration) -> DomainResult<usize> {
    Ok(diesel::delete(
        rate_limits::table.filter(rate_limits::window_start.lt(to_db(now - longest))),
    )
    .execute(conn)?)
}
