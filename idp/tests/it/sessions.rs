//! The SSO session against `prompt`, `max_age`, `id_token_hint`, logout and disabled accounts.

use crate::both_backends;
use crate::support::*;

fn authorize(server: &TestServer, extra: &str) -> String {
    format!(
        "{}?response_type=code&client_id=school-app&redirect_uri={}&scope=openid&state=s{extra}",
        server.url("/authorize"),
        urlencode(REDIRECT)
    )
}

async fn id_token(server: &TestServer, redirect: &str) -> String {
    let code = query_param(redirect, "code").unwrap();
    let (_, body) = token_call(
        &server.base,
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    body["id_token"].as_str().unwrap().to_string()
}

async fn session_rules(backend: Backend) {
    let server = TestServer::start(backend).await;
    let b = browser();
    let back = login_through(&b, &server, &authorize(&server, ""), USERNAME, PASSWORD).await;
    let token = id_token(&server, &back).await;

    // The session answers at once…
    let resp = b.get(authorize(&server, "")).send().await.unwrap();
    assert!(location(&resp).starts_with(REDIRECT));
    // …but not when the client asks for a fresh login, or the login is too old.
    for extra in ["&prompt=login", "&max_age=0"] {
        server.clock.advance(chrono::Duration::seconds(2));
        let resp = b.get(authorize(&server, extra)).send().await.unwrap();
        assert!(location(&resp).starts_with("/login?request="), "{extra}");
    }
    let resp = b
        .get(authorize(&server, "&max_age=3600"))
        .send()
        .await
        .unwrap();
    assert!(location(&resp).starts_with(REDIRECT));
    // id_token_hint of the logged-in user: answered; a forged hint: an error to the client.
    let resp = b
        .get(authorize(
            &server,
            &format!("&prompt=none&id_token_hint={token}"),
        ))
        .send()
        .await
        .unwrap();
    assert!(query_param(&location(&resp), "code").is_some());
    let resp = b
        .get(authorize(&server, "&id_token_hint=forged.token.value"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        query_param(&location(&resp), "error").as_deref(),
        Some("invalid_request")
    );

    // Logout to an unregistered URI: an error page, never a redirect.
    let resp = b
        .get(format!(
            "{}?id_token_hint={token}&post_logout_redirect_uri={}",
            server.url("/logout"),
            urlencode("https://evil.example/")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get("location").is_none());
    // Logout without a hint asks first (a stray link must not log people out).
    let page = b
        .get(server.url("/logout"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Voulez-vous vous déconnecter"), "{page}");
    let resp = b.get(authorize(&server, "")).send().await.unwrap();
    assert!(
        location(&resp).starts_with(REDIRECT),
        "still logged in before confirming"
    );
    let resp = b
        .post(server.url("/logout/confirm"))
        .form(&[("csrf", input_value(&page, "csrf"))])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = b
        .get(authorize(&server, "&prompt=none"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        query_param(&location(&resp), "error").as_deref(),
        Some("login_required")
    );
}
both_backends!(session_rules);

async fn disabled_account_and_languages(backend: Backend) {
    let server = TestServer::start(backend).await;
    let b = browser();
    let back = login_through(&b, &server, &authorize(&server, ""), USERNAME, PASSWORD).await;
    let code = query_param(&back, "code").unwrap();
    {
        let mut conn = server.idp.conn().unwrap();
        let user = idp::domain::users::find_by_username(&mut conn, USERNAME)
            .unwrap()
            .unwrap();
        idp::domain::users::set_disabled(&mut conn, user.id, true, server.idp.now()).unwrap();
    }
    // A code issued before the account was disabled no longer yields tokens.
    let (status, _) = token_call(
        &server.base,
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 400);
    // The login form answers like for a wrong password; the browser's language is used.
    let fresh = browser();
    let resp = fresh
        .get(authorize(&server, ""))
        .header("accept-language", "nl-BE,nl;q=0.9,fr;q=0.5")
        .send()
        .await
        .unwrap();
    let page = fresh
        .get(server.url(&location(&resp)))
        .header("accept-language", "nl-BE")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<html lang=\"nl\""));
    let html = fresh
        .post(server.url("/login"))
        .header("accept-language", "nl-BE")
        .form(&login_form(&page, USERNAME, PASSWORD))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Gebruikersnaam of wachtwoord onjuist."),
        "{html}"
    );
}
both_backends!(disabled_account_and_languages);

/// Expired state is purged; live state is kept.
async fn janitor_purges_expired_state(backend: Backend) {
    use diesel::prelude::*;
    use idp::store::schema::{auth_requests, authorization_codes};
    let server = TestServer::start(backend).await;
    let b = browser();
    // A redeemed-later code and a pending login that nobody completes.
    let _ = login_through(&b, &server, &authorize(&server, ""), USERNAME, PASSWORD).await;
    let _ = browser().get(authorize(&server, "")).send().await.unwrap();
    let count = |server: &TestServer| {
        let mut conn = server.idp.conn().unwrap();
        let codes: i64 = authorization_codes::table
            .count()
            .get_result(&mut conn)
            .unwrap();
        let pending: i64 = auth_requests::table.count().get_result(&mut conn).unwrap();
        (codes, pending)
    };
    assert_eq!(count(&server), (1, 1));
    let mut conn = server.idp.conn().unwrap();
    idp::domain::janitor::purge(&mut conn, server.idp.now(), &server.idp.settings.retention)
        .unwrap();
    drop(conn);
    assert_eq!(count(&server), (1, 1), "nothing live is removed");
    server.clock.advance(chrono::Duration::hours(26));
    let mut conn = server.idp.conn().unwrap();
    assert!(
        idp::domain::janitor::purge(&mut conn, server.idp.now(), &server.idp.settings.retention)
            .unwrap()
            >= 2
    );
    drop(conn);
    assert_eq!(count(&server), (0, 0));
}
both_backends!(janitor_purges_expired_state);

/// Failed logins are limited per identifier, for every instance alike, without telling
/// whether the identifier exists; the audit trail records each attempt.
async fn login_throttling_and_audit(backend: Backend) {
    let server = TestServer::start(backend).await;
    let b = browser();
    let resp = b
        .get(authorize(&server, "&ui_locales=en"))
        .send()
        .await
        .unwrap();
    let page = b
        .get(server.url(&location(&resp)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let attempt = |identifier: &'static str, password: &'static str| {
        let b = b.clone();
        let url = server.url("/login");
        let form = login_form(&page, identifier, password);
        async move {
            let resp = b.post(url).form(&form).send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.text().await.unwrap())
        }
    };
    for _ in 0..10 {
        assert!(
            attempt(USERNAME, "wrong")
                .await
                .1
                .contains("Wrong identifier or password.")
        );
        assert!(
            attempt("nobody.here", "wrong")
                .await
                .1
                .contains("Wrong identifier or password.")
        );
    }
    let (_, html) = attempt(USERNAME, PASSWORD).await;
    assert!(
        html.contains("Too many failed login attempts"),
        "even the right password waits"
    );
    let (_, html) = attempt("nobody.here", "wrong").await;
    assert!(
        html.contains("Too many failed login attempts"),
        "unknown identifiers alike"
    );

    server.clock.advance(chrono::Duration::minutes(16));
    let (status, _) = attempt(USERNAME, PASSWORD).await;
    assert_eq!(status, 303, "the window has passed");

    let mut conn = server.idp.conn().unwrap();
    let user = idp::domain::users::find_by_username(&mut conn, USERNAME)
        .unwrap()
        .unwrap();
    let kinds = idp::domain::audit::kinds_for(&mut conn, user.id).unwrap();
    assert_eq!(kinds, vec!["login_succeeded"]);
    use diesel::prelude::*;
    use idp::store::schema::audit_events;
    let failed: i64 = audit_events::table
        .filter(audit_events::kind.eq("login_failed"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    let throttled: i64 = audit_events::table
        .filter(audit_events::kind.eq("login_throttled"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!((failed, throttled), (20, 2));
    let details: Vec<String> = audit_events::table
        .select(audit_events::detail)
        .load(&mut conn)
        .unwrap();
    assert!(
        details
            .iter()
            .all(|d| !d.contains("wrong") && !d.contains(PASSWORD)),
        "no secret in the audit trail"
    );
}
both_backends!(login_throttling_and_audit);

/// Behind a trusted proxy the client's address comes from `X-Forwarded-For`; from anyone
/// else the header is ignored, so it cannot dodge the per-address limits.
async fn client_address_behind_proxies(backend: Backend) {
    use diesel::prelude::*;
    use idp::store::schema::audit_events;
    for (trusted, expected) in [
        (vec!["127.0.0.1/32"], "198.51.100.4"),
        (vec![], "127.0.0.1"),
    ] {
        let server = TestServer::start_with(backend, |s| {
            s.trusted_proxies = idp::web::client_address::TrustedProxies::try_from(
                trusted.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
            )
            .unwrap();
        })
        .await;
        let browser = browser();
        let resp = browser.get(authorize(&server, "")).send().await.unwrap();
        let page = browser
            .get(server.url(&location(&resp)))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        browser
            .post(server.url("/login"))
            .header("X-Forwarded-For", "203.0.113.66, 198.51.100.4")
            .form(&login_form(&page, USERNAME, "wrong"))
            .send()
            .await
            .unwrap();
        let mut conn = server.idp.conn().unwrap();
        let addresses: Vec<Option<String>> = audit_events::table
            .filter(audit_events::kind.eq("login_failed"))
            .select(audit_events::address)
            .load(&mut conn)
            .unwrap();
        assert_eq!(
            addresses,
            vec![Some(expected.to_string())],
            "trusted: {trusted:?}"
        );
    }
}
both_backends!(client_address_behind_proxies);

/// Tokens from a login of `school-app` for `scope`, through the login form of a new
/// browser: the token endpoint's answer.
async fn tokens_for(server: &TestServer, scope: &str) -> serde_json::Value {
    let redirect = login_through(
        &browser(),
        server,
        &authorize_url(server, scope, "&state=s"),
        USERNAME,
        PASSWORD,
    )
    .await;
    let code = query_param(&redirect, "code").unwrap();
    let (status, tokens) = redeem_code(&server.base, &code).await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}

/// Uses `tokens`' refresh token; the answer's status and body.
async fn refresh(server: &TestServer, tokens: &serde_json::Value) -> (u16, serde_json::Value) {
    token_call(
        &server.base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
    )
    .await
}

/// A refresh token lives no longer than the login it came from (ASVS 3.3.1, 3.3.2): one
/// without `offline_access` stops with the SSO session it was issued in (10 hours), and
/// even an `offline_access` one, rotated as often as it likes, stops
/// `grant_max_age_seconds` (60 days) after the person logged in.
async fn refresh_tokens_live_no_longer_than_their_login(backend: Backend) {
    let server = TestServer::start(backend).await;
    let online = tokens_for(&server, "openid").await;
    let offline = tokens_for(&server, "openid offline_access").await;
    let (status, online) = refresh(&server, &online).await;
    assert_eq!(status, 200, "within the session: {online}");

    server
        .clock
        .advance(chrono::Duration::hours(10) + chrono::Duration::minutes(1));
    let (status, refused) = refresh(&server, &online).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"], "invalid_grant");
    assert!(
        refused["error_description"]
            .as_str()
            .unwrap()
            .contains("login session"),
        "{refused}"
    );
    let (status, mut offline) = refresh(&server, &offline).await;
    assert_eq!(
        status, 200,
        "offline_access outlives the session: {offline}"
    );

    // Rotated every 29 days (each refresh token lives 30): fine until day 60.
    for _ in 0..2 {
        server.clock.advance(chrono::Duration::days(29));
        let (status, next) = refresh(&server, &offline).await;
        assert_eq!(status, 200, "{next}");
        offline = next;
    }
    server.clock.advance(chrono::Duration::days(2));
    let (status, refused) = refresh(&server, &offline).await;
    assert_eq!(status, 400, "day 60 and more: {refused}");
    assert!(
        refused["error_description"]
            .as_str()
            .unwrap()
            .contains("too old"),
        "{refused}"
    );
}
both_backends!(refresh_tokens_live_no_longer_than_their_login);

/// The account page lists where the person is logged in, this browser marked, and logs
/// them out everywhere else (ASVS 3.3.4): the other browser's session ends (its grants
/// with it), this one stays, and the audit trail says so.
async fn log_out_everywhere_else(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (here, elsewhere) = (browser(), browser());
    for b in [&here, &elsewhere] {
        let redirect = login_through(
            b,
            &server,
            &authorize_url(&server, "openid", "&state=s"),
            USERNAME,
            PASSWORD,
        )
        .await;
        assert!(redirect.starts_with(REDIRECT), "{redirect}");
    }
    let account = |b: &reqwest::Client, path: &'static str| {
        let (b, url) = (b.clone(), server.url(path));
        async move { b.get(url).send().await.unwrap() }
    };
    let page = account(&here, "/account").await.text().await.unwrap();
    let listed = page
        .split("<ul id=\"sessions\">")
        .nth(1)
        .and_then(|rest| rest.split("</ul>").next())
        .unwrap_or_default();
    assert_eq!(listed.matches("<li>").count(), 2, "{listed}");
    assert_eq!(listed.matches("Ce navigateur").count(), 1, "{listed}");

    let resp = here
        .post(server.url("/account"))
        .form(&[
            ("csrf", input_value(&page, "csrf")),
            ("form", "sessions".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&resp), "/account?done=sessions");
    let gone = account(&elsewhere, "/account").await;
    assert_eq!(location(&gone), "/login", "the other browser is logged out");
    let still = account(&here, "/account?done=sessions").await;
    assert_eq!(still.status(), 200, "this browser stays");
    let page = still.text().await.unwrap();
    assert!(page.contains("déconnecté partout ailleurs"), "{page}");
    assert!(
        !page.contains("id=\"end-other-sessions\""),
        "nothing else to end"
    );
    let mut conn = server.idp.conn().unwrap();
    let jean = idp::domain::users::find_by_username(&mut conn, USERNAME)
        .unwrap()
        .unwrap();
    let trail = idp::domain::audit::kinds_for(&mut conn, jean.id).unwrap();
    assert!(
        trail.contains(&"other_sessions_ended".to_string()),
        "{trail:?}"
    );
}
both_backends!(log_out_everywhere_else);
