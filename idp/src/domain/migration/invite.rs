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
use crate::domain::clock::{from_db, to_db};
use crate::domain::mail::{self, MailKind};
use crate::domain::resets::{self, Purpose};
use crate::domain::types::UserId;
use crate::domain::users::{self, User};
use crate::domain::{DomainError, DomainResult, Idp};
use crate::i18n::Locale;
use crate::store::schema::{migrated_accounts, users as users_table};
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

/// What an invitation run queued.
#[derive(Debug, Default, Serialize)]
pub struct Invited {
    pub invited: u64,
    /// Per recipient domain: how many, and when the last one leaves.
    pub domains: BTreeMap<String, (u64, DateTime<Utc>)>,
}

/// Accounts per transaction.
const CHUNK: i64 = 200;

/// Queues an invitation for every account of `source` not invited yet that has an
/// address, is enabled, and has no password here (nor, unless `everyone`, a legacy one).
/// Each leaves at its slot: one domain's mails `3600 / per_domain_per_hour` seconds apart,
/// after any invitations already queued for that domain.
pub fn invite(
    idp: &Idp,
    conn: &mut DbConn,
    source: &SourceName,
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
        let chunk = uninvited(conn, source, &after, pace.everyone)?;
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
                diesel::update(migrated_accounts::table.find((source.as_str(), legacy_id)))
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

/// The next accounts of `source` (after legacy id `after`) to invite.
fn uninvited(
    conn: &mut DbConn,
    source: &SourceName,
    after: &str,
    everyone: bool,
) -> DomainResult<Vec<(String, String)>> {
    let mut query = migrated_accounts::table
        .inner_join(users_table::table)
        .filter(migrated_accounts::source.eq(source.as_str()))
        .filter(migrated_accounts::legacy_id.gt(after))
        .filter(migrated_accounts::invited_at.is_null())
        .filter(users_table::email_normalized.is_not_null())
        .filter(users_table::disabled.eq(false))
        .filter(users_table::password_hash.is_null())
        .into_boxed();
    if !everyone {
        query = query.filter(users_table::legacy_password_hash.is_null());
    }
    Ok(query
        .order(migrated_accounts::legacy_id)
        .limit(CHUNK)
        .select((migrated_accounts::legacy_id, migrated_accounts::user_id))
        .load(conn)?)
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
    let locale = user
        .locale
        .as_deref()
        .and_then(Locale::parse)
        .unwrap_or_else(|| idp.default_locale());
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
