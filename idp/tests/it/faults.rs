//! Faults on several instances: one dies mid-login; the database goes away and comes back.

use crate::both_backends;
use crate::support::*;

/// Two instances on one database, one issuer (as behind a load balancer); a login begins
/// on the first (its pending request, form and CSRF cookie), the first is killed with
/// SIGKILL, and the browser's POST lands on the second: the login finishes there, the
/// code is redeemed there, and the session works there.
async fn an_instance_killed_mid_login(backend: Backend) {
    let db = TestServer::start_with(backend, |s| s.mail_poll_seconds = 3600).await;
    let url = db.idp.settings.database_url.clone();
    let mut first = Spawned::start(&url, &[]).await;
    let issuer = first.base.clone();
    let second = Spawned::start(&url, &[("IDP_ISSUER", issuer.as_str())]).await;

    let b = browser();
    let authorize = format!(
        "/authorize?response_type=code&client_id=school-app&redirect_uri={}&scope=openid%20offline_access&state=st&nonce=n",
        urlencode(REDIRECT)
    );
    let login = location(
        &b.get(format!("{}{authorize}", first.base))
            .send()
            .await
            .unwrap(),
    );
    let page = b
        .get(format!("{}{login}", first.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    first.child.kill().unwrap();
    first.child.wait().unwrap();
    assert!(
        reqwest::get(format!("{}/healthz", first.base))
            .await
            .is_err(),
        "gone"
    );

    let resp = b
        .post(format!("{}/login", second.base))
        .form(&login_form(&page, USERNAME, PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        303,
        "the login begun on the dead instance finishes"
    );
    let to = location(&resp);
    assert!(to.starts_with(REDIRECT), "{to}");
    assert_eq!(query_param(&to, "state").as_deref(), Some("st"));
    let code = query_param(&to, "code").unwrap();
    let (status, tokens) = token_call(
        &second.base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(
        jsonwebtoken::decode_header(tokens["id_token"].as_str().unwrap())
            .unwrap()
            .alg,
        jsonwebtoken::Algorithm::RS256
    );
    // The SSO session made on the second instance: a new authorization needs no form.
    let again = b
        .get(format!("{}{authorize}", second.base))
        .send()
        .await
        .unwrap();
    assert!(location(&again).starts_with(REDIRECT), "logged in already");
}
both_backends!(an_instance_killed_mid_login);

/// PostgreSQL out of reach (every connection dropped, new ones refused, as in a restart):
/// requests are answered within seconds with 503 and `Retry-After` (RFC 6749's
/// `temporarily_unavailable` for the token endpoint, "try again in a few seconds" on
/// pages, not ready at `/readyz`), nothing hangs or crashes; once it is back the same
/// instance serves again, without a restart.
#[tokio::test]
async fn the_database_goes_away_and_comes_back() {
    let db = TestServer::start_with(Backend::Postgres, |s| s.mail_poll_seconds = 3600).await;
    let direct = db.idp.settings.database_url.clone();
    let relay = Relay::start("127.0.0.1:5432");
    let through = direct.replacen("127.0.0.1:5432", &format!("127.0.0.1:{}", relay.port), 1);
    assert_ne!(
        through, direct,
        "the tests' PostgreSQL is on 127.0.0.1:5432"
    );
    let sts = Spawned::start(&through, &[("IDP_DATABASE_TIMEOUT_SECONDS", "2")]).await;
    let grant = || token_call(&sts.base, &[("grant_type", "client_credentials")]);
    assert_eq!(grant().await.0, 200);

    relay.cut();
    let started = std::time::Instant::now();
    let resp = reqwest::Client::new()
        .post(format!("{}/token", sts.base))
        .basic_auth("school-app", Some(SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(8),
        "no hang"
    );
    assert_eq!(resp.headers()["retry-after"], "5");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    let page = reqwest::get(format!(
        "{}/authorize?response_type=code&client_id=school-app&redirect_uri={}&scope=openid",
        sts.base,
        urlencode(REDIRECT)
    ))
    .await
    .unwrap();
    assert_eq!(page.status(), 503);
    let text = page.text().await.unwrap();
    assert!(text.contains("réessayer dans quelques secondes"), "{text}");
    assert_eq!(
        reqwest::get(format!("{}/readyz", sts.base))
            .await
            .unwrap()
            .status(),
        503
    );
    assert_eq!(
        reqwest::get(format!("{}/healthz", sts.base))
            .await
            .unwrap()
            .status(),
        200,
        "alive: no restart needed"
    );

    relay.restore();
    let mut back = 0;
    for _ in 0..50 {
        back = grant().await.0;
        if back == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(back, 200, "serving again once the database is back");
}
