//! The one place where domain errors become HTTP answers: status codes and RFC 6749 §5.2
//! JSON bodies, RFC 6750 §3 bearer challenges, or error pages.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
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

/// Seconds a `503 Service Unavailable` asks the caller to wait before trying again.
pub const RETRY_AFTER_SECONDS: u32 = 5;

fn log(err: &DomainError) {
    if let Some(refused) = err.refused_write() {
        tracing::error!(error = %err, cause = refused.explanation(), "the database refused a write");
        crate::metrics::refused_write(refused.name());
    } else if err.is_client_error() {
        tracing::info!(error = %err, "request refused");
    } else if err.code() == ErrorCode::TemporarilyUnavailable {
        tracing::warn!(error = %err, "request refused for now");
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
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut builder = HttpResponse::build(status);
    no_store(&mut builder);
    retry_after(&mut builder, status);
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
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    let challenge = format!(
        "Bearer realm=\"idp\", error=\"{}\", error_description=\"{}\"",
        code.as_str(),
        description(err).replace('"', "'")
    );
    let mut builder = HttpResponse::build(status);
    no_store(&mut builder);
    retry_after(&mut builder, status);
    builder
        .insert_header((header::WWW_AUTHENTICATE, challenge))
        .json(json!({ "error": code.as_str(), "error_description": description(err) }))
}

/// `Retry-After` on a 503 (RFC 9110 §10.2.3): when to try again.
pub fn retry_after(builder: &mut actix_web::HttpResponseBuilder, status: StatusCode) {
    if status == StatusCode::SERVICE_UNAVAILABLE {
        builder.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECONDS));
    }
}

/// A domain error that ends a page request. Page handlers return
/// `Result<HttpResponse, ErrorPage>` and use `?`; `handlers::render_error_page`, wrapped
/// around every route, writes the page in the visitor's language (it has the request and
/// the templates, which `ResponseError` has not).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ErrorPage(#[from] pub DomainError);

impl ResponseError for ErrorPage {
    /// A client's error is a 400; ours a 500 (and is logged as such); too busy or the
    /// database out of reach, a 503.
    fn status_code(&self) -> StatusCode {
        if self.0.is_client_error() {
            StatusCode::BAD_REQUEST
        } else if self.0.code() == ErrorCode::TemporarilyUnavailable {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }

    fn error_response(&self) -> HttpResponse {
        log(&self.0);
        HttpResponse::new(self.status_code())
    }
}

impl ErrorPage {
    /// The message key the page shows, and the technical detail for the school's IT: the
    /// RFC 6749 code and description of a client's error; nothing of our own failures.
    pub fn message(&self) -> (&'static str, Option<String>) {
        if self.0.is_client_error() {
            let code = self.0.code().as_str();
            (
                "error-bad-request",
                Some(format!("{code}: {}", description(&self.0))),
            )
        } else if self.0.refused_write().is_some() {
            ("error-not-saved", None)
        } else if self.0.code() == ErrorCode::TemporarilyUnavailable {
            ("error-unavailable", None)
        } else {
            ("error-internal", None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Too busy or the database away: 503 with `Retry-After` and RFC 6749's
    /// `temporarily_unavailable`, on the token endpoint, UserInfo and pages alike.
    #[test]
    fn unavailable_is_503_with_retry_after() {
        let busy = || DomainError::Unavailable("the database is out of reach".into());
        for answer in [oauth_json(&busy()), bearer(&busy())] {
            assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(
                answer
                    .headers()
                    .get(header::RETRY_AFTER)
                    .map(|v| v.as_bytes()),
                Some(&b"5"[..])
            );
        }
        let page = ErrorPage(busy());
        assert_eq!(page.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(page.message(), ("error-unavailable", None));
        assert_eq!(busy().code().as_str(), "temporarily_unavailable");
        assert!(!busy().is_client_error());
    }
}
