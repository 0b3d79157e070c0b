//! Personal-data requests (GDPR art. 15, the right of access): everything the STS holds
//! about one person, as one JSON document a data-protection officer can hand over. No
//! secret is in it: password hashes, reset codes, session and token secrets are not data
//! about the person but keys to the account.

use diesel::prelude::*;
use serde_json::{Value, json};

use super::clock::from_db;
use super::users::User;
use super::{DomainResult, links, schools, upstream};
use crate::store::DbConn;
use crate::store::schema::{audit_events, grants, sso_sessions, terms, terms_acceptances};

/// The export of `user`: the account and its profile, schools, co-accounts, linked
/// upstream accounts, accepted terms with their versions, applications it logged into,
/// sessions, and the audit events about it.
pub fn export(conn: &mut DbConn, user: &User) -> DomainResult<Value> {
    let id = user.id.to_string();
    let schools: Vec<Value> = schools::schools_of(conn, user.id)?
        .into_iter()
        .map(|s| json!({"school": s.name, "organising_body": s.organising_body.name}))
        .collect();
    let people = |list: Vec<(User, String)>| -> Vec<Value> {
        list.into_iter()
            .map(|(u, relation)| json!({"identifier": u.username, "name": u.name(), "relation": relation}))
            .collect()
    };
    let co_accounts = people(links::co_accounts(conn, user.id)?);
    let co_account_of = people(links::accounts_of(conn, user.id)?);
    let accepted: Vec<(String, String, chrono::NaiveDateTime)> = terms_acceptances::table
        .filter(terms_acceptances::user_id.eq(&id))
        .inner_join(terms::table.on(terms::id.eq(terms_acceptances::terms_id)))
        .order(terms_acceptances::accepted_at)
        .select((
            terms::organising_body_id,
            terms::version,
            terms_acceptances::accepted_at,
        ))
        .load(conn)?;
    let applications: Vec<(String, chrono::NaiveDateTime, Option<chrono::NaiveDateTime>)> =
        grants::table
            .filter(grants::user_id.eq(&id))
            .order(grants::created_at)
            .select((grants::client_id, grants::created_at, grants::revoked_at))
            .load(conn)?;
    let sessions: Vec<(chrono::NaiveDateTime, Option<chrono::NaiveDateTime>)> = sso_sessions::table
        .filter(sso_sessions::user_id.eq(&id))
        .order(sso_sessions::created_at)
        .select((sso_sessions::created_at, sso_sessions::ended_at))
        .load(conn)?;
    type EventRow = (
        chrono::NaiveDateTime,
        String,
        Option<String>,
        Option<String>,
        String,
    );
    let events: Vec<EventRow> = audit_events::table
        .filter(audit_events::user_id.eq(&id))
        .order(audit_events::occurred_at)
        .select((
            audit_events::occurred_at,
            audit_events::kind,
            audit_events::client_id,
            audit_events::address,
            audit_events::detail,
        ))
        .load(conn)?;
    let at = |t: chrono::NaiveDateTime| from_db(t).to_rfc3339();
    Ok(json!({
        "account": user,
        "schools": schools,
        "co_accounts": co_accounts,
        "co_account_of": co_account_of,
        "upstream_accounts": upstream::links::of_user(conn, user.id)?,
        "terms_accepted": accepted.into_iter().map(|(body, version, when)| {
            json!({"organising_body": body, "version": version, "accepted_at": at(when)})
        }).collect::<Vec<_>>(),
        "applications": applications.into_iter().map(|(client, since, revoked)| {
            json!({"application": client, "since": at(since), "revoked_at": revoked.map(at)})
        }).collect::<Vec<_>>(),
        "sessions": sessions.into_iter().map(|(opened, ended)| {
            json!({"opened_at": at(opened), "ended_at": ended.map(at)})
        }).collect::<Vec<_>>(),
        "audit_events": events.into_iter().map(|(when, kind, client, address, detail)| {
            json!({"at": at(when), "kind": kind, "application": client, "address": address, "detail": detail})
        }).collect::<Vec<_>>(),
    }))
}
