//! The authenticator of upstream providers ("Log in with Microsoft"): an identity that
//! `crate::federation` verified (signature, issuer, audience, nonce, tenant) becomes the
//! account it is linked to, or, when the provider is configured so, the one account that
//! holds its verified e-mail address (then linked). Anything else is `NotLinked`: the
//! person is told in words what to do, and may link it by logging in with their password.

use chrono::{DateTime, Utc};

use super::{Amr, Authenticated, Authenticator, Failure, Method};
use crate::domain::audit::Origin;
use crate::domain::upstream::links::{self, LinkedBy};
use crate::domain::upstream::{Provider, UpstreamIdentity};
use crate::domain::users;
use crate::domain::{DomainResult, Idp};
use crate::store::DbConn;

/// The `amr` of a login whose provider reported none: IdentityServer's convention for a
/// login at an external provider (with `idp` naming it).
const EXTERNAL: &str = "external";

pub struct UpstreamAuthenticator<'a> {
    provider: &'a Provider,
    identity: &'a UpstreamIdentity,
    origin: Origin<'a>,
}

impl<'a> UpstreamAuthenticator<'a> {
    pub fn new(provider: &'a Provider, identity: &'a UpstreamIdentity, origin: Origin<'a>) -> Self {
        Self {
            provider,
            identity,
            origin,
        }
    }

    /// The account linked to the identity; else the one holding its verified address, if
    /// the provider links by address (then linked now).
    fn linked_account(
        &self,
        idp: &Idp,
        conn: &mut DbConn,
        now: DateTime<Utc>,
    ) -> DomainResult<Option<(String, crate::domain::types::UserId)>> {
        if let Some(found) = links::account_of(conn, self.identity)? {
            return Ok(Some(found));
        }
        let by_email = match (&self.identity.email, self.identity.email_verified) {
            (Some(email), true) if self.provider.link_by_email => {
                links::only_account_with_email(conn, email)?
            }
            _ => None,
        };
        let Some(user) = by_email else {
            return Ok(None);
        };
        let linked = links::link(
            idp,
            conn,
            user,
            self.identity,
            LinkedBy::Email,
            self.origin,
            now,
        )?;
        if linked.is_err() {
            return Ok(None);
        }
        links::account_of(conn, self.identity)
    }

    /// The RFC 8176 values the provider reported (plain tokens only), else `external`.
    fn amr(&self) -> Vec<Amr> {
        let plain = |v: &&String| {
            !v.is_empty() && v.len() <= 32 && v.chars().all(|c| c.is_ascii_alphanumeric())
        };
        let reported: Vec<Amr> = self
            .identity
            .amr
            .iter()
            .filter(plain)
            .map(Amr::new)
            .collect();
        if reported.is_empty() {
            vec![Amr::new(EXTERNAL)]
        } else {
            reported
        }
    }
}

impl Authenticator for UpstreamAuthenticator<'_> {
    fn identifier(&self) -> Option<&str> {
        None
    }

    fn authenticate(
        &self,
        idp: &Idp,
        conn: &mut DbConn,
        now: DateTime<Utc>,
    ) -> DomainResult<Result<Authenticated, Failure>> {
        let Some((link, user)) = self.linked_account(idp, conn, now)? else {
            return Ok(Err(Failure::NotLinked));
        };
        let Some(user) = users::find_by_id(conn, user)? else {
            return Ok(Err(Failure::NotLinked));
        };
        if user.disabled {
            return Ok(Err(Failure::AccountDisabled));
        }
        links::used(conn, &link, self.identity.email.as_deref(), now)?;
        Ok(Ok(Authenticated {
            user,
            amr: self.amr(),
            method: Method::new(format!("upstream {}", self.provider.id)),
            old_identifier: None,
            upstream: Some(self.provider.id.clone()),
        }))
    }
}
