//! What operators probe and read: liveness and readiness.

use diesel::RunQueryDsl;

use crate::both_backends;
use crate::support::*;

/// `/healthz` answers while the process lives; `/readyz` only while the database answers
/// and its schema is the one this binary carries (a migration missing: not ready).
async fn liveness_and_readiness(backend: Backend) {
    let server = TestServer::start(backend).await;
    let get = |path: &'static str| {
        let url = server.url(path);
        async move {
            let resp = reqwest::get(url).await.unwrap();
            assert_eq!(resp.headers().get("cache-control").unwrap(), "no-store");
            (
                resp.status().as_u16(),
                resp.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    assert_eq!(
        get("/healthz").await,
        (200, serde_json::json!({"status": "alive"}))
    );
    assert_eq!(
        get("/readyz").await,
        (200, serde_json::json!({"status": "ready"}))
    );
    {
        let mut conn = server.idp.conn().unwrap();
        diesel::sql_query(
            "DELETE FROM __diesel_schema_migrations WHERE version = (SELECT MAX(version) FROM __diesel_schema_migrations)",
        )
        .execute(&mut *conn)
        .unwrap();
    }
    assert_eq!(
        get("/readyz").await,
        (503, serde_json::json!({"status": "schema not current"}))
    );
    assert_eq!(get("/healthz").await.0, 200, "alive all the same");
}
both_backends!(liveness_and_readiness);
