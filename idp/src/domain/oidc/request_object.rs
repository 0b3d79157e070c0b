//! Request objects (RFC 9101, OIDC Core §6.1): the authorization request's parameters as a
//! JWT the client signed with a key of its registered JWK Set, passed as `request`. Its
//! parameters are the request (RFC 9101 §5: those outside it are ignored, and a
//! `client_id` outside must match the one inside); an unsigned one (`alg: none`), a
//! signature by another key, another audience or an expired one is `invalid_request_object`.

use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

use crate::domain::clients::{self, ClientKeyError};
use crate::domain::{DomainError, DomainResult, ErrorCode, Idp};
use crate::store::DbConn;

/// The algorithms a request object may be signed with.
pub const ALGORITHMS: [&str; 2] = ["RS256", "ES256"];

fn invalid(message: &'static str) -> DomainError {
    DomainError::oauth(ErrorCode::InvalidRequestObject, message)
}

/// The request's parameters: the pairs as sent, or, when they carry `request`, the
/// verified request object's.
pub fn expand(
    idp: &Idp,
    conn: &mut DbConn,
    pairs: Vec<(String, String)>,
) -> DomainResult<Vec<(String, String)>> {
    let Some(jwt) = pairs
        .iter()
        .find(|(k, _)| k == "request")
        .map(|(_, v)| v.clone())
    else {
        return Ok(pairs);
    };
    let outer = pairs
        .iter()
        .find(|(k, _)| k == "client_id")
        .map(|(_, v)| v.as_str());
    let client_id = outer.ok_or_else(|| invalid("client_id must accompany request"))?;
    let client = clients::find(conn, client_id)?
        .ok_or_else(|| DomainError::oauth(ErrorCode::InvalidRequest, "unknown client_id"))?;
    let header = jsonwebtoken::decode_header(&jwt).map_err(|_| invalid("request is not a JWT"))?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
        return Err(invalid(
            "the request object must be signed with RS256 or ES256",
        ));
    }
    let key = client.verifying_key(header.kid.as_deref()).map_err(|e| {
        invalid(match e {
            ClientKeyError::NoKeys => "the client registered no keys to sign request objects",
            ClientKeyError::UnknownKey => "the request object's key is not the client's",
            ClientKeyError::Unusable => "the client's key is unusable",
        })
    })?;
    let mut validation = Validation::new(header.alg);
    // RFC 9101 §4: `iss` the client, `aud` this issuer; `exp` when present.
    validation.set_issuer(&[client.id.as_str()]);
    validation.set_audience(&[idp.settings.issuer.as_str()]);
    validation.set_required_spec_claims(&["iss", "aud"]);
    let claims = jsonwebtoken::decode::<Map<String, Value>>(&jwt, &key, &validation)
        .map_err(|_| invalid("the request object's signature, issuer, audience or lifetime"))?
        .claims;
    if claims
        .get("client_id")
        .is_some_and(|inner| inner.as_str() != Some(client_id))
    {
        return Err(invalid(
            "client_id differs inside and outside the request object",
        ));
    }
    let mut inside: Vec<(String, String)> = claims
        .into_iter()
        .filter(|(k, _)| {
            ![
                "iss",
                "aud",
                "exp",
                "iat",
                "nbf",
                "jti",
                "request",
                "request_uri",
            ]
            .contains(&k.as_str())
        })
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (k, text)
        })
        .collect();
    if !inside.iter().any(|(k, _)| k == "client_id") {
        inside.push(("client_id".into(), client_id.to_owned()));
    }
    Ok(inside)
}
