//! What a client or a person can get wrong: each gets a clear 4xx, never a 500, and never
//! a redirect to an unregistered URI.

use crate::both_backends;
use crate::support::*;

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// The authorization request these tests start from, then bend.
fn pkce_request(server: &TestServer) -> String {
    let pkce = format!("&state=st&nonce=n&code_challenge={CHALLENGE}&code_challenge_method=S256");
    authorize_url(server, "openid profile", &pkce)
}

/// A code from a fresh browser (so each one goes through the login form).
async fn code(server: &TestServer) -> String {
    let back = login_through(
        &browser(),
        server,
        &pkce_request(server),
        USERNAME,
        PASSWORD,
    )
    .await;
    query_param(&back, "code").unwrap()
}

async fn redeem(server: &TestServer, code: &str, verifier: &str) -> (u16, serde_json::Value) {
    token_call(
        &server.base,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ],
    )
    .await
}

async fn bad_redirect_and_client(backend: Backend) {
    let server = TestServer::start(backend).await;
    let b = browser();
    for url in [
        pkce_request(&server).replace(&urlencode(REDIRECT), &urlencode("https://evil.example/cb")),
        pkce_request(&server).replace(
            &urlencode(REDIRECT),
            &urlencode("http://127.0.0.1:9/cb/extra"),
        ),
        pkce_request(&server).replace("client_id=school-app", "client_id=nobody"),
        pkce_request(&server).replace(&format!("&redirect_uri={}", urlencode(REDIRECT)), ""),
        format!("{}&state=again", pkce_request(&server)),
        format!("{}?client_id=%zz", server.url("/authorize")),
    ] {
        let resp = b.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 400, "{url}");
        assert!(
            resp.headers().get("location").is_none(),
            "never redirect: {url}"
        );
        let html = resp.text().await.unwrap();
        assert!(
            html.contains("<html lang=\"fr\""),
            "an error page in French by default"
        );
        // The technical description is for the school's IT, folded away, never beside the
        // person's own language.
        let (shown, folded) = html.split_once("<details").unwrap_or((&html, ""));
        // (The language switch's links return to the same address, parameters included.)
        let shown = shown.split_once("</nav>").map_or(shown, |(_, after)| after);
        assert!(!shown.contains("client_id"), "{html}");
        if url.contains("client_id=nobody") {
            assert!(
                folded.contains("invalid_request: unknown client_id"),
                "{html}"
            );
            assert!(folded.contains("service informatique"), "{html}");
        }
    }
    // Errors after the redirect URI is trusted go back to the client with state and iss.
    for (extra, expected) in [
        ("&code_challenge_method=plain", "invalid_request"),
        ("&prompt=none", "login_required"),
        ("&response_mode=fragment", "invalid_request"),
        ("&max_age=soon", "invalid_request"),
        // OIDC Core §3.1.2.6: the codes of an OP without request objects.
        (
            "&request_uri=https%3A%2F%2Fapp.example%2Freq",
            "request_uri_not_supported",
        ),
        ("&registration=%7B%7D", "registration_not_supported"),
    ] {
        let url = pkce_request(&server).replace("&code_challenge_method=S256", "") + extra;
        let url = if extra.contains("code_challenge_method") {
            url
        } else {
            url + "&code_challenge_method=S256"
        };
        let resp = b.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 303, "{extra}");
        let to = location(&resp);
        assert!(to.starts_with(REDIRECT), "{to}");
        assert_eq!(
            query_param(&to, "error").as_deref(),
            Some(expected),
            "{extra}"
        );
        assert_eq!(query_param(&to, "state").as_deref(), Some("st"));
        assert_eq!(
            query_param(&to, "iss").as_deref(),
            Some(server.base.as_str())
        );
    }
    let resp = b
        .get(pkce_request(&server).replace("response_type=code", "response_type=token"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        query_param(&location(&resp), "error").as_deref(),
        Some("unsupported_response_type")
    );
}
both_backends!(bad_redirect_and_client);

async fn code_replay_pkce_and_expiry(backend: Backend) {
    let server = TestServer::start(backend).await;

    // Replay: the second use fails and revokes what the first issued.
    let c = code(&server).await;
    let (status, first) = redeem(&server, &c, VERIFIER).await;
    assert_eq!(status, 200, "{first}");
    let (status, second) = redeem(&server, &c, VERIFIER).await;
    assert_eq!(
        (status, second["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let resp = reqwest::Client::new()
        .get(server.url("/userinfo"))
        .bearer_auth(first["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "the replayed code's tokens are revoked");
    let (status, _) = token_call(
        &server.base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", first["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(status, 400);

    // PKCE mismatch, and a missing verifier.
    let c = code(&server).await;
    let (status, body) = redeem(&server, &c, "x".repeat(43).as_str()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // An expired code.
    let c = code(&server).await;
    server.clock.advance(chrono::Duration::seconds(120));
    let (status, body) = redeem(&server, &c, VERIFIER).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
}
both_backends!(code_replay_pkce_and_expiry);

async fn client_auth_and_refresh_reuse(backend: Backend) {
    let server = TestServer::start(backend).await;
    let http = reqwest::Client::new();
    let resp = http
        .post(server.url("/token"))
        .basic_auth("school-app", Some("wrong-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().get("www-authenticate").is_some());
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");

    // Reusing a rotated refresh token revokes the whole family.

    let c = code(&server).await;
    let (_, tokens) = redeem(&server, &c, VERIFIER).await;
    let refresh = |token: String| {
        let base = server.base.clone();
        async move {
            token_call(
                &base,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token.as_str()),
                ],
            )
            .await
        }
    };
    let original = tokens["refresh_token"].as_str().unwrap().to_string();
    let (status, rotated) = refresh(original.clone()).await;
    assert_eq!(status, 200);
    let (status, body) = refresh(original).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = refresh(rotated["refresh_token"].as_str().unwrap().to_string()).await;
    assert_eq!(status, 400, "the rotated token died with its family");
}
both_backends!(client_auth_and_refresh_reuse);

async fn malformed_input(backend: Backend) {
    let server = TestServer::start(backend).await;
    let http = reqwest::Client::new();
    // Tampered token at userinfo.
    let (_, tokens) = token_call(&server.base, &[("grant_type", "client_credentials")]).await;
    let token = tokens["access_token"].as_str().unwrap();
    let mut tampered = token.to_string();
    let flip = if tampered.ends_with('A') { "B" } else { "A" };
    tampered.replace_range(tampered.len() - 1.., flip);
    for bad in [tampered.as_str(), "not.a.jwt", "x"] {
        let resp = http
            .get(server.url("/userinfo"))
            .bearer_auth(bad)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
        assert!(
            resp.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("invalid_token")
        );
    }
    // A client-credentials token has no user: not valid at UserInfo.
    let resp = http
        .get(server.url("/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    let token_post = |body: String, content_type: &'static str| {
        let http = http.clone();
        let url = server.url("/token");
        async move {
            let resp = http
                .post(url)
                .header("content-type", content_type)
                .basic_auth("school-app", Some(SECRET))
                .body(body)
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    let form = "application/x-www-form-urlencoded";
    for (body, ct, code) in [
        (
            "grant_type=client_credentials&grant_type=client_credentials".to_string(),
            form,
            "invalid_request",
        ),
        (
            format!("grant_type=client_credentials&scope={}", "a".repeat(5000)),
            form,
            "invalid_request",
        ),
        (
            "{\"grant_type\":\"client_credentials\"}".to_string(),
            "application/json",
            "invalid_request",
        ),
        ("grant_type=%zz".to_string(), form, "unsupported_grant_type"),
        (
            "grant_type=password".to_string(),
            form,
            "unsupported_grant_type",
        ),
        (
            "grant_type=client_credentials&scope=openid".to_string(),
            form,
            "invalid_scope",
        ),
        (
            "grant_type=authorization_code&code=nope&redirect_uri=x".to_string(),
            form,
            "invalid_grant",
        ),
    ] {
        let (status, text) = token_post(body.clone(), ct).await;
        assert_eq!(status, 400, "{body}: {text}");
        assert!(text.contains(code), "{body}: {text}");
    }
    // An oversized body is refused before it is read whole.
    let (status, _) = token_post(
        format!("grant_type=client_credentials&x={}", "a".repeat(200_000)),
        form,
    )
    .await;
    assert!((400..500).contains(&status), "{status}");
    // Unknown paths are a page, not a crash.
    assert_eq!(
        http.get(server.url("/nope")).send().await.unwrap().status(),
        404
    );
}
both_backends!(malformed_input);

async fn login_messages(backend: Backend) {
    let server = TestServer::start(backend).await;
    let b = browser();
    let resp = b
        .get(pkce_request(&server) + "&ui_locales=en")
        .send()
        .await
        .unwrap();
    let login = location(&resp);
    let page = b
        .get(server.url(&login))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("not with your e-mail address"),
        "the identifier hint is visible"
    );
    let submit = |identifier: &'static str, password: &'static str, csrf: String| {
        let b = b.clone();
        let url = server.url("/login");
        let request = input_value(&page, "request");
        async move {
            b.post(url)
                .form(&[
                    ("request", request),
                    ("csrf", csrf),
                    ("identifier", identifier.into()),
                    ("password", password.into()),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let csrf = input_value(&page, "csrf");
    let html = submit("jean.dupont@hotmail.com", PASSWORD, csrf.clone())
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("You typed an e-mail address"), "{html}");
    let wrong_password = submit(USERNAME, "wrong", csrf.clone())
        .await
        .text()
        .await
        .unwrap();
    let unknown_user = submit("nobody.here", "wrong", csrf.clone())
        .await
        .text()
        .await
        .unwrap();
    assert!(wrong_password.contains("Wrong identifier or password."));
    assert!(unknown_user.contains("Wrong identifier or password."));
    let strip = |h: &str| {
        h.replace(&input_value(h, "csrf"), "")
            .replace("nobody.here", "")
            .replace(USERNAME, "")
    };
    assert_eq!(
        strip(&wrong_password),
        strip(&unknown_user),
        "no hint whether the account exists"
    );
    // A forged form without the CSRF token is refused.
    let resp = submit(USERNAME, PASSWORD, "forged".into()).await;
    assert_eq!(resp.status(), 400);
    // Case does not matter in the identifier.
    let resp = submit("Jean.Dupont", PASSWORD, csrf).await;
    assert_eq!(resp.status(), 303);
}
both_backends!(login_messages);

/// The other ways in: POST /authorize with login_hint, client_secret_post, UserInfo with the
/// token in a form body, and introspection refused to public clients.
async fn alternative_transports(backend: Backend) {
    let server = TestServer::start(backend).await;
    let b = browser();
    let resp = b
        .post(server.url("/authorize"))
        .form(&[
            ("response_type", "code"),
            ("client_id", "school-app"),
            ("redirect_uri", REDIRECT),
            ("scope", "openid profile"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("login_hint", USERNAME),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let page = b
        .get(server.url(&location(&resp)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        input_value(&page, "identifier"),
        USERNAME,
        "login_hint pre-fills the identifier"
    );
    let resp = b
        .post(server.url("/login"))
        .form(&login_form(&page, USERNAME, PASSWORD))
        .send()
        .await
        .unwrap();
    let code = query_param(&location(&resp), "code").unwrap();
    let http = reqwest::Client::new();
    let tokens: serde_json::Value = http
        .post(server.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", "school-app"),
            ("client_secret", SECRET),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"]
        .as_str()
        .expect("client_secret_post works");
    let info: serde_json::Value = http
        .post(server.url("/userinfo"))
        .form(&[("access_token", access)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["preferred_username"], USERNAME);
    // Header and body at once is ambiguous (RFC 6750 §2).
    let resp = http
        .post(server.url("/userinfo"))
        .bearer_auth(access)
        .form(&[("access_token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    // Secret in the header and in the body: one method only.
    let resp = http
        .post(server.url("/token"))
        .basic_auth("school-app", Some(SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "school-app"),
            ("client_secret", SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = http
        .post(server.url("/introspect"))
        .form(&[("token", access), ("client_id", "mobile-app")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "public clients may not introspect");
}
both_backends!(alternative_transports);

/// What a page's extractor refuses (a form sent as JSON) is an error page in the person's
/// language, never actix's plain text; the token endpoint keeps its RFC 6749 answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_bodies_get_a_page() {
    let server = TestServer::start(Backend::Sqlite).await;
    let resp = reqwest::Client::new()
        .post(server.url("/forgot"))
        .header("content-type", "application/json")
        .header("accept-language", "nl-BE")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    let kind = resp
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(kind.starts_with("text/html"), "{kind}");
    let html = resp.text().await.unwrap();
    assert!(html.contains("<html lang=\"nl\""), "{html}");
    assert!(html.contains("id=\"error-detail\""), "{html}");
    let (status, body) = token_call(&server.base, &[("grant_type", "nonsense")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
}
