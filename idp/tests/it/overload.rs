//! Logins arriving faster than the cores can hash passwords (a whole school at 8:25).

use futures_util::future::join_all;

use crate::both_backends;
use crate::support::*;

/// A browser with its own pending login, at the login form.
async fn at_the_login_form(server: &TestServer) -> (reqwest::Client, String) {
    let b = browser();
    let url = authorize_url(server, "openid", "&state=st");
    let page = login_form_page(&b, server, &url).await;
    (b, page)
}

/// Logins that cannot get a password check within `login_queue_wait_millis` are answered
/// at once with the login form saying to try again in a few seconds (503, `Retry-After`,
/// the identifier kept, the pending login unused), the others log in, requests that need
/// no hash answer meanwhile, and a retry of a turned-away login succeeds.
async fn overloaded_logins_are_turned_away_cleanly(backend: Backend) {
    let server = TestServer::start_with(backend, |s| {
        s.login_queue_wait_millis = 1;
        // Slower hashes than the tests' usual, so that the checks overlap.
        s.password_hashing.iterations = 6;
    })
    .await;
    let mut forms = Vec::new();
    for _ in 0..24 {
        forms.push(at_the_login_form(&server).await);
    }
    let login_url = server.url("/login");
    let logins = forms.iter().map(|(b, page)| {
        let form = login_form(page, USERNAME, PASSWORD);
        let url = login_url.clone();
        async move { b.post(url).form(&form).send().await.unwrap() }
    });
    let discovery_url = server.url("/.well-known/openid-configuration");
    let base = server.base.clone();
    let others = (0..8).map(|_| {
        let (discovery_url, base) = (discovery_url.clone(), base.clone());
        async move {
            let discovery = reqwest::get(discovery_url).await.unwrap().status();
            let (grant, _) = token_call(&base, &[("grant_type", "client_credentials")]).await;
            (discovery.as_u16(), grant)
        }
    });
    let (answers, others) = futures_util::join!(join_all(logins), join_all(others));
    assert!(
        others.iter().all(|&(d, g)| d == 200 && g == 200),
        "no hash needed, no wait: {others:?}"
    );
    let (mut logged_in, mut turned_away) = (0, Vec::new());
    for (i, answer) in answers.into_iter().enumerate() {
        match answer.status().as_u16() {
            303 => logged_in += 1,
            503 => turned_away.push((i, answer)),
            other => panic!("a login answered {other}"),
        }
    }
    assert!(logged_in >= 1, "some get through");
    assert!(
        !turned_away.is_empty(),
        "the others are turned away at once"
    );

    let (i, busy) = turned_away.remove(0);
    assert_eq!(busy.headers()["retry-after"], "5");
    let page = busy.text().await.unwrap();
    assert!(
        page.contains("Beaucoup de personnes se connectent en ce moment"),
        "{page}"
    );
    assert!(
        page.contains("value=\"jean.dupont\""),
        "the identifier is kept"
    );
    // The pending login was not used: the same browser tries again and gets in.
    let (b, _) = &forms[i];
    let retry = b
        .post(server.url("/login"))
        .form(&login_form(&page, USERNAME, PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status(), 303);
    assert!(location(&retry).starts_with(REDIRECT));
}
both_backends!(overloaded_logins_are_turned_away_cleanly);
