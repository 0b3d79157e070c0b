//! Client authentication at the token, revocation and introspection endpoints
//! (RFC 6749 §2.3, OIDC Core §9, RFC 7523 §3).

use std::sync::Arc;

use jsonwebtoken::Validation;

use super::params::Params;
use crate::crypto;
use crate::domain::clients::{self, AuthMethod, Client};
use crate::domain::{DomainError, DomainResult, ErrorCode, Idp};
use crate::store::DbConn;

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Credentials from the `Authorization: Basic` header, already decoded.
#[derive(Debug, Clone)]
pub struct BasicCredentials {
    pub client_id: String,
    pub secret: String,
}

fn invalid_client() -> DomainError {
    DomainError::oauth(ErrorCode::InvalidClient, "client authentication failed")
}

/// How a request names and proves its client (RFC 6749 §2.3, RFC 7523 §2.2): exactly
/// one way.
enum Presented<'a> {
    /// `client_secret_basic` or `client_secret_post`.
    Secret { client_id: &'a str, secret: &'a str },
    /// `private_key_jwt`: a signed assertion, and the `client_id` if one was sent.
    Assertion {
        assertion: &'a str,
        client_id: Option<&'a str>,
    },
    /// A public client: its `client_id` alone.
    Public(&'a str),
}

fn presented<'a>(
    basic: Option<&'a BasicCredentials>,
    params: &'a Params,
) -> DomainResult<Presented<'a>> {
    let assertion = params.get("client_assertion");
    let methods = [
        basic.is_some(),
        params.get("client_secret").is_some(),
        assertion.is_some(),
    ];
    if methods.iter().filter(|m| **m).count() > 1 {
        return Err(DomainError::oauth(
            ErrorCode::InvalidRequest,
            "use exactly one client authentication method",
        ));
    }
    if let Some(basic) = basic {
        return Ok(Presented::Secret {
            client_id: &basic.client_id,
            secret: &basic.secret,
        });
    }
    let client_id = params.get("client_id");
    if let Some(secret) = params.get("client_secret") {
        let client_id = client_id.ok_or_else(invalid_client)?;
        return Ok(Presented::Secret { client_id, secret });
    }
    if let Some(assertion) = assertion {
        if params.get("client_assertion_type") != Some(JWT_BEARER) {
            return Err(DomainError::oauth(
                ErrorCode::InvalidRequest,
                "unsupported client_assertion_type",
            ));
        }
        return Ok(Presented::Assertion {
            assertion,
            client_id,
        });
    }
    client_id.map(Presented::Public).ok_or_else(invalid_client)
}

/// Finds the client and checks it authenticated with its registered method.
pub fn authenticate(
    idp: &Idp,
    conn: &mut DbConn,
    basic: Option<BasicCredentials>,
    params: &Params,
) -> DomainResult<Arc<Client>> {
    match presented(basic.as_ref(), params)? {
        Presented::Secret { client_id, secret } => {
            if let Some(client) = remembered_with(idp, client_id, secret) {
                return Ok(client);
            }
            // Not remembered, or remembered with another secret: the store may know a
            // newer one.
            let client = read(idp, conn, client_id)?;
            secret_matches(&client, secret)
                .then_some(client)
                .ok_or_else(invalid_client)
        }
        Presented::Assertion {
            assertion,
            client_id,
        } => check_assertion(idp, conn, assertion, client_id),
        Presented::Public(client_id) => {
            let client = known(idp, conn, client_id)?;
            if client.token_endpoint_auth_method != AuthMethod::None {
                return Err(invalid_client());
            }
            Ok(client)
        }
    }
}

/// The client of a request whose secret matches what this instance remembers of it
/// (`ClientCache`): authenticated without the store. None when the request needs the
/// store to be judged: nothing fresh remembered, another way of authenticating, a secret
/// that does not match (it may be newer than the memory), a malformed request.
pub fn remembered(
    idp: &Idp,
    basic: Option<&BasicCredentials>,
    params: &Params,
) -> Option<Arc<Client>> {
    match presented(basic, params) {
        Ok(Presented::Secret { client_id, secret }) => remembered_with(idp, client_id, secret),
        _ => None,
    }
}

fn remembered_with(idp: &Idp, client_id: &str, secret: &str) -> Option<Arc<Client>> {
    idp.client_cache
        .fresh(client_id, idp.now())
        .filter(|client| secret_matches(client, secret))
}

/// Client `id`, as this instance remembers it, else from the store.
fn known(idp: &Idp, conn: &mut DbConn, id: &str) -> DomainResult<Arc<Client>> {
    match idp.client_cache.fresh(id, idp.now()) {
        Some(client) => Ok(client),
        None => read(idp, conn, id),
    }
}

/// Client `id` from the store, remembered from now on; gone, it is forgotten.
fn read(idp: &Idp, conn: &mut DbConn, id: &str) -> DomainResult<Arc<Client>> {
    let Some(client) = clients::find(conn, id)? else {
        idp.client_cache.forget(id);
        return Err(invalid_client());
    };
    let client = Arc::new(client);
    idp.client_cache.remember(client.clone(), idp.now());
    Ok(client)
}

/// Whether `secret` is the client's, and the client one that authenticates by secret.
fn secret_matches(client: &Client, secret: &str) -> bool {
    let matches = client
        .secret_hash
        .as_deref()
        .is_some_and(|h| crypto::constant_time_eq(h, &crypto::sha256(secret.as_bytes())));
    // A basic-registered client may also post its secret and vice versa: both are the
    // same secret; what matters is that it is right and the client is confidential.
    let secret_method = matches!(
        client.token_endpoint_auth_method,
        AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost
    );
    matches && secret_method
}

#[derive(Debug, serde::Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
}

/// `private_key_jwt`: a JWT signed by the client's key with iss = sub = client_id and our
/// token endpoint or issuer as audience (RFC 7523 §3).
fn check_assertion(
    idp: &Idp,
    conn: &mut DbConn,
    assertion: &str,
    client_id: Option<&str>,
) -> DomainResult<Arc<Client>> {
    // Read unverified only to learn which client's keys to verify with.
    let claims = jsonwebtoken::dangerous::insecure_decode_claims::<AssertionClaims>(assertion)
        .map_err(|_| invalid_client())?;
    if claims.iss != claims.sub || client_id.is_some_and(|c| c != claims.sub) {
        return Err(invalid_client());
    }
    // Always from the store: keys registered anew must verify at once, and the
    // assertion's use is written there anyway.
    let client = read(idp, conn, &claims.sub)?;
    if client.token_endpoint_auth_method != AuthMethod::PrivateKeyJwt {
        return Err(invalid_client());
    }
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| invalid_client())?;
    let key = client
        .verifying_key(header.kid.as_deref())
        .map_err(|_| invalid_client())?;
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[idp.endpoint("/token"), idp.settings.issuer.clone()]);
    validation.set_issuer(&[client.id.as_str()]);
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    let verified = jsonwebtoken::decode::<VerifiedAssertion>(assertion, &key, &validation)
        .map_err(|_| invalid_client())?
        .claims;
    remember_once(idp, conn, &client, &verified)?;
    Ok(client)
}

/// What is kept of a verified assertion to refuse its replay.
#[derive(serde::Deserialize)]
struct VerifiedAssertion {
    jti: String,
    exp: i64,
}

/// Longest lifetime accepted for an assertion: its `jti` is remembered that long.
const MAX_ASSERTION_LIFETIME: chrono::Duration = chrono::Duration::hours(1);

/// An assertion is used once (OIDC Core §9: `jti` "to prevent the token from being
/// reused"): its client and `jti` are recorded until it expires; a second use, on any
/// instance, fails. The primary key makes two simultaneous uses fail but one.
fn remember_once(
    idp: &Idp,
    conn: &mut DbConn,
    client: &Client,
    assertion: &VerifiedAssertion,
) -> DomainResult<()> {
    use crate::domain::clock::to_db;
    use crate::store::schema::used_client_assertions as used;
    use diesel::prelude::*;
    let now = idp.now();
    let expires_at =
        chrono::DateTime::from_timestamp(assertion.exp, 0).ok_or_else(invalid_client)?;
    if assertion.jti.is_empty() || expires_at > now + MAX_ASSERTION_LIFETIME {
        return Err(invalid_client());
    }
    let id_hash = crypto::sha256(format!("{}\n{}", client.id.as_str(), assertion.jti).as_bytes());
    let seen: i64 = used::table.find(&id_hash).count().get_result(conn)?;
    if seen > 0 {
        return Err(invalid_client());
    }
    diesel::insert_into(used::table)
        .values((
            used::id_hash.eq(&id_hash),
            used::expires_at.eq(to_db(expires_at)),
        ))
        .execute(conn)
        .map_err(|_| invalid_client())?;
    Ok(())
}

/// Forgets assertions that expired before `cutoff`.
pub fn purge_used_assertions(
    conn: &mut DbConn,
    cutoff: chrono::DateTime<chrono::Utc>,
) -> DomainResult<usize> {
    use crate::domain::clock::to_db;
    use crate::store::schema::used_client_assertions as used;
    use diesel::prelude::*;
    Ok(diesel::delete(used::table.filter(used::expires_at.lt(to_db(cutoff)))).execute(conn)?)
}
