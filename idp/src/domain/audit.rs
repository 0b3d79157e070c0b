//! The audit trail: who did what, when and from where. Never a secret: no password, code,
//! token or cookie is ever written here.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::DomainResult;
use super::clock::to_db;
use super::types::{RequestId, UserId};
use crate::i18n::Locale;
use crate::store::DbConn;
use crate::store::schema::audit_events;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    LoginSucceeded,
    LoginFailed,
    LoginThrottled,
    /// Logged in with a temporary password: a new one must be chosen first.
    PasswordChangeRequired,
    /// "Forgot password?" matched this account; a reset was issued.
    ResetRequested,
    /// "Forgot password?" matched no account (detail: what was typed).
    ResetRequestUnmatched,
    /// Too many requests: for this account (no new mail) or from this address.
    ResetRequestThrottled,
    /// A mail about this account was put in the outbox (detail: the recipient).
    MailQueued,
    /// The outbox handed a mail to the SMTP server (detail: the recipient).
    MailSent,
    /// A reset link or code was used to set a password (detail: link or code).
    ResetUsed,
    /// A reset code that did not match (detail: the identifier typed).
    ResetCodeFailed,
    PasswordChanged,
    TemporaryPasswordIssued,
    /// "Forgot your identifier?" (detail: the address typed).
    IdentifierReminderRequested,
    /// Required actions were owed at login (detail: the steps).
    RequiredActionsStarted,
    /// Terms accepted (detail: the version).
    TermsAccepted,
    /// Terms refused: the login ended with access_denied (detail: the version).
    TermsRefused,
    /// Someone on the organising bodies' screens asked for an account, school or run
    /// outside their scope (the event is theirs; detail: what they asked for).
    AdminOutOfScope,
    /// Disabled or enabled on the screens (detail: by whom).
    AccountDisabled,
    AccountEnabled,
    /// A role given or taken (the holder's event; detail: the role, by whom).
    RoleGranted,
    RoleRevoked,
    /// A change request accepted or refused on the screens (the requester's event;
    /// detail: by whom).
    ChangeRequestAccepted,
    ChangeRequestRefused,
    /// A migration's reported row declared to be this existing account on the screens
    /// (detail: the source and legacy id, by whom).
    LegacyRowAttached,
    /// A migrated account's invitation sent again on the screens (detail: the address,
    /// by whom).
    InvitationSent,
    /// An upstream identity linked to the account (detail: provider, by whom or how).
    UpstreamLinked,
    /// An upstream identity's link removed (detail: provider, by whom).
    UpstreamUnlinked,
    /// An account erased at its owner's request (no account; detail: the pseudonym its
    /// earlier events now carry, by whom).
    AccountErased,
    /// The person logged out of their other sessions on the account page (detail: how
    /// many ended).
    OtherSessionsEnded,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoginSucceeded => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::LoginThrottled => "login_throttled",
            Self::PasswordChangeRequired => "password_change_required",
            Self::ResetRequested => "reset_requested",
            Self::ResetRequestUnmatched => "reset_request_unmatched",
            Self::ResetRequestThrottled => "reset_request_throttled",
            Self::MailQueued => "mail_queued",
            Self::MailSent => "mail_sent",
            Self::ResetUsed => "reset_used",
            Self::ResetCodeFailed => "reset_code_failed",
            Self::PasswordChanged => "password_changed",
            Self::TemporaryPasswordIssued => "temporary_password_issued",
            Self::IdentifierReminderRequested => "identifier_reminder_requested",
            Self::RequiredActionsStarted => "required_actions_started",
            Self::TermsAccepted => "terms_accepted",
            Self::TermsRefused => "terms_refused",
            Self::AdminOutOfScope => "admin_out_of_scope",
            Self::AccountDisabled => "account_disabled",
            Self::AccountEnabled => "account_enabled",
            Self::RoleGranted => "role_granted",
            Self::RoleRevoked => "role_revoked",
            Self::ChangeRequestAccepted => "change_request_accepted",
            Self::ChangeRequestRefused => "change_request_refused",
            Self::LegacyRowAttached => "legacy_row_attached",
            Self::InvitationSent => "invitation_sent",
            Self::UpstreamLinked => "upstream_linked",
            Self::UpstreamUnlinked => "upstream_unlinked",
            Self::AccountErased => "account_erased",
            Self::OtherSessionsEnded => "other_sessions_ended",
        }
    }

    /// Every kind, in the order the audit screen offers them.
    pub const ALL: [Kind; 30] = [
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::LoginThrottled,
        Self::PasswordChangeRequired,
        Self::ResetRequested,
        Self::ResetRequestUnmatched,
        Self::ResetRequestThrottled,
        Self::MailQueued,
        Self::MailSent,
        Self::ResetUsed,
        Self::ResetCodeFailed,
        Self::PasswordChanged,
        Self::TemporaryPasswordIssued,
        Self::IdentifierReminderRequested,
        Self::RequiredActionsStarted,
        Self::TermsAccepted,
        Self::TermsRefused,
        Self::AdminOutOfScope,
        Self::AccountDisabled,
        Self::AccountEnabled,
        Self::RoleGranted,
        Self::RoleRevoked,
        Self::ChangeRequestAccepted,
        Self::ChangeRequestRefused,
        Self::LegacyRowAttached,
        Self::InvitationSent,
        Self::UpstreamLinked,
        Self::UpstreamUnlinked,
        Self::AccountErased,
        Self::OtherSessionsEnded,
    ];

    /// The kind stored as `text`.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// What the help desk is asked about all day: mails, links, codes, new passwords.
    pub const RECOVERY: [Kind; 10] = [
        Self::ResetRequested,
        Self::InvitationSent,
        Self::ResetRequestThrottled,
        Self::MailQueued,
        Self::MailSent,
        Self::ResetUsed,
        Self::ResetCodeFailed,
        Self::PasswordChanged,
        Self::TemporaryPasswordIssued,
        Self::PasswordChangeRequired,
    ];
}

/// One recorded event, as read back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Recorded {
    pub occurred_at: DateTime<Utc>,
    pub kind: String,
    pub detail: String,
    pub address: Option<String>,
}

/// The latest `limit` events of `kinds` about `user`, newest first.
pub fn recent_for(
    conn: &mut DbConn,
    user: UserId,
    kinds: &[Kind],
    limit: i64,
) -> DomainResult<Vec<Recorded>> {
    let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    let rows: Vec<(chrono::NaiveDateTime, String, String, Option<String>)> = audit_events::table
        .filter(audit_events::user_id.eq(user.to_string()))
        .filter(audit_events::kind.eq_any(kinds))
        .order(audit_events::occurred_at.desc())
        .limit(limit)
        .select((
            audit_events::occurred_at,
            audit_events::kind,
            audit_events::detail,
            audit_events::address,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(at, kind, detail, address)| Recorded {
            occurred_at: super::clock::from_db(at),
            kind,
            detail,
            address,
        })
        .collect())
}

/// Where a request came from, for throttling and the audit trail, and the language its
/// sender chose on the pages (saved on the account by whichever login ends the visit).
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The client's network address.
    pub address: &'a str,
    /// The application whose login page the person came from.
    pub client_id: Option<&'a str>,
    /// The language chosen on the pages' switch, if any.
    pub language: Option<Locale>,
}

impl<'a> Origin<'a> {
    /// A request from `address`, outside any application's login.
    pub fn of(address: &'a str) -> Self {
        Self {
            address,
            client_id: None,
            language: None,
        }
    }

    /// The same request, on the login page of `client_id`.
    pub fn for_client(self, client_id: Option<&'a str>) -> Self {
        Self { client_id, ..self }
    }

    /// The same request, from someone who chose `language` on the pages.
    pub fn speaking(self, language: Option<Locale>) -> Self {
        Self { language, ..self }
    }
}

/// One event, built from what it is about and recorded once:
/// `Event::new(Kind::LoginFailed).from(origin).detail(typed).record(conn, now)`.
/// `detail` is free text for people (e.g. the identifier typed), never a secret.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    kind: Kind,
    user: Option<UserId>,
    client_id: Option<&'a str>,
    address: Option<&'a str>,
    detail: &'a str,
}

impl<'a> Event<'a> {
    pub fn new(kind: Kind) -> Self {
        Self {
            kind,
            user: None,
            client_id: None,
            address: None,
            detail: "",
        }
    }

    /// The request it came from: the client's address and the application.
    pub fn from(mut self, origin: Origin<'a>) -> Self {
        self.address = Some(origin.address);
        self.client_id = origin.client_id;
        self
    }

    /// The account it is about.
    pub fn user(mut self, user: impl Into<Option<UserId>>) -> Self {
        self.user = user.into();
        self
    }

    pub fn detail(mut self, detail: &'a str) -> Self {
        self.detail = detail;
        self
    }

    pub fn record(self, conn: &mut DbConn, now: DateTime<Utc>) -> DomainResult<()> {
        record(conn, self, now)
    }
}

std::thread_local! {
    /// The request whose work this thread is doing (see [`during`]).
    static REQUEST: std::cell::RefCell<Option<RequestId>> = const { std::cell::RefCell::new(None) };
}

/// Runs `work` as part of `request`: every event it records carries the request's id, as
/// its log lines do, so the help desk can go from an event to the request's log and back.
/// (The web layer runs each request's domain work through here, on the blocking pool.)
pub fn during<T>(request: Option<RequestId>, work: impl FnOnce() -> T) -> T {
    let earlier = REQUEST.with(|r| r.replace(request));
    let result = work();
    REQUEST.with(|r| *r.borrow_mut() = earlier);
    result
}

fn current_request() -> Option<String> {
    REQUEST.with(|r| r.borrow().as_ref().map(|id| id.as_str().to_owned()))
}

/// The events that are also counted for `/metrics`.
fn count(kind: Kind) {
    use crate::metrics::{self, Outcome};
    match kind {
        Kind::LoginSucceeded => metrics::login(Outcome::succeeded),
        Kind::LoginFailed => metrics::login(Outcome::failed),
        Kind::LoginThrottled => metrics::login(Outcome::throttled),
        Kind::ResetRequested => metrics::reset_request(Outcome::matched),
        Kind::ResetRequestUnmatched => metrics::reset_request(Outcome::unmatched),
        Kind::ResetRequestThrottled => metrics::reset_request(Outcome::throttled),
        _ => {}
    }
}

fn record(conn: &mut DbConn, event: Event<'_>, now: DateTime<Utc>) -> DomainResult<()> {
    count(event.kind);
    let row = (
        audit_events::id.eq(uuid::Uuid::new_v4().to_string()),
        audit_events::occurred_at.eq(to_db(now)),
        audit_events::kind.eq(event.kind.as_str()),
        audit_events::user_id.eq(event.user.map(|u| u.to_string())),
        audit_events::client_id.eq(event.client_id),
        audit_events::address.eq(event.address),
        audit_events::detail.eq(event.detail.chars().take(256).collect::<String>()),
        audit_events::request_id.eq(current_request()),
    );
    crate::store::write(conn, |conn| {
        diesel::insert_into(audit_events::table)
            .values(row)
            .execute(conn)
    })?;
    Ok(())
}

/// The kinds recorded without an account, oldest first (for tests and the CLI).
pub fn kinds_without_account(conn: &mut DbConn) -> DomainResult<Vec<(String, String)>> {
    Ok(audit_events::table
        .filter(audit_events::user_id.is_null())
        .order(audit_events::occurred_at)
        .select((audit_events::kind, audit_events::detail))
        .load(conn)?)
}

/// The kinds recorded for `user`, oldest first (for tests and the CLI).
pub fn kinds_for(conn: &mut DbConn, user: UserId) -> DomainResult<Vec<String>> {
    Ok(audit_events::table
        .filter(audit_events::user_id.eq(user.to_string()))
        .order(audit_events::occurred_at)
        .select(audit_events::kind)
        .load(conn)?)
}
