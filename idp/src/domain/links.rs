//! Co-accounts: the people behind an account (a pupil's mother, father or other guardian,
//! a teacher's substitute) have accounts of their own, linked to it with a relation label.
//! Mail about the account (a reset) also goes to them.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::clock::to_db;
use super::types::UserId;
use super::users::{self, User};
use super::{DomainError, DomainResult};
use crate::store::schema::account_links;
use crate::store::{self, DbConn};

/// What a co-account is to the account: "mother", "guardian", "substitute"…
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationLabel(String);

impl RelationLabel {
    pub fn parse(text: &str) -> DomainResult<Self> {
        let text = text.trim();
        if text.is_empty() || text.chars().count() > 64 || text.chars().any(char::is_control) {
            return Err(DomainError::invalid(
                "relation",
                "a label of 1 to 64 printable characters, e.g. mother, guardian, substitute",
            ));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Links `co_account` to `account`; linking again changes the label.
pub fn link(
    conn: &mut DbConn,
    account: UserId,
    co_account: UserId,
    relation: &RelationLabel,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    if account == co_account {
        return Err(DomainError::invalid(
            "co_account",
            "another account than the one it is linked to",
        ));
    }
    store::transaction(conn, |conn| {
        diesel::delete(account_links::table.find((account.to_string(), co_account.to_string())))
            .execute(conn)?;
        diesel::insert_into(account_links::table)
            .values((
                account_links::account_id.eq(account.to_string()),
                account_links::co_account_id.eq(co_account.to_string()),
                account_links::relation.eq(relation.as_str()),
                account_links::created_at.eq(to_db(now)),
            ))
            .execute(conn)?;
        Ok(())
    })
}

/// Removes a link; true when there was one.
pub fn unlink(conn: &mut DbConn, account: UserId, co_account: UserId) -> DomainResult<bool> {
    let n =
        diesel::delete(account_links::table.find((account.to_string(), co_account.to_string())))
            .execute(conn)?;
    Ok(n > 0)
}

fn load(conn: &mut DbConn, ids: Vec<(String, String)>) -> DomainResult<Vec<(User, String)>> {
    let mut out = Vec::with_capacity(ids.len());
    for (id, relation) in ids {
        if let Some(user) = users::find_by_id(conn, UserId::parse(&id)?)? {
            out.push((user, relation));
        }
    }
    Ok(out)
}

/// The co-accounts of `account`, with their relation, oldest link first.
pub fn co_accounts(conn: &mut DbConn, account: UserId) -> DomainResult<Vec<(User, String)>> {
    let ids = account_links::table
        .filter(account_links::account_id.eq(account.to_string()))
        .order(account_links::created_at)
        .select((account_links::co_account_id, account_links::relation))
        .load(conn)?;
    load(conn, ids)
}

/// The accounts `co_account` is linked to (a guardian's children), with the relation.
pub fn accounts_of(conn: &mut DbConn, co_account: UserId) -> DomainResult<Vec<(User, String)>> {
    let ids = account_links::table
        .filter(account_links::co_account_id.eq(co_account.to_string()))
        .order(account_links::created_at)
        .select((account_links::account_id, account_links::relation))
        .load(conn)?;
    load(conn, ids)
}
