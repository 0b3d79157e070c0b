//! Resource indicators (RFC 8707): a client asks for an access token for one registered
//! API (`resource`), which becomes the token's audience (RFC 9068 §3) instead of the
//! issuer; the token carries only the scopes that API accepts, and only clients the API
//! names may ask for it. `client_credentials` to a named API is the common case.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use super::params::Params;
use super::scope::Scope;
use crate::domain::clients::Client;
use crate::domain::clock::to_db;
use crate::domain::{DomainError, DomainResult, ErrorCode};
use crate::store::DbConn;
use crate::store::schema::resources;

/// A registered API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resource {
    pub uri: String,
    pub name: String,
    /// The scopes it accepts.
    pub scopes: Vec<String>,
    /// The clients that may ask for a token for it.
    pub clients: Vec<String>,
}

fn invalid_target(message: impl Into<std::borrow::Cow<'static, str>>) -> DomainError {
    DomainError::oauth(ErrorCode::InvalidTarget, message)
}

/// Registers (or replaces) an API: an absolute URI without fragment (RFC 8707 §2).
pub fn register(conn: &mut DbConn, api: &Resource, now: DateTime<Utc>) -> DomainResult<()> {
    let url =
        url::Url::parse(&api.uri).map_err(|_| DomainError::invalid("uri", "an absolute URI"))?;
    if url.fragment().is_some() || api.name.trim().is_empty() {
        return Err(DomainError::invalid(
            "uri",
            "an absolute URI without #fragment, and a name",
        ));
    }
    let list =
        |v: &[String]| serde_json::to_string(v).map_err(|e| DomainError::Internal(e.to_string()));
    crate::store::transaction(conn, |conn| {
        diesel::delete(resources::table.find(&api.uri)).execute(conn)?;
        diesel::insert_into(resources::table)
            .values((
                resources::uri.eq(&api.uri),
                resources::name.eq(api.name.trim()),
                resources::scopes.eq(list(&api.scopes)?),
                resources::clients.eq(list(&api.clients)?),
                resources::created_at.eq(to_db(now)),
            ))
            .execute(conn)?;
        Ok(())
    })
}

pub fn list(conn: &mut DbConn) -> DomainResult<Vec<Resource>> {
    let rows: Vec<(String, String, String, String)> = resources::table
        .order(resources::uri)
        .select((
            resources::uri,
            resources::name,
            resources::scopes,
            resources::clients,
        ))
        .load(conn)?;
    rows.into_iter().map(resource_of).collect()
}

fn resource_of(row: (String, String, String, String)) -> DomainResult<Resource> {
    let (uri, name, scopes, clients) = row;
    let list = |text: &str| {
        serde_json::from_str(text).map_err(|_| DomainError::Corrupt(format!("resource {uri}")))
    };
    Ok(Resource {
        scopes: list(&scopes)?,
        clients: list(&clients)?,
        uri,
        name,
    })
}

/// The API a token request names with `resource`, or else the one its grant's
/// authorization request named, once checked (RFC 8707 §2.2: a token request may only
/// narrow to what was authorized).
pub fn target(
    conn: &mut DbConn,
    client: &Client,
    params: &Params,
    granted: Option<&str>,
) -> DomainResult<Option<Resource>> {
    match (params.get("resource"), granted) {
        (Some(asked), Some(granted)) if asked != granted => {
            Err(invalid_target("the resource is not the one authorized"))
        }
        (Some(uri), _) | (None, Some(uri)) => named(conn, client, uri).map(Some),
        (None, None) => Ok(None),
    }
}

/// The registered API `uri`, if open to `client` (RFC 8707 §2: else `invalid_target`).
pub fn named(conn: &mut DbConn, client: &Client, uri: &str) -> DomainResult<Resource> {
    let row: Option<(String, String, String, String)> = resources::table
        .find(uri)
        .select((
            resources::uri,
            resources::name,
            resources::scopes,
            resources::clients,
        ))
        .first(conn)
        .optional()?;
    let Some(api) = row.map(resource_of).transpose()? else {
        return Err(invalid_target("the resource is not a registered API"));
    };
    if !api.clients.iter().any(|c| c == client.id.as_str()) {
        return Err(invalid_target("this client may not ask for that resource"));
    }
    Ok(api)
}

impl Resource {
    /// The scopes of `scope` this API accepts: what a token for it carries.
    pub fn narrow(&self, scope: &Scope) -> Scope {
        scope.only(|s| self.scopes.iter().any(|a| a == s))
    }
}
