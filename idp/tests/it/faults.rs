//! Faults on several instances: one dies mid-login; the database goes away and comes back,
//! fills its disk or turns read-only; SMTP is down for the whole run.

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
    let (status, tokens) = redeem_code(&second.base, &code).await;
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
    // A refresh needs the store (a `client_credentials` grant of the client just seen may
    // be answered from the instance's memory of it for a second).
    let resp = reqwest::Client::new()
        .post(format!("{}/token", sts.base))
        .basic_auth("school-app", Some(SECRET))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "any")])
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

/// Rows a failed request might have half-written, table by table.
fn row_counts(conn: &mut idp::store::DbConn) -> Vec<(&'static str, i64)> {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    [
        "auth_requests",
        "login_flows",
        "sso_sessions",
        "grants",
        "authorization_codes",
        "rate_limits",
        "audit_events",
        "password_resets",
        "mail_outbox",
    ]
    .into_iter()
    .map(|table| {
        let count: Count = diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
            .get_result(conn)
            .unwrap();
        (table, count.n)
    })
    .collect()
}

/// The text of the page that says nothing could be saved (French, the default language).
const NOT_SAVED: &str = "Un problème technique de notre côté empêche le service";

/// Jean's password sent on the login form `page` that `browser` holds.
async fn send_login(
    browser: &reqwest::Client,
    server: &TestServer,
    page: &str,
) -> reqwest::Response {
    browser
        .post(server.url("/login"))
        .form(&login_form(page, USERNAME, PASSWORD))
        .send()
        .await
        .unwrap()
}

/// "Forgot password?" at `base` for `identifier`, from a new browser: status and page.
async fn forgot_at(base: &str, identifier: &str) -> (u16, String) {
    let resp = ask_for_reset_at(&browser(), base, identifier).await;
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// A new browser at the login form of a pending authorization (`state=again`), the one
/// a test sends after the database refused it: the browser and the form.
async fn at_the_login_form(server: &TestServer) -> (reqwest::Client, String) {
    let b = browser();
    let url = authorize_url(server, "openid", "&state=again");
    let page = login_form_page(&b, server, &url).await;
    (b, page)
}

/// Asserts the database refused the writes of a login, an authorization and reset
/// requests cleanly: 503 with `Retry-After` and a page saying nothing was saved, the same
/// for an account that exists and one that does not, while what only reads (a
/// `client_credentials` grant, discovery) is still served; and that no row was written.
async fn writes_refused_cleanly(
    server: &TestServer,
    login: &reqwest::Client,
    login_page: &str,
    before: &[(&'static str, i64)],
) {
    let resp = send_login(login, server, login_page).await;
    assert_eq!(resp.status(), 503, "the login's writes were refused");
    assert_eq!(resp.headers()["retry-after"], "5");
    let page = resp.text().await.unwrap();
    assert!(page.contains(NOT_SAVED), "{page}");

    let fresh = browser()
        .get(authorize_url(server, "openid", ""))
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), 503, "a new authorization cannot be kept");
    assert!(fresh.text().await.unwrap().contains(NOT_SAVED));

    let (known, known_page) = forgot_at(&server.base, USERNAME).await;
    let (unknown, unknown_page) = forgot_at(&server.base, "nobody.here").await;
    assert_eq!((known, unknown), (503, 503), "no reset is promised");
    assert!(known_page.contains(NOT_SAVED) && unknown_page.contains(NOT_SAVED));

    let (status, tokens) = token_call(&server.base, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, 200, "reading still works: {tokens}");
    let metrics = reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("idp_refused_writes_total{cause="),
        "{metrics}"
    );

    let mut conn = server.idp.conn().unwrap();
    assert_eq!(row_counts(&mut conn), before, "nothing half-written");
}

/// The disk under SQLite fills up: every request that must write answers at once with 503
/// and a page saying nothing was saved (a reset request too: no mail is promised that was
/// never queued), nothing is half-written (SQLite's integrity check, every table as it
/// was), reading goes on; and once there is room again the same instance serves, the
/// login that was refused going through when sent again.
#[tokio::test]
async fn the_sqlite_disk_fills_up_and_is_freed() {
    let volume = SmallVolume::mount(16);
    let url = volume.sqlite_url();
    let server = TestServer::start_with(Backend::Sqlite, |s| {
        s.database_url = url;
        s.mail_poll_seconds = 3600;
        s.recovery.response_floor_millis = 0;
    })
    .await;
    let first = browser();
    let redirect = login_through(
        &first,
        &server,
        &authorize_url(&server, "openid", ""),
        USERNAME,
        PASSWORD,
    )
    .await;
    assert!(
        redirect.starts_with(REDIRECT),
        "it works before: {redirect}"
    );

    let (b, page) = at_the_login_form(&server).await;
    let before = {
        use diesel::RunQueryDsl;
        let mut conn = server.idp.conn().unwrap();
        // The write-ahead log emptied, so the next write needs new room on the disk.
        diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut conn)
            .unwrap();
        row_counts(&mut conn)
    };
    volume.fill();
    writes_refused_cleanly(&server, &b, &page, &before).await;
    {
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Check {
            #[diesel(sql_type = diesel::sql_types::Text)]
            integrity_check: String,
        }
        let mut conn = server.idp.conn().unwrap();
        let check: Check = diesel::sql_query("PRAGMA integrity_check")
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(check.integrity_check, "ok");
    }

    volume.free();
    let resp = send_login(&b, &server, &page).await;
    assert_eq!(
        resp.status(),
        303,
        "the same login, sent again, goes through"
    );
    let to = location(&resp);
    assert!(
        to.starts_with(REDIRECT) && to.contains("state=again"),
        "{to}"
    );
    let (status, sent) = forgot_at(&server.base, USERNAME).await;
    assert_eq!(status, 200, "{sent}");
    let mut conn = server.idp.conn().unwrap();
    let outbox = row_counts(&mut conn)
        .into_iter()
        .find(|(t, _)| *t == "mail_outbox")
        .unwrap();
    assert_eq!(outbox.1, 1, "the reset mail is queued now");
}

/// PostgreSQL turns read-only under the STS (as when `database_url` ends up on a standby
/// after a failover, or an operator sets `default_transaction_read_only`): writes are
/// refused cleanly as on a full disk, and once the database is writable again the same
/// instance serves, without a restart.
#[tokio::test]
async fn postgres_turns_read_only_and_back() {
    let server = TestServer::start_with(Backend::Postgres, |s| {
        s.mail_poll_seconds = 3600;
        s.recovery.response_floor_millis = 0;
    })
    .await;
    let url = url::Url::parse(&server.idp.settings.database_url).unwrap();
    let name = url.path().trim_start_matches('/').to_string();
    let read_only = |on: bool| {
        use diesel::{Connection, RunQueryDsl};
        let mut admin = diesel::PgConnection::establish(&postgres_admin_url()).unwrap();
        let setting = if on {
            "SET default_transaction_read_only = on"
        } else {
            "RESET default_transaction_read_only"
        };
        diesel::sql_query(format!("ALTER DATABASE {name} {setting}"))
            .execute(&mut admin)
            .unwrap();
        // Sessions take the setting when they begin: the pool's connections end, and the
        // pool opens new ones (a failover, as the STS sees it).
        diesel::sql_query(format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ))
        .execute(&mut admin)
        .unwrap();
    };
    let (b, page) = at_the_login_form(&server).await;
    let before = row_counts(&mut server.idp.conn().unwrap());
    read_only(true);
    writes_refused_cleanly(&server, &b, &page, &before).await;

    read_only(false);
    let resp = send_login(&b, &server, &page).await;
    assert_eq!(resp.status(), 303, "writable again, without a restart");
    assert!(location(&resp).contains("state=again"));
}

/// SMTP is down for the whole run while two instances take reset requests side by side
/// (and tokens meanwhile): every request is answered, every mail waits in the outbox, each
/// instance's worker tries and records the failure; once SMTP is back every mail arrives,
/// exactly once, whichever instance's worker sends it.
async fn smtp_down_for_the_whole_run(backend: Backend) {
    let port = free_port();
    let server = TestServer::start_with(backend, |s| {
        s.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
        s.mail_poll_seconds = 1;
        s.recovery.response_floor_millis = 0;
    })
    .await;
    let twin = server.twin();
    const PEOPLE: usize = 12;
    for n in 0..PEOPLE {
        add_user(
            &server,
            &format!("pupil.{n}"),
            Some(&format!("parent{n}@example.org")),
            "fr",
        );
    }
    let bases = [server.base.clone(), twin.base.clone()];
    let requests = (0..PEOPLE).map(|n| {
        let base = bases[n % 2].clone();
        async move { forgot_at(&base, &format!("pupil.{n}")).await }
    });
    let tokens = (0..PEOPLE).map(|n| {
        let base = bases[n % 2].clone();
        async move {
            token_call(&base, &[("grant_type", "client_credentials")])
                .await
                .0
        }
    });
    let (answers, token_statuses) = futures_util::join!(
        futures_util::future::join_all(requests),
        futures_util::future::join_all(tokens)
    );
    for (status, page) in &answers {
        assert_eq!(*status, 200, "{page}");
    }
    assert!(
        token_statuses.iter().all(|s| *s == 200),
        "{token_statuses:?}"
    );

    // Both workers run every second; each mail is tried once and waits out its back-off.
    let tried = || {
        use diesel::prelude::*;
        use idp::store::schema::mail_outbox;
        let mut conn = server.idp.conn().unwrap();
        mail_outbox::table
            .filter(mail_outbox::attempts.ge(1))
            .filter(mail_outbox::sent_at.is_null())
            .filter(mail_outbox::last_error.is_not_null())
            .count()
            .get_result::<i64>(&mut conn)
            .unwrap()
    };
    for _ in 0..100 {
        if tried() == PEOPLE as i64 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(tried(), PEOPLE as i64, "every mail tried, failed and kept");

    let inbox = smtp_server(std::net::TcpListener::bind(("127.0.0.1", port)).unwrap());
    server.clock.advance(chrono::Duration::seconds(31));
    let mails = inbox.wait_for(PEOPLE).await;
    // Two more rounds of both workers: nothing goes twice.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let mails_after = inbox.mails();
    assert_eq!(mails_after.len(), PEOPLE, "{mails:#?}");
    for n in 0..PEOPLE {
        let to = format!("parent{n}@example.org");
        assert_eq!(
            mails_after.iter().filter(|m| m.to == to).count(),
            1,
            "exactly one mail to {to}"
        );
    }
}
both_backends!(smtp_down_for_the_whole_run);

/// An STS pointed at a SQLite database on a read-only file system refuses to start, at
/// once and saying why (rather than waiting out the pool to report "unable to open
/// database file", or serving pages that all fail); the database is left as it was.
#[test]
fn sqlite_on_a_read_only_file_system_refuses_to_start() {
    let volume = SmallVolume::mount(16);
    let idp = |args: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_idp"));
        command
            .args(args)
            .env("IDP_DATABASE_URL", volume.sqlite_url())
            .env("IDP_LISTEN", format!("127.0.0.1:{}", free_port()))
            .env(
                "IDP_OUTBOX_DIR",
                std::env::temp_dir().join("idp-outbox-read-only"),
            )
            .env("IDP_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        command
    };
    assert!(idp(&["db", "migrate"]).status().unwrap().success());
    let before = std::fs::read(volume.dir.join("idp.db")).unwrap();
    volume.make_read_only();

    let mut serve = idp(&["serve"]).spawn().unwrap();
    let mut status = None;
    for _ in 0..100 {
        status = serve.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let Some(status) = status else {
        let _ = serve.kill();
        panic!("the STS did not refuse to start within 5 s");
    };
    let mut log = String::new();
    std::io::Read::read_to_string(&mut serve.stderr.take().unwrap(), &mut log).unwrap();
    assert!(!status.success(), "{log}");
    assert!(
        log.contains("cannot be written") && log.contains("Read-only file system"),
        "{log}"
    );
    assert_eq!(std::fs::read(volume.dir.join("idp.db")).unwrap(), before);
}
