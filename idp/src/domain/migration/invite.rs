//! Invitations: "your account moved, choose your password", mailed to migrated accounts
//! through the outbox, spread over time per recipient domain. A school's mail provider
//! that receives thousands of identical mails in a minute files them as spam (the Ecolesoft
//! guide's "look in your spam folder"); at a steady rate per domain they arrive.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use super::SourceName;
use crate::config::InvitationSettings;
use crate::domain::clock::{from_db, to_db};
use crate::domain::mail::{self, MailKind};
use crate::domain::resets::{self, Purpose};
use crate::domain::types::UserId;
use crate::domain::users::{self, User};
use crate::domain::{DomainError, DomainResult, Idp};
use crate::store::schema::{migrated_accounts, school_members, schools, users as users_table};
use crate::store::{self, DbConn};

/// Which accounts to invite, and how fast.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Mails per hour to one recipient domain (e.g. every address at `@school.example`).
    pub per_domain_per_hour: u32,
    /// Also accounts that can log in with their legacy password (by default only those
    /// without any password are invited).
    pub everyone: bool,
    /// How long each invitation's link and code work, from the moment it leaves.
    pub valid_days: u32,
}

impl Pace {
    /// The configured pace (`invitations` settings), for accounts without any password.
    pub fn configured(settings: &InvitationSettings) -> Self {
        Self {
            per_domain_per_hour: settings.per_domain_per_hour,
            everyone: false,
            valid_days: settings.valid_days,
        }
    }
}

/// What an invitation run queued.
#[derive(Debug, Default, Serialize)]
pub struct Invited {
    pub invited: u64,
    /// Per recipient domain: how many, and when the last one leaves.
    pub domains: BTreeMap<String, (u64, DateTime<Utc>)>,
}

/// Accounts per transaction.
const CHUNK: i64 = 200;

/// Whom to invite: the accounts of a source, all of them or only those in the schools of
/// some organising bodies (what an organising body's administrator sends on the screens).
#[derive(Debug, Clone, Copy)]
pub struct Invitees<'a> {
    pub source: &'a SourceName,
    /// Organising body ids; none: every body.
    pub bodies: Option<&'a [String]>,
}

impl<'a> Invitees<'a> {
    /// Every account of `source`.
    pub fn all(source: &'a SourceName) -> Self {
        Self {
            source,
            bodies: None,
        }
    }
}

/// Queues an invitation for every account of `invitees` not invited yet that has an
/// address, is enabled, and has no password here (nor, unless `everyone`, a legacy one).
/// Each leaves at its slot: one domain's mails `3600 / per_domain_per_hour` seconds apart,
/// after any invitations already queued for that domain.
pub fn invite(
    idp: &Idp,
    conn: &mut DbConn,
    invitees: Invitees<'_>,
    pace: Pace,
) -> DomainResult<Invited> {
    if pace.per_domain_per_hour == 0 {
        return Err(DomainError::invalid("per_domain_per_hour", "at least 1"));
    }
    let gap = Duration::milliseconds(3_600_000 / i64::from(pace.per_domain_per_hour));
    let now = idp.now();
    let mut next_slot: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
    let mut done = Invited::default();
    let mut after = String::new();
    loop {
        let chunk = uninvited(conn, invitees, &after, pace.everyone, CHUNK)?;
        let Some((last, _)) = chunk.last() else {
            break;
        };
        after = last.clone();
        store::transaction(conn, |conn| {
            for (legacy_id, user_id) in &chunk {
                let Some(user) = users::find_by_id(conn, UserId::parse(user_id)?)? else {
                    continue;
                };
                let Some(domain) = domain_of(&user) else {
                    continue;
                };
                let slot = match next_slot.get(&domain) {
                    Some(slot) => *slot,
                    None => first_slot(conn, &domain, gap, now)?,
                };
                next_slot.insert(domain.clone(), slot + gap);
                queue(idp, conn, &user, slot, pace.valid_days, now)?;
                diesel::update(
                    migrated_accounts::table.find((invitees.source.as_str(), legacy_id)),
                )
                .set(migrated_accounts::invited_at.eq(Some(to_db(slot))))
                .execute(conn)?;
                done.invited += 1;
                let entry = done.domains.entry(domain).or_insert((0, slot));
                *entry = (entry.0 + 1, slot);
            }
            Ok::<_, DomainError>(())
        })?;
    }
    Ok(done)
}

/// The next accounts of `invitees` (after legacy id `after`) to invite, at most `limit`.
fn uninvited(
    conn: &mut DbConn,
    invitees: Invitees<'_>,
    after: &str,
    everyone: bool,
    limit: i64,
) -> DomainResult<Vec<(String, String)>> {
    let mut query = migrated_accounts::table
        .inner_join(users_table::table)
        .filter(migrated_accounts::source.eq(invitees.source.as_str()))
        .filter(migrated_accounts::legacy_id.gt(after))
        .filter(migrated_accounts::invited_at.is_null())
        .filter(users_table::email_normalized.is_not_null())
        .filter(users_table::disabled.eq(false))
        .filter(users_table::password_hash.is_null())
        .into_boxed();
    if !everyone {
        query = query.filter(users_table::legacy_password_hash.is_null());
    }
    if let Some(bodies) = invitees.bodies {
        let schools = schools::table
            .filter(schools::organising_body_id.eq_any(bodies.to_vec()))
            .select(schools::id);
        let members = school_members::table
            .filter(school_members::school_id.eq_any(schools))
            .select(school_members::user_id);
        query = query.filter(migrated_accounts::user_id.eq_any(members));
    }
    Ok(query
        .order(migrated_accounts::legacy_id)
        .limit(limit)
        .select((migrated_accounts::legacy_id, migrated_accounts::user_id))
        .load(conn)?)
}

/// How many accounts of `invitees` an invitation run would invite now (up to `limit`).
pub fn not_invited(
    conn: &mut DbConn,
    invitees: Invitees<'_>,
    everyone: bool,
    limit: i64,
) -> DomainResult<usize> {
    Ok(uninvited(conn, invitees, "", everyone, limit)?.len())
}

/// Where an account's invitation stands, for the help desk.
#[derive(Debug, Clone, Serialize)]
pub struct Invitation {
    pub source: String,
    pub legacy_id: String,
    /// When it left (or leaves: a slot may be ahead); none: never invited.
    pub invited_at: Option<DateTime<Utc>>,
}

/// The invitation of `user`, when it was migrated (the latest, when several sources were).
pub fn invitation_of(conn: &mut DbConn, user: UserId) -> DomainResult<Option<Invitation>> {
    let row: Option<(String, String, Option<NaiveDateTime>)> = migrated_accounts::table
        .filter(migrated_accounts::user_id.eq(user.to_string()))
        .order(migrated_accounts::migrated_at.desc())
        .select((
            migrated_accounts::source,
            migrated_accounts::legacy_id,
            migrated_accounts::invited_at,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(|(source, legacy_id, invited_at)| Invitation {
        source,
        legacy_id,
        invited_at: invited_at.map(from_db),
    }))
}

/// Why an invitation cannot be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotAgain {
    /// The account was not migrated: a reset mail is what it needs.
    NotMigrated,
    /// It has a password here already: a reset mail is what it needs.
    HasPassword,
    /// It has no address, or is disabled.
    Unreachable,
    /// The last one has not left yet (its slot is ahead).
    StillQueued(DateTime<Utc>),
}

/// Sends `user`'s invitation again, now (the first was lost, filed as spam, or its link
/// expired): a new link and code, the earlier ones revoked. Only for a migrated account
/// with no password here whose last invitation has left.
pub fn invite_again(
    idp: &Idp,
    conn: &mut DbConn,
    user: &User,
) -> DomainResult<Result<(), NotAgain>> {
    let valid_days = idp.settings.invitations.valid_days;
    let now = idp.now();
    let Some(invitation) = invitation_of(conn, user.id)? else {
        return Ok(Err(NotAgain::NotMigrated));
    };
    if user.password_hash.is_some() {
        return Ok(Err(NotAgain::HasPassword));
    }
    if user.disabled || user.email.is_none() {
        return Ok(Err(NotAgain::Unreachable));
    }
    if let Some(at) = invitation.invited_at.filter(|at| *at > now) {
        return Ok(Err(NotAgain::StillQueued(at)));
    }
    store::transaction(conn, |conn| {
        queue(idp, conn, user, now, valid_days, now)?;
        diesel::update(
            migrated_accounts::table.filter(migrated_accounts::user_id.eq(user.id.to_string())),
        )
        .set(migrated_accounts::invited_at.eq(Some(to_db(now))))
        .execute(conn)?;
        Ok(Ok(()))
    })
}

fn domain_of(user: &User) -> Option<String> {
    let email = user.email.as_deref()?;
    email
        .rsplit_once('@')
        .map(|(_, domain)| domain.to_ascii_lowercase())
}

/// The first free slot for `domain`: now, or after the last invitation already queued for
/// it (an earlier run, another source).
fn first_slot(
    conn: &mut DbConn,
    domain: &str,
    gap: Duration,
    now: DateTime<Utc>,
) -> DomainResult<DateTime<Utc>> {
    let last: Option<NaiveDateTime> = migrated_accounts::table
        .inner_join(users_table::table)
        .filter(users_table::email_normalized.like(format!("%@{domain}")))
        .filter(migrated_accounts::invited_at.gt(to_db(now)))
        .select(diesel::dsl::max(migrated_accounts::invited_at))
        .first(conn)?;
    Ok(last.map_or(now, |last| (from_db(last) + gap).max(now)))
}

/// Issues the account's reset grant (valid `valid_days` from the moment the mail leaves)
/// and queues the mail for `slot`.
fn queue(
    idp: &Idp,
    conn: &mut DbConn,
    user: &User,
    slot: DateTime<Utc>,
    valid_days: u32,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    let ttl = (slot - now) + Duration::days(i64::from(valid_days));
    let issued = resets::issue(conn, user.id, Purpose::Reset, None, ttl, now)?;
    let locale = user.locale_or(idp.default_locale());
    let data = json!({
        "identifier": user.username,
        "email": user.email,
        "name": user.name(),
        "link": idp.endpoint(&format!("/reset?token={}", issued.token)),
        "code": issued.code,
        "code_url": idp.endpoint("/reset/code"),
        "days": valid_days,
    });
    let recipient = user.email.as_deref().unwrap_or_default();
    let mail = idp
        .mail
        .render(MailKind::Invitation, locale, recipient, data)
        .map_err(|e| DomainError::Internal(e.to_string()))?;
    mail::enqueue_at(conn, &mail, now, slot)
}
