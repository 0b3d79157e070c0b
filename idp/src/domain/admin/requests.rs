//! Change requests on the screens: what people asked their school to change from their
//! account page (where the school handles changes itself), for the school's
//! administrators to accept or refuse. The school applies an accepted change in its own
//! administration; the STS shows the data the school holds.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use super::scope::Staff;
use crate::domain::audit::{self, Origin};
use crate::domain::clock::{from_db, to_db};
use crate::domain::{DomainResult, users};
use crate::store::schema::{change_requests, schools};
use crate::store::{self, DbConn};

/// An open request as the screen lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Open {
    pub id: String,
    pub account_id: String,
    pub identifier: String,
    pub name: Option<String>,
    pub school: String,
    pub message: String,
    pub created_at: DateTime<Utc>,
}

/// What an administrator decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Accept,
    Refuse,
}

impl Decision {
    fn outcome(self) -> &'static str {
        match self {
            Self::Accept => "accepted",
            Self::Refuse => "refused",
        }
    }
}

/// The open requests of the schools `staff` manages, oldest first.
pub fn open(conn: &mut DbConn, staff: &Staff) -> DomainResult<Vec<Open>> {
    let mut query = change_requests::table
        .inner_join(schools::table.on(schools::id.eq(change_requests::school_id)))
        .filter(change_requests::handled_at.is_null())
        .into_boxed();
    if let Some(managed) = staff.managed_schools() {
        query = query.filter(change_requests::school_id.eq_any(managed));
    }
    let rows: Vec<(String, String, String, String, NaiveDateTime)> = query
        .order(change_requests::created_at)
        .select((
            change_requests::id,
            change_requests::user_id,
            schools::name,
            change_requests::message,
            change_requests::created_at,
        ))
        .load(conn)?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, user_id, school, message, created_at) in rows {
        let Some(user) = users::find_by_id(conn, crate::domain::types::UserId::parse(&user_id)?)?
        else {
            continue;
        };
        out.push(Open {
            id,
            account_id: user_id,
            identifier: user.username.to_string(),
            name: user.name(),
            school,
            message,
            created_at: from_db(created_at),
        });
    }
    Ok(out)
}

/// Accepts or refuses the open request `id`; none when it is not an open request of a
/// school `staff` manages (audited when it exists).
pub fn decide(
    conn: &mut DbConn,
    staff: &Staff,
    id: &str,
    decision: Decision,
    origin: Origin<'_>,
    now: DateTime<Utc>,
) -> DomainResult<Option<()>> {
    let found: Option<(String, String)> = change_requests::table
        .find(id)
        .filter(change_requests::handled_at.is_null())
        .select((change_requests::school_id, change_requests::user_id))
        .first(conn)
        .optional()?;
    let Some((school, requester)) = found else {
        return Ok(None);
    };
    let in_scope = staff
        .managed_schools()
        .is_none_or(|managed| managed.contains(&school));
    if !in_scope {
        staff.out_of_scope(conn, &format!("change request {id}"), origin, now)?;
        return Ok(None);
    }
    let requester = crate::domain::types::UserId::parse(&requester)?;
    store::transaction(conn, |conn| {
        // Only while still open: of two deciding at once, the second finds it decided.
        let decided = diesel::update(
            change_requests::table
                .find(id)
                .filter(change_requests::handled_at.is_null()),
        )
        .set((
            change_requests::handled_at.eq(Some(to_db(now))),
            change_requests::outcome.eq(Some(decision.outcome())),
            change_requests::handled_by.eq(Some(staff.user.id.to_string())),
        ))
        .execute(conn)?;
        if decided == 0 {
            return Ok(None);
        }
        let kind = match decision {
            Decision::Accept => audit::Kind::ChangeRequestAccepted,
            Decision::Refuse => audit::Kind::ChangeRequestRefused,
        };
        audit::Event::new(kind)
            .from(origin)
            .user(requester)
            .detail(&format!("by {}", staff.user.username))
            .record(conn, now)?;
        Ok(Some(()))
    })
}
