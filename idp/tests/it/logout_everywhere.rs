//! Logout everywhere: when a session ends, every application it logged into hears it
//! (OpenID Connect Back-Channel Logout 1.0), received here by a real listener on loopback.

use std::sync::{Arc, Mutex};

use chrono::Duration;

use crate::both_backends;
use crate::support::*;

/// An application's back-channel logout endpoint on loopback: records what it receives;
/// answers 500 to the first `failures` requests.
pub(crate) struct Listener {
    pub(crate) base: String,
    pub(crate) received: Arc<Mutex<Vec<(String, String)>>>,
    failures: Arc<Mutex<usize>>,
    _server: Loopback,
}

impl Listener {
    pub(crate) fn start() -> Self {
        use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
        let received = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(Mutex::new(0));
        let (log, fail) = (received.clone(), failures.clone());
        let server = Loopback::start(move |listener| {
            Ok(HttpServer::new(move || {
                let (log, fail) = (log.clone(), fail.clone());
                App::new().default_service(web::to(move |req: HttpRequest, body: String| {
                    let (log, fail) = (log.clone(), fail.clone());
                    async move {
                        let mut left = fail.lock().unwrap();
                        if *left > 0 {
                            *left -= 1;
                            return HttpResponse::InternalServerError().finish();
                        }
                        log.lock().unwrap().push((req.path().to_owned(), body));
                        HttpResponse::Ok().finish()
                    }
                }))
            })
            .workers(1)
            .listen(listener)?
            .run())
        });
        Self {
            base: server.base.clone(),
            received,
            failures,
            _server: server,
        }
    }

    /// Waits (up to 10 s) until `n` requests came; returns them.
    pub(crate) async fn wait_for(&self, n: usize) -> Vec<(String, String)> {
        for _ in 0..100 {
            if self.received.lock().unwrap().len() >= n {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let got = self.received.lock().unwrap().clone();
        assert!(got.len() >= n, "expected {n} logout tokens, got {got:?}");
        got
    }
}

/// The claims of a logout token, its signature checked against the STS's key set.
async fn verified(server: &TestServer, body: &str, audience: &str) -> serde_json::Value {
    let token = body
        .strip_prefix("logout_token=")
        .expect("a form with logout_token");
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    verified_with_published_keys(server, token, |validation| {
        validation.set_audience(&[audience]);
        validation.set_issuer(&[server.base.as_str()]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
    })
    .await
}

/// Two applications logged in through one session on a shared computer: logging out at
/// the STS tells both, once each, with the session's `sid`; a listener that fails at first
/// gets it again later; disabling the account tells them too.
async fn two_apps_hear_one_logout(backend: Backend) {
    let server = TestServer::start(backend).await;
    let apps = Listener::start();
    {
        let mut conn = server.idp.conn().unwrap();
        for app in ["school-app", "mobile-app"] {
            let uri = format!("{}/{app}", apps.base);
            idp::domain::oidc::backchannel::set_uri(&mut conn, app, Some(&uri)).unwrap();
        }
    }
    let browser = browser();
    let (school, http) = relying_party(&server, "school-app", Some(SECRET)).await;
    let request = rp_request(&school, &[]);
    let back = login_through(&browser, &server, &request.url, USERNAME, PASSWORD).await;
    rp_redeem(&school, &http, query_param(&back, "code").unwrap(), request).await;
    let (mobile, http) = relying_party(&server, "mobile-app", None).await;
    let request = rp_request(&mobile, &[]);
    let resp = browser.get(&request.url).send().await.unwrap();
    let back = location(&resp);
    let (tokens, _) = rp_redeem(&mobile, &http, query_param(&back, "code").unwrap(), request).await;
    use openidconnect::TokenResponse;
    let id_token = tokens.id_token().unwrap().to_string();
    let session_sid = {
        use base64::Engine;
        let part = id_token.split('.').nth(1).unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap();
        let payload: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        payload["sid"].as_str().unwrap().to_owned()
    };

    // The school app's listener fails at first: it is tried again.
    *apps.failures.lock().unwrap() = 1;
    let page = browser
        .get(server.url("/logout"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let resp = browser
        .post(server.url("/logout/confirm"))
        .form(&[("csrf", input_value(&page, "csrf"))])
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        200,
        "the page does not wait for the applications"
    );
    let first = apps.wait_for(1).await;
    server.clock.advance(Duration::seconds(31));
    let got = apps.wait_for(2).await;
    assert_eq!(first.len(), 1);
    let mut paths: Vec<&str> = got.iter().map(|(p, _)| p.as_str()).collect();
    paths.sort();
    assert_eq!(paths, ["/mobile-app", "/school-app"]);
    for (path, body) in &got {
        let audience = path.trim_start_matches('/');
        let claims = verified(&server, body, audience).await;
        assert_eq!(claims["sid"], session_sid.as_str());
        assert!(claims["sub"].is_string() && claims["jti"].is_string());
        assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
        assert!(claims.get("nonce").is_none(), "never a nonce (§2.4)");
    }
    // Exactly once each.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(apps.received.lock().unwrap().len(), 2);

    // Disabling the account ends its sessions: the application hears that too.
    let browser = crate::support::browser();
    let request = rp_request(&school, &[]);
    let back = login_through(&browser, &server, &request.url, USERNAME, PASSWORD).await;
    assert!(back.starts_with(REDIRECT));
    {
        let mut conn = server.idp.conn().unwrap();
        let jean = idp::domain::users::find_by_username(&mut conn, USERNAME)
            .unwrap()
            .unwrap();
        idp::domain::users::set_disabled(&mut conn, jean.id, true, server.idp.now()).unwrap();
    }
    let got = apps.wait_for(3).await;
    assert_eq!(got[2].0, "/school-app");
}
both_backends!(two_apps_hear_one_logout);

/// Front-Channel Logout in a real browser: two applications of one session on a shared
/// computer; the STS's logout page loads both applications' logout pages, then returns to
/// the application that asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn front_channel_logout_in_chromium() {
    use crate::browser::{chromium, click_on, type_into, wait_for, wait_for_url};
    use idp::domain::clients::{self, AuthMethod, GrantType, NewClient};
    use idp::domain::types::{ClientId, RedirectUri, SigningAlg};
    let server = TestServer::start(Backend::Sqlite).await;
    let apps = Listener::start();
    for app in ["app-one", "app-two"] {
        let mut conn = server.idp.conn().unwrap();
        let at = |path: &str| RedirectUri::parse(&format!("{}/{app}/{path}", apps.base)).unwrap();
        let client = NewClient {
            id: ClientId::parse(app).unwrap(),
            name: app.into(),
            secret: Some(SECRET.into()),
            token_endpoint_auth_method: AuthMethod::ClientSecretBasic,
            redirect_uris: vec![at("cb")],
            post_logout_redirect_uris: vec![at("bye")],
            grant_types: vec![GrantType::AuthorizationCode],
            scopes: vec!["openid".into()],
            id_token_signed_response_alg: SigningAlg::RS256,
            jwks: None,
        };
        clients::create(&mut conn, client, server.idp.now()).unwrap();
        let uri = at("logout");
        idp::domain::oidc::frontchannel::set_uri(&mut conn, app, Some(uri.as_str())).unwrap();
    }
    let authorize = |app: &str| {
        format!(
            "{}?response_type=code&client_id={app}&redirect_uri={}&scope=openid&state=s",
            server.url("/authorize"),
            urlencode(&format!("{}/{app}/cb", apps.base))
        )
    };
    let (browser, events, _profile) = chromium().await;
    let page = browser
        .new_page(authorize("app-one").as_str())
        .await
        .unwrap();
    wait_for(&page, "id=\"identifier\"").await;
    type_into(&page, "#identifier", USERNAME).await;
    type_into(&page, "#password", PASSWORD).await;
    click_on(&page, "button[type=submit]").await;
    wait_for_url(&page, "/app-one/cb?code=").await;
    page.goto(authorize("app-two").as_str()).await.unwrap();
    wait_for_url(&page, "/app-two/cb?code=").await;

    let logout = format!(
        "{}?client_id=app-one&post_logout_redirect_uri={}",
        server.url("/logout"),
        urlencode(&format!("{}/app-one/bye", apps.base))
    );
    page.goto(logout.as_str()).await.unwrap();
    wait_for(&page, "name=\"csrf\"").await;
    click_on(&page, "button[type=submit]").await;
    wait_for_url(&page, "/app-one/bye").await;
    let got = apps.received.lock().unwrap().clone();
    let mut logouts: Vec<&str> = got
        .iter()
        .map(|(p, _)| p.as_str())
        .filter(|p| p.ends_with("/logout"))
        .collect();
    logouts.sort();
    assert_eq!(logouts, ["/app-one/logout", "/app-two/logout"], "{got:?}");
    let _ = page.close().await;
    let mut browser = browser;
    browser.close().await.unwrap();
    let _ = browser.wait().await;
    events.abort();
}

/// The logout page's frames, as HTTP shows them: each application's page with `iss` and
/// `sid`, their origin allowed as a frame and nothing else.
async fn front_channel_frames(backend: Backend) {
    let server = TestServer::start(backend).await;
    let app = "https://app.example/logout";
    {
        let mut conn = server.idp.conn().unwrap();
        idp::domain::oidc::frontchannel::set_uri(&mut conn, "school-app", Some(app)).unwrap();
        let refused = idp::domain::oidc::frontchannel::set_uri(
            &mut conn,
            "school-app",
            Some("http://app.example/x"),
        );
        assert!(refused.is_err(), "plain http only on localhost");
    }
    let browser = browser();
    let url = authorize_url(&server, "openid", "&state=st");
    login_through(&browser, &server, &url, USERNAME, PASSWORD).await;
    let page = browser
        .get(server.url("/logout"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let resp = browser
        .post(server.url("/logout/confirm"))
        .form(&[("csrf", input_value(&page, "csrf"))])
        .send()
        .await
        .unwrap();
    let policy = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.contains("frame-src https://app.example;"),
        "{policy}"
    );
    assert!(policy.contains("frame-ancestors 'none'"));
    let html = resp.text().await.unwrap();
    let src = format!("src=\"{app}?iss={}&amp;sid=", urlencode(&server.base));
    assert!(html.replace("&#x3D;", "=").contains(&src), "{html}");
}
both_backends!(front_channel_frames);

/// A session that expires unnoticed is ended by the janitor, and its application hears it.
async fn an_expired_session_is_heard_of(backend: Backend) {
    let server = TestServer::start(backend).await;
    let apps = Listener::start();
    {
        let mut conn = server.idp.conn().unwrap();
        let uri = format!("{}/school-app", apps.base);
        idp::domain::oidc::backchannel::set_uri(&mut conn, "school-app", Some(&uri)).unwrap();
    }
    let url = authorize_url(&server, "openid", "&state=st");
    login_through(&browser(), &server, &url, USERNAME, PASSWORD).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(
        apps.received.lock().unwrap().is_empty(),
        "nothing while the session lives"
    );
    let ttl = server.idp.settings.sso_session_ttl_seconds;
    server.clock.advance(Duration::seconds(ttl + 1));
    {
        let mut conn = server.idp.conn().unwrap();
        let retention = &server.idp.settings.retention;
        idp::domain::janitor::purge(&mut conn, server.idp.now(), retention).unwrap();
    }
    let got = apps.wait_for(1).await;
    let claims = verified(&server, &got[0].1, "school-app").await;
    assert!(claims["sid"].is_string());
}
both_backends!(an_expired_session_is_heard_of);
