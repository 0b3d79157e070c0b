//! Notices of a change to how an account is logged in to or recovered (ASVS 4.0.3 §2.2.3
//! and §2.5.5, OWASP Forgot Password cheat sheet): a new password, an e-mail address
//! replaced (told to the address it had: someone who took an account over and moved its
//! address away would otherwise take its recovery with it unseen), and a sign-in through
//! an upstream provider linked or removed. Each is sent where the change cannot be hidden
//! from the person, and audited.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::Origin;
use super::recipients::{self, Recipient, masked};
use super::request::queue_audited;
use crate::domain::mail::MailKind;
use crate::domain::types::{UserId, normalize};
use crate::domain::users::{self, User};
use crate::domain::{DomainResult, Idp};
use crate::store::DbConn;

/// Tells each of `recipients` (the account and its co-accounts) that the password of
/// `user` changed at `now`: a reset, a new password, a temporary one staff were shown
/// rather than mailed; and what to do if it was not them. `origin`: the request that
/// changed it, when a person's.
pub fn password_changed(
    idp: &Idp,
    conn: &mut DbConn,
    user: &User,
    recipients: &[Recipient],
    origin: Option<Origin<'_>>,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    let data = json!({
        "identifier": user.username,
        "email": user.email,
        "name": user.name(),
        "when": now.to_rfc3339(),
        "forgot_url": idp.endpoint("/forgot"),
    });
    for to in recipients {
        let kind = MailKind::PasswordChanged;
        queue_audited(idp, conn, kind, to, data.clone(), user.id, origin, now)?;
    }
    Ok(())
}

/// Tells the address `user` had before (`user.email`) that it was replaced by `new` (or
/// removed): when, to what (masked, so the old mailbox learns nothing it should not), and
/// what to do if it was not them. Nothing when there was no address before or it is the
/// same mailbox.
pub fn email_changed(
    idp: &Idp,
    conn: &mut DbConn,
    user: &User,
    new: Option<&str>,
    origin: Origin<'_>,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    let Some(to) = Recipient::of(user, idp.default_locale()) else {
        return Ok(());
    };
    let new = new.map(str::trim).filter(|e| !e.is_empty());
    if new.map(normalize).as_ref() == Some(&to.normalized) {
        return Ok(());
    }
    let data = json!({
        "identifier": user.username,
        "email": null,
        "name": user.name(),
        "when": now.to_rfc3339(),
        "new_email": new.map(masked),
        "forgot_url": idp.endpoint("/forgot"),
    });
    let kind = MailKind::EmailChanged;
    queue_audited(idp, conn, kind, &to, data, user.id, Some(origin), now)
}

/// Tells the account `user` and its co-accounts (a pupil's guardians) that a sign-in
/// through upstream `provider` was linked to it (`linked`) or removed: from now on that
/// Microsoft or Google account can, or no longer can, log in to it. A link made behind
/// the person's back would otherwise be a way in nobody sees.
pub fn sign_in_changed(
    idp: &Idp,
    conn: &mut DbConn,
    user: UserId,
    provider: &str,
    linked: bool,
    origin: Origin<'_>,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    let Some(user) = users::find_by_id(conn, user)? else {
        return Ok(());
    };
    let data = json!({
        "identifier": user.username,
        "email": null,
        "name": user.name(),
        "when": now.to_rfc3339(),
        "provider": idp.upstream.name_of(provider),
        "linked": linked,
    });
    for to in recipients::of_account(conn, &user, idp.default_locale())? {
        let kind = MailKind::SignInChanged;
        queue_audited(
            idp,
            conn,
            kind,
            &to,
            data.clone(),
            user.id,
            Some(origin),
            now,
        )?;
    }
    Ok(())
}
