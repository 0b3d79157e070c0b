//! Faults on several instances: one dies mid-login.

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
