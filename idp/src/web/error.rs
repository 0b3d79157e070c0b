//! The one place where domain errors become HTTP answers: status codes and RFC 6749 §5.2
//! JSON bodies, RFC 6750 §3 bearer challenges, or error pages.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use serde_json::json;

use crate::domain::{DomainError, ErrorCode};

/// Headers every token-bearing answer carries (RFC 6749 §5.1).
pub fn no_store(
    builder: &mut actix_web::HttpResponseBuilder,
) -> &mut actix_web::HttpResponseBuilder {
    builder
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
}

fn log(err: &DomainError) {
    if err.is_client_error() {
        tracing::info!(error = %err, "request refused");
    } else {
        tracing::error!(error = %err, "request failed");
    }
}

/// The text that explains an error to the caller; internal errors say nothing more.
pub fn description(err: &DomainError) -> String {
    match err {
        DomainError::OAuth { description, .. } => description.to_string(),
        e if e.is_client_error() => e.to_string(),
        _ => "the server could not process the request".into(),
    }
}

/// An error of the token, revocation or introspection endpoint.
pub fn oauth_json(err: &DomainError) -> HttpResponse {
    log(err);
    let code = err.code();
    let status = match code {
        ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut builder = HttpResponse::build(status);
    no_store(&mut builder);
    if code == ErrorCode::InvalidClient {
        builder.insert_header((
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"idp\""),
        ));
    }
    builder.json(json!({ "error": code.as_str(), "error_description": description(err) }))
}

/// An error of a protected resource (UserInfo), RFC 6750 §3.
pub fn bearer(err: &DomainError) -> HttpResponse {
    log(err);
    let code = err.code();
    let status = match code {
        ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    let challenge = format!(
        "Bearer realm=\"idp\", error=\"{}\", error_description=\"{}\"",
        code.as_str(),
        description(err).replace('"', "'")
    );
    let mut builder = HttpResponse::build(status);
    no_store(&mut builder);
    builder
        .insert_header((header::WWW_AUTHENTICATE, challenge))
        .json(json!({ "error": code.as_str(), "error_description": description(err) }))
}

/// The status a page shows for this error.
pub fn page_status(err: &DomainError) -> StatusCode {
    if err.is_client_error() {
        StatusCode::BAD_REQUEST
    } else {
        log(err);
        StatusCode::INTERNAL_SERVER_ERROR
    }
}
