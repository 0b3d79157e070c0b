//! What every page shares, over HTTP on both backends: the language switch (remembered,
//! keeping the pending login, saved on the account at login, mails following it), the
//! order of the languages' sources, and one hashed stylesheet under a policy with no
//! `'unsafe-inline'`.

use crate::both_backends;
use crate::support::*;

fn html_lang(page: &str) -> &str {
    let at = page.find("<html lang=\"").unwrap() + "<html lang=\"".len();
    &page[at..at + 2]
}

/// The switch's link to `code` on `page`, as the browser reads it.
fn switch_link(page: &str, code: &str) -> String {
    let marker = format!("id=\"language-{code}\"");
    let at = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {code} in {page}"));
    let href = page[..at].rfind("href=\"").unwrap() + "href=\"".len();
    page[href..href + page[href..].find('"').unwrap()]
        .replace("&amp;", "&")
        .replace("&#x3D;", "=")
}

async fn text(browser: &reqwest::Client, url: &str) -> (reqwest::header::HeaderMap, String) {
    let resp = browser.get(url).send().await.unwrap();
    let headers = resp.headers().clone();
    (headers, resp.text().await.unwrap())
}

/// A parent on the login page of an application switches to Dutch: the same pending login
/// comes back in Dutch, the choice outlives the page, logging in saves it on the account,
/// and the next mail is in Dutch. The switch never leads off the STS.
async fn the_language_switch_keeps_the_login_and_follows_the_account(backend: Backend) {
    let server = TestServer::start(backend).await;
    let user = add_user(&server, "jan.peeters", Some("jan@example.be"), "fr");
    let browser = browser();
    let url = authorize_url(&server, "openid", "&state=st&nonce=n&ui_locales=fr");
    let resp = browser.get(&url).send().await.unwrap();
    let login = location(&resp);
    let (headers, page) = text(&browser, &server.url(&login)).await;
    assert_eq!(html_lang(&page), "fr", "ui_locales");
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert!(policy.contains("style-src 'self'"), "{policy}");

    let switch = switch_link(&page, "nl");
    let resp = browser.get(server.url(&switch)).send().await.unwrap();
    assert_eq!(location(&resp), login, "back to the same pending login");
    let (_, page) = text(&browser, &server.url(&login)).await;
    assert_eq!(html_lang(&page), "nl", "the switch before ui_locales");
    assert!(page.contains("id=\"language-nl\" aria-current=\"true\""));
    let resp = browser
        .post(server.url("/login"))
        .form(&login_form(&page, "jan.peeters", "Zebre-Orange-91"))
        .send()
        .await
        .unwrap();
    assert!(
        location(&resp).starts_with(REDIRECT),
        "the login went through"
    );
    let mut conn = server.idp.conn().unwrap();
    let saved = idp::domain::users::find_by_id(&mut conn, user.id)
        .unwrap()
        .unwrap();
    assert_eq!(saved.locale.as_deref(), Some("nl"), "saved at the login");

    // The next mail follows the account's language.
    let (_, forgot) = text(&browser, &server.url("/forgot")).await;
    let resp = browser
        .post(server.url("/forgot"))
        .form(&[
            ("csrf", input_value(&forgot, "csrf")),
            ("request", String::new()),
            ("identifier", "jan.peeters".to_owned()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    {
        use diesel::prelude::*;
        use idp::store::schema::mail_outbox;
        let languages: Vec<Option<String>> = mail_outbox::table
            .filter(mail_outbox::recipient.eq("jan@example.be"))
            .select(mail_outbox::language)
            .load(&mut conn)
            .unwrap();
        assert_eq!(languages, vec![Some("nl".to_owned())]);
    }

    // Another browser, no choice, no session: the configured default, then the browser's
    // Accept-Language, which also stands in for ui_locales we lack.
    let (_, home) = text(&crate::support::browser(), &server.url("/")).await;
    assert_eq!(html_lang(&home), "fr", "the configured default");
    let german = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(
            [(
                reqwest::header::ACCEPT_LANGUAGE,
                reqwest::header::HeaderValue::from_static("de-BE, en;q=0.5"),
            )]
            .into_iter()
            .collect(),
        )
        .build()
        .unwrap();
    let (_, page) = text(&german, &server.url("/login?request=")).await;
    assert_eq!(html_lang(&page), "de", "Accept-Language");
    let url = authorize_url(&server, "openid", "&state=s2&nonce=n2&ui_locales=xx");
    let resp = german.get(&url).send().await.unwrap();
    let (_, page) = text(&german, &server.url(&location(&resp))).await;
    assert_eq!(html_lang(&page), "de", "ui_locales we lack: the browser's");

    // Never off the STS; an unknown language changes nothing.
    for back in [
        "https%3A%2F%2Fevil.example%2F",
        "%2F%2Fevil.example",
        "%2Ftoken",
    ] {
        let resp = browser
            .get(server.url(&format!("/language?to=de&back={back}")))
            .send()
            .await
            .unwrap();
        assert_eq!(location(&resp), "/", "{back}");
    }
    let resp = browser
        .get(server.url("/language?to=xx&back=%2F"))
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("set-cookie").is_none());
}
both_backends!(the_language_switch_keeps_the_login_and_follows_the_account);

/// The one stylesheet is served under its hash for a year, and each page links it.
async fn one_hashed_stylesheet_with_a_long_cache(backend: Backend) {
    let server = TestServer::start(backend).await;
    let browser = browser();
    let (_, page) = text(&browser, &server.url("/login")).await;
    let at = page.find("<link rel=\"stylesheet\" href=\"").unwrap() + 29;
    let href = &page[at..at + page[at..].find('"').unwrap()];
    assert!(
        href.starts_with("/assets/site.") && href.ends_with(".css"),
        "{href}"
    );
    let resp = browser.get(server.url(href)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    let resp = browser
        .get(server.url("/assets/site.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404, "only under its hash");
}
both_backends!(one_hashed_stylesheet_with_a_long_cache);

/// Every login saves the language chosen on the switch, not only the password form: here a
/// reset link that ends logged in.
async fn a_reset_saves_the_chosen_language(backend: Backend) {
    let server = TestServer::start(backend).await;
    let user = add_user(&server, "els.maes", Some("els@example.be"), "fr");
    let token = {
        let mut conn = server.idp.conn().unwrap();
        idp::domain::resets::issue(
            &mut conn,
            user.id,
            idp::domain::resets::Purpose::Reset,
            None,
            chrono::Duration::hours(1),
            server.idp.now(),
        )
        .unwrap()
        .token
    };
    let browser = browser();
    let reset = format!("/reset?token={token}");
    let resp = browser
        .get(server.url(&format!("/language?to=de&back={}", urlencode(&reset))))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&resp), reset);
    let (_, page) = text(&browser, &server.url(&reset)).await;
    assert_eq!(html_lang(&page), "de");
    let resp = browser
        .post(server.url("/reset"))
        .form(&[
            ("csrf", input_value(&page, "csrf")),
            ("token", token.clone()),
            ("password", "Fjord-Tulpe-Brot-7".to_owned()),
            ("confirmation", "Fjord-Tulpe-Brot-7".to_owned()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "the reset went through");
    let mut conn = server.idp.conn().unwrap();
    let saved = idp::domain::users::find_by_id(&mut conn, user.id)
        .unwrap()
        .unwrap();
    assert_eq!(saved.locale.as_deref(), Some("de"));
}
both_backends!(a_reset_saves_the_chosen_language);

/// An error page has the switch too, back to the same address (an unknown page's leads
/// home).
async fn error_pages_switch_language_in_place(backend: Backend) {
    let server = TestServer::start(backend).await;
    let browser = browser();
    let refused = "/authorize?client_id=nobody&response_type=code";
    let resp = browser.get(server.url(refused)).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let page = resp.text().await.unwrap();
    let switch = switch_link(&page, "nl");
    assert_eq!(
        switch,
        format!("/language?to=nl&back={}", urlencode(refused))
    );
    let resp = browser.get(server.url(&switch)).send().await.unwrap();
    assert_eq!(location(&resp), refused);
    let (_, page) = text(&browser, &server.url(refused)).await;
    assert_eq!(html_lang(&page), "nl");

    let resp = browser.get(server.url("/nowhere")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let page = resp.text().await.unwrap();
    let resp = browser
        .get(server.url(&switch_link(&page, "de")))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&resp), "/");
}
both_backends!(error_pages_switch_language_in_place);
