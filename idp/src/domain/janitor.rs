//! Removes state nobody can use any more: expired codes and pending logins, refresh tokens
//! past their lifetime, revoked access-token ids whose tokens have expired, ended or expired
//! sessions. Every instance runs it periodically; running it twice at once is harmless.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use super::DomainResult;
use super::clock::to_db;
use crate::config::RetentionSettings;
use crate::store::DbConn;
use crate::store::schema::{
    audit_events, auth_requests, authorization_codes, mail_outbox, password_resets, refresh_tokens,
    revoked_access_tokens, sso_sessions,
};

/// Rows are kept this long past their expiry, so a replayed code or reused refresh token is
/// still recognised as such (and revokes its grant) for a day rather than looking unknown.
const GRACE_HOURS: i64 = 24;

/// Deletes what expired before `now` (less the grace period); returns how many rows went.
pub fn purge(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    retention: &RetentionSettings,
) -> DomainResult<usize> {
    let cutoff = to_db(now - Duration::hours(GRACE_HOURS));
    let mut n = super::oidc::backchannel::end_expired_sessions(conn, now)?;
    n += super::oidc::backchannel::purge(conn, now - Duration::hours(GRACE_HOURS))?;
    n += diesel::delete(
        authorization_codes::table.filter(authorization_codes::expires_at.lt(cutoff)),
    )
    .execute(conn)?;
    n += diesel::delete(auth_requests::table.filter(auth_requests::expires_at.lt(cutoff)))
        .execute(conn)?;
    n += diesel::delete(refresh_tokens::table.filter(refresh_tokens::expires_at.lt(cutoff)))
        .execute(conn)?;
    n += diesel::delete(
        revoked_access_tokens::table.filter(revoked_access_tokens::expires_at.lt(to_db(now))),
    )
    .execute(conn)?;
    n += diesel::delete(
        sso_sessions::table.filter(
            sso_sessions::expires_at
                .lt(cutoff)
                .or(sso_sessions::ended_at.lt(cutoff)),
        ),
    )
    .execute(conn)?;
    n += diesel::delete(password_resets::table.filter(password_resets::expires_at.lt(cutoff)))
        .execute(conn)?;
    n += super::upstream::purge(conn, now)?;
    n += super::oidc::par::purge(conn, now)?;
    n += super::required_actions::purge(conn, now)?;
    n += super::oidc::client_auth::purge_used_assertions(conn, now)?;
    n += super::throttle::purge(conn, now, super::throttle::LONGEST_WINDOW)?;
    n += purge_retained(conn, now, retention)?;
    Ok(n)
}

/// Audit events and sent mail past their retention (settings; 0 keeps them for ever).
fn purge_retained(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    retention: &RetentionSettings,
) -> DomainResult<usize> {
    let before = |days: u32| to_db(now - Duration::days(i64::from(days)));
    let mut n = 0;
    if retention.audit_events_days > 0 {
        let old = audit_events::occurred_at.lt(before(retention.audit_events_days));
        n += diesel::delete(audit_events::table.filter(old)).execute(conn)?;
    }
    if retention.sent_mail_days > 0 {
        let old = mail_outbox::sent_at.lt(before(retention.sent_mail_days));
        n += diesel::delete(mail_outbox::table.filter(old)).execute(conn)?;
    }
    Ok(n)
}
