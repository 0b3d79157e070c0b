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
    let origin = Origin {
        address: "192.0.2.1",
        client_id: Some("school-app"),
    };
    let key = SecurityKey {
        identifier: USERNAME,
    };
    let who = login::authenticate(idp, &mut conn, &key, origin)
        .unwrap()
        .expect("the key is the account's");
    let finished = login::finish(idp, &mut conn, who, origin, Then::Answer(Some(request)));
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
