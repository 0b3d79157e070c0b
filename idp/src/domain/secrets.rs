//! Server-wide secrets (the CSRF MAC key) generated once and shared through the database.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::DomainResult;
use super::clock::to_db;
use crate::crypto::{random_bytes, sealing::MasterKey};
use crate::store::DbConn;
use crate::store::models::ServerSecretRow;
use crate::store::schema::server_secrets;

/// Returns the secret `name`, creating it if no instance has yet. When two instances race,
/// the insert of the loser fails on the primary key and it reads the winner's value.
pub fn get_or_create(
    conn: &mut DbConn,
    name: &str,
    master: Option<&MasterKey>,
    now: DateTime<Utc>,
) -> DomainResult<Vec<u8>> {
    if let Some(row) = read(conn, name)? {
        return open(row, master);
    }
    let value = random_bytes(32)?;
    let (stored, encrypted) = match master {
        Some(m) => (m.seal(name, &value)?, true),
        None => (value.clone(), false),
    };
    let row = ServerSecretRow {
        name: name.into(),
        value: stored,
        encrypted,
        created_at: to_db(now),
    };
    if diesel::insert_into(server_secrets::table)
        .values(&row)
        .execute(conn)
        .is_err()
        && let Some(row) = read(conn, name)?
    {
        return open(row, master);
    }
    Ok(value)
}

fn read(conn: &mut DbConn, name: &str) -> DomainResult<Option<ServerSecretRow>> {
    Ok(server_secrets::table
        .find(name)
        .select(ServerSecretRow::as_select())
        .first(conn)
        .optional()?)
}

fn open(row: ServerSecretRow, master: Option<&MasterKey>) -> DomainResult<Vec<u8>> {
    if !row.encrypted {
        return Ok(row.value);
    }
    match master {
        Some(m) => Ok(m.open(&row.name, &row.value)?),
        None => Err(super::DomainError::Corrupt(format!(
            "secret {} is encrypted but IDP_MASTER_KEY is not set",
            row.name
        ))),
    }
}
