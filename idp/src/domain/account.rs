//! What a logged-in person changes on the account page: their password (the current one
//! checked like a login, under the same throttles), their contact data where a school lets
//! them edit it. The web page shows; it decides nothing here.

use super::login::{self, Failure, Finished, Method, PasswordAuthenticator, Then};
use super::oidc::sessions;
use super::recovery::{self, NewPassword, Origin, Problem};
use super::resets::Purpose;
use super::schools::{self, DataChanges};
use super::users::{self, Contact, User};
use super::{DomainError, DomainResult, Idp, audit};
use crate::store::{self, DbConn};

/// Why a password change was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordRefusal {
    /// Too many wrong current passwords: wait `minutes`.
    Throttled {
        minutes: i64,
    },
    WrongCurrent,
    /// The new password breaks these rules.
    Problems(Vec<Problem>),
}

/// The current password, checked like a login, then the new one; the other sessions end
/// with the change and this browser gets a new one: its cookie is returned.
pub fn change_password(
    idp: &Idp,
    conn: &mut DbConn,
    user: &User,
    current: &str,
    new: NewPassword<'_>,
    address: &str,
) -> DomainResult<Result<String, PasswordRefusal>> {
    let origin = Origin::of(address);
    let checked = match PasswordAuthenticator::read(&user.username, current) {
        Ok(current) => login::authenticate(idp, conn, &current, origin)?,
        Err(failure) => Err(failure),
    };
    let mut who = match checked {
        Ok(who) => who,
        Err(Failure::Throttled { minutes }) => {
            return Ok(Err(PasswordRefusal::Throttled { minutes }));
        }
        Err(_) => return Ok(Err(PasswordRefusal::WrongCurrent)),
    };
    let problems = recovery::change_password(idp, conn, user, new, Purpose::Change, origin)?;
    if !problems.is_empty() {
        return Ok(Err(PasswordRefusal::Problems(problems)));
    }
    who.method = Method::PASSWORD_CHANGE;
    match login::finish(idp, conn, who, origin, Then::Stay)? {
        Finished::LoggedIn { session_cookie, .. } => Ok(Ok(session_cookie)),
        Finished::RequiredActions { .. } => Err(DomainError::Internal(
            "staying on the account page owes no wizard".into(),
        )),
    }
}

/// Logs the person out of every other browser and device where they are logged in (ASVS
/// 4.0.3 §3.3.4), this one staying in; audited with how many ended.
pub fn end_other_sessions(
    idp: &Idp,
    conn: &mut DbConn,
    user: &User,
    cookie: &str,
    address: &str,
) -> DomainResult<usize> {
    let now = idp.now();
    store::transaction(conn, |conn| {
        let ended = sessions::end_others(conn, user.id, cookie, now)?;
        let detail = ended.to_string();
        audit::Event::new(audit::Kind::OtherSessionsEnded)
            .from(Origin::of(address))
            .user(user.id)
            .detail(&detail)
            .record(conn, now)?;
        Ok(ended)
    })
}

/// The contact data a person may edit themselves.
#[derive(Debug, Clone, Default)]
pub struct DataEdit {
    pub street_address: Option<String>,
    pub postal_code: Option<String>,
    pub locality: Option<String>,
    pub country: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// Saves `edit`, if one of the person's schools lets its people edit their own data, all
/// or nothing; a changed e-mail address is told to the address it replaces
/// (`recovery::email_changed`).
pub fn edit_data(
    idp: &Idp,
    conn: &mut DbConn,
    user: &User,
    edit: DataEdit,
    address: &str,
) -> DomainResult<()> {
    let now = idp.now();
    if !schools::schools_of(conn, user.id)?
        .iter()
        .any(|s| s.data_changes == DataChanges::Edit)
    {
        return Err(DomainError::invalid(
            "data",
            "a school that lets its people edit their data",
        ));
    }
    let mut profile = user.profile.clone();
    profile.street_address = edit.street_address;
    profile.postal_code = edit.postal_code;
    profile.locality = edit.locality;
    profile.country = edit.country;
    let contact = Contact {
        given_name: user.given_name.clone(),
        family_name: user.family_name.clone(),
        email: edit.email,
        phone_number: edit.phone,
    };
    store::transaction(conn, |conn| {
        users::set_profile(conn, user.id, &profile, now)?;
        users::set_contact(conn, user.id, &contact, now)?;
        recovery::email_changed(
            idp,
            conn,
            user,
            contact.email.as_deref(),
            Origin::of(address),
            now,
        )
    })
}
