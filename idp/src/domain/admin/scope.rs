//! Who sees whom. Every screen and action asks the signed-in person's `Staff` for the
//! account, school or run it names; what lies outside their roles is "not found" (the
//! screens answer 404, as for what does not exist) and the attempt is audited.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::roles::{self, Role};
use crate::domain::DomainResult;
use crate::domain::audit::{self, Origin};
use crate::domain::schools::{self, OrganisingBody, School};
use crate::domain::types::{AccountKind, OrganisingBodyId, SchoolId, UserId};
use crate::domain::users::{self, User};
use crate::store::DbConn;
use crate::store::schema::{account_links, school_members, schools as schools_table};

/// What someone on the screens may do with one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// See it and help with its password (a teacher, for the pupils of their school).
    Help,
    /// Also disable or enable it (an administrator of its school, body or the platform).
    Manage,
}

/// A signed-in person who holds at least one role, and the schools their roles cover.
#[derive(Debug, Clone)]
pub struct Staff {
    pub user: User,
    pub roles: Vec<Role>,
    platform: bool,
    /// Schools whose people they manage: their own as school administrator, and every
    /// school of the bodies they administer.
    managed: HashSet<SchoolId>,
    /// Schools whose pupils they help, as a teacher.
    taught: HashSet<SchoolId>,
}

impl Staff {
    /// `user` as staff; none when they hold no role.
    pub fn of(conn: &mut DbConn, user: User) -> DomainResult<Option<Self>> {
        let roles = roles::of(conn, user.id)?;
        if roles.is_empty() {
            return Ok(None);
        }
        let mut staff = Self {
            user,
            platform: roles.contains(&Role::PlatformAdmin),
            managed: HashSet::new(),
            taught: HashSet::new(),
            roles,
        };
        let bodies: Vec<String> = staff
            .roles
            .iter()
            .filter_map(|r| match r {
                Role::BodyAdmin(body) => Some(body.to_string()),
                _ => None,
            })
            .collect();
        let of_bodies: Vec<String> = schools_table::table
            .filter(schools_table::organising_body_id.eq_any(bodies))
            .select(schools_table::id)
            .load(conn)?;
        for id in of_bodies {
            staff.managed.insert(SchoolId::parse(&id)?);
        }
        for role in &staff.roles {
            match *role {
                Role::SchoolAdmin(school) => {
                    staff.managed.insert(school);
                }
                Role::Teacher(school) => {
                    staff.taught.insert(school);
                }
                Role::PlatformAdmin | Role::BodyAdmin(_) => {}
            }
        }
        Ok(Some(staff))
    }

    pub fn is_platform_admin(&self) -> bool {
        self.platform
    }

    /// Schools whose people this person manages (every school for the platform's).
    pub fn managed_schools(&self) -> Option<Vec<String>> {
        (!self.platform).then(|| self.managed.iter().map(|s| s.to_string()).collect())
    }

    /// Schools whose pupils this person helps as a teacher (and does not manage).
    pub fn taught_schools(&self) -> Vec<String> {
        self.taught
            .iter()
            .filter(|s| !self.platform && !self.managed.contains(s))
            .map(|s| s.to_string())
            .collect()
    }

    /// The schools this person sees, by organising body and name.
    pub fn schools(&self, conn: &mut DbConn) -> DomainResult<Vec<School>> {
        Ok(schools::list_schools(conn)?
            .into_iter()
            .filter(|s| self.sees_school(s.id))
            .collect())
    }

    pub fn sees_school(&self, school: SchoolId) -> bool {
        self.platform || self.managed.contains(&school) || self.taught.contains(&school)
    }

    /// What this person may do with `account`; none when it is out of their scope. An
    /// account is in a school's scope when it belongs to the school, or is a co-account
    /// (a guardian) of one that does.
    pub fn access(&self, conn: &mut DbConn, account: &User) -> DomainResult<Option<Access>> {
        if self.platform {
            return Ok(Some(Access::Manage));
        }
        let own = schools_of(conn, account.id)?;
        if own.iter().any(|s| self.managed.contains(s)) {
            return Ok(Some(Access::Manage));
        }
        if account.kind == AccountKind::Pupil && own.iter().any(|s| self.taught.contains(s)) {
            return Ok(Some(Access::Help));
        }
        let of_children: Vec<String> = school_members::table
            .filter(
                school_members::user_id.eq_any(
                    account_links::table
                        .filter(account_links::co_account_id.eq(account.id.to_string()))
                        .select(account_links::account_id),
                ),
            )
            .select(school_members::school_id)
            .load(conn)?;
        let managed_child = of_children
            .iter()
            .filter_map(|s| SchoolId::parse(s).ok())
            .any(|s| self.managed.contains(&s));
        Ok(managed_child.then_some(Access::Manage))
    }

    /// The account `id` names, with what this person may do with it, if it is in their
    /// scope and at least `needed`. Otherwise none, as for an account that does not exist,
    /// and the attempt is audited (an id that names no account is not: nothing was seen).
    pub fn account(
        &self,
        conn: &mut DbConn,
        id: &str,
        needed: Access,
        origin: Origin<'_>,
        now: DateTime<Utc>,
    ) -> DomainResult<Option<(User, Access)>> {
        let Ok(uuid) = Uuid::parse_str(id) else {
            return Ok(None);
        };
        let Some(account) = users::find_by_id(conn, UserId(uuid))? else {
            return Ok(None);
        };
        match self.access(conn, &account)? {
            Some(access) if access >= needed => Ok(Some((account, access))),
            _ => {
                self.out_of_scope(conn, &format!("account {id}"), origin, now)?;
                Ok(None)
            }
        }
    }

    /// The school `id` names, if this person sees it (else audited, and none).
    pub fn school(
        &self,
        conn: &mut DbConn,
        id: &str,
        origin: Origin<'_>,
        now: DateTime<Utc>,
    ) -> DomainResult<Option<School>> {
        let Ok(uuid) = Uuid::parse_str(id) else {
            return Ok(None);
        };
        if !self.sees_school(SchoolId(uuid)) {
            self.out_of_scope(conn, &format!("school {id}"), origin, now)?;
            return Ok(None);
        }
        match schools::find_school(conn, id) {
            Ok(school) => Ok(Some(school)),
            Err(crate::domain::DomainError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The organising bodies this person administers (every body for the platform's), by
    /// name: whose terms of use they publish.
    pub fn administered_bodies(&self, conn: &mut DbConn) -> DomainResult<Vec<OrganisingBody>> {
        Ok(schools::list_bodies(conn)?
            .into_iter()
            .filter(|b| self.platform || self.roles.contains(&Role::BodyAdmin(b.id)))
            .collect())
    }

    /// Whether this person may give or take `role` on the screens.
    pub fn may_grant(&self, conn: &mut DbConn, role: Role) -> DomainResult<bool> {
        let school_body = match role {
            Role::SchoolAdmin(school) | Role::Teacher(school) => {
                let body: Option<String> = schools_table::table
                    .find(school.to_string())
                    .select(schools_table::organising_body_id)
                    .first(conn)
                    .optional()?;
                body.and_then(|b| OrganisingBodyId::parse(&b).ok())
            }
            _ => None,
        };
        Ok(self
            .roles
            .iter()
            .any(|mine| mine.may_grant(role, |_| school_body)))
    }

    /// Records that this person asked for something outside their scope.
    pub fn out_of_scope(
        &self,
        conn: &mut DbConn,
        what: &str,
        origin: Origin<'_>,
        now: DateTime<Utc>,
    ) -> DomainResult<()> {
        tracing::warn!(staff = %self.user.username, what, "out of scope");
        audit::Event::new(audit::Kind::AdminOutOfScope)
            .from(origin)
            .user(self.user.id)
            .detail(what)
            .record(conn, now)
    }
}

fn schools_of(conn: &mut DbConn, user: UserId) -> DomainResult<Vec<SchoolId>> {
    let ids: Vec<String> = school_members::table
        .filter(school_members::user_id.eq(user.to_string()))
        .select(school_members::school_id)
        .load(conn)?;
    ids.iter().map(|s| SchoolId::parse(s)).collect()
}

/// Who is on the screens.
#[derive(Debug)]
pub enum SignedIn {
    Staff(Box<Staff>),
    /// Logged in, without any role.
    WithoutRole,
    /// No SSO session.
    Nobody,
}

/// The person the SSO session `cookie` belongs to, as staff if they hold a role.
pub fn signed_in(
    conn: &mut DbConn,
    cookie: Option<&str>,
    now: DateTime<Utc>,
) -> DomainResult<SignedIn> {
    let Some(user) = crate::domain::oidc::sessions::account_of(conn, cookie, now)? else {
        return Ok(SignedIn::Nobody);
    };
    Ok(match Staff::of(conn, user)? {
        Some(staff) => SignedIn::Staff(Box::new(staff)),
        None => SignedIn::WithoutRole,
    })
}
