//! What operators probe and read: liveness and readiness.

use diesel::RunQueryDsl;

use crate::both_backends;
use crate::support::*;

/// `/healthz` answers while the process lives; `/readyz` only while the database answers
/// and its schema is the one this binary carries (a migration missing: not ready).
async fn liveness_and_readiness(backend: Backend) {
    let server = TestServer::start(backend).await;
    let get = |path: &'static str| {
        let url = server.url(path);
        async move {
            let resp = reqwest::get(url).await.unwrap();
            assert_eq!(resp.headers().get("cache-control").unwrap(), "no-store");
            (
                resp.status().as_u16(),
                resp.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    assert_eq!(
        get("/healthz").await,
        (200, serde_json::json!({"status": "alive"}))
    );
    assert_eq!(
        get("/readyz").await,
        (200, serde_json::json!({"status": "ready"}))
    );
    {
        let mut conn = server.idp.conn().unwrap();
        diesel::sql_query(
            "DELETE FROM __diesel_schema_migrations WHERE version = (SELECT MAX(version) FROM __diesel_schema_migrations)",
        )
        .execute(&mut *conn)
        .unwrap();
    }
    assert_eq!(
        get("/readyz").await,
        (503, serde_json::json!({"status": "schema not current"}))
    );
    assert_eq!(get("/healthz").await.0, 200, "alive all the same");
}
both_backends!(liveness_and_readiness);

/// `idp user export`: everything the STS holds about a person, as JSON, and no secret.
async fn personal_data_export(backend: Backend) {
    let server = TestServer::start(backend).await;
    let url = authorize_url(&server, "openid", "&state=st");
    login_through(&browser(), &server, &url, USERNAME, PASSWORD).await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_idp"))
        .args(["user", "export", USERNAME])
        .env("IDP_DATABASE_URL", &server.idp.settings.database_url)
        .env("IDP_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let all: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(all["account"]["username"], USERNAME);
    assert_eq!(all["account"]["email"], "jean.dupont@hotmail.com");
    assert_eq!(all["applications"][0]["application"], "school-app");
    assert_eq!(all["sessions"].as_array().unwrap().len(), 1);
    let kinds: Vec<&str> = all["audit_events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"login_succeeded"), "{kinds:?}");
    assert!(
        !text.contains("argon2") && !text.contains(PASSWORD),
        "never a secret"
    );
}
both_backends!(personal_data_export);

/// `idp user erase`: the account and everything hanging from it go, its applications hear
/// that its session ended, the audit events about it keep a pseudonym and no detail.
async fn personal_data_erasure(backend: Backend) {
    use diesel::prelude::*;
    use idp::store::schema::{audit_events, mail_outbox, users};
    let server = TestServer::start(backend).await;
    let apps = crate::logout_everywhere::Listener::start();
    {
        let mut conn = server.idp.conn().unwrap();
        let uri = format!("{}/school-app", apps.base);
        idp::domain::oidc::backchannel::set_uri(&mut conn, "school-app", Some(&uri)).unwrap();
    }
    let url = authorize_url(&server, "openid", "&state=st");
    login_through(&browser(), &server, &url, USERNAME, PASSWORD).await;
    let jean = {
        let mut conn = server.idp.conn().unwrap();
        let jean = idp::domain::users::find_by_username(&mut conn, USERNAME)
            .unwrap()
            .unwrap();
        let origin = idp::domain::audit::Origin::of("192.0.2.1");
        let form = idp::domain::recovery::ResetRequest {
            identifier: USERNAME,
            email: "",
            origin,
            resume_request: None,
        };
        idp::domain::recovery::forgot_password(&server.idp, &mut conn, form).unwrap();
        jean
    };
    let erase = |confirm: bool| {
        let mut args = vec!["user", "erase", USERNAME];
        if confirm {
            args.push("--yes");
        }
        std::process::Command::new(env!("CARGO_BIN_EXE_idp"))
            .args(&args)
            .env("IDP_DATABASE_URL", &server.idp.settings.database_url)
            .env("IDP_LOG", "warn")
            .output()
            .unwrap()
    };
    assert!(!erase(false).status.success(), "not without --yes");
    let out = erase(true);
    assert!(out.status.success(), "{out:?}");
    let mut conn = server.idp.conn().unwrap();
    let left: i64 = users::table
        .filter(users::id.eq(jean.id.to_string()))
        .count()
        .get_result(&mut *conn)
        .unwrap();
    assert_eq!(left, 0);
    let mails: i64 = mail_outbox::table
        .filter(mail_outbox::recipient.like("%jean.dupont@hotmail.com%"))
        .count()
        .get_result(&mut *conn)
        .unwrap();
    assert_eq!(mails, 0, "its mail is gone");
    let events: Vec<(Option<String>, String)> = audit_events::table
        .select((audit_events::user_id, audit_events::detail))
        .load(&mut *conn)
        .unwrap();
    assert!(
        events
            .iter()
            .all(|(u, _)| u.as_deref() != Some(jean.id.to_string().as_str()))
    );
    let pseudonymous: Vec<&(Option<String>, String)> = events
        .iter()
        .filter(|(u, _)| u.as_deref().is_some_and(|u| u.starts_with("erased-")))
        .collect();
    assert!(!pseudonymous.is_empty() && pseudonymous.iter().all(|(_, d)| d.is_empty()));
    drop(conn);
    let heard = apps.wait_for(1).await;
    assert_eq!(
        heard[0].0, "/school-app",
        "the application heard the session end"
    );
}
both_backends!(personal_data_erasure);

/// The periodic purge keeps audit events and sent mail as long as the settings say.
async fn retention_periods(backend: Backend) {
    use diesel::prelude::*;
    use idp::store::schema::{audit_events, mail_outbox};
    let (server, inbox) = TestServer::with_mail(backend, |s| {
        s.retention.audit_events_days = 30;
        s.retention.sent_mail_days = 7;
    })
    .await;
    let url = authorize_url(&server, "openid", "&state=st");
    login_through(&browser(), &server, &url, USERNAME, PASSWORD).await;
    {
        let mut conn = server.idp.conn().unwrap();
        let origin = idp::domain::audit::Origin::of("192.0.2.1");
        let form = idp::domain::recovery::ResetRequest {
            identifier: USERNAME,
            email: "",
            origin,
            resume_request: None,
        };
        idp::domain::recovery::forgot_password(&server.idp, &mut conn, form).unwrap();
    }
    inbox.wait_for(1).await;
    let count = |server: &TestServer| {
        let mut conn = server.idp.conn().unwrap();
        let events: i64 = audit_events::table.count().get_result(&mut *conn).unwrap();
        let mails: i64 = mail_outbox::table.count().get_result(&mut *conn).unwrap();
        (events, mails)
    };
    let purge = |server: &TestServer| {
        let mut conn = server.idp.conn().unwrap();
        let retention = &server.idp.settings.retention;
        idp::domain::janitor::purge(&mut conn, server.idp.now(), retention).unwrap();
    };
    // The outbox marks the mail sent just after the SMTP server has it.
    for _ in 0..50 {
        purge(&server);
        if count(&server).1 == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (events, mails) = count(&server);
    assert!(events > 0 && mails == 1);
    server.clock.advance(chrono::Duration::days(8));
    purge(&server);
    assert_eq!(
        count(&server),
        (events, 0),
        "sent mail goes after 7 days, events stay"
    );
    server.clock.advance(chrono::Duration::days(23));
    purge(&server);
    assert_eq!(count(&server).0, 0, "events go after 30 days");
}
both_backends!(retention_periods);

/// `idp db backup` copies a SQLite store while the STS serves; an STS started on the copy
/// (the restore) serves the same logins, and `idp db check` finds its schema current.
/// PostgreSQL is sent to pg_dump.
async fn backup_and_restore(backend: Backend) {
    let server = TestServer::start(backend).await;
    let url = authorize_url(&server, "openid", "&state=st");
    login_through(&browser(), &server, &url, USERNAME, PASSWORD).await;
    let dir =
        TempDir(std::env::temp_dir().join(format!("idp-backup-{}", uuid::Uuid::new_v4().simple())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let copy = dir.0.join("copy.db");
    let idp = |db: &str, args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_idp"));
        cmd.args(args)
            .env("IDP_DATABASE_URL", db)
            .env("IDP_LOG", "warn");
        cmd
    };
    let out = idp(
        &server.idp.settings.database_url,
        &["db", "backup", copy.to_str().unwrap()],
    )
    .output()
    .unwrap();
    if backend == Backend::Postgres {
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("pg_dump"),
            "{out:?}"
        );
        return;
    }
    assert!(out.status.success(), "{out:?}");
    let restored = format!("sqlite://{}", copy.display());
    let out = idp(&restored, &["--json", "db", "check"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let check: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(check["schema_current"], true);
    // Again onto the same file: refused, nothing overwritten.
    let out = idp(
        &server.idp.settings.database_url,
        &["db", "backup", copy.to_str().unwrap()],
    )
    .output()
    .unwrap();
    assert!(!out.status.success());

    let sts = Spawned::start(&restored, &[]).await;
    let base = sts.base.clone();
    let outcome = {
        let resp = log_in_at(&browser(), &base, USERNAME, PASSWORD).await;
        location(&resp)
    };
    assert!(
        outcome.starts_with(REDIRECT),
        "the same login on the restored copy: {outcome}"
    );
}
both_backends!(backup_and_restore);

/// The binary carries SQLite and the PostgreSQL client library: it needs nothing from the
/// system but the C runtime (so it builds and runs on a machine without libpq or libsqlite3).
#[test]
fn binary_needs_only_the_c_runtime() {
    let out = std::process::Command::new("ldd")
        .arg(env!("CARGO_BIN_EXE_idp"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let libraries = String::from_utf8_lossy(&out.stdout);
    let c_runtime = [
        "linux-vdso",
        "ld-linux",
        "libc.so",
        "libm.so",
        "libgcc_s.so",
        "libpthread.so",
        "libdl.so",
        "librt.so",
    ];
    let others: Vec<&str> = libraries
        .lines()
        .map(str::trim)
        .filter(|line| !c_runtime.iter().any(|lib| line.contains(lib)))
        .collect();
    assert!(others.is_empty(), "linked from the system: {others:?}");
    assert!(libraries.contains("libc.so"), "{libraries}");
}

/// The bundled libpq speaks TLS to PostgreSQL (`sslmode=require`), as production servers ask.
#[test]
fn postgres_over_tls() {
    #[derive(diesel::QueryableByName)]
    struct Ssl {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        ssl: bool,
    }
    let url = postgres_admin_url().replace("sslmode=disable", "sslmode=require");
    let pool = idp::store::connect(&url, 1).unwrap();
    let mut conn = pool.get().unwrap();
    let idp::store::DbConn::Postgres(pg) = &mut *conn else {
        unreachable!("a postgres:// URL")
    };
    let row: Ssl = diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .get_result(pg)
        .unwrap();
    assert!(row.ssl, "the connection is encrypted");
}

/// SIGTERM: `/readyz` turns 503 at once while the instance still serves; a request in
/// flight when it stops accepting still gets its whole answer; then nothing answers, the
/// process exits cleanly, and mail queued meanwhile is left unclaimed for another instance.
async fn graceful_shutdown(backend: Backend) {
    // Seeds the database; its own mail worker sleeps, so only the spawned one could send.
    let db = TestServer::start_with(backend, |s| s.mail_poll_seconds = 3600).await;
    let url = db.idp.settings.database_url.clone();
    let sts = Spawned::start(
        &url,
        &[
            ("IDP_SHUTDOWN_DRAIN_SECONDS", "3"),
            ("IDP_SHUTDOWN_GRACE_SECONDS", "10"),
            ("IDP_MAIL_POLL_SECONDS", "1"),
        ],
    )
    .await;
    let addr = sts.base.trim_start_matches("http://").to_string();
    // A token request whose body is still on its way.
    let body = format!("grant_type=client_credentials&client_id=school-app&client_secret={SECRET}");
    let mut in_flight = std::net::TcpStream::connect(&addr).unwrap();
    use std::io::{Read, Write};
    write!(
        in_flight,
        "POST /token HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        body.len(),
        &body[..10]
    )
    .unwrap();

    sts.signal("TERM");
    let mut readiness = 0;
    for _ in 0..40 {
        readiness = reqwest::get(format!("{}/readyz", sts.base))
            .await
            .unwrap()
            .status()
            .as_u16();
        if readiness == 503 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(readiness, 503, "not ready while draining");
    let mail = idp::domain::mail::OutgoingMail {
        recipient: "queued@example.org".into(),
        language: None,
        subject: "Queued while draining".into(),
        text_body: "text".into(),
        html_body: "<p>html</p>".into(),
    };
    let mut conn = db.idp.conn().unwrap();
    idp::domain::mail::enqueue(&mut conn, &mail, chrono::Utc::now()).unwrap();
    // Still serving during the drain.
    let discovery = reqwest::get(format!("{}/.well-known/openid-configuration", sts.base))
        .await
        .unwrap();
    assert_eq!(discovery.status(), 200);

    // Past the drain the listener is closed; the request in flight is finished.
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    assert!(
        std::net::TcpStream::connect(&addr).is_err(),
        "no new connection accepted"
    );
    in_flight.write_all(&body.as_bytes()[10..]).unwrap();
    let mut answer = String::new();
    in_flight.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 "), "{answer}");
    assert!(
        answer.contains("access_token") || answer.contains("\"error\""),
        "{answer}"
    );

    let mut sts = sts;
    let exited = sts.exited().await;
    assert!(
        exited.is_some_and(|s| s.success()),
        "exited cleanly: {exited:?}"
    );
    use diesel::prelude::*;
    use idp::store::schema::mail_outbox;
    let (sent, claimed): (Option<chrono::NaiveDateTime>, Option<chrono::NaiveDateTime>) =
        mail_outbox::table
            .filter(mail_outbox::recipient.eq("queued@example.org"))
            .select((mail_outbox::sent_at, mail_outbox::claimed_until))
            .first(&mut conn)
            .unwrap();
    assert_eq!(
        (sent, claimed),
        (None, None),
        "left queued for another instance"
    );
}
both_backends!(graceful_shutdown);

/// The value of the sample `series` (name and labels, as written) in a metrics text.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

async fn scrape(url: String) -> String {
    let resp = reqwest::get(url).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    resp.text().await.unwrap()
}

/// `/metrics` counts logins by outcome, tokens by grant type, reset requests and mails by
/// outcome, throttling by limit, HTTP latency by route pattern, and reads the outbox's
/// backlog and the pool when scraped. (Counters are per process and tests run side by
/// side: each is checked to have grown by at least what this test did.)
async fn prometheus_metrics(backend: Backend) {
    let server = TestServer::start_with(backend, |s| s.mail_poll_seconds = 3600).await;
    let before = scrape(server.url("/metrics")).await;

    let b = browser();
    let url = authorize_url(&server, "openid", "&state=st");
    let wrong = login_response(&b, &server, &url, USERNAME, "not-the-password").await;
    assert_eq!(wrong.status(), 200);
    let to = login_through(&b, &server, &url, USERNAME, PASSWORD).await;
    let code = query_param(&to, "code").unwrap();
    let (status, _) = token_call(
        &server.base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = token_call(
        &server.base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 400, "a code is used once");
    // Eleven wrong passwords for one identifier: the limit is reached.
    for _ in 0..11 {
        let _ = login_response(&browser(), &server, &url, "nobody.here", "wrong").await;
    }
    let mail = idp::domain::mail::OutgoingMail {
        recipient: "waiting@example.org".into(),
        language: None,
        subject: "Waiting".into(),
        text_body: "text".into(),
        html_body: "<p>html</p>".into(),
    };
    let queued_at = chrono::Utc::now() - chrono::Duration::seconds(90);
    idp::domain::mail::enqueue(&mut server.idp.conn().unwrap(), &mail, queued_at).unwrap();

    let after = scrape(server.url("/metrics")).await;
    let grew = |series: &str, by: f64| {
        let (b, a) = (sample(&before, series), sample(&after, series));
        assert!(a - b >= by, "{series}: {b} then {a}\n{after}");
    };
    grew(r#"idp_logins_total{outcome="succeeded"}"#, 1.0);
    grew(r#"idp_logins_total{outcome="failed"}"#, 11.0);
    grew(r#"idp_logins_total{outcome="throttled"}"#, 1.0);
    grew(
        r#"idp_throttled_total{limit="login_failures_of_identifier"}"#,
        1.0,
    );
    grew(
        r#"idp_tokens_total{grant_type="authorization_code",outcome="issued"}"#,
        1.0,
    );
    grew(
        r#"idp_tokens_total{grant_type="authorization_code",outcome="refused"}"#,
        1.0,
    );
    grew(r#"idp_mails_total{outcome="queued"}"#, 1.0);
    grew(
        r#"idp_http_request_duration_seconds_count{method="POST",route="/login",status="303"}"#,
        1.0,
    );
    grew(
        r#"idp_http_request_duration_seconds_count{method="GET",route="/authorize",status="303"}"#,
        1.0,
    );
    assert!(
        after.contains(r#"idp_http_request_duration_seconds_bucket{le="0.001",method="GET""#)
            || after.contains(r#"route="/authorize",status="303",le="#),
        "a histogram with buckets: {after}"
    );
    // Read at the scrape, from this server's database and pool.
    assert_eq!(sample(&after, "idp_outbox_unsent"), 1.0, "{after}");
    assert!(sample(&after, "idp_outbox_oldest_unsent_age_seconds") >= 90.0);
    assert_eq!(sample(&after, "idp_db_pool_max_connections"), 4.0);
    assert!(after.contains(r#"idp_db_pool_connections{state="idle"}"#));
    assert!(after.ends_with("# EOF\n"));
}
both_backends!(prometheus_metrics);

/// With `metrics_listen`, the metrics are there only, and only the metrics are there.
async fn metrics_on_their_own_address(backend: Backend) {
    let port = free_port();
    let server = TestServer::start_with(backend, |s| {
        s.metrics_listen = Some(format!("127.0.0.1:{port}"));
    })
    .await;
    let text = scrape(format!("http://127.0.0.1:{port}/metrics")).await;
    assert!(text.contains("idp_outbox_unsent "), "{text}");
    let main = reqwest::get(server.url("/metrics")).await.unwrap();
    assert_eq!(main.status(), 404, "not on the public listener");
    let other = reqwest::get(format!(
        "http://127.0.0.1:{port}/.well-known/openid-configuration"
    ))
    .await
    .unwrap();
    assert_eq!(other.status(), 404, "nothing else on the metrics listener");
    let discovery = reqwest::get(server.url("/.well-known/openid-configuration"))
        .await
        .unwrap();
    assert_eq!(discovery.status(), 200);
}
both_backends!(metrics_on_their_own_address);

/// The `Containerfile`, built with podman and run: its final stage around the binary these
/// tests run (laid out by `scripts/container-rootfs`, as its build stage does; that stage
/// itself needs images from a registry this machine cannot reach). The container serves
/// as user 65532, writes its database into a named volume it owns, logs JSON, and exits 0
/// on SIGTERM. Where podman is not installed (`scripts/system-deps` installs it), it says
/// so and checks nothing.
#[tokio::test]
async fn container_image_serves() {
    if std::process::Command::new("podman")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("podman is not installed: the Containerfile is not tried");
        return;
    }
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let dir = TempDir(std::env::temp_dir().join(format!("idp-container-{tag}")));
    std::fs::create_dir_all(&dir.0).unwrap();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // This sandbox may not raise limits; runc runs where crun refuses its cgroups.
    let conf = dir.0.join("containers.conf");
    std::fs::write(&conf, "[containers]\ndefault_ulimits = []\n").unwrap();
    type Podman = (bool, String, std::process::Output);
    let podman = |args: &[&str]| -> Podman {
        let out = std::process::Command::new("podman")
            .arg("--runtime")
            .arg("runc")
            .args(args)
            .env("CONTAINERS_CONF", &conf)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            out,
        )
    };
    struct Cleanup<'a>(&'a dyn Fn(&[&str]) -> Podman, String);
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            let t = &self.1;
            (self.0)(&["rm", "-f", &format!("idp-{t}")]);
            (self.0)(&["volume", "rm", "-f", &format!("idp-data-{t}")]);
            (self.0)(&[
                "rmi",
                "-f",
                &format!("localhost/idp-{t}"),
                &format!("localhost/idp-rootfs-{t}"),
            ]);
        }
    }
    let _cleanup = Cleanup(&podman, tag.clone());

    let status = std::process::Command::new(repo.join("scripts/container-rootfs"))
        .arg(env!("CARGO_BIN_EXE_idp"))
        .arg(dir.0.join("rootfs"))
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::write(
        dir.0.join("Containerfile"),
        "FROM scratch\nCOPY rootfs /rootfs\n",
    )
    .unwrap();
    let rootfs = format!("localhost/idp-rootfs-{tag}");
    let (ok, _, out) = podman(&["build", "-q", "-t", &rootfs, dir.0.to_str().unwrap()]);
    assert!(ok, "{out:?}");
    let image = format!("localhost/idp-{tag}");
    let containerfile = repo.join("Containerfile");
    let (ok, _, out) = podman(&[
        "build",
        "-q",
        "--build-arg",
        &format!("ROOTFS={rootfs}"),
        "-t",
        &image,
        "-f",
        containerfile.to_str().unwrap(),
        repo.to_str().unwrap(),
    ]);
    assert!(ok, "{out:?}");

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let name = format!("idp-{tag}");
    let (ok, _, out) = podman(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "host",
        "-e",
        &format!("IDP_LISTEN=127.0.0.1:{port}"),
        "-e",
        &format!("IDP_ISSUER={base}"),
        "-v",
        &format!("idp-data-{tag}:/var/lib/idp"),
        &image,
    ]);
    assert!(ok, "{out:?}");
    https_for_test_clients();
    let client = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..100 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (_, _, out) = podman(&["logs", &name]);
    assert!(ready, "the container became ready: {out:?}");
    let discovery = client
        .get(format!("{base}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(discovery.status(), 200);
    let (_, pid, _) = podman(&["inspect", "--format", "{{.State.Pid}}", &name]);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid.split_whitespace().skip(1).all(|id| id == "65532"),
        "{uid}"
    );
    // The STS logs on stderr, which `podman logs` writes on its own stderr.
    let (_, _, out) = podman(&["logs", &name]);
    let all_logs = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        all_logs
            .lines()
            .filter(|l| l.starts_with('{'))
            .any(|l| serde_json::from_str::<serde_json::Value>(l)
                .is_ok_and(|v| v["target"] == "idp::access")),
        "JSON log lines: {all_logs}"
    );

    let (ok, _, out) = podman(&["stop", "-t", "30", &name]);
    assert!(ok, "{out:?}");
    let (_, code, _) = podman(&["inspect", "--format", "{{.State.ExitCode}}", &name]);
    assert_eq!(code, "0", "a clean exit on SIGTERM");
    let (_, mountpoint, _) = podman(&[
        "volume",
        "inspect",
        "--format",
        "{{.Mountpoint}}",
        &format!("idp-data-{tag}"),
    ]);
    let db = std::path::Path::new(&mountpoint).join("idp.db");
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&db).unwrap();
    assert_eq!(
        meta.uid(),
        65532,
        "the database is in the volume, the user's"
    );
}
