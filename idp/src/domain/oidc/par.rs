//! Pushed Authorization Requests (RFC 9126): a client sends its authorization request on
//! the back channel, authenticated, and gets a `request_uri` for the browser to bring to
//! the authorization endpoint; the request's parameters never travel through the browser.
//! A client can be required to push every request (§6).

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde::Serialize;

use super::authorize::{self, Validated};
use super::params::Params;
use crate::crypto;
use crate::domain::clients::Client;
use crate::domain::clock::{from_db, to_db};
use crate::domain::{DomainError, DomainResult, ErrorCode, Idp};
use crate::store::DbConn;
use crate::store::schema::{clients, pushed_requests};

/// The prefix of the request URIs this STS hands out (RFC 9126 §2.2).
pub const URN: &str = "urn:ietf:params:oauth:request_uri:";
/// How long a pushed request waits for its browser (§2.2: short, "e.g. 5–600 seconds").
const LIFETIME_SECONDS: i64 = 90;
/// Parameters of the client's authentication, not of its request.
const CLIENT_AUTH: [&str; 3] = ["client_secret", "client_assertion", "client_assertion_type"];

/// The answer to a push (§2.2).
#[derive(Debug, Clone, Serialize)]
pub struct Pushed {
    pub request_uri: String,
    pub expires_in: i64,
}

fn invalid(message: &'static str) -> DomainError {
    DomainError::oauth(ErrorCode::InvalidRequest, message)
}

/// Checks the request `client` pushed as the authorization endpoint would, and keeps it.
pub fn push(
    idp: &Idp,
    conn: &mut DbConn,
    client: &Client,
    params: &Params,
) -> DomainResult<Pushed> {
    if params.get("request_uri").is_some() {
        return Err(invalid(
            "a pushed request cannot carry request_uri (RFC 9126 §2.1)",
        ));
    }
    if params
        .get("client_id")
        .is_some_and(|id| id != client.id.as_str())
    {
        return Err(invalid("client_id is not the authenticated client"));
    }
    let mut pairs: Vec<(String, String)> = params
        .pairs()
        .into_iter()
        .filter(|(k, _)| !CLIENT_AUTH.contains(&k.as_str()) && k != "client_id")
        .collect();
    pairs.push(("client_id".into(), client.id.to_string()));
    // A pushed request may be a request object too (RFC 9126 §3).
    let pairs = super::request_object::expand(idp, conn, pairs)?;
    match authorize::validate(idp, conn, pairs.clone(), true) {
        Validated::Valid(_) => {}
        Validated::Refused(_, e) | Validated::Untrusted(e) => return Err(e),
    }
    let id = crypto::random_token()?;
    let now = idp.now();
    let text = serde_json::to_string(&pairs).map_err(|e| DomainError::Internal(e.to_string()))?;
    diesel::insert_into(pushed_requests::table)
        .values((
            pushed_requests::id_hash.eq(crypto::sha256(id.as_bytes())),
            pushed_requests::client_id.eq(client.id.as_str()),
            pushed_requests::params.eq(text),
            pushed_requests::created_at.eq(to_db(now)),
            pushed_requests::expires_at.eq(to_db(now + Duration::seconds(LIFETIME_SECONDS))),
        ))
        .execute(conn)?;
    Ok(Pushed {
        request_uri: format!("{URN}{id}"),
        expires_in: LIFETIME_SECONDS,
    })
}

/// The parameters of the pushed request `request_uri` names, taken once, for the client
/// the browser's request names (§4).
pub fn take(
    conn: &mut DbConn,
    client_id: Option<&str>,
    request_uri: &str,
    now: DateTime<Utc>,
) -> DomainResult<Vec<(String, String)>> {
    let unusable = || {
        DomainError::oauth(
            ErrorCode::InvalidRequestUri,
            "the request_uri is unknown, used or expired",
        )
    };
    let id = request_uri.strip_prefix(URN).ok_or_else(unusable)?;
    let key = crypto::sha256(id.as_bytes());
    let row: Option<(String, String, chrono::NaiveDateTime)> =
        crate::store::transaction(conn, |conn| {
            let row = pushed_requests::table
                .find(&key)
                .select((
                    pushed_requests::client_id,
                    pushed_requests::params,
                    pushed_requests::expires_at,
                ))
                .first(conn)
                .optional()?;
            diesel::delete(pushed_requests::table.find(&key)).execute(conn)?;
            Ok::<_, DomainError>(row)
        })?;
    let Some((owner, text, expires_at)) = row else {
        return Err(unusable());
    };
    if from_db(expires_at) <= now || client_id != Some(owner.as_str()) {
        return Err(unusable());
    }
    serde_json::from_str(&text).map_err(|e| DomainError::Corrupt(format!("pushed request: {e}")))
}

/// Whether client `id` must push its requests.
pub fn required(conn: &mut DbConn, id: &str) -> DomainResult<bool> {
    Ok(clients::table
        .find(id)
        .select(clients::require_pushed_authorization_requests)
        .first::<bool>(conn)
        .optional()?
        .unwrap_or(false))
}

/// Requires client `id` to push its requests, or no longer.
pub fn set_required(conn: &mut DbConn, id: &str, required: bool) -> DomainResult<()> {
    let changed = diesel::update(clients::table.find(id))
        .set(clients::require_pushed_authorization_requests.eq(required))
        .execute(conn)?;
    if changed == 0 {
        return Err(DomainError::NotFound(format!("client {id}").into()));
    }
    Ok(())
}

/// Removes pushed requests that expired.
pub fn purge(conn: &mut DbConn, now: DateTime<Utc>) -> DomainResult<usize> {
    Ok(
        diesel::delete(pushed_requests::table.filter(pushed_requests::expires_at.lt(to_db(now))))
            .execute(conn)?,
    )
}
