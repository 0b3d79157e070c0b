//! Pages in a real headless Chromium (driven over the DevTools protocol): what only a
//! browser shows, such as the script that ticks the password rules, the CSP letting it run,
//! and the session cookie and refresh after a reset.

use std::time::Duration;

use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::page::Page;
use futures_util::StreamExt;
use idp::domain::resets::{self, Purpose};
use idp::domain::users;

use crate::support::*;

/// The machine's Chromium, headless, with a profile of its own.
async fn chromium() -> (Browser, tokio::task::JoinHandle<()>, TempDir) {
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
async fn wait_for(page: &Page, needle: &str) -> String {
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
