//! Setting the new password with a reset link or code, or after a temporary password.
//! Opening a reset never uses it (mail scanners open links); only a valid new password
//! does, once.

use super::Origin;
use super::recipients;
use crate::crypto::password::Verification;
use crate::domain::login::{self, Amr, Authenticated, Finished, Method, Then};
use crate::domain::oidc::{authorize, sessions};
use crate::domain::password_policy::Violation;
use crate::domain::resets::{self, Purpose, Reset, Unusable, UnusableReset};
use crate::domain::throttle::{self, ThrottleKey};
use crate::domain::types::normalize;
use crate::domain::users::{self, User};
use crate::domain::{DomainError, DomainResult, Idp, audit};
use crate::store::{self, DbConn};

/// What proves the right to set the password.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    /// The token of the mailed link (or of a temporary-password login).
    Token(&'a str),
    /// The mailed code, with the identifier it belongs to.
    Code { identifier: &'a str, code: &'a str },
}

impl Credential<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Self::Token(_) => "link",
            Self::Code { .. } => "code",
        }
    }
}

/// What the new-password form sent.
#[derive(Debug, Clone, Copy)]
pub struct NewPassword<'a> {
    pub password: &'a str,
    pub confirmation: &'a str,
    /// The account's e-mail address, typed again where `confirm_email_on_reset` asks.
    pub email: Option<&'a str>,
}

/// Why a new password was refused; all are listed at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Policy(Violation),
    /// The confirmation differs.
    Mismatch,
    /// The e-mail address typed is not the account's.
    EmailMismatch,
    /// The new password is the temporary one.
    Unchanged,
}

impl Problem {
    pub fn message_key(&self) -> String {
        match self {
            Self::Policy(v) => v.message_key(),
            Self::Mismatch => "reset-error-mismatch".into(),
            Self::EmailMismatch => "reset-error-email".into(),
            Self::Unchanged => "reset-error-unchanged".into(),
        }
    }
}

/// The password is set and the person logged in.
#[derive(Debug, Clone)]
pub struct Done {
    pub user: User,
    pub resume_request: Option<String>,
    pub purpose: Purpose,
    /// The new SSO session's cookie.
    pub session_cookie: String,
    /// Where the "password changed" page goes on to: `/resume` for the pending login.
    pub next: String,
}

#[derive(Debug, Clone)]
pub enum Outcome {
    /// A usable reset, for the form; nothing was used. With where its mail went, masked
    /// (the person proved they hold the link or the code).
    Open(Box<Reset>, Box<User>, Vec<String>),
    Done(Box<Done>),
    /// The password was refused; the reset is still usable.
    Rejected(Box<Reset>, Box<User>, Vec<Problem>, Vec<String>),
    Unusable(UnusableReset),
    /// Too many wrong codes for this identifier or from this address: wait `minutes`.
    Throttled {
        minutes: i64,
    },
}

/// A refused link, naming its pending login only while that login still waits (a new link
/// then leads back to the application; a dead one would only show an error).
fn refused(idp: &Idp, conn: &mut DbConn, unusable: UnusableReset) -> DomainResult<Outcome> {
    let waiting = match &unusable.resume_request {
        Some(id) => authorize::load_pending(idp, conn, id)?.is_some(),
        None => false,
    };
    Ok(Outcome::Unusable(UnusableReset {
        resume_request: unusable.resume_request.filter(|_| waiting),
        ..unusable
    }))
}

/// Finds the reset a credential names, without using it. Wrong codes are counted.
pub fn open(
    idp: &Idp,
    conn: &mut DbConn,
    credential: Credential<'_>,
    origin: Origin<'_>,
) -> DomainResult<Outcome> {
    let now = idp.now();
    let found = match credential {
        Credential::Token(token) => resets::find_by_token(conn, token, now)?,
        Credential::Code { identifier, code } => {
            let account_key = ThrottleKey::code_identifier(identifier);
            let address_key = ThrottleKey::CodeFailuresFromAddress(origin.address.to_owned());
            for key in [&account_key, &address_key] {
                if throttle::blocked_until(conn, key, now)?.is_some() {
                    let minutes = key.limit().minutes();
                    return Ok(Outcome::Throttled { minutes });
                }
            }
            let user = users::find_by_username(conn, identifier)?;
            let found = match &user {
                Some(u) => resets::find_by_code(conn, u.id, code, now)?,
                None => Err(Unusable::Unknown.into()),
            };
            if found.is_err() {
                throttle::hit(conn, &account_key, now)?;
                throttle::hit(conn, &address_key, now)?;
                audit::Event::new(audit::Kind::ResetCodeFailed)
                    .from(origin)
                    .user(user.map(|u| u.id))
                    .detail(identifier)
                    .record(conn, now)?;
            }
            found
        }
    };
    let reset = match found {
        Ok(r) => r,
        Err(unusable) => return refused(idp, conn, unusable),
    };
    // An account that logs in only upstream has no password here to choose: a link
    // issued before its body decided so is of no use any more.
    let user = users::find_by_id(conn, reset.user_id)?;
    let upstream_only = match &user {
        Some(u) => crate::domain::upstream::only::applies_to(conn, u)?,
        None => false,
    };
    match user {
        Some(user) if !user.disabled && !upstream_only => {
            let sent_to = sent_to(idp, conn, &user, reset.purpose)?;
            Ok(Outcome::Open(Box::new(reset), Box::new(user), sent_to))
        }
        _ => Ok(Outcome::Unusable(Unusable::Unknown.into())),
    }
}

/// The addresses a reset's mail went to, masked (`recipients::masked`): the account's
/// and its co-accounts' for a reset; none for a reset that was not mailed.
fn sent_to(
    idp: &Idp,
    conn: &mut DbConn,
    user: &User,
    purpose: Purpose,
) -> DomainResult<Vec<String>> {
    if purpose != Purpose::Reset {
        return Ok(Vec::new());
    }
    let recipients = super::recipients::of_account(conn, user, idp.default_locale())?;
    Ok(recipients
        .iter()
        .map(|r| super::recipients::masked(&r.address))
        .collect())
}

/// Every reason to refuse `new` for `user`, for a change made for `purpose`.
pub fn password_problems(
    idp: &Idp,
    user: &User,
    new: &NewPassword<'_>,
    purpose: Purpose,
) -> DomainResult<Vec<Problem>> {
    let context = user.password_context();
    let mut problems: Vec<Problem> = idp
        .settings
        .password_policy
        .check(new.password, &context)
        .into_iter()
        .map(Problem::Policy)
        .collect();
    if new.password != new.confirmation {
        problems.push(Problem::Mismatch);
    }
    if idp.settings.recovery.confirm_email_on_reset
        && purpose == Purpose::Reset
        && let Some(email) = &user.email
        && new.email.map(normalize) != Some(normalize(email))
    {
        problems.push(Problem::EmailMismatch);
    }
    if problems.is_empty()
        && purpose == Purpose::TemporaryPassword
        && idp
            .hasher
            .verify(new.password, user.password_hash.as_deref())?
            != Verification::Mismatch
    {
        problems.push(Problem::Unchanged);
    }
    Ok(problems)
}

/// Sets the new password if it is acceptable: uses the reset, revokes the account's other
/// resets, ends its sessions and refresh tokens (when configured) and mails "your password
/// was changed" to its addresses.
pub fn complete(
    idp: &Idp,
    conn: &mut DbConn,
    credential: Credential<'_>,
    new: NewPassword<'_>,
    origin: Origin<'_>,
) -> DomainResult<Outcome> {
    let (reset, user, sent_to) = match open(idp, conn, credential, origin)? {
        Outcome::Open(reset, user, sent_to) => (reset, user, sent_to),
        other => return Ok(other),
    };
    let problems = password_problems(idp, &user, &new, reset.purpose)?;
    if !problems.is_empty() {
        return Ok(Outcome::Rejected(reset, user, problems, sent_to));
    }
    let hash = idp.hasher.hash(new.password)?;
    let now = idp.now();
    let recipients = recipients::of_account(conn, &user, idp.default_locale())?;
    store::transaction(conn, |conn| {
        match resets::consume(conn, &reset, now) {
            Ok(()) => {}
            Err(DomainError::Conflict(_)) => {
                let used = UnusableReset {
                    why: Unusable::Used,
                    resume_request: reset.resume_request.clone(),
                };
                return refused(idp, conn, used);
            }
            Err(e) => return Err(e),
        }
        if reset.purpose == Purpose::Reset {
            audit::Event::new(audit::Kind::ResetUsed)
                .from(origin)
                .user(user.id)
                .detail(credential.kind())
                .record(conn, now)?;
        }
        apply_new_password(idp, conn, &user, &hash, &recipients, reset.purpose, origin)?;
        // The person proved the mailbox and chose a password: they are logged in, as
        // after a reset at the best providers; a page first, then `/resume`.
        let who = Authenticated {
            user: (*user).clone(),
            amr: vec![Amr::PASSWORD],
            method: Method::RESET,
            old_identifier: None,
            upstream: None,
        };
        let then = Then::Resume(reset.resume_request.clone());
        let Finished::LoggedIn {
            session_cookie,
            next,
        } = login::finish(idp, conn, who, origin, then)?
        else {
            return Err(DomainError::Internal(
                "a reset owes no wizard before its page".into(),
            ));
        };
        Ok(Outcome::Done(Box::new(Done {
            user: (*user).clone(),
            resume_request: reset.resume_request.clone(),
            purpose: reset.purpose,
            session_cookie,
            next: next.unwrap_or_else(|| "/".to_owned()),
        })))
    })
}

/// Stores an accepted new password (hashed as `hash`) for `user`: revokes its resets, ends
/// its sessions and grants when configured, records it and mails "your password was
/// changed" to `recipients`. Call inside the transaction that authorised the change.
pub fn apply_new_password(
    idp: &Idp,
    conn: &mut DbConn,
    user: &User,
    hash: &str,
    recipients: &[recipients::Recipient],
    purpose: Purpose,
    origin: Origin<'_>,
) -> DomainResult<()> {
    let now = idp.now();
    users::set_password_hash(conn, user.id, hash, now)?;
    resets::revoke_all(conn, user.id, now)?;
    if idp.settings.recovery.end_sessions_on_reset {
        sessions::end_all_for_user(conn, user.id, now)?;
        if purpose != Purpose::TemporaryPassword {
            // The wizard that set this password goes on; others began with the old one.
            crate::domain::required_actions::end_all_for_user(conn, user.id)?;
        }
    }
    let audit = |conn: &mut DbConn, kind, detail: &str| {
        audit::Event::new(kind)
            .from(origin)
            .user(user.id)
            .detail(detail)
            .record(conn, now)
    };
    audit(conn, audit::Kind::PasswordChanged, purpose.as_str())?;
    super::notice::password_changed(idp, conn, user, recipients, Some(origin), now)
}

/// Sets a new password chosen by someone logged in (after a temporary password in the
/// wizard, or on the account page): the problems when it is refused, none when it is set.
pub fn change_password(
    idp: &Idp,
    conn: &mut DbConn,
    user: &User,
    new: NewPassword<'_>,
    purpose: Purpose,
    origin: Origin<'_>,
) -> DomainResult<Vec<Problem>> {
    let problems = password_problems(idp, user, &new, purpose)?;
    if !problems.is_empty() {
        return Ok(problems);
    }
    let hash = idp.hasher.hash(new.password)?;
    let recipients = recipients::of_account(conn, user, idp.default_locale())?;
    store::transaction(conn, |conn| {
        apply_new_password(idp, conn, user, &hash, &recipients, purpose, origin)
    })?;
    Ok(Vec::new())
}
