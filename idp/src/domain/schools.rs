//! Organising bodies (school boards) and their schools; accounts belong to one or more
//! schools. Relying apps learn them from the `school` scope, so they need no second
//! directory.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::clock::to_db;
use super::types::{OrganisingBodyId, SchoolId, UserId};
use super::{DomainError, DomainResult};
use crate::store::DbConn;
use crate::store::schema::{organising_bodies, school_members, schools};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrganisingBody {
    pub id: OrganisingBodyId,
    pub name: String,
}

/// What a school lets people do about the data it holds on them (APSchool: "selon la
/// décision de l'école").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataChanges {
    /// Edit it themselves on the account page.
    Edit,
    /// Send a change request the school's administrators handle.
    Request,
    /// See how to contact the school.
    #[default]
    Contact,
}

impl DataChanges {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Edit => "edit",
            Self::Request => "request",
            Self::Contact => "contact",
        }
    }

    pub fn parse(text: &str) -> DomainResult<Self> {
        match text {
            "edit" => Ok(Self::Edit),
            "request" => Ok(Self::Request),
            "contact" => Ok(Self::Contact),
            _ => Err(DomainError::invalid(
                "data_changes",
                "edit, request or contact",
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct School {
    pub id: SchoolId,
    pub organising_body: OrganisingBody,
    pub name: String,
    pub data_changes: DataChanges,
    /// How to reach the school's office (shown when changes go through it).
    pub contact: Option<String>,
}

fn clean_name(name: &str, field: &'static str) -> DomainResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(DomainError::invalid(field, "a name of 1 to 200 characters"));
    }
    Ok(name.to_owned())
}

pub fn create_body(
    conn: &mut DbConn,
    name: &str,
    now: DateTime<Utc>,
) -> DomainResult<OrganisingBody> {
    let body = OrganisingBody {
        id: OrganisingBodyId::new(),
        name: clean_name(name, "name")?,
    };
    diesel::insert_into(organising_bodies::table)
        .values((
            organising_bodies::id.eq(body.id.to_string()),
            organising_bodies::name.eq(&body.name),
            organising_bodies::created_at.eq(to_db(now)),
        ))
        .execute(conn)?;
    Ok(body)
}

fn body_of(row: (String, String)) -> DomainResult<OrganisingBody> {
    Ok(OrganisingBody {
        id: OrganisingBodyId::parse(&row.0)?,
        name: row.1,
    })
}

pub fn list_bodies(conn: &mut DbConn) -> DomainResult<Vec<OrganisingBody>> {
    let rows: Vec<(String, String)> = organising_bodies::table
        .order(organising_bodies::name)
        .select((organising_bodies::id, organising_bodies::name))
        .load(conn)?;
    rows.into_iter().map(body_of).collect()
}

/// An organising body by id or by exact name.
pub fn find_body(conn: &mut DbConn, key: &str) -> DomainResult<OrganisingBody> {
    let row: Option<(String, String)> = organising_bodies::table
        .filter(
            organising_bodies::id
                .eq(key)
                .or(organising_bodies::name.eq(key)),
        )
        .select((organising_bodies::id, organising_bodies::name))
        .first(conn)
        .optional()?;
    row.map(body_of)
        .transpose()?
        .ok_or_else(|| DomainError::NotFound(format!("organising body {key}").into()))
}

pub struct NewSchool<'a> {
    pub organising_body: OrganisingBodyId,
    pub name: &'a str,
    pub data_changes: DataChanges,
    pub contact: Option<&'a str>,
}

pub fn create_school(
    conn: &mut DbConn,
    new: NewSchool<'_>,
    now: DateTime<Utc>,
) -> DomainResult<School> {
    let id = SchoolId::new();
    diesel::insert_into(schools::table)
        .values((
            schools::id.eq(id.to_string()),
            schools::organising_body_id.eq(new.organising_body.to_string()),
            schools::name.eq(clean_name(new.name, "name")?),
            schools::data_changes.eq(new.data_changes.as_str()),
            schools::contact.eq(new.contact.map(str::trim).filter(|c| !c.is_empty())),
            schools::created_at.eq(to_db(now)),
        ))
        .execute(conn)?;
    find_school(conn, &id.to_string())
}

type SchoolRow = (String, String, String, Option<String>, String, String);

fn school_of(row: SchoolRow) -> DomainResult<School> {
    let (id, name, data_changes, contact, body_id, body_name) = row;
    Ok(School {
        id: SchoolId::parse(&id)?,
        organising_body: body_of((body_id, body_name))?,
        name,
        data_changes: DataChanges::parse(&data_changes)?,
        contact,
    })
}

const SCHOOL_COLUMNS: (
    schools::id,
    schools::name,
    schools::data_changes,
    schools::contact,
    organising_bodies::id,
    organising_bodies::name,
) = (
    schools::id,
    schools::name,
    schools::data_changes,
    schools::contact,
    organising_bodies::id,
    organising_bodies::name,
);

/// A school by id or by exact name.
pub fn find_school(conn: &mut DbConn, key: &str) -> DomainResult<School> {
    let row: Option<SchoolRow> = schools::table
        .inner_join(organising_bodies::table)
        .filter(schools::id.eq(key).or(schools::name.eq(key)))
        .select(SCHOOL_COLUMNS)
        .first(conn)
        .optional()?;
    row.map(school_of)
        .transpose()?
        .ok_or_else(|| DomainError::NotFound(format!("school {key}").into()))
}

pub fn list_schools(conn: &mut DbConn) -> DomainResult<Vec<School>> {
    let rows: Vec<SchoolRow> = schools::table
        .inner_join(organising_bodies::table)
        .order((organising_bodies::name, schools::name))
        .select(SCHOOL_COLUMNS)
        .load(conn)?;
    rows.into_iter().map(school_of).collect()
}

/// Makes `user` a member of `school` (again: no change).
pub fn join(
    conn: &mut DbConn,
    user: UserId,
    school: SchoolId,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    let already: i64 = school_members::table
        .find((user.to_string(), school.to_string()))
        .count()
        .get_result(conn)?;
    if already == 0 {
        diesel::insert_into(school_members::table)
            .values((
                school_members::user_id.eq(user.to_string()),
                school_members::school_id.eq(school.to_string()),
                school_members::created_at.eq(to_db(now)),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Ends a membership; true when there was one.
pub fn leave(conn: &mut DbConn, user: UserId, school: SchoolId) -> DomainResult<bool> {
    let n = diesel::delete(school_members::table.find((user.to_string(), school.to_string())))
        .execute(conn)?;
    Ok(n > 0)
}

/// The schools `user` belongs to, by name.
pub fn schools_of(conn: &mut DbConn, user: UserId) -> DomainResult<Vec<School>> {
    let rows: Vec<SchoolRow> = school_members::table
        .inner_join(schools::table.inner_join(organising_bodies::table))
        .filter(school_members::user_id.eq(user.to_string()))
        .order(schools::name)
        .select(SCHOOL_COLUMNS)
        .load(conn)?;
    rows.into_iter().map(school_of).collect()
}

/// A request to change the data a school holds about a person.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeRequest {
    pub id: String,
    pub user_id: UserId,
    pub school_id: SchoolId,
    pub message: String,
    pub created_at: DateTime<Utc>,
    pub handled_at: Option<DateTime<Utc>>,
}

/// Stores a change request of `user` for `school`, which must handle changes by request
/// and count `user` among its members.
pub fn request_change(
    conn: &mut DbConn,
    user: UserId,
    school: SchoolId,
    message: &str,
    now: DateTime<Utc>,
) -> DomainResult<ChangeRequest> {
    use crate::store::schema::change_requests;
    let message = message.trim();
    if message.is_empty() || message.chars().count() > 2000 {
        return Err(DomainError::invalid("message", "1 to 2000 characters"));
    }
    let allowed = schools_of(conn, user)?
        .iter()
        .any(|s| s.id == school && s.data_changes == DataChanges::Request);
    if !allowed {
        return Err(DomainError::invalid(
            "school",
            "a school of the account that handles change requests",
        ));
    }
    let request = ChangeRequest {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: user,
        school_id: school,
        message: message.to_owned(),
        created_at: now,
        handled_at: None,
    };
    diesel::insert_into(change_requests::table)
        .values((
            change_requests::id.eq(&request.id),
            change_requests::user_id.eq(user.to_string()),
            change_requests::school_id.eq(school.to_string()),
            change_requests::message.eq(&request.message),
            change_requests::created_at.eq(to_db(now)),
        ))
        .execute(conn)?;
    Ok(request)
}

/// The change requests of `school`, oldest first; only open ones unless `all`.
pub fn change_requests(
    conn: &mut DbConn,
    school: SchoolId,
    all: bool,
) -> DomainResult<Vec<ChangeRequest>> {
    use crate::store::schema::change_requests;
    let mut query = change_requests::table
        .filter(change_requests::school_id.eq(school.to_string()))
        .order(change_requests::created_at)
        .into_boxed();
    if !all {
        query = query.filter(change_requests::handled_at.is_null());
    }
    let rows: Vec<(
        String,
        String,
        String,
        String,
        chrono::NaiveDateTime,
        Option<chrono::NaiveDateTime>,
    )> = query
        .select((
            change_requests::id,
            change_requests::user_id,
            change_requests::school_id,
            change_requests::message,
            change_requests::created_at,
            change_requests::handled_at,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(id, user, school, message, created, handled)| {
            Ok(ChangeRequest {
                id,
                user_id: UserId::parse(&user)?,
                school_id: SchoolId::parse(&school)?,
                message,
                created_at: super::clock::from_db(created),
                handled_at: handled.map(super::clock::from_db),
            })
        })
        .collect()
}

/// Marks a change request handled; false when there is no such open request.
pub fn handle_change_request(
    conn: &mut DbConn,
    id: &str,
    now: DateTime<Utc>,
) -> DomainResult<bool> {
    use crate::store::schema::change_requests;
    let n = diesel::update(
        change_requests::table
            .find(id)
            .filter(change_requests::handled_at.is_null()),
    )
    .set(change_requests::handled_at.eq(Some(to_db(now))))
    .execute(conn)?;
    Ok(n > 0)
}
