//! Pushed Authorization Requests (RFC 9126), the `openidconnect` relying party's own
//! request pushed over raw HTTP (the crate has no PAR support), then redeemed by it.

use crate::both_backends;
use crate::support::*;

/// Pushes `pairs` as `client` (Basic, with `secret`): the status and the JSON answer.
async fn push(
    server: &TestServer,
    client: &str,
    secret: &str,
    pairs: &[(String, String)],
) -> (u16, serde_json::Value) {
    let resp = reqwest::Client::new()
        .post(server.url("/par"))
        .basic_auth(client, Some(secret))
        .form(pairs)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    assert_eq!(resp.headers().get("cache-control").unwrap(), "no-store");
    (status, resp.json().await.unwrap())
}

/// The query of an authorization URL as pairs.
fn pairs_of(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A pushed request logs in and is redeemed; its URI works once, for its client only,
/// within its lifetime; a bad request is refused at the push; a client may be required to
/// push.
async fn pushed_authorization_requests(backend: Backend) {
    let server = TestServer::start(backend).await;
    let discovery: serde_json::Value =
        reqwest::get(server.url("/.well-known/openid-configuration"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(
        discovery["pushed_authorization_request_endpoint"],
        server.url("/par")
    );

    let (rp, http) = relying_party(&server, "school-app", Some(SECRET)).await;
    let request = rp_request(&rp, &["email"]);
    let (status, pushed) = push(&server, "school-app", SECRET, &pairs_of(&request.url)).await;
    assert_eq!(status, 201, "{pushed}");
    assert_eq!(pushed["expires_in"], 90);
    let uri = pushed["request_uri"].as_str().unwrap().to_owned();
    assert!(uri.starts_with("urn:ietf:params:oauth:request_uri:"));
    let by_reference = format!(
        "{}?client_id=school-app&request_uri={}",
        server.url("/authorize"),
        urlencode(&uri)
    );
    let browser = browser();
    let back = login_through(&browser, &server, &by_reference, USERNAME, PASSWORD).await;
    let (_, claims) = rp_redeem(&rp, &http, query_param(&back, "code").unwrap(), request).await;
    assert_eq!(
        claims.email().map(|e| e.as_str()),
        Some("jean.dupont@hotmail.com")
    );
    // Once only.
    let again = browser.get(&by_reference).send().await.unwrap();
    assert_eq!(again.status(), 400);
    assert!(
        again.headers().get("location").is_none(),
        "never a redirect"
    );

    // Another client's URI; an expired one.
    let request = rp_request(&rp, &[]);
    let (_, pushed) = push(&server, "school-app", SECRET, &pairs_of(&request.url)).await;
    let uri = pushed["request_uri"].as_str().unwrap();
    let foreign = format!(
        "{}?client_id=mobile-app&request_uri={}",
        server.url("/authorize"),
        urlencode(uri)
    );
    assert_eq!(browser.get(&foreign).send().await.unwrap().status(), 400);
    let (_, pushed) = push(&server, "school-app", SECRET, &pairs_of(&request.url)).await;
    server.clock.advance(chrono::Duration::seconds(91));
    let late = format!(
        "{}?client_id=school-app&request_uri={}",
        server.url("/authorize"),
        urlencode(pushed["request_uri"].as_str().unwrap())
    );
    assert_eq!(browser.get(&late).send().await.unwrap().status(), 400);

    // Refused at the push: an unregistered redirect URI, a request_uri inside, a wrong
    // secret.
    let mut bad = pairs_of(&rp_request(&rp, &[]).url);
    for (k, v) in bad.iter_mut() {
        if k == "redirect_uri" {
            *v = "https://evil.example/cb".into();
        }
    }
    let (status, error) = push(&server, "school-app", SECRET, &bad).await;
    assert_eq!(
        (status, error["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let mut nested = pairs_of(&rp_request(&rp, &[]).url);
    nested.push((
        "request_uri".into(),
        "urn:ietf:params:oauth:request_uri:x".into(),
    ));
    let (status, _) = push(&server, "school-app", SECRET, &nested).await;
    assert_eq!(status, 400);
    let (status, error) = push(
        &server,
        "school-app",
        "wrong",
        &pairs_of(&rp_request(&rp, &[]).url),
    )
    .await;
    assert_eq!(
        (status, error["error"].as_str()),
        (401, Some("invalid_client"))
    );

    // A client that must push: its request through the browser is refused.
    {
        let mut conn = server.idp.conn().unwrap();
        idp::domain::oidc::par::set_required(&mut conn, "school-app", true).unwrap();
    }
    let resp = browser.get(&rp_request(&rp, &[]).url).send().await.unwrap();
    let to = location(&resp);
    assert!(to.starts_with(REDIRECT), "{to}");
    assert_eq!(
        query_param(&to, "error").as_deref(),
        Some("invalid_request")
    );
    let request = rp_request(&rp, &[]);
    let (_, pushed) = push(&server, "school-app", SECRET, &pairs_of(&request.url)).await;
    let by_reference = format!(
        "{}?client_id=school-app&request_uri={}",
        server.url("/authorize"),
        urlencode(pushed["request_uri"].as_str().unwrap())
    );
    let resp = browser.get(&by_reference).send().await.unwrap();
    assert!(
        location(&resp).starts_with(REDIRECT),
        "the SSO session answers the pushed request"
    );
}
both_backends!(pushed_authorization_requests);
