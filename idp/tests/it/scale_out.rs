//! Two `idp` processes on one PostgreSQL: log in on the first, redeem the code on the second.

use std::process::{Child, Command, Stdio};

use crate::flow::urlencode;
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
    let url = format!(
        "{base1}/authorize?response_type=code&client_id=school-app&redirect_uri={}&scope=openid&state=s",
        urlencode(REDIRECT)
    );
    let resp = b.get(&url).send().await.unwrap();
    let login = location(&resp);
    let page = b
        .get(format!("{base1}{login}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let resp = b
        .post(format!("{base1}/login"))
        .form(&[
            ("request", input_value(&page, "request")),
            ("csrf", input_value(&page, "csrf")),
            ("identifier", USERNAME.into()),
            ("password", PASSWORD.into()),
        ])
        .send()
        .await
        .unwrap();
    let code = query_param(&location(&resp), "code").unwrap();
    let tokens: serde_json::Value = reqwest::Client::new()
        .post(format!("{base2}/token"))
        .basic_auth("school-app", Some(SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
