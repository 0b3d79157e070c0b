//! Required actions (as Keycloak calls them): after the password is checked and before any
//! code is issued, what the account still owes, in order: "your account has moved" (a
//! migrated account's first login, or a login with its old identifier), the welcome, a
//! review of the pupil's data (guardians), a review of its own data, a new password (a
//! temporary one was used), the current terms. A login flow row holds the steps and where
//! the person stands, so the wizard can be left and resumed, on any instance.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::clock::{from_db, to_db};
use super::login::{Amr, Authenticated, Method};
use super::types::{AccountKind, UserId};
use super::users::User;
use super::{DomainError, DomainResult, links, migration, schools, terms};
use crate::crypto;
use crate::store::DbConn;
use crate::store::schema::login_flows;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// "Your account has moved": the first login of a migrated account, or a login with
    /// the old platform's identifier.
    AccountMoved,
    Welcome,
    PupilData,
    OwnData,
    NewPassword,
    Terms,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccountMoved => "account_moved",
            Self::Welcome => "welcome",
            Self::PupilData => "pupil_data",
            Self::OwnData => "own_data",
            Self::NewPassword => "new_password",
            Self::Terms => "terms",
        }
    }
}

/// What `user` owes before a login can finish, in the order the wizard shows it.
/// The first login checks the data schools hold: the children's (guardians) and the
/// account's own, the latter only when the account belongs to a school. The welcome
/// introduces those checks, so it comes only with them.
pub fn owed(conn: &mut DbConn, user: &User) -> DomainResult<Vec<Step>> {
    let mut steps = Vec::new();
    if user.first_login_at.is_none() {
        if user.kind == AccountKind::Guardian && !links::accounts_of(conn, user.id)?.is_empty() {
            steps.push(Step::PupilData);
        }
        if !schools::schools_of(conn, user.id)?.is_empty() {
            steps.push(Step::OwnData);
        }
        if !steps.is_empty() {
            steps.insert(0, Step::Welcome);
        }
        if migration::moved(conn, user.id)?.is_some() {
            steps.insert(0, Step::AccountMoved);
        }
    }
    // An account that logs in only upstream has no password here to renew.
    if user.password_change_required && !super::upstream::only::applies_to(conn, user)? {
        steps.push(Step::NewPassword);
    }
    if !terms::owed_by(conn, user.id)?.is_empty() {
        steps.push(Step::Terms);
    }
    Ok(steps)
}

/// A login waiting for its required actions.
#[derive(Debug, Clone)]
pub struct Flow {
    pub user_id: UserId,
    /// How the person authenticated before the wizard: the session at its end says so.
    pub amr: Vec<Amr>,
    pub method: Method,
    /// The upstream provider of that login, if any.
    pub upstream: Option<String>,
    /// The pending authorization request to resume (none: a login without an app).
    pub request_id: Option<String>,
    pub steps: Vec<Step>,
    pub position: usize,
}

impl Flow {
    pub fn current(&self) -> Option<Step> {
        self.steps.get(self.position).copied()
    }
}

/// Starts a flow; returns the secret the browser keeps in a cookie (stored only hashed).
pub fn start(
    conn: &mut DbConn,
    who: &Authenticated,
    request_id: Option<&str>,
    steps: &[Step],
    ttl: Duration,
    now: DateTime<Utc>,
) -> DomainResult<String> {
    let secret = crypto::random_token()?;
    diesel::insert_into(login_flows::table)
        .values((
            login_flows::id_hash.eq(crypto::sha256(secret.as_bytes())),
            login_flows::user_id.eq(who.user.id.to_string()),
            login_flows::amr.eq(to_json(&who.amr)?),
            login_flows::method.eq(who.method.as_str()),
            login_flows::idp.eq(who.upstream.as_deref()),
            login_flows::request_id.eq(request_id),
            login_flows::steps.eq(to_json(&steps)?),
            login_flows::position.eq(0),
            login_flows::created_at.eq(to_db(now)),
            login_flows::expires_at.eq(to_db(now + ttl)),
        ))
        .execute(conn)?;
    Ok(secret)
}

fn to_json(value: &impl Serialize) -> DomainResult<String> {
    serde_json::to_string(value).map_err(|e| DomainError::Internal(e.to_string()))
}

fn from_json<T: for<'de> Deserialize<'de>>(text: &str) -> DomainResult<T> {
    serde_json::from_str(text).map_err(|e| DomainError::Corrupt(e.to_string()))
}

type FlowRow = (
    String,
    Option<String>,
    String,
    i32,
    chrono::NaiveDateTime,
    String,
    String,
    Option<String>,
);

/// The live flow a cookie names.
pub fn find(conn: &mut DbConn, secret: &str, now: DateTime<Utc>) -> DomainResult<Option<Flow>> {
    let row: Option<FlowRow> = login_flows::table
        .find(crypto::sha256(secret.as_bytes()))
        .select((
            login_flows::user_id,
            login_flows::request_id,
            login_flows::steps,
            login_flows::position,
            login_flows::expires_at,
            login_flows::amr,
            login_flows::method,
            login_flows::idp,
        ))
        .first(conn)
        .optional()?;
    let Some((user, request_id, steps, position, expires_at, amr, method, upstream)) = row else {
        return Ok(None);
    };
    if from_db(expires_at) <= now {
        return Ok(None);
    }
    Ok(Some(Flow {
        user_id: UserId::parse(&user)?,
        amr: from_json(&amr)?,
        method: Method::new(method),
        upstream,
        request_id,
        steps: from_json(&steps)?,
        position: usize::try_from(position).unwrap_or(0),
    }))
}

/// Moves the flow to `position` (Back and Next).
pub fn move_to(conn: &mut DbConn, secret: &str, position: usize) -> DomainResult<()> {
    diesel::update(login_flows::table.find(crypto::sha256(secret.as_bytes())))
        .set(login_flows::position.eq(i32::try_from(position).unwrap_or(i32::MAX)))
        .execute(conn)?;
    Ok(())
}

/// Ends the flow (finished or refused).
pub fn end(conn: &mut DbConn, secret: &str) -> DomainResult<()> {
    diesel::delete(login_flows::table.find(crypto::sha256(secret.as_bytes()))).execute(conn)?;
    Ok(())
}

/// Ends every flow of `user`: a login begun with a password that was just replaced does not
/// go on.
pub fn end_all_for_user(conn: &mut DbConn, user: UserId) -> DomainResult<()> {
    diesel::delete(login_flows::table.filter(login_flows::user_id.eq(user.to_string())))
        .execute(conn)?;
    Ok(())
}

/// Removes flows that expired before `cutoff`.
pub fn purge(conn: &mut DbConn, cutoff: DateTime<Utc>) -> DomainResult<usize> {
    Ok(
        diesel::delete(login_flows::table.filter(login_flows::expires_at.lt(to_db(cutoff))))
            .execute(conn)?,
    )
}
