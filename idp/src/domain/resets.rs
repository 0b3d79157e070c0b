//! Password reset grants (OWASP Forgot Password cheat sheet): a random single-use link
//! token of 256 bits and a short code to type (`K7QM-2XPD`, APSchool's "I received a reset
//! code"), stored only as hashes, valid 48 hours by default. Looking one up never uses it,
//! so mail scanners that open links (Outlook Safe Links) cannot burn it; only setting the
//! password does, once, race-free across instances.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use super::clock::{from_db, to_db};
use super::types::UserId;
use super::{DomainError, DomainResult};
use crate::crypto;
use crate::store::DbConn;
use crate::store::schema::password_resets;

/// Letters and digits that cannot be mistaken for one another (no 0/O, 1/I/L).
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// What a person receives: the link token and the code, in clear, only in the mail.
#[derive(Debug, Clone)]
pub struct IssuedReset {
    pub token: String,
    pub code: String,
    pub expires_at: DateTime<Utc>,
}

/// Why a grant exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Mailed after "Forgot password?".
    Reset,
    /// A password chosen after logging in with a temporary one (the required-actions
    /// wizard); it must differ from the temporary password.
    TemporaryPassword,
    /// A change made on the account page, with the current password.
    Change,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reset => "reset",
            Self::TemporaryPassword => "temporary_password",
            Self::Change => "change",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "temporary_password" => Self::TemporaryPassword,
            "change" => Self::Change,
            _ => Self::Reset,
        }
    }
}

/// A reset that can still be used.
#[derive(Debug, Clone)]
pub struct Reset {
    pub id: String,
    pub user_id: UserId,
    pub resume_request: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub purpose: Purpose,
}

/// Why a link or code does not work; the page says so and offers a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusable {
    Unknown,
    Expired,
    Used,
    Revoked,
}

/// A link or code that does not work: why, and the pending login it was asked for, so a
/// new link still leads back to the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnusableReset {
    pub why: Unusable,
    pub resume_request: Option<String>,
}

impl From<Unusable> for UnusableReset {
    fn from(why: Unusable) -> Self {
        Self {
            why,
            resume_request: None,
        }
    }
}

/// An 8-character code in two groups: `K7QM-2XPD` (about 40 bits; code entry is throttled).
fn new_code() -> DomainResult<String> {
    let chars = crypto::random_chars(CODE_ALPHABET, 8)?;
    Ok(format!("{}-{}", &chars[..4], &chars[4..]))
}

/// The code as typed, made comparable: case, spaces and dashes do not matter.
pub fn normalize_code(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Issues a reset for `user`, revoking the older ones. `resume_request` is the pending
/// login to resume once the password is set.
pub fn issue(
    conn: &mut DbConn,
    user: UserId,
    purpose: Purpose,
    resume_request: Option<&str>,
    ttl: Duration,
    now: DateTime<Utc>,
) -> DomainResult<IssuedReset> {
    let token = crypto::random_token()?;
    let code = new_code()?;
    let expires_at = now + ttl;
    revoke_all(conn, user, now)?;
    diesel::insert_into(password_resets::table)
        .values((
            password_resets::id.eq(uuid::Uuid::new_v4().to_string()),
            password_resets::user_id.eq(user.to_string()),
            password_resets::token_hash.eq(crypto::sha256(token.as_bytes())),
            password_resets::code_hash.eq(crypto::sha256(normalize_code(&code).as_bytes())),
            password_resets::resume_request.eq(resume_request),
            password_resets::purpose.eq(purpose.as_str()),
            password_resets::created_at.eq(to_db(now)),
            password_resets::expires_at.eq(to_db(expires_at)),
        ))
        .execute(conn)?;
    Ok(IssuedReset {
        token,
        code,
        expires_at,
    })
}

/// Revokes every open reset of `user` (a new request, or a successful reset).
pub fn revoke_all(conn: &mut DbConn, user: UserId, now: DateTime<Utc>) -> DomainResult<()> {
    diesel::update(
        password_resets::table
            .filter(password_resets::user_id.eq(user.to_string()))
            .filter(password_resets::used_at.is_null())
            .filter(password_resets::revoked_at.is_null()),
    )
    .set(password_resets::revoked_at.eq(to_db(now)))
    .execute(conn)?;
    Ok(())
}

type Row = (
    String,
    String,
    Option<String>,
    chrono::NaiveDateTime,
    Option<chrono::NaiveDateTime>,
    Option<chrono::NaiveDateTime>,
    String,
);

fn judge(row: Option<Row>, now: DateTime<Utc>) -> DomainResult<Result<Reset, UnusableReset>> {
    let Some((id, user_id, resume_request, expires_at, used_at, revoked_at, purpose)) = row else {
        return Ok(Err(Unusable::Unknown.into()));
    };
    let why = if used_at.is_some() {
        Some(Unusable::Used)
    } else if revoked_at.is_some() {
        Some(Unusable::Revoked)
    } else if from_db(expires_at) <= now {
        Some(Unusable::Expired)
    } else {
        None
    };
    if let Some(why) = why {
        return Ok(Err(UnusableReset {
            why,
            resume_request,
        }));
    }
    Ok(Ok(Reset {
        id,
        user_id: UserId::parse(&user_id)?,
        resume_request,
        expires_at: from_db(expires_at),
        purpose: Purpose::parse(&purpose),
    }))
}

const COLUMNS: (
    password_resets::id,
    password_resets::user_id,
    password_resets::resume_request,
    password_resets::expires_at,
    password_resets::used_at,
    password_resets::revoked_at,
    password_resets::purpose,
) = (
    password_resets::id,
    password_resets::user_id,
    password_resets::resume_request,
    password_resets::expires_at,
    password_resets::used_at,
    password_resets::revoked_at,
    password_resets::purpose,
);

/// The reset a link token names. Does not use it.
pub fn find_by_token(
    conn: &mut DbConn,
    token: &str,
    now: DateTime<Utc>,
) -> DomainResult<Result<Reset, UnusableReset>> {
    let row = password_resets::table
        .filter(password_resets::token_hash.eq(crypto::sha256(token.as_bytes())))
        .select(COLUMNS)
        .first::<Row>(conn)
        .optional()?;
    judge(row, now)
}

/// The newest reset of `user` whose code matches what was typed. Does not use it.
pub fn find_by_code(
    conn: &mut DbConn,
    user: UserId,
    typed: &str,
    now: DateTime<Utc>,
) -> DomainResult<Result<Reset, UnusableReset>> {
    let row = password_resets::table
        .filter(password_resets::user_id.eq(user.to_string()))
        .filter(password_resets::code_hash.eq(crypto::sha256(normalize_code(typed).as_bytes())))
        .order(password_resets::created_at.desc())
        .select(COLUMNS)
        .first::<Row>(conn)
        .optional()?;
    judge(row, now)
}

/// Uses a reset: only one caller can, ever (a conditional UPDATE).
pub fn consume(conn: &mut DbConn, reset: &Reset, now: DateTime<Utc>) -> DomainResult<()> {
    let won = diesel::update(
        password_resets::table
            .find(&reset.id)
            .filter(password_resets::used_at.is_null())
            .filter(password_resets::revoked_at.is_null())
            .filter(password_resets::expires_at.gt(to_db(now))),
    )
    .set(password_resets::used_at.eq(to_db(now)))
    .execute(conn)?;
    if won == 0 {
        return Err(DomainError::Conflict(
            "this reset link was already used".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_readable_and_forgiving() {
        let code = new_code().unwrap();
        assert_eq!(code.len(), 9);
        assert_eq!(&code[4..5], "-");
        assert!(
            code.bytes()
                .filter(|b| *b != b'-')
                .all(|b| CODE_ALPHABET.contains(&b))
        );
        assert_eq!(normalize_code(" k7qm 2xpd "), "K7QM2XPD");
        assert_eq!(normalize_code("K7QM-2XPD"), "K7QM2XPD");
    }
}
