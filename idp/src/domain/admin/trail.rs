//! The audit trail on the screens: the events of the accounts in the person's scope (the
//! platform's administrators also see events without an account), filtered by account,
//! kind and period, newest first, in pages; and the same as CSV.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::dsl::exists;
use diesel::prelude::*;
use serde::Serialize;

use super::scope::{Access, Staff};
use crate::domain::audit::{Kind, Origin};
use crate::domain::clock::{from_db, to_db};
use crate::domain::types::AccountKind;
use crate::domain::{DomainResult, users};
use crate::store::schema::{account_links, audit_events, school_members, users as users_table};
use crate::store::{DbConn, MultiBackend};

/// Events per page.
pub const PAGE: i64 = 50;
/// At most this many events in one CSV export (a longer period: several exports).
pub const EXPORT_LIMIT: i64 = 100_000;

/// What the screen asks for. `before`: the page after the event (time, id) last shown.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// The account's identifier, as typed.
    pub account: Option<String>,
    pub kind: Option<Kind>,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub before: Option<(DateTime<Utc>, String)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub id: String,
    pub occurred_at: DateTime<Utc>,
    pub kind: String,
    /// The account's identifier, if the event is about one.
    pub account: Option<String>,
    pub client_id: Option<String>,
    pub address: Option<String>,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Page {
    pub entries: Vec<Entry>,
    /// The key of the next (older) page.
    pub next: Option<(DateTime<Utc>, String)>,
}

type Condition = Box<
    dyn BoxableExpression<audit_events::table, MultiBackend, SqlType = diesel::sql_types::Bool>,
>;

/// The event is about an account of one of `schools`, or a co-account of one: the scope
/// of `accounts::in_schools`, correlated with the event's account (diesel cannot carry a
/// boxed condition on `users` into a subquery correlated with `audit_events`).
fn about_members(schools: Vec<String>) -> Condition {
    let member = exists(
        school_members::table
            .filter(school_members::user_id.nullable().eq(audit_events::user_id))
            .filter(school_members::school_id.eq_any(schools.clone())),
    );
    let guardian = exists(
        school_members::table
            .filter(school_members::school_id.eq_any(schools))
            .filter(
                school_members::user_id.eq_any(
                    account_links::table
                        .filter(
                            account_links::co_account_id
                                .nullable()
                                .eq(audit_events::user_id),
                        )
                        .select(account_links::account_id),
                ),
            ),
    );
    Box::new(member.or(guardian))
}

/// The event is about a pupil of one of `schools` (a teacher's view).
fn about_pupils(schools: Vec<String>) -> Condition {
    Box::new(exists(
        users_table::table
            .filter(users_table::id.nullable().eq(audit_events::user_id))
            .filter(users_table::kind.eq(AccountKind::Pupil.as_str()))
            .filter(exists(
                school_members::table
                    .filter(school_members::user_id.eq(users_table::id))
                    .filter(school_members::school_id.eq_any(schools)),
            )),
    ))
}

/// One page of the trail; none when the account asked for is not in scope (audited).
pub fn page(
    conn: &mut DbConn,
    staff: &Staff,
    filter: &Filter,
    origin: Origin<'_>,
    now: DateTime<Utc>,
) -> DomainResult<Option<Page>> {
    let Some(mut rows) = load(conn, staff, filter, PAGE + 1, origin, now)? else {
        return Ok(None);
    };
    let more = rows.len() as i64 > PAGE;
    rows.truncate(PAGE as usize);
    let next = rows
        .last()
        .filter(|_| more)
        .map(|e| (e.occurred_at, e.id.clone()));
    Ok(Some(Page {
        entries: rows,
        next,
    }))
}

/// Every event the filter selects (up to `EXPORT_LIMIT`), for the CSV export.
pub fn export(
    conn: &mut DbConn,
    staff: &Staff,
    filter: &Filter,
    origin: Origin<'_>,
    now: DateTime<Utc>,
) -> DomainResult<Option<Vec<Entry>>> {
    load(conn, staff, filter, EXPORT_LIMIT, origin, now)
}

fn load(
    conn: &mut DbConn,
    staff: &Staff,
    filter: &Filter,
    limit: i64,
    origin: Origin<'_>,
    now: DateTime<Utc>,
) -> DomainResult<Option<Vec<Entry>>> {
    let mut query = audit_events::table.into_boxed();
    if let Some(typed) = filter
        .account
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        let Some(account) = users::find_by_username(conn, typed)? else {
            return Ok(Some(Vec::new()));
        };
        if staff
            .account(conn, &account.id.to_string(), Access::Help, origin, now)?
            .is_none()
        {
            return Ok(None);
        }
        query = query.filter(audit_events::user_id.eq(account.id.to_string()));
    }
    if let Some(managed) = staff.managed_schools() {
        let taught = staff.taught_schools();
        query = query.filter(about_members(managed).or(about_pupils(taught)));
    }
    if let Some(kind) = filter.kind {
        query = query.filter(audit_events::kind.eq(kind.as_str()));
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_events::occurred_at.ge(to_db(from)));
    }
    if let Some(until) = filter.until {
        query = query.filter(audit_events::occurred_at.lt(to_db(until)));
    }
    if let Some((at, id)) = &filter.before {
        let at = to_db(*at);
        query = query.filter(
            audit_events::occurred_at
                .lt(at)
                .or(audit_events::occurred_at
                    .eq(at)
                    .and(audit_events::id.lt(id.clone()))),
        );
    }
    let rows: Vec<EventRow> = query
        .order((audit_events::occurred_at.desc(), audit_events::id.desc()))
        .limit(limit)
        .select((
            audit_events::id,
            audit_events::occurred_at,
            audit_events::kind,
            audit_events::user_id,
            audit_events::client_id,
            audit_events::address,
            audit_events::detail,
        ))
        .load(conn)?;
    let names = identifiers(conn, rows.iter().filter_map(|r| r.3.as_deref()))?;
    Ok(Some(
        rows.into_iter()
            .map(
                |(id, at, kind, user_id, client_id, address, detail)| Entry {
                    id,
                    occurred_at: from_db(at),
                    kind,
                    account: user_id.and_then(|u| names.get(&u).cloned()),
                    client_id,
                    address,
                    detail,
                },
            )
            .collect(),
    ))
}

type EventRow = (
    String,
    NaiveDateTime,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);

/// The identifiers of these accounts, by id (looked up in chunks: an export may name
/// thousands).
fn identifiers<'a>(
    conn: &mut DbConn,
    ids: impl Iterator<Item = &'a str>,
) -> DomainResult<HashMap<String, String>> {
    let wanted: Vec<&str> = ids.collect::<HashSet<_>>().into_iter().collect();
    let mut names = HashMap::with_capacity(wanted.len());
    for chunk in wanted.chunks(500) {
        let rows: Vec<(String, String)> = users_table::table
            .filter(users_table::id.eq_any(chunk))
            .select((users_table::id, users_table::username))
            .load(conn)?;
        names.extend(rows);
    }
    Ok(names)
}
