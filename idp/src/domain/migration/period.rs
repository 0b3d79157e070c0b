//! An organising body's migration period: while it lasts, the login page says "your
//! account has probably been moved; you only need to choose a new password" (the CREOS
//! guide's notice), and the forgot-password confirmation tells people who receive nothing
//! that their account may not have been moved yet, and whom to contact.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use diesel::prelude::*;
use serde::Serialize;

use crate::domain::types::OrganisingBodyId;
use crate::domain::{DomainError, DomainResult};
use crate::i18n::Locale;
use crate::store::schema::migration_periods;
use crate::store::{self, DbConn};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Period {
    pub organising_body: OrganisingBodyId,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    /// The notice's text per language; the built-in one where none is set.
    pub notices: BTreeMap<String, String>,
    /// Whom to contact when no mail comes (an address, a phone number, an office).
    pub contact: Option<String>,
}

impl Period {
    /// The organising body's own notice in `locale`, if it wrote one.
    pub fn notice(&self, locale: Locale) -> Option<&str> {
        self.notices.get(locale.as_str()).map(String::as_str)
    }
}

/// Sets (or replaces) an organising body's migration period.
pub fn set(conn: &mut DbConn, period: &Period) -> DomainResult<()> {
    if period.ends_on < period.starts_on {
        return Err(DomainError::invalid(
            "ends_on",
            "a date on or after starts_on",
        ));
    }
    for (language, text) in &period.notices {
        if Locale::parse(language).is_none() || text.trim().is_empty() || text.len() > 1000 {
            return Err(DomainError::invalid(
                "notice",
                "LANGUAGE=TEXT with a language of fr, nl, en, de and 1 to 1000 characters",
            ));
        }
    }
    let notices =
        serde_json::to_string(&period.notices).map_err(|e| DomainError::Internal(e.to_string()))?;
    let body = period.organising_body.to_string();
    store::transaction(conn, |conn| {
        diesel::delete(migration_periods::table.find(&body)).execute(conn)?;
        diesel::insert_into(migration_periods::table)
            .values((
                migration_periods::organising_body_id.eq(&body),
                migration_periods::starts_on.eq(period.starts_on),
                migration_periods::ends_on.eq(period.ends_on),
                migration_periods::notices.eq(&notices),
                migration_periods::contact.eq(period.contact.as_deref()),
            ))
            .execute(conn)?;
        Ok(())
    })
}

/// The migration period running on `today` (in the organising body's zone). Pages are not tied to an organising body yet
/// (relying apps will be): with one body migrating, its period is the one; with several at
/// once, none is shown rather than another body's.
pub fn current(conn: &mut DbConn, today: NaiveDate) -> DomainResult<Option<Period>> {
    type Row = (String, NaiveDate, NaiveDate, String, Option<String>);
    let rows: Vec<Row> = migration_periods::table
        .filter(migration_periods::starts_on.le(today))
        .filter(migration_periods::ends_on.ge(today))
        .select((
            migration_periods::organising_body_id,
            migration_periods::starts_on,
            migration_periods::ends_on,
            migration_periods::notices,
            migration_periods::contact,
        ))
        .limit(2)
        .load(conn)?;
    let mut rows = rows;
    if rows.len() != 1 {
        return Ok(None);
    }
    let Some((body, starts_on, ends_on, notices, contact)) = rows.pop() else {
        return Ok(None);
    };
    Ok(Some(Period {
        organising_body: OrganisingBodyId::parse(&body)?,
        starts_on,
        ends_on,
        notices: serde_json::from_str(&notices).map_err(|e| DomainError::Corrupt(e.to_string()))?,
        contact,
    }))
}
