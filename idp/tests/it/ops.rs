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

/// `idp user export`: everything the STS holds about a person, as JSON, and no secret.
async fn personal_data_export(backend: Backend) {
    let server = TestServer::start(backend).await;
    let url = authorize_url(&server, "openid", "&state=st");
    login_through(&browser(), &server, &url, USERNAME, PASSWORD).await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_idp"))
        .args(["user", "export", USERNAME])
        .env("IDP_DATABASE_URL", &server.idp.settings.database_url)
        .env("IDP_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let all: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(all["account"]["username"], USERNAME);
    assert_eq!(all["account"]["email"], "jean.dupont@hotmail.com");
    assert_eq!(all["applications"][0]["application"], "school-app");
    assert_eq!(all["sessions"].as_array().unwrap().len(), 1);
    let kinds: Vec<&str> = all["audit_events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"login_succeeded"), "{kinds:?}");
    assert!(
        !text.contains("argon2") && !text.contains(PASSWORD),
        "never a secret"
    );
}
both_backends!(personal_data_export);
