//! Every page and path in headless Chromium, in French and in Dutch, on a laptop (1280 px)
//! and a phone (360 px): logging in through an application and back, a wrong password, an
//! e-mail typed as identifier, forgot password → the mail from the SMTP server → the link →
//! a new password → back to the application, the typed code, used and expired links,
//! forgot identifier, the first-login wizard with Back and refuse, the account page and
//! logout. On each page: axe-core finds no WCAG 2.1 A/AA violation, nothing scrolls
//! sideways at 360 or 320 px, touch targets are 44 px high; the login and reset paths are
//! walked with the keyboard only. Each page's screenshot is written to `docs/screenshots/`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chromiumoxide::browser::Browser;
use chromiumoxide::cdp::browser_protocol::emulation::SetDeviceMetricsOverrideParams;
use chromiumoxide::cdp::browser_protocol::network::ClearBrowserCookiesParams;
use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;
use chromiumoxide::page::{Page, ScreenshotParams};
use idp::domain::users;

use crate::browser::{chromium, wait_for, wait_for_url};
use crate::support::*;

/// The languages and widths every path is walked in.
const VISITS: [(&str, u32); 4] = [("fr", 1280), ("nl", 1280), ("fr", 360), ("nl", 360)];

/// axe-core, fetched by `scripts/axe-core` (the test command runs it).
fn axe_source() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/axe-core/axe.min.js");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (scripts/axe-core fetches it)", path.display()))
}

/// Where the screenshots go: the README shows them.
fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots")
}

/// An application on loopback: records the requests the browser is sent back with.
struct Application {
    callback: String,
    arrivals: Arc<Mutex<Vec<String>>>,
}

impl Application {
    fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let callback = format!("http://{}/cb", listener.local_addr().unwrap());
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let seen = arrivals.clone();
        std::thread::spawn(move || {
            use std::io::{BufRead, Write};
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut line = String::new();
                let _ = std::io::BufReader::new(&stream).read_line(&mut line);
                let body = "<!doctype html><html lang=\"en\"><title>App</title><main>app</main>";
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                if let Some(target) = line.split_whitespace().nth(1) {
                    seen.lock().unwrap().push(target.to_owned());
                }
            }
        });
        Self { callback, arrivals }
    }

    /// Waits until the browser arrives with `state`; the whole address it arrived at.
    async fn arrival(&self, state: &str) -> String {
        for _ in 0..100 {
            let found = self
                .arrivals
                .lock()
                .unwrap()
                .iter()
                .find(|t| t.contains(&format!("state={state}")))
                .cloned();
            if let Some(target) = found {
                return format!("http://127.0.0.1{target}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the browser never came back with {state}");
    }
}

/// The journeys' application: a public client (PKCE) whose redirect URI is `app`, and the
/// `openidconnect` relying party that plays it.
async fn register(server: &TestServer, app: &Application) -> (RelyingParty, reqwest::Client) {
    use idp::domain::clients::{self, AuthMethod, GrantType, NewClient};
    use idp::domain::types::{ClientId, RedirectUri, SigningAlg};
    {
        let mut conn = server.idp.conn().unwrap();
        let client = NewClient {
            id: ClientId::parse("journal").unwrap(),
            name: "Journal de classe".into(),
            secret: None,
            token_endpoint_auth_method: AuthMethod::None,
            redirect_uris: vec![RedirectUri::parse(&app.callback).unwrap()],
            post_logout_redirect_uris: Vec::new(),
            grant_types: vec![GrantType::AuthorizationCode],
            scopes: vec!["openid".into(), "profile".into()],
            id_token_signed_response_alg: SigningAlg::RS256,
            jwks: None,
        };
        clients::create(&mut conn, client, server.idp.now()).unwrap();
    }
    let (rp, http) = relying_party(server, "journal", None).await;
    let rp = rp.set_redirect_uri(openidconnect::RedirectUrl::new(app.callback.clone()).unwrap());
    (rp, http)
}

/// The value of `expression` on `page` (awaited when a promise); retried while a
/// navigation replaces the page's context.
pub(crate) async fn evaluate<T: serde::de::DeserializeOwned>(page: &Page, expression: &str) -> T {
    let mut last = String::new();
    for _ in 0..50 {
        let params = EvaluateParams::builder()
            .expression(expression)
            .await_promise(true)
            .return_by_value(true)
            .build()
            .unwrap();
        match page.evaluate(params).await {
            Ok(result) => match result.into_value() {
                Ok(value) => return value,
                Err(e) => last = e.to_string(),
            },
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{}: {last}", &expression[..expression.len().min(120)]);
}

/// Runs axe-core on `page` (WCAG 2.1 A and AA rules) and fails on any violation.
pub(crate) async fn assert_accessible(page: &Page, name: &str) {
    static AXE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let axe = AXE.get_or_init(axe_source);
    let loaded: bool = evaluate(page, &format!("{axe}\n;typeof axe === 'object'")).await;
    assert!(loaded, "axe-core did not load");
    let violations: Vec<String> = evaluate(
        page,
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
            .then(r => r.violations.map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', ')))",
    )
    .await;
    assert!(violations.is_empty(), "{name}: {violations:#?}");
}

/// One visitor: a tab at one width, speaking one language.
struct Visit {
    page: Page,
    lang: &'static str,
    width: u32,
}

impl Visit {
    async fn new(browser: &Browser, lang: &'static str, width: u32) -> Self {
        let page = browser.new_page("about:blank").await.unwrap();
        page.execute(ClearBrowserCookiesParams::default())
            .await
            .unwrap();
        let visit = Self { page, lang, width };
        visit.resize(width).await;
        visit
    }

    fn phone(&self) -> bool {
        self.width < 600
    }

    async fn resize(&self, width: u32) {
        let height = if width < 600 { 740 } else { 800 };
        let metrics = SetDeviceMetricsOverrideParams::new(width, height, 1.0, width < 600);
        self.page.execute(metrics).await.unwrap();
    }

    async fn goto(&self, url: &str) {
        self.page.goto(url).await.unwrap();
    }

    async fn value<T: serde::de::DeserializeOwned>(&self, expression: &str) -> T {
        evaluate(&self.page, expression).await
    }

    /// Picks the visit's language on the page's switch (the choice is remembered).
    async fn choose_language(&self) {
        let link = format!("#language-{}", self.lang);
        crate::browser::click_on(&self.page, &link).await;
        for _ in 0..100 {
            if self.value::<String>("document.documentElement.lang").await == self.lang {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the switch did not change the language to {}", self.lang);
    }

    /// What every page must pass, then its screenshot: the visit's language, no axe-core
    /// violation, no sideways scrolling, touch targets of 44 px on a phone.
    async fn check(&self, name: &str) {
        let url = self.page.url().await.unwrap().unwrap_or_default();
        let lang: String = self.value("document.documentElement.lang").await;
        assert_eq!(lang, self.lang, "{name} ({url})");
        self.axe_finds_nothing(name).await;
        if self.phone() {
            for width in [360, 320] {
                self.resize(width).await;
                let wider: bool = self
                    .value("document.documentElement.scrollWidth > window.innerWidth")
                    .await;
                assert!(!wider, "{name} scrolls sideways at {width} px ({url})");
            }
            self.resize(self.width).await;
            let small: Vec<String> = self
                .value(
                    "Array.from(document.querySelectorAll('button, input:not([type=hidden]), select, textarea, .languages a, .links a, a.button'))
                        .filter(e => e.offsetParent !== null && e.getBoundingClientRect().height < 43.5)
                        .map(e => e.outerHTML.slice(0, 80))",
                )
                .await;
            assert!(small.is_empty(), "{name}: small targets {small:?}");
        }
        self.screenshot(name).await;
    }

    async fn axe_finds_nothing(&self, name: &str) {
        let name = format!("{name} ({} {})", self.lang, self.width);
        assert_accessible(&self.page, &name).await;
    }

    async fn screenshot(&self, name: &str) {
        let png = self
            .page
            .screenshot(ScreenshotParams::builder().full_page(true).build())
            .await
            .unwrap();
        let dir = screenshots();
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!("{name}-{}-{}.png", self.lang, self.width));
        std::fs::write(file, png).unwrap();
    }

    async fn wait_for(&self, needle: &str) -> String {
        wait_for(&self.page, needle).await
    }

    async fn wait_for_url(&self, part: &str) -> String {
        wait_for_url(&self.page, part).await
    }

    async fn click(&self, selector: &str) {
        crate::browser::click_on(&self.page, selector).await;
    }

    async fn type_into(&self, selector: &str, text: &str) {
        crate::browser::type_into(&self.page, selector, text).await;
    }

    /// Types an identifier and a password on the login form and sends it.
    async fn log_in(&self, identifier: &str, password: &str) {
        self.type_into("#identifier", identifier).await;
        self.type_into("#password", password).await;
        self.click("button[type=submit]").await;
    }

    /// The id of the element that has the focus.
    async fn focused(&self) -> String {
        self.value("document.activeElement ? document.activeElement.id : ''")
            .await
    }

    /// Presses a key on whatever has the focus, as a keyboard does.
    async fn press(&self, key: &str) {
        self.page
            .find_element("html")
            .await
            .unwrap()
            .press_key(key)
            .await
            .unwrap();
    }

    /// Tabs (at most 30 times) until the field `id` has the focus.
    async fn tab_to(&self, id: &str) {
        for _ in 0..30 {
            if self.focused().await == id {
                return;
            }
            self.press("Tab").await;
        }
        panic!("Tab never reached #{id}");
    }

    /// Types on the keyboard into the focused field.
    async fn keys(&self, text: &str) {
        self.page
            .find_element("html")
            .await
            .unwrap()
            .type_str(text)
            .await
            .unwrap();
    }

    async fn close(self) {
        let _ = self.page.close().await;
    }
}

/// Closes Chromium and its event loop.
async fn done(mut browser: Browser, events: tokio::task::JoinHandle<()>) {
    browser.close().await.unwrap();
    let _ = browser.wait().await;
    events.abort();
}

fn user_for(server: &TestServer, lang: &str, width: u32, first: &str) -> (String, String) {
    let username = format!("{first}.{lang}{width}");
    let email = format!("{username}@ecole.example");
    add_user(server, &username, Some(&email), lang);
    (username, email)
}

/// Logs in through the application, every mistake first, then with the keyboard only;
/// back at the application, its relying party gets the ID token. Then the account page
/// and logout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_through_an_application_and_out() {
    let server = TestServer::start(Backend::Sqlite).await;
    let app = Application::start();
    let (rp, http) = register(&server, &app).await;
    let (browser, events, _profile) = chromium().await;
    for (lang, width) in VISITS {
        let (username, email) = user_for(&server, lang, width, "eva");
        let visit = Visit::new(&browser, lang, width).await;
        let request = rp_request(&rp, &["profile"]);
        visit.goto(&request.url).await;
        visit.wait_for("id=\"identifier\"").await;
        visit.choose_language().await;
        visit.check("login").await;

        // The e-mail address where the identifier goes: said plainly.
        visit.log_in(&email, "Zebre-Orange-91").await;
        visit.wait_for("id=\"login-error\"").await;
        visit.check("login-email-as-identifier").await;

        // A wrong password: the error summary gets the focus.
        visit.log_in(&username, "Zebre-Orange-19").await;
        visit.wait_for("id=\"login-error\"").await;
        let mut focused = String::new();
        for _ in 0..50 {
            focused = visit.focused().await;
            if focused == "login-error" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(focused, "login-error", "the summary has the focus");
        visit.check("login-wrong-password").await;

        // The keyboard only: Tab to each field, type, Enter.
        visit.tab_to("identifier").await;
        visit
            .value::<bool>("(document.activeElement.select(), true)")
            .await;
        visit.keys(&username).await;
        visit.tab_to("password").await;
        visit.keys("Zebre-Orange-91").await;
        visit.press("Enter").await;
        let state = request.state.secret().clone();
        let back = app.arrival(&state).await;
        let code = query_param(&back, "code").expect("a code");
        let (_, claims) = rp_redeem(&rp, &http, code, request).await;
        let mut conn = server.idp.conn().unwrap();
        let account = users::find_by_username(&mut conn, &username)
            .unwrap()
            .unwrap();
        assert_eq!(claims.subject().as_str(), account.id.to_string());
        assert_eq!(account.locale.as_deref(), Some(lang), "saved at login");

        visit.goto(&server.url("/account")).await;
        visit.wait_for(&username).await;
        visit.check("account").await;

        visit.goto(&server.url("/logout")).await;
        visit.wait_for("/logout/confirm").await;
        visit.check("logout").await;
        visit.click("button[type=submit]").await;
        visit.wait_for_url("/logout/confirm").await;
        visit.check("logged-out").await;
        visit.goto(&server.url("/account")).await;
        visit.wait_for_url("/login").await;

        // An application's request the STS cannot trust: an error page, no redirect.
        let refused = "/authorize?client_id=nobody&response_type=code&scope=openid";
        visit.goto(&server.url(refused)).await;
        visit.wait_for("<details").await;
        visit.check("error").await;
        visit.close().await;
    }
    done(browser, events).await;
}

/// The `n`th mail (from 1) to `to` that `is` accepts, once it has come.
async fn nth_mail(inbox: &Inbox, to: &str, n: usize, is: impl Fn(&Mail) -> bool) -> Mail {
    for _ in 0..200 {
        let mut mails: Vec<Mail> = inbox
            .mails()
            .into_iter()
            .filter(|m| m.to == to && is(m))
            .collect();
        if mails.len() >= n {
            return mails.remove(n - 1);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("fewer than {n} such mails to {to}: {:#?}", inbox.mails());
}

fn has_code(mail: &Mail) -> bool {
    !mail.codes().is_empty()
}

/// Forgot password from an application's login page: the mail from the SMTP server, its
/// link, a new password typed with the keyboard only, back at the application; the link
/// once used, an expired link; then the typed code (lower case, no dash, spaces), and
/// forgot identifier.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgot_password_by_link_and_by_code_and_forgot_identifier() {
    let (server, inbox) = TestServer::with_mail(Backend::Sqlite, |s| {
        s.recovery.redirect_delay_seconds = 60;
    })
    .await;
    let app = Application::start();
    let (rp, http) = register(&server, &app).await;
    let (browser, events, _profile) = chromium().await;
    for (lang, width) in VISITS {
        let (username, email) = user_for(&server, lang, width, "noor");
        let visit = Visit::new(&browser, lang, width).await;
        let request = rp_request(&rp, &[]);
        visit.goto(&request.url).await;
        visit.wait_for("id=\"forgot-password\"").await;
        visit.choose_language().await;
        visit.click("#forgot-password").await;
        visit.wait_for("action=\"/forgot\"").await;
        visit.check("forgot").await;
        visit.tab_to("identifier").await;
        visit.keys(&username).await;
        visit.press("Enter").await;
        visit.wait_for("forgot-sent").await;
        visit.check("forgot-sent").await;

        let mail = nth_mail(&inbox, &email, 1, has_code).await;
        let link = mail.links(&server, "/reset").remove(0);
        visit.goto(&link).await;
        visit.wait_for("id=\"sent-to\"").await;
        visit.check("reset").await;
        visit.tab_to("password").await;
        visit.keys("Kiwi-Tulpe-Fjord-58").await;
        visit.tab_to("confirmation").await;
        visit.keys("Kiwi-Tulpe-Fjord-58").await;
        visit.press("Enter").await;
        visit.wait_for("id=\"continue\"").await;
        visit.wait_for("id=\"stay\"").await;
        visit.check("reset-done").await;
        // The countdown can be stopped (WCAG 2.2.1); Continue still leads on.
        visit.click("#stay").await;
        let hidden: bool = visit
            .value("document.getElementById('countdown').hidden")
            .await;
        assert!(hidden, "the countdown stopped");
        visit.tab_to("continue").await;
        visit.press("Enter").await;
        let back = app.arrival(request.state.secret()).await;
        let code = query_param(&back, "code").expect("a code");
        let (_, claims) = rp_redeem(&rp, &http, code, request).await;
        let account = {
            let mut conn = server.idp.conn().unwrap();
            users::find_by_username(&mut conn, &username)
                .unwrap()
                .unwrap()
        };
        assert_eq!(claims.subject().as_str(), account.id.to_string());

        visit.goto(&link).await;
        visit.wait_for("id=\"unusable\"").await;
        visit.check("reset-used").await;
        let expired = {
            let mut conn = server.idp.conn().unwrap();
            let long_ago = server.idp.now() - chrono::Duration::hours(3);
            idp::domain::resets::issue(
                &mut conn,
                account.id,
                idp::domain::resets::Purpose::Reset,
                None,
                chrono::Duration::hours(1),
                long_ago,
            )
            .unwrap()
            .token
        };
        visit
            .goto(&server.url(&format!("/reset?token={expired}")))
            .await;
        visit.wait_for("id=\"unusable\"").await;
        visit.check("reset-expired").await;

        // The code from a second mail, typed as people type it.
        visit.goto(&server.url("/logout")).await;
        visit.click("button[type=submit]").await;
        visit.wait_for_url("/logout/confirm").await;
        visit.goto(&server.url("/forgot")).await;
        visit.type_into("#identifier", &username).await;
        visit.click("button[type=submit]").await;
        visit.wait_for("forgot-sent").await;
        let mail = nth_mail(&inbox, &email, 2, has_code).await;
        let code = mail.codes().remove(0);
        let typed = format!(
            " {} {} ",
            code[..4].to_lowercase(),
            code[5..].to_lowercase()
        );
        visit.goto(&server.url("/reset/code")).await;
        visit.wait_for("id=\"code\"").await;
        visit.check("reset-code").await;
        visit.tab_to("identifier").await;
        visit.keys(&username).await;
        visit.tab_to("code").await;
        visit.keys(&typed).await;
        visit.press("Enter").await;
        visit.wait_for("id=\"sent-to\"").await;
        visit.type_into("#password", "Mango-Brug-Wolk-73").await;
        visit.type_into("#confirmation", "Mango-Brug-Wolk-73").await;
        visit.click("button[type=submit]").await;
        visit.wait_for("id=\"continue\"").await;

        // Forgot identifier: the identifier comes by mail.
        visit.goto(&server.url("/forgot-identifier")).await;
        visit.wait_for("action=\"/forgot-identifier\"").await;
        visit.check("forgot-identifier").await;
        visit.tab_to("email").await;
        visit.keys(&email).await;
        visit.press("Enter").await;
        visit.wait_for("forgot-sent").await;
        visit.check("forgot-identifier-sent").await;
        // In the visitor's language, which the login saved on the account.
        let subject = match lang {
            "fr" => "Votre identifiant",
            _ => "Je gebruikersnaam",
        };
        let named = |m: &Mail| m.subject == subject;
        let mail = nth_mail(&inbox, &email, 1, named).await;
        assert!(mail.text.contains(&username), "{}", mail.text);
        visit.close().await;
    }
    done(browser, events).await;
}

/// Waits until the wizard shows `step`.
async fn at_step(visit: &Visit, step: &str) {
    visit.wait_for(&format!("data-step=\"{step}\"")).await;
}

/// A first login with a temporary password and terms to accept: the wizard, Back included;
/// refusing the terms sends the person back to the application with `access_denied`; the
/// next login accepts them and reaches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_login_wizard_with_back_and_refuse() {
    use diesel::prelude::*;
    use idp::domain::schools::{self, DataChanges, NewSchool};
    use idp::store::schema::users as t;
    let server = TestServer::start(Backend::Sqlite).await;
    let app = Application::start();
    let (rp, http) = register(&server, &app).await;
    let school = {
        let mut conn = server.idp.conn().unwrap();
        let now = server.idp.now();
        let body = schools::create_body(&mut conn, "Scholengroep Brugge", now).unwrap();
        let texts = [
            (
                idp::i18n::Locale::Fr,
                "Conditions d'utilisation.".to_owned(),
            ),
            (idp::i18n::Locale::Nl, "Gebruiksvoorwaarden.".to_owned()),
        ]
        .into_iter()
        .collect();
        idp::domain::terms::publish(&mut conn, body.id, "2026-09", texts, now).unwrap();
        let school = NewSchool {
            organising_body: body.id,
            name: "Sint-Lodewijkscollege",
            data_changes: DataChanges::Contact,
            contact: None,
        };
        schools::create_school(&mut conn, school, now).unwrap().id
    };
    let (browser, events, _profile) = chromium().await;
    for (lang, width) in VISITS {
        let (username, _) = user_for(&server, lang, width, "lars");
        {
            let mut conn = server.idp.conn().unwrap();
            let user = users::find_by_username(&mut conn, &username)
                .unwrap()
                .unwrap();
            diesel::update(t::table.filter(t::id.eq(user.id.to_string())))
                .set((
                    t::first_login_at.eq(None::<chrono::NaiveDateTime>),
                    t::password_change_required.eq(true),
                ))
                .execute(&mut conn)
                .unwrap();
            schools::join(&mut conn, user.id, school, server.idp.now()).unwrap();
        }
        let visit = Visit::new(&browser, lang, width).await;
        let request = rp_request(&rp, &[]);
        visit.goto(&request.url).await;
        visit.wait_for("id=\"identifier\"").await;
        visit.choose_language().await;
        visit.log_in(&username, "Zebre-Orange-91").await;

        at_step(&visit, "welcome").await;
        visit.check("wizard-welcome").await;
        visit.click("#next").await;
        at_step(&visit, "own_data").await;
        visit.check("wizard-own-data").await;
        visit.click("#back").await;
        at_step(&visit, "welcome").await;
        visit.click("#next").await;
        at_step(&visit, "own_data").await;
        visit.click("#next").await;
        at_step(&visit, "new_password").await;
        visit.check("wizard-new-password").await;
        visit.type_into("#password", "Zeil-Duin-Meeuw-26").await;
        visit.type_into("#confirmation", "Zeil-Duin-Meeuw-26").await;
        visit.click("#next").await;
        at_step(&visit, "terms").await;
        visit.check("wizard-terms").await;
        visit.click("#refuse").await;
        let back = app.arrival(request.state.secret()).await;
        assert_eq!(
            query_param(&back, "error").as_deref(),
            Some("access_denied"),
            "{back}"
        );

        // The next login: what is left, the terms accepted, the application reached.
        let request = rp_request(&rp, &[]);
        visit.goto(&request.url).await;
        visit.wait_for("id=\"identifier\"").await;
        visit.log_in(&username, "Zeil-Duin-Meeuw-26").await;
        at_step(&visit, "welcome").await;
        visit.click("#next").await;
        at_step(&visit, "own_data").await;
        visit.click("#next").await;
        at_step(&visit, "terms").await;
        visit.click("#accept").await;
        let back = app.arrival(request.state.secret()).await;
        let code = query_param(&back, "code").expect("a code");
        let (_, claims) = rp_redeem(&rp, &http, code, request).await;
        let mut conn = server.idp.conn().unwrap();
        let account = users::find_by_username(&mut conn, &username)
            .unwrap()
            .unwrap();
        assert_eq!(claims.subject().as_str(), account.id.to_string());
        assert!(account.first_login_at.is_some());
        visit.close().await;
    }
    done(browser, events).await;
}

/// The README shows every screenshot the journeys write, and only those.
#[test]
fn the_readme_shows_every_screenshot() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let shown: std::collections::BTreeSet<&str> = readme
        .split("src=\"docs/screenshots/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert!(!shown.is_empty());
    for file in &shown {
        assert!(
            screenshots().join(file).exists(),
            "README shows {file}, which no journey writes"
        );
    }
    for entry in std::fs::read_dir(screenshots()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(shown.contains(name.as_str()), "README lacks {name}");
    }
}
