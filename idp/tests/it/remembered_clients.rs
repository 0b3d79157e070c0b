//! Each instance remembers a client it read for `client_cache_seconds` (1 s by default),
//! so that a machine client's `client_credentials` tokens need no database: what the
//! memory answers, and how soon a client changed elsewhere (the command line, another
//! instance) is seen as it is.

use idp::domain::clients::{self, AuthMethod, GrantType, NewClient};
use idp::domain::types::{ClientId, SigningAlg};

use crate::both_backends;
use crate::support::*;

const FIRST_SECRET: &str = "machine-secret-one-0123456789-abcdefghij";
const SECOND_SECRET: &str = "machine-secret-two-0123456789-abcdefghij";

/// Registers the machine client `batch` with `secret`, as the command line would.
fn register(server: &TestServer, secret: &str) {
    let client = NewClient {
        id: ClientId::parse("batch").unwrap(),
        name: "Nightly batch".into(),
        secret: Some(secret.into()),
        token_endpoint_auth_method: AuthMethod::ClientSecretBasic,
        redirect_uris: Vec::new(),
        post_logout_redirect_uris: Vec::new(),
        grant_types: vec![GrantType::ClientCredentials],
        scopes: vec!["profile".into()],
        id_token_signed_response_alg: SigningAlg::RS256,
        jwks: None,
    };
    let mut conn = server.idp.conn().unwrap();
    clients::create(&mut conn, client, server.idp.now()).unwrap();
}

fn unregister(server: &TestServer) {
    clients::delete(&mut server.idp.conn().unwrap(), "batch").unwrap();
}

/// A `client_credentials` grant by `batch` with `secret`: the status and the body.
async fn grant(server: &TestServer, secret: &str, scope: &str) -> (u16, serde_json::Value) {
    let resp = reqwest::Client::new()
        .post(server.url("/token"))
        .basic_auth("batch", Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", scope)])
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

/// The claims of an access token, verified with the STS's published key.
async fn verified_claims(server: &TestServer, token: &str) -> serde_json::Value {
    verified_with_published_keys(server, token, |validation| {
        validation.set_audience(&[server.idp.settings.issuer.as_str()]);
    })
    .await
}

/// Tokens from memory are the store's: the same claims, each its own `jti`, the same
/// refusal of a scope the client may not have.
async fn tokens_from_memory_are_the_stores(backend: Backend) {
    let server = TestServer::start(backend).await;
    register(&server, FIRST_SECRET);
    let (status, read) = grant(&server, FIRST_SECRET, "profile").await;
    assert_eq!(status, 200, "{read}");
    let (status, remembered) = grant(&server, FIRST_SECRET, "profile").await;
    assert_eq!(status, 200, "{remembered}");
    let (a, b) = (
        verified_claims(&server, read["access_token"].as_str().unwrap()).await,
        verified_claims(&server, remembered["access_token"].as_str().unwrap()).await,
    );
    for claim in ["iss", "sub", "aud", "client_id", "scope"] {
        assert_eq!(a[claim], b[claim], "{claim}");
    }
    assert_eq!(b["sub"], "batch");
    assert_ne!(a["jti"], b["jti"]);
    assert_eq!(
        (
            remembered["token_type"].clone(),
            remembered["expires_in"].clone()
        ),
        (read["token_type"].clone(), read["expires_in"].clone())
    );

    let (status, refused) = grant(&server, FIRST_SECRET, "email").await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"], "invalid_scope");
    let (status, refused) = grant(&server, "not-the-secret", "profile").await;
    assert_eq!(status, 401, "{refused}");
    assert_eq!(refused["error"], "invalid_client");
}
both_backends!(tokens_from_memory_are_the_stores);

/// A client given a new secret elsewhere is judged by it at once (a secret the memory
/// does not know is read again from the store, which then replaces the memory); a deleted
/// client is served from memory for at most `client_cache_seconds`, then refused.
/// (A deleted client's tokens issued a moment before live their whole lifetime anyway.)
async fn a_changed_client_is_seen_within_the_memorys_time(backend: Backend) {
    // Half a minute, so that a slow machine cannot outlast the memory between two calls.
    let server = TestServer::start_with(backend, |s| s.client_cache_seconds = 30).await;
    register(&server, FIRST_SECRET);
    assert_eq!(grant(&server, FIRST_SECRET, "profile").await.0, 200);

    unregister(&server);
    register(&server, SECOND_SECRET);
    let (status, body) = grant(&server, SECOND_SECRET, "profile").await;
    assert_eq!(status, 200, "the new secret at once: {body}");
    let (status, body) = grant(&server, FIRST_SECRET, "profile").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "the old secret is forgotten with the old client"
    );

    unregister(&server);
    assert_eq!(
        grant(&server, SECOND_SECRET, "profile").await.0,
        200,
        "remembered for up to client_cache_seconds after it was read"
    );
    server.clock.advance(chrono::Duration::seconds(30));
    let (status, body) = grant(&server, SECOND_SECRET, "profile").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "gone once the memory expires"
    );
}
both_backends!(a_changed_client_is_seen_within_the_memorys_time);
