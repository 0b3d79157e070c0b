//! OpenID Connect Back-Channel Logout 1.0: when an SSO session ends (logout at the STS, an
//! administrator disabling the account, a password reset, expiry), every application that
//! got a code through it and registered a `backchannel_logout_uri` is sent a signed logout
//! token. The tokens wait in a durable outbox (`logout_deliveries`), as mail does: queued
//! in the transaction that ends the session, claimed by one instance at a time, retried
//! with a back-off, never blocking the person's page. Building a token is here; the POST
//! is the worker's (`crate::notify`).

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde_json::json;

use crate::crypto::jws;
use crate::domain::clients::{self, Client};
use crate::domain::clock::{from_db, to_db};
use crate::domain::types::RedirectUri;
use crate::domain::{DomainError, DomainResult, Idp};
use crate::store::DbConn;
use crate::store::schema::{clients as clients_table, grants, logout_deliveries, sso_sessions};

/// The event a logout token carries (Back-Channel Logout §2.4).
const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How long a claim keeps other instances off a delivery.
const CLAIM: Duration = Duration::seconds(60);
/// After this long, a delivery that never went through is given up (and logged).
const GIVE_UP_AFTER: Duration = Duration::hours(24);
/// A logout token's lifetime: it is sent at once.
const TOKEN_TTL: Duration = Duration::minutes(2);

/// Sets where client `id` hears of ended sessions (none: it does not).
pub fn set_uri(conn: &mut DbConn, id: &str, uri: Option<&str>) -> DomainResult<()> {
    let uri = uri
        .map(|u| RedirectUri::parse(u).map_err(|_| logout_uri_invalid("backchannel_logout_uri")))
        .transpose()?;
    let changed = diesel::update(clients_table::table.find(id))
        .set(clients_table::backchannel_logout_uri.eq(uri.as_ref().map(RedirectUri::as_str)))
        .execute(conn)?;
    if changed == 0 {
        return Err(DomainError::NotFound(format!("client {id}").into()));
    }
    Ok(())
}

/// A logout URI that is not https (or http on localhost).
pub(super) fn logout_uri_invalid(field: &'static str) -> DomainError {
    DomainError::invalid(field, "an https URI (plain http only on localhost)")
}

/// Queues a logout token for each client of session `sid` that listens. Runs in the
/// transaction that ends the session.
pub fn queue_session(conn: &mut DbConn, sid: &str, now: DateTime<Utc>) -> DomainResult<usize> {
    let listeners: Vec<(String, String, String)> = grants::table
        .filter(grants::sso_session_id.eq(sid))
        .inner_join(clients_table::table)
        .filter(clients_table::backchannel_logout_uri.is_not_null())
        .select((
            grants::client_id,
            clients_table::backchannel_logout_uri.assume_not_null(),
            grants::user_id,
        ))
        .distinct()
        .load(conn)?;
    for (client, uri, sub) in &listeners {
        diesel::insert_into(logout_deliveries::table)
            .values((
                logout_deliveries::id.eq(uuid::Uuid::now_v7().to_string()),
                logout_deliveries::client_id.eq(client),
                logout_deliveries::uri.eq(uri),
                logout_deliveries::sub.eq(sub),
                logout_deliveries::sid.eq(sid),
                logout_deliveries::created_at.eq(to_db(now)),
                logout_deliveries::next_attempt_at.eq(to_db(now)),
            ))
            .execute(conn)?;
    }
    Ok(listeners.len())
}

/// Ends the sessions that expired unnoticed and queues their logout tokens (the janitor).
pub fn end_expired_sessions(conn: &mut DbConn, now: DateTime<Utc>) -> DomainResult<usize> {
    let expired: Vec<(String, chrono::NaiveDateTime)> = sso_sessions::table
        .filter(sso_sessions::ended_at.is_null())
        .filter(sso_sessions::expires_at.le(to_db(now)))
        .select((sso_sessions::id, sso_sessions::expires_at))
        .limit(500)
        .load(conn)?;
    for (sid, expires_at) in &expired {
        crate::store::transaction(conn, |conn| {
            let ended = diesel::update(
                sso_sessions::table
                    .find(sid)
                    .filter(sso_sessions::ended_at.is_null()),
            )
            .set(sso_sessions::ended_at.eq(expires_at))
            .execute(conn)?;
            // Another instance's janitor may have ended it just now.
            if ended == 1 {
                queue_session(conn, sid, now)?;
            }
            Ok::<_, DomainError>(())
        })?;
    }
    Ok(expired.len())
}

/// A logout token to send.
#[derive(Debug, Clone)]
pub struct Due {
    pub id: String,
    pub uri: String,
    pub token: String,
    attempts: i32,
    created_at: DateTime<Utc>,
}

type DueRow = (
    String,
    String,
    String,
    String,
    String,
    i32,
    chrono::NaiveDateTime,
);

/// Claims the deliveries due at `now` (another instance's claim keeps them off) and signs
/// their logout tokens.
pub fn claim_due(idp: &Idp, conn: &mut DbConn, now: DateTime<Utc>) -> DomainResult<Vec<Due>> {
    let free = || {
        logout_deliveries::claimed_until
            .is_null()
            .or(logout_deliveries::claimed_until.lt(to_db(now)))
    };
    let rows: Vec<DueRow> = logout_deliveries::table
        .filter(logout_deliveries::delivered_at.is_null())
        .filter(logout_deliveries::given_up_at.is_null())
        .filter(logout_deliveries::next_attempt_at.le(to_db(now)))
        .filter(free())
        .order(logout_deliveries::next_attempt_at)
        .limit(50)
        .select((
            logout_deliveries::id,
            logout_deliveries::client_id,
            logout_deliveries::uri,
            logout_deliveries::sub,
            logout_deliveries::sid,
            logout_deliveries::attempts,
            logout_deliveries::created_at,
        ))
        .load(conn)?;
    let mut due = Vec::new();
    for (id, client, uri, sub, sid, attempts, created_at) in rows {
        let won = diesel::update(
            logout_deliveries::table
                .find(&id)
                .filter(logout_deliveries::delivered_at.is_null())
                .filter(free()),
        )
        .set(logout_deliveries::claimed_until.eq(to_db(now + CLAIM)))
        .execute(conn)?;
        if won == 0 {
            continue; // another instance has it
        }
        let Some(client) = clients::find(conn, &client)? else {
            // The client is gone: nobody to tell.
            give_up(conn, &id, "the client was deleted", now)?;
            continue;
        };
        let token = logout_token(idp, &client, &sub, &sid, now)?;
        due.push(Due {
            id,
            uri,
            token,
            attempts,
            created_at: from_db(created_at),
        });
    }
    Ok(due)
}

/// The logout token (Back-Channel Logout §2.4): `iss`, `aud`, `iat`, `exp`, `jti`, `sub`,
/// `sid`, the event, never a `nonce`; typed `logout+jwt` (§2.4, RFC 8725 §3.11), signed
/// like the client's ID tokens.
pub fn logout_token(
    idp: &Idp,
    client: &Client,
    sub: &str,
    sid: &str,
    now: DateTime<Utc>,
) -> DomainResult<String> {
    let claims = json!({
        "iss": idp.settings.issuer,
        "aud": client.id.as_str(),
        "iat": now.timestamp(),
        "exp": (now + TOKEN_TTL).timestamp(),
        "jti": crate::crypto::random_uuid()?.to_string(),
        "sub": sub,
        "sid": sid,
        "events": { EVENT: {} },
    });
    let keys = idp.keys();
    let key = keys.signing_key(client.id_token_signed_response_alg, now)?;
    Ok(jws::sign(key, "logout+jwt", &claims)?)
}

/// The client took the token (HTTP 200, §2.8).
pub fn delivered(conn: &mut DbConn, due: &Due, now: DateTime<Utc>) -> DomainResult<()> {
    diesel::update(logout_deliveries::table.find(&due.id))
        .set((
            logout_deliveries::delivered_at.eq(to_db(now)),
            logout_deliveries::attempts.eq(due.attempts + 1),
            logout_deliveries::claimed_until.eq(None::<chrono::NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(())
}

/// The client could not be reached or refused: tried again after a back-off (30 s,
/// 1 min, 2 min … at most an hour), given up a day after it was queued.
pub fn failed(conn: &mut DbConn, due: &Due, error: &str, now: DateTime<Utc>) -> DomainResult<()> {
    if now - due.created_at > GIVE_UP_AFTER {
        tracing::warn!(delivery = %due.id, uri = %due.uri, %error, "logout token given up");
        return give_up(conn, &due.id, error, now);
    }
    let backoff =
        Duration::seconds(30 * (1i64 << due.attempts.clamp(0, 7))).min(Duration::hours(1));
    tracing::warn!(delivery = %due.id, uri = %due.uri, %error, "logout token not taken; will retry");
    diesel::update(logout_deliveries::table.find(&due.id))
        .set((
            logout_deliveries::attempts.eq(due.attempts + 1),
            logout_deliveries::last_error.eq(error.chars().take(500).collect::<String>()),
            logout_deliveries::next_attempt_at.eq(to_db(now + backoff)),
            logout_deliveries::claimed_until.eq(None::<chrono::NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(())
}

fn give_up(conn: &mut DbConn, id: &str, error: &str, now: DateTime<Utc>) -> DomainResult<()> {
    diesel::update(logout_deliveries::table.find(id))
        .set((
            logout_deliveries::given_up_at.eq(to_db(now)),
            logout_deliveries::last_error.eq(error.chars().take(500).collect::<String>()),
            logout_deliveries::claimed_until.eq(None::<chrono::NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(())
}

/// Removes deliveries done or given up before `cutoff`.
pub fn purge(conn: &mut DbConn, cutoff: DateTime<Utc>) -> DomainResult<usize> {
    Ok(diesel::delete(
        logout_deliveries::table.filter(
            logout_deliveries::delivered_at
                .lt(to_db(cutoff))
                .or(logout_deliveries::given_up_at.lt(to_db(cutoff))),
        ),
    )
    .execute(conn)?)
}
