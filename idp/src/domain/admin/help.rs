//! Password help on the screens, for an account in scope (a teacher's pupils too): a
//! temporary password shown once (with the letter to print for a pupil without e-mail), or
//! a reset mail. The person must choose a new password at the next login (the wizard).

use chrono::DateTime;
use chrono::Utc;

use super::scope::{Access, Staff};
use crate::domain::audit::Origin;
use crate::domain::recovery::{self, Delivery, StaffReset};
use crate::domain::users::User;
use crate::domain::{DomainResult, Idp};
use crate::store::DbConn;

/// A temporary password just issued, for the page that shows it once and the letter.
#[derive(Debug, Clone)]
pub struct Issued {
    pub account: User,
    pub password: String,
    pub expires_at: DateTime<Utc>,
}

/// Issues a temporary password for the account `id`; none when it is out of `staff`'s
/// scope (audited) or unknown.
pub fn temporary_password(
    idp: &Idp,
    conn: &mut DbConn,
    staff: &Staff,
    id: &str,
    origin: Origin<'_>,
) -> DomainResult<Option<Issued>> {
    let Some((account, _)) = staff.account(conn, id, Access::Help, origin, idp.now())? else {
        return Ok(None);
    };
    let by = staff.user.username.as_str();
    let issued = recovery::issue_temporary_password(idp, conn, &account, Delivery::Show, by)?;
    Ok(issued.password.map(|password| Issued {
        account,
        password,
        expires_at: issued.expires_at,
    }))
}

/// Sends the account `id` a reset mail; none when out of scope (audited) or unknown.
pub fn reset_mail(
    idp: &Idp,
    conn: &mut DbConn,
    staff: &Staff,
    id: &str,
    origin: Origin<'_>,
) -> DomainResult<Option<StaffReset>> {
    let Some((account, _)) = staff.account(conn, id, Access::Help, origin, idp.now())? else {
        return Ok(None);
    };
    let by = staff.user.username.as_str();
    recovery::reset_by_staff(idp, conn, &account, origin, by).map(Some)
}
