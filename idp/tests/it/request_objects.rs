//! Request objects (RFC 9101): the authorization request signed by the client with a key
//! of its registered JWK Set.

use idp::crypto::keys::{self, SigningKey};
use idp::domain::clients::{self, AuthMethod, GrantType, NewClient};
use idp::domain::types::{ClientId, RedirectUri, SigningAlg};

use crate::both_backends;
use crate::support::*;

fn key(kid: &str) -> SigningKey {
    let generated = keys::generate(SigningAlg::ES256, kid).unwrap();
    SigningKey::from_pkcs8(kid, SigningAlg::ES256, &generated.pkcs8).unwrap()
}

fn object(server: &TestServer, aud: &str, client_id: &str) -> serde_json::Value {
    serde_json::json!({
        "iss": "signed-app",
        "aud": aud,
        "exp": server.idp.now().timestamp() + 300,
        "client_id": client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": "openid email",
        "state": "from-the-object",
        "nonce": "n-1",
        "max_age": 3600,
    })
}

async fn signed_request_objects(backend: Backend) {
    let server = TestServer::start(backend).await;
    let own = key("signed-app-key");
    {
        let mut conn = server.idp.conn().unwrap();
        let client = NewClient {
            id: ClientId::parse("signed-app").unwrap(),
            name: "Signed".into(),
            secret: None,
            token_endpoint_auth_method: AuthMethod::PrivateKeyJwt,
            redirect_uris: vec![RedirectUri::parse(REDIRECT).unwrap()],
            post_logout_redirect_uris: Vec::new(),
            grant_types: vec![GrantType::AuthorizationCode],
            scopes: vec!["openid".into(), "email".into()],
            id_token_signed_response_alg: SigningAlg::RS256,
            jwks: Some(serde_json::json!({ "keys": [own.public_jwk] })),
        };
        clients::create(&mut conn, client, server.idp.now()).unwrap();
    }
    let authorize = |jwt: &str, outer: &str| {
        format!(
            "{}?client_id={outer}&scope=openid&request={jwt}",
            server.url("/authorize")
        )
    };
    let sign = |key: &SigningKey, claims: &serde_json::Value| {
        idp::crypto::jws::sign(key, "oauth-authz-req+jwt", claims).unwrap()
    };
    let discovery: serde_json::Value =
        reqwest::get(server.url("/.well-known/openid-configuration"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(discovery["request_parameter_supported"], true);

    // Signed by the client: its parameters are the request (its state comes back).
    let good = sign(&own, &object(&server, &server.base, "signed-app"));
    let back = login_through(
        &browser(),
        &server,
        &authorize(&good, "signed-app"),
        USERNAME,
        PASSWORD,
    )
    .await;
    assert!(back.starts_with(REDIRECT), "{back}");
    assert_eq!(
        query_param(&back, "state").as_deref(),
        Some("from-the-object")
    );
    assert!(query_param(&back, "code").is_some());

    // Refused: unsigned, another key under the client's kid, another audience, another
    // client inside, a client outside that differs.
    let unsigned = {
        use base64::Engine;
        let b64 = |v: &serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        format!(
            "{}.{}.",
            b64(&serde_json::json!({"alg": "none"})),
            b64(&object(&server, &server.base, "signed-app"))
        )
    };
    let forged = sign(
        &key("signed-app-key"),
        &object(&server, &server.base, "signed-app"),
    );
    let elsewhere = sign(
        &own,
        &object(&server, "https://other.example", "signed-app"),
    );
    let inside = sign(&own, &object(&server, &server.base, "school-app"));
    for (name, url) in [
        ("unsigned", authorize(&unsigned, "signed-app")),
        ("forged", authorize(&forged, "signed-app")),
        ("audience", authorize(&elsewhere, "signed-app")),
        ("client inside", authorize(&inside, "signed-app")),
        ("client outside", authorize(&good, "school-app")),
    ] {
        let resp = browser().get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 400, "{name}");
        assert!(
            resp.headers().get("location").is_none(),
            "{name}: never a redirect"
        );
        let page = resp.text().await.unwrap();
        assert!(page.contains("invalid_request_object"), "{name}: {page}");
    }
}
both_backends!(signed_request_objects);
