//! An organising body's look: the login page of one of its applications and the pages of
//! its accounts wear its name, colour and logo, served by the STS itself; everyone else
//! sees the neutral look.

use idp::domain::branding::{self, Colour, Logo};
use idp::domain::schools::{self, DataChanges, NewSchool};
use idp::domain::types::{OrganisingBodyId, SchoolId};

use crate::both_backends;
use crate::staff::get;
use crate::support::*;

const LOGO: &[u8] =
    b"<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 10 10\"><rect width=\"10\" height=\"10\"/></svg>";

fn body_with_school(server: &TestServer, name: &str) -> (OrganisingBodyId, SchoolId) {
    let mut conn = server.idp.conn().unwrap();
    let now = server.idp.now();
    let body = schools::create_body(&mut conn, name, now).unwrap();
    let school = NewSchool {
        organising_body: body.id,
        name: "Basisschool De Linde",
        data_changes: DataChanges::Contact,
        contact: None,
    };
    let school = schools::create_school(&mut conn, school, now).unwrap().id;
    (body.id, school)
}

/// The `href` or `src` after `attribute="` that starts with `prefix`.
fn address(page: &str, prefix: &str) -> String {
    let at = page
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} in {page}"));
    page[at..at + page[at..].find('"').unwrap()].to_owned()
}

async fn login_page(server: &TestServer, browser: &reqwest::Client) -> String {
    let url = authorize_url(server, "openid", "&state=st&nonce=n");
    let resp = browser.get(&url).send().await.unwrap();
    let login = server.url(&location(&resp));
    browser
        .get(&login)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn the_login_page_of_a_body_s_application_wears_its_brand(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (body, _) = body_with_school(&server, "Scholengroep Noord");
    let browser = browser();
    let neutral = login_page(&server, &browser).await;
    assert!(!neutral.contains("class=\"brand\""), "neutral by default");

    {
        let mut conn = server.idp.conn().unwrap();
        let logo = Logo::read(LOGO.to_vec()).unwrap();
        let gold = Colour::parse("#FFD700").unwrap();
        branding::set(&mut conn, &body, Some(gold), Some(&logo), server.idp.now()).unwrap();
        branding::set_client_body(&mut conn, "school-app", Some(&body)).unwrap();
    }
    let page = login_page(&server, &browser).await;
    assert!(page.contains("<header class=\"brand\">"), "{page}");
    assert!(page.contains("Scholengroep Noord"));
    assert!(
        page.contains("school-app app"),
        "the application's name stays"
    );

    let css = address(&page, "/brand/");
    assert!(css.ends_with("/style.css"), "{css}");
    let resp = browser.get(server.url(&css)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let sheet = resp.text().await.unwrap();
    assert!(
        sheet.contains("--brand:#ffd700;--on-brand:#000000"),
        "black reads on gold: {sheet}"
    );

    let logo = css.replace("/style.css", "/logo");
    assert!(page.contains(&format!("src=\"{logo}\"")));
    let resp = browser.get(server.url(&logo)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/svg+xml");
    let policy = resp.headers()["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("sandbox"), "an SVG runs nothing: {policy}");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), LOGO);

    // A new colour is a new version: the old address is gone, the page has the new one.
    {
        let mut conn = server.idp.conn().unwrap();
        let navy = Colour::parse("#003366").unwrap();
        branding::set(&mut conn, &body, Some(navy), None, server.idp.now()).unwrap();
    }
    let resp = browser.get(server.url(&css)).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let page = login_page(&server, &browser).await;
    let sheet = browser
        .get(server.url(&address(&page, "/brand/")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        sheet.contains("--brand:#003366;--on-brand:#ffffff"),
        "{sheet}"
    );
    assert!(!page.contains("/logo\""), "no logo any more");

    // The recovery pages of the same pending login too.
    let request = input_value(&page, "request");
    let (_, forgot) = get(&browser, &server, &format!("/forgot?request={request}")).await;
    assert!(forgot.contains("Scholengroep Noord"), "{forgot}");
}
both_backends!(the_login_page_of_a_body_s_application_wears_its_brand);

/// Without an application, an account's pages wear the brand of the one body its
/// schools belong to; of two bodies, none.
async fn an_account_wears_its_body_s_brand(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (north, north_school) = body_with_school(&server, "Scholengroep Noord");
    let (_, south_school) = body_with_school(&server, "Scholengroep Zuid");
    let pupil = add_user(&server, "lotte.peeters", None, "nl");
    let parent = add_user(&server, "an.peeters", None, "nl");
    {
        let mut conn = server.idp.conn().unwrap();
        let now = server.idp.now();
        let red = Colour::parse("#b42318").unwrap();
        branding::set(&mut conn, &north, Some(red), None, now).unwrap();
        schools::join(&mut conn, pupil.id, north_school, now).unwrap();
        schools::join(&mut conn, parent.id, north_school, now).unwrap();
        schools::join(&mut conn, parent.id, south_school, now).unwrap();
    }
    for (who, branded) in [("lotte.peeters", true), ("an.peeters", false)] {
        let browser = browser();
        let (_, login) = get(&browser, &server, "/login").await;
        assert!(!login.contains("class=\"brand\""), "no one known yet");
        let resp = browser
            .post(server.url("/login"))
            .form(&login_form(&login, who, "Zebre-Orange-91"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 303, "{who} logged in");
        let (_, account) = get(&browser, &server, "/account").await;
        assert!(
            account.contains("id=\"account\"") || account.contains(who),
            "{account}"
        );
        assert_eq!(
            account.contains("<header class=\"brand\"><span>Scholengroep Noord</span>"),
            branded,
            "{who}: {account}"
        );
    }
}
both_backends!(an_account_wears_its_body_s_brand);
