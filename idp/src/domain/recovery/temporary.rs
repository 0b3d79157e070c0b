//! Temporary passwords (the Ecolesoft guide): an administrator issues one, mailed or shown
//! once; it works until it expires, and only to choose a new password before any token is
//! issued.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::recipients;
use super::request::queue_audited;
use crate::crypto;
use crate::domain::mail::MailKind;
use crate::domain::oidc::sessions;
use crate::domain::resets;
use crate::domain::users::{self, User};
use crate::domain::{DomainError, DomainResult, Idp, audit};
use crate::store::{self, DbConn};

/// How the temporary password reaches its holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Mailed to the account's addresses (and its co-accounts').
    Mail,
    /// Returned, to be shown once to the administrator.
    Show,
}

#[derive(Debug, Clone)]
pub struct IssuedTemporary {
    /// In clear only with `Delivery::Show`.
    pub password: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub mailed_to: Vec<String>,
}

/// Letters and digits that cannot be mistaken for one another.
const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// Three groups of four, e.g. `Kq7m-2xpD-W9rt` (about 69 bits), easy to read out and type.
fn generate() -> DomainResult<String> {
    let chars = crypto::random_chars(ALPHABET, 12)?;
    Ok(format!("{}-{}-{}", &chars[..4], &chars[4..8], &chars[8..]))
}

/// Issues a temporary password for `user`, replacing the current one. `by`: who asked
/// (the audit trail's words: "the command line", or a staff member's identifier).
pub fn issue_temporary_password(
    idp: &Idp,
    conn: &mut DbConn,
    user: &User,
    delivery: Delivery,
    by: &str,
) -> DomainResult<IssuedTemporary> {
    let now = idp.now();
    let context = user.password_context();
    // The policy may require a class a draw lacks; draws are cheap.
    let mut password = generate()?;
    for _ in 0..50 {
        if idp
            .settings
            .password_policy
            .check(&password, &context)
            .is_empty()
        {
            break;
        }
        password = generate()?;
    }
    let recipients = recipients::of_account(conn, user, idp.default_locale())?;
    if delivery == Delivery::Mail && recipients.is_empty() {
        return Err(DomainError::invalid(
            "delivery",
            "an account with an e-mail address (or show the password instead)",
        ));
    }
    let hash = idp.hasher.hash(&password)?;
    let expires_at = now + Duration::seconds(idp.settings.recovery.temporary_password_ttl_seconds);
    store::transaction(conn, |conn| {
        users::set_temporary_password_hash(conn, user.id, &hash, expires_at, now)?;
        resets::revoke_all(conn, user.id, now)?;
        if idp.settings.recovery.end_sessions_on_reset {
            sessions::end_all_for_user(conn, user.id, now)?;
            crate::domain::required_actions::end_all_for_user(conn, user.id)?;
        }
        let how = match delivery {
            Delivery::Mail => "mailed",
            Delivery::Show => "shown",
        };
        audit::Event::new(audit::Kind::TemporaryPasswordIssued)
            .user(user.id)
            .detail(&format!("{how}, by {by}"))
            .record(conn, now)?;
        let mut mailed_to = Vec::new();
        if delivery == Delivery::Mail {
            for to in &recipients {
                let data = json!({
                    "identifier": user.username,
                    "email": user.email,
                    "name": user.name(),
                    "password": password,
                    "expires": expires_at.to_rfc3339(),
                    "login_url": idp.endpoint("/login"),
                });
                let kind = MailKind::TemporaryPassword;
                queue_audited(idp, conn, kind, to, data, user.id, None, now)?;
                mailed_to.push(to.address.clone());
            }
        } else {
            // Shown to staff: the account is still told its password changed (ASVS
            // 4.0.3 §2.5.5), so a temporary password asked for behind its back is seen.
            super::notice::password_changed(idp, conn, user, &recipients, None, now)?;
        }
        Ok(IssuedTemporary {
            password: (delivery == Delivery::Show).then(|| password.clone()),
            expires_at,
            mailed_to,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_passwords_are_readable() {
        let p = generate().unwrap();
        assert_eq!(p.len(), 14);
        assert_eq!(p.matches('-').count(), 2);
        assert!(
            p.bytes()
                .filter(|b| *b != b'-')
                .all(|b| ALPHABET.contains(&b))
        );
        assert_ne!(p, generate().unwrap());
    }
}
