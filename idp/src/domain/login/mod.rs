//! One login pipeline. An *authenticator* turns what a person presented into
//! [`Authenticated`] (who, and how: the `amr`) or a typed [`Failure`]; [`authenticate`]
//! runs one under the throttles; [`finish`] is the one end of every login: the throttle
//! reset, the audit event, the required actions (the wizard), the SSO session with its
//! `amr`, and the code or the page to go on to.
//!
//! ```text
//! login form ─► PasswordAuthenticator ─┐
//! (legacy hash, upstream provider:     ├─► authenticate ─► finish ─┬─► code for the app
//!  more authenticators, same path)  ───┘    (throttles,            ├─► wizard (required actions)
//!                                            audit)                └─► page, then /resume
//! wizard end, completed reset, password change on the account page ─► finish
//! ```
//!
//! A new way to log in is one more [`Authenticator`]; nothing else changes.

mod password;
mod upstream;

use std::borrow::Cow;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

pub use password::PasswordAuthenticator;
pub use upstream::UpstreamAuthenticator;

use super::audit::{self, Origin};
use super::oidc::{authorize, sessions};
use super::throttle::{self, ThrottleKey};
use super::types::query_value;
use super::upstream::UpstreamIdentity;
use super::upstream::links::{self as upstream_links, LinkedBy};
use super::upstream::round_trip;
use super::users::{self, User};
use super::{DomainResult, Idp, required_actions};
use crate::i18n::Locale;
use crate::store::{self, DbConn};

/// An authentication method reference (RFC 8176 §2): how the person proved who they are.
/// It goes into the SSO session and the ID token's `amr` (OIDC Core §2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Amr(Cow<'static, str>);

impl Amr {
    /// A password (RFC 8176 §2 `pwd`).
    pub const PASSWORD: Amr = Amr(Cow::Borrowed("pwd"));
    /// A one-time code (`otp`).
    pub const ONE_TIME_CODE: Amr = Amr(Cow::Borrowed("otp"));
    /// A hardware-bound key (`hwk`), e.g. a security key.
    pub const HARDWARE_KEY: Amr = Amr(Cow::Borrowed("hwk"));

    /// A value an upstream provider reported.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Cow::Owned(value.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How a login was proven, as the audit trail and a login flow name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Method(Cow<'static, str>);

impl Method {
    /// Identifier and password on the login form.
    pub const PASSWORD: Method = Method(Cow::Borrowed("password"));
    /// A reset link or code, then a new password.
    pub const RESET: Method = Method(Cow::Borrowed("reset"));
    /// The current password, asked again to change it on the account page.
    pub const PASSWORD_CHANGE: Method = Method(Cow::Borrowed("password change"));
    /// An SSO session that still owed required actions.
    pub const SSO_SESSION: Method = Method(Cow::Borrowed("sso session"));

    pub fn new(name: impl Into<String>) -> Self {
        Self(Cow::Owned(name.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who a person proved to be, and how.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub user: User,
    pub amr: Vec<Amr>,
    pub method: Method,
    /// The old platform's identifier the person typed (still valid after a migration): the
    /// login then shows them the new one.
    pub old_identifier: Option<String>,
    /// The upstream provider the person logged in through (its configured id): the ID
    /// token's `idp`.
    pub upstream: Option<String>,
}

/// Why a login did not go through. What the person is told never says whether an
/// account exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Wrong identifier or password, or a disabled account: one answer for all.
    BadCredentials,
    /// An e-mail address typed where the identifier goes (identifiers never hold '@', so
    /// this says nothing about accounts; the CREOS guide's red warning).
    EmailAsIdentifier,
    /// A temporary password that was right but has expired.
    TemporaryPasswordExpired,
    /// Too many failures for this identifier or from this address: wait `minutes`.
    Throttled { minutes: i64 },
    /// An upstream identity linked to no account (said only to whoever the provider
    /// vouched for).
    NotLinked,
    /// The right password of an account that logs in only through its school's
    /// Microsoft or Google account (said only to whoever typed the right password).
    UpstreamOnly,
    /// An upstream identity linked to a disabled account.
    AccountDisabled,
}

impl Failure {
    pub fn message_key(self) -> &'static str {
        match self {
            Self::BadCredentials => "login-error-credentials",
            Self::EmailAsIdentifier => "login-error-email-as-identifier",
            Self::TemporaryPasswordExpired => "login-error-temporary-expired",
            Self::Throttled { .. } => "login-error-throttled",
            Self::NotLinked => "upstream-not-linked",
            Self::UpstreamOnly => "login-error-upstream-only",
            Self::AccountDisabled => "login-error-disabled",
        }
    }

    /// Whether it counts against the throttles (a guess that was wrong).
    fn counts(self) -> bool {
        self == Self::BadCredentials
    }
}

/// One way of proving who you are.
pub trait Authenticator {
    /// The identifier the person typed, throttled besides the client's address; `None`
    /// when the proof carries none (an upstream provider's answer).
    fn identifier(&self) -> Option<&str>;

    /// Checks the proof. Must take as long for an unknown account as for a known one.
    fn authenticate(
        &self,
        idp: &Idp,
        conn: &mut DbConn,
        now: DateTime<Utc>,
    ) -> DomainResult<Result<Authenticated, Failure>>;
}

/// Runs `authenticator` under the login throttles (NIST 800-63B §5.2.2, OWASP ASVS
/// V2.2.1): a throttled attempt costs no password hash; a wrong guess counts against the
/// identifier and the address; failures are audited.
pub fn authenticate(
    idp: &Idp,
    conn: &mut DbConn,
    authenticator: &dyn Authenticator,
    origin: Origin<'_>,
) -> DomainResult<Result<Authenticated, Failure>> {
    let now = idp.now();
    let typed = authenticator.identifier().unwrap_or_default();
    // (key, allowance above its limit): the address's only where it is limited at all.
    let schools = &idp.settings.school_networks;
    let mut keys = Vec::new();
    if let Some(extra) = throttle::address_allowance(conn, schools, origin.address, now)? {
        keys.push((
            ThrottleKey::LoginFailuresFromAddress(origin.address.to_owned()),
            extra,
        ));
    }
    keys.extend(
        authenticator
            .identifier()
            .map(|typed| (ThrottleKey::login_identifier(typed), 0)),
    );
    let event = |kind| audit::Event::new(kind).from(origin).detail(typed);
    for (key, extra) in &keys {
        if throttle::blocked_until_allowing(conn, key, now, *extra)?.is_some() {
            event(audit::Kind::LoginThrottled).record(conn, now)?;
            let minutes = key.limit().minutes();
            return Ok(Err(Failure::Throttled { minutes }));
        }
    }
    let outcome = authenticator.authenticate(idp, conn, now)?;
    if let Err(failure) = outcome {
        if failure.counts() {
            for (key, _) in &keys {
                throttle::hit(conn, key, now)?;
            }
        }
        event(audit::Kind::LoginFailed).record(conn, now)?;
    }
    Ok(outcome)
}

/// A pending authorization request, as loaded once by whoever finishes the login.
#[derive(Debug, Clone)]
pub struct Pending {
    pub id: String,
    pub request: Box<authorize::AuthRequest>,
}

/// What comes after a login.
#[derive(Debug, Clone)]
pub enum Then {
    /// Answer this pending authorization request with a code (none, or no longer pending:
    /// the home page), once the account owes nothing: the login form, the wizard's end.
    Answer(Option<Pending>),
    /// Show a page first; `/resume` answers the pending request later (after a reset).
    Resume(Option<String>),
    /// Stay where the person is (a password change on the account page).
    Stay,
}

impl Then {
    /// Answering the pending request `id`, if it is still pending.
    pub fn answering(idp: &Idp, conn: &mut DbConn, id: &str) -> DomainResult<Self> {
        let request = authorize::load_pending(idp, conn, id)?.map(Box::new);
        Ok(Self::Answer(request.map(|request| Pending {
            id: id.to_owned(),
            request,
        })))
    }
}

/// Where a finished login leaves the browser.
#[derive(Debug, Clone)]
pub enum Finished {
    /// Logged in: set the SSO session cookie, then go on to `next` (an application's
    /// answer, `/resume`; none: no application waits, the caller's page).
    LoggedIn {
        session_cookie: String,
        next: Option<String>,
    },
    /// The account owes required actions first: the wizard, with this flow's secret.
    RequiredActions { flow: String },
}

/// The one end of every login, in one transaction: all of it or nothing, and on SQLite
/// one turn at the write lock instead of one per statement.
pub fn finish(
    idp: &Idp,
    conn: &mut DbConn,
    who: Authenticated,
    origin: Origin<'_>,
    then: Then,
) -> DomainResult<Finished> {
    let finished = store::transaction(conn, |conn| finish_in(idp, conn, who, origin, then))?;
    // One more success from the address (the school's allowance, `throttle`).
    let from = ThrottleKey::LoginSuccessesFromAddress(origin.address.to_owned());
    throttle::hit(conn, &from, idp.now())?;
    Ok(finished)
}

fn finish_in(
    idp: &Idp,
    conn: &mut DbConn,
    who: Authenticated,
    origin: Origin<'_>,
    then: Then,
) -> DomainResult<Finished> {
    let now = idp.now();
    throttle::clear(conn, &ThrottleKey::login_identifier(&who.user.username))?;
    if let Some(language) = origin.language
        && who.user.locale.as_deref() != Some(language.as_str())
    {
        users::set_locale(conn, who.user.id, language)?;
    }
    if let Then::Answer(pending) = &then {
        let mut steps = required_actions::owed(conn, &who.user)?;
        if who.old_identifier.is_some() && !steps.contains(&required_actions::Step::AccountMoved) {
            steps.insert(0, required_actions::Step::AccountMoved);
        }
        if !steps.is_empty() {
            let request = pending.as_ref().map(|p| p.id.as_str());
            return start_required_actions(idp, conn, &who, &steps, request, origin);
        }
        if who.user.first_login_at.is_none() {
            // A first login with nothing to check is still the first.
            users::mark_first_login(conn, who.user.id, now)?;
        }
    }
    audit::Event::new(audit::Kind::LoginSucceeded)
        .from(origin)
        .user(who.user.id)
        .detail(who.method.as_str())
        .record(conn, now)?;
    let (session, session_cookie) =
        sessions::create(idp, conn, who.user.id, &who.amr, who.upstream.as_deref())?;
    tracing::info!(user = %who.user.id, method = who.method.as_str(), "login succeeded");
    let next = match then {
        Then::Answer(Some(pending)) => {
            authorize::delete_pending(conn, &pending.id)?;
            Some(authorize::issue_code(
                idp,
                conn,
                &pending.request,
                &session,
            )?)
        }
        Then::Resume(Some(request)) => Some(format!("/resume?request={}", query_value(&request))),
        // No application waits: the caller's own page (home, or the screen that sent
        // the person to log in).
        Then::Answer(None) | Then::Resume(None) | Then::Stay => None,
    };
    Ok(Finished::LoggedIn {
        session_cookie,
        next,
    })
}

/// The wizard comes before any code; the flow remembers how the person authenticated.
fn start_required_actions(
    idp: &Idp,
    conn: &mut DbConn,
    who: &Authenticated,
    steps: &[required_actions::Step],
    request: Option<&str>,
    origin: Origin<'_>,
) -> DomainResult<Finished> {
    let now = idp.now();
    let event = |kind| audit::Event::new(kind).from(origin).user(who.user.id);
    if who.user.password_change_required {
        event(audit::Kind::PasswordChangeRequired).record(conn, now)?;
    }
    event(audit::Kind::RequiredActionsStarted).record(conn, now)?;
    let ttl = Duration::seconds(idp.settings.login_request_ttl_seconds);
    let flow = required_actions::start(conn, who, request, steps, ttl, now)?;
    Ok(Finished::RequiredActions { flow })
}

/// What the login form led to.
#[derive(Debug)]
pub enum FormOutcome {
    /// The pending authorization request expired before the form was sent.
    Expired,
    /// Not logged in: why, and the pending request to show the form for again.
    Failed(Failure, Option<Box<authorize::AuthRequest>>),
    Finished(Finished),
}

/// What the login form sends.
#[derive(Debug, Clone, Copy)]
pub struct PasswordForm<'a> {
    /// The pending authorization request (empty: none).
    pub request_id: &'a str,
    pub identifier: &'a str,
    pub password: &'a str,
    /// Where it came from.
    pub address: &'a str,
    /// The language chosen on the pages' switch: saved on the account when it logs in.
    pub language: Option<Locale>,
    /// An unlinked upstream identity kept for this login (its token), and the browser's
    /// secret it is bound to: the password login links it.
    pub link: Option<(&'a str, Option<&'a str>)>,
}

/// The caller's turn at the password check: what admits a login to argon2id under load
/// (the web layer's `password_gate`), held while the password is checked and given back
/// before the login is written down, so that the next login's check starts meanwhile and
/// a core never waits on this one's writes.
pub struct CheckTurn {
    _held: Box<dyn Send>,
}

impl CheckTurn {
    /// A turn that ends when `held` is dropped.
    pub fn holding(held: impl Send + 'static) -> Self {
        Self {
            _held: Box::new(held),
        }
    }

    /// For a caller that admits logins itself (one at a time, as the migration bench).
    pub fn ungated() -> Self {
        Self::holding(())
    }
}

/// The login form from start to end: the pending request it serves (`""`: none), the
/// password authenticator (while the caller's `turn` is held), the pipeline.
pub fn with_password(
    idp: &Idp,
    conn: &mut DbConn,
    form: PasswordForm<'_>,
    turn: CheckTurn,
) -> DomainResult<FormOutcome> {
    let PasswordForm {
        request_id,
        identifier,
        password,
        address,
        language,
        link,
    } = form;
    let pending = match request_id {
        "" => None,
        id => match authorize::load_pending(idp, conn, id)? {
            Some(p) => Some(Box::new(p)),
            None => return Ok(FormOutcome::Expired),
        },
    };
    let authenticator = match PasswordAuthenticator::read(identifier, password) {
        Ok(a) => a,
        Err(failure) => return Ok(FormOutcome::Failed(failure, pending)),
    };
    let client_id = pending.as_ref().map(|p| p.client_id.to_string());
    let origin = Origin::of(address)
        .for_client(client_id.as_deref())
        .speaking(language);
    let checked = authenticate(idp, conn, &authenticator, origin)?;
    drop(turn);
    match checked {
        Err(failure) => Ok(FormOutcome::Failed(failure, pending)),
        Ok(who) => {
            if let Some((token, browser)) = link {
                link_kept_identity(idp, conn, &who, token, browser, origin)?;
            }
            let then = Then::Answer(pending.map(|request| Pending {
                id: request_id.to_owned(),
                request,
            }));
            finish(idp, conn, who, origin, then).map(FormOutcome::Finished)
        }
    }
}

/// After an unlinked upstream login, the password login that follows on the same browser
/// links the identity the provider vouched for to the account just proven.
fn link_kept_identity(
    idp: &Idp,
    conn: &mut DbConn,
    who: &Authenticated,
    token: &str,
    browser: Option<&str>,
    origin: Origin<'_>,
) -> DomainResult<()> {
    let now = idp.now();
    let Some(identity) = round_trip::unlinked(conn, token, browser, now)? else {
        return Ok(());
    };
    // Linked to another account meanwhile: this login goes on unlinked.
    let _ = upstream_links::link(
        idp,
        conn,
        who.user.id,
        &identity,
        LinkedBy::Person,
        origin,
        now,
    )?;
    round_trip::forget(conn, token)
}

/// What an upstream provider's answer led to.
#[derive(Debug)]
pub enum UpstreamOutcome {
    /// The pending authorization request expired meanwhile.
    Expired,
    /// The identity is linked to no account: the page that says what to do, whose
    /// password form carries `token` to link it.
    NotLinked {
        token: String,
        pending: Option<Box<authorize::AuthRequest>>,
    },
    Failed(Failure, Option<Box<authorize::AuthRequest>>),
    Finished(Finished),
}

/// An identity an upstream provider vouched for, from its answer to the end of the login:
/// the pending request it serves, the upstream authenticator, the pipeline.
pub fn with_upstream(
    idp: &Idp,
    conn: &mut DbConn,
    identity: &UpstreamIdentity,
    request_id: Option<&str>,
    browser: &str,
    origin: Origin<'_>,
) -> DomainResult<UpstreamOutcome> {
    let pending = match request_id {
        None => None,
        Some(id) => match authorize::load_pending(idp, conn, id)? {
            Some(p) => Some(Box::new(p)),
            None => return Ok(UpstreamOutcome::Expired),
        },
    };
    let Some(provider) = idp.upstream.find(&identity.provider) else {
        return Ok(UpstreamOutcome::Failed(Failure::NotLinked, pending));
    };
    let client_id = pending.as_ref().map(|p| p.client_id.to_string());
    let origin = origin.for_client(client_id.as_deref());
    let authenticator = UpstreamAuthenticator::new(provider, identity, origin);
    match authenticate(idp, conn, &authenticator, origin)? {
        Err(Failure::NotLinked) => {
            let token = round_trip::keep_unlinked(conn, identity, request_id, browser, idp.now())?;
            Ok(UpstreamOutcome::NotLinked { token, pending })
        }
        Err(failure) => Ok(UpstreamOutcome::Failed(failure, pending)),
        Ok(who) => {
            let then = Then::Answer(pending.map(|request| Pending {
                id: request_id.unwrap_or_default().to_owned(),
                request,
            }));
            finish(idp, conn, who, origin, then).map(UpstreamOutcome::Finished)
        }
    }
}
