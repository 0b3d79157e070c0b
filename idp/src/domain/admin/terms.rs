//! Terms of use on the screens: each version an organising body published, with how many
//! people accepted it, and publishing a new one (everyone in the body's schools accepts it
//! at their next login). For the body's administrators and the platform's.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::scope::Staff;
use crate::domain::DomainResult;
use crate::domain::audit::Origin;
use crate::domain::schools::OrganisingBody;
use crate::domain::terms::{self, Terms};
use crate::i18n::Locale;
use crate::store::DbConn;

/// One published version and how many accepted it.
#[derive(Debug, Clone, Serialize)]
pub struct Version {
    pub terms: Terms,
    pub accepted: usize,
}

/// An organising body's versions, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct BodyTerms {
    pub body: OrganisingBody,
    pub versions: Vec<Version>,
}

/// The versions of every body `staff` administers.
pub fn overview(conn: &mut DbConn, staff: &Staff) -> DomainResult<Vec<BodyTerms>> {
    let mut out = Vec::new();
    for body in staff.administered_bodies(conn)? {
        let mut versions = Vec::new();
        for terms in terms::list(conn, body.id)? {
            let accepted = terms::acceptances(conn, &terms.id)?.len();
            versions.push(Version { terms, accepted });
        }
        out.push(BodyTerms { body, versions });
    }
    Ok(out)
}

/// Publishes a new version for the body `body_id`; none when `staff` does not administer
/// it (audited). The texts: language → text, French required.
pub fn publish(
    conn: &mut DbConn,
    staff: &Staff,
    body_id: &str,
    version: &str,
    texts: BTreeMap<Locale, String>,
    origin: Origin<'_>,
    now: DateTime<Utc>,
) -> DomainResult<Option<Terms>> {
    let body = staff
        .administered_bodies(conn)?
        .into_iter()
        .find(|b| b.id.to_string() == body_id);
    let Some(body) = body else {
        staff.out_of_scope(conn, &format!("organising body {body_id}"), origin, now)?;
        return Ok(None);
    };
    let texts = texts
        .into_iter()
        .filter(|(_, text)| !text.trim().is_empty())
        .collect();
    terms::publish(conn, body.id, version, texts, now).map(Some)
}
