//! Rate limits against attackers that do not lock out a school: a whole school behind one
//! NAT address, a class asking its first resets together, brute force from many
//! addresses, and the owner's way back in.

use crate::both_backends;
use crate::support::*;

const SCHOOL: &str = "198.51.100.20";
const ATTACKER: &str = "192.0.2.66";
const LOGIN_THROTTLED: &str = "Trop de tentatives de connexion échouées";
const FORGOT_THROTTLED: &str = "Trop de demandes depuis votre réseau";
const PUPIL_PASSWORD: &str = "Zebre-Orange-91";

/// A browser whose requests come, through the trusted proxy, from `address`.
fn browser_at(address: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-forwarded-for", address.parse().unwrap());
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap()
}

/// One login attempt from `address`: whether it got in, and the page when it did not.
async fn attempt(server: &TestServer, address: &str, who: &str, password: &str) -> (bool, String) {
    let b = browser_at(address);
    let url = authorize_url(server, "openid", "&state=st");
    let resp = login_response(&b, server, &url, who, password).await;
    let got_in = resp.status() == 303;
    (
        got_in,
        if got_in {
            String::new()
        } else {
            resp.text().await.unwrap()
        },
    )
}

/// "Forgot password?" for `who` from `address`: the answer page.
async fn forgot(server: &TestServer, address: &str, who: &str) -> String {
    let answer = ask_for_reset(&browser_at(address), server, who).await;
    answer.text().await.unwrap()
}

fn behind_the_proxy(s: &mut idp::config::Settings) {
    s.trusted_proxies = idp::config::Networks::try_from(vec!["127.0.0.1/32".to_string()]).unwrap();
}

/// 120 pupils behind one address log in at 8:25, each after a typo: 120 failures, more
/// than the 100 an address may have in 15 minutes, yet none is turned away, since each
/// success from the address allows it one more failure. Then a class of 30 asks its first
/// resets together, more than the 20 an hour: all are taken. An attacker from another
/// address, who never succeeds, is stopped at 100 failures and at 20 requests.
async fn a_school_behind_one_address_is_not_an_attacker(backend: Backend) {
    let server = TestServer::start_with(backend, behind_the_proxy).await;
    for n in 0..120 {
        add_user(
            &server,
            &format!("pupil.{n}"),
            Some(&format!("family.{n}@example.org")),
            "fr",
        );
    }
    for n in 0..120 {
        let pupil = format!("pupil.{n}");
        let (typo, page) = attempt(&server, SCHOOL, &pupil, "Zebre-Orange-19").await;
        assert!(!typo && !page.contains(LOGIN_THROTTLED), "pupil {n}'s typo");
        let (got_in, page) = attempt(&server, SCHOOL, &pupil, PUPIL_PASSWORD).await;
        assert!(got_in, "pupil {n} logs in: {page}");
    }
    for n in 0..30 {
        let answer = forgot(&server, SCHOOL, &format!("pupil.{n}")).await;
        assert!(
            !answer.contains(FORGOT_THROTTLED),
            "request {n} of the class"
        );
    }

    for n in 0..100 {
        let (got_in, page) = attempt(&server, ATTACKER, &format!("guess.{n}"), "123456").await;
        assert!(!got_in && !page.contains(LOGIN_THROTTLED), "attempt {n}");
    }
    let (got_in, page) = attempt(&server, ATTACKER, USERNAME, PASSWORD).await;
    assert!(
        !got_in && page.contains(LOGIN_THROTTLED),
        "the address is stopped"
    );
    for n in 0..20 {
        let answer = forgot(&server, ATTACKER, &format!("guess.{n}")).await;
        assert!(!answer.contains(FORGOT_THROTTLED), "request {n}");
    }
    let answer = forgot(&server, ATTACKER, USERNAME).await;
    assert!(
        answer.contains(FORGOT_THROTTLED),
        "the 21st request is refused"
    );
}
both_backends!(a_school_behind_one_address_is_not_an_attacker);

/// A network listed in `school_networks` has no per-address limit; the per-identifier limit
/// still stops guessing one account.
async fn school_networks_have_no_address_limit(backend: Backend) {
    let server = TestServer::start_with(backend, |s| {
        behind_the_proxy(s);
        s.school_networks =
            idp::config::Networks::try_from(vec!["198.51.100.0/24".to_string()]).unwrap();
    })
    .await;
    for n in 0..110 {
        let (got_in, page) = attempt(&server, SCHOOL, &format!("typo.{n}"), "wrong").await;
        assert!(!got_in && !page.contains(LOGIN_THROTTLED), "attempt {n}");
    }
    for n in 0..25 {
        let answer = forgot(&server, SCHOOL, &format!("typo.{n}")).await;
        assert!(!answer.contains(FORGOT_THROTTLED), "request {n}");
    }
    let (got_in, _) = attempt(&server, SCHOOL, USERNAME, PASSWORD).await;
    assert!(got_in, "no per-address limit in a school network");

    for _ in 0..10 {
        let (got_in, _) = attempt(&server, SCHOOL, USERNAME, "guess").await;
        assert!(!got_in);
    }
    let (got_in, page) = attempt(&server, SCHOOL, USERNAME, PASSWORD).await;
    assert!(
        !got_in && page.contains(LOGIN_THROTTLED),
        "one account's limit stays"
    );
}
both_backends!(school_networks_have_no_address_limit);

/// Brute force on one account from ten addresses: the account's limit stops the next try,
/// even with the right password, from anywhere. Its owner resets the password by mail and
/// logs in at once with the new one: the reset ends the lockout (Keycloak #45388 did not).
async fn a_reset_ends_the_lockout(backend: Backend) {
    let (server, inbox) = TestServer::with_mail(backend, behind_the_proxy).await;
    for n in 0..10 {
        let (got_in, _) = attempt(&server, &format!("203.0.113.{n}"), USERNAME, "guess").await;
        assert!(!got_in);
    }
    let (got_in, page) = attempt(&server, "203.0.113.200", USERNAME, PASSWORD).await;
    assert!(
        !got_in && page.contains(LOGIN_THROTTLED),
        "locked for everyone"
    );

    let owner = browser_at("198.51.100.7");
    ask_for_reset(&owner, &server, USERNAME).await;
    let mail = inbox.wait_for(1).await.remove(0);
    let link = mail.links(&server, "/reset?token=").remove(0);
    let new_password = "Velo-Riviere-Lune-42";
    let done = use_reset_link(&owner, &server, &link, new_password).await;
    assert_eq!(done.status(), 200);

    let (got_in, page) = attempt(&server, "198.51.100.7", USERNAME, new_password).await;
    assert!(got_in, "the reset ended the lockout: {page}");
}
both_backends!(a_reset_ends_the_lockout);

/// Two logins from a new address end at the same moment, each in its transaction: both
/// count, neither fails (on PostgreSQL the second insert of the address's row fails on the
/// key, and must not take the login's transaction down with it).
async fn concurrent_first_hits_in_transactions(backend: Backend) {
    use idp::domain::throttle::{self, ThrottleKey};
    let server = TestServer::start(backend).await;
    let key = ThrottleKey::LoginSuccessesFromAddress("203.0.113.50".into());
    let now = server.idp.now();
    let together = std::sync::Barrier::new(2);
    let outcomes: Vec<Result<(), idp::domain::DomainError>> = std::thread::scope(|scope| {
        let both: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut conn = server.idp.conn().unwrap();
                    together.wait();
                    idp::store::transaction(&mut conn, |conn| {
                        throttle::hit(conn, &key, now)?;
                        std::thread::sleep(std::time::Duration::from_millis(200));
                        // The transaction goes on after the hit.
                        throttle::hits(conn, &key, now).map(|_| ())
                    })
                })
            })
            .collect();
        both.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    let counted = throttle::hits(&mut server.idp.conn().unwrap(), &key, now).unwrap();
    assert_eq!(counted, 2);
}
both_backends!(concurrent_first_hits_in_transactions);
