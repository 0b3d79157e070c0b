//! The outbox against a real SMTP server on loopback (mailin, an SMTP server library).

use std::net::TcpListener;

use idp::domain::mail::{self, OutgoingMail};

use crate::both_backends;
use crate::support::*;

/// One round of the outbox worker, driven by the test.
fn deliver(server: &TestServer, conn: &mut idp::store::DbConn) -> usize {
    mail::deliver_due(conn, &server.idp.mailer, server.idp.now()).unwrap()
}

fn mail(n: usize) -> OutgoingMail {
    OutgoingMail {
        recipient: format!("parent{n}@example.org"),
        language: Some(idp::i18n::Locale::Fr),
        subject: format!("Réinitialisation {n}"),
        text_body: format!("texte {n}"),
        html_body: format!("<p>html {n}</p>"),
    }
}

fn outbox_row(server: &TestServer) -> (i32, Option<String>, bool) {
    use diesel::prelude::*;
    use idp::store::schema::mail_outbox;
    let mut conn = server.idp.conn().unwrap();
    let (attempts, error, sent): (i32, Option<String>, Option<chrono::NaiveDateTime>) =
        mail_outbox::table
            .select((
                mail_outbox::attempts,
                mail_outbox::last_error,
                mail_outbox::sent_at,
            ))
            .first(&mut conn)
            .unwrap();
    (attempts, error, sent.is_some())
}

/// SMTP down, then up: the mail waits in the outbox and arrives once the server is back.
async fn smtp_outage_loses_nothing(backend: Backend) {
    let port = free_port();
    let server = TestServer::start_with(backend, |s| {
        s.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
        s.mail_poll_seconds = 3600; // the test drives the worker itself
    })
    .await;
    let mut conn = server.idp.conn().unwrap();
    mail::enqueue(&mut conn, &mail(1), server.idp.now()).unwrap();
    let sent = deliver(&server, &mut conn);
    assert_eq!(sent, 0);
    let (attempts, error, delivered) = outbox_row(&server);
    assert_eq!((attempts, delivered), (1, false));
    assert!(error.is_some(), "the failure is recorded");

    // Not retried before its back-off has passed.
    let inbox = smtp_server(TcpListener::bind(("127.0.0.1", port)).unwrap());
    assert_eq!(deliver(&server, &mut conn), 0);
    server.clock.advance(chrono::Duration::seconds(31));
    assert_eq!(deliver(&server, &mut conn), 1);
    let messages = inbox.messages();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].contains("parent1@example.org"));
    assert!(
        messages[0].contains("multipart/alternative"),
        "text and HTML bodies"
    );
    // The Message-ID is the outbox row's, so every attempt at it is the same message.
    let row: String = {
        use diesel::prelude::*;
        use idp::store::schema::mail_outbox;
        let mut conn = server.idp.conn().unwrap();
        mail_outbox::table
            .select(mail_outbox::id)
            .first(&mut conn)
            .unwrap()
    };
    assert!(
        messages[0].contains(&format!("Message-ID: <{row}@")),
        "{}",
        messages[0]
    );
    assert!(outbox_row(&server).2);
    // Sent once only.
    server.clock.advance(chrono::Duration::hours(1));
    assert_eq!(deliver(&server, &mut conn), 0);
    assert_eq!(inbox.messages().len(), 1);
}
both_backends!(smtp_outage_loses_nothing);

/// Workers racing (as instances would) send every mail exactly once.
async fn concurrent_workers_send_once(backend: Backend) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let inbox = smtp_server(listener);
    let server = TestServer::start_with(backend, |s| {
        s.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
        s.mail_poll_seconds = 3600;
    })
    .await;
    {
        let mut conn = server.idp.conn().unwrap();
        for n in 0..20 {
            mail::enqueue(&mut conn, &mail(n), server.idp.now()).unwrap();
        }
    }
    let idp = &server.idp;
    let delivered: usize = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut conn = idp.conn().unwrap();
                    mail::deliver_due(&mut conn, &idp.mailer, idp.now()).unwrap()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    // The instance's own worker may take part too (its first tick comes at start): that is
    // a third sender in the race, and still no mail may go twice.
    assert!(delivered <= 20);
    for _ in 0..50 {
        if inbox.messages().len() >= 20 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let messages = inbox.messages();
    assert_eq!(messages.len(), 20, "no mail twice, none lost");
    for n in 0..20 {
        assert_eq!(
            messages
                .iter()
                .filter(|m| m.contains(&format!("parent{n}@example.org")))
                .count(),
            1
        );
    }
}
both_backends!(concurrent_workers_send_once);

/// The worker of a running instance sends what is enqueued without being asked.
async fn background_worker_delivers(backend: Backend) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let inbox = smtp_server(listener);
    let server = TestServer::start_with(backend, |s| {
        s.smtp_url = Some(format!("smtp://127.0.0.1:{port}"))
    })
    .await;
    let mut conn = server.idp.conn().unwrap();
    mail::enqueue(&mut conn, &mail(7), server.idp.now()).unwrap();
    for _ in 0..100 {
        if !inbox.messages().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        inbox.messages().len(),
        1,
        "delivered by the instance's own worker"
    );
}
both_backends!(background_worker_delivers);

/// With no SMTP configured (the zero-configuration default), mail becomes `.eml` files.
async fn files_without_smtp(backend: Backend) {
    let server = TestServer::start_with(backend, |s| s.mail_poll_seconds = 3600).await;
    let mut conn = server.idp.conn().unwrap();
    mail::enqueue(&mut conn, &mail(3), server.idp.now()).unwrap();
    assert_eq!(deliver(&server, &mut conn), 1);
    let dir = &server.idp.settings.outbox_dir;
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    assert!(files[0].extension().is_some_and(|e| e == "eml"));
    assert!(
        std::fs::read_to_string(&files[0])
            .unwrap()
            .contains("parent3@example.org")
    );
    let _ = std::fs::remove_dir_all(dir);
}
both_backends!(files_without_smtp);

/// `idp mail test` renders the test mail in the chosen language and sends it over SMTP.
#[test]
fn cli_test_mail_over_smtp() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let inbox = smtp_server(listener);
    let db = TestDb::new(Backend::Sqlite);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_idp"))
        .args([
            "--json",
            "mail",
            "test",
            "--to",
            "parent@example.org",
            "--locale",
            "nl",
        ])
        .env("IDP_DATABASE_URL", &db.url)
        .env("IDP_SMTP_URL", format!("smtp://127.0.0.1:{port}"))
        .env("IDP_MAIL_FROM", "School STS <sts@example.org>")
        .env("IDP_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(said["delivered"], true);
    let messages = inbox.messages();
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0].contains("Subject: Testbericht van de aanmeldingsdienst"),
        "{}",
        messages[0]
    );
    assert!(
        messages[0].lines().any(|l| l.starts_with("From:")
            && l.contains("School STS")
            && l.contains("<sts@example.org>")),
        "{}",
        messages[0]
    );
    assert!(messages[0].contains("text/plain") && messages[0].contains("text/html"));
}

/// With `dkim` set, every mail carries a DKIM signature (RFC 6376) for the domain.
async fn dkim_signed_mail(backend: Backend) {
    use base64::Engine;
    let key_file = std::env::temp_dir().join(format!("dkim-{}.key", uuid::Uuid::new_v4().simple()));
    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    std::fs::write(&key_file, key).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let inbox = smtp_server(listener);
    let server = TestServer::start_with(backend, |s| {
        s.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
        s.dkim = Some(idp::domain::mail::DkimSettings {
            domain: "school.example".into(),
            selector: "sts".into(),
            algorithm: idp::domain::mail::DkimAlgorithm::Ed25519,
            private_key_file: key_file.clone(),
        });
    })
    .await;
    let mut conn = server.idp.conn().unwrap();
    mail::enqueue(&mut conn, &mail(1), server.idp.now()).unwrap();
    inbox.wait_for(1).await;
    let raw = &inbox.messages()[0];
    let signature = raw
        .lines()
        .find(|l| l.starts_with("DKIM-Signature:"))
        .unwrap_or_else(|| panic!("no DKIM-Signature in {raw}"));
    for tag in ["a=ed25519-sha256", "d=school.example", "s=sts"] {
        assert!(signature.contains(tag), "{tag} missing in {signature}");
    }
    let _ = std::fs::remove_file(key_file);
}
both_backends!(dkim_signed_mail);
