//! Upstream identities linked to accounts. An identity is its issuer and subject (OIDC
//! Core §2: `sub` is unique and never reassigned only within its issuer), never an e-mail
//! address alone; one identity belongs to one account at most, an account may have
//! several (a teacher's Microsoft account at two boards).

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::UpstreamIdentity;
use crate::domain::audit::{self, Origin};
use crate::domain::clock::{from_db, to_db};
use crate::domain::types::{Email, UserId};
use crate::domain::{DomainError, DomainResult, Idp, recovery};
use crate::store::DbConn;
use crate::store::schema::{upstream_links, users};

/// How a link came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkedBy {
    /// An administrator, on the command line or the organising bodies' screens.
    Administrator,
    /// The person, logged in with identifier and password.
    Person,
    /// The provider's verified e-mail address, held by exactly one account.
    Email,
}

impl LinkedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Administrator => "administrator",
            Self::Person => "person",
            Self::Email => "email",
        }
    }
}

/// One linked identity, as the account pages show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Link {
    pub id: String,
    pub provider: String,
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub linked_by: String,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

type LinkRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    chrono::NaiveDateTime,
    Option<chrono::NaiveDateTime>,
);

fn link_of(row: LinkRow) -> Link {
    let (id, provider, issuer, subject, email, linked_by, created_at, last_login_at) = row;
    Link {
        id,
        provider,
        issuer,
        subject,
        email,
        linked_by,
        created_at: from_db(created_at),
        last_login_at: last_login_at.map(from_db),
    }
}

macro_rules! link_columns {
    () => {
        (
            upstream_links::id,
            upstream_links::provider,
            upstream_links::issuer,
            upstream_links::subject,
            upstream_links::email,
            upstream_links::linked_by,
            upstream_links::created_at,
            upstream_links::last_login_at,
        )
    };
}

/// The identities linked to `user`, oldest first.
pub fn of_user(conn: &mut DbConn, user: UserId) -> DomainResult<Vec<Link>> {
    let rows: Vec<LinkRow> = upstream_links::table
        .filter(upstream_links::user_id.eq(user.to_string()))
        .order(upstream_links::created_at)
        .select(link_columns!())
        .load(conn)?;
    Ok(rows.into_iter().map(link_of).collect())
}

/// The account `identity` is linked to, and the link's id.
pub fn account_of(
    conn: &mut DbConn,
    identity: &UpstreamIdentity,
) -> DomainResult<Option<(String, UserId)>> {
    let row: Option<(String, String)> = upstream_links::table
        .filter(upstream_links::issuer.eq(&identity.issuer))
        .filter(upstream_links::subject.eq(&identity.subject))
        .select((upstream_links::id, upstream_links::user_id))
        .first(conn)
        .optional()?;
    row.map(|(id, user)| Ok((id, UserId::parse(&user)?)))
        .transpose()
}

/// Why a link was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefusal {
    /// The identity is linked to another account already.
    TakenByAnother,
}

/// Links `identity` to `user` (already linked to it: nothing changes), audited and told
/// to the account (`recovery::sign_in_changed`).
pub fn link(
    idp: &Idp,
    conn: &mut DbConn,
    user: UserId,
    identity: &UpstreamIdentity,
    by: LinkedBy,
    origin: Origin<'_>,
    now: DateTime<Utc>,
) -> DomainResult<Result<(), LinkRefusal>> {
    crate::store::transaction(conn, |conn| {
        match account_of(conn, identity)? {
            Some((_, owner)) if owner == user => return Ok(Ok(())),
            Some(_) => return Ok(Err(LinkRefusal::TakenByAnother)),
            None => {}
        }
        diesel::insert_into(upstream_links::table)
            .values((
                upstream_links::id.eq(uuid::Uuid::now_v7().to_string()),
                upstream_links::user_id.eq(user.to_string()),
                upstream_links::provider.eq(&identity.provider),
                upstream_links::issuer.eq(&identity.issuer),
                upstream_links::subject.eq(&identity.subject),
                upstream_links::email.eq(&identity.email),
                upstream_links::linked_by.eq(by.as_str()),
                upstream_links::created_at.eq(to_db(now)),
            ))
            .execute(conn)?;
        let detail = format!("{} ({})", identity.provider, by.as_str());
        audit::Event::new(audit::Kind::UpstreamLinked)
            .from(origin)
            .user(user)
            .detail(&detail)
            .record(conn, now)?;
        recovery::sign_in_changed(idp, conn, user, &identity.provider, true, origin, now)?;
        Ok(Ok(()))
    })
}

/// Removes link `id` of `user` (another account's link: nothing), audited and told to the
/// account; whether one went.
pub fn unlink(
    idp: &Idp,
    conn: &mut DbConn,
    user: UserId,
    id: &str,
    by: &str,
    origin: Origin<'_>,
    now: DateTime<Utc>,
) -> DomainResult<bool> {
    crate::store::transaction(conn, |conn| {
        let provider: Option<String> = upstream_links::table
            .filter(upstream_links::id.eq(id))
            .filter(upstream_links::user_id.eq(user.to_string()))
            .select(upstream_links::provider)
            .first(conn)
            .optional()?;
        let Some(provider) = provider else {
            return Ok(false);
        };
        diesel::delete(upstream_links::table.filter(upstream_links::id.eq(id))).execute(conn)?;
        let detail = format!("{provider} ({by})");
        audit::Event::new(audit::Kind::UpstreamUnlinked)
            .from(origin)
            .user(user)
            .detail(&detail)
            .record(conn, now)?;
        recovery::sign_in_changed(idp, conn, user, &provider, false, origin, now)?;
        Ok(true)
    })
}

/// Notes a login through link `id`, with the address the provider gave this time.
pub fn used(
    conn: &mut DbConn,
    id: &str,
    email: Option<&str>,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    diesel::update(upstream_links::table.filter(upstream_links::id.eq(id)))
        .set((
            upstream_links::last_login_at.eq(to_db(now)),
            upstream_links::email.eq(email),
        ))
        .execute(conn)?;
    Ok(())
}

/// The one account holding `email`; none when no account or several do (a parent's
/// address on two children's accounts links nothing).
pub fn only_account_with_email(conn: &mut DbConn, email: &str) -> DomainResult<Option<UserId>> {
    let Ok(email) = Email::parse(email) else {
        return Ok(None);
    };
    let ids: Vec<String> = users::table
        .filter(users::email_normalized.eq(email.normalized()))
        .select(users::id)
        .limit(2)
        .load(conn)?;
    match ids.as_slice() {
        [one] => Ok(Some(UserId::parse(one)?)),
        _ => Ok(None),
    }
}

/// An identity an administrator names: the provider's issuer (for a multi-tenant Entra
/// ID provider, with the tenant) and the subject.
pub fn identity_named(
    provider: &super::Provider,
    tenant: Option<&str>,
    subject: &str,
) -> DomainResult<UpstreamIdentity> {
    let subject = subject.trim();
    if subject.is_empty() {
        return Err(DomainError::invalid(
            "subject",
            "the account's id at the provider",
        ));
    }
    let issuer = match (&provider.issuer, tenant.map(str::trim)) {
        (super::IssuerRule::Exact(issuer), _) => issuer.clone(),
        (super::IssuerRule::Tenant { template, tenants }, tenant) => {
            let only = match tenants.as_deref() {
                Some([one]) => Some(one.as_str()),
                _ => None,
            };
            let tenant = tenant.filter(|t| !t.is_empty()).or(only).ok_or_else(|| {
                DomainError::invalid("tenant", "the tenant id of the Microsoft account")
            })?;
            super::fill(template, tenant)
        }
    };
    Ok(UpstreamIdentity {
        provider: provider.id.clone(),
        issuer,
        subject: subject.to_owned(),
        email: None,
        email_verified: false,
        name: None,
        amr: Vec::new(),
    })
}
