//! Token, UserInfo, revocation and introspection endpoints.

use actix_web::http::header::{AUTHORIZATION, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;

use super::{State, parse_pairs, run};
use crate::domain::clients::AuthMethod;
use crate::domain::oidc::client_auth::{self, BasicCredentials};
use crate::domain::oidc::params::Params;
use crate::domain::oidc::tokens;
use crate::domain::{DomainError, DomainResult, ErrorCode};
use crate::web::error::{bearer, no_store, oauth_json};

fn invalid_request(msg: &'static str) -> DomainError {
    DomainError::oauth(ErrorCode::InvalidRequest, msg)
}

/// The form body of a back-channel request (RFC 6749 §4.1.3: form-encoded).
fn form_params(req: &HttpRequest, body: &web::Bytes) -> DomainResult<Params> {
    let is_form = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let text = std::str::from_utf8(body).map_err(|_| invalid_request("the body is not UTF-8"))?;
    Params::from_pairs(parse_pairs(text)?)
}

/// `Authorization: Basic`, whose id and secret are form-encoded first (RFC 6749 §2.3.1).
fn basic_credentials(req: &HttpRequest) -> DomainResult<Option<BasicCredentials>> {
    let Some(value) = req.headers().get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| invalid_request("malformed Authorization header"))?;
    let Some(encoded) = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))
    else {
        return Ok(None);
    };
    let bad = || DomainError::oauth(ErrorCode::InvalidClient, "malformed Basic credentials");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    let unescape = |s: &str| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
            .ok()
            .and_then(|mut v| v.pop())
            .map(|(_, v)| v)
            .ok_or_else(bad)
    };
    Ok(Some(BasicCredentials {
        client_id: unescape(id)?,
        secret: unescape(secret)?,
    }))
}

/// The form parameters and Basic credentials of a back-channel request.
fn backchannel_input(
    req: &HttpRequest,
    body: &web::Bytes,
) -> DomainResult<(Params, Option<BasicCredentials>)> {
    Ok((form_params(req, body)?, basic_credentials(req)?))
}

fn json_no_store(value: impl serde::Serialize) -> HttpResponse {
    let mut b = HttpResponse::Ok();
    no_store(&mut b);
    b.json(value)
}

#[tracing::instrument(skip_all, name = "token")]
pub async fn token(state: State, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let (params, basic) = match backchannel_input(&req, &body) {
        Ok(i) => i,
        Err(e) => return oauth_json(&e),
    };
    let result = match tokens::client_credentials_from_memory(&state.idp, basic.as_ref(), &params) {
        Some(answer) => answer,
        None => {
            run(&state, move |idp, conn| {
                let client = client_auth::authenticate(idp, conn, basic, &params)?;
                tokens::grant(idp, conn, &client, &params)
            })
            .await
        }
    };
    match result {
        Ok(r) => json_no_store(r),
        Err(e) => oauth_json(&e),
    }
}

/// RFC 9126 §2: the pushed authorization request endpoint; 201 with the request URI.
#[tracing::instrument(skip_all, name = "par")]
pub async fn par(state: State, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let (params, basic) = match backchannel_input(&req, &body) {
        Ok(i) => i,
        Err(e) => return oauth_json(&e),
    };
    let result = run(&state, move |idp, conn| {
        let client = client_auth::authenticate(idp, conn, basic, &params)?;
        crate::domain::oidc::par::push(idp, conn, &client, &params)
    })
    .await;
    match result {
        Ok(pushed) => {
            let mut b = HttpResponse::Created();
            no_store(&mut b);
            b.json(pushed)
        }
        Err(e) => oauth_json(&e),
    }
}

#[tracing::instrument(skip_all, name = "revoke")]
pub async fn revoke(state: State, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let (params, basic) = match backchannel_input(&req, &body) {
        Ok(i) => i,
        Err(e) => return oauth_json(&e),
    };
    let result = run(&state, move |idp, conn| {
        let client = client_auth::authenticate(idp, conn, basic, &params)?;
        let token = params.require("token")?;
        tokens::revoke(idp, conn, &client, token)
    })
    .await;
    match result {
        Ok(()) => json_no_store(serde_json::json!({})),
        Err(e) => oauth_json(&e),
    }
}

#[tracing::instrument(skip_all, name = "introspect")]
pub async fn introspect(state: State, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let (params, basic) = match backchannel_input(&req, &body) {
        Ok(i) => i,
        Err(e) => return oauth_json(&e),
    };
    let result = run(&state, move |idp, conn| {
        let client = client_auth::authenticate(idp, conn, basic, &params)?;
        // RFC 7662 §2.1: the caller must be authorised; public clients cannot be.
        if client.token_endpoint_auth_method == AuthMethod::None {
            return Err(DomainError::oauth(
                ErrorCode::InvalidClient,
                "public clients may not introspect",
            ));
        }
        let token = params.require("token")?;
        tokens::introspect(idp, conn, token)
    })
    .await;
    match result {
        Ok(v) => json_no_store(v),
        Err(e) => oauth_json(&e),
    }
}

/// The bearer token from the header or a form body, never both (RFC 6750 §2).
fn bearer_token(req: &HttpRequest, body: &web::Bytes) -> DomainResult<Option<String>> {
    let header = match req.headers().get(AUTHORIZATION) {
        Some(v) => {
            let v = v
                .to_str()
                .map_err(|_| invalid_request("malformed Authorization header"))?;
            let token = v
                .strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
                .ok_or_else(|| invalid_request("the Authorization header must be Bearer"))?;
            Some(token.trim().to_owned())
        }
        None => None,
    };
    let form = if body.is_empty() {
        None
    } else {
        form_params(req, body)?
            .get("access_token")
            .map(str::to_owned)
    };
    match (header, form) {
        (Some(_), Some(_)) => Err(invalid_request("send the token in one place only")),
        (h, f) => Ok(h.or(f)),
    }
}

#[tracing::instrument(skip_all, name = "userinfo")]
pub async fn userinfo(state: State, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let token = match bearer_token(&req, &body) {
        Ok(Some(t)) => t,
        Ok(None) => {
            // RFC 6750 §3.1: no credentials, no error code.
            return HttpResponse::Unauthorized()
                .insert_header(("WWW-Authenticate", "Bearer realm=\"idp\""))
                .finish();
        }
        Err(e) => return bearer(&e),
    };
    match run(&state, move |idp, conn| tokens::userinfo(idp, conn, &token)).await {
        Ok(v) => json_no_store(v),
        Err(e) => bearer(&e),
    }
}
