//! Discovery, JWKS and health: served from bytes built ahead of time.

use actix_web::HttpResponse;
use actix_web::web::Bytes;

use super::{State, run};

#[tracing::instrument(skip_all, name = "discovery")]
pub async fn discovery(state: State) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .body(state.discovery_json.clone())
}

#[tracing::instrument(skip_all, name = "jwks")]
pub async fn jwks(state: State) -> HttpResponse {
    let keys = state.idp.keys();
    HttpResponse::Ok()
        .content_type("application/jwk-set+json")
        .insert_header(("Cache-Control", "public, max-age=300"))
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .body(Bytes::copy_from_slice(&keys.jwks_json))
}

/// `/healthz`: the process answers (a liveness probe; it touches nothing else).
pub async fn alive() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(serde_json::json!({"status": "alive"}))
}

/// `/readyz`: the database answers and its schema is what this binary expects (a readiness
/// probe: a load balancer sends nothing to an instance that is not); not while the
/// instance is shutting down (`web::shutdown`).
pub async fn ready(state: State) -> HttpResponse {
    if state.draining.is_draining() {
        return HttpResponse::ServiceUnavailable()
            .insert_header(("Cache-Control", "no-store"))
            .json(serde_json::json!({"status": "shutting down"}));
    }
    let checked = run(&state, |_, conn| {
        use diesel::RunQueryDsl;
        diesel::sql_query("SELECT 1").execute(conn)?;
        crate::store::schema_current(conn)
            .map_err(|e| crate::domain::DomainError::Internal(e.to_string()))
    })
    .await;
    let (ok, why) = match checked {
        Ok(true) => (true, "ready"),
        Ok(false) => (false, "schema not current"),
        Err(e) => {
            tracing::error!(error = %e, "readiness check failed");
            (false, "database unavailable")
        }
    };
    let mut answer = match ok {
        true => HttpResponse::Ok(),
        false => HttpResponse::ServiceUnavailable(),
    };
    answer
        .insert_header(("Cache-Control", "no-store"))
        .json(serde_json::json!({"status": why}))
}

pub async fn health(state: State) -> HttpResponse {
    let ping = run(&state, |_, conn| {
        use diesel::RunQueryDsl;
        diesel::sql_query("SELECT 1").execute(conn)?;
        Ok(())
    })
    .await;
    match ping {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({"status": "ok"})),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({"status": "unavailable"}))
        }
    }
}
