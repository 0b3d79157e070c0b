//! Account recovery end to end: the browser asks, the mail arrives at a real SMTP server
//! on loopback, the link or code sets the password, and the OIDC flow goes on.

use idp::config::Settings;
use idp::domain::audit;
use idp::domain::links::{self, RelationLabel};
use idp::domain::users;

use crate::both_backends;
use crate::support::*;

const NEW_PASSWORD: &str = "Velo-Riviere-Lune-42";

/// The application's authorization request in these tests.
fn app_request(server: &TestServer) -> String {
    authorize_url(server, "openid offline_access", "&state=st8&nonce=n1")
}

/// A page's HTML with the entities handlebars writes turned back into characters.
async fn body(resp: reqwest::Response) -> String {
    resp.text()
        .await
        .unwrap()
        .replace("&#x27;", "'")
        .replace("&#x3D;", "=")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

async fn get_text(browser: &reqwest::Client, url: &str) -> (u16, String) {
    let resp = browser.get(url).send().await.unwrap();
    (resp.status().as_u16(), body(resp).await)
}

async fn post_form(
    browser: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    browser.post(url).form(form).send().await.unwrap()
}

/// Opens "Forgot password?" for the pending login `request` and submits `fields`.
async fn ask_reset(
    browser: &reqwest::Client,
    server: &TestServer,
    request: &str,
    fields: &[(&str, &str)],
) -> String {
    let (status, page) =
        get_text(browser, &server.url(&format!("/forgot?request={request}"))).await;
    assert_eq!(status, 200, "{page}");
    let csrf = input_value(&page, "csrf");
    let mut form = vec![("request", request), ("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    let resp = post_form(browser, &server.url("/forgot"), &form).await;
    assert_eq!(resp.status(), 200);
    body(resp).await
}

/// Submits the new-password form shown in `page`.
async fn submit_password(
    browser: &reqwest::Client,
    server: &TestServer,
    page: &str,
    password: &str,
    confirmation: &str,
    email: Option<&str>,
) -> reqwest::Response {
    let fields = ["csrf", "token", "code_identifier", "code"].map(|n| (n, input_value(page, n)));
    let mut form: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
    form.push(("password", password));
    form.push(("confirmation", confirmation));
    if let Some(e) = email {
        form.push(("email", e));
    }
    post_form(browser, &server.url("/reset"), &form).await
}

/// The pending login of a fresh authorization request.
async fn pending_login(browser: &reqwest::Client, server: &TestServer) -> String {
    let resp = browser.get(app_request(server)).send().await.unwrap();
    query_param(&server.url(&location(&resp)), "request").unwrap()
}

async fn login_works(server: &TestServer, username: &str, password: &str) -> bool {
    let browser = browser();
    let request = pending_login(&browser, server).await;
    let (_, page) = get_text(&browser, &server.url(&format!("/login?request={request}"))).await;
    let resp = post_form(
        &browser,
        &server.url("/login"),
        &login_form(&page, username, password)
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect::<Vec<_>>(),
    )
    .await;
    resp.status() == 303 && location(&resp).starts_with(REDIRECT)
}

fn kinds(server: &TestServer, username: &str) -> Vec<String> {
    let mut conn = server.idp.conn().unwrap();
    let user = users::find_by_username(&mut conn, username)
        .unwrap()
        .unwrap();
    audit::kinds_for(&mut conn, user.id).unwrap()
}

/// By identifier: the mail, the link (GET twice uses nothing), refused and accepted
/// passwords, back to the application logged in, the old password and old refresh
/// token refused after, the "password changed" mail.
async fn reset_by_identifier_end_to_end(backend: Backend) {
    let (server, inbox) = TestServer::with_mail(backend, |_| {}).await;
    // A refresh token from before the reset.
    let before = login_through(
        &browser(),
        &server,
        &app_request(&server),
        USERNAME,
        PASSWORD,
    )
    .await;
    let code = query_param(&before, "code").unwrap();
    let (_, tokens) = token_call(
        &server.base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    let old_refresh = tokens["refresh_token"].as_str().unwrap().to_string();

    // The relying party: discovery, an authorization request with PKCE and a nonce.
    let (client, http) = relying_party(&server, "school-app", Some(SECRET)).await;
    let rp = rp_request(&client, &["profile"]);

    let browser = browser();
    let resp = browser.get(&rp.url).send().await.unwrap();
    let request = query_param(&server.url(&location(&resp)), "request").unwrap();
    let (_, login_page) =
        get_text(&browser, &server.url(&format!("/login?request={request}"))).await;
    assert!(
        login_page.contains(&format!("/forgot?request={request}")),
        "the login page links to the reset, keeping the login"
    );
    let sent = ask_reset(&browser, &server, &request, &[("identifier", USERNAME)]).await;
    assert!(
        sent.contains("Consultez votre messagerie") || sent.contains("Check your e-mail"),
        "{sent}"
    );

    let mail = inbox.wait_for(1).await.remove(0);
    assert_eq!(mail.to, "jean.dupont@hotmail.com");
    assert_eq!(
        mail.subject, "Choisissez un nouveau mot de passe",
        "in the account's language"
    );
    assert!(
        mail.text.contains("Votre identifiant : jean.dupont"),
        "{}",
        mail.text
    );
    assert!(
        mail.text
            .contains("votre mot de passe actuel reste valable")
    );
    assert!(mail.text.contains("Vous n'avez rien demandé"));
    assert!(mail.html.contains("<strong>jean.dupont</strong>"));
    let links = mail.links(&server, "/reset?token=");
    assert_eq!(links.len(), 1, "{}", mail.text);
    assert_eq!(mail.codes().len(), 1);

    // The old password works until a new one is set.
    assert!(login_works(&server, USERNAME, PASSWORD).await);

    // Opening the link (a person, or a mail scanner) uses nothing.
    for _ in 0..2 {
        let (status, page) = get_text(&browser, &links[0]).await;
        assert_eq!(status, 200);
        assert!(page.contains("name=\"password\""), "{page}");
        assert!(page.contains("jean.dupont"));
        assert!(
            page.contains("id=\"sent-to\">Le lien et le code ont été envoyés à j***@h***.com."),
            "where the mail went, masked: {page}"
        );
    }
    let (_, page) = get_text(&browser, &links[0]).await;

    // Every broken rule at once, and the mismatch; nothing used.
    let resp = submit_password(&browser, &server, &page, "jean", "jeam", None).await;
    let refused = body(resp).await;
    assert!(refused.contains("au moins 8 caractères"), "{refused}");
    assert!(
        refused.contains("ne peut pas contenir votre identifiant"),
        "{refused}"
    );
    assert!(refused.contains("ne sont pas identiques"), "{refused}");
    // Passwords that differ are not "a password that cannot be used yet".
    assert!(
        refused.contains("Votre nouveau mot de passe n'a pas été enregistré"),
        "{refused}"
    );
    assert!(!refused.contains("ne peut pas encore"), "{refused}");
    let resp = submit_password(&browser, &server, &page, "jean", "jean", None).await;
    let weak = body(resp).await;
    assert!(
        weak.contains("Ce mot de passe ne peut pas encore être utilisé"),
        "{weak}"
    );
    assert!(
        login_works(&server, USERNAME, PASSWORD).await,
        "a refused password changes nothing"
    );

    let resp = submit_password(
        &browser,
        &server,
        &refused,
        NEW_PASSWORD,
        NEW_PASSWORD,
        None,
    )
    .await;
    assert_eq!(resp.status(), 200);
    let done = body(resp).await;
    // Back to the application: the button, and the script's countdown (never a refresh).
    assert!(
        done.replace("&#x3D;", "=")
            .contains(&format!("href=\"/resume?request={request}\"")),
        "{done}"
    );
    assert!(done.contains("data-countdown=\"5\""), "{done}");
    assert!(!done.contains("http-equiv"), "{done}");

    // Back to the application, logged in.
    let resp = browser
        .get(server.url(&format!("/resume?request={request}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let back = location(&resp);
    assert!(back.starts_with(REDIRECT), "{back}");
    assert_eq!(
        query_param(&back, "state").as_deref(),
        Some(rp.state.secret().as_str())
    );
    let code = query_param(&back, "code").unwrap();
    let (_, claims) = rp_redeem(&client, &http, code, rp).await;
    assert_eq!(
        claims.preferred_username().map(|u| u.as_str()),
        Some(USERNAME)
    );

    // The link is spent; the old password and the old refresh token are not valid any more.
    let (_, spent) = get_text(&browser, &links[0]).await;
    assert!(spent.contains("a déjà servi"), "{spent}");
    assert!(!login_works(&server, USERNAME, PASSWORD).await);
    assert!(login_works(&server, USERNAME, NEW_PASSWORD).await);
    let (status, body) = token_call(
        &server.base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &old_refresh),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    let mails = inbox.wait_for(2).await;
    assert_eq!(mails[1].subject, "Votre mot de passe a été modifié");
    assert!(mails[1].text.contains("jean.dupont"));
    let kinds = kinds(&server, USERNAME);
    for kind in [
        "reset_requested",
        "mail_queued",
        "reset_used",
        "password_changed",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} not in {kinds:?}");
    }
}
both_backends!(reset_by_identifier_end_to_end);

/// One address, two accounts (a family): one mail with each account's own link. The
/// co-account (a guardian) gets the child's link in its own language.
async fn family_address_and_co_accounts(backend: Backend) {
    let (server, inbox) = TestServer::with_mail(backend, |_| {}).await;
    let lea = add_user(
        &server,
        "lea.dupont",
        Some("famille.dupont@example.org"),
        "nl",
    );
    add_user(
        &server,
        "tom.dupont",
        Some("Famille.Dupont@example.org"),
        "nl",
    );
    let marie = add_user(&server, "marie.martin", Some("marie@example.org"), "en");
    links::link(
        &mut server.idp.conn().unwrap(),
        lea.id,
        marie.id,
        &RelationLabel::parse("mother").unwrap(),
        server.idp.now(),
    )
    .unwrap();

    let browser = browser();
    let request = pending_login(&browser, &server).await;
    ask_reset(
        &browser,
        &server,
        &request,
        &[("identifier", "famille.dupont@example.org")],
    )
    .await;
    let mails = inbox.wait_for(2).await;
    let family = mails
        .iter()
        .find(|m| m.to.to_lowercase() == "famille.dupont@example.org")
        .expect("family mail");
    let mother = mails
        .iter()
        .find(|m| m.to == "marie@example.org")
        .expect("co-account mail");
    assert_eq!(family.subject, "Kies een nieuw wachtwoord");
    assert!(family.text.contains("meerdere accounts"), "{}", family.text);
    let family_links = family.links(&server, "/reset?token=");
    assert_eq!(family_links.len(), 2, "one link per account");
    assert_ne!(family_links[0], family_links[1]);
    assert!(family.text.contains("lea.dupont") && family.text.contains("tom.dupont"));
    assert_eq!(mother.subject, "Choose a new password");
    assert!(mother.text.contains("lea.dupont") && !mother.text.contains("tom.dupont"));
    assert_eq!(mother.links(&server, "/reset?token=").len(), 1);

    // Each link opens its own account.
    let (_, page) = get_text(&browser, &family_links[0]).await;
    let (_, other) = get_text(&browser, &family_links[1]).await;
    let owners = [page.contains("lea.dupont"), other.contains("lea.dupont")];
    assert_eq!(owners.iter().filter(|o| **o).count(), 1);

    // By identifier: only that account, even at a shared address.
    ask_reset(&browser, &server, &request, &[("identifier", "tom.dupont")]).await;
    let mails = inbox.wait_for(3).await;
    let tom = &mails[2];
    assert_eq!(tom.to.to_lowercase(), "famille.dupont@example.org");
    assert_eq!(tom.links(&server, "/reset?token=").len(), 1);
    assert!(!tom.text.contains("meerdere accounts"));
    assert!(!tom.text.contains("lea.dupont"));
    // The earlier link of tom.dupont was replaced by the new one.
    let tom_old = if owners[0] {
        &family_links[1]
    } else {
        &family_links[0]
    };
    let (_, revoked) = get_text(&browser, tom_old).await;
    assert!(
        revoked.contains("reset-unusable")
            || revoked.contains("nieuwere")
            || revoked.contains("plus récent")
            || revoked.contains("newer"),
        "{revoked}"
    );

    // "Forgot your identifier?": the mother learns her own and her child's identifiers.
    let (_, form) = get_text(&browser, &server.url("/forgot-identifier")).await;
    let csrf = input_value(&form, "csrf");
    let resp = post_form(
        &browser,
        &server.url("/forgot-identifier"),
        &[
            ("request", ""),
            ("csrf", &csrf),
            ("email", "MARIE@example.org"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let mails = inbox.wait_for(4).await;
    let reminder = &mails[3];
    assert_eq!(
        (reminder.to.as_str(), reminder.subject.as_str()),
        ("marie@example.org", "Your identifier")
    );
    assert!(reminder.text.contains("marie.martin") && reminder.text.contains("lea.dupont"));
    assert!(!reminder.text.contains("tom.dupont"));
}
both_backends!(family_address_and_co_accounts);

/// The code page, and codes and links that are wrong, used, replaced or expired.
async fn codes_and_unusable_links(backend: Backend) {
    let (server, inbox) = TestServer::with_mail(backend, |_| {}).await;
    let browser = browser();
    ask_reset(&browser, &server, "", &[("identifier", USERNAME)]).await;
    let first = inbox.wait_for(1).await.remove(0);
    ask_reset(&browser, &server, "", &[("identifier", "JEAN.DUPONT ")]).await;
    let second = inbox.wait_for(2).await.remove(1);

    let code_page = |code: String| {
        let browser = browser.clone();
        let url = server.url("/reset/code");
        async move {
            let (_, page) = get_text(&browser, &url).await;
            let csrf = input_value(&page, "csrf");
            let resp = post_form(
                &browser,
                &url,
                &[
                    ("request", ""),
                    ("csrf", &csrf),
                    ("identifier", USERNAME),
                    ("code", &code),
                ],
            )
            .await;
            body(resp).await
        }
    };
    // The replaced code and link do not work; the page names no account.
    let refused = code_page(first.codes()[0].clone()).await;
    assert!(refused.contains("id=\"code-error\""), "{refused}");
    let (_, revoked) = get_text(&browser, &first.links(&server, "/reset?token=")[0]).await;
    assert!(revoked.contains("Un lien plus récent"), "{revoked}");
    assert!(revoked.contains("href=\"/forgot\""), "offers a new link");

    // The new code, typed loosely, opens the form; setting the password uses it.
    let loose = second.codes()[0].to_lowercase().replace('-', " ");
    let form = code_page(loose.clone()).await;
    assert!(form.contains("name=\"password\""), "{form}");
    assert!(
        form.contains("id=\"sent-to\""),
        "the code proved, the address shows"
    );
    let resp = submit_password(&browser, &server, &form, NEW_PASSWORD, NEW_PASSWORD, None).await;
    assert!(body(resp).await.contains("id=\"continue\""));
    let reused = code_page(loose).await;
    assert!(reused.contains("id=\"code-error\""));
    let (_, used) = get_text(&browser, &second.links(&server, "/reset?token=")[0]).await;
    assert!(used.contains("a déjà servi"), "{used}");
    assert!(kinds(&server, USERNAME).contains(&"reset_code_failed".to_string()));

    // 48 hours, then expired.
    ask_reset(&browser, &server, "", &[("identifier", USERNAME)]).await;
    let third = inbox.wait_for(4).await.remove(3);
    server.clock.advance(chrono::Duration::hours(49));
    let (_, expired) = get_text(&browser, &third.links(&server, "/reset?token=")[0]).await;
    assert!(expired.contains("Ce lien a expiré"), "{expired}");
    let (_, unknown) = get_text(&browser, &server.url("/reset?token=forged")).await;
    assert!(unknown.contains("n'est pas valable"), "{unknown}");

    // Asked from an application's login, a link that no longer works offers a new one for
    // that same login, so the person still gets back to the application.
    let request = pending_login(&browser, &server).await;
    ask_reset(&browser, &server, &request, &[("identifier", USERNAME)]).await;
    let fourth = inbox.wait_for(5).await.remove(4);
    ask_reset(&browser, &server, &request, &[("identifier", USERNAME)]).await;
    inbox.wait_for(6).await;
    let replaced_link = &fourth.links(&server, "/reset?token=")[0];
    let (_, replaced) = get_text(&browser, replaced_link).await;
    assert!(replaced.contains("Un lien plus récent"), "{replaced}");
    assert!(
        replaced.contains(&format!("href=\"/forgot?request={request}\"")),
        "{replaced}"
    );
    assert!(replaced.contains(&format!("href=\"/login?request={request}\"")));
    // Once that login has expired, a new link starts afresh.
    server.clock.advance(chrono::Duration::hours(2));
    let (_, late) = get_text(&browser, replaced_link).await;
    assert!(late.contains("href=\"/forgot\""), "{late}");

    // Guessing codes is cut short.
    for _ in 0..5 {
        code_page("AAAA-AAAA".into()).await;
    }
    let throttled = code_page(third.codes()[0].clone()).await;
    assert!(throttled.contains("Trop de codes erronés"), "{throttled}");
}
both_backends!(codes_and_unusable_links);

/// An unknown account gets the same answer, after the same minimum time, and no mail; a
/// flood of requests sends at most three mails an hour.
async fn no_disclosure_and_no_flood(backend: Backend) {
    let (server, inbox) = TestServer::with_mail(backend, |s| {
        s.recovery.response_floor_millis = 300;
    })
    .await;
    let browser = browser();
    let started = std::time::Instant::now();
    let unknown = ask_reset(&browser, &server, "", &[("identifier", "nobody.here")]).await;
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    let started = std::time::Instant::now();
    let known = ask_reset(&browser, &server, "", &[("identifier", USERNAME)]).await;
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    assert_eq!(
        unknown, known,
        "the same page whether or not an account matched"
    );
    let by_mail = ask_reset(
        &browser,
        &server,
        "",
        &[("identifier", "nobody@example.org")],
    )
    .await;
    assert_eq!(by_mail, known);

    for _ in 0..6 {
        ask_reset(&browser, &server, "", &[("identifier", USERNAME)]).await;
    }
    inbox.wait_for(3).await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(
        inbox.mails().len(),
        3,
        "three mails an hour per account, whatever the requests"
    );
    assert!(kinds(&server, USERNAME).contains(&"reset_request_throttled".to_string()));
    let mut conn = server.idp.conn().unwrap();
    let anonymous = audit::kinds_without_account(&mut conn).unwrap();
    assert!(
        anonymous
            .iter()
            .any(|(k, d)| k == "reset_request_unmatched" && d == "nobody.here")
    );
    assert!(anonymous.iter().any(|(k, _)| k == "mail_sent"));

    // Past 20 requests an hour from one address, the page says to wait.
    let mut last = String::new();
    for _ in 0..12 {
        last = ask_reset(&browser, &server, "", &[("identifier", "someone.else")]).await;
    }
    assert!(last.contains("Trop de demandes"), "{last}");
}
both_backends!(no_disclosure_and_no_flood);

/// SMTP down when the reset is asked for: the mail waits in the outbox and arrives once
/// the server is up; the link in it works.
async fn reset_mail_survives_smtp_outage(backend: Backend) {
    let port = free_port();
    let server = TestServer::start_with(backend, |s| {
        s.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
        s.mail_poll_seconds = 1;
        s.recovery.response_floor_millis = 0;
    })
    .await;
    let browser = browser();
    ask_reset(&browser, &server, "", &[("identifier", USERNAME)]).await;
    // The worker tries, fails and backs off.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let inbox = smtp_server(std::net::TcpListener::bind(("127.0.0.1", port)).unwrap());
    server.clock.advance(chrono::Duration::minutes(11));
    let mail = inbox.wait_for(1).await.remove(0);
    let (_, page) = get_text(&browser, &mail.links(&server, "/reset?token=")[0]).await;
    assert!(page.contains("name=\"password\""), "{page}");
}
both_backends!(reset_mail_survives_smtp_outage);

fn creos(s: &mut Settings) {
    use idp::domain::password_policy::CharClass;
    s.password_policy.required_classes = vec![
        CharClass::Lower,
        CharClass::Upper,
        CharClass::Digit,
        CharClass::Special,
    ];
    s.password_policy.min_strength = 0;
    s.recovery.confirm_email_on_reset = true;
}

/// Policies from the seeds: CREOS (every class, the e-mail typed again) and Smartschool
/// (3 of 4 classes, identifier and e-mail both asked).
async fn policy_variants(backend: Backend) {
    let (server, inbox) = TestServer::with_mail(backend, creos).await;
    let browser = browser();
    ask_reset(
        &browser,
        &server,
        "",
        &[("identifier", "jean.dupont@hotmail.com")],
    )
    .await;
    let mail = inbox.wait_for(1).await.remove(0);
    let (_, page) = get_text(&browser, &mail.links(&server, "/reset?token=")[0]).await;
    assert!(
        page.contains("name=\"email\""),
        "CREOS asks for the e-mail again"
    );
    assert!(
        page.contains("data-check=\"class-special\""),
        "the rules are listed for the script"
    );
    let resp = submit_password(
        &browser,
        &server,
        &page,
        "montagne",
        "montagne",
        Some("x@y.z"),
    )
    .await;
    let refused = body(resp).await;
    for text in [
        "majuscule",
        "chiffre",
        "caractère spécial",
        "n'est pas l'adresse e-mail",
    ] {
        assert!(refused.contains(text), "{text} missing in {refused}");
    }
    let resp = submit_password(
        &browser,
        &server,
        &refused,
        "Montagne7!",
        "Montagne7!",
        Some("Jean.Dupont@hotmail.com"),
    )
    .await;
    assert!(body(resp).await.contains("id=\"continue\""));
    assert!(login_works(&server, USERNAME, "Montagne7!").await);
    drop(server);
    drop(browser);

    let (server, inbox) = TestServer::with_mail(backend, |s| {
        use idp::domain::password_policy::{CharClass, ClassesOf};
        s.password_policy.classes_of = Some(ClassesOf {
            count: 3,
            of: vec![
                CharClass::Lower,
                CharClass::Upper,
                CharClass::Digit,
                CharClass::Special,
            ],
        });
        s.password_policy.min_strength = 0;
        s.recovery.identify_by = idp::domain::recovery::IdentifyBy::Both;
    })
    .await;
    let browser = crate::support::browser();
    let missing = ask_reset(
        &browser,
        &server,
        "",
        &[("identifier", USERNAME), ("email", "")],
    )
    .await;
    assert!(
        missing.contains("Veuillez saisir une adresse e-mail"),
        "{missing}"
    );
    ask_reset(
        &browser,
        &server,
        "",
        &[("identifier", USERNAME), ("email", "other@example.org")],
    )
    .await;
    ask_reset(
        &browser,
        &server,
        "",
        &[
            ("identifier", USERNAME),
            ("email", "jean.dupont@hotmail.com"),
        ],
    )
    .await;
    let mails = inbox.wait_for(1).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(
        inbox.mails().len(),
        1,
        "identifier and e-mail of different accounts send nothing: {mails:?}"
    );
    let (_, page) = get_text(&browser, &mails[0].links(&server, "/reset?token=")[0]).await;
    let resp = submit_password(
        &browser,
        &server,
        &page,
        "montagnerouge",
        "montagnerouge",
        None,
    )
    .await;
    let refused = body(resp).await;
    assert!(refused.contains("au moins 3 de ces 4"), "{refused}");
    let resp = submit_password(
        &browser,
        &server,
        &refused,
        "Montagnerouge7",
        "Montagnerouge7",
        None,
    )
    .await;
    assert!(body(resp).await.contains("id=\"continue\""));
}
both_backends!(policy_variants);

/// A temporary password logs in only to choose a new one, then the login goes on; it
/// expires; mailed, it arrives.
async fn temporary_password(backend: Backend) {
    use idp::domain::recovery::{self, Delivery};
    let (server, inbox) = TestServer::with_mail(backend, |_| {}).await;
    let user = users::find_by_username(&mut server.idp.conn().unwrap(), USERNAME)
        .unwrap()
        .unwrap();
    let issued = recovery::issue_temporary_password(
        &server.idp,
        &mut server.idp.conn().unwrap(),
        &user,
        Delivery::Show,
        "a test",
    )
    .unwrap();
    let temporary = issued.password.unwrap();
    assert!(
        !login_works(&server, USERNAME, PASSWORD).await,
        "the old password is replaced"
    );
    // Shown to staff, not mailed: the account is still told its password changed.
    let notice = inbox.wait_for(1).await;
    assert_eq!(notice[0].subject, "Votre mot de passe a été modifié");
    assert!(
        !notice[0].text.contains(&temporary),
        "never the password itself"
    );

    let browser = browser();
    let request = pending_login(&browser, &server).await;
    let (_, page) = get_text(&browser, &server.url(&format!("/login?request={request}"))).await;
    let form = login_form(&page, USERNAME, &temporary);
    let resp = post_form(
        &browser,
        &server.url("/login"),
        &form
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(
        location(&resp),
        "/wizard",
        "no code before a new password: the required actions come first"
    );
    let (_, change) = get_text(&browser, &server.url("/wizard")).await;
    assert!(change.contains("Choisissez votre mot de passe"), "{change}");
    let wizard_next = |page: String, password: &'static str| {
        let browser = browser.clone();
        let url = server.url("/wizard");
        async move {
            let form = [
                ("csrf", input_value(&page, "csrf")),
                ("action", "next".to_string()),
                ("password", password.to_string()),
                ("confirmation", password.to_string()),
            ];
            browser.post(url).form(&form).send().await.unwrap()
        }
    };
    let temporary: &'static str = Box::leak(temporary.into_boxed_str());
    let refused = body(wizard_next(change, temporary).await).await;
    assert!(
        refused.contains("autre mot de passe que le mot de passe temporaire"),
        "{refused}"
    );
    let resp = wizard_next(refused, NEW_PASSWORD).await;
    assert!(
        location(&resp).starts_with(REDIRECT),
        "on to the application"
    );
    assert!(login_works(&server, USERNAME, NEW_PASSWORD).await);

    // Mailed, and it expires.
    let issued = recovery::issue_temporary_password(
        &server.idp,
        &mut server.idp.conn().unwrap(),
        &user,
        Delivery::Mail,
        "a test",
    )
    .unwrap();
    assert_eq!(
        issued.mailed_to,
        vec!["jean.dupont@hotmail.com".to_string()]
    );
    // The notice of the shown one, the change in the wizard, and this one.
    let mail = inbox
        .wait_for(3)
        .await
        .into_iter()
        .find(|m| m.subject == "Votre mot de passe temporaire")
        .expect("temporary password mail");
    let password = mail
        .text
        .lines()
        .find_map(|l| l.strip_prefix("Mot de passe temporaire : "))
        .unwrap()
        .trim()
        .to_string();
    server.clock.advance(chrono::Duration::days(8));
    let request = pending_login(&browser, &server).await;
    let (_, page) = get_text(&browser, &server.url(&format!("/login?request={request}"))).await;
    let form = login_form(&page, USERNAME, &password);
    let resp = post_form(
        &browser,
        &server.url("/login"),
        &form
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect::<Vec<_>>(),
    )
    .await;
    let expired = body(resp).await;
    assert!(
        expired.contains("mot de passe temporaire a expiré"),
        "{expired}"
    );
    let kinds = kinds(&server, USERNAME);
    for kind in [
        "temporary_password_issued",
        "password_change_required",
        "password_changed",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} not in {kinds:?}");
    }
}
both_backends!(temporary_password);
