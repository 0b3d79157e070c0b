//! Terms of use: versioned per organising body, a text per language. The newest version of
//! each body an account belongs to (through its schools) must be accepted at the next login;
//! acceptances are recorded (account, version, time).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use super::clock::{from_db, to_db};
use super::types::{OrganisingBodyId, UserId};
use super::{DomainError, DomainResult};
use crate::i18n::Locale;
use crate::store::DbConn;
use crate::store::schema::{school_members, schools, terms, terms_acceptances};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Terms {
    pub id: String,
    pub organising_body: OrganisingBodyId,
    pub version: String,
    /// Language code → text.
    pub texts: BTreeMap<String, String>,
    pub published_at: DateTime<Utc>,
}

impl Terms {
    /// The text in `locale`, else French, else any.
    pub fn text(&self, locale: Locale) -> &str {
        self.texts
            .get(locale.as_str())
            .or_else(|| self.texts.get("fr"))
            .or_else(|| self.texts.values().next())
            .map_or("", String::as_str)
    }
}

type Row = (String, String, String, String, chrono::NaiveDateTime);

fn from_row(row: Row) -> DomainResult<Terms> {
    let (id, body, version, texts, published_at) = row;
    Ok(Terms {
        id,
        organising_body: OrganisingBodyId::parse(&body)?,
        version,
        texts: serde_json::from_str(&texts).map_err(|e| DomainError::Corrupt(e.to_string()))?,
        published_at: from_db(published_at),
    })
}

const COLUMNS: (
    terms::id,
    terms::organising_body_id,
    terms::version,
    terms::texts,
    terms::published_at,
) = (
    terms::id,
    terms::organising_body_id,
    terms::version,
    terms::texts,
    terms::published_at,
);

/// Publishes a new version for `body`: from now on it is the one to accept. Every text
/// must be non-empty; French, the default language, is required.
pub fn publish(
    conn: &mut DbConn,
    body: OrganisingBodyId,
    version: &str,
    texts: BTreeMap<Locale, String>,
    now: DateTime<Utc>,
) -> DomainResult<Terms> {
    let version = version.trim();
    if version.is_empty() || version.chars().count() > 64 {
        return Err(DomainError::invalid(
            "version",
            "1 to 64 characters, e.g. 2026-09",
        ));
    }
    if texts.values().any(|t| t.trim().is_empty()) || !texts.contains_key(&Locale::Fr) {
        return Err(DomainError::invalid(
            "texts",
            "a non-empty text in French at least",
        ));
    }
    let texts: BTreeMap<String, String> = texts
        .into_iter()
        .map(|(l, t)| (l.as_str().to_owned(), t))
        .collect();
    let taken: i64 = terms::table
        .filter(terms::organising_body_id.eq(body.to_string()))
        .filter(terms::version.eq(version))
        .count()
        .get_result(conn)?;
    if taken > 0 {
        return Err(DomainError::Conflict(
            format!("version {version} is already published").into(),
        ));
    }
    let id = uuid::Uuid::new_v4().to_string();
    diesel::insert_into(terms::table)
        .values((
            terms::id.eq(&id),
            terms::organising_body_id.eq(body.to_string()),
            terms::version.eq(version),
            terms::texts
                .eq(serde_json::to_string(&texts)
                    .map_err(|e| DomainError::Internal(e.to_string()))?),
            terms::published_at.eq(to_db(now)),
        ))
        .execute(conn)?;
    Ok(Terms {
        id,
        organising_body: body,
        version: version.to_owned(),
        texts,
        published_at: now,
    })
}

/// Every version of `body`, newest first.
pub fn list(conn: &mut DbConn, body: OrganisingBodyId) -> DomainResult<Vec<Terms>> {
    let rows: Vec<Row> = terms::table
        .filter(terms::organising_body_id.eq(body.to_string()))
        .order(terms::published_at.desc())
        .select(COLUMNS)
        .load(conn)?;
    rows.into_iter().map(from_row).collect()
}

/// The current terms `user` has not accepted yet: for each organising body of its
/// schools, the newest version, unless accepted.
pub fn owed_by(conn: &mut DbConn, user: UserId) -> DomainResult<Vec<Terms>> {
    let bodies: Vec<String> = school_members::table
        .inner_join(schools::table)
        .filter(school_members::user_id.eq(user.to_string()))
        .select(schools::organising_body_id)
        .distinct()
        .load(conn)?;
    let mut owed = Vec::new();
    for body in bodies {
        let newest: Option<Row> = terms::table
            .filter(terms::organising_body_id.eq(&body))
            .order(terms::published_at.desc())
            .select(COLUMNS)
            .first(conn)
            .optional()?;
        let Some(newest) = newest.map(from_row).transpose()? else {
            continue;
        };
        let accepted: i64 = terms_acceptances::table
            .find((user.to_string(), &newest.id))
            .count()
            .get_result(conn)?;
        if accepted == 0 {
            owed.push(newest);
        }
    }
    Ok(owed)
}

/// Records that `user` accepted `terms` now (again: no change).
pub fn accept(
    conn: &mut DbConn,
    user: UserId,
    terms_id: &str,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    let already: i64 = terms_acceptances::table
        .find((user.to_string(), terms_id))
        .count()
        .get_result(conn)?;
    if already == 0 {
        diesel::insert_into(terms_acceptances::table)
            .values((
                terms_acceptances::user_id.eq(user.to_string()),
                terms_acceptances::terms_id.eq(terms_id),
                terms_acceptances::accepted_at.eq(to_db(now)),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Who accepted a version, and when (for the CLI).
pub fn acceptances(
    conn: &mut DbConn,
    terms_id: &str,
) -> DomainResult<Vec<(UserId, DateTime<Utc>)>> {
    let rows: Vec<(String, chrono::NaiveDateTime)> = terms_acceptances::table
        .filter(terms_acceptances::terms_id.eq(terms_id))
        .order(terms_acceptances::accepted_at)
        .select((terms_acceptances::user_id, terms_acceptances::accepted_at))
        .load(conn)?;
    rows.into_iter()
        .map(|(u, at)| Ok((UserId::parse(&u)?, from_db(at))))
        .collect()
}
