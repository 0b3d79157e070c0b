//! What the STS writes in its log: JSON lines when asked, each request's id on every line it
//! causes and on its audit events, and never a secret, token, code or password.

use diesel::prelude::*;
use idp::store::schema::audit_events;

use crate::both_backends;
use crate::support::*;

const NEW_PASSWORD: &str = "Velo-Riviere-Lune-42";
const PROXY_ID: &str = "lb-7f3a9c-login";

/// A full run of the binary at the most talkative level (`IDP_LOG=debug`, JSON): a login
/// through an application, the code, refresh and UserInfo calls, "Forgot password?" with
/// its mail over SMTP, the reset link and the new password. Every line is JSON; the login
/// POST's proxy-sent `X-Request-Id` is echoed, is on its log lines and on its audit event;
/// and not one of the values the run used (passwords, client secret, code, tokens, reset
/// link and code, cookies, CSRF token) is anywhere in the log.
async fn logs_name_requests_and_keep_secrets(backend: Backend) {
    // The in-process server seeds the database and the SMTP server; its mail worker sleeps.
    let (mut server, inbox) = TestServer::with_mail(backend, |s| s.mail_poll_seconds = 3600).await;
    let smtp = server.idp.settings.smtp_url.clone().unwrap();
    let dir =
        TempDir(std::env::temp_dir().join(format!("idp-logs-{}", uuid::Uuid::new_v4().simple())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let log_path = dir.0.join("idp.log");
    let mut sts = Spawned::start_logging(
        &server.idp.settings.database_url,
        &[
            ("IDP_LOG", "debug"),
            ("IDP_LOG_FORMAT", "json"),
            ("IDP_TRUSTED_PROXIES", "[\"127.0.0.1/32\"]"),
            ("IDP_SMTP_URL", &smtp),
            ("IDP_MAIL_POLL_SECONDS", "1"),
            ("IDP_RECOVERY__RESPONSE_FLOOR_MILLIS", "50"),
            ("IDP_SHUTDOWN_DRAIN_SECONDS", "0"),
        ],
        std::fs::File::create(&log_path).unwrap(),
    )
    .await;
    server.base = sts.base.clone();
    let mut used: Vec<(&str, String)> = vec![
        ("password", PASSWORD.into()),
        ("new password", NEW_PASSWORD.into()),
        ("client secret", SECRET.into()),
    ];

    // The login, its POST sent through the trusted proxy with an id.
    let b = browser();
    let url = authorize_url(
        &server,
        "openid profile email offline_access",
        "&state=st&nonce=n",
    );
    let page = login_form_page(&b, &server, &url).await;
    let form = login_form(&page, USERNAME, PASSWORD);
    used.push(("csrf token", form[1].1.clone()));
    let resp = b
        .post(server.url("/login"))
        .header("X-Request-Id", PROXY_ID)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["x-request-id"], PROXY_ID, "echoed");
    for cookie in resp.headers().get_all("set-cookie") {
        let pair = cookie.to_str().unwrap().split(';').next().unwrap();
        let value = pair.split_once('=').unwrap().1;
        if value.len() >= 16 {
            used.push(("cookie", value.to_string()));
        }
    }
    let code = query_param(&location(&resp), "code").unwrap();
    used.push(("authorization code", code.clone()));

    let (status, tokens) = token_call(
        &server.base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    let (status, renewed) = token_call(
        &server.base,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(status, 200, "{renewed}");
    for set in [&tokens, &renewed] {
        for name in ["access_token", "refresh_token", "id_token"] {
            used.push((name, set[name].as_str().unwrap().to_string()));
        }
    }
    let access = renewed["access_token"].as_str().unwrap();
    let userinfo = reqwest::Client::new()
        .get(server.url("/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 200);
    // A client's own `X-Request-Id` (not through the proxy list) would be believed here,
    // since every request comes from 127.0.0.1; the in-process checks below cover that.

    // "Forgot password?", the mail, the link, the new password.
    let sent = ask_for_reset(&b, &server, USERNAME).await;
    assert_eq!(sent.status(), 200);
    let mail = inbox.wait_for(1).await.remove(0);
    let link = mail.links(&server, "/reset?token=").remove(0);
    used.push(("reset link", query_param(&link, "token").unwrap()));
    used.push(("reset code", mail.codes().remove(0)));
    let done = use_reset_link(&b, &server, &link, NEW_PASSWORD).await;
    assert_eq!(done.status(), 200);
    let login_page = location(&browser().get(&url).send().await.unwrap());
    let page = b
        .get(server.url(&login_page))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let again = b
        .post(server.url("/login"))
        .form(&login_form(&page, USERNAME, NEW_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 303, "the new password works");

    // The login's audit event names the proxy's request id.
    let mut conn = server.idp.conn().unwrap();
    let ids: Vec<Option<String>> = audit_events::table
        .filter(audit_events::kind.eq("login_succeeded"))
        .order(audit_events::occurred_at)
        .select(audit_events::request_id)
        .load(&mut conn)
        .unwrap();
    assert!(ids.len() >= 2, "{ids:?}");
    assert_eq!(ids[0].as_deref(), Some(PROXY_ID));
    assert!(
        ids[1..].iter().all(|id| id
            .as_deref()
            .is_some_and(|id| uuid::Uuid::parse_str(id).is_ok())),
        "new ids without the header: {ids:?}"
    );

    sts.signal("TERM");
    assert!(sts.exited().await.is_some_and(|s| s.success()));
    let log = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let access: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["target"] == "idp::access")
        .collect();
    assert!(access.len() >= 10, "one line a request: {log}");
    assert!(
        access.iter().all(|l| l["span"]["request_id"].is_string()),
        "every request line has its id"
    );
    assert!(
        access.iter().any(|l| l["span"]["request_id"] == PROXY_ID
            && l["fields"]["route"] == "/login"
            && l["fields"]["status"] == 303),
        "the proxy's id on the login's line: {log}"
    );
    for (what, value) in &used {
        assert!(!value.is_empty());
        let leak = log.lines().find(|l| l.contains(value.as_str()));
        assert!(leak.is_none(), "the {what} is in the log: {leak:?}");
    }
}
both_backends!(logs_name_requests_and_keep_secrets);

/// An `X-Request-Id` from a client that is no trusted proxy is not believed: the answer
/// carries a new id, and so does the audit event.
async fn request_ids_only_from_trusted_proxies(backend: Backend) {
    let server = TestServer::start(backend).await;
    let b = browser();
    let url = authorize_url(&server, "openid", "&state=st");
    let page = login_form_page(&b, &server, &url).await;
    let resp = b
        .post(server.url("/login"))
        .header("X-Request-Id", "chosen-by-the-client")
        .form(&login_form(&page, USERNAME, PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let echoed = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&echoed).is_ok(), "{echoed}");
    let recorded: Option<String> = audit_events::table
        .filter(audit_events::kind.eq("login_succeeded"))
        .select(audit_events::request_id)
        .first(&mut server.idp.conn().unwrap())
        .unwrap();
    assert_eq!(recorded.as_deref(), Some(echoed.as_str()));
}
both_backends!(request_ids_only_from_trusted_proxies);
