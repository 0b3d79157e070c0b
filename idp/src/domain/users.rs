//! Accounts: people log in with their identifier, never their e-mail address (the address
//! is not unique: families share one).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use super::clock::{from_db, to_db};
use super::password_policy::PasswordContext;
use super::types::{AccountKind, Email, UserId, Username, normalize};
use super::{DomainError, DomainResult};
use crate::crypto::legacy::LegacyHash;
use crate::crypto::password::{PasswordHasher, Verification};
use crate::i18n::Locale;
use crate::store::models::UserRow;
use crate::store::schema::users;
use crate::store::{self, DbConn};

/// What a school holds about a person, shown as stored: a missing value stays missing
/// (never a placeholder such as 01-01-0001).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Profile {
    pub birth_date: Option<chrono::NaiveDate>,
    pub street_address: Option<String>,
    pub postal_code: Option<String>,
    pub locality: Option<String>,
    pub country: Option<String>,
    pub nationality: Option<String>,
    pub sex: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: UserId,
    pub kind: AccountKind,
    pub username: Username,
    pub email: Option<Email>,
    pub email_verified: bool,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub phone_number: Option<String>,
    pub locale: Option<String>,
    pub disabled: bool,
    /// The password is temporary: the next login must choose a new one.
    pub password_change_required: bool,
    /// When a temporary password stops working.
    pub password_expires_at: Option<DateTime<Utc>>,
    pub profile: Profile,
    /// When the first login was completed; none yet means the wizard welcomes them.
    pub first_login_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub password_hash: Option<String>,
    /// A legacy system's hash, until the first login replaces it (`crypto::legacy`).
    #[serde(skip)]
    pub legacy_password_hash: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl User {
    /// The language the account reads (its own, else `default`): of its mails, its letter.
    pub fn locale_or(&self, default: Locale) -> Locale {
        self.locale
            .as_deref()
            .and_then(Locale::parse)
            .unwrap_or(default)
    }

    /// The full name, as OIDC's `name` claim.
    pub fn name(&self) -> Option<String> {
        let parts: Vec<&str> = [self.given_name.as_deref(), self.family_name.as_deref()]
            .into_iter()
            .flatten()
            .filter(|p| !p.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    /// What the password policy must keep out of this person's password.
    pub fn password_context(&self) -> PasswordContext<'_> {
        PasswordContext {
            identifier: &self.username,
            names: [self.given_name.as_deref(), self.family_name.as_deref()]
                .into_iter()
                .flatten()
                .collect(),
            email: self.email.as_deref(),
        }
    }

    fn from_row(row: UserRow) -> DomainResult<Self> {
        Ok(Self {
            id: UserId::parse(&row.id)?,
            kind: AccountKind::parse(&row.kind)?,
            profile: Profile {
                birth_date: row.birth_date,
                street_address: row.street_address,
                postal_code: row.postal_code,
                locality: row.locality,
                country: row.country,
                nationality: row.nationality,
                sex: row.sex,
            },
            first_login_at: row.first_login_at.map(from_db),
            // Stored only after `parse`; a row that fails it was written by hand.
            username: Username::parse(&row.username)
                .map_err(|e| DomainError::Corrupt(format!("user {}: {e}", row.id)))?,
            email: row
                .email
                .as_deref()
                .map(Email::parse)
                .transpose()
                .map_err(|e| DomainError::Corrupt(format!("user {}: {e}", row.id)))?,
            email_verified: row.email_verified,
            given_name: row.given_name,
            family_name: row.family_name,
            phone_number: row.phone_number,
            locale: row.locale,
            disabled: row.disabled,
            password_change_required: row.password_change_required,
            password_expires_at: row.password_expires_at.map(from_db),
            password_hash: row.password_hash,
            legacy_password_hash: row.legacy_password_hash,
            created_at: from_db(row.created_at),
            updated_at: from_db(row.updated_at),
        })
    }
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: Username,
    pub kind: AccountKind,
    pub email: Option<Email>,
    pub email_verified: bool,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub phone_number: Option<String>,
    pub locale: Option<String>,
    pub password: Option<String>,
}

fn clean(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

/// What the screens' account search looks in: identifier, e-mail address, given and
/// family names, in lower case, one text (one `LIKE` per account).
pub(crate) fn search_text(
    username_normalized: &str,
    email_normalized: Option<&str>,
    given_name: Option<&str>,
    family_name: Option<&str>,
) -> String {
    [
        Some(username_normalized),
        email_normalized,
        given_name,
        family_name,
    ]
    .map(|part| normalize(part.unwrap_or_default()))
    .join(" ")
}

/// The stored row of a new account: names trimmed, empty texts missing, no profile yet.
pub(crate) fn new_row(
    new: NewUser,
    id: &str,
    password_hash: Option<String>,
    now: chrono::NaiveDateTime,
) -> UserRow {
    let (given_name, family_name) = (clean(new.given_name), clean(new.family_name));
    let email_normalized = new.email.as_ref().map(Email::normalized);
    let search_text = search_text(
        &new.username.normalized(),
        email_normalized.as_deref(),
        given_name.as_deref(),
        family_name.as_deref(),
    );
    UserRow {
        id: id.to_owned(),
        username: new.username.as_str().to_owned(),
        username_normalized: new.username.normalized(),
        email: new.email.as_ref().map(|e| e.as_str().to_owned()),
        email_normalized,
        email_verified: new.email_verified,
        given_name,
        family_name,
        phone_number: clean(new.phone_number),
        locale: clean(new.locale),
        password_hash,
        disabled: false,
        created_at: now,
        updated_at: now,
        password_change_required: false,
        password_expires_at: None,
        kind: new.kind.as_str().to_owned(),
        birth_date: None,
        street_address: None,
        postal_code: None,
        locality: None,
        country: None,
        nationality: None,
        sex: None,
        first_login_at: None,
        legacy_password_hash: None,
        search_text,
    }
}

pub fn create(
    conn: &mut DbConn,
    hasher: &PasswordHasher,
    new: NewUser,
    now: DateTime<Utc>,
) -> DomainResult<User> {
    let password_hash = match &new.password {
        Some(p) if p.is_empty() => {
            return Err(DomainError::invalid("password", "a non-empty password"));
        }
        Some(p) => Some(hasher.hash(p)?),
        None => None,
    };
    let row = new_row(new, &UserId::new().to_string(), password_hash, to_db(now));
    store::transaction(conn, |conn| {
        let taken: i64 = users::table
            .filter(users::username_normalized.eq(&row.username_normalized))
            .count()
            .get_result(conn)?;
        if taken > 0 {
            return Err(DomainError::Conflict(
                format!("the identifier {} is taken", row.username).into(),
            ));
        }
        diesel::insert_into(users::table)
            .values(&row)
            .execute(conn)?;
        Ok(())
    })?;
    User::from_row(row)
}

pub fn find_by_id(conn: &mut DbConn, id: UserId) -> DomainResult<Option<User>> {
    let row: Option<UserRow> = users::table
        .find(id.to_string())
        .select(UserRow::as_select())
        .first(conn)
        .optional()?;
    row.map(User::from_row).transpose()
}

pub fn find_by_username(conn: &mut DbConn, username: &str) -> DomainResult<Option<User>> {
    let row: Option<UserRow> = users::table
        .filter(users::username_normalized.eq(normalize(username)))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?;
    row.map(User::from_row).transpose()
}

/// Finds by identifier, or by id when given a UUID (what `show` and scripts use).
pub fn lookup(conn: &mut DbConn, key: &str) -> DomainResult<User> {
    if let Ok(id) = UserId::parse(key)
        && let Some(user) = find_by_id(conn, id)?
    {
        return Ok(user);
    }
    find_by_username(conn, key)?.ok_or_else(|| DomainError::NotFound(format!("user {key}").into()))
}

pub fn list(conn: &mut DbConn) -> DomainResult<Vec<User>> {
    let rows: Vec<UserRow> = users::table
        .order(users::username_normalized)
        .select(UserRow::as_select())
        .load(conn)?;
    rows.into_iter().map(User::from_row).collect()
}

/// Replaces what the school holds about `id` (empty texts are stored as missing).
pub fn set_profile(
    conn: &mut DbConn,
    id: UserId,
    profile: &Profile,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    diesel::update(users::table.find(id.to_string()))
        .set((
            users::birth_date.eq(profile.birth_date),
            users::street_address.eq(clean(profile.street_address.clone())),
            users::postal_code.eq(clean(profile.postal_code.clone())),
            users::locality.eq(clean(profile.locality.clone())),
            users::country.eq(clean(profile.country.clone())),
            users::nationality.eq(clean(profile.nationality.clone())),
            users::sex.eq(clean(profile.sex.clone())),
            users::updated_at.eq(to_db(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// How to reach a person and what to call them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub email: Option<String>,
    pub phone_number: Option<String>,
}

/// Replaces the names, e-mail address and phone number of `id`. A changed address is not
/// verified any more.
pub fn set_contact(
    conn: &mut DbConn,
    id: UserId,
    contact: &Contact,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    let email = contact
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(Email::parse)
        .transpose()?;
    let Some((username_normalized, current)): Option<(String, Option<String>)> = users::table
        .find(id.to_string())
        .select((users::username_normalized, users::email_normalized))
        .first(conn)
        .optional()?
    else {
        return Err(DomainError::NotFound(format!("account {id}").into()));
    };
    let email_normalized = email.as_ref().map(Email::normalized);
    let unchanged = current == email_normalized;
    let (given_name, family_name) = (
        clean(contact.given_name.clone()),
        clean(contact.family_name.clone()),
    );
    let search_text = search_text(
        &username_normalized,
        email_normalized.as_deref(),
        given_name.as_deref(),
        family_name.as_deref(),
    );
    diesel::update(users::table.find(id.to_string()))
        .set((
            users::email.eq(email.as_ref().map(|e| e.as_str().to_owned())),
            users::email_normalized.eq(&email_normalized),
            users::given_name.eq(given_name),
            users::family_name.eq(family_name),
            users::search_text.eq(search_text),
            users::phone_number.eq(clean(contact.phone_number.clone())),
            users::updated_at.eq(to_db(now)),
        ))
        .execute(conn)?;
    if !unchanged {
        diesel::update(users::table.find(id.to_string()))
            .set(users::email_verified.eq(false))
            .execute(conn)?;
    }
    Ok(())
}

pub fn set_kind(
    conn: &mut DbConn,
    id: UserId,
    kind: AccountKind,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    diesel::update(users::table.find(id.to_string()))
        .set((
            users::kind.eq(kind.as_str()),
            users::updated_at.eq(to_db(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Saves the language the person chose (pages after login, and every mail, follow it).
/// Not a change of the account's data: `updated_at` stays (a migration does not see a
/// conflict in it).
pub fn set_locale(conn: &mut DbConn, id: UserId, locale: Locale) -> DomainResult<()> {
    diesel::update(users::table.find(id.to_string()))
        .set(users::locale.eq(locale.as_str()))
        .execute(conn)?;
    Ok(())
}

/// Records the first completed login (the wizard's welcome is then done).
pub fn mark_first_login(conn: &mut DbConn, id: UserId, now: DateTime<Utc>) -> DomainResult<()> {
    diesel::update(
        users::table
            .find(id.to_string())
            .filter(users::first_login_at.is_null()),
    )
    .set(users::first_login_at.eq(Some(to_db(now))))
    .execute(conn)?;
    Ok(())
}

/// The accounts whose e-mail address is `email` (a family shares one), oldest first.
pub fn find_by_email(conn: &mut DbConn, email: &str) -> DomainResult<Vec<User>> {
    let rows: Vec<UserRow> = users::table
        .filter(users::email_normalized.eq(normalize(email)))
        .order((users::created_at, users::username_normalized))
        .select(UserRow::as_select())
        .load(conn)?;
    rows.into_iter().map(User::from_row).collect()
}

/// Sets the password a person chose: a temporary password stops being one.
pub fn set_password_hash(
    conn: &mut DbConn,
    id: UserId,
    hash: &str,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    diesel::update(users::table.find(id.to_string()))
        .set((
            users::password_hash.eq(hash),
            users::password_change_required.eq(false),
            users::password_expires_at.eq(None::<chrono::NaiveDateTime>),
            users::updated_at.eq(to_db(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Sets a temporary password: it works until `expires_at`, and only to choose a new one.
pub fn set_temporary_password_hash(
    conn: &mut DbConn,
    id: UserId,
    hash: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    diesel::update(users::table.find(id.to_string()))
        .set((
            users::password_hash.eq(hash),
            users::password_change_required.eq(true),
            users::password_expires_at.eq(Some(to_db(expires_at))),
            users::updated_at.eq(to_db(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Makes the current password expired: it still logs in, but only to choose a new one.
pub fn expire_password(conn: &mut DbConn, id: UserId, now: DateTime<Utc>) -> DomainResult<()> {
    diesel::update(users::table.find(id.to_string()))
        .set((
            users::password_change_required.eq(true),
            users::updated_at.eq(to_db(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// A rehash after a parameter change keeps the password as it is (temporary or not).
fn upgrade_password_hash(
    conn: &mut DbConn,
    id: UserId,
    hash: &str,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    diesel::update(users::table.find(id.to_string()))
        .set((
            users::password_hash.eq(hash),
            users::updated_at.eq(to_db(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Disables or enables an account. A disabled account cannot log in, and its sessions and
/// grants end at once (on the screens and on the command line alike).
pub fn set_disabled(
    conn: &mut DbConn,
    id: UserId,
    disabled: bool,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    store::transaction(conn, |conn| {
        diesel::update(users::table.find(id.to_string()))
            .set((
                users::disabled.eq(disabled),
                users::updated_at.eq(to_db(now)),
            ))
            .execute(conn)?;
        if disabled {
            super::oidc::sessions::end_all_for_user(conn, id, now)?;
        }
        Ok(())
    })
}

/// Why a login did not succeed. The first two are shown to the person as one generic
/// message; an expired temporary password is named, since only its holder can get there.
#[derive(Debug, PartialEq, Eq)]
pub enum LoginFailure {
    BadCredentials,
    Disabled,
    TemporaryPasswordExpired,
}

/// How a right password was recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recognised {
    /// The account's argon2id hash.
    Argon2,
    /// A legacy system's hash, now replaced by argon2id.
    Legacy(LegacyHash),
}

/// Checks an identifier and password. An unknown identifier costs one argon2 verification
/// against a dummy hash, so the answer's timing does not tell whether the account exists
/// (OWASP ASVS V2.2, Authentication cheat sheet "Authentication responses"). An account
/// that has only a legacy hash is checked against it; a wrong password then also costs a
/// dummy argon2 verification, so the hash format tells nothing; a right one costs the
/// legacy check and one argon2id hash, which replaces the legacy one.
///
/// `user` is the account the typed identifier names, found by the caller (none: no account
/// has it).
pub fn authenticate(
    conn: &mut DbConn,
    hasher: &PasswordHasher,
    user: Option<User>,
    password: &str,
    now: DateTime<Utc>,
) -> DomainResult<Result<(User, Recognised), LoginFailure>> {
    let legacy = match &user {
        Some(u) if u.password_hash.is_none() => u
            .legacy_password_hash
            .as_deref()
            .map(LegacyHash::parse)
            .transpose()
            .map_err(|e| DomainError::Corrupt(format!("user {}: legacy hash: {e}", u.id)))?,
        _ => None,
    };
    let verification = match &legacy {
        Some(hash) if hash.verify(password) => Verification::Match,
        Some(_) => {
            let _ = hasher.verify(password, None)?;
            Verification::Mismatch
        }
        None => hasher.verify(
            password,
            user.as_ref().and_then(|u| u.password_hash.as_deref()),
        )?,
    };
    let Some(user) = user else {
        return Ok(Err(LoginFailure::BadCredentials));
    };
    match verification {
        Verification::Mismatch => Ok(Err(LoginFailure::BadCredentials)),
        _ if user.disabled => Ok(Err(LoginFailure::Disabled)),
        _ if user.password_change_required
            && user.password_expires_at.is_some_and(|at| at <= now) =>
        {
            Ok(Err(LoginFailure::TemporaryPasswordExpired))
        }
        Verification::Match => match legacy {
            Some(hash) => {
                replace_legacy_hash(conn, user.id, &hasher.hash(password)?, now)?;
                Ok(Ok((user, Recognised::Legacy(hash))))
            }
            None => Ok(Ok((user, Recognised::Argon2))),
        },
        Verification::MatchRehash(new_hash) => {
            upgrade_password_hash(conn, user.id, &new_hash, now)?;
            Ok(Ok((user, Recognised::Argon2)))
        }
    }
}

/// Stores a legacy system's hash for an account that has no password here (what
/// `account-migration` imports). A hash that cannot be read is refused now, never at login.
pub fn set_legacy_password_hash(
    conn: &mut DbConn,
    id: UserId,
    stored: &str,
    now: DateTime<Utc>,
) -> DomainResult<LegacyHash> {
    let hash = LegacyHash::parse(stored)
        .map_err(|e| DomainError::invalid("legacy_password_hash", e.to_string()))?;
    diesel::update(users::table.find(id.to_string()))
        .set((
            users::legacy_password_hash.eq(stored.trim()),
            users::updated_at.eq(to_db(now)),
        ))
        .execute(conn)?;
    Ok(hash)
}

/// The first login with a legacy hash: argon2id from now on, the legacy hash gone.
fn replace_legacy_hash(
    conn: &mut DbConn,
    id: UserId,
    hash: &str,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    diesel::update(users::table.find(id.to_string()))
        .set((
            users::password_hash.eq(hash),
            users::legacy_password_hash.eq(None::<String>),
            users::updated_at.eq(to_db(now)),
        ))
        .execute(conn)?;
    Ok(())
}
