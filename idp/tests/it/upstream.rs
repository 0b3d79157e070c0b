//! "Log in with Microsoft / Google": the STS as a relying party of an upstream OpenID
//! provider. The upstream is a second instance of this STS on loopback (a real provider:
//! discovery, PKCE, signed ID tokens, key rotation), and, for what only Entra ID does
//! (the multi-tenant issuer template and `tid`, an ID token with another nonce), a scripted
//! provider on loopback signing real tokens. The application is an `openidconnect` relying
//! party throughout. The upstream answers on 127.0.0.1 and the STS on `localhost`: two
//! hosts, so their cookies stay apart as they would in a browser.

use chrono::Duration;
use idp::config::{UpstreamKind, UpstreamSettings};
use idp::domain::audit::Origin;
use idp::domain::clients::{self, AuthMethod, GrantType, NewClient};
use idp::domain::types::{ClientId, RedirectUri, SigningAlg};
use idp::domain::upstream::links::{self, LinkedBy};

use crate::both_backends;
use crate::support::*;

const UPSTREAM_SECRET: &str = "upstream-client-secret-0123456789-abcdef";
const PROF: &str = "prof.martin";
const PROF_EMAIL: &str = "martin@ecole.example";

/// The STS under test, with an upstream provider `school` that is another STS.
struct Federated {
    upstream: TestServer,
    sts: TestServer,
    inbox: Inbox,
}

fn upstream_settings(id: &str, kind: UpstreamKind) -> UpstreamSettings {
    UpstreamSettings {
        id: id.into(),
        kind,
        name: None,
        client_id: "sts".into(),
        client_secret: Some(UPSTREAM_SECRET.into()),
        issuer: None,
        tenants: Vec::new(),
        domains: Vec::new(),
        authority: None,
        scopes: Vec::new(),
        link_by_email: false,
        organising_bodies: Vec::new(),
        discovery_refresh_seconds: 3600,
        timeout_seconds: 5,
    }
}

/// An STS answering on `localhost`, with `providers`.
async fn sts_with(backend: Backend, providers: Vec<UpstreamSettings>) -> TestServer {
    sts_with_mail(backend, providers).await.0
}

/// The same, its mail going to a real SMTP server on loopback.
async fn sts_with_mail(backend: Backend, providers: Vec<UpstreamSettings>) -> (TestServer, Inbox) {
    let (mut sts, inbox) = TestServer::with_mail(backend, |s| {
        s.issuer = s.issuer.replace("127.0.0.1", "localhost");
        s.upstream = providers;
    })
    .await;
    sts.base = sts.idp.settings.issuer.clone();
    (sts, inbox)
}

impl Federated {
    async fn start(backend: Backend, link_by_email: bool) -> Self {
        let upstream = TestServer::start(backend).await;
        let provider = UpstreamSettings {
            name: Some("École".into()),
            issuer: Some(upstream.base.clone()),
            link_by_email,
            ..upstream_settings("school", UpstreamKind::Oidc)
        };
        let (sts, inbox) = sts_with_mail(backend, vec![provider]).await;
        register_sts(&upstream, &sts.url("/upstream/school/callback"));
        add_user(&upstream, PROF, Some(PROF_EMAIL), "fr");
        Self {
            upstream,
            sts,
            inbox,
        }
    }

    /// The upstream account's `sub`.
    fn prof_subject(&self) -> String {
        let mut conn = self.upstream.idp.conn().unwrap();
        let prof = idp::domain::users::find_by_username(&mut conn, PROF)
            .unwrap()
            .unwrap();
        prof.id.to_string()
    }

    /// Links the upstream account to `user` as an administrator would.
    fn link_as_administrator(&self, user: idp::domain::types::UserId) {
        let provider = self.sts.idp.upstream.find("school").unwrap();
        let identity = links::identity_named(provider, None, &self.prof_subject()).unwrap();
        let mut conn = self.sts.idp.conn().unwrap();
        let origin = Origin::of("cli");
        let now = self.sts.idp.now();
        links::link(
            &self.sts.idp,
            &mut conn,
            user,
            &identity,
            LinkedBy::Administrator,
            origin,
            now,
        )
        .unwrap()
        .unwrap();
    }
}

/// The STS as a confidential client of the upstream.
fn register_sts(upstream: &TestServer, callback: &str) {
    let mut conn = upstream.idp.conn().unwrap();
    let client = NewClient {
        id: ClientId::parse("sts").unwrap(),
        name: "STS".into(),
        secret: Some(UPSTREAM_SECRET.into()),
        token_endpoint_auth_method: AuthMethod::ClientSecretBasic,
        redirect_uris: vec![RedirectUri::parse(callback).unwrap()],
        post_logout_redirect_uris: Vec::new(),
        grant_types: vec![GrantType::AuthorizationCode],
        scopes: clients::SUPPORTED_SCOPES.map(String::from).to_vec(),
        id_token_signed_response_alg: SigningAlg::RS256,
        jwks: None,
    };
    clients::create(&mut conn, client, upstream.idp.now()).unwrap();
}

/// A browser at the application's login page: the relying party's request, and the page.
async fn at_login_page(
    sts: &TestServer,
    browser: &reqwest::Client,
) -> (RelyingParty, reqwest::Client, RpRequest, String, String) {
    let (rp, http) = relying_party(sts, "school-app", Some(SECRET)).await;
    let request = rp_request(&rp, &["email"]);
    let resp = browser.get(&request.url).send().await.unwrap();
    let login = location(&resp);
    assert!(login.starts_with("/login?request="), "{login}");
    let page = browser.get(sts.url(&login)).send().await.unwrap();
    let page = page.text().await.unwrap();
    (rp, http, request, login, page)
}

/// Presses "Log in with …" on a login page: the answer (on to the provider, or a page).
async fn press(
    sts: &TestServer,
    browser: &reqwest::Client,
    page: &str,
    id: &str,
) -> reqwest::Response {
    assert!(
        page.contains(&format!("id=\"upstream-{id}\"")),
        "no button {id}"
    );
    let form = [
        ("csrf", input_value(page, "csrf")),
        ("request", input_value(page, "request")),
    ];
    browser
        .post(sts.url(&format!("/upstream/{id}")))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// At the upstream STS: its login form if it has no session, then its answer to the
/// callback.
async fn through_upstream(
    upstream: &TestServer,
    browser: &reqwest::Client,
    authorize: &str,
) -> String {
    assert!(
        authorize.starts_with(&upstream.url("/authorize?")),
        "{authorize}"
    );
    let resp = browser.get(authorize).send().await.unwrap();
    let next = location(&resp);
    if !next.starts_with("/login?") {
        return next;
    }
    let page = browser.get(upstream.url(&next)).send().await.unwrap();
    let page = page.text().await.unwrap();
    let resp = browser
        .post(upstream.url("/login"))
        .form(&login_form(&page, PROF, "Zebre-Orange-91"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    location(&resp)
}

/// The claims of a JWT, unverified (the relying party verified it already).
fn payload(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let part = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn code_of(redirect: &str) -> String {
    assert!(redirect.starts_with(REDIRECT), "{redirect}");
    query_param(redirect, "code").unwrap()
}

/// The whole round trip: the button, the upstream's login, an unlinked identity linked by
/// the person's password login, then the next time the button alone, and the ID token
/// saying how the person logged in (`amr`, `idp`).
async fn round_trip_links_then_logs_in(backend: Backend) {
    let fed = Federated::start(backend, false).await;
    let teacher = add_user(&fed.sts, "m.martin", None, "fr");
    let browser = browser();

    let (rp, http, request, _, page) = at_login_page(&fed.sts, &browser).await;
    assert!(page.contains("Se connecter avec École"), "{page}");
    let resp = press(&fed.sts, &browser, &page, "school").await;
    assert_eq!(resp.status(), 303);
    let authorize = location(&resp);
    for wanted in [
        "code_challenge_method=S256",
        "nonce=",
        "state=",
        "scope=openid+email+profile",
    ] {
        assert!(authorize.contains(wanted), "{wanted} in {authorize}");
    }
    let callback = through_upstream(&fed.upstream, &browser, &authorize).await;
    assert!(
        callback.starts_with(&fed.sts.url("/upstream/school/callback?")),
        "{callback}"
    );
    let resp = browser.get(&callback).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    let linking = location(&resp);
    assert!(
        linking.contains("&link="),
        "unlinked: to the login page that links, {linking}"
    );

    // The same answer twice: the round trip was used.
    let again = browser.get(&callback).send().await.unwrap();
    assert_eq!(again.status(), 400);
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("expiré ou a été commencée")
    );

    let page = browser.get(fed.sts.url(&linking)).send().await.unwrap();
    let page = page.text().await.unwrap();
    assert!(page.contains("id=\"upstream-link-notice\""), "{page}");
    assert!(page.contains(PROF_EMAIL), "names the upstream account");
    assert!(
        !page.contains("id=\"upstream-school\""),
        "no button while linking"
    );
    // A wrong password keeps the identity to link; the right one links it.
    let mut form = login_form(&page, "m.martin", "wrong-password").to_vec();
    form.push(("link", input_value(&page, "link")));
    let resp = browser
        .post(fed.sts.url("/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let page = resp.text().await.unwrap();
    assert!(
        page.contains("id=\"upstream-link-notice\""),
        "kept after a wrong password"
    );
    let mut form = login_form(&page, "m.martin", "Zebre-Orange-91").to_vec();
    form.push(("link", input_value(&page, "link")));
    let resp = browser
        .post(fed.sts.url("/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let (_, claims) = rp_redeem(&rp, &http, code_of(&location(&resp)), request).await;
    assert_eq!(claims.subject().as_str(), teacher.id.to_string());
    let mut conn = fed.sts.idp.conn().unwrap();
    let linked = links::of_user(&mut conn, teacher.id).unwrap();
    drop(conn);
    assert_eq!(linked.len(), 1);
    assert_eq!(linked[0].subject, fed.prof_subject());
    assert_eq!(linked[0].issuer, fed.upstream.base);
    assert_eq!(linked[0].linked_by, "person");

    // Next time: the button alone (the upstream remembers its own session).
    let browser = crate::support::browser();
    let (rp, http, request, _, page) = at_login_page(&fed.sts, &browser).await;
    let authorize = location(&press(&fed.sts, &browser, &page, "school").await);
    let callback = through_upstream(&fed.upstream, &browser, &authorize).await;
    let resp = browser.get(&callback).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    let (tokens, claims) = rp_redeem(&rp, &http, code_of(&location(&resp)), request).await;
    assert_eq!(claims.subject().as_str(), teacher.id.to_string());
    use openidconnect::TokenResponse;
    let id_token = payload(&tokens.id_token().unwrap().to_string());
    assert_eq!(id_token["idp"], "school", "{id_token}");
    assert_eq!(
        id_token["amr"],
        serde_json::json!(["pwd"]),
        "the upstream's amr"
    );
    assert_eq!(id_token["acr"], "urn:idp:acr:upstream");

    // The application asked for a fresh login: so is the upstream.
    let (rp, _) = relying_party(&fed.sts, "school-app", Some(SECRET)).await;
    let fresh = rp_request(&rp, &[]);
    let resp = browser
        .get(format!("{}&prompt=login&max_age=0", fresh.url))
        .send()
        .await
        .unwrap();
    let page = browser
        .get(fed.sts.url(&location(&resp)))
        .send()
        .await
        .unwrap();
    let page = page.text().await.unwrap();
    let authorize = location(&press(&fed.sts, &browser, &page, "school").await);
    assert!(
        authorize.contains("prompt=login") && authorize.contains("max_age=0"),
        "{authorize}"
    );
}
both_backends!(round_trip_links_then_logs_in);

/// The answer is bound to the browser and the round trip: a tampered `state`, an answer
/// carried to another browser, an issuer that is not the provider's (RFC 9207).
async fn a_tampered_or_foreign_answer_is_refused(backend: Backend) {
    let fed = Federated::start(backend, false).await;
    let teacher = add_user(&fed.sts, "m.martin", None, "fr");
    fed.link_as_administrator(teacher.id);
    let browser = browser();
    let (_, _, _, _, page) = at_login_page(&fed.sts, &browser).await;
    let authorize = location(&press(&fed.sts, &browser, &page, "school").await);
    let callback = through_upstream(&fed.upstream, &browser, &authorize).await;
    let state = query_param(&callback, "state").unwrap();

    let tampered = callback.replace(&state, &format!("{state}x"));
    let resp = browser.get(&tampered).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let elsewhere = crate::support::browser()
        .get(&callback)
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 400, "another browser");
    let issuer = format!("iss={}", urlencode(&fed.upstream.base));
    assert!(
        callback.contains(&issuer),
        "the upstream names itself: {callback}"
    );
    let mixed_up = callback.replace(&issuer, "iss=https%3A%2F%2Fevil.example");
    let resp = browser.get(&mixed_up).send().await.unwrap();
    assert_eq!(resp.status(), 400, "RFC 9207 mix-up");
    let page = resp.text().await.unwrap();
    assert!(
        page.contains("id=\"error-back\""),
        "a way back to the login"
    );
    // Each refusal used nothing but its own try: the genuine answer was consumed by the
    // mix-up check's round trip, so this one is gone too.
    let resp = browser.get(&callback).send().await.unwrap();
    assert_eq!(resp.status(), 400);
}
both_backends!(a_tampered_or_foreign_answer_is_refused);

/// What the provider refuses, and a provider that is down: a page that says so in words,
/// with the way back; the password login still works.
async fn upstream_refusals_and_outages(backend: Backend) {
    let fed = Federated::start(backend, false).await;
    let teacher = add_user(&fed.sts, "m.martin", None, "fr");
    fed.link_as_administrator(teacher.id);

    // access_denied, as the upstream answers when the person refuses (RFC 6749 §4.1.2.1).
    let browser = browser();
    let (_, _, _, login, page) = at_login_page(&fed.sts, &browser).await;
    let authorize = location(&press(&fed.sts, &browser, &page, "school").await);
    let state = query_param(&authorize, "state").unwrap();
    let denied = format!(
        "{}?error=access_denied&state={}",
        fed.sts.url("/upstream/school/callback"),
        urlencode(&state)
    );
    let resp = browser.get(&denied).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    let page = resp.text().await.unwrap();
    assert!(page.contains("annulée ou refusée"), "{page}");
    let request = login.trim_start_matches("/login?request=");
    assert!(
        page.contains("id=\"error-back\"") && page.contains(request),
        "back to this login"
    );

    // Discovery is cached: a provider that goes down after it answers the code exchange
    // no more. Down before any discovery: the button's page says so.
    let Federated { upstream, sts, .. } = fed;
    let (_, _, _, _, page) = at_login_page(&sts, &browser).await;
    let authorize = location(&press(&sts, &browser, &page, "school").await);
    let callback = through_upstream(&upstream, &browser, &authorize).await;
    drop(upstream);
    let resp = browser.get(&callback).send().await.unwrap();
    assert_eq!(resp.status(), 502);
    assert!(resp.text().await.unwrap().contains("ne répond pas"));

    let cold = sts_with(
        backend,
        vec![UpstreamSettings {
            issuer: Some(format!("http://127.0.0.1:{}", free_port())),
            ..upstream_settings("school", UpstreamKind::Oidc)
        }],
    )
    .await;
    let browser = crate::support::browser();
    let (rp, http, request, login, page) = at_login_page(&cold, &browser).await;
    let resp = press(&cold, &browser, &page, "school").await;
    assert_eq!(resp.status(), 502);
    let page = resp.text().await.unwrap();
    assert!(page.contains("ne répond pas"), "{page}");
    assert!(page.contains("id=\"error-back\""));
    // The local login still works.
    let page = browser
        .get(cold.url(&login))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let resp = browser
        .post(cold.url("/login"))
        .form(&login_form(&page, USERNAME, PASSWORD))
        .send()
        .await
        .unwrap();
    let (_, claims) = rp_redeem(&rp, &http, code_of(&location(&resp)), request).await;
    assert!(claims.auth_method_refs().is_some());
}
both_backends!(upstream_refusals_and_outages);

/// The upstream rotates its keys: the cached key set lacks the new one, which is read
/// then, and the login goes through.
async fn upstream_key_rotation(backend: Backend) {
    let fed = Federated::start(backend, false).await;
    let teacher = add_user(&fed.sts, "m.martin", None, "fr");
    fed.link_as_administrator(teacher.id);
    let log_in = || async {
        let browser = crate::support::browser();
        let (rp, http, request, _, page) = at_login_page(&fed.sts, &browser).await;
        let authorize = location(&press(&fed.sts, &browser, &page, "school").await);
        let callback = through_upstream(&fed.upstream, &browser, &authorize).await;
        let resp = browser.get(&callback).send().await.unwrap();
        assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
        let (tokens, _) = rp_redeem(&rp, &http, code_of(&location(&resp)), request).await;
        tokens
    };
    log_in().await;
    let mut conn = fed.upstream.idp.conn().unwrap();
    let now = fed.upstream.idp.now();
    let times = idp::domain::keys::RotationTimes {
        lead: Duration::zero(),
        max_token_ttl: Duration::hours(1),
    };
    let created = idp::domain::keys::rotate(&mut conn, None, now, times).unwrap();
    drop(conn);
    fed.upstream.clock.advance(Duration::seconds(1));
    fed.upstream.idp.reload_keys().unwrap();
    let tokens = log_in().await;
    use openidconnect::TokenResponse;
    assert_eq!(
        tokens
            .id_token()
            .map(|t| payload(&t.to_string())["sub"].clone()),
        Some(serde_json::json!(teacher.id.to_string()))
    );
    // The upstream signed that login with its new key.
    let rows = {
        let mut conn = fed.upstream.idp.conn().unwrap();
        idp::domain::keys::list(&mut conn).unwrap()
    };
    assert!(rows.iter().any(|k| created.contains(&k.id)));
}
both_backends!(upstream_key_rotation);

/// Linking rules: a verified address links automatically only where the provider is
/// configured so, and only when exactly one account holds it; an identity linked to one
/// account cannot be linked to another; the account page shows links and removes them.
async fn linking_rules(backend: Backend) {
    // Automatic, one account with the address.
    let fed = Federated::start(backend, true).await;
    let teacher = add_user(&fed.sts, "m.martin", Some(PROF_EMAIL), "fr");
    let browser = browser();
    let (rp, http, request, _, page) = at_login_page(&fed.sts, &browser).await;
    let authorize = location(&press(&fed.sts, &browser, &page, "school").await);
    let callback = through_upstream(&fed.upstream, &browser, &authorize).await;
    let resp = browser.get(&callback).send().await.unwrap();
    let (_, claims) = rp_redeem(&rp, &http, code_of(&location(&resp)), request).await;
    assert_eq!(claims.subject().as_str(), teacher.id.to_string());
    let mut conn = fed.sts.idp.conn().unwrap();
    assert_eq!(
        links::of_user(&mut conn, teacher.id).unwrap()[0].linked_by,
        "email"
    );
    drop(conn);

    // The account page lists the link, and removes it.
    let page = browser
        .get(fed.sts.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"upstream-links\""), "{page}");
    assert!(page.contains(PROF_EMAIL));
    let form = [
        ("csrf", input_value(&page, "csrf")),
        ("form", "unlink".to_string()),
        ("link", input_value(&page, "link")),
    ];
    let resp = browser
        .post(fed.sts.url("/account"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let mut conn = fed.sts.idp.conn().unwrap();
    assert!(links::of_user(&mut conn, teacher.id).unwrap().is_empty());
    let trail = idp::domain::audit::kinds_for(&mut conn, teacher.id).unwrap();
    assert!(
        trail.contains(&"upstream_linked".to_string())
            && trail.contains(&"upstream_unlinked".to_string())
    );
    // ASVS 2.5.5: the account's address is told of the link (made automatically) and of
    // its removal, in its language.
    let notices: Vec<(String, String)> = {
        use diesel::prelude::*;
        use idp::store::schema::mail_outbox;
        mail_outbox::table
            .filter(mail_outbox::recipient.eq(PROF_EMAIL))
            .order(mail_outbox::created_at)
            .select((mail_outbox::subject, mail_outbox::text_body))
            .load(&mut conn)
            .unwrap()
    };
    let subjects: Vec<&str> = notices.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        subjects
            .iter()
            .filter(|s| s.contains("a été liée à votre compte"))
            .count(),
        1,
        "{subjects:?}"
    );
    assert_eq!(
        subjects
            .iter()
            .filter(|s| s.contains("a été retirée de votre compte"))
            .count(),
        1,
        "{subjects:?}"
    );
    assert!(
        notices.iter().all(|(_, text)| text.contains("m.martin")),
        "{notices:?}"
    );
    drop(conn);

    // Two accounts with the address (a parent's on two children's): no automatic link.
    add_user(&fed.sts, "enfant.martin", Some(PROF_EMAIL), "fr");
    let browser = crate::support::browser();
    let (_, _, _, _, page) = at_login_page(&fed.sts, &browser).await;
    let authorize = location(&press(&fed.sts, &browser, &page, "school").await);
    let callback = through_upstream(&fed.upstream, &browser, &authorize).await;
    let resp = browser.get(&callback).send().await.unwrap();
    assert!(location(&resp).contains("&link="), "not linked");

    // From the account page, once logged in with a password; the same identity cannot
    // then go to a second account.
    let other = add_user(&fed.sts, "m.dubois", None, "fr");
    for (who, done) in [
        ("enfant.martin", "upstream-linked"),
        ("m.dubois", "upstream-taken"),
    ] {
        let browser = crate::support::browser();
        let (_, _, _, login, page) = at_login_page(&fed.sts, &browser).await;
        let _ = login;
        let resp = browser
            .post(fed.sts.url("/login"))
            .form(&login_form(&page, who, "Zebre-Orange-91"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 303);
        let page = browser
            .get(fed.sts.url("/account"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let form = [
            ("csrf", input_value(&page, "csrf")),
            ("purpose", "link".to_string()),
        ];
        let resp = browser
            .post(fed.sts.url("/upstream/school"))
            .form(&form)
            .send()
            .await
            .unwrap();
        let callback = through_upstream(&fed.upstream, &browser, &location(&resp)).await;
        let resp = browser.get(&callback).send().await.unwrap();
        assert_eq!(location(&resp), format!("/account?done={done}"));
    }
    let mut conn = fed.sts.idp.conn().unwrap();
    assert!(links::of_user(&mut conn, other.id).unwrap().is_empty());
}
both_backends!(linking_rules);

/// Without `link_by_email`, an address held by exactly one account links nothing.
async fn no_automatic_link_unless_configured(backend: Backend) {
    let fed = Federated::start(backend, false).await;
    add_user(&fed.sts, "m.martin", Some(PROF_EMAIL), "fr");
    let browser = browser();
    let (_, _, _, _, page) = at_login_page(&fed.sts, &browser).await;
    let authorize = location(&press(&fed.sts, &browser, &page, "school").await);
    let callback = through_upstream(&fed.upstream, &browser, &authorize).await;
    let resp = browser.get(&callback).send().await.unwrap();
    assert!(location(&resp).contains("&link="), "not linked");
}
both_backends!(no_automatic_link_unless_configured);

/// An organising body whose staff log in only with their school's account: the right
/// password is refused with the way to log in, "forgot password" mails that way instead
/// of a link, the account page asks for no password; the upstream login works, and
/// logging out says the person is still logged in upstream.
async fn upstream_only_staff(backend: Backend) {
    use idp::domain::schools::{self, DataChanges, NewSchool};
    use idp::domain::types::AccountKind;
    let fed = Federated::start(backend, false).await;
    let teacher = add_user(&fed.sts, "m.martin", Some("m.martin@ecole.example"), "fr");
    let pupil = add_user(&fed.sts, "eleve.martin", Some("eleve@ecole.example"), "fr");
    {
        let mut conn = fed.sts.idp.conn().unwrap();
        let now = fed.sts.idp.now();
        let body = schools::create_body(&mut conn, "Ville de Dinant", now).unwrap();
        let school = NewSchool {
            organising_body: body.id,
            name: "Athénée de Dinant",
            data_changes: DataChanges::Contact,
            contact: None,
        };
        let school = schools::create_school(&mut conn, school, now).unwrap().id;
        for who in [teacher.id, pupil.id] {
            schools::join(&mut conn, who, school, now).unwrap();
        }
        idp::domain::users::set_kind(&mut conn, teacher.id, AccountKind::Staff, now).unwrap();
        idp::domain::upstream::only::set(&mut conn, &body.id, Some(AccountKind::Staff), true)
            .unwrap();
    }
    fed.link_as_administrator(teacher.id);

    let browser = browser();
    let (_, _, _, _, page) = at_login_page(&fed.sts, &browser).await;
    let resp = browser
        .post(fed.sts.url("/login"))
        .form(&login_form(&page, "m.martin", "Zebre-Orange-91"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let page = resp.text().await.unwrap();
    assert!(
        page.contains("compte Microsoft ou Google de votre école"),
        "{page}"
    );
    // A pupil of the same school keeps the password.
    let resp = browser
        .post(fed.sts.url("/login"))
        .form(&login_form(&page, "eleve.martin", "Zebre-Orange-91"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);

    // "Forgot password?": the page says it to everyone, the mail to the account.
    let browser = crate::support::browser();
    let page = browser
        .get(fed.sts.url("/forgot"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"forgot-upstream\""), "{page}");
    let form = [
        ("request", String::new()),
        ("csrf", input_value(&page, "csrf")),
        ("identifier", "m.martin".to_string()),
    ];
    let resp = browser
        .post(fed.sts.url("/forgot"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // The first mail told the account of its link; this is the second.
    let mails = fed.inbox.wait_for(2).await;
    assert!(
        mails[0].subject.contains("a été liée à votre compte"),
        "{mails:?}"
    );
    let mail = mails[1].clone();
    assert!(
        mail.text.contains("n'a pas de mot de passe ici"),
        "{}",
        mail.text
    );
    assert!(mail.links(&fed.sts, "/reset").is_empty(), "no reset link");

    // The upstream login works; the account page asks for no password; logging out says
    // the person is still logged in upstream.
    let browser = crate::support::browser();
    let (rp, http, request, _, page) = at_login_page(&fed.sts, &browser).await;
    let authorize = location(&press(&fed.sts, &browser, &page, "school").await);
    let callback = through_upstream(&fed.upstream, &browser, &authorize).await;
    let resp = browser.get(&callback).send().await.unwrap();
    let (_, claims) = rp_redeem(&rp, &http, code_of(&location(&resp)), request).await;
    assert_eq!(claims.subject().as_str(), teacher.id.to_string());
    let page = browser
        .get(fed.sts.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("name=\"current\""), "no password to change");
    let page = browser
        .get(fed.sts.url("/logout"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("id=\"upstream-still\"") && page.contains("École"),
        "{page}"
    );
    let resp = browser
        .post(fed.sts.url("/logout/confirm"))
        .form(&[("csrf", input_value(&page, "csrf"))])
        .send()
        .await
        .unwrap();
    let page = resp.text().await.unwrap();
    assert!(page.contains("ne vous déconnecte pas de École"), "{page}");
}
both_backends!(upstream_only_staff);

const TENANT_A: &str = "aaaaaaaa-1111-4111-8111-000000000001";
const TENANT_B: &str = "bbbbbbbb-2222-4222-8222-000000000002";
const TENANT_C: &str = "cccccccc-3333-4333-8333-000000000003";
const OBJECT_ID: &str = "0f0f0f0f-4444-4444-8444-000000000004";

/// What the scripted Entra ID signs next.
struct Script {
    tenant: String,
    /// Signs this nonce instead of the one the request carried.
    forged_nonce: Option<String>,
    /// Code → the nonce its request carried.
    codes: std::collections::HashMap<String, String>,
    /// Answers as Google does instead (one issuer, the Workspace domain in `hd`).
    google_hd: Option<String>,
}

/// A scripted Microsoft Entra ID on loopback: the multi-tenant discovery document (its
/// issuer a `{tenantid}` template), a key set, an authorization endpoint that answers at
/// once, a token endpoint signing real RS256 ID tokens with `tid` and `oid`. Scripted
/// with `google_hd`, it answers as Google does (one issuer, `hd`).
struct Entra {
    base: String,
    script: std::sync::Arc<std::sync::Mutex<Script>>,
    _server: Loopback,
}

impl Entra {
    fn start() -> Self {
        use actix_web::{App, HttpResponse, HttpServer, web};
        let generated = idp::crypto::keys::generate(SigningAlg::RS256, "entra-key-1").unwrap();
        let key = idp::crypto::keys::SigningKey::from_pkcs8(
            "entra-key-1",
            SigningAlg::RS256,
            &generated.pkcs8,
        )
        .unwrap();
        let key = std::sync::Arc::new(key);
        let script = std::sync::Arc::new(std::sync::Mutex::new(Script {
            tenant: TENANT_A.into(),
            forged_nonce: None,
            codes: Default::default(),
            google_hd: None,
        }));
        let state = script.clone();
        let server = Loopback::start(move |listener| {
            let at = format!("http://{}", listener.local_addr()?);
            Ok(HttpServer::new(move || {
                    let (base, script, key) = (at.clone(), state.clone(), key.clone());
                    let (b2, s2, k2) = (base.clone(), script.clone(), key.clone());
                    let (b3, b4) = (base.clone(), base.clone());
                    let jwk = key.public_jwk.clone();
                    App::new()
                        // Google's discovery document: one issuer.
                        .route(
                            "/.well-known/openid-configuration",
                            web::get().to(move || {
                                let base = b4.clone();
                                async move {
                                    HttpResponse::Ok().json(serde_json::json!({
                                        "issuer": base,
                                        "authorization_endpoint": format!("{base}/organizations/oauth2/v2.0/authorize"),
                                        "token_endpoint": format!("{base}/organizations/oauth2/v2.0/token"),
                                        "jwks_uri": format!("{base}/organizations/discovery/v2.0/keys"),
                                        "response_types_supported": ["code"],
                                        "subject_types_supported": ["public"],
                                        "id_token_signing_alg_values_supported": ["RS256"],
                                    }))
                                }
                            }),
                        )
                        .route(
                            "/{tenant}/v2.0/.well-known/openid-configuration",
                            web::get().to(move || {
                                let base = b3.clone();
                                async move {
                                    HttpResponse::Ok().json(serde_json::json!({
                                        "issuer": format!("{base}/{{tenantid}}/v2.0"),
                                        "authorization_endpoint": format!("{base}/organizations/oauth2/v2.0/authorize"),
                                        "token_endpoint": format!("{base}/organizations/oauth2/v2.0/token"),
                                        "jwks_uri": format!("{base}/organizations/discovery/v2.0/keys"),
                                        "response_types_supported": ["code", "id_token"],
                                        "subject_types_supported": ["pairwise"],
                                        "id_token_signing_alg_values_supported": ["RS256"],
                                        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
                                    }))
                                }
                            }),
                        )
                        .route(
                            "/organizations/discovery/v2.0/keys",
                            web::get().to(move || {
                                let jwk = jwk.clone();
                                async move { HttpResponse::Ok().json(serde_json::json!({ "keys": [jwk] })) }
                            }),
                        )
                        .route(
                            "/organizations/oauth2/v2.0/authorize",
                            web::get().to(move |q: web::Query<std::collections::HashMap<String, String>>| {
                                let script = script.clone();
                                async move {
                                    let code = uuid::Uuid::new_v4().to_string();
                                    let nonce = q.get("nonce").cloned().unwrap_or_default();
                                    script.lock().unwrap().codes.insert(code.clone(), nonce);
                                    let to = format!(
                                        "{}?code={code}&state={}",
                                        q["redirect_uri"],
                                        urlencode(&q["state"])
                                    );
                                    HttpResponse::Found().insert_header(("Location", to)).finish()
                                }
                            }),
                        )
                        .route(
                            "/organizations/oauth2/v2.0/token",
                            web::post().to(move |f: web::Form<std::collections::HashMap<String, String>>| {
                                let (base, script, key) = (b2.clone(), s2.clone(), k2.clone());
                                async move {
                                    let mut script = script.lock().unwrap();
                                    let Some(nonce) = script.codes.remove(&f["code"]) else {
                                        return HttpResponse::BadRequest()
                                            .json(serde_json::json!({"error": "invalid_grant"}));
                                    };
                                    let now = chrono::Utc::now().timestamp();
                                    let tenant = script.tenant.clone();
                                    let mut claims = serde_json::json!({
                                        "iss": format!("{base}/{tenant}/v2.0"),
                                        "sub": "pairwise-subject-for-this-app",
                                        "aud": "sts",
                                        "iat": now,
                                        "exp": now + 600,
                                        "nonce": script.forged_nonce.clone().unwrap_or(nonce),
                                        "tid": tenant,
                                        "oid": OBJECT_ID,
                                        "email": "m.martin@ecole.example",
                                        "name": "M. Martin",
                                    });
                                    if let Some(hd) = &script.google_hd {
                                        claims["iss"] = serde_json::json!(base);
                                        claims["hd"] = serde_json::json!(hd);
                                        claims["email_verified"] = serde_json::json!(true);
                                    }
                                    let id_token = idp::crypto::jws::sign(&key, "JWT", &claims).unwrap();
                                    HttpResponse::Ok().json(serde_json::json!({
                                        "access_token": "opaque",
                                        "token_type": "Bearer",
                                        "expires_in": 3600,
                                        "id_token": id_token,
                                    }))
                                }
                            }),
                        )
            })
            .workers(1)
            .listen(listener)?
            .run())
        });
        Self {
            base: server.base.clone(),
            script,
            _server: server,
        }
    }
}

/// Entra ID with a list of tenants: the multi-tenant issuer template is checked against
/// the token's `tid`, a tenant not in the list is refused, an administrator links by the
/// object id, and an ID token carrying another nonce is refused.
async fn entra_tenants_and_nonce(backend: Backend) {
    let entra = Entra::start();
    let provider = UpstreamSettings {
        tenants: vec![TENANT_A.into(), TENANT_B.into()],
        authority: Some(entra.base.clone()),
        ..upstream_settings("microsoft", UpstreamKind::Microsoft)
    };
    // A second provider, shown only on the login pages of one organising body's
    // applications (named in the settings).
    let google = UpstreamSettings {
        domains: vec!["ecole.example".into()],
        organising_bodies: vec!["Ville de Namur".into()],
        ..upstream_settings("google", UpstreamKind::Google)
    };
    let sts = sts_with(backend, vec![provider, google]).await;
    let teacher = add_user(&sts, "m.martin", None, "fr");
    let buttons = || async {
        let browser = crate::support::browser();
        let (_, _, _, _, page) = at_login_page(&sts, &browser).await;
        ["microsoft", "google"].map(|id| page.contains(&format!("id=\"upstream-{id}\"")))
    };
    assert_eq!(
        buttons().await,
        [true, false],
        "not this body's application"
    );
    {
        let mut conn = sts.idp.conn().unwrap();
        let body =
            idp::domain::schools::create_body(&mut conn, "Ville de Namur", sts.idp.now()).unwrap();
        idp::domain::branding::set_client_body(&mut conn, "school-app", Some(&body.id)).unwrap();
    }
    assert_eq!(buttons().await, [true, true], "the body's application");
    {
        let found = sts.idp.upstream.find("microsoft").unwrap();
        let identity = links::identity_named(found, Some(TENANT_A), OBJECT_ID).unwrap();
        let mut conn = sts.idp.conn().unwrap();
        let (origin, now) = (Origin::of("cli"), sts.idp.now());
        links::link(
            &sts.idp,
            &mut conn,
            teacher.id,
            &identity,
            LinkedBy::Administrator,
            origin,
            now,
        )
        .unwrap()
        .unwrap();
    }
    let try_login = || async {
        let browser = crate::support::browser();
        let (rp, http, request, _, page) = at_login_page(&sts, &browser).await;
        assert!(page.contains("Se connecter avec Microsoft"));
        let authorize = location(&press(&sts, &browser, &page, "microsoft").await);
        assert!(authorize.starts_with(&entra.base), "{authorize}");
        let callback = location(&browser.get(&authorize).send().await.unwrap());
        let resp = browser.get(&callback).send().await.unwrap();
        (rp, http, request, resp)
    };

    let (rp, http, request, resp) = try_login().await;
    assert_eq!(resp.status(), 303);
    let (tokens, claims) = rp_redeem(&rp, &http, code_of(&location(&resp)), request).await;
    assert_eq!(claims.subject().as_str(), teacher.id.to_string());
    use openidconnect::TokenResponse;
    let id_token = payload(&tokens.id_token().unwrap().to_string());
    assert_eq!(id_token["idp"], "microsoft");
    assert_eq!(
        id_token["amr"],
        serde_json::json!(["external"]),
        "Entra reported none"
    );

    // Another listed tenant: a real account, linked to nobody here.
    entra.script.lock().unwrap().tenant = TENANT_B.into();
    let (_, _, _, resp) = try_login().await;
    assert!(location(&resp).contains("&link="));

    // A tenant not in the list.
    entra.script.lock().unwrap().tenant = TENANT_C.into();
    let (_, _, _, resp) = try_login().await;
    assert_eq!(resp.status(), 403);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("appartient pas à une école")
    );

    // An ID token with a nonce this round trip did not send.
    {
        let mut script = entra.script.lock().unwrap();
        script.tenant = TENANT_A.into();
        script.forged_nonce = Some("a-nonce-from-another-login".into());
    }
    let (_, _, _, resp) = try_login().await;
    assert_eq!(resp.status(), 400);
    let page = resp.text().await.unwrap();
    assert!(
        page.contains("a pas abouti") && page.contains("once"),
        "{page}"
    );
}
both_backends!(entra_tenants_and_nonce);

/// An administrator links an account's upstream identity on the organising body's
/// screens (then the button alone logs the person in) and removes it; a teacher, who may
/// only help, sees no such form and cannot post one.
async fn administrators_link_on_the_screens(backend: Backend) {
    let fed = Federated::start(backend, false).await;
    let world = crate::staff::build(&fed.sts);
    let target = world.targets["staff.a1"].clone();
    let path = format!("/admin/accounts/{}", target.id);
    let (admin, csrf) = crate::staff::sign_in(&fed.sts, "body.a").await;
    let (_, page) = crate::staff::get(&admin, &fed.sts, &path).await;
    assert!(page.contains("id=\"upstream-link\""), "{page}");
    let link = |subject: String| {
        [
            ("csrf", csrf.clone()),
            ("action", "link".to_string()),
            ("provider", "school".to_string()),
            ("subject", subject),
        ]
    };
    let url = fed.sts.url(&format!("{path}/upstream"));
    let resp = admin
        .post(&url)
        .form(&link(" ".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&resp), format!("{path}?done=upstream-incomplete"));
    let resp = admin
        .post(&url)
        .form(&link(fed.prof_subject()))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&resp), format!("{path}?done=upstream-linked"));

    // The teacher helps, and links nothing.
    let (teacher, teacher_csrf) = crate::staff::sign_in(&fed.sts, "teacher.a1").await;
    let (_, page) = crate::staff::get(&teacher, &fed.sts, &path).await;
    assert!(!page.contains("id=\"upstream-link\""));
    let mut form = link(fed.prof_subject());
    form[0].1 = teacher_csrf;
    let resp = teacher.post(&url).form(&form).send().await.unwrap();
    assert_eq!(resp.status(), 404);

    // The button now logs staff.a1 in.
    let browser = browser();
    let (rp, http, request, _, page) = at_login_page(&fed.sts, &browser).await;
    let authorize = location(&press(&fed.sts, &browser, &page, "school").await);
    let callback = through_upstream(&fed.upstream, &browser, &authorize).await;
    let resp = browser.get(&callback).send().await.unwrap();
    let (_, claims) = rp_redeem(&rp, &http, code_of(&location(&resp)), request).await;
    assert_eq!(claims.subject().as_str(), target.id.to_string());

    // Listed on the screen, and removed from it.
    let (_, page) = crate::staff::get(&admin, &fed.sts, &path).await;
    assert!(page.contains(&fed.prof_subject()), "{page}");
    let id = input_value(&page, "link");
    let form = [
        ("csrf", csrf.clone()),
        ("action", "unlink".into()),
        ("link", id),
    ];
    let resp = admin.post(&url).form(&form).send().await.unwrap();
    assert_eq!(location(&resp), format!("{path}?done=upstream-unlinked"));
    let mut conn = fed.sts.idp.conn().unwrap();
    assert!(links::of_user(&mut conn, target.id).unwrap().is_empty());
}
both_backends!(administrators_link_on_the_screens);

/// In Chromium: the login page with its "Log in with …" button, the provider's own login,
/// back to the page that links an unlinked account (axe-core finds nothing on either),
/// the password typed once, and on to the application with a code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_the_button_and_the_linking_page_are_accessible() {
    use crate::browser::{chromium, click_on, type_into, wait_for, wait_for_url};
    use crate::journeys::assert_accessible;
    let fed = Federated::start(Backend::Sqlite, false).await;
    let teacher = add_user(&fed.sts, "m.martin", None, "fr");
    let (rp, _) = relying_party(&fed.sts, "school-app", Some(SECRET)).await;
    let request = rp_request(&rp, &["email"]);
    let (browser, events, _profile) = chromium().await;
    let page = browser.new_page(request.url.as_str()).await.unwrap();
    wait_for(&page, "id=\"upstream-school\"").await;
    assert_accessible(&page, "the login page with a provider's button").await;
    click_on(&page, "#upstream-school").await;
    wait_for_url(&page, &fed.upstream.url("/login")).await;
    type_into(&page, "#identifier", PROF).await;
    type_into(&page, "#password", "Zebre-Orange-91").await;
    click_on(&page, "button[type=submit]").await;
    wait_for(&page, "id=\"upstream-link-notice\"").await;
    assert_accessible(&page, "the login page that links an upstream account").await;
    type_into(&page, "#identifier", "m.martin").await;
    type_into(&page, "#password", "Zebre-Orange-91").await;
    click_on(&page, "button[type=submit]").await;
    // On to the application (nobody answers at its address): the link is made.
    let mut linked = 0;
    for _ in 0..100 {
        let mut conn = fed.sts.idp.conn().unwrap();
        linked = links::of_user(&mut conn, teacher.id).unwrap().len();
        if linked == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(linked, 1);
    let _ = page.close().await;
    let mut browser = browser;
    browser.close().await.unwrap();
    let _ = browser.wait().await;
    events.abort();
}

/// Google with a Workspace domain: Google is asked for that domain's accounts (`hd`), and
/// an account of another domain is refused by its `hd` claim.
async fn google_workspace_domain(backend: Backend) {
    let google = Entra::start();
    google.script.lock().unwrap().google_hd = Some("ecole.example".into());
    let provider = UpstreamSettings {
        domains: vec!["ecole.example".into()],
        authority: Some(google.base.clone()),
        ..upstream_settings("google", UpstreamKind::Google)
    };
    let sts = sts_with(backend, vec![provider]).await;
    let teacher = add_user(&sts, "m.martin", None, "fr");
    {
        let found = sts.idp.upstream.find("google").unwrap();
        let subject = "pairwise-subject-for-this-app";
        let identity = links::identity_named(found, None, subject).unwrap();
        let mut conn = sts.idp.conn().unwrap();
        let (origin, now) = (Origin::of("cli"), sts.idp.now());
        links::link(
            &sts.idp,
            &mut conn,
            teacher.id,
            &identity,
            LinkedBy::Administrator,
            origin,
            now,
        )
        .unwrap()
        .unwrap();
    }
    let try_login = || async {
        let browser = crate::support::browser();
        let (rp, http, request, _, page) = at_login_page(&sts, &browser).await;
        assert!(page.contains("Se connecter avec Google"));
        let authorize = location(&press(&sts, &browser, &page, "google").await);
        assert!(authorize.contains("hd=ecole.example"), "{authorize}");
        let callback = location(&browser.get(&authorize).send().await.unwrap());
        let resp = browser.get(&callback).send().await.unwrap();
        (rp, http, request, resp)
    };
    let (rp, http, request, resp) = try_login().await;
    assert_eq!(resp.status(), 303);
    let (_, claims) = rp_redeem(&rp, &http, code_of(&location(&resp)), request).await;
    assert_eq!(claims.subject().as_str(), teacher.id.to_string());

    google.script.lock().unwrap().google_hd = Some("autre.example".into());
    let (_, _, _, resp) = try_login().await;
    assert_eq!(resp.status(), 403);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("appartient pas à une école")
    );
}
both_backends!(google_workspace_domain);
