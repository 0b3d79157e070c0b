//! Several writers on one store: two `idp` processes on one PostgreSQL (log in on the
//! first, redeem the code on the second), and two connections writing at once.

use std::process::{Child, Command, Stdio};

use crate::both_backends;
use crate::support::*;

struct Instance(Child);
impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn idp(db: &str, issuer: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_idp"));
    cmd.args(args)
        .env("IDP_DATABASE_URL", db)
        .env("IDP_ISSUER", issuer)
        .env("IDP_PASSWORD_HASHING__MEMORY_KIB", "8192")
        .env("IDP_PASSWORD_HASHING__ITERATIONS", "1")
        .env("IDP_WORKERS", "1")
        .env("IDP_DATABASE_POOL_SIZE", "2")
        .env("IDP_LOG", "warn");
    cmd
}

async fn wait_ready(base: &str) {
    for _ in 0..200 {
        if let Ok(r) = reqwest::get(format!("{base}/health")).await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("instance at {base} did not become ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_postgres() {
    let db = TestDb::new(Backend::Postgres);
    let (p1, p2) = (free_port(), free_port());
    // Both instances answer for one issuer, as behind a load balancer.
    let issuer = format!("http://127.0.0.1:{p1}");
    let ok = idp(&db.url, &issuer, &["db", "migrate"]).status().unwrap();
    assert!(ok.success());
    let out = idp(
        &db.url,
        &issuer,
        &[
            "--json",
            "client",
            "create",
            "--id",
            "school-app",
            "--name",
            "School",
            "--secret",
            SECRET,
            "--redirect-uri",
            REDIRECT,
        ],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(created["client"]["id"], "school-app");
    let mut create_user = idp(
        &db.url,
        &issuer,
        &[
            "user",
            "create",
            "--username",
            USERNAME,
            "--email",
            "jean.dupont@hotmail.com",
        ],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::null())
    .spawn()
    .unwrap();
    use std::io::Write;
    create_user
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    assert!(create_user.wait().unwrap().success());
    // In a school, so the first login has the account's data to check.
    for args in [
        &["org", "create", "--name", "Ville de Namur"][..],
        &[
            "school",
            "create",
            "--org",
            "Ville de Namur",
            "--name",
            "École du Centre",
        ],
        &["user", "join", USERNAME, "École du Centre"],
    ] {
        let out = idp(&db.url, &issuer, args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
    }

    let _a = Instance(
        idp(&db.url, &issuer, &[])
            .env("IDP_LISTEN", format!("127.0.0.1:{p1}"))
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let _b = Instance(
        idp(&db.url, &issuer, &[])
            .env("IDP_LISTEN", format!("127.0.0.1:{p2}"))
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (base1, base2) = (
        format!("http://127.0.0.1:{p1}"),
        format!("http://127.0.0.1:{p2}"),
    );
    wait_ready(&base1).await;
    wait_ready(&base2).await;

    // Both publish the same keys.
    let jwks1 = reqwest::get(format!("{base1}/jwks"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let jwks2 = reqwest::get(format!("{base2}/jwks"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(jwks1, jwks2);

    let b = browser();
    let resp = log_in_at(&b, &base1, USERNAME, PASSWORD).await;
    // A first login: the wizard, its steps alternating between the instances (the flow
    // lives in the database, the cookie goes to both).
    assert_eq!(location(&resp), "/wizard");
    let mut resp = resp;
    for base in [&base2, &base1] {
        let page = b
            .get(format!("{base}/wizard"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        resp = b
            .post(format!("{base}/wizard"))
            .form(&[
                ("csrf", input_value(&page, "csrf")),
                ("action", "next".into()),
            ])
            .send()
            .await
            .unwrap();
    }
    let code = query_param(&location(&resp), "code").unwrap();
    let (_, tokens) = token_call(
        &base2,
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert!(tokens["id_token"].is_string(), "{tokens}");
    // The token from the second instance works on the first.
    let resp = reqwest::Client::new()
        .get(format!("{base1}/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

/// The administration commands, as scripts use them (`--json`), on SQLite.
#[test]
fn cli_administration() {
    let db = TestDb::new(Backend::Sqlite);
    let issuer = "http://127.0.0.1:8080";
    let run = |args: &[&str]| -> serde_json::Value {
        let out = idp(&db.url, issuer, args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
    };
    let created = run(&[
        "--json",
        "client",
        "create",
        "--id",
        "spa",
        "--name",
        "SPA",
        "--public",
        "--redirect-uri",
        "https://spa.example.org/cb",
        "--id-token-alg",
        "ES256",
    ]);
    assert_eq!(created["client"]["token_endpoint_auth_method"], "none");
    assert!(
        created["client_secret"].is_null(),
        "a public client has no secret"
    );
    let confidential = run(&[
        "--json",
        "client",
        "create",
        "--id",
        "web",
        "--name",
        "Web",
        "--redirect-uri",
        "https://web.example.org/cb",
    ]);
    assert!(
        confidential["client_secret"].as_str().unwrap().len() >= 43,
        "a generated secret of 256 bits"
    );
    assert_eq!(
        run(&["--json", "client", "list"]).as_array().unwrap().len(),
        2
    );
    assert_eq!(
        run(&["--json", "client", "show", "spa"])["id_token_signed_response_alg"],
        "ES256"
    );
    run(&["--json", "client", "delete", "web"]);
    assert_eq!(
        run(&["--json", "client", "list"]).as_array().unwrap().len(),
        1
    );

    let user = run(&[
        "--json",
        "user",
        "create",
        "--username",
        "Marie.Curie",
        "--email",
        "famille@example.org",
        "--password",
        PASSWORD,
    ]);
    run(&[
        "--json",
        "user",
        "create",
        "--username",
        "pierre.curie",
        "--email",
        "famille@example.org",
        "--no-password",
    ]);
    assert_eq!(
        run(&["--json", "user", "list"]).as_array().unwrap().len(),
        2,
        "families share an address"
    );
    let dup = idp(
        &db.url,
        issuer,
        &[
            "user",
            "create",
            "--username",
            "marie.curie",
            "--password",
            "x",
            "--skip-policy",
        ],
    )
    .output()
    .unwrap();
    assert!(
        !dup.status.success(),
        "identifiers are unique without regard to case"
    );
    let said = String::from_utf8_lossy(&dup.stderr);
    assert!(said.contains("taken"), "{said}");
    let email_as_name = idp(
        &db.url,
        issuer,
        &[
            "user",
            "create",
            "--username",
            "marie@example.org",
            "--password",
            "x",
            "--skip-policy",
        ],
    )
    .output()
    .unwrap();
    assert!(String::from_utf8_lossy(&email_as_name.stderr).contains("not an e-mail address"));
    assert_eq!(
        run(&["--json", "user", "show", "MARIE.CURIE"])["id"],
        user["id"]
    );
    run(&[
        "--json",
        "user",
        "set-password",
        "marie.curie",
        "--password",
        "Cool72++",
    ]);
    // Organising bodies, schools, kinds and profile data.
    let org = run(&["--json", "org", "create", "--name", "Ville de Namur"]);
    let school = run(&[
        "--json",
        "school",
        "create",
        "--org",
        "Ville de Namur",
        "--name",
        "École du Centre",
        "--data-changes",
        "request",
    ]);
    assert_eq!(school["organising_body"]["id"], org["id"]);
    assert_eq!(school["data_changes"], "request");
    run(&["--json", "user", "join", "pierre.curie", "École du Centre"]);
    run(&["--json", "user", "set-kind", "marie.curie", "guardian"]);
    let profile = run(&[
        "--json",
        "user",
        "set-profile",
        "pierre.curie",
        "--birth-date",
        "2014-05-02",
        "--locality",
        "Namur",
        "--sex",
        "M",
    ]);
    assert_eq!(profile["profile"]["birth_date"], "2014-05-02");
    assert_eq!(profile["profile"]["locality"], "Namur");
    assert!(
        profile["profile"]["nationality"].is_null(),
        "never invented"
    );
    assert_eq!(
        run(&["--json", "user", "show", "marie.curie"])["kind"],
        "guardian"
    );
    assert_eq!(
        run(&["--json", "school", "list"]).as_array().unwrap().len(),
        1
    );
    let bad_date = idp(
        &db.url,
        issuer,
        &[
            "user",
            "set-profile",
            "pierre.curie",
            "--birth-date",
            "01-01-0001",
        ],
    )
    .output()
    .unwrap();
    assert!(String::from_utf8_lossy(&bad_date.stderr).contains("YYYY-MM-DD"));

    // Roles for the organising bodies' screens: the scope named by name, listed, taken.
    let granted = run(&[
        "--json",
        "role",
        "grant",
        "pierre.curie",
        "body-admin",
        "--org",
        "Ville de Namur",
    ]);
    assert_eq!(granted["granted"], true);
    assert_eq!(granted["role"]["role"], "body_admin");
    assert_eq!(granted["role"]["scope"], org["id"]);
    let listed = run(&["--json", "role", "list"]);
    assert_eq!(listed[0]["user"], "pierre.curie");
    assert_eq!(listed[0]["scope_name"], "Ville de Namur");
    let out = idp(
        &db.url,
        issuer,
        &["role", "grant", "pierre.curie", "teacher"],
    )
    .output()
    .unwrap();
    assert!(!out.status.success(), "a teacher of which school?");
    let revoked = run(&[
        "--json",
        "role",
        "revoke",
        "pierre.curie",
        "body-admin",
        "--org",
        "Ville de Namur",
    ]);
    assert_eq!(revoked["revoked"], true);
    assert_eq!(
        run(&["--json", "role", "list"]).as_array().unwrap().len(),
        0
    );

    // Terms of use, versioned per organising body.
    let dir = std::env::temp_dir().join(format!("terms-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let fr = dir.join("fr.txt");
    std::fs::write(&fr, "Conditions générales").unwrap();
    let text = format!("fr={}", fr.display());
    let published = run(&[
        "--json",
        "terms",
        "publish",
        "--org",
        "Ville de Namur",
        "--version",
        "2026-09",
        "--text",
        &text,
    ]);
    assert_eq!(published["version"], "2026-09");
    assert_eq!(published["texts"]["fr"], "Conditions générales");
    let again = idp(
        &db.url,
        issuer,
        &[
            "terms",
            "publish",
            "--org",
            "Ville de Namur",
            "--version",
            "2026-09",
            "--text",
            &text,
        ],
    )
    .output()
    .unwrap();
    assert!(!again.status.success(), "a version is published once");
    assert_eq!(
        run(&["--json", "terms", "list", "--org", "Ville de Namur"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(
        run(&[
            "--json",
            "terms",
            "acceptances",
            "--org",
            "Ville de Namur",
            "--version",
            "2026-09"
        ])
        .as_array()
        .unwrap()
        .is_empty()
    );
    assert!(
        run(&["--json", "school", "requests", "École du Centre"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    let _ = std::fs::remove_dir_all(dir);

    // Co-accounts and temporary passwords.
    let linked = run(&[
        "--json",
        "user",
        "link",
        "pierre.curie",
        "marie.curie",
        "--relation",
        "mother",
    ]);
    assert_eq!(linked["relation"], "mother");
    let links = run(&["--json", "user", "links", "pierre.curie"]);
    assert_eq!(links["co_accounts"][0]["username"], "Marie.Curie");
    assert_eq!(
        run(&["--json", "user", "links", "marie.curie"])["co_account_of"][0]["relation"],
        "mother"
    );
    let temporary = run(&["--json", "user", "temp-password", "pierre.curie", "--show"]);
    assert_eq!(temporary["password"].as_str().unwrap().len(), 14);
    assert_eq!(
        run(&["--json", "user", "show", "pierre.curie"])["password_change_required"],
        true
    );
    let mailed = run(&["--json", "user", "temp-password", "pierre.curie"]);
    assert!(
        mailed["password"].is_null(),
        "a mailed password is not shown"
    );
    assert_eq!(
        mailed["mailed_to"],
        serde_json::json!(["famille@example.org"]),
        "one mail per mailbox, also the co-account's"
    );
    run(&[
        "--json",
        "user",
        "set-password",
        "pierre.curie",
        "--password",
        "Cool72++Cool",
    ]);
    assert_eq!(
        run(&["--json", "user", "show", "pierre.curie"])["password_change_required"],
        false
    );
    run(&["--json", "user", "expire-password", "pierre.curie"]);
    assert_eq!(
        run(&["--json", "user", "show", "pierre.curie"])["password_change_required"],
        true,
        "the next login asks for a new password"
    );
    run(&["--json", "user", "unlink", "pierre.curie", "marie.curie"]);
    assert!(
        run(&["--json", "user", "links", "pierre.curie"])["co_accounts"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        run(&["--json", "user", "disable", "marie.curie"])["disabled"],
        user["id"]
    );
    assert_eq!(
        run(&["--json", "user", "show", "marie.curie"])["disabled"],
        true
    );

    // The password policy applies, all broken rules listed, unless an administrator insists.
    let weak = idp(
        &db.url,
        issuer,
        &["user", "set-password", "marie.curie", "--password", "curie"],
    )
    .output()
    .unwrap();
    assert!(!weak.status.success());
    let said = String::from_utf8_lossy(&weak.stderr);
    assert!(
        said.contains("at least 8 characters") && said.contains("your identifier, your name"),
        "{said}"
    );
    run(&[
        "--json",
        "user",
        "set-password",
        "marie.curie",
        "--password",
        "curie",
        "--skip-policy",
    ]);

    let keys = run(&["--json", "keys", "list"])["keys"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(keys, 2);
    let rotated = run(&["--json", "keys", "rotate"]);
    assert_eq!(rotated["created"].as_array().unwrap().len(), 2);

    // Bad configuration stops with a message naming the key.
    let out = idp(&db.url, issuer, &["keys", "list"])
        .env("IDP_ACCESS_TOKEN_TTL_SECONDS", "soon")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("access_token_ttl_seconds"));
}

/// Two connections write at once (two instances, or the STS beside an import): a
/// transaction that reads first and writes later still commits, and the other writer waits
/// its turn. On SQLite a transaction begun the default (deferred) way fails here at its
/// write with "database is locked": the other connection committed since it read.
async fn a_transaction_that_reads_then_writes_beside_another_writer(backend: Backend) {
    use diesel::{QueryDsl, RunQueryDsl};
    use idp::domain::audit::{Event, Kind};
    use idp::store::schema::audit_events;

    let server = TestServer::start(backend).await;
    let now = server.idp.now();
    let read = std::sync::Barrier::new(2);
    std::thread::scope(|scope| {
        let reader_writer = scope.spawn(|| {
            let mut conn = server.idp.conn().unwrap();
            idp::store::transaction(&mut conn, |conn| {
                let before: i64 = audit_events::table.count().get_result(conn)?;
                read.wait();
                // The other connection tries to write now, and must wait (SQLite) or
                // commit beside (PostgreSQL); either way this write still goes through.
                std::thread::sleep(std::time::Duration::from_millis(200));
                Event::new(Kind::LoginSucceeded)
                    .detail("first")
                    .record(conn, now)?;
                Ok::<_, idp::domain::DomainError>(before)
            })
        });
        let other = scope.spawn(|| {
            let mut conn = server.idp.conn().unwrap();
            read.wait();
            Event::new(Kind::LoginFailed)
                .detail("second")
                .record(&mut conn, now)
        });
        other
            .join()
            .unwrap()
            .expect("the other writer waited its turn");
        reader_writer
            .join()
            .unwrap()
            .expect("the transaction that read first still wrote");
    });
    let mut conn = server.idp.conn().unwrap();
    let details: Vec<String> = audit_events::table
        .select(audit_events::detail)
        .load(&mut conn)
        .unwrap();
    assert!(details.contains(&"first".to_owned()), "{details:?}");
    assert!(details.contains(&"second".to_owned()), "{details:?}");
}
both_backends!(a_transaction_that_reads_then_writes_beside_another_writer);

/// Back-channel logout on two instances of one PostgreSQL: a dozen sessions end at once
/// (the account is disabled), both instances' workers race for the logout tokens, and the
/// application receives each exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_send_each_logout_token_once() {
    let db = TestDb::new(Backend::Postgres);
    let apps = crate::logout_everywhere::Listener::start();
    let (p1, p2) = (free_port(), free_port());
    let issuer = format!("http://127.0.0.1:{p1}");
    let run = |args: &[&str]| {
        let out = idp(&db.url, &issuer, args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
    };
    run(&["db", "migrate"]);
    run(&[
        "client",
        "create",
        "--id",
        "school-app",
        "--name",
        "School",
        "--secret",
        SECRET,
        "--redirect-uri",
        REDIRECT,
    ]);
    let uri = format!("{}/school-app", apps.base);
    run(&["client", "backchannel-logout", "school-app", "--uri", &uri]);
    run(&[
        "user",
        "create",
        "--username",
        USERNAME,
        "--password",
        PASSWORD,
    ]);
    let _a = Instance(
        idp(&db.url, &issuer, &[])
            .env("IDP_LISTEN", format!("127.0.0.1:{p1}"))
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let _b = Instance(
        idp(&db.url, &issuer, &[])
            .env("IDP_LISTEN", format!("127.0.0.1:{p2}"))
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let bases = [
        format!("http://127.0.0.1:{p1}"),
        format!("http://127.0.0.1:{p2}"),
    ];
    for base in &bases {
        wait_ready(base).await;
    }
    const SESSIONS: usize = 12;
    for n in 0..SESSIONS {
        let base = &bases[n % 2];
        let resp = log_in_at(&browser(), base, USERNAME, PASSWORD).await;
        assert!(location(&resp).starts_with(REDIRECT), "login {n}");
    }
    run(&["user", "disable", USERNAME]);
    let got = apps.wait_for(SESSIONS).await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let got_now = apps.received.lock().unwrap().clone();
    assert_eq!(got_now.len(), SESSIONS, "each token once: {got:?}");
    let sids: std::collections::BTreeSet<String> = got_now
        .iter()
        .map(|(_, body)| {
            let token = body.trim_start_matches("logout_token=");
            let claims: serde_json::Value = jsonwebtoken::dangerous::insecure_decode(token)
                .map(|t| t.claims)
                .unwrap();
            claims["sid"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(sids.len(), SESSIONS, "one per session");
}
