//! Pages in a real headless Chromium (driven over the DevTools protocol): what only a
//! browser shows, such as the script that ticks the password rules, the CSP letting it run,
//! and the session cookie and refresh after a reset.

use std::time::Duration;

use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::page::Page;
use futures_util::StreamExt;
use idp::domain::resets::{self, Purpose};
use idp::domain::users;

use crate::journeys::assert_accessible;
use crate::support::*;

/// The machine's Chromium, headless, with a profile of its own.
pub(crate) async fn chromium() -> (Browser, tokio::task::JoinHandle<()>, TempDir) {
    let profile = TempDir(
        std::env::temp_dir().join(format!("idp-chromium-{}", uuid::Uuid::new_v4().simple())),
    );
    let executable = [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .expect("Chromium is installed (.ci/run installs the Debian package)");
    let config = BrowserConfig::builder()
        .chrome_executable(executable)
        .no_sandbox()
        .user_data_dir(&profile.0)
        .args([
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .build()
        .unwrap();
    let (browser, mut handler) = Browser::launch(config).await.unwrap();
    let events = tokio::spawn(async move { while handler.next().await.is_some() {} });
    (browser, events, profile)
}

/// Each rule line of the new-password page: (rule, ticked).
async fn ticks(page: &Page) -> Vec<(String, bool)> {
    page.evaluate(
        "Array.from(document.querySelectorAll('[data-check]'))
            .filter(li => li.dataset.check)
            .map(li => [li.dataset.check, li.classList.contains('ok')])",
    )
    .await
    .unwrap()
    .into_value()
    .unwrap()
}

/// Waits (up to 10 s) until the page shows `needle`; returns its HTML.
pub(crate) async fn wait_for(page: &Page, needle: &str) -> String {
    let mut html = String::new();
    for _ in 0..100 {
        html = page.content().await.unwrap_or_default();
        if html.contains(needle) {
            return html;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{needle} never appeared in {html}");
}

fn ticked(all: &[(String, bool)], rule: &str) -> bool {
    all.iter()
        .find(|(r, _)| r == rule)
        .unwrap_or_else(|| panic!("no rule {rule} in {all:?}"))
        .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_rules_tick_live_and_the_reset_logs_in() {
    use idp::domain::password_policy::CharClass;
    let server = TestServer::start_with(Backend::Sqlite, |s| {
        s.password_policy.required_classes =
            vec![CharClass::Upper, CharClass::Digit, CharClass::Special];
        s.password_policy.min_strength = 0;
        s.recovery.redirect_delay_seconds = 1;
    })
    .await;
    let token = {
        let mut conn = server.idp.conn().unwrap();
        let user = users::find_by_username(&mut conn, USERNAME)
            .unwrap()
            .unwrap();
        resets::issue(
            &mut conn,
            user.id,
            Purpose::Reset,
            None,
            chrono::Duration::hours(1),
            server.idp.now(),
        )
        .unwrap()
        .token
    };
    let (mut browser, events, _profile) = chromium().await;
    let page = browser
        .new_page(server.url(&format!("/reset?token={token}")))
        .await
        .unwrap();
    page.wait_for_navigation().await.unwrap();

    let before = ticks(&page).await;
    assert!(
        before.iter().all(|(_, ok)| !ok),
        "nothing ticked before typing: {before:?}"
    );

    let password = page.find_element("#password").await.unwrap();
    password
        .click()
        .await
        .unwrap()
        .type_str("jean7")
        .await
        .unwrap();
    let partial = ticks(&page).await;
    assert!(ticked(&partial, "class-digit"), "{partial:?}");
    assert!(!ticked(&partial, "class-upper") && !ticked(&partial, "min-length"));
    assert!(
        !ticked(&partial, "personal-info"),
        "the identifier's first name is inside"
    );

    password
        .click()
        .await
        .unwrap()
        .type_str("-Montagne!")
        .await
        .unwrap();
    page.find_element("#confirmation")
        .await
        .unwrap()
        .click()
        .await
        .unwrap()
        .type_str("jean7-Montagne!")
        .await
        .unwrap();
    let partial = ticks(&page).await;
    for rule in [
        "min-length",
        "class-upper",
        "class-digit",
        "class-special",
        "match",
    ] {
        assert!(ticked(&partial, rule), "{rule} in {partial:?}");
    }
    assert!(!ticked(&partial, "personal-info"));

    // The server is the authority: submitting lists what is still wrong.
    page.find_element("button[type=submit]")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let html = wait_for(&page, "id=\"reset-problems\"").await;
    assert!(
        html.contains("identifiant"),
        "the personal-information rule: {html}"
    );

    let password = page.find_element("#password").await.unwrap();
    password
        .click()
        .await
        .unwrap()
        .type_str("Riviere7-Montagne!")
        .await
        .unwrap();
    page.find_element("#confirmation")
        .await
        .unwrap()
        .click()
        .await
        .unwrap()
        .type_str("Riviere7-Montagne!")
        .await
        .unwrap();
    assert!(ticks(&page).await.iter().all(|(_, ok)| *ok));
    page.find_element("button[type=submit]")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&page, "id=\"continue\"").await;

    // The page moves on by itself, and the browser is logged in.
    let mut landed = String::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        landed = page.url().await.unwrap().unwrap_or_default();
        if landed == server.url("/") {
            break;
        }
    }
    assert_eq!(landed, server.url("/"));
    wait_for(&page, "jean.dupont").await;

    browser.close().await.unwrap();
    let _ = browser.wait().await;
    events.abort();
}

/// The login form in a real browser: the answer redirects to the application (a CSP
/// `form-action` would block that redirect), after the first-login wizard, whose Enter key
/// means Next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_and_wizard_reach_the_application() {
    let server = TestServer::start(Backend::Sqlite).await;
    {
        // A first login for this account, in a school: the wizard's welcome and own data.
        use diesel::prelude::*;
        use idp::store::schema::users as t;
        let school = school_without_terms(&server);
        let mut conn = server.idp.conn().unwrap();
        diesel::update(t::table.filter(t::username_normalized.eq(USERNAME)))
            .set(t::first_login_at.eq(None::<chrono::NaiveDateTime>))
            .execute(&mut conn)
            .unwrap();
        let jean = idp::domain::users::find_by_username(&mut conn, USERNAME)
            .unwrap()
            .unwrap();
        idp::domain::schools::join(&mut conn, jean.id, school, server.idp.now()).unwrap();
    }
    // The application: a listener that records the request the browser is sent back with.
    let app = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let callback = format!("http://{}/cb", app.local_addr().unwrap());
    let (got, arrived) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::{BufRead, Write};
        if let Ok((mut stream, _)) = app.accept() {
            let mut line = String::new();
            let _ = std::io::BufReader::new(&stream).read_line(&mut line);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
            let _ = got.send(line);
        }
    });
    {
        use idp::domain::clients::{self, AuthMethod, GrantType, NewClient};
        use idp::domain::types::{ClientId, RedirectUri, SigningAlg};
        let mut conn = server.idp.conn().unwrap();
        let client = NewClient {
            id: ClientId::parse("browser-app").unwrap(),
            name: "Browser app".into(),
            secret: None,
            token_endpoint_auth_method: AuthMethod::None,
            redirect_uris: vec![RedirectUri::parse(&callback).unwrap()],
            post_logout_redirect_uris: Vec::new(),
            grant_types: vec![GrantType::AuthorizationCode],
            scopes: vec!["openid".into()],
            id_token_signed_response_alg: SigningAlg::ES256,
            jwks: None,
        };
        clients::create(&mut conn, client, server.idp.now()).unwrap();
    }
    let (mut browser, events, _profile) = chromium().await;
    let authorize = format!(
        "{}?response_type=code&client_id=browser-app&redirect_uri={}&scope=openid&state=xyz&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        server.url("/authorize"),
        urlencode(&callback)
    );
    let page = browser.new_page(authorize).await.unwrap();
    wait_for(&page, "name=\"identifier\"").await;
    page.find_element("#identifier")
        .await
        .unwrap()
        .click()
        .await
        .unwrap()
        .type_str(USERNAME)
        .await
        .unwrap();
    page.find_element("#password")
        .await
        .unwrap()
        .click()
        .await
        .unwrap()
        .type_str(PASSWORD)
        .await
        .unwrap()
        .press_key("Enter")
        .await
        .unwrap();
    wait_for(&page, "aria-current=\"step\"").await;
    // Enter on a step is Next (the Next button comes first in the form).
    for expected in ["wizard-own-data-step", "done"] {
        let before = page.url().await.unwrap().unwrap_or_default();
        press_enter_on(&page, "#next").await;
        if expected == "done" {
            break;
        }
        let html = wait_for(&page, "id=\"back\"").await;
        assert!(
            html.contains("Étape 2 sur 2") || html.contains("Step 2 of 2"),
            "{html}"
        );
        assert_eq!(page.url().await.unwrap().unwrap_or_default(), before);
    }
    let request = arrived
        .recv_timeout(Duration::from_secs(10))
        .expect("the browser was sent back to the application");
    let target = request.split_whitespace().nth(1).unwrap_or_default();
    let landed = format!("http://127.0.0.1{target}");
    assert!(target.starts_with("/cb?"), "{request}");
    assert_eq!(query_param(&landed, "state").as_deref(), Some("xyz"));
    assert!(query_param(&landed, "code").is_some(), "{request}");

    browser.close().await.unwrap();
    let _ = browser.wait().await;
    events.abort();
}

/// Focuses `selector` and presses Enter on it. A page still settling (its scripts run
/// after load) may replace the node between finding and focusing it: find it again.
pub(crate) async fn press_enter_on(page: &chromiumoxide::Page, selector: &str) {
    for attempt in 0..10 {
        let pressed = async {
            let element = page.find_element(selector).await?;
            element.focus().await?;
            element.press_key("Enter").await?;
            Ok::<_, chromiumoxide::error::CdpError>(())
        }
        .await;
        match pressed {
            Ok(()) => return,
            Err(e) if attempt == 9 => panic!("{selector}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// A teacher in Chromium: logs in on the STS's own page, goes to Administration, finds a
/// pupil, makes a temporary password, and gets the letter with its QR code drawn (the
/// inline SVG passes the Content-Security-Policy) and the password the pupil then uses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teacher_prints_a_letter_for_a_pupil() {
    let server = TestServer::start(Backend::Sqlite).await;
    let world = crate::staff::build(&server);
    let (mut browser, events, _profile) = chromium().await;
    let page = browser.new_page(server.url("/login")).await.unwrap();
    wait_for(&page, "name=\"identifier\"").await;
    for (field, text) in [
        ("#identifier", "teacher.a1"),
        ("#password", "Zebre-Orange-91"),
    ] {
        page.find_element(field)
            .await
            .unwrap()
            .click()
            .await
            .unwrap()
            .type_str(text)
            .await
            .unwrap();
    }
    press_enter_on(&page, "#password").await;
    wait_for(&page, "id=\"admin-link\"").await;
    page.find_element("#admin-link")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&page, "id=\"q\"").await;
    type_into(&page, "#q", "pupil").await;
    press_enter_on(&page, "#q").await;
    // The list before the search shows the pupil too: wait for the search's own page.
    for _ in 0..100 {
        let url = page.url().await.unwrap().unwrap_or_default();
        if url.contains("q=pupil") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pupil = world.targets["pupil.a1"].id;
    let list = wait_for(&page, &format!("/admin/accounts/{pupil}")).await;
    assert!(
        list.contains("value=\"pupil\""),
        "the search's page, with what was typed"
    );
    assert!(
        !list.contains("pupil.a2"),
        "another school's pupil is not listed"
    );
    click_on(&page, &format!("a[href='/admin/accounts/{pupil}']")).await;
    wait_for(&page, "id=\"temporary-password\"").await;
    press_enter_on(&page, "#temporary-password").await;
    let letter = wait_for(&page, "id=\"letter-password\"").await;
    assert_accessible(&page, "the letter").await;
    let width: f64 = page
        .evaluate("document.querySelector('.qr svg').getBoundingClientRect().width")
        .await
        .unwrap()
        .into_value()
        .unwrap();
    assert!(width > 100.0, "the QR code is drawn ({width} px)");
    let start = letter
        .find("id=\"letter-password\" class=\"code\">")
        .unwrap();
    let rest = &letter[start + "id=\"letter-password\" class=\"code\">".len()..];
    let temporary = rest[..rest.find('<').unwrap()].to_owned();
    browser.close().await.unwrap();
    let _ = browser.wait().await;
    events.abort();

    let url = authorize_url(&server, "openid", "&state=st&nonce=n");
    let resp = login_response(
        &crate::support::browser(),
        &server,
        &url,
        "pupil.a1",
        &temporary,
    )
    .await;
    assert_eq!(
        location(&resp),
        "/wizard",
        "the pupil chooses a new password first"
    );
}

/// Clicks `selector`, finding it again if the page replaced it meanwhile (as
/// `press_enter_on`).
pub(crate) async fn click_on(page: &chromiumoxide::Page, selector: &str) {
    for attempt in 0..10 {
        let clicked = async {
            page.find_element(selector).await?.click().await?;
            Ok::<_, chromiumoxide::error::CdpError>(())
        }
        .await;
        match clicked {
            Ok(()) => return,
            Err(e) if attempt == 9 => panic!("{selector}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Types `text` into the empty field `selector`, retrying on a replaced node; a retry
/// clears what a failed attempt may have typed.
pub(crate) async fn type_into(page: &chromiumoxide::Page, selector: &str, text: &str) {
    for attempt in 0..10 {
        let typed = async {
            let element = page.find_element(selector).await?;
            element.click().await?;
            element
                .call_js_fn("function() { this.value = ''; }", false)
                .await?;
            element.type_str(text).await?;
            Ok::<_, chromiumoxide::error::CdpError>(())
        }
        .await;
        match typed {
            Ok(()) => return,
            Err(e) if attempt == 9 => panic!("{selector}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Waits (up to 10 s) until the page's address contains `part`.
pub(crate) async fn wait_for_url(page: &Page, part: &str) -> String {
    let mut url = String::new();
    for _ in 0..100 {
        url = page.url().await.ok().flatten().unwrap_or_default();
        if url.contains(part) {
            return url;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never at {part}: {url}");
}

/// An organising body's administrator in Chromium: opens the migration screen without a
/// session, logs in and is back on it; fixes a reported row's address, migrates a ticked
/// row again once its school exists, sends the invitations; finds an account and disables
/// it; accepts a change request; filters the audit trail down to the disabling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_administrator_works_through_the_screens() {
    use account_migration::run::{Options, run_quietly};
    use account_migration::source::csv::{CsvSource, Encoding};
    use account_migration::source::mapping::Mapping;
    use idp::domain::migration::{self, SourceName};
    use idp::domain::schools::{self, DataChanges, NewSchool};

    let server = TestServer::start(Backend::Sqlite).await;
    let world = crate::staff::build(&server);
    let dir = crate::migration::temp_dir();
    let csv = dir.0.join("legacy.csv");
    std::fs::write(
        &csv,
        "legacy_id,identifier,email,kind,organising_body,schools\n\
         1,tom.bad-mail,not-an-address,pupil,Scholengroep A,Atheneum A1\n\
         2,ann.no-school,ann@example.be,pupil,Scholengroep A,Nieuwe School\n",
    )
    .unwrap();
    let (run, request) = {
        let mut conn = server.idp.conn().unwrap();
        let mut source = CsvSource::open(&csv, None, Encoding::Auto, &Mapping::default()).unwrap();
        let options = Options::new(SourceName::parse("oldplatform").unwrap());
        let run = run_quietly(&mut conn, &server.clock, &mut source, &options).unwrap();
        let now = server.idp.now();
        let body = schools::find_body(&mut conn, "Scholengroep A").unwrap();
        let new = NewSchool {
            organising_body: body.id,
            name: "Middenschool A3",
            data_changes: DataChanges::Request,
            contact: None,
        };
        let a3 = schools::create_school(&mut conn, new, now).unwrap().id;
        let pupil = world.targets["pupil.a2"].id;
        schools::join(&mut conn, pupil, a3, now).unwrap();
        let request = schools::request_change(&mut conn, pupil, a3, "Nieuw adres.", now).unwrap();
        (run, request)
    };
    let problems = migration::problems(&mut server.idp.conn().unwrap(), &run.id).unwrap();
    let line = |identifier: &str| {
        problems
            .iter()
            .find(|r| r.identifier.as_deref() == Some(identifier))
            .unwrap()
            .line
    };
    let (tom, ann) = (line("tom.bad-mail"), line("ann.no-school"));

    let (mut browser, events, _profile) = chromium().await;
    let page = browser
        .new_page(server.url("/admin/migration"))
        .await
        .unwrap();
    wait_for_url(&page, "/login?next=").await;
    type_into(&page, "#identifier", "body.a").await;
    type_into(&page, "#password", "Zebre-Orange-91").await;
    press_enter_on(&page, "#password").await;
    wait_for(&page, &format!("/admin/migration/{}", run.id)).await;
    assert_accessible(&page, "the migration runs").await;
    assert!(
        wait_for_url(&page, "/admin/migration")
            .await
            .ends_with("/admin/migration")
    );

    // A reported row's address corrected and migrated.
    click_on(&page, &format!("a[href='/admin/migration/{}']", run.id)).await;
    click_on(
        &page,
        &format!("a[href='/admin/migration/{}/rows/{tom}']", run.id),
    )
    .await;
    wait_for(&page, "id=\"attach_to\"").await;
    assert_accessible(&page, "a reported row").await;
    type_into(&page, "#email", "tom@example.be").await;
    click_on(&page, "#fix").await;
    wait_for(&page, "id=\"admin-done\"").await;

    // A row ticked and migrated again once its school exists.
    {
        let mut conn = server.idp.conn().unwrap();
        let body = schools::find_body(&mut conn, "Scholengroep A").unwrap();
        let new = NewSchool {
            organising_body: body.id,
            name: "Nieuwe School",
            data_changes: DataChanges::Contact,
            contact: None,
        };
        schools::create_school(&mut conn, new, server.idp.now()).unwrap();
    }
    click_on(&page, &format!("#select-{ann}")).await;
    click_on(&page, "#retry").await;
    let done = wait_for(&page, "id=\"admin-retried\"").await;
    assert_accessible(&page, "a migration run").await;
    assert!(!done.contains("ann.no-school"), "left the report");

    // Their invitations.
    click_on(&page, "#invite").await;
    wait_for(&page, "id=\"admin-invited\"").await;
    let mut conn = server.idp.conn().unwrap();
    for identifier in ["tom.bad-mail", "ann.no-school"] {
        assert!(
            users::find_by_username(&mut conn, identifier)
                .unwrap()
                .is_some()
        );
    }

    // An account found and disabled.
    page.goto(server.url("/admin")).await.unwrap();
    type_into(&page, "#q", "pupil.a2").await;
    press_enter_on(&page, "#q").await;
    wait_for_url(&page, "q=pupil.a2").await;
    assert_accessible(&page, "the account search").await;
    let pupil = world.targets["pupil.a2"].id;
    click_on(&page, &format!("a[href='/admin/accounts/{pupil}']")).await;
    wait_for(&page, "id=\"disable\"").await;
    assert_accessible(&page, "an account").await;
    click_on(&page, "#disable").await;
    wait_for(&page, "id=\"enable\"").await;
    assert!(
        users::find_by_id(&mut conn, pupil)
            .unwrap()
            .unwrap()
            .disabled,
        "disabled"
    );

    // A change request accepted.
    page.goto(server.url("/admin/requests")).await.unwrap();
    wait_for(&page, "Nieuw adres.").await;
    click_on(
        &page,
        &format!("#request-{} button[value='accept']", request.id),
    )
    .await;
    wait_for(&page, "id=\"requests-none\"").await;
    assert_accessible(&page, "the change requests").await;

    // The audit trail filtered to the disabling.
    page.goto(server.url("/admin/audit")).await.unwrap();
    wait_for(&page, "id=\"kind\"").await;
    page.find_element("#kind")
        .await
        .unwrap()
        .call_js_fn("function() { this.value = 'account_disabled'; }", false)
        .await
        .unwrap();
    click_on(&page, "form.search button[type='submit']").await;
    wait_for_url(&page, "kind=account_disabled").await;
    let trail = wait_for(&page, "id=\"audit\"").await;
    assert_accessible(&page, "the audit trail").await;
    assert!(
        trail.contains("pupil.a2") && trail.contains("by body.a"),
        "{trail}"
    );
    assert!(!trail.contains("tom.bad-mail"), "only the kind asked for");
    browser.close().await.unwrap();
    let _ = browser.wait().await;
    events.abort();
}
