//! The accounts screen: search the accounts in scope, see one the way the help desk needs
//! it (kind, schools, co-accounts, password or not, last login, recent recovery events),
//! disable or enable it.

use chrono::{DateTime, Utc};
use diesel::dsl::{exists, max};
use diesel::prelude::*;
use diesel::sql_types::Bool;
use serde::Serialize;

use super::scope::{Access, Staff};
use crate::domain::Idp;
use crate::domain::audit::{self, Origin, Recorded};
use crate::domain::clock::from_db;
use crate::domain::migration::invite::{self, Invitation};
use crate::domain::schools::{self, School};
use crate::domain::types::{AccountKind, SchoolId, normalize};
use crate::domain::upstream::links as upstream_links;
use crate::domain::upstream::{Provider, links::LinkRefusal};
use crate::domain::users::{self as accounts, User};
use crate::domain::{DomainResult, links};
use crate::store::schema::{account_links, audit_events, school_members, users};
use crate::store::{DbConn, MultiBackend};

/// Accounts per page.
pub const PAGE: i64 = 25;

/// A search: words found in the identifier, e-mail address or name; one school of the
/// person's scope, or all of them; the page after the identifier `after` (keyset paging:
/// as fast on the last page as on the first).
#[derive(Debug, Clone, Default)]
pub struct Search {
    pub text: String,
    pub school: Option<SchoolId>,
    pub after: Option<String>,
}

/// An account as the list shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub id: String,
    pub identifier: String,
    pub name: Option<String>,
    pub kind: AccountKind,
    pub email: Option<String>,
    pub disabled: bool,
}

/// One page of a search, and the key of the next page if there is one.
#[derive(Debug, Clone, Serialize)]
pub struct Found {
    pub accounts: Vec<Listed>,
    pub next: Option<String>,
}

type ListedRow = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    bool,
);

/// The accounts in `staff`'s scope that match, by identifier.
pub fn search(conn: &mut DbConn, staff: &Staff, search: &Search) -> DomainResult<Found> {
    let mut query = users::table.into_boxed();
    // The words first: a cheap test on the row itself, before the scope's lookups.
    let text = normalize(search.text.trim());
    if !text.is_empty() {
        let pattern = format!("%{}%", escape_like(&text));
        query = query.filter(users::search_text.like(pattern).escape('\\'));
    }
    if let Some(school) = search.school {
        if !staff.sees_school(school) {
            return Ok(Found {
                accounts: Vec::new(),
                next: None,
            });
        }
        query = query.filter(in_schools(vec![school.to_string()]));
    }
    if let Some(managed) = staff.managed_schools() {
        let taught = staff.taught_schools();
        query = query.filter(
            in_schools(managed).or(users::kind
                .eq(AccountKind::Pupil.as_str())
                .and(member_of(taught))),
        );
    }
    if let Some(after) = &search.after {
        query = query.filter(users::username_normalized.gt(after.clone()));
    }
    let rows: Vec<ListedRow> = query
        .order(users::username_normalized)
        .limit(PAGE + 1)
        .select((
            users::id,
            users::username,
            users::username_normalized,
            users::given_name,
            users::family_name,
            users::email,
            users::kind,
            users::disabled,
        ))
        .load(conn)?;
    let more = rows.len() as i64 > PAGE;
    let mut next = None;
    let mut accounts = Vec::with_capacity(PAGE as usize);
    for (id, identifier, normalized, given, family, email, kind, disabled) in
        rows.into_iter().take(PAGE as usize)
    {
        next = Some(normalized);
        let name = match (given, family) {
            (Some(g), Some(f)) => Some(format!("{g} {f}")),
            (g, f) => g.or(f),
        };
        accounts.push(Listed {
            id,
            identifier,
            name,
            kind: AccountKind::parse(&kind).unwrap_or_default(),
            email,
            disabled,
        });
    }
    Ok(Found {
        accounts,
        next: next.filter(|_| more),
    })
}

type Condition = Box<dyn BoxableExpression<users::table, MultiBackend, SqlType = Bool>>;

/// The account belongs to one of `schools`. Correlated (`EXISTS`, by the membership's
/// primary key), so a list in identifier order stops after one page instead of first
/// gathering every member of a large organising body.
fn member_of(schools: Vec<String>) -> Condition {
    Box::new(exists(
        school_members::table
            .filter(school_members::user_id.eq(users::id))
            .filter(school_members::school_id.eq_any(schools)),
    ))
}

/// The account belongs to one of `schools`, or is a co-account (a guardian) of one that
/// does.
fn in_schools(schools: Vec<String>) -> Condition {
    let of_a_member = exists(
        school_members::table
            .filter(school_members::school_id.eq_any(schools.clone()))
            .filter(
                school_members::user_id.eq_any(
                    account_links::table
                        .filter(account_links::co_account_id.eq(users::id))
                        .select(account_links::account_id),
                ),
            ),
    );
    Box::new(member_of(schools).or(of_a_member))
}

/// `%` and `_` typed in a search are looked for as such.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One account, as the help desk needs to see it.
#[derive(Debug, Clone, Serialize)]
pub struct Detail {
    pub user: User,
    pub access: Access,
    /// The upstream identities (Microsoft, Google) linked to it.
    pub upstream_links: Vec<upstream_links::Link>,
    pub schools: Vec<School>,
    /// Its co-accounts (a pupil's guardians), with the relation.
    pub co_accounts: Vec<(User, String)>,
    /// The accounts it is a co-account of (a guardian's children).
    pub children: Vec<(User, String)>,
    /// Whether it has a password that works (its own, a legacy one or a temporary one).
    pub has_password: bool,
    pub last_login: Option<DateTime<Utc>>,
    /// Mails, links, codes and new passwords, newest first.
    pub recovery: Vec<Recorded>,
    /// Where its invitation stands, when it was migrated.
    pub invitation: Option<Invitation>,
}

/// How many recovery events the account view shows.
const RECENT: i64 = 20;

/// The account `id`, if in `staff`'s scope (else none, audited: see `Staff::account`).
pub fn detail(
    conn: &mut DbConn,
    staff: &Staff,
    id: &str,
    origin: Origin<'_>,
    now: DateTime<Utc>,
) -> DomainResult<Option<Detail>> {
    let Some((user, access)) = staff.account(conn, id, Access::Help, origin, now)? else {
        return Ok(None);
    };
    let last_login: Option<chrono::NaiveDateTime> = audit_events::table
        .filter(audit_events::user_id.eq(user.id.to_string()))
        .filter(audit_events::kind.eq(audit::Kind::LoginSucceeded.as_str()))
        .select(max(audit_events::occurred_at))
        .first(conn)?;
    Ok(Some(Detail {
        upstream_links: upstream_links::of_user(conn, user.id)?,
        schools: schools::schools_of(conn, user.id)?,
        co_accounts: links::co_accounts(conn, user.id)?,
        children: links::accounts_of(conn, user.id)?,
        has_password: user.password_hash.is_some() || user.legacy_password_hash.is_some(),
        last_login: last_login.map(from_db),
        recovery: audit::recent_for(conn, user.id, &audit::Kind::RECOVERY, RECENT)?,
        invitation: invite::invitation_of(conn, user.id)?,
        user,
        access,
    }))
}

/// Disables or enables the account `id` (an administrator of its scope only); false when
/// it is out of scope (audited) or unknown.
pub fn set_disabled(
    conn: &mut DbConn,
    staff: &Staff,
    id: &str,
    disabled: bool,
    origin: Origin<'_>,
    now: DateTime<Utc>,
) -> DomainResult<bool> {
    let Some((user, _)) = staff.account(conn, id, Access::Manage, origin, now)? else {
        return Ok(false);
    };
    crate::store::transaction(conn, |conn| {
        accounts::set_disabled(conn, user.id, disabled, now)?;
        let kind = match disabled {
            true => audit::Kind::AccountDisabled,
            false => audit::Kind::AccountEnabled,
        };
        audit::Event::new(kind)
            .from(origin)
            .user(user.id)
            .detail(&format!("by {}", staff.user.username))
            .record(conn, now)?;
        Ok(true)
    })
}

/// What linking an upstream identity on the screens came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamLinked {
    Linked,
    /// The identity is linked to another account.
    Taken,
    /// No subject, or no tenant where the provider needs one.
    Incomplete,
}

/// Links the identity `subject` (and `tenant`, for an Entra ID provider of several) of
/// `provider` to the account `id` (an administrator of its scope only); none when it is
/// out of scope (audited) or unknown.
pub fn link_upstream(
    idp: &Idp,
    conn: &mut DbConn,
    staff: &Staff,
    id: &str,
    (provider, tenant, subject): (&Provider, Option<&str>, &str),
    origin: Origin<'_>,
    now: DateTime<Utc>,
) -> DomainResult<Option<UpstreamLinked>> {
    let Some((user, _)) = staff.account(conn, id, Access::Manage, origin, now)? else {
        return Ok(None);
    };
    let Ok(identity) = upstream_links::identity_named(provider, tenant, subject) else {
        return Ok(Some(UpstreamLinked::Incomplete));
    };
    let by = upstream_links::LinkedBy::Administrator;
    Ok(Some(
        match upstream_links::link(idp, conn, user.id, &identity, by, origin, now)? {
            Ok(()) => UpstreamLinked::Linked,
            Err(LinkRefusal::TakenByAnother) => UpstreamLinked::Taken,
        },
    ))
}

/// Removes the upstream link `link` of the account `id` (an administrator of its scope
/// only); none when it is out of scope or unknown.
pub fn unlink_upstream(
    idp: &Idp,
    conn: &mut DbConn,
    staff: &Staff,
    id: &str,
    link: &str,
    origin: Origin<'_>,
    now: DateTime<Utc>,
) -> DomainResult<Option<()>> {
    let Some((user, _)) = staff.account(conn, id, Access::Manage, origin, now)? else {
        return Ok(None);
    };
    let by = format!("by {}", staff.user.username);
    let removed = upstream_links::unlink(idp, conn, user.id, link, &by, origin, now)?;
    Ok(removed.then_some(()))
}
