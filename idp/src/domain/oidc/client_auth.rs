//! Client authentication at the token, revocation and introspection endpoints
//! (RFC 6749 §2.3, OIDC Core §9, RFC 7523 §3).

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};

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

/// Finds the client and checks it authenticated with its registered method.
pub fn authenticate(
    idp: &Idp,
    conn: &mut DbConn,
    basic: Option<BasicCredentials>,
    params: &Params,
) -> DomainResult<Client> {
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
        let client = clients::find(conn, &basic.client_id)?.ok_or_else(invalid_client)?;
        return check_secret(client, &basic.secret);
    }
    if let Some(secret) = params.get("client_secret") {
        let id = params.get("client_id").ok_or_else(invalid_client)?;
        let client = clients::find(conn, id)?.ok_or_else(invalid_client)?;
        return check_secret(client, secret);
    }
    if let Some(assertion) = assertion {
        if params.get("client_assertion_type") != Some(JWT_BEARER) {
            return Err(DomainError::oauth(
                ErrorCode::InvalidRequest,
                "unsupported client_assertion_type",
            ));
        }
        return check_assertion(idp, conn, assertion, params.get("client_id"));
    }
    let id = params.get("client_id").ok_or_else(invalid_client)?;
    let client = clients::find(conn, id)?.ok_or_else(invalid_client)?;
    if client.token_endpoint_auth_method != AuthMethod::None {
        return Err(invalid_client());
    }
    Ok(client)
}

fn check_secret(client: Client, secret: &str) -> DomainResult<Client> {
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
    if matches && secret_method {
        Ok(client)
    } else {
        Err(invalid_client())
    }
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
) -> DomainResult<Client> {
    // Read unverified only to learn which client's keys to verify with.
    let claims = jsonwebtoken::dangerous::insecure_decode_claims::<AssertionClaims>(assertion)
        .map_err(|_| invalid_client())?;
    if claims.iss != claims.sub || client_id.is_some_and(|c| c != claims.sub) {
        return Err(invalid_client());
    }
    let client = clients::find(conn, &claims.sub)?.ok_or_else(invalid_client)?;
    if client.token_endpoint_auth_method != AuthMethod::PrivateKeyJwt {
        return Err(invalid_client());
    }
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| invalid_client())?;
    let jwks: JwkSet = client
        .jwks
        .clone()
        .and_then(|j| serde_json::from_value(j).ok())
        .ok_or_else(invalid_client)?;
    let jwk = match &header.kid {
        Some(kid) => jwks.find(kid),
        None => jwks.keys.first(),
    }
    .ok_or_else(invalid_client)?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| invalid_client())?;
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[idp.endpoint("/token"), idp.settings.issuer.clone()]);
    validation.set_issuer(&[client.id.as_str()]);
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    jsonwebtoken::decode::<serde_json::Value>(assertion, &key, &validation)
        .map_err(|_| invalid_client())?;
    Ok(client)
}
