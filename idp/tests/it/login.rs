//! The login pipeline: a new way of proving who you are is one more authenticator, and the
//! end of the login (throttles, audit, session, code) needs no change for it.

use chrono::{DateTime, Utc};
use idp::domain::audit::Origin;
use idp::domain::login::{
    self, Amr, Authenticated, Authenticator, Failure, Finished, Method, Then,
};
use idp::domain::users;
use idp::domain::{DomainResult, Idp};
use idp::store::DbConn;

use crate::both_backends;
use crate::support::*;

/// A test-only authenticator: the person touched a security key registered to the account.
struct SecurityKey<'a> {
    identifier: &'a str,
}

impl Authenticator for SecurityKey<'_> {
    fn identifier(&self) -> Option<&str> {
        Some(self.identifier)
    }

    fn authenticate(
        &self,
        _: &Idp,
        conn: &mut DbConn,
        _: DateTime<Utc>,
    ) -> DomainResult<Result<Authenticated, Failure>> {
        Ok(match users::find_by_username(conn, self.identifier)? {
            Some(user) => Ok(Authenticated {
                user,
                amr: vec![Amr::HARDWARE_KEY],
                method: Method::new("security key"),
                old_identifier: None,
                upstream: None,
            }),
            None => Err(Failure::BadCredentials),
        })
    }
}

/// Through the same `authenticate` and `finish` as a password: the relying party gets a
/// code, and the ID token says how the person authenticated (`amr`, OIDC Core §2).
async fn a_new_authenticator_reaches_the_id_token(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (client, http) = relying_party(&server, "school-app", Some(SECRET)).await;
    let rp = rp_request(&client, &[]);
    let resp = browser().get(&rp.url).send().await.unwrap();
    let request = query_param(&server.url(&location(&resp)), "request").unwrap();

    let idp = &server.idp;
    let mut conn = idp.conn().unwrap();
    let origin = Origin::of("192.0.2.1").for_client(Some("school-app"));
    let key = SecurityKey {
        identifier: USERNAME,
    };
    let who = login::authenticate(idp, &mut conn, &key, origin)
        .unwrap()
        .expect("the key is the account's");
    let then = Then::answering(idp, &mut conn, &request).unwrap();
    let finished = login::finish(idp, &mut conn, who, origin, then);
    let Finished::LoggedIn {
        next: Some(back), ..
    } = finished.unwrap()
    else {
        panic!("a returning account owes nothing: straight to the application");
    };
    assert!(back.starts_with(REDIRECT), "{back}");
    let code = query_param(&back, "code").unwrap();
    let (_, claims) = rp_redeem(&client, &http, code, rp).await;
    let amr: Vec<String> = claims
        .auth_method_refs()
        .unwrap()
        .iter()
        .map(|a| a.to_string())
        .collect();
    assert_eq!(amr, ["hwk"]);
    let user = users::find_by_username(&mut conn, USERNAME)
        .unwrap()
        .unwrap();
    let kinds = idp::domain::audit::kinds_for(&mut conn, user.id).unwrap();
    assert_eq!(kinds, ["login_succeeded"], "audited as every login");

    // Its failures count against the same throttles as wrong passwords.
    let unknown = SecurityKey {
        identifier: "nobody",
    };
    for _ in 0..10 {
        let failed = login::authenticate(idp, &mut conn, &unknown, origin).unwrap();
        assert_eq!(failed.unwrap_err(), Failure::BadCredentials);
    }
    let throttled = login::authenticate(idp, &mut conn, &unknown, origin).unwrap();
    assert_eq!(throttled.unwrap_err(), Failure::Throttled { minutes: 15 });
}
both_backends!(a_new_authenticator_reaches_the_id_token);

/// The password of the legacy vectors (see `crypto::legacy`'s tests for their origin).
pub const LEGACY_PASSWORD: &str = "Ecole-2019!";

/// Stored hashes of legacy systems, and whether their format is weak (one fast digest).
pub const LEGACY_HASHES: [(&str, bool); 25] = [
    (
        "AAABAgMEBQYHCAkKCwwNDg/fUNffrD0w/zW+27zGWtP0VdPxHKoKIHGlOGjSjQSBxg==",
        false,
    ),
    (
        "AQAAAAAAACcQAAAAEGRlZmdoaWprbG1ub3BxcnP6UMV2CyDtPlmtiW/6sIqEpLF/UNhi0zacC4ceUCq2AA==",
        false,
    ),
    (
        "AQAAAAEAACcQAAAAEGRlZmdoaWprbG1ub3BxcnOmsV53ZNW9+jOm1P664c/yiJBqMtX8hq3kyC9rmSYagw==",
        false,
    ),
    (
        "AQAAAAIAACcQAAAAEGRlZmdoaWprbG1ub3BxcnNEIsjwFszkYq+uYhZNiEZFsOsA7bhpB1LyYC4onFfPrw==",
        false,
    ),
    (
        "pbkdf2_sha256$20000$Pa55w0rdSa1t$XO3WEt8V2719ctGb4CZjy+myVtdNTIH1OwJX4q28Fjg=",
        false,
    ),
    (
        "pbkdf2_sha1$20000$Pa55w0rdSa1t$L+ILicWGIBtwRkJwfr6R8/O4+LE=",
        false,
    ),
    (
        "$2a$05$AkRr2Y7rVsTfkRbRa9zUVOzCoVUhGAr4ea/XsXD5cfOuJyuKq7WX6",
        false,
    ),
    (
        "$2b$05$mCUaWXDJoTxQSd7WhUqm9.GajP.JpDqTjqX1yVFBP2Pm9BFDoBLhm",
        false,
    ),
    (
        "$2y$05$537UgP.5UnXcm0BeVn1yhuElnlWj6NRU7vof0m0mNjpq.6.mGoIOS",
        false,
    ),
    (
        "$5$rounds=10000$saltstring$nL.UUvu2.a27huxUVz8mdWSSl4Kbi4dqIejdemMSNm3",
        false,
    ),
    (
        "$6$saltstring$xWZkuVw0hMH.j1hv0.wDzSGZj2TkcLIfDZ8YMeGEIWaRb5lAQQ2NXHQ3tU.SbAiFbQ8dtG/NUNskao8nYJZMn1",
        false,
    ),
    (
        "$argon2i$v=19$m=4096,t=3,p=2$MDEyMzQ1Njc4OWFiY2RlZg$ws+wyeHZWk4tuAFEhQuiVUlr8Ujs6yCzftPcmTv0d8k",
        false,
    ),
    ("$P$6abcdefgh0Mq1CyD3sR27oCd54MYzy/", false),
    (
        "$S$Dxyzabcde6E1ulllUQWGVd5jINwgar0L7ezb/UFFoNVI1XU/JK2d",
        false,
    ),
    (
        "U$S$DqwertyuikgyXlNRUmEzmEfSihXaaDa98qq8QUplWeXZdE5KGATx",
        false,
    ),
    ("$1$abcdefgh$nhAblURO52keTP5wnveX9.", false),
    (
        "$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$4oCf61FlPxaaR1ZtjJ6d71Q+W+HI+3B3qdQjLczKoF0",
        false,
    ),
    ("$H$8ABCDEFGHdGUNV0yt54m6nElmmNKRZ.", false),
    ("{MD5}NdQYRcqHjjpj0bP8PO7ydQ==", true),
    (
        "$legacy$aspnet membership sha1$before$AAECAwQFBgcICQoLDA0ODw==$RQWmlBmErMEDcDEeyGgVBuiEzgk=",
        true,
    ),
    ("{SMD5}lr5m5hf3mdqimRlda4XsgQECAwQ=", true),
    ("{SHA}UzZ0B4pKUM9PlnGMtfzjeB5mbIQ=", true),
    ("{SSHA}GTOWNyPzOSdDl0rrGiR1QB8oj9YBAgMEBQYHCA==", true),
    (
        "{SSHA256}K7FLbvOZjPHwOf/skFG8GhdNlQ5pycvN0LAaB5LcqlwBAgMEBQYHCA==",
        true,
    ),
    (
        "{SSHA512}tns1SoqQWo55Tk5kd6VDGaWY0QXU4u3AYGf6VGDcyxI37bOZApUokDguU5jNormZceaz+E06Kmb37C+u2Y5NkgECAwQFBgcI",
        true,
    ),
];

/// A returning account with no password here, only a legacy system's hash.
fn legacy_account(server: &TestServer, username: &str, stored: &str) -> users::User {
    let mut conn = server.idp.conn().unwrap();
    let now = server.idp.now();
    let new = users::NewUser {
        kind: Default::default(),
        username: idp::domain::types::Username::parse(username).unwrap(),
        email: None,
        email_verified: false,
        given_name: None,
        family_name: None,
        phone_number: None,
        locale: Some("fr".into()),
        password: None,
    };
    let user = users::create(&mut conn, &server.idp.hasher, new, now).unwrap();
    users::mark_first_login(&mut conn, user.id, now).unwrap();
    users::set_legacy_password_hash(&mut conn, user.id, stored, now).unwrap();
    user
}

/// One login form answer for `username` and `password`, from a fresh browser.
async fn log_in_once(server: &TestServer, username: &str, password: &str) -> reqwest::Response {
    let url = authorize_url(server, "openid", "&state=st&nonce=n");
    login_response(&browser(), server, &url, username, password).await
}

/// Every legacy format: a wrong password fails; the right one logs in once through the
/// login form (straight to the application, or first to the new-password step for a weak
/// format); then the account has an argon2id hash and the legacy one is gone.
async fn legacy_hashes_are_replaced_at_the_first_login(backend: Backend) {
    let server = TestServer::start(backend).await;
    for (n, (stored, weak)) in LEGACY_HASHES.iter().enumerate() {
        let username = format!("legacy.{n}");
        let account = legacy_account(&server, &username, stored);
        let wrong = log_in_once(&server, &username, "ecole-2019!").await;
        assert_eq!(wrong.status(), 200, "{stored}: a wrong password is refused");
        let right = log_in_once(&server, &username, LEGACY_PASSWORD).await;
        assert_eq!(right.status(), 303, "{stored}");
        let next = location(&right);
        if *weak {
            assert_eq!(
                next, "/wizard",
                "{stored}: a weak format asks for a new password"
            );
        } else {
            assert!(next.starts_with(REDIRECT), "{stored}: {next}");
            assert!(query_param(&next, "code").is_some());
        }
        let mut conn = server.idp.conn().unwrap();
        let after = users::find_by_id(&mut conn, account.id).unwrap().unwrap();
        let argon2 = after.password_hash.as_deref().unwrap_or_default();
        assert!(argon2.starts_with("$argon2id$"), "{stored}: {argon2}");
        assert_eq!(
            after.legacy_password_hash, None,
            "{stored}: the legacy hash is gone"
        );
        assert_eq!(after.password_change_required, *weak);
        let kinds = idp::domain::audit::kinds_for(&mut conn, account.id).unwrap();
        assert!(!*weak || kinds.contains(&"password_change_required".to_owned()));
    }
    // A refused login answers after the same minimum time, whatever the account: a legacy
    // hash's check (which may cost more) does not show.
    let floor = std::time::Duration::from_millis(300);
    let timed = TestServer::start_with(backend, |s| s.login_failure_floor_millis = 300).await;
    legacy_account(&timed, "legacy.timed", LEGACY_HASHES[6].0);
    for who in ["legacy.timed", "nobody.here", USERNAME] {
        let started = std::time::Instant::now();
        let refused = log_in_once(&timed, who, "not-the-password").await;
        assert_eq!(refused.status(), 200, "{who}");
        assert!(started.elapsed() >= floor, "{who}");
    }
    // The argon2id hash now serves: the same password, the usual way.
    let again = log_in_once(&server, "legacy.0", LEGACY_PASSWORD).await;
    assert!(location(&again).starts_with(REDIRECT));
    // A hash that cannot be read is refused when stored, never at login.
    let mut conn = server.idp.conn().unwrap();
    let someone = users::find_by_username(&mut conn, USERNAME)
        .unwrap()
        .unwrap();
    let refused =
        users::set_legacy_password_hash(&mut conn, someone.id, "md5:abc", server.idp.now());
    assert!(
        refused
            .unwrap_err()
            .to_string()
            .contains("legacy_password_hash")
    );
}
both_backends!(legacy_hashes_are_replaced_at_the_first_login);

/// What the password check's turn (`login::CheckTurn`) saw of the account's audit trail
/// when it was given back.
struct TurnWatcher {
    idp: std::sync::Arc<Idp>,
    user: idp::domain::types::UserId,
    seen: std::sync::Arc<std::sync::Mutex<Option<Vec<String>>>>,
}

impl Drop for TurnWatcher {
    fn drop(&mut self) {
        if let Ok(mut conn) = self.idp.conn() {
            let kinds = idp::domain::audit::kinds_for(&mut conn, self.user).unwrap_or_default();
            if let Ok(mut seen) = self.seen.lock() {
                *seen = Some(kinds);
            }
        }
    }
}

/// The turn at the password check (a core's place under load) ends once the password is
/// checked, before the login is written down, so the next login's check need not wait for
/// those writes; a refused login gives it back too.
async fn the_password_check_turn_ends_before_the_login_is_written(backend: Backend) {
    let server = TestServer::start(backend).await;
    let idp = &server.idp;
    let mut conn = idp.conn().unwrap();
    let user = users::find_by_username(&mut conn, USERNAME)
        .unwrap()
        .unwrap();
    for password in ["wrong-password-1", PASSWORD] {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
        let turn = login::CheckTurn::holding(TurnWatcher {
            idp: idp.clone(),
            user: user.id,
            seen: seen.clone(),
        });
        let form = login::PasswordForm {
            request_id: "",
            identifier: USERNAME,
            password,
            address: "192.0.2.7",
            language: None,
            link: None,
        };
        let outcome = login::with_password(idp, &mut conn, form, turn).unwrap();
        let at_the_turn = seen
            .lock()
            .unwrap()
            .clone()
            .expect("the turn was given back");
        if password != PASSWORD {
            assert!(
                matches!(outcome, login::FormOutcome::Failed(..)),
                "{outcome:?}"
            );
            continue;
        }
        assert!(
            matches!(outcome, login::FormOutcome::Finished(_)),
            "{outcome:?}"
        );
        let after = idp::domain::audit::kinds_for(&mut conn, user.id).unwrap();
        let written = |kinds: &[String]| kinds.iter().any(|k| k == "login_succeeded");
        assert!(!written(&at_the_turn), "given back before: {at_the_turn:?}");
        assert!(written(&after), "then written: {after:?}");
    }
}

both_backends!(the_password_check_turn_ends_before_the_login_is_written);
