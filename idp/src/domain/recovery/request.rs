//! "Forgot password?" and "Forgot your identifier?": find the accounts, issue resets, put
//! the mails in the outbox, all in one transaction; answer the same whatever matched.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::recipients::{self, Recipient};
use super::{IdentifyBy, Origin};
use crate::domain::mail::{self, MailKind};
use crate::domain::resets::{self, Purpose};
use crate::domain::throttle::{self, ThrottleKey};
use crate::domain::types::{UserId, normalize};
use crate::domain::users::{self, User};
use crate::domain::{DomainError, DomainResult, Idp, audit, links};
use crate::store::{self, DbConn};

/// What the "Forgot password?" form sent.
#[derive(Debug, Clone, Copy)]
pub struct ResetRequest<'a> {
    /// The identifier; with `IdentifyBy::Either`, the one field (identifier or e-mail).
    pub identifier: &'a str,
    pub email: &'a str,
    /// The pending login to resume once the password is set.
    pub resume_request: Option<&'a str>,
    pub origin: Origin<'a>,
}

/// The answer; `Accepted` is the same whether or not an account matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requested {
    Accepted,
    /// Too many requests from this client address (says nothing about any account):
    /// wait `minutes`.
    Throttled {
        minutes: i64,
    },
    /// The form is not filled as asked; the message key says how.
    Incomplete(&'static str),
}

enum Lookup {
    Identifier(String),
    Email(String),
    Both(String, String),
}

fn read_form(mode: IdentifyBy, identifier: &str, email: &str) -> Result<Lookup, &'static str> {
    let identifier = identifier.trim();
    let email = email.trim();
    let is_email = |t: &str| t.contains('@');
    match mode {
        IdentifyBy::Identifier if identifier.is_empty() => Err("forgot-error-identifier-missing"),
        IdentifyBy::Identifier if is_email(identifier) => Err("forgot-error-email-as-identifier"),
        IdentifyBy::Identifier => Ok(Lookup::Identifier(identifier.to_owned())),
        IdentifyBy::Email if !is_email(email) => Err("forgot-error-email-missing"),
        IdentifyBy::Email => Ok(Lookup::Email(email.to_owned())),
        IdentifyBy::Either if identifier.is_empty() => Err("forgot-error-either-missing"),
        IdentifyBy::Either if is_email(identifier) => Ok(Lookup::Email(identifier.to_owned())),
        IdentifyBy::Either => Ok(Lookup::Identifier(identifier.to_owned())),
        IdentifyBy::Both if identifier.is_empty() => Err("forgot-error-identifier-missing"),
        IdentifyBy::Both if is_email(identifier) => Err("forgot-error-email-as-identifier"),
        IdentifyBy::Both if !is_email(email) => Err("forgot-error-email-missing"),
        IdentifyBy::Both => Ok(Lookup::Both(identifier.to_owned(), email.to_owned())),
    }
}

fn matching_accounts(conn: &mut DbConn, lookup: &Lookup) -> DomainResult<Vec<User>> {
    let found = match lookup {
        Lookup::Identifier(id) => users::find_by_username(conn, id)?.into_iter().collect(),
        Lookup::Email(email) => users::find_by_email(conn, email)?,
        Lookup::Both(id, email) => users::find_by_username(conn, id)?
            .into_iter()
            .filter(|u| u.email.as_deref().map(normalize) == Some(normalize(email)))
            .collect(),
    };
    Ok(found.into_iter().filter(|u: &User| !u.disabled).collect())
}

/// Counts a request from the client's address; `Throttled` when it is over its limit
/// (which a school network does not have, and which grows with the logins that succeeded
/// from the address: `throttle::address_allowance`).
fn admit(
    idp: &Idp,
    conn: &mut DbConn,
    origin: &Origin<'_>,
    detail: &str,
    now: DateTime<Utc>,
) -> DomainResult<Result<(), Requested>> {
    let schools = &idp.settings.school_networks;
    let Some(extra) = throttle::address_allowance(conn, schools, origin.address, now)? else {
        return Ok(Ok(()));
    };
    let key = ThrottleKey::RecoveryRequestsFromAddress(origin.address.to_owned());
    if throttle::blocked_until_allowing(conn, &key, now, extra)?.is_some() {
        record(
            conn,
            origin,
            audit::Kind::ResetRequestThrottled,
            None,
            detail,
            now,
        )?;
        let minutes = key.limit().minutes();
        return Ok(Err(Requested::Throttled { minutes }));
    }
    throttle::hit(conn, &key, now)?;
    Ok(Ok(()))
}

fn record(
    conn: &mut DbConn,
    origin: &Origin<'_>,
    kind: audit::Kind,
    user: Option<&User>,
    detail: &str,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    audit::Event::new(kind)
        .from(*origin)
        .user(user.map(|u| u.id))
        .detail(detail)
        .record(conn, now)
}

/// Renders mail `name` for `to` and puts it in the outbox.
pub(super) fn queue(
    idp: &Idp,
    conn: &mut DbConn,
    kind: MailKind,
    to: &Recipient,
    data: Value,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    let mail = idp
        .mail
        .render(kind, to.locale, &to.address, data)
        .map_err(|e| DomainError::Internal(e.to_string()))?;
    mail::enqueue(conn, &mail, now)
}

/// `queue`, audited as a mail queued for `user` to `to` (from `origin`, when a person's
/// request sent it).
#[allow(clippy::too_many_arguments)]
pub(super) fn queue_audited(
    idp: &Idp,
    conn: &mut DbConn,
    kind: MailKind,
    to: &Recipient,
    data: Value,
    user: UserId,
    origin: Option<Origin<'_>>,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    queue(idp, conn, kind, to, data, now)?;
    let mut event = audit::Event::new(audit::Kind::MailQueued)
        .user(user)
        .detail(&to.address);
    if let Some(origin) = origin {
        event = event.from(origin);
    }
    event.record(conn, now)
}

/// One account as a reset mail lists it.
fn account_entry(user: &User, link: &str, code: &str) -> Value {
    json!({
        "identifier": user.username,
        "email": user.email,
        "name": user.name(),
        "link": link,
        "code": code,
        "upstream_only": false,
    })
}

/// "Forgot password?". Each matching account gets a reset; its address and its
/// co-accounts' each get one mail, listing every account of theirs that matched (a
/// family sharing an address picks the right one). Old passwords keep working.
pub fn forgot_password(
    idp: &Idp,
    conn: &mut DbConn,
    request: ResetRequest<'_>,
) -> DomainResult<Requested> {
    let now = idp.now();
    let settings = &idp.settings.recovery;
    let lookup = match read_form(settings.identify_by, request.identifier, request.email) {
        Ok(l) => l,
        Err(message) => return Ok(Requested::Incomplete(message)),
    };
    let typed = match &lookup {
        Lookup::Identifier(t) | Lookup::Email(t) => t.clone(),
        Lookup::Both(id, email) => format!("{id} / {email}"),
    };
    let origin = request.origin;
    if let Err(throttled) = admit(idp, conn, &origin, &typed, now)? {
        return Ok(throttled);
    }
    let matched = matching_accounts(conn, &lookup)?;
    if matched.is_empty() {
        record(
            conn,
            &origin,
            audit::Kind::ResetRequestUnmatched,
            None,
            &typed,
            now,
        )?;
        return Ok(Requested::Accepted);
    }
    // A flood of requests never becomes a flood of mail: past its limit an account gets
    // nothing more, and the answer stays the same.
    let mut accounts = Vec::new();
    for user in matched {
        let key = ThrottleKey::ResetMailsOfAccount(user.id);
        if throttle::blocked_until(conn, &key, now)?.is_some() {
            record(
                conn,
                &origin,
                audit::Kind::ResetRequestThrottled,
                Some(&user),
                &typed,
                now,
            )?;
            continue;
        }
        throttle::hit(conn, &key, now)?;
        accounts.push(user);
    }
    mail_resets(
        idp,
        conn,
        &accounts,
        &origin,
        &typed,
        request.resume_request,
    )?;
    Ok(Requested::Accepted)
}

/// What became of a reset mail a school's staff sent for one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaffReset {
    /// Queued to these addresses (the account's and its co-accounts').
    Sent(Vec<String>),
    /// The account got its share of reset mails lately (as with "Forgot password?").
    Throttled { minutes: i64 },
    /// Neither the account nor a co-account has an address: a temporary password instead.
    NoAddress,
}

/// A reset mail for `user`, sent by a school's staff from the organising body's screens
/// (`by`: who, for the audit trail). Counts against the same per-account limit as
/// "Forgot password?", so neither floods a mailbox.
pub fn reset_by_staff(
    idp: &Idp,
    conn: &mut DbConn,
    user: &User,
    origin: Origin<'_>,
    by: &str,
) -> DomainResult<StaffReset> {
    let now = idp.now();
    let to: Vec<String> = recipients::of_account(conn, user, idp.default_locale())?
        .into_iter()
        .map(|r| r.address)
        .collect();
    if to.is_empty() {
        return Ok(StaffReset::NoAddress);
    }
    let key = ThrottleKey::ResetMailsOfAccount(user.id);
    if throttle::blocked_until(conn, &key, now)?.is_some() {
        return Ok(StaffReset::Throttled {
            minutes: key.limit().minutes(),
        });
    }
    throttle::hit(conn, &key, now)?;
    let typed = format!("sent by {by}");
    mail_resets(idp, conn, std::slice::from_ref(user), &origin, &typed, None)?;
    Ok(StaffReset::Sent(to))
}

/// Issues a reset for each of `accounts` and mails it: each address (the accounts' and
/// their co-accounts') gets one mail listing every account of theirs, so a family sharing
/// an address picks the right one. An account that logs in only through its school's
/// Microsoft or Google account gets no reset: its part of the mail says to use that.
fn mail_resets(
    idp: &Idp,
    conn: &mut DbConn,
    accounts: &[User],
    origin: &Origin<'_>,
    typed: &str,
    resume_request: Option<&str>,
) -> DomainResult<()> {
    let now = idp.now();
    let default = idp.default_locale();
    let hours = idp.settings.recovery.reset_ttl_seconds / 3600;
    store::transaction(conn, |conn| {
        // Mailbox → (recipient, the accounts listed in its mail).
        let mut mails: BTreeMap<String, (Recipient, Vec<Value>)> = BTreeMap::new();
        for user in accounts {
            let entry = if crate::domain::upstream::only::applies_to(conn, user)? {
                upstream_only_entry(user)
            } else {
                reset_entry(idp, conn, user, resume_request)?
            };
            let to = recipients::of_account(conn, user, default)?;
            record(
                conn,
                origin,
                audit::Kind::ResetRequested,
                Some(user),
                &format!("{typed} → {} address(es)", to.len()),
                now,
            )?;
            for r in to {
                record(
                    conn,
                    origin,
                    audit::Kind::MailQueued,
                    Some(user),
                    &r.address,
                    now,
                )?;
                mails
                    .entry(r.normalized.clone())
                    .or_insert_with(|| (r, Vec::new()))
                    .1
                    .push(entry.clone());
            }
        }
        for (to, entries) in mails.into_values() {
            let data = json!({
                "several": entries.len() > 1,
                "accounts": entries,
                "hours": hours,
                "code_url": idp.endpoint("/reset/code"),
                "forgot_url": idp.endpoint("/forgot"),
            });
            queue(idp, conn, MailKind::Reset, &to, data, now)?;
        }
        Ok(())
    })
}

/// An account's part of a reset mail: a new reset's link and code.
fn reset_entry(
    idp: &Idp,
    conn: &mut DbConn,
    user: &User,
    resume_request: Option<&str>,
) -> DomainResult<Value> {
    let ttl = idp.settings.recovery.reset_ttl();
    let issued = resets::issue(
        conn,
        user.id,
        Purpose::Reset,
        resume_request,
        ttl,
        idp.now(),
    )?;
    // Never in a log line, not even without a mail server: the mail written to the outbox
    // folder (whose file the log names) holds the link.
    let link = idp.endpoint(&format!("/reset?token={}", issued.token));
    Ok(account_entry(user, &link, &issued.code))
}

/// The part of an account that logs in only with its school's Microsoft or Google
/// account: no reset, the way to log in instead.
fn upstream_only_entry(user: &User) -> Value {
    let mut entry = account_entry(user, "", "");
    if let Some(map) = entry.as_object_mut() {
        map.insert("upstream_only".into(), Value::Bool(true));
    }
    entry
}

/// "Forgot your identifier?": the address gets one mail naming the accounts that use it,
/// and those whose co-account uses it (a guardian learns the children's identifiers).
pub fn forgot_identifier(
    idp: &Idp,
    conn: &mut DbConn,
    email: &str,
    origin: Origin<'_>,
) -> DomainResult<Requested> {
    let now = idp.now();
    let email = email.trim();
    if !email.contains('@') {
        return Ok(Requested::Incomplete("forgot-error-email-missing"));
    }
    if let Err(throttled) = admit(idp, conn, &origin, email, now)? {
        return Ok(throttled);
    }
    let owners: Vec<User> = users::find_by_email(conn, email)?
        .into_iter()
        .filter(|u| !u.disabled)
        .collect();
    let Some(first) = owners.first().cloned() else {
        record(
            conn,
            &origin,
            audit::Kind::IdentifierReminderRequested,
            None,
            email,
            now,
        )?;
        return Ok(Requested::Accepted);
    };
    let key = ThrottleKey::reminders_to(email);
    if throttle::blocked_until(conn, &key, now)?.is_some() {
        record(
            conn,
            &origin,
            audit::Kind::ResetRequestThrottled,
            Some(&first),
            email,
            now,
        )?;
        return Ok(Requested::Accepted);
    }
    throttle::hit(conn, &key, now)?;
    let mut listed: Vec<(User, Option<String>)> = Vec::new();
    for owner in &owners {
        if !listed.iter().any(|(u, _)| u.id == owner.id) {
            listed.push((owner.clone(), None));
        }
        for (account, relation) in links::accounts_of(conn, owner.id)? {
            if !account.disabled && !listed.iter().any(|(u, _)| u.id == account.id) {
                listed.push((account, Some(relation)));
            }
        }
    }
    let Some(to) = recipients::of_account(conn, &first, idp.default_locale())?
        .into_iter()
        .next()
    else {
        return Ok(Requested::Accepted);
    };
    store::transaction(conn, |conn| {
        for (user, _) in &listed {
            record(
                conn,
                &origin,
                audit::Kind::IdentifierReminderRequested,
                Some(user),
                email,
                now,
            )?;
        }
        let accounts: Vec<Value> = listed
            .iter()
            .map(|(u, relation)| {
                json!({"identifier": u.username, "name": u.name(), "relation": relation})
            })
            .collect();
        let data = json!({
            "accounts": accounts,
            "email": to.address,
            "login_url": idp.endpoint("/login"),
            "forgot_url": idp.endpoint("/forgot"),
        });
        queue(idp, conn, MailKind::Identifiers, &to, data, now)?;
        Ok(Requested::Accepted)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(mode: IdentifyBy, identifier: &str, email: &str) -> Result<&'static str, &'static str> {
        read_form(mode, identifier, email).map(|l| match l {
            Lookup::Identifier(_) => "identifier",
            Lookup::Email(_) => "email",
            Lookup::Both(..) => "both",
        })
    }

    #[test]
    fn each_mode_reads_its_fields() {
        use IdentifyBy::*;
        assert_eq!(read(Either, " jean.dupont ", ""), Ok("identifier"));
        assert_eq!(read(Either, "jean@hotmail.com", ""), Ok("email"));
        assert_eq!(read(Either, " ", ""), Err("forgot-error-either-missing"));
        assert_eq!(read(Identifier, "jean.dupont", ""), Ok("identifier"));
        assert_eq!(
            read(Identifier, "jean@hotmail.com", ""),
            Err("forgot-error-email-as-identifier")
        );
        assert_eq!(
            read(Identifier, "", "jean@hotmail.com"),
            Err("forgot-error-identifier-missing")
        );
        assert_eq!(read(Email, "jean.dupont", "jean@hotmail.com"), Ok("email"));
        assert_eq!(
            read(Email, "", "jean.dupont"),
            Err("forgot-error-email-missing")
        );
        assert_eq!(read(Both, "jean.dupont", "jean@hotmail.com"), Ok("both"));
        assert_eq!(
            read(Both, "jean.dupont", ""),
            Err("forgot-error-email-missing")
        );
        assert_eq!(
            read(Both, "", "jean@hotmail.com"),
            Err("forgot-error-identifier-missing")
        );
        assert_eq!(
            read(Both, "jean@hotmail.com", "jean@hotmail.com"),
            Err("forgot-error-email-as-identifier")
        );
    }
}
