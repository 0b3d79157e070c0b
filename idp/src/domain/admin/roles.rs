//! Roles on the organising bodies' screens. An account holds a role only through an
//! explicit grant: on the command line (`idp role grant`), or on the screens by an
//! administrator above the role (a body's administrator makes school administrators and
//! teachers of its schools; a school's administrator, teachers of that school).

use std::fmt;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::domain::clock::to_db;
use crate::domain::schools::{self, School};
use crate::domain::types::{OrganisingBodyId, SchoolId, UserId};
use crate::domain::{DomainError, DomainResult};
use crate::store::DbConn;
use crate::store::schema::{organising_bodies, roles};

/// A role and what it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "role", content = "scope", rename_all = "snake_case")]
pub enum Role {
    /// Everything, every organising body.
    PlatformAdmin,
    /// The schools of one organising body, and their people.
    BodyAdmin(OrganisingBodyId),
    /// One school and its people.
    SchoolAdmin(SchoolId),
    /// The pupils of one school: read-only, except password help.
    Teacher(SchoolId),
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Self::PlatformAdmin => "platform_admin",
            Self::BodyAdmin(_) => "body_admin",
            Self::SchoolAdmin(_) => "school_admin",
            Self::Teacher(_) => "teacher",
        }
    }

    /// The stored key of what the role covers ('' for the platform).
    fn scope_id(self) -> String {
        match self {
            Self::PlatformAdmin => String::new(),
            Self::BodyAdmin(body) => body.to_string(),
            Self::SchoolAdmin(school) | Self::Teacher(school) => school.to_string(),
        }
    }

    fn from_row(name: &str, scope_id: &str) -> DomainResult<Self> {
        let corrupt = || DomainError::Corrupt(format!("role {name} {scope_id}"));
        match name {
            "platform_admin" => Ok(Self::PlatformAdmin),
            "body_admin" => Ok(Self::BodyAdmin(OrganisingBodyId::parse(scope_id)?)),
            "school_admin" => Ok(Self::SchoolAdmin(SchoolId::parse(scope_id)?)),
            "teacher" => Ok(Self::Teacher(SchoolId::parse(scope_id)?)),
            _ => Err(corrupt()),
        }
    }

    /// The role as a form carries it: `teacher:SCHOOL_ID`, `platform_admin`.
    pub fn key(self) -> String {
        match self {
            Self::PlatformAdmin => self.name().to_owned(),
            _ => format!("{}:{}", self.name(), self.scope_id()),
        }
    }

    /// A role from its `key`; none for anything else (a form is the user's input).
    pub fn from_key(key: &str) -> Option<Self> {
        let (name, scope) = key.split_once(':').unwrap_or((key, ""));
        let role = Self::from_row(name, scope).ok()?;
        (role.key() == key).then_some(role)
    }

    /// Reads a role as the command line names it: `platform-admin`, or `body-admin`,
    /// `school-admin`, `teacher` with the organising body or school (by id or name).
    pub fn parse(
        conn: &mut DbConn,
        name: &str,
        body: Option<&str>,
        school: Option<&str>,
    ) -> DomainResult<Self> {
        let needs = |what: &'static str| DomainError::invalid(what, "the role's scope");
        match name.trim().replace('-', "_").as_str() {
            "platform_admin" => Ok(Self::PlatformAdmin),
            "body_admin" => {
                let key = body.ok_or_else(|| needs("body"))?;
                Ok(Self::BodyAdmin(schools::find_body(conn, key)?.id))
            }
            "school_admin" => {
                let key = school.ok_or_else(|| needs("school"))?;
                Ok(Self::SchoolAdmin(schools::find_school(conn, key)?.id))
            }
            "teacher" => {
                let key = school.ok_or_else(|| needs("school"))?;
                Ok(Self::Teacher(schools::find_school(conn, key)?.id))
            }
            _ => Err(DomainError::invalid(
                "role",
                "platform-admin, body-admin, school-admin or teacher",
            )),
        }
    }

    /// Whether someone holding `self` may give or take `other` on the screens: a platform
    /// administrator any role; anyone else only a role strictly below their own, within
    /// what their own covers. (`body_of_school` says which organising body a school
    /// belongs to.)
    pub fn may_grant(
        self,
        other: Role,
        body_of_school: impl Fn(SchoolId) -> Option<OrganisingBodyId>,
    ) -> bool {
        match (self, other) {
            (Self::PlatformAdmin, _) => true,
            (Self::BodyAdmin(body), Self::SchoolAdmin(school) | Self::Teacher(school)) => {
                body_of_school(school) == Some(body)
            }
            (Self::SchoolAdmin(mine), Self::Teacher(school)) => mine == school,
            _ => false,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PlatformAdmin => f.write_str(self.name()),
            _ => write!(f, "{} {}", self.name(), self.scope_id()),
        }
    }
}

/// Gives `holder` the role; false when they held it already. `by`: who, on the screens
/// (none: the command line).
pub fn grant(
    conn: &mut DbConn,
    holder: UserId,
    role: Role,
    by: Option<UserId>,
    now: DateTime<Utc>,
) -> DomainResult<bool> {
    let held: i64 = roles::table
        .find((holder.to_string(), role.name(), role.scope_id()))
        .count()
        .get_result(conn)?;
    if held > 0 {
        return Ok(false);
    }
    let (body, school) = match role {
        Role::PlatformAdmin => (None, None),
        Role::BodyAdmin(body) => (Some(body.to_string()), None),
        Role::SchoolAdmin(school) | Role::Teacher(school) => (None, Some(school.to_string())),
    };
    diesel::insert_into(roles::table)
        .values((
            roles::user_id.eq(holder.to_string()),
            roles::role.eq(role.name()),
            roles::scope_id.eq(role.scope_id()),
            roles::organising_body_id.eq(body),
            roles::school_id.eq(school),
            roles::granted_by.eq(by.map(|b| b.to_string())),
            roles::granted_at.eq(to_db(now)),
        ))
        .execute(conn)?;
    Ok(true)
}

/// Takes the role from `holder`; false when they did not hold it.
pub fn revoke(conn: &mut DbConn, holder: UserId, role: Role) -> DomainResult<bool> {
    let n = diesel::delete(roles::table.find((holder.to_string(), role.name(), role.scope_id())))
        .execute(conn)?;
    Ok(n > 0)
}

/// The roles `user` holds.
pub fn of(conn: &mut DbConn, user: UserId) -> DomainResult<Vec<Role>> {
    let rows: Vec<(String, String)> = roles::table
        .filter(roles::user_id.eq(user.to_string()))
        .order((roles::role, roles::scope_id))
        .select((roles::role, roles::scope_id))
        .load(conn)?;
    rows.iter().map(|(r, s)| Role::from_row(r, s)).collect()
}

/// Every grant: holder, role (for the command line's list).
pub fn all(conn: &mut DbConn) -> DomainResult<Vec<(UserId, Role)>> {
    let rows: Vec<(String, String, String)> = roles::table
        .order((roles::user_id, roles::role))
        .select((roles::user_id, roles::role, roles::scope_id))
        .load(conn)?;
    rows.iter()
        .map(|(u, r, s)| Ok((UserId::parse(u)?, Role::from_row(r, s)?)))
        .collect()
}

/// What a role covers, in words: "platform", the body's name, or "school (body)".
pub fn scope_name(conn: &mut DbConn, role: Role) -> DomainResult<String> {
    Ok(match role {
        Role::PlatformAdmin => "platform".to_owned(),
        Role::BodyAdmin(body) => organising_bodies::table
            .find(body.to_string())
            .select(organising_bodies::name)
            .first(conn)?,
        Role::SchoolAdmin(school) | Role::Teacher(school) => {
            let s: School = schools::find_school(conn, &school.to_string())?;
            format!("{} ({})", s.name, s.organising_body.name)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_role_above_grants_and_only_within_its_own() {
        let (body, other_body) = (OrganisingBodyId::new(), OrganisingBodyId::new());
        let (school, other_school) = (SchoolId::new(), SchoolId::new());
        let body_of = |s: SchoolId| Some(if s == school { body } else { other_body });
        let platform = Role::PlatformAdmin;
        assert!(platform.may_grant(Role::BodyAdmin(body), body_of));
        assert!(platform.may_grant(Role::PlatformAdmin, body_of));
        let body_admin = Role::BodyAdmin(body);
        assert!(body_admin.may_grant(Role::SchoolAdmin(school), body_of));
        assert!(body_admin.may_grant(Role::Teacher(school), body_of));
        assert!(!body_admin.may_grant(Role::Teacher(other_school), body_of));
        assert!(!body_admin.may_grant(Role::BodyAdmin(body), body_of));
        assert!(!body_admin.may_grant(Role::PlatformAdmin, body_of));
        let school_admin = Role::SchoolAdmin(school);
        assert!(school_admin.may_grant(Role::Teacher(school), body_of));
        assert!(!school_admin.may_grant(Role::Teacher(other_school), body_of));
        assert!(!school_admin.may_grant(Role::SchoolAdmin(school), body_of));
        assert!(!Role::Teacher(school).may_grant(Role::Teacher(school), body_of));
    }

    #[test]
    fn a_form_key_names_one_role_or_none() {
        let school = SchoolId::new();
        for role in [
            Role::PlatformAdmin,
            Role::Teacher(school),
            Role::SchoolAdmin(school),
        ] {
            assert_eq!(Role::from_key(&role.key()), Some(role));
        }
        for bad in [
            "",
            "teacher",
            "teacher:",
            "teacher:nope",
            "platform_admin:x",
            "janitor",
        ] {
            assert_eq!(Role::from_key(bad), None, "{bad}");
        }
    }
}
