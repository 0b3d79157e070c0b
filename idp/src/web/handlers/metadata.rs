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

/// `/metrics`: Prometheus metrics (`crate::metrics`), with the outbox's backlog and this
/// instance's database pool read now. On `metrics_listen` only, when that is set.
pub async fn metrics(state: State, req: actix_web::HttpRequest) -> HttpResponse {
    if !crate::web::telemetry::metrics_here(&state, &req) {
        return HttpResponse::NotFound().finish();
    }
    let backlog = run(&state, |idp, conn| {
        crate::domain::mail::outbox_backlog(conn, idp.now())
    })
    .await;
    let pool = state.idp.pool.state();
    let (unsent, oldest) = match backlog {
        Ok(found) => found,
        Err(e) => {
            tracing::error!(error = %e, "metrics: the outbox could not be read");
            (0, None)
        }
    };
    let snapshot = crate::metrics::Snapshot {
        outbox_unsent: unsent,
        outbox_oldest_seconds: oldest.map_or(0.0, |age| age.num_milliseconds() as f64 / 1000.0),
        pool_in_use: pool.connections.saturating_sub(pool.idle_connections),
        pool_idle: pool.idle_connections,
        pool_max: state.idp.pool.max_size(),
    };
    match crate::metrics::render(snapshot) {
        Ok(text) => HttpResponse::Ok()
            .content_type(crate::metrics::CONTENT_TYPE)
            .insert_header(("Cache-Control", "no-store"))
            .body(text),
        Err(e) => {
            tracing::error!(error = %e, "metrics could not be written");
            HttpResponse::InternalServerError().finish()
        }
    }
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
