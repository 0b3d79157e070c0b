//! Single-sign-on sessions of browsers. The cookie holds a 256-bit secret; the database
//! holds its SHA-256 and the session's public id (the `sid` claim).

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use crate::crypto;
use crate::domain::clock::{from_db, to_db};
use crate::domain::login::Amr;
use crate::domain::oidc::scope::Scope;
use crate::domain::types::{SessionId, UserId};
use crate::domain::{DomainResult, Idp};
use crate::store::models::SsoSessionRow;
use crate::store::schema::{grants, sso_sessions};
use crate::store::{self, DbConn};

#[derive(Debug, Clone)]
pub struct SsoSession {
    pub id: SessionId,
    pub user_id: UserId,
    pub auth_time: DateTime<Utc>,
    pub amr: Vec<String>,
    /// The upstream provider the login went through, if any (the ID token's `idp`).
    pub idp: Option<String>,
}

/// Opens a session for `user`; returns it and the cookie value.
pub fn create(
    idp: &Idp,
    conn: &mut DbConn,
    user: UserId,
    amr: &[Amr],
    upstream: Option<&str>,
) -> DomainResult<(SsoSession, String)> {
    let now = idp.now();
    let cookie = crypto::random_token()?;
    let session = SsoSession {
        id: SessionId::new(),
        user_id: user,
        auth_time: now,
        amr: amr.iter().map(|a| a.as_str().to_owned()).collect(),
        idp: upstream.map(str::to_owned),
    };
    diesel::insert_into(sso_sessions::table)
        .values(SsoSessionRow {
            id: session.id.to_string(),
            cookie_hash: crypto::sha256(cookie.as_bytes()),
            user_id: user.to_string(),
            auth_time: to_db(now),
            amr: serde_json::to_string(&session.amr)
                .map_err(|e| crate::domain::DomainError::Internal(e.to_string()))?,
            created_at: to_db(now),
            expires_at: to_db(now + Duration::seconds(idp.settings.sso_session_ttl_seconds)),
            ended_at: None,
            idp: session.idp.clone(),
        })
        .execute(conn)?;
    Ok((session, cookie))
}

/// A session neither ended nor expired at `now`: the one condition every lookup of a live
/// session filters by.
type Live = diesel::dsl::And<
    diesel::dsl::IsNull<sso_sessions::ended_at>,
    diesel::dsl::Gt<sso_sessions::expires_at, chrono::NaiveDateTime>,
>;

fn live(now: DateTime<Utc>) -> Live {
    sso_sessions::ended_at
        .is_null()
        .and(sso_sessions::expires_at.gt(to_db(now)))
}

/// The live session a cookie names, if any.
pub fn find(
    conn: &mut DbConn,
    cookie: &str,
    now: DateTime<Utc>,
) -> DomainResult<Option<SsoSession>> {
    let row: Option<SsoSessionRow> = sso_sessions::table
        .filter(sso_sessions::cookie_hash.eq(crypto::sha256(cookie.as_bytes())))
        .filter(live(now))
        .select(SsoSessionRow::as_select())
        .first(conn)
        .optional()?;
    row.map(|r| {
        Ok(SsoSession {
            id: SessionId::parse(&r.id)?,
            user_id: UserId::parse(&r.user_id)?,
            auth_time: from_db(r.auth_time),
            amr: serde_json::from_str(&r.amr)
                .map_err(|e| crate::domain::DomainError::Corrupt(format!("session amr: {e}")))?,
            idp: r.idp,
        })
    })
    .transpose()
}

/// Whether the session `id` is still live: neither ended nor expired.
pub fn is_live(conn: &mut DbConn, id: &str, now: DateTime<Utc>) -> DomainResult<bool> {
    let live: i64 = sso_sessions::table
        .filter(sso_sessions::id.eq(id))
        .filter(live(now))
        .count()
        .get_result(conn)?;
    Ok(live > 0)
}

/// A live session of an account, as its account page lists it.
#[derive(Debug, Clone)]
pub struct LiveSession {
    pub auth_time: DateTime<Utc>,
    /// The upstream provider it was opened through, if any.
    pub idp: Option<String>,
    /// The session of the browser asking.
    pub current: bool,
}

/// The live sessions of `user`, the newest first; `current` marks the one `cookie` names
/// (ASVS 4.0.3 §3.3.4: a person sees where they are logged in).
pub fn live_of(
    conn: &mut DbConn,
    user: UserId,
    cookie: Option<&str>,
    now: DateTime<Utc>,
) -> DomainResult<Vec<LiveSession>> {
    let mine = cookie.map(|c| crypto::sha256(c.as_bytes()));
    let rows: Vec<SsoSessionRow> = sso_sessions::table
        .filter(sso_sessions::user_id.eq(user.to_string()))
        .filter(live(now))
        .order(sso_sessions::auth_time.desc())
        .select(SsoSessionRow::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| LiveSession {
            auth_time: from_db(r.auth_time),
            idp: r.idp,
            current: mine.as_deref() == Some(r.cookie_hash.as_slice()),
        })
        .collect())
}

/// Ends every live session of `user` but the one `cookie` names, as logging out of each
/// would (their grants revoked but `offline_access` ones, applications told by
/// back-channel logout): ASVS 4.0.3 §3.3.4. How many ended. The caller makes it one
/// transaction with what goes with it (`account::end_other_sessions`: its audit event).
pub fn end_others(
    conn: &mut DbConn,
    user: UserId,
    cookie: &str,
    now: DateTime<Utc>,
) -> DomainResult<usize> {
    let others: Vec<String> = sso_sessions::table
        .filter(sso_sessions::user_id.eq(user.to_string()))
        .filter(live(now))
        .filter(sso_sessions::cookie_hash.ne(crypto::sha256(cookie.as_bytes())))
        .select(sso_sessions::id)
        .load(conn)?;
    for id in &others {
        end(conn, SessionId::parse(id)?, now)?;
    }
    Ok(others.len())
}

/// The active account logged in by the session `cookie` names, if any.
pub fn account_of(
    conn: &mut DbConn,
    cookie: Option<&str>,
    now: DateTime<Utc>,
) -> DomainResult<Option<crate::domain::users::User>> {
    let Some(cookie) = cookie else {
        return Ok(None);
    };
    let Some(session) = find(conn, cookie, now)? else {
        return Ok(None);
    };
    Ok(crate::domain::users::find_by_id(conn, session.user_id)?.filter(|u| !u.disabled))
}

/// Ends a session and revokes the grants made in it, except offline ones (a refresh token
/// asked for with `offline_access` outlives the browser session, OIDC Core §11).
pub fn end(conn: &mut DbConn, id: SessionId, now: DateTime<Utc>) -> DomainResult<()> {
    store::transaction(conn, |conn| {
        diesel::update(sso_sessions::table.find(id.to_string()))
            .set(sso_sessions::ended_at.eq(to_db(now)))
            .execute(conn)?;
        let live: Vec<(String, String)> = grants::table
            .filter(grants::sso_session_id.eq(id.to_string()))
            .filter(grants::revoked_at.is_null())
            .select((grants::id, grants::scope))
            .load(conn)?;
        for (grant, scope) in live {
            if !Scope::parse(&scope).contains(Scope::OFFLINE_ACCESS) {
                diesel::update(grants::table.find(grant))
                    .set(grants::revoked_at.eq(to_db(now)))
                    .execute(conn)?;
            }
        }
        super::backchannel::queue_session(conn, &id.to_string(), now)?;
        Ok(())
    })
}

/// Ends every session of `user` and revokes every grant, offline ones too: after a
/// password reset nothing opened with the old password may go on (OWASP Forgot Password
/// cheat sheet, "invalidate existing sessions").
pub fn end_all_for_user(conn: &mut DbConn, user: UserId, now: DateTime<Utc>) -> DomainResult<()> {
    let live: Vec<String> = sso_sessions::table
        .filter(sso_sessions::user_id.eq(user.to_string()))
        .filter(sso_sessions::ended_at.is_null())
        .select(sso_sessions::id)
        .load(conn)?;
    diesel::update(
        sso_sessions::table
            .filter(sso_sessions::user_id.eq(user.to_string()))
            .filter(sso_sessions::ended_at.is_null()),
    )
    .set(sso_sessions::ended_at.eq(to_db(now)))
    .execute(conn)?;
    // Every application of those sessions hears it (Back-Channel Logout).
    for sid in &live {
        super::backchannel::queue_session(conn, sid, now)?;
    }
    diesel::update(
        grants::table
            .filter(grants::user_id.eq(user.to_string()))
            .filter(grants::revoked_at.is_null()),
    )
    .set(grants::revoked_at.eq(to_db(now)))
    .execute(conn)?;
    Ok(())
}
