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

/// Ready when the database answers.
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
