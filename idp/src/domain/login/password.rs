//! The first authenticator: identifier and password, checked against the account's argon2id
//! hash, or once against a legacy system's hash, which argon2id then replaces.

use chrono::{DateTime, Utc};

use super::{Amr, Authenticated, Authenticator, Failure, Method};
use crate::domain::types::normalize;
use crate::domain::users::{self, LoginFailure, Recognised, User};
use crate::domain::{DomainResult, Idp, migration};
use crate::store::DbConn;

/// An identifier and a password, as typed.
#[derive(Debug, Clone, Copy)]
pub struct PasswordAuthenticator<'a> {
    identifier: &'a str,
    password: &'a str,
}

impl<'a> PasswordAuthenticator<'a> {
    /// Reads the form. An e-mail address where the identifier goes is refused at once,
    /// from what was typed alone: nothing is checked or counted.
    pub fn read(identifier: &'a str, password: &'a str) -> Result<Self, Failure> {
        if normalize(identifier).contains('@') {
            return Err(Failure::EmailAsIdentifier);
        }
        Ok(Self {
            identifier,
            password,
        })
    }
}

impl Authenticator for PasswordAuthenticator<'_> {
    fn identifier(&self) -> Option<&str> {
        Some(self.identifier)
    }

    fn authenticate(
        &self,
        idp: &Idp,
        conn: &mut DbConn,
        now: DateTime<Utc>,
    ) -> DomainResult<Result<Authenticated, Failure>> {
        let (account, old_identifier) = self.account(idp, conn, now)?;
        let checked = users::authenticate(conn, &idp.hasher, account, self.password, now)?;
        let (mut user, recognised) = match checked {
            Ok(found) => found,
            Err(LoginFailure::TemporaryPasswordExpired) => {
                return Ok(Err(Failure::TemporaryPasswordExpired));
            }
            Err(LoginFailure::BadCredentials | LoginFailure::Disabled) => {
                return Ok(Err(Failure::BadCredentials));
            }
        };
        if crate::domain::upstream::only::applies_to(conn, &user)? {
            return Ok(Err(Failure::UpstreamOnly));
        }
        let method = match recognised {
            Recognised::Argon2 => Method::PASSWORD,
            Recognised::Legacy(hash) => {
                // A weak legacy format, or a password today's policy refuses: a new one
                // before any code (the wizard's new-password step).
                let refused = !idp
                    .settings
                    .password_policy
                    .check(self.password, &user.password_context())
                    .is_empty();
                if hash.is_weak() || refused {
                    users::expire_password(conn, user.id, now)?;
                    user.password_change_required = true;
                }
                Method::new(format!("legacy {}", hash.format()))
            }
        };
        Ok(Ok(Authenticated {
            user,
            amr: vec![Amr::PASSWORD],
            method,
            old_identifier,
            upstream: None,
        }))
    }
}

impl PasswordAuthenticator<'_> {
    /// The account the typed identifier names; else the account a migration gave it to, for
    /// `old_identifier_days` after, with what was typed (the login then names the new one).
    fn account(
        &self,
        idp: &Idp,
        conn: &mut DbConn,
        now: DateTime<Utc>,
    ) -> DomainResult<(Option<User>, Option<String>)> {
        if let Some(user) = users::find_by_username(conn, self.identifier)? {
            return Ok((Some(user), None));
        }
        let days = idp.settings.old_identifier_days;
        let Some(id) = migration::account_by_old_identifier(conn, self.identifier, now, days)?
        else {
            return Ok((None, None));
        };
        let user = users::find_by_id(conn, id)?;
        let typed = user.is_some().then(|| self.identifier.trim().to_owned());
        Ok((user, typed))
    }
}
