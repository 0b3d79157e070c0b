//! The whole flow with `openidconnect` as relying party.

use openidconnect::core::{CoreAuthenticationFlow, CoreUserInfoClaims};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, CsrfToken, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    Scope, TokenResponse,
};

use crate::both_backends;
use crate::support::*;

async fn full_flow(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (client, http) = relying_party(&server, "school-app", Some(SECRET)).await;

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf_state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();

    let browser = browser();
    let back = login_through(&browser, &server, auth_url.as_str(), USERNAME, PASSWORD).await;
    assert!(back.starts_with(REDIRECT), "{back}");
    assert_eq!(
        query_param(&back, "state").as_deref(),
        Some(csrf_state.secret().as_str())
    );
    assert_eq!(
        query_param(&back, "iss").as_deref(),
        Some(server.base.as_str()),
        "RFC 9207 iss"
    );
    let code = query_param(&back, "code").unwrap();

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let id_token = tokens.id_token().expect("an ID token");
    let verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &nonce)
        .expect("signature, issuer, audience and nonce check");
    assert_eq!(
        claims.preferred_username().map(|u| u.as_str()),
        Some(USERNAME)
    );
    assert_eq!(
        claims.email().map(|e| e.as_str()),
        Some("jean.dupont@hotmail.com")
    );
    assert_eq!(claims.email_verified(), Some(true));
    assert!(claims.auth_time().is_some());
    assert_eq!(claims.auth_method_refs().unwrap()[0].as_str(), "pwd");
    assert_eq!(
        *id_token.signing_alg().unwrap(),
        openidconnect::core::CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256
    );
    let at_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&at_hash));
    let sub = claims.subject().clone();

    // The access token is an RFC 9068 JWT.
    let header = jsonwebtoken::decode_header(tokens.access_token().secret()).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert!(header.kid.is_some());

    let info: CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(info.subject(), &sub);
    assert_eq!(
        info.preferred_username().map(|u| u.as_str()),
        Some(USERNAME)
    );

    // Refresh rotates the token.
    let refresh = tokens.refresh_token().expect("a refresh token").clone();
    let refreshed = client
        .exchange_refresh_token(&refresh)
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    let new_refresh = refreshed.refresh_token().unwrap().clone();
    assert_ne!(new_refresh.secret(), refresh.secret());
    let info: CoreUserInfoClaims = client
        .user_info(refreshed.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(info.subject(), &sub);

    // Revoking the refresh token ends its grant: its access tokens stop working too.
    // (openidconnect refuses a non-https revocation URL, so this one call is made by hand.)
    let resp = http
        .post(server.url("/revoke"))
        .basic_auth("school-app", Some(SECRET))
        .form(&[
            ("token", new_refresh.secret().as_str()),
            ("token_type_hint", "refresh_token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        client
            .exchange_refresh_token(&new_refresh)
            .unwrap()
            .request_async(&http)
            .await
            .is_err()
    );
    let revoked: Result<CoreUserInfoClaims, _> = client
        .user_info(refreshed.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await;
    assert!(
        revoked.is_err(),
        "access tokens of a revoked grant are refused"
    );

    // SSO: a second authorization needs no password.
    let (auth_url, _, _) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .url();
    let resp = browser.get(auth_url.as_str()).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    assert!(location(&resp).starts_with(REDIRECT), "SSO session reused");

    // RP-initiated logout ends the SSO session and goes back to the registered URI.
    let logout = format!(
        "{}?id_token_hint={}&post_logout_redirect_uri={}&state=bye-state",
        server.url("/logout"),
        id_token,
        urlencode(POST_LOGOUT)
    );
    let resp = browser.get(&logout).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), format!("{POST_LOGOUT}?state=bye-state"));

    // With the session gone, prompt=none answers login_required.
    let (auth_url, _, _) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_prompt(openidconnect::core::CoreAuthPrompt::None)
        .url();
    let resp = browser.get(auth_url.as_str()).send().await.unwrap();
    let to = location(&resp);
    assert!(to.starts_with(REDIRECT));
    assert_eq!(query_param(&to, "error").as_deref(), Some("login_required"));
}
both_backends!(full_flow);

async fn client_credentials(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (client, http) = relying_party(&server, "school-app", Some(SECRET)).await;
    let tokens = client
        .exchange_client_credentials()
        .unwrap()
        .add_scope(Scope::new("profile".into()))
        .request_async(&http)
        .await
        .unwrap();
    assert!(tokens.id_token().is_none());
    assert!(tokens.refresh_token().is_none());
    // Introspection by an authenticated client says who the token is for.
    let resp = http
        .post(server.url("/introspect"))
        .basic_auth("school-app", Some(SECRET))
        .form(&[("token", tokens.access_token().secret().as_str())])
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["sub"], "school-app");
    assert_eq!(body["scope"], "profile");
    // Revoked, it is no longer active.
    let resp = http
        .post(server.url("/revoke"))
        .basic_auth("school-app", Some(SECRET))
        .form(&[("token", tokens.access_token().secret().as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = http
        .post(server.url("/introspect"))
        .basic_auth("school-app", Some(SECRET))
        .form(&[("token", tokens.access_token().secret().as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body, serde_json::json!({"active": false}));
}
both_backends!(client_credentials);

/// A public client with PKCE and an ES256 ID token.
async fn public_client_pkce(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (client, http) = relying_party(&server, "mobile-app", None).await;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, _, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge)
        .add_extra_param("login_hint", USERNAME)
        .url();
    let back = login_through(&browser(), &server, auth_url.as_str(), USERNAME, PASSWORD).await;
    let code = query_param(&back, "code").unwrap();
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let id_token = tokens.id_token().unwrap();
    id_token
        .claims(&client.id_token_verifier(), &nonce)
        .unwrap();
    assert_eq!(
        *id_token.signing_alg().unwrap(),
        openidconnect::core::CoreJwsSigningAlgorithm::EcdsaP256Sha256
    );
}
both_backends!(public_client_pkce);
