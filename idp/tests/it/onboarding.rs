//! The first-login wizard and required actions, end to end through the OIDC flow: a
//! guardian's first login (APSchool), refusing and accepting terms, a new terms version,
//! and each guardian with their own co-account.

use std::collections::BTreeMap;

use idp::domain::links::{self, RelationLabel};
use idp::domain::schools::{self, DataChanges, NewSchool};
use idp::domain::terms;
use idp::domain::types::{AccountKind, Email, OrganisingBodyId, Username};
use idp::domain::users::{self, NewUser, Profile};
use idp::i18n::Locale;

use crate::both_backends;
use crate::support::*;

fn person(
    server: &TestServer,
    username: &str,
    kind: AccountKind,
    email: Option<&str>,
) -> users::User {
    let mut conn = server.idp.conn().unwrap();
    users::create(
        &mut conn,
        &server.idp.hasher,
        NewUser {
            username: Username::parse(username).unwrap(),
            kind,
            email: email.map(|e| Email::parse(e).unwrap()),
            email_verified: true,
            given_name: None,
            family_name: Some("Spors".into()),
            phone_number: None,
            locale: Some("fr".into()),
            password: Some(PASSWORD.into()),
        },
        server.idp.now(),
    )
    .unwrap()
}

/// A school of an organising body with terms, a pupil and her two guardians.
fn family(server: &TestServer) -> OrganisingBodyId {
    let mut conn = server.idp.conn().unwrap();
    let now = server.idp.now();
    let body = schools::create_body(&mut conn, "Ville de Namur", now).unwrap();
    let school = schools::create_school(
        &mut conn,
        NewSchool {
            organising_body: body.id,
            name: "École du Centre",
            data_changes: DataChanges::Request,
            contact: Some("secrétariat 081 00 00 00"),
        },
        now,
    )
    .unwrap();
    let camille = person(server, "camille.spors", AccountKind::Pupil, None);
    users::set_profile(
        &mut conn,
        camille.id,
        &Profile {
            birth_date: chrono::NaiveDate::from_ymd_opt(2015, 3, 1),
            locality: Some("Namur".into()),
            sex: Some("F".into()),
            ..Profile::default()
        },
        now,
    )
    .unwrap();
    for (name, relation) in [("sophie.spors", "mother"), ("marc.spors", "father")] {
        let guardian = person(
            server,
            name,
            AccountKind::Guardian,
            Some(&format!("{name}@example.org")),
        );
        links::link(
            &mut conn,
            camille.id,
            guardian.id,
            &RelationLabel::parse(relation).unwrap(),
            now,
        )
        .unwrap();
        schools::join(&mut conn, guardian.id, school.id, now).unwrap();
    }
    schools::join(&mut conn, camille.id, school.id, now).unwrap();
    publish(server, body.id, "2026-09", "Conditions de septembre");
    body.id
}

fn publish(server: &TestServer, body: OrganisingBodyId, version: &str, text: &str) {
    let mut conn = server.idp.conn().unwrap();
    let texts = BTreeMap::from([
        (Locale::Fr, text.to_string()),
        (Locale::Nl, format!("{text} (nl)")),
    ]);
    // Published a second later than the one before, so "newest" is unambiguous.
    server.clock.advance(chrono::Duration::seconds(1));
    terms::publish(&mut conn, body, version, texts, server.idp.now()).unwrap();
}

/// Logs in through the authorization endpoint; returns where the login form sent us.
async fn log_in(
    browser: &reqwest::Client,
    server: &TestServer,
    username: &str,
    extra: &str,
) -> String {
    let resp = browser
        .get(authorize_url(
            server,
            "openid school",
            &format!("&state=st&nonce=n{extra}"),
        ))
        .send()
        .await
        .unwrap();
    let to = location(&resp);
    if !to.starts_with("/login") {
        return to; // the session answered
    }
    let page = browser
        .get(server.url(&to))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let resp = browser
        .post(server.url("/login"))
        .form(&login_form(&page, username, PASSWORD))
        .send()
        .await
        .unwrap();
    location(&resp)
}

async fn wizard(browser: &reqwest::Client, server: &TestServer) -> String {
    let resp = browser.get(server.url("/wizard")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap().replace("&#x27;", "'")
}

/// Submits the wizard page `page` with `action`.
async fn submit_step(
    browser: &reqwest::Client,
    server: &TestServer,
    page: &str,
    action: &str,
) -> reqwest::Response {
    browser
        .post(server.url("/wizard"))
        .form(&[
            ("csrf", input_value(page, "csrf")),
            ("action", action.to_string()),
        ])
        .send()
        .await
        .unwrap()
}

/// Presses `action` on the wizard page `page`: the next page, or where it sends us.
async fn press(
    browser: &reqwest::Client,
    server: &TestServer,
    page: &str,
    action: &str,
) -> Result<String, String> {
    let resp = submit_step(browser, server, page, action).await;
    if resp.status() == 303 {
        return Err(location(&resp));
    }
    Ok(resp.text().await.unwrap().replace("&#x27;", "'"))
}

fn step(page: &str) -> (usize, usize) {
    let marker = "Étape ";
    let at = page
        .find(marker)
        .unwrap_or_else(|| panic!("no step in {page}"))
        + marker.len();
    let words: Vec<&str> = page[at..].split_whitespace().take(3).collect();
    (
        words[0].parse().unwrap(),
        words[2].trim_end_matches("</p>").parse().unwrap(),
    )
}

async fn first_login_wizard(backend: Backend) {
    let server = TestServer::start(backend).await;
    let body = family(&server);
    let browser = browser();

    assert_eq!(
        log_in(&browser, &server, "sophie.spors", "").await,
        "/wizard"
    );
    let welcome = wizard(&browser, &server).await;
    assert_eq!(
        step(&welcome),
        (1, 4),
        "welcome, the child, own data, terms"
    );
    assert!(
        welcome.contains("aria-current=\"step\">Bienvenue"),
        "{welcome}"
    );

    let child = press(&browser, &server, &welcome, "next").await.unwrap();
    assert_eq!(step(&child).0, 2);
    assert!(
        child.contains("camille.spors") && child.contains("Namur") && child.contains("01/03/2015"),
        "{child}"
    );
    assert!(
        child.contains("non renseigné"),
        "a missing value is shown as missing"
    );
    assert!(!child.contains("01-01-0001"), "never invented");
    // Back and Next, and leaving then coming back, keep the place.
    let back = press(&browser, &server, &child, "back").await.unwrap();
    assert_eq!(step(&back).0, 1);
    let child = press(&browser, &server, &back, "next").await.unwrap();
    assert_eq!(
        step(&wizard(&browser, &server).await).0,
        2,
        "resumed where it was left"
    );

    let own = press(&browser, &server, &child, "next").await.unwrap();
    assert!(own.contains("sophie.spors@example.org"), "{own}");
    assert!(
        own.contains("École du Centre traite les modifications") && own.contains("081 00 00 00")
    );
    let terms_page = press(&browser, &server, &own, "next").await.unwrap();
    assert!(
        terms_page.contains("Conditions de septembre"),
        "{terms_page}"
    );
    let skipped = press(&browser, &server, &terms_page, "next").await.unwrap();
    assert!(
        skipped.contains("Conditions de septembre"),
        "terms are accepted or refused, not skipped"
    );

    // Refusing ends the attempt: access_denied for the application, nothing else changes.
    let refused = press(&browser, &server, &terms_page, "refuse")
        .await
        .unwrap_err();
    assert!(refused.starts_with(REDIRECT), "{refused}");
    assert_eq!(
        query_param(&refused, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(query_param(&refused, "state").as_deref(), Some("st"));
    {
        let mut conn = server.idp.conn().unwrap();
        let sophie = users::find_by_username(&mut conn, "sophie.spors")
            .unwrap()
            .unwrap();
        assert!(sophie.first_login_at.is_none());
        assert_eq!(terms::owed_by(&mut conn, sophie.id).unwrap().len(), 1);
    }

    // Coming back later and accepting.
    assert_eq!(
        log_in(&browser, &server, "sophie.spors", "").await,
        "/wizard"
    );
    let mut page = wizard(&browser, &server).await;
    for _ in 0..3 {
        page = press(&browser, &server, &page, "next").await.unwrap();
    }
    let back_in_app = press(&browser, &server, &page, "accept").await.unwrap_err();
    let code = query_param(&back_in_app, "code").expect("a code once everything is done");
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
    let kinds = {
        let mut conn = server.idp.conn().unwrap();
        let sophie = users::find_by_username(&mut conn, "sophie.spors")
            .unwrap()
            .unwrap();
        assert!(sophie.first_login_at.is_some());
        assert!(terms::owed_by(&mut conn, sophie.id).unwrap().is_empty());
        idp::domain::audit::kinds_for(&mut conn, sophie.id).unwrap()
    };
    for kind in [
        "required_actions_started",
        "terms_refused",
        "terms_accepted",
        "login_succeeded",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} not in {kinds:?}");
    }

    // A returning login goes straight through.
    let again = log_in(&browser, &server, "sophie.spors", "&prompt=login").await;
    assert!(again.starts_with(REDIRECT), "{again}");

    // A new version: accepted at the next login, even one answered by the SSO session.
    publish(&server, body, "2027-01", "Conditions de janvier");
    let with_session = log_in(&browser, &server, "sophie.spors", "").await;
    assert_eq!(with_session, "/wizard");
    let page = wizard(&browser, &server).await;
    assert_eq!(step(&page), (1, 1), "only the new terms");
    assert!(page.contains("Conditions de janvier") && !page.contains("Conditions de septembre"));
    let done = press(&browser, &server, &page, "accept").await.unwrap_err();
    assert!(query_param(&done, "code").is_some());
    // prompt=none cannot show the wizard.
    publish(&server, body, "2027-02", "Conditions de février");
    let silent = log_in(&browser, &server, "sophie.spors", "&prompt=none").await;
    assert_eq!(
        query_param(&silent, "error").as_deref(),
        Some("interaction_required")
    );

    // The father logs in with his own co-account and sees the same child.
    let other = crate::support::browser();
    assert_eq!(log_in(&other, &server, "marc.spors", "").await, "/wizard");
    let welcome = wizard(&other, &server).await;
    let child = press(&other, &server, &welcome, "next").await.unwrap();
    assert!(child.contains("camille.spors"), "{child}");
}
both_backends!(first_login_wizard);

/// A pupil's first login has no child's data; a school without terms asks none; an
/// account in no school has no school data to check, and no wizard.
async fn steps_depend_on_the_account(backend: Backend) {
    let server = TestServer::start(backend).await;
    let loner = person(&server, "zoe.martin", AccountKind::Pupil, None);
    let owed = |user: &users::User| {
        idp::domain::required_actions::owed(&mut server.idp.conn().unwrap(), user).unwrap()
    };
    assert_eq!(owed(&loner), vec![], "no school, nothing to check");
    let done = log_in(&crate::support::browser(), &server, "zoe.martin", "").await;
    assert!(done.starts_with(REDIRECT), "straight to the app: {done}");
    let loner = users::find_by_username(&mut server.idp.conn().unwrap(), "zoe.martin")
        .unwrap()
        .unwrap();
    assert!(
        loner.first_login_at.is_some(),
        "the first login is recorded"
    );
    let school = school_without_terms(&server);
    let enrolled = |name: &str| {
        let pupil = person(&server, name, AccountKind::Pupil, None);
        let mut conn = server.idp.conn().unwrap();
        schools::join(&mut conn, pupil.id, school, server.idp.now()).unwrap();
        pupil
    };
    let pupil = enrolled("tom.martin");
    use idp::domain::required_actions::Step;
    assert_eq!(owed(&pupil), vec![Step::Welcome, Step::OwnData]);
    let browser = browser();
    assert_eq!(log_in(&browser, &server, "tom.martin", "").await, "/wizard");
    let page = wizard(&browser, &server).await;
    let page = press(&browser, &server, &page, "next").await.unwrap();
    let done = press(&browser, &server, &page, "next").await.unwrap_err();
    assert!(query_param(&done, "code").is_some(), "{done}");
    // An account disabled in the middle of its wizard gets no code.
    let lea = enrolled("lea.martin");
    let other = crate::support::browser();
    assert_eq!(log_in(&other, &server, "lea.martin", "").await, "/wizard");
    let page = wizard(&other, &server).await;
    users::set_disabled(
        &mut server.idp.conn().unwrap(),
        lea.id,
        true,
        server.idp.now(),
    )
    .unwrap();
    let resp = submit_step(&other, &server, &page, "next").await;
    assert_eq!(resp.status(), 400, "no code for a disabled account");
    // A login begun with a password that is then replaced does not go on.
    let noa = enrolled("noa.martin");
    let other = crate::support::browser();
    assert_eq!(log_in(&other, &server, "noa.martin", "").await, "/wizard");
    let page = wizard(&other, &server).await;
    idp::domain::recovery::issue_temporary_password(
        &server.idp,
        &mut server.idp.conn().unwrap(),
        &noa,
        idp::domain::recovery::Delivery::Show,
        "a test",
    )
    .unwrap();
    let resp = submit_step(&other, &server, &page, "next").await;
    assert_eq!(resp.status(), 400, "the flow ended with the old password");
    // The flow is over: the wizard says the login expired.
    let resp = browser.get(server.url("/wizard")).send().await.unwrap();
    assert_eq!(resp.status(), 400);
}
both_backends!(steps_depend_on_the_account);

/// The account page: own data, per-school changes (request, edit), the child's linked
/// co-accounts, a new password.
async fn account_page(backend: Backend) {
    let server = TestServer::start(backend).await;
    let body = family(&server);
    let sophie = {
        let mut conn = server.idp.conn().unwrap();
        let now = server.idp.now();
        let sophie = users::find_by_username(&mut conn, "sophie.spors")
            .unwrap()
            .unwrap();
        users::mark_first_login(&mut conn, sophie.id, now).unwrap();
        for t in terms::owed_by(&mut conn, sophie.id).unwrap() {
            terms::accept(&mut conn, sophie.id, &t.id, now).unwrap();
        }
        let editable = schools::create_school(
            &mut conn,
            NewSchool {
                organising_body: body,
                name: "Académie de musique",
                data_changes: DataChanges::Edit,
                contact: None,
            },
            now,
        )
        .unwrap();
        schools::join(&mut conn, sophie.id, editable.id, now).unwrap();
        sophie
    };
    let browser = browser();
    let resp = browser.get(server.url("/account")).send().await.unwrap();
    assert_eq!(location(&resp), "/login", "only once logged in");
    let page = browser
        .get(server.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let resp = browser
        .post(server.url("/login"))
        .form(&login_form(&page, "sophie.spors", PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&resp), "/");
    let account = |browser: reqwest::Client| {
        let url = server.url("/account");
        async move {
            let page = browser.get(url).send().await.unwrap().text().await.unwrap();
            page.replace("&#x27;", "'")
        }
    };
    let page = account(browser.clone()).await;
    assert!(page.contains("sophie.spors@example.org"), "{page}");
    assert!(page.contains("parent ou responsable"));
    assert!(
        page.contains("camille.spors") && page.contains("marc.spors") && page.contains("father"),
        "the child's co-accounts"
    );
    assert!(
        page.contains("name=\"form\" value=\"request\""),
        "École du Centre takes requests"
    );
    assert!(
        page.contains("name=\"form\" value=\"data\""),
        "the music academy lets her edit"
    );

    let post = |form: Vec<(&'static str, String)>| {
        let browser = browser.clone();
        let url = server.url("/account");
        async move { browser.post(url).form(&form).send().await.unwrap() }
    };
    let school_id = {
        let mut conn = server.idp.conn().unwrap();
        schools::find_school(&mut conn, "École du Centre")
            .unwrap()
            .id
    };
    let resp = post(vec![
        ("csrf", input_value(&page, "csrf")),
        ("form", "request".into()),
        ("school", school_id.to_string()),
        (
            "message",
            "Notre adresse a changé : rue Haute 5, Namur.".into(),
        ),
    ])
    .await;
    assert_eq!(location(&resp), "/account?done=request");
    let requests =
        schools::change_requests(&mut server.idp.conn().unwrap(), school_id, false).unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].user_id, sophie.id);

    let resp = post(vec![
        ("csrf", input_value(&page, "csrf")),
        ("form", "data".into()),
        ("street_address", "rue Haute 5".into()),
        ("postal_code", "5000".into()),
        ("locality", "Namur".into()),
        ("country", "Belgique".into()),
        ("email", "sophie.new@example.org".into()),
        ("phone", "".into()),
    ])
    .await;
    assert_eq!(location(&resp), "/account?done=data");
    let updated = users::find_by_id(&mut server.idp.conn().unwrap(), sophie.id)
        .unwrap()
        .unwrap();
    assert_eq!(
        updated.profile.street_address.as_deref(),
        Some("rue Haute 5")
    );
    assert_eq!(updated.email.as_deref(), Some("sophie.new@example.org"));
    assert!(!updated.email_verified, "a changed address is not verified");
    // ASVS 2.2.3: the address it replaced is told, in her language, with the new one
    // masked; the new one gets nothing.
    let notices: Vec<(String, String, String)> = {
        use diesel::prelude::*;
        use idp::store::schema::mail_outbox;
        mail_outbox::table
            .select((
                mail_outbox::recipient,
                mail_outbox::subject,
                mail_outbox::text_body,
            ))
            .load(&mut server.idp.conn().unwrap())
            .unwrap()
    };
    let notices: Vec<_> = notices
        .into_iter()
        .filter(|(_, subject, _)| subject.contains("adresse e-mail"))
        .collect();
    assert_eq!(notices.len(), 1, "{notices:?}");
    let (to, subject, text) = &notices[0];
    assert_eq!(to, "sophie.spors@example.org");
    assert_eq!(subject, "L'adresse e-mail de votre compte a été modifiée");
    assert!(text.contains("remplacée par s***@e***.org"), "{text}");
    assert!(
        text.contains("sophie.spors"),
        "the account it is about: {text}"
    );
    assert!(!text.contains("sophie.new@"), "{text}");

    let wrong = post(vec![
        ("csrf", input_value(&page, "csrf")),
        ("form", "password".into()),
        ("current", "not-it".into()),
        ("password", "Riviere-Lune-77".into()),
        ("confirmation", "Riviere-Lune-77".into()),
    ])
    .await;
    assert!(wrong.text().await.unwrap().contains("id=\"account-error\""));
    let resp = post(vec![
        ("csrf", input_value(&page, "csrf")),
        ("form", "password".into()),
        ("current", PASSWORD.into()),
        ("password", "Riviere-Lune-77".into()),
        ("confirmation", "Riviere-Lune-77".into()),
    ])
    .await;
    assert_eq!(location(&resp), "/account?done=password");
    let page = browser
        .get(server.url("/account?done=password"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("id=\"account-done\""),
        "still logged in after the change: {page}"
    );
    // Recorded as what it was: a change on the account page (not a temporary password's
    // replacement, as it once was).
    let mut conn = server.idp.conn().unwrap();
    let details: Vec<String> = {
        use diesel::prelude::*;
        use idp::store::schema::audit_events;
        audit_events::table
            .filter(audit_events::kind.eq("password_changed"))
            .filter(audit_events::user_id.eq(sophie.id.to_string()))
            .select(audit_events::detail)
            .load(&mut conn)
            .unwrap()
    };
    assert_eq!(details, ["change"]);
    drop(conn);
    let fresh = crate::support::browser();
    let login = fresh
        .get(server.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let resp = fresh
        .post(server.url("/login"))
        .form(&login_form(&login, "sophie.spors", "Riviere-Lune-77"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&resp), "/", "the new password works");
}
both_backends!(account_page);
