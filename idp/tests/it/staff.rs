//! The organising bodies' screens (`/admin`): each role sees and does exactly what its
//! scope allows, on both backends; a crafted id is a 404 and is audited; password help
//! (the temporary password's letter, the reset mail) works for those who may give it.

use std::collections::{BTreeMap, BTreeSet};

use idp::domain::admin::{Role, roles};
use idp::domain::audit;
use idp::domain::links::{self, RelationLabel};
use idp::domain::schools::{self, DataChanges, NewSchool};
use idp::domain::types::{AccountKind, SchoolId};
use idp::domain::users::{self, User};

use crate::both_backends;
use crate::support::*;

/// The people of two organising bodies, and the staff who look after them.
pub(crate) struct World {
    /// Accounts to look at, by identifier.
    pub(crate) targets: BTreeMap<&'static str, User>,
    school_b1: SchoolId,
}

const TARGETS: [&str; 5] = [
    "pupil.a1",
    "pupil.a2",
    "staff.a1",
    "guardian.a1",
    "pupil.b1",
];
const VIEWERS: [&str; 5] = ["platform", "body.a", "school.a1", "teacher.a1", "nobody"];

/// What each viewer may do with each target: M(anage), H(elp) or nothing (in the order
/// of `TARGETS`).
fn expected(viewer: &str) -> [&'static str; 5] {
    match viewer {
        "platform" => ["M", "M", "M", "M", "M"],
        "body.a" => ["M", "M", "M", "M", ""],
        "school.a1" => ["M", "", "M", "M", ""],
        "teacher.a1" => ["H", "", "", "", ""],
        _ => ["", "", "", "", ""],
    }
}

pub(crate) fn build(server: &TestServer) -> World {
    let mut conn = server.idp.conn().unwrap();
    let now = server.idp.now();
    let body_a = schools::create_body(&mut conn, "Scholengroep A", now).unwrap();
    let body_b = schools::create_body(&mut conn, "Scholengroep B", now).unwrap();
    let school = |conn: &mut _, body, name| {
        let new = NewSchool {
            organising_body: body,
            name,
            data_changes: DataChanges::Contact,
            contact: None,
        };
        schools::create_school(conn, new, now).unwrap().id
    };
    let a1 = school(&mut conn, body_a.id, "Atheneum A1");
    let a2 = school(&mut conn, body_a.id, "Basisschool A2");
    let b1 = school(&mut conn, body_b.id, "Lycée B1");
    let mut targets = BTreeMap::new();
    for (name, kind, school) in [
        ("pupil.a1", AccountKind::Pupil, Some(a1)),
        ("pupil.a2", AccountKind::Pupil, Some(a2)),
        ("staff.a1", AccountKind::Staff, Some(a1)),
        ("guardian.a1", AccountKind::Guardian, None),
        ("pupil.b1", AccountKind::Pupil, Some(b1)),
    ] {
        let email = format!("{name}@example.be");
        let user = add_user(server, name, Some(&email), "nl");
        users::set_kind(&mut conn, user.id, kind, now).unwrap();
        if let Some(school) = school {
            schools::join(&mut conn, user.id, school, now).unwrap();
        }
        targets.insert(
            name,
            users::find_by_id(&mut conn, user.id).unwrap().unwrap(),
        );
    }
    let mother = RelationLabel::parse("mother").unwrap();
    links::link(
        &mut conn,
        targets["pupil.a1"].id,
        targets["guardian.a1"].id,
        &mother,
        now,
    )
    .unwrap();
    for (name, role) in [
        ("platform", Some(Role::PlatformAdmin)),
        ("body.a", Some(Role::BodyAdmin(body_a.id))),
        ("school.a1", Some(Role::SchoolAdmin(a1))),
        ("teacher.a1", Some(Role::Teacher(a1))),
        ("nobody", None),
    ] {
        let user = add_user(server, name, None, "en");
        if let Some(role) = role {
            assert!(roles::grant(&mut conn, user.id, role, None, now).unwrap());
        }
    }
    World {
        targets,
        school_b1: b1,
    }
}

/// Logs in on the STS's own login page (no application): the browser has the SSO session,
/// and the form token of its CSRF cookie (good for every form of this browser).
pub(crate) async fn sign_in(server: &TestServer, identifier: &str) -> (reqwest::Client, String) {
    let browser = browser();
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
        .form(&login_form(&page, identifier, "Zebre-Orange-91"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&resp), "/", "{identifier} logged in");
    let csrf = input_value(&page, "csrf");
    (browser, csrf)
}

pub(crate) async fn get(
    browser: &reqwest::Client,
    server: &TestServer,
    path: &str,
) -> (u16, String) {
    let resp = browser.get(server.url(path)).send().await.unwrap();
    let status = resp.status().as_u16();
    assert_eq!(
        resp.headers().get("cache-control").unwrap(),
        "no-store",
        "{path}"
    );
    (status, resp.text().await.unwrap())
}

async fn post(
    browser: &reqwest::Client,
    server: &TestServer,
    path: &str,
    csrf: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![("csrf", csrf)];
    form.extend_from_slice(extra);
    browser
        .post(server.url(path))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// The identifiers a search lists (every page).
async fn listed(browser: &reqwest::Client, server: &TestServer, query: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut path = format!("/admin?{query}");
    loop {
        let (status, page) = get(browser, server, &path).await;
        assert_eq!(status, 200, "{path}");
        for chunk in page.split("<a href=\"/admin/accounts/").skip(1) {
            let identifier = &chunk[chunk.find('>').unwrap() + 1..chunk.find("</a>").unwrap()];
            found.insert(identifier.to_owned());
        }
        match page
            .split("id=\"admin-next\"")
            .next()
            .and_then(|p| p.rsplit("href=\"").next())
        {
            Some(next) if page.contains("id=\"admin-next\"") => {
                path = next[..next.find('"').unwrap()].replace("&amp;", "&");
            }
            _ => return found,
        }
    }
}

/// Every role against every account and action: the screens show and do exactly what the
/// role covers; the rest is a 404 and an audit event of the one who tried.
async fn each_role_sees_exactly_its_scope(backend: Backend) {
    let server = TestServer::start(backend).await;
    let world = build(&server);
    for viewer in VIEWERS {
        let (browser, csrf) = sign_in(&server, viewer).await;
        let (status, list) = get(&browser, &server, "/admin").await;
        if viewer == "nobody" {
            assert_eq!(status, 403, "{viewer}: no role, no screens");
        } else {
            assert_eq!(status, 200, "{viewer}: {list}");
            let in_scope: BTreeSet<String> = TARGETS
                .iter()
                .zip(expected(viewer))
                .filter(|(_, access)| !access.is_empty())
                .map(|(t, _)| t.to_string())
                .collect();
            let seen: BTreeSet<String> = listed(&browser, &server, "q=")
                .await
                .into_iter()
                .filter(|i| TARGETS.contains(&i.as_str()))
                .collect();
            assert_eq!(seen, in_scope, "{viewer}'s list");
        }
        for (target, access) in TARGETS.iter().zip(expected(viewer)) {
            let id = world.targets[target].id.to_string();
            let path = format!("/admin/accounts/{id}");
            let (status, page) = get(&browser, &server, &path).await;
            let want = match (viewer, access) {
                ("nobody", _) => 403,
                (_, "") => 404,
                _ => 200,
            };
            assert_eq!(status, want, "{viewer} looks at {target}");
            assert_eq!(
                page.contains("id=\"disable\""),
                access == "M",
                "{viewer} may disable {target}"
            );
            let disable = post(
                &browser,
                &server,
                &format!("{path}/disabled"),
                &csrf,
                &[("disabled", "true")],
            )
            .await;
            let want = match (viewer, access) {
                ("nobody", _) => 403,
                (_, "M") => 303,
                _ => 404,
            };
            assert_eq!(disable.status(), want, "{viewer} disables {target}");
            let now_disabled = {
                let mut conn = server.idp.conn().unwrap();
                users::find_by_id(&mut conn, world.targets[target].id)
                    .unwrap()
                    .unwrap()
                    .disabled
            };
            assert_eq!(now_disabled, access == "M", "{viewer} disabled {target}");
            if access == "M" {
                let enable = post(
                    &browser,
                    &server,
                    &format!("{path}/disabled"),
                    &csrf,
                    &[("disabled", "false")],
                )
                .await;
                assert_eq!(enable.status(), 303);
            }
            let help = post(
                &browser,
                &server,
                &format!("{path}/temporary-password"),
                &csrf,
                &[],
            )
            .await;
            let want = match (viewer, access) {
                ("nobody", _) => 403,
                (_, "") => 404,
                _ => 200,
            };
            assert_eq!(help.status(), want, "{viewer} helps {target}");
        }
        if viewer != "nobody" {
            let staff = {
                let mut conn = server.idp.conn().unwrap();
                users::find_by_username(&mut conn, viewer).unwrap().unwrap()
            };
            let tried = expected(viewer).iter().any(|a| a.is_empty());
            let kinds = audit::kinds_for(&mut server.idp.conn().unwrap(), staff.id).unwrap();
            assert_eq!(
                kinds.contains(&"admin_out_of_scope".to_owned()),
                tried,
                "{viewer}'s attempts outside their scope are audited"
            );
        }
    }
    // Crafted: another body's school in the search, a made-up id, no session, no token.
    let (body_a, _) = sign_in(&server, "body.a").await;
    let (status, _) = get(
        &body_a,
        &server,
        &format!("/admin?school={}", world.school_b1),
    )
    .await;
    assert_eq!(status, 404, "another body's school");
    let (status, _) = get(&body_a, &server, "/admin/accounts/not-an-id").await;
    assert_eq!(status, 404);
    let (status, _) = get(
        &body_a,
        &server,
        &format!("/admin/accounts/{}", uuid::Uuid::new_v4()),
    )
    .await;
    assert_eq!(status, 404);
    let stranger = browser();
    let resp = stranger.get(server.url("/admin")).send().await.unwrap();
    assert_eq!(
        location(&resp),
        "/login?next=%2Fadmin",
        "not signed in: the login page, then back"
    );
    let pupil = world.targets["pupil.a1"].id;
    let no_token = post(
        &body_a,
        &server,
        &format!("/admin/accounts/{pupil}/disabled"),
        "",
        &[("disabled", "true")],
    )
    .await;
    assert_eq!(no_token.status(), 400, "a form without its CSRF token");
}
both_backends!(each_role_sees_exactly_its_scope);

/// A teacher prints a letter with a temporary password for a pupil without e-mail; the
/// pupil logs in with it and must choose a new password. A school administrator sends a
/// guardian a reset mail; a second and a third are held back, as for "Forgot password?".
async fn password_help_from_the_screens(backend: Backend) {
    let server = TestServer::start(backend).await;
    let world = build(&server);
    let pupil = &world.targets["pupil.a1"];
    let (teacher, _) = sign_in(&server, "teacher.a1").await;
    let (_, page) = get(&teacher, &server, &format!("/admin/accounts/{}", pupil.id)).await;
    assert!(!page.contains("id=\"disable\""), "a teacher helps, no more");
    let csrf = input_value(&page, "csrf");
    let letter = post(
        &teacher,
        &server,
        &format!("/admin/accounts/{}/temporary-password", pupil.id),
        &csrf,
        &[],
    )
    .await;
    assert_eq!(letter.status(), 200);
    let letter = letter.text().await.unwrap();
    assert!(letter.contains("<svg"), "the QR code of the login address");
    assert!(
        letter.contains("Je account"),
        "in the pupil's language (nl)"
    );
    assert!(letter.contains(&server.url("/login")));
    let start = letter
        .find("id=\"letter-password\" class=\"code\">")
        .unwrap();
    let rest = &letter[start + "id=\"letter-password\" class=\"code\">".len()..];
    let temporary = &rest[..rest.find('<').unwrap()];
    assert_eq!(temporary.len(), 14, "{temporary}");
    let url = authorize_url(&server, "openid", "&state=st&nonce=n");
    let resp = login_response(
        &crate::support::browser(),
        &server,
        &url,
        "pupil.a1",
        temporary,
    )
    .await;
    assert_eq!(location(&resp), "/wizard", "a new password first");
    let kinds = audit::kinds_for(&mut server.idp.conn().unwrap(), pupil.id).unwrap();
    assert!(kinds.contains(&"temporary_password_issued".to_owned()));

    let (admin, _) = sign_in(&server, "school.a1").await;
    let guardian = &world.targets["guardian.a1"];
    let (_, page) = get(&admin, &server, &format!("/admin/accounts/{}", guardian.id)).await;
    assert!(page.contains("pupil.a1"), "the guardian's child is shown");
    let csrf = input_value(&page, "csrf");
    let mut answers = Vec::new();
    for _ in 0..4 {
        let resp = post(
            &admin,
            &server,
            &format!("/admin/accounts/{}/reset-mail", guardian.id),
            &csrf,
            &[],
        )
        .await;
        answers.push(location(&resp));
    }
    assert!(answers[0].ends_with("done=reset-mail"), "{answers:?}");
    assert!(answers[3].ends_with("done=reset-throttled"), "{answers:?}");
    let (_, page) = get(&admin, &server, &answers[0]).await;
    assert!(page.contains("id=\"admin-done\""));
    assert!(
        page.contains("id=\"recovery\""),
        "the recovery events are listed"
    );
    let kinds = audit::kinds_for(&mut server.idp.conn().unwrap(), guardian.id).unwrap();
    assert!(kinds.contains(&"mail_queued".to_owned()), "{kinds:?}");
}
both_backends!(password_help_from_the_screens);

/// Roles as the command line names them: a grant needs its scope, is held once, goes back.
async fn roles_are_granted_and_revoked(backend: Backend) {
    let server = TestServer::start(backend).await;
    let world = build(&server);
    let mut conn = server.idp.conn().unwrap();
    let school = world.school_b1.to_string();
    let role = Role::parse(&mut conn, "teacher", None, Some(&school)).unwrap();
    assert_eq!(role, Role::Teacher(world.school_b1));
    assert!(
        Role::parse(&mut conn, "teacher", None, None).is_err(),
        "a teacher of which school?"
    );
    assert!(Role::parse(&mut conn, "janitor", None, None).is_err());
    let holder = world.targets["staff.a1"].id;
    let now = server.idp.now();
    assert!(roles::grant(&mut conn, holder, role, None, now).unwrap());
    assert!(
        !roles::grant(&mut conn, holder, role, None, now).unwrap(),
        "held already"
    );
    assert_eq!(roles::of(&mut conn, holder).unwrap(), vec![role]);
    assert!(roles::revoke(&mut conn, holder, role).unwrap());
    assert!(roles::of(&mut conn, holder).unwrap().is_empty());
    assert!(!roles::revoke(&mut conn, holder, role).unwrap());
}
both_backends!(roles_are_granted_and_revoked);

/// The search finds a word anywhere in the identifier, the e-mail address or the names,
/// whatever its case, follows a change of name, takes `%` literally, and pages through
/// many accounts in identifier order without losing or repeating one.
async fn the_account_search_finds_by_any_word_and_pages(backend: Backend) {
    use idp::domain::admin::Staff;
    use idp::domain::admin::accounts::{PAGE, Search, search};

    let server = TestServer::start(backend).await;
    let world = build(&server);
    let mut conn = server.idp.conn().unwrap();
    let now = server.idp.now();
    let body_admin = users::find_by_username(&mut conn, "body.a")
        .unwrap()
        .unwrap();
    let staff = Staff::of(&mut conn, body_admin).unwrap().unwrap();
    let school = schools::find_school(&mut conn, "Atheneum A1").unwrap().id;
    for n in 0..(PAGE * 2 + 3) {
        let user = add_user(&server, &format!("bulk.{n:03}"), None, "fr");
        schools::join(&mut conn, user.id, school, now).unwrap();
    }
    let contact = users::Contact {
        given_name: Some("Éloïse".into()),
        family_name: Some("Van den Bossche".into()),
        email: Some("Famille.VDB@Example.be".into()),
        phone_number: None,
    };
    users::set_contact(&mut conn, world.targets["pupil.a2"].id, &contact, now).unwrap();
    let find = |conn: &mut _, text: &str| -> Vec<String> {
        let query = Search {
            text: text.into(),
            ..Search::default()
        };
        search(conn, &staff, &query)
            .unwrap()
            .accounts
            .into_iter()
            .map(|a| a.identifier)
            .collect()
    };
    assert_eq!(
        find(&mut conn, "BOSSCHE"),
        ["pupil.a2"],
        "a family name, any case"
    );
    assert_eq!(
        find(&mut conn, "éloïse van"),
        ["pupil.a2"],
        "given and family name"
    );
    assert_eq!(
        find(&mut conn, "famille.vdb@"),
        ["pupil.a2"],
        "the e-mail address"
    );
    assert_eq!(
        find(&mut conn, "pil.a"),
        ["pupil.a1", "pupil.a2"],
        "part of an identifier"
    );
    assert!(
        find(&mut conn, "pupil.b1").is_empty(),
        "another body's pupil"
    );
    assert!(
        find(&mut conn, "%").is_empty(),
        "% is a character like any other"
    );
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let query = Search {
            school: Some(school),
            after: after.clone(),
            ..Search::default()
        };
        let page = search(&mut conn, &staff, &query).unwrap();
        assert!(page.accounts.len() as i64 <= PAGE);
        seen.extend(page.accounts.into_iter().map(|a| a.identifier));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "in order, none twice");
    // The school's members and the guardian of one of them.
    assert_eq!(seen.len() as i64, PAGE * 2 + 3 + 3, "{seen:?}");
    assert!(seen.contains(&"guardian.a1".to_owned()));
}
both_backends!(the_account_search_finds_by_any_word_and_pages);

/// The audit trail shows the events of the scope's accounts only, filtered by account and
/// kind; another body's account is a 404; the CSV export holds the same events, its cells
/// safe to open in a spreadsheet.
async fn the_audit_trail_keeps_to_the_scope(backend: Backend) {
    let server = TestServer::start(backend).await;
    let world = build(&server);
    let now = server.idp.now();
    {
        let mut conn = server.idp.conn().unwrap();
        for (target, detail) in [
            ("pupil.a1", "=HYPERLINK(\"http://evil.example\")"),
            ("staff.a1", "staff event"),
            ("guardian.a1", "guardian event"),
            ("pupil.b1", "other body event"),
        ] {
            audit::Event::new(audit::Kind::LoginFailed)
                .user(world.targets[target].id)
                .detail(detail)
                .record(&mut conn, now)
                .unwrap();
        }
    }
    let (teacher, _) = sign_in(&server, "teacher.a1").await;
    let (status, page) = get(&teacher, &server, "/admin/audit?kind=login_failed").await;
    assert_eq!(status, 200);
    assert!(page.contains("HYPERLINK"), "the teacher's pupil");
    assert!(!page.contains("staff event") && !page.contains("guardian event"));
    assert!(!page.contains("other body event"));

    let (body_a, _) = sign_in(&server, "body.a").await;
    let (_, page) = get(&body_a, &server, "/admin/audit?kind=login_failed").await;
    assert!(page.contains("staff event") && page.contains("guardian event"));
    assert!(!page.contains("other body event"));
    let (_, page) = get(&body_a, &server, "/admin/audit?account=guardian.a1").await;
    assert!(page.contains("guardian event") && !page.contains("staff event"));
    let (status, _) = get(&body_a, &server, "/admin/audit?account=pupil.b1").await;
    assert_eq!(status, 404, "another body's account");

    let resp = body_a
        .get(server.url("/admin/audit.csv?kind=login_failed"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let csv = resp.text().await.unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("occurred_at,kind,account,address,client_id,detail")
    );
    assert_eq!(lines.count(), 3, "{csv}");
    assert!(
        csv.contains("\"'=HYPERLINK(\"\"http://evil.example\"\")\""),
        "a formula is defused: {csv}"
    );
    assert!(!csv.contains("other body event"));
    let (platform, _) = sign_in(&server, "platform").await;
    let (_, page) = get(&platform, &server, "/admin/audit?kind=login_failed").await;
    assert!(
        page.contains("other body event"),
        "the platform sees every body"
    );
}
both_backends!(the_audit_trail_keeps_to_the_scope);

/// A change request reaches the administrators of its school's organising body, not
/// another school's; once accepted it leaves the list and the requester's trail says so.
async fn change_requests_are_decided_within_the_scope(backend: Backend) {
    let server = TestServer::start(backend).await;
    let world = build(&server);
    let now = server.idp.now();
    let request = {
        let mut conn = server.idp.conn().unwrap();
        let body = schools::find_body(&mut conn, "Scholengroep A").unwrap();
        let new = NewSchool {
            organising_body: body.id,
            name: "Middenschool A3",
            data_changes: DataChanges::Request,
            contact: None,
        };
        let school = schools::create_school(&mut conn, new, now).unwrap().id;
        let pupil = world.targets["pupil.a2"].id;
        schools::join(&mut conn, pupil, school, now).unwrap();
        schools::request_change(&mut conn, pupil, school, "Mijn adres is veranderd.", now).unwrap()
    };
    let (teacher, _) = sign_in(&server, "teacher.a1").await;
    let (status, page) = get(&teacher, &server, "/admin/requests").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("id=\"requests-none\""),
        "a teacher handles no request"
    );

    let (school_a1, csrf) = sign_in(&server, "school.a1").await;
    let (_, page) = get(&school_a1, &server, "/admin/requests").await;
    assert!(!page.contains("Mijn adres"), "another school's request");
    let path = format!("/admin/requests/{}", request.id);
    let resp = post(&school_a1, &server, &path, &csrf, &[("decision", "accept")]).await;
    assert_eq!(resp.status(), 404);

    let (body_a, csrf) = sign_in(&server, "body.a").await;
    let (_, page) = get(&body_a, &server, "/admin/requests").await;
    assert!(page.contains("Mijn adres is veranderd."), "{page}");
    let resp = post(&body_a, &server, &path, &csrf, &[("decision", "accept")]).await;
    assert_eq!(location(&resp), "/admin/requests?done=accepted");
    let (_, page) = get(&body_a, &server, "/admin/requests?done=accepted").await;
    assert!(page.contains("id=\"requests-none\"") && page.contains("id=\"admin-done\""));
    let again = post(&body_a, &server, &path, &csrf, &[("decision", "refuse")]).await;
    assert_eq!(again.status(), 404, "decided once");
    let mut conn = server.idp.conn().unwrap();
    let kinds = audit::kinds_for(&mut conn, world.targets["pupil.a2"].id).unwrap();
    assert!(kinds.contains(&"change_request_accepted".to_owned()));
    let school_admin = users::find_by_username(&mut conn, "school.a1")
        .unwrap()
        .unwrap();
    let kinds = audit::kinds_for(&mut conn, school_admin.id).unwrap();
    assert!(kinds.contains(&"admin_out_of_scope".to_owned()));
}
both_backends!(change_requests_are_decided_within_the_scope);

/// An organising body's administrator publishes a new version of its terms and sees how
/// many accepted it; a school's administrator publishes none; another body is a 404; a
/// version without its French text is refused.
async fn terms_are_published_by_the_body(backend: Backend) {
    let server = TestServer::start(backend).await;
    let world = build(&server);
    let (body_a_id, body_b_id) = {
        let mut conn = server.idp.conn().unwrap();
        (
            schools::find_body(&mut conn, "Scholengroep A").unwrap().id,
            schools::find_body(&mut conn, "Scholengroep B").unwrap().id,
        )
    };
    let (body_a, csrf) = sign_in(&server, "body.a").await;
    let publish = |version: &'static str, fr: &'static str, body| {
        let (browser, csrf) = (body_a.clone(), csrf.clone());
        let url = server.url(&format!("/admin/terms/{body}"));
        async move {
            browser
                .post(url)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("version", version),
                    ("text_fr", fr),
                    ("text_nl", "Gebruik het platform met respect."),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let resp = publish("2026-09", "Utilisez la plateforme avec respect.", body_a_id).await;
    assert_eq!(location(&resp), "/admin/terms?done=published");
    let resp = publish("2026-10", "  ", body_a_id).await;
    assert_eq!(
        location(&resp),
        "/admin/terms?done=invalid",
        "no French text"
    );
    let resp = publish("2026-09", "Autre pouvoir.", body_b_id).await;
    assert_eq!(resp.status(), 404, "another body");
    {
        let mut conn = server.idp.conn().unwrap();
        let published = idp::domain::terms::list(&mut conn, body_a_id).unwrap();
        assert_eq!(published.len(), 1);
        assert_eq!(
            published[0].texts.len(),
            2,
            "French and Dutch; the empty ones left out"
        );
        idp::domain::terms::accept(
            &mut conn,
            world.targets["pupil.a1"].id,
            &published[0].id,
            server.idp.now(),
        )
        .unwrap();
        assert!(
            idp::domain::terms::list(&mut conn, body_b_id)
                .unwrap()
                .is_empty()
        );
    }
    let (status, page) = get(&body_a, &server, "/admin/terms").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("2026-09") && page.contains("<td class=\"accepted\">1</td>"),
        "{page}"
    );
    assert!(
        !page.contains("Scholengroep B"),
        "only the body it administers"
    );

    let (school_a1, csrf) = sign_in(&server, "school.a1").await;
    let (_, page) = get(&school_a1, &server, "/admin/terms").await;
    assert!(page.contains("id=\"terms-none\""));
    let resp = school_a1
        .post(server.url(&format!("/admin/terms/{body_a_id}")))
        .form(&[("csrf", csrf.as_str()), ("version", "x"), ("text_fr", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        404,
        "a school's administrator publishes no terms"
    );
}
both_backends!(terms_are_published_by_the_body);

/// A school's administrator makes a colleague a teacher of the school on the screens, and
/// takes the role back; a role at or above their own, or a made-up one, is a 404.
async fn roles_are_given_on_the_screens_by_those_above(backend: Backend) {
    let server = TestServer::start(backend).await;
    let world = build(&server);
    let (a1, body_a) = {
        let mut conn = server.idp.conn().unwrap();
        (
            schools::find_school(&mut conn, "Atheneum A1").unwrap().id,
            schools::find_body(&mut conn, "Scholengroep A").unwrap().id,
        )
    };
    let colleague = world.targets["staff.a1"].id;
    let path = format!("/admin/accounts/{colleague}");
    let (admin, csrf) = sign_in(&server, "school.a1").await;
    let (_, page) = get(&admin, &server, &path).await;
    assert!(page.contains("id=\"roles-none\""));
    let teacher = format!("teacher:{a1}");
    assert!(
        page.contains(&format!("value=\"{teacher}\"")),
        "a teacher of A1 may be given"
    );
    assert!(
        !page.contains(&format!("value=\"school_admin:{a1}\"")),
        "not their own role"
    );
    let change = |role: String, action: &'static str| {
        let (browser, csrf, url) = (
            admin.clone(),
            csrf.clone(),
            server.url(&format!("{path}/roles")),
        );
        async move {
            browser
                .post(url)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("role", role.as_str()),
                    ("action", action),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let resp = change(teacher.clone(), "grant").await;
    assert!(location(&resp).ends_with("done=role-granted"));
    let resp = change(teacher.clone(), "grant").await;
    assert!(location(&resp).ends_with("done=role-unchanged"));
    let (colleague_browser, _) = sign_in(&server, "staff.a1").await;
    let (status, _) = get(&colleague_browser, &server, "/admin").await;
    assert_eq!(status, 200, "the new teacher has the screens");
    for refused in [
        format!("school_admin:{a1}"),
        format!("body_admin:{body_a}"),
        "platform_admin".to_owned(),
        "janitor:everything".to_owned(),
    ] {
        let resp = change(refused.clone(), "grant").await;
        assert_eq!(resp.status(), 404, "{refused}");
    }
    let resp = change(teacher.clone(), "revoke").await;
    assert!(location(&resp).ends_with("done=role-revoked"));
    let (status, _) = get(&colleague_browser, &server, "/admin").await;
    assert_eq!(status, 403, "no role any more");
    let mut conn = server.idp.conn().unwrap();
    let kinds = audit::kinds_for(&mut conn, colleague).unwrap();
    assert!(
        kinds.contains(&"role_granted".to_owned()) && kinds.contains(&"role_revoked".to_owned())
    );
}
both_backends!(roles_are_given_on_the_screens_by_those_above);

/// The migration screens show a body's administrator the runs that concern the body and
/// only the body's reported rows (reasons in words, searchable, as CSV); another body's
/// rows and rows naming no known body stay with the platform; a school's staff has none.
async fn the_migration_screens_keep_to_the_body(backend: Backend) {
    use account_migration::run::{Options, run_quietly};
    use account_migration::source::csv::{CsvSource, Encoding};
    use account_migration::source::mapping::Mapping;
    use idp::domain::migration::SourceName;

    let server = TestServer::start(backend).await;
    build(&server);
    let dir = crate::migration::temp_dir();
    let path = dir.0.join("legacy.csv");
    std::fs::write(
        &path,
        "legacy_id,identifier,email,kind,organising_body,schools\n\
         1,lena.moved,lena@example.be,pupil,Scholengroep A,Atheneum A1\n\
         2,tom.bad-mail,not-an-address,pupil,Scholengroep A,Atheneum A1\n\
         3,eva.other,eva@example.be,pupil,Scholengroep B,Nowhere School\n\
         4,kim.lost,kim@example.be,pupil,Scholengroep Z,Somewhere\n",
    )
    .unwrap();
    let run = {
        let mut conn = server.idp.conn().unwrap();
        let mut source = CsvSource::open(&path, None, Encoding::Auto, &Mapping::default()).unwrap();
        let options = Options::new(SourceName::parse("oldplatform").unwrap());
        run_quietly(&mut conn, &server.clock, &mut source, &options).unwrap()
    };
    assert_eq!(run.counts.created, 1);
    assert_eq!(run.counts.skipped, 3);

    let (body_a, _) = sign_in(&server, "body.a").await;
    let (status, page) = get(&body_a, &server, "/admin/migration").await;
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!("/admin/migration/{}", run.id)),
        "{page}"
    );
    let (status, page) = get(&body_a, &server, &format!("/admin/migration/{}", run.id)).await;
    assert_eq!(status, 200);
    assert!(page.contains("tom.bad-mail"), "the body's own skipped row");
    assert!(
        page.contains("the e-mail address is not valid"),
        "the reason in words"
    );
    assert!(
        !page.contains("eva.other") && !page.contains("kim.lost"),
        "{page}"
    );
    let (_, page) = get(
        &body_a,
        &server,
        &format!("/admin/migration/{}?q=nobody", run.id),
    )
    .await;
    assert!(page.contains("id=\"rows-none\""));
    let resp = body_a
        .get(server.url(&format!("/admin/migration/{}/rows.csv", run.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let csv = resp.text().await.unwrap();
    assert_eq!(
        csv.lines().next(),
        Some("line,legacy_id,identifier,outcome,reason,detail")
    );
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.contains("tom.bad-mail,skipped,invalid_email"), "{csv}");

    let (school_a1, school_csrf) = sign_in(&server, "school.a1").await;
    let (_, page) = get(&school_a1, &server, "/admin/migration").await;
    assert!(
        page.contains("id=\"runs-none\""),
        "a school's staff has no migration screen"
    );
    let (status, _) = get(&school_a1, &server, &format!("/admin/migration/{}", run.id)).await;
    assert_eq!(status, 404);

    let (platform, _) = sign_in(&server, "platform").await;
    let (_, page) = get(&platform, &server, &format!("/admin/migration/{}", run.id)).await;
    for row in ["tom.bad-mail", "eva.other", "kim.lost"] {
        assert!(page.contains(row), "the platform sees {row}");
    }

    // The body's administrator corrects the address and migrates the row.
    let (_, page) = get(&body_a, &server, &format!("/admin/migration/{}", run.id)).await;
    let marker = format!("/admin/migration/{}/rows/", run.id);
    let at = page.find(&marker).unwrap() + marker.len();
    let line = &page[at..at + page[at..].find('"').unwrap()];
    let row_path = format!("/admin/migration/{}/rows/{line}", run.id);
    let (status, form) = get(&body_a, &server, &row_path).await;
    assert_eq!(status, 200);
    assert_eq!(
        input_value(&form, "email"),
        "not-an-address",
        "the row as read"
    );
    let csrf = input_value(&form, "csrf");
    let fields = |email: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("identifier", "tom.bad-mail".to_owned()),
            ("email", email.to_owned()),
            ("given_name", "Tom".to_owned()),
            ("family_name", String::new()),
            ("kind", "pupil".to_owned()),
            ("schools", "Atheneum A1".to_owned()),
        ]
    };
    let resp = body_a
        .post(server.url(&row_path))
        .form(&fields("still-not-an-address"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("id=\"row-refused\""));
    let resp = school_a1
        .post(server.url(&row_path))
        .form(&[("csrf", school_csrf.as_str()), ("email", "tom@example.be")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404, "not the school's to fix");
    let resp = body_a
        .post(server.url(&row_path))
        .form(&fields("tom@example.be"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        location(&resp),
        format!("/admin/migration/{}?done=fixed", run.id)
    );
    let (_, page) = get(
        &body_a,
        &server,
        &format!("/admin/migration/{}?done=fixed", run.id),
    )
    .await;
    assert!(page.contains("id=\"admin-done\"") && !page.contains("tom.bad-mail"));
    let tom = users::find_by_username(&mut server.idp.conn().unwrap(), "tom.bad-mail")
        .unwrap()
        .expect("migrated");
    assert_eq!(tom.given_name.as_deref(), Some("Tom"));
}
both_backends!(the_migration_screens_keep_to_the_body);
