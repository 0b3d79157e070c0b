//! Personal-data requests: everything the STS holds about one person, as one JSON
//! document a data-protection officer can hand over (GDPR art. 15, access; no secret is in
//! it: password hashes, reset codes, session and token secrets are keys to the account,
//! not data about the person), and the account's erasure (art. 17).

use diesel::prelude::*;
use serde_json::{Value, json};

use super::clock::from_db;
use super::users::User;
use super::{DomainResult, links, schools, upstream};
use crate::store::DbConn;
use crate::store::schema::{
    audit_events, grants, mail_outbox, sso_sessions, terms, terms_acceptances, users,
};

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

/// Erases `user` (GDPR art. 17): its sessions end (the applications hear it by
/// back-channel logout), its mail waiting or sent is deleted, the account goes with
/// everything hanging from it (schools, co-accounts, links, grants, resets, roles, terms
/// accepted), and the audit events about it keep a random pseudonym and lose their detail
/// (an address, an identifier). Returns the pseudonym.
pub fn erase(
    conn: &mut DbConn,
    user: &User,
    by: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> DomainResult<String> {
    let pseudonym = format!("erased-{}", uuid::Uuid::new_v4().simple());
    let id = user.id.to_string();
    crate::store::transaction(conn, |conn| {
        super::oidc::sessions::end_all_for_user(conn, user.id, now)?;
        if let Some(email) = &user.email {
            let pattern = format!("%{}%", email.as_str());
            diesel::delete(mail_outbox::table.filter(mail_outbox::recipient.like(pattern)))
                .execute(conn)?;
        }
        diesel::update(audit_events::table.filter(audit_events::user_id.eq(&id)))
            .set((
                audit_events::user_id.eq(&pseudonym),
                audit_events::detail.eq(""),
            ))
            .execute(conn)?;
        diesel::delete(users::table.find(&id)).execute(conn)?;
        let detail = format!("{pseudonym} (by {by})");
        super::audit::Event::new(super::audit::Kind::AccountErased)
            .detail(&detail)
            .record(conn, now)?;
        Ok(pseudonym.clone())
    })
}
