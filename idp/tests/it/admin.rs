//! Keys, encryption at rest, static clients and client authentication by signed JWT.

use std::sync::Arc;

use chrono::Duration;
use diesel::prelude::*;
use idp::config::StaticClient;
use idp::crypto::keys::{self, SigningKey};
use idp::domain::clients::{self, AuthMethod, GrantType, NewClient};
use idp::domain::types::{ClientId, SigningAlg};
use idp::store::schema::signing_keys;

use crate::both_backends;
use crate::support::*;

async fn jwks(server: &TestServer) -> Vec<String> {
    let body: serde_json::Value = reqwest::get(server.url("/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

async fn access_token_kid(server: &TestServer) -> String {
    let (_, body) = token_call(&server.base, &[("grant_type", "client_credentials")]).await;
    jsonwebtoken::decode_header(body["access_token"].as_str().unwrap())
        .unwrap()
        .kid
        .unwrap()
}

/// `idp keys rotate`: the new key is published before it signs; the old one stays
/// published until the tokens it signed have expired.
async fn key_rotation(backend: Backend) {
    let server = TestServer::start(backend).await;
    let before = jwks(&server).await;
    assert_eq!(before.len(), 2, "one RS256 and one ES256 key");
    let old_kid = access_token_kid(&server).await;
    assert!(before.contains(&old_kid));

    let now = server.idp.now();
    let mut conn = server.idp.conn().unwrap();
    let times = idp::domain::keys::RotationTimes {
        lead: Duration::seconds(600),
        max_token_ttl: Duration::seconds(600),
    };
    let created = idp::domain::keys::rotate(&mut conn, None, now, times).unwrap();
    drop(conn);
    server.idp.reload_keys().unwrap();
    let published = jwks(&server).await;
    assert_eq!(published.len(), 4);
    assert!(
        created.iter().all(|k| published.contains(k)),
        "published at once"
    );
    assert_eq!(
        access_token_kid(&server).await,
        old_kid,
        "but not signing yet"
    );

    server.clock.advance(Duration::seconds(601));
    let new_kid = access_token_kid(&server).await;
    assert!(
        created.contains(&new_kid),
        "the new key signs after the lead time"
    );
    assert!(
        jwks(&server).await.contains(&old_kid),
        "the old key stays while its tokens live"
    );

    server.clock.advance(Duration::seconds(601));
    server.idp.reload_keys().unwrap();
    let after = jwks(&server).await;
    assert!(!after.contains(&old_kid), "then it is unpublished");
    assert_eq!(after.len(), 2);
}
both_backends!(key_rotation);

/// With a master key, private keys are stored encrypted and the STS works as usual;
/// without the key it refuses to start instead of signing with nothing.
async fn master_key_encrypts_keys(backend: Backend) {
    let master = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let server = TestServer::start_with(backend, |s| s.master_key = Some(master.into())).await;
    let mut conn = server.idp.conn().unwrap();
    let rows: Vec<(String, String, Vec<u8>, bool)> = signing_keys::table
        .select((
            signing_keys::id,
            signing_keys::alg,
            signing_keys::private_key,
            signing_keys::encrypted,
        ))
        .load(&mut conn)
        .unwrap();
    drop(conn);
    assert_eq!(rows.len(), 2);
    for (kid, alg, private_key, encrypted) in &rows {
        assert!(encrypted);
        assert!(
            SigningKey::from_pkcs8(kid, SigningAlg::parse(alg).unwrap(), private_key).is_err(),
            "not readable without the key"
        );
    }
    assert!(!access_token_kid(&server).await.is_empty());
    let mut settings = server.idp.settings.clone();
    settings.master_key = None;
    let err = idp::app::start(settings, Arc::new(idp::domain::clock::SystemClock))
        .err()
        .unwrap();
    assert!(err.to_string().contains("IDP_MASTER_KEY"), "{err}");
}
both_backends!(master_key_encrypts_keys);

/// `signing_key_rotation_days`: nothing before the period is over; then one rotation,
/// however many instances ask at once, published before it signs, the old key kept until
/// its tokens expired; `idp keys` shows the timeline and the next rotation.
async fn scheduled_rotation(backend: Backend) {
    let server = TestServer::start_with(backend, |s| {
        s.signing_key_rotation_days = 30;
        s.signing_key_publish_lead_seconds = 600;
    })
    .await;
    let old_kid = access_token_kid(&server).await;
    assert_eq!(
        server.idp.rotate_keys_if_due().unwrap(),
        None,
        "not due yet"
    );
    server.clock.advance(Duration::days(29));
    assert_eq!(
        server.idp.rotate_keys_if_due().unwrap(),
        None,
        "still not due"
    );

    server.clock.advance(Duration::days(2));
    // Four instances' janitors at the same moment: one rotation.
    let outcomes: Vec<_> = std::thread::scope(|scope| {
        let asks: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| server.idp.rotate_keys_if_due()))
            .collect();
        asks.into_iter().map(|a| a.join().unwrap()).collect()
    });
    let created: Vec<Vec<String>> = outcomes.into_iter().filter_map(|o| o.unwrap()).collect();
    assert_eq!(created.len(), 1, "exactly one rotation: {created:?}");
    let created = &created[0];
    assert_eq!(
        jwks(&server).await.len(),
        2,
        "the JWKS is read again periodically"
    );
    server.idp.reload_keys().unwrap();
    let published = jwks(&server).await;
    assert_eq!(published.len(), 4);
    assert!(
        created.iter().all(|k| published.contains(k)),
        "published at once"
    );
    assert_eq!(
        access_token_kid(&server).await,
        old_kid,
        "but not signing yet"
    );
    assert_eq!(
        server.idp.rotate_keys_if_due().unwrap(),
        None,
        "the period starts again"
    );

    server.clock.advance(Duration::seconds(601));
    assert!(created.contains(&access_token_kid(&server).await));
    assert!(jwks(&server).await.contains(&old_kid));
    server.clock.advance(Duration::seconds(601));
    server.idp.reload_keys().unwrap();
    assert!(!jwks(&server).await.contains(&old_kid), "then unpublished");

    // The timeline, through the binary (its clock is the real one: the new keys are
    // published and not signing yet, the old ones signing until the switch).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_idp"))
        .args(["--json", "keys"])
        .env("IDP_DATABASE_URL", &server.idp.settings.database_url)
        .env("IDP_SIGNING_KEY_ROTATION_DAYS", "30")
        .env("IDP_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let timeline: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let state_of = |kid: &str| {
        timeline["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid)
            .map(|k| k["state"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(state_of(&old_kid), "signing", "{timeline}");
    assert!(
        created.iter().all(|k| state_of(k) == "published"),
        "{timeline}"
    );
    let next: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(timeline["next_rotation"].clone()).unwrap();
    let expected = server.idp.now() - Duration::seconds(1202) + Duration::days(30);
    assert!(
        (next - expected).num_seconds().abs() < 120,
        "30 days after the new keys were made: {next} vs {expected}"
    );
    let text = std::process::Command::new(env!("CARGO_BIN_EXE_idp"))
        .arg("keys")
        .env("IDP_DATABASE_URL", &server.idp.settings.database_url)
        .env("IDP_LOG", "warn")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("next scheduled rotation:"), "{text}");
    assert!(
        text.contains(&old_kid) && text.contains("signing"),
        "{text}"
    );
}
both_backends!(scheduled_rotation);

/// `idp keys reseal` after a master-key change: every private key and server secret is
/// sealed with the new key, once (a second run finds them current); the STS then starts
/// with the new key and publishes the same keys, and no longer with the old one.
async fn reseal_after_master_key_change(backend: Backend) {
    let old = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let new = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=";
    let server = TestServer::start_with(backend, |s| s.master_key = Some(old.into())).await;
    let kids = jwks(&server).await;
    let dir =
        TempDir(std::env::temp_dir().join(format!("idp-reseal-{}", uuid::Uuid::new_v4().simple())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let old_file = dir.0.join("old.key");
    std::fs::write(&old_file, format!("{old}\n")).unwrap();
    let db = server.idp.settings.database_url.clone();
    let idp = |master: &str, args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_idp"))
            .args(args)
            .env("IDP_DATABASE_URL", &db)
            .env("IDP_MASTER_KEY", master)
            .env("IDP_LOG", "warn")
            .output()
            .unwrap()
    };

    let refused = idp(new, &["keys", "reseal"]);
    assert!(!refused.status.success(), "the old key is needed");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("old"),
        "{refused:?}"
    );
    let out = idp(
        new,
        &[
            "--json",
            "keys",
            "reseal",
            "--old-master-key-file",
            old_file.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let done: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let resealed = done["resealed"].as_array().unwrap();
    assert!(resealed.len() >= 3, "two keys and the CSRF secret: {done}");
    assert!(
        kids.iter()
            .all(|k| resealed.contains(&serde_json::json!(k)))
    );
    let again = idp(new, &["--json", "keys", "reseal"]);
    assert!(again.status.success(), "{again:?}");
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["resealed"], serde_json::json!([]), "{again}");
    assert_eq!(again["current"].as_array().unwrap().len(), resealed.len());

    // (The in-process server keeps its keys in memory; it owns the database, so it stays.)
    let stale = idp(old, &["keys"]);
    assert!(
        !stale.status.success(),
        "the old key opens nothing any more"
    );
    let sts = Spawned::start(&db, &[("IDP_MASTER_KEY", new)]).await;
    let published: serde_json::Value = reqwest::get(format!("{}/jwks", sts.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut served: Vec<String> = published["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect();
    let mut kids = kids;
    served.sort();
    kids.sort();
    assert_eq!(
        served, kids,
        "the same keys, opened with the new master key"
    );
}
both_backends!(reseal_after_master_key_change);

/// Clients from the configuration file are written at start and updated on the next.
async fn static_clients(backend: Backend) {
    let client = |name: &str| StaticClient {
        id: ClientId::parse("configured").unwrap(),
        name: name.into(),
        secret: Some("configured-secret-0123456789-abcdefghij".into()),
        redirect_uris: vec![idp::domain::types::RedirectUri::parse(REDIRECT).unwrap()],
        post_logout_redirect_uris: vec![],
        grant_types: vec!["client_credentials".into()],
        scopes: vec!["profile".into()],
        id_token_signed_response_alg: SigningAlg::RS256,
        token_endpoint_auth_method: None,
        jwks: None,
        backchannel_logout_uri: None,
        frontchannel_logout_uri: None,
    };
    let server = TestServer::start_with(backend, |s| s.clients = vec![client("First name")]).await;
    let resp = reqwest::Client::new()
        .post(server.url("/token"))
        .basic_auth(
            "configured",
            Some("configured-secret-0123456789-abcdefghij"),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut conn = server.idp.conn().unwrap();
    clients::sync_static(&mut conn, &[client("Renamed")], server.idp.now()).unwrap();
    let stored = clients::find(&mut conn, "configured").unwrap().unwrap();
    assert_eq!(stored.name, "Renamed");
    assert!(stored.from_config);
}
both_backends!(static_clients);

/// `private_key_jwt` (RFC 7523): the client proves itself with a JWT signed by its key.
async fn private_key_jwt(backend: Backend) {
    let server = TestServer::start(backend).await;
    let generated = keys::generate(SigningAlg::ES256, "client-key").unwrap();
    let client_key =
        SigningKey::from_pkcs8("client-key", SigningAlg::ES256, &generated.pkcs8).unwrap();
    let mut conn = server.idp.conn().unwrap();
    clients::create(
        &mut conn,
        NewClient {
            id: ClientId::parse("jwt-app").unwrap(),
            name: "JWT app".into(),
            secret: None,
            token_endpoint_auth_method: AuthMethod::PrivateKeyJwt,
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            grant_types: vec![GrantType::ClientCredentials],
            scopes: vec!["profile".into()],
            id_token_signed_response_alg: SigningAlg::RS256,
            jwks: Some(serde_json::json!({ "keys": [generated.public_jwk] })),
        },
        server.idp.now(),
    )
    .unwrap();
    drop(conn);
    let assertion = |key: &SigningKey, aud: String| {
        let now = chrono::Utc::now().timestamp();
        idp::crypto::jws::sign(
            key,
            "JWT",
            &serde_json::json!({ "iss": "jwt-app", "sub": "jwt-app", "aud": aud, "exp": now + 60, "iat": now, "jti": uuid::Uuid::new_v4().to_string() }),
        )
        .unwrap()
    };
    let send = |jwt: String| {
        let url = server.url("/token");
        async move {
            reqwest::Client::new()
                .post(url)
                .form(&[
                    ("grant_type", "client_credentials"),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", jwt.as_str()),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let first = assertion(&client_key, server.url("/token"));
    assert_eq!(send(first.clone()).await, 200);
    assert_eq!(
        send(first).await,
        401,
        "an assertion is used once (OIDC Core §9 jti)"
    );
    assert_eq!(
        send(assertion(&client_key, server.url("/token"))).await,
        200,
        "a fresh assertion works"
    );
    let now = chrono::Utc::now().timestamp();
    let long_lived = idp::crypto::jws::sign(
        &client_key,
        "JWT",
        &serde_json::json!({ "iss": "jwt-app", "sub": "jwt-app", "aud": server.url("/token"), "exp": now + 7200, "iat": now, "jti": "long" }),
    )
    .unwrap();
    assert_eq!(
        send(long_lived).await,
        401,
        "an assertion lives an hour at most"
    );
    let other = keys::generate(SigningAlg::ES256, "client-key").unwrap();
    let other_key = SigningKey::from_pkcs8("client-key", SigningAlg::ES256, &other.pkcs8).unwrap();
    assert_eq!(
        send(assertion(&other_key, server.url("/token"))).await,
        401,
        "a key the client did not register"
    );
    assert_eq!(
        send(assertion(
            &client_key,
            "https://elsewhere.example/token".into()
        ))
        .await,
        401,
        "another audience"
    );
}
both_backends!(private_key_jwt);
