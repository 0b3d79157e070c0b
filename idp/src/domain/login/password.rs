//! The first authenticator: identifier and password, checked against the account's argon2id
//! hash.

use chrono::{DateTime, Utc};

use super::{Amr, Authenticated, Authenticator, Failure, Method};
use crate::domain::types::normalize;
use crate::domain::users::{self, LoginFailure};
use crate::domain::{DomainResult, Idp};
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
        let checked = users::authenticate(conn, &idp.hasher, self.identifier, self.password, now)?;
        Ok(match checked {
            Ok(user) => Ok(Authenticated {
                user,
                amr: vec![Amr::PASSWORD],
                method: Method::PASSWORD,
            }),
            Err(LoginFailure::TemporaryPasswordExpired) => Err(Failure::TemporaryPasswordExpired),
            Err(LoginFailure::BadCredentials | LoginFailure::Disabled) => {
                Err(Failure::BadCredentials)
            }
        })
    }
}
