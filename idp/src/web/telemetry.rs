//! What operators see of each request: an id (the `X-Request-Id` a trusted proxy sent, else
//! a new one), echoed in the answer; a span with that id around every log line the request
//! causes, on the workers and on the blocking pool, and the same id on the audit events it
//! records (`domain::audit::during`); one access line per request. The line names the route
//! pattern, never the path or the query: codes, tokens and reset links travel there.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

use super::State;
use crate::domain::types::RequestId;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    /// The request the current task serves; `handlers::run` hands it to the blocking pool.
    static CURRENT: RequestId;
}

/// The id of the request this task serves, if it is serving one.
pub fn current_request() -> Option<RequestId> {
    CURRENT.try_with(Clone::clone).ok()
}

/// The middleware: id, span, access line, response header.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if on_metrics_listener(&req) && req.path() != "/metrics" {
        // The metrics address serves the metrics only.
        let answer = actix_web::HttpResponse::NotFound().finish();
        return Ok(req.into_response(answer).map_into_right_body());
    }
    let id = request_id(&req);
    let span = tracing::info_span!("request", request_id = %id);
    let method = req.method().clone();
    let started = Instant::now();
    let mut res = CURRENT
        .scope(id.clone(), next.call(req))
        .instrument(span.clone())
        .await?;
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "(no route)".to_owned());
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    span.in_scope(|| {
        tracing::info!(
            target: "idp::access",
            %method,
            route = route.as_str(),
            status,
            millis = elapsed.as_millis() as u64,
        )
    });
    crate::metrics::http_request(method_label(&method), route, status, elapsed.as_secs_f64());
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        res.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    Ok(res.map_into_left_body())
}

fn on_metrics_listener(req: &ServiceRequest) -> bool {
    req.app_data::<State>()
        .and_then(|state| state.metrics_address)
        .is_some_and(|addr| addr.port() == req.app_config().local_addr().port())
}

/// A trusted proxy's `X-Request-Id` when it is fit for a log line, else a new id. Anyone
/// else's is ignored: a client must not choose what the audit trail says.
fn request_id(req: &ServiceRequest) -> RequestId {
    let trusted = match (req.app_data::<State>(), req.peer_addr()) {
        (Some(state), Some(peer)) => state.idp.settings.trusted_proxies.trusts(peer.ip()),
        _ => false,
    };
    trusted
        .then(|| req.headers().get(REQUEST_ID_HEADER))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(RequestId::parse)
        .unwrap_or_default()
}

/// Whether `/metrics` answers on the listener `req` came in on: on `metrics_listen` when that
/// is set (so the public listener does not show them), else on the main one.
pub fn metrics_here(state: &State, req: &actix_web::HttpRequest) -> bool {
    state
        .metrics_address
        .is_none_or(|addr| addr.port() == req.app_config().local_addr().port())
}

/// The method as a metric label: the standard ones, else `other` (a client must not be
/// able to grow the label set without end).
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}
