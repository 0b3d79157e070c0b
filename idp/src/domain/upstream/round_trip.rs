//! A round trip to an upstream provider, in the database so that any instance can take the
//! provider's answer: the `state` (stored as its SHA-256), `nonce` and PKCE verifier, bound
//! to the browser that started it by a cookie's secret (RFC 9700 §4.7.1: the state, and
//! with it the nonce, must be bound to the user agent), and what it was for. Each is used
//! once. After an unlinked login, a new row under a new token holds the verified identity
//! until the person's password login links it.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use super::UpstreamIdentity;
use crate::crypto;
use crate::domain::clock::{from_db, to_db};
use crate::domain::types::UserId;
use crate::domain::{DomainError, DomainResult};
use crate::store::DbConn;
use crate::store::schema::upstream_logins;

/// How long a person may spend at the provider, or on the page that follows an unlinked
/// login, before starting again.
const LIFETIME_MINUTES: i64 = 15;

/// What a round trip is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// Logging in, for a pending authorization request (none: the STS's own pages).
    Login { request: Option<String> },
    /// Linking the identity to this signed-in account (the account page).
    Link { user: UserId },
}

/// A round trip as started.
#[derive(Debug, Clone)]
pub struct Started {
    pub provider: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub purpose: Purpose,
}

/// Saves a round trip bound to the browser holding `browser` (its cookie's secret).
pub fn save(
    conn: &mut DbConn,
    started: &Started,
    browser: &str,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    let (request, link_user) = match &started.purpose {
        Purpose::Login { request } => (request.clone(), None),
        Purpose::Link { user } => (None, Some(user.to_string())),
    };
    diesel::insert_into(upstream_logins::table)
        .values((
            upstream_logins::token_hash.eq(crypto::sha256(started.state.as_bytes())),
            upstream_logins::provider.eq(&started.provider),
            upstream_logins::browser_hash.eq(crypto::sha256(browser.as_bytes())),
            upstream_logins::nonce.eq(&started.nonce),
            upstream_logins::pkce_verifier.eq(&started.pkce_verifier),
            upstream_logins::request_id.eq(request),
            upstream_logins::link_user_id.eq(link_user),
            upstream_logins::created_at.eq(to_db(now)),
            upstream_logins::expires_at.eq(to_db(now + Duration::minutes(LIFETIME_MINUTES))),
        ))
        .execute(conn)?;
    Ok(())
}

type Row = (
    String,
    Vec<u8>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    chrono::NaiveDateTime,
);

/// Takes the row `token` names, once: only from the browser that started it, before it
/// expires. Another browser's answer, a replayed or a made-up `state`: none.
fn take_row(
    conn: &mut DbConn,
    token: &str,
    browser: Option<&str>,
    now: DateTime<Utc>,
) -> DomainResult<Option<Row>> {
    let (Some(browser), false) = (browser, token.is_empty()) else {
        return Ok(None);
    };
    let key = crypto::sha256(token.as_bytes());
    crate::store::transaction(conn, |conn| {
        let row: Option<Row> = upstream_logins::table
            .find(&key)
            .select((
                upstream_logins::provider,
                upstream_logins::browser_hash,
                upstream_logins::nonce,
                upstream_logins::pkce_verifier,
                upstream_logins::request_id,
                upstream_logins::link_user_id,
                upstream_logins::identity,
                upstream_logins::expires_at,
            ))
            .first(conn)
            .optional()?;
        let Some(row) = row else { return Ok(None) };
        let same_browser = crypto::constant_time_eq(&row.1, &crypto::sha256(browser.as_bytes()));
        if !same_browser {
            // Left in place: the browser that started it may still come back.
            return Ok(None);
        }
        diesel::delete(upstream_logins::table.find(&key)).execute(conn)?;
        Ok((from_db(row.7) > now).then_some(row))
    })
}

/// Takes the round trip whose `state` the provider's answer carries.
pub fn take(
    conn: &mut DbConn,
    state: &str,
    browser: Option<&str>,
    now: DateTime<Utc>,
) -> DomainResult<Option<Started>> {
    let Some(row) = take_row(conn, state, browser, now)? else {
        return Ok(None);
    };
    let (provider, _, nonce, verifier, request, link_user, _, _) = row;
    let (Some(nonce), Some(pkce_verifier)) = (nonce, verifier) else {
        return Ok(None);
    };
    let purpose = match link_user {
        Some(user) => Purpose::Link {
            user: UserId::parse(&user)?,
        },
        None => Purpose::Login { request },
    };
    Ok(Some(Started {
        provider,
        state: state.to_owned(),
        nonce,
        pkce_verifier,
        purpose,
    }))
}

/// Keeps a verified identity nobody is linked to, for the password login that follows on
/// this browser; returns the token the login form carries.
pub fn keep_unlinked(
    conn: &mut DbConn,
    identity: &UpstreamIdentity,
    request: Option<&str>,
    browser: &str,
    now: DateTime<Utc>,
) -> DomainResult<String> {
    let token = crypto::random_token()?;
    let json = serde_json::to_string(identity).map_err(|e| DomainError::Internal(e.to_string()))?;
    diesel::insert_into(upstream_logins::table)
        .values((
            upstream_logins::token_hash.eq(crypto::sha256(token.as_bytes())),
            upstream_logins::provider.eq(&identity.provider),
            upstream_logins::browser_hash.eq(crypto::sha256(browser.as_bytes())),
            upstream_logins::request_id.eq(request),
            upstream_logins::identity.eq(json),
            upstream_logins::created_at.eq(to_db(now)),
            upstream_logins::expires_at.eq(to_db(now + Duration::minutes(LIFETIME_MINUTES))),
        ))
        .execute(conn)?;
    Ok(token)
}

/// The identity kept under `token` for this browser, without taking it (the login form
/// may be sent again after a wrong password).
pub fn unlinked(
    conn: &mut DbConn,
    token: &str,
    browser: Option<&str>,
    now: DateTime<Utc>,
) -> DomainResult<Option<UpstreamIdentity>> {
    let Some(browser) = browser else {
        return Ok(None);
    };
    let row: Option<(Vec<u8>, Option<String>, chrono::NaiveDateTime)> = upstream_logins::table
        .find(crypto::sha256(token.as_bytes()))
        .select((
            upstream_logins::browser_hash,
            upstream_logins::identity,
            upstream_logins::expires_at,
        ))
        .first(conn)
        .optional()?;
    let Some((hash, Some(identity), expires_at)) = row else {
        return Ok(None);
    };
    if !crypto::constant_time_eq(&hash, &crypto::sha256(browser.as_bytes()))
        || from_db(expires_at) <= now
    {
        return Ok(None);
    }
    serde_json::from_str(&identity)
        .map(Some)
        .map_err(|e| DomainError::Corrupt(format!("upstream identity: {e}")))
}

/// Forgets the identity kept under `token` (it was linked).
pub fn forget(conn: &mut DbConn, token: &str) -> DomainResult<()> {
    diesel::delete(upstream_logins::table.find(crypto::sha256(token.as_bytes()))).execute(conn)?;
    Ok(())
}

pub fn purge(conn: &mut DbConn, now: DateTime<Utc>) -> DomainResult<usize> {
    Ok(
        diesel::delete(upstream_logins::table.filter(upstream_logins::expires_at.lt(to_db(now))))
            .execute(conn)?,
    )
}
