//! Roles given and taken on the screens, on an account the giver manages: a platform
//! administrator gives any role; anyone else only a role strictly below their own, within
//! what their own covers (`Role::may_grant`). Both are audited on the holder.

use chrono::{DateTime, Utc};

use super::roles::{self, Role};
use super::scope::{Access, Staff};
use crate::domain::DomainResult;
use crate::domain::audit::{self, Origin};
use crate::domain::schools;
use crate::store::DbConn;

/// The roles `staff` may give.
pub fn grantable(conn: &mut DbConn, staff: &Staff) -> DomainResult<Vec<Role>> {
    let mut candidates = Vec::new();
    if staff.is_platform_admin() {
        candidates.push(Role::PlatformAdmin);
        for body in schools::list_bodies(conn)? {
            candidates.push(Role::BodyAdmin(body.id));
        }
    }
    for school in staff.schools(conn)? {
        candidates.push(Role::SchoolAdmin(school.id));
        candidates.push(Role::Teacher(school.id));
    }
    let mut out = Vec::new();
    for role in candidates {
        if staff.may_grant(conn, role)? {
            out.push(role);
        }
    }
    Ok(out)
}

/// Gives or takes `role` on the account `id`; none when the account is not one `staff`
/// manages or the role is not one they may give (audited). Some(false): nothing changed.
pub fn change(
    conn: &mut DbConn,
    staff: &Staff,
    id: &str,
    role: Role,
    give: bool,
    origin: Origin<'_>,
    now: DateTime<Utc>,
) -> DomainResult<Option<bool>> {
    let Some((holder, _)) = staff.account(conn, id, Access::Manage, origin, now)? else {
        return Ok(None);
    };
    if !staff.may_grant(conn, role)? {
        staff.out_of_scope(conn, &format!("role {role}"), origin, now)?;
        return Ok(None);
    }
    let changed = match give {
        true => roles::grant(conn, holder.id, role, Some(staff.user.id), now)?,
        false => roles::revoke(conn, holder.id, role)?,
    };
    if changed {
        let kind = match give {
            true => audit::Kind::RoleGranted,
            false => audit::Kind::RoleRevoked,
        };
        audit::Event::new(kind)
            .from(origin)
            .user(holder.id)
            .detail(&format!("{role}, by {}", staff.user.username))
            .record(conn, now)?;
    }
    Ok(Some(changed))
}
