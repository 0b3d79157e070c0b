//! The migration screens' actions, on both backends: a reported row attached to the
//! existing account it duplicates, rows migrated again once fixed elsewhere, a conflict
//! overwritten, invitations sent and sent again; each only within the body's scope.

use account_migration::run::{Options, run_quietly};
use account_migration::source::csv::{CsvSource, Encoding};
use account_migration::source::mapping::Mapping;
use diesel::prelude::*;
use idp::domain::audit;
use idp::domain::migration::{self, Run, SourceName};
use idp::domain::schools::{self, DataChanges, NewSchool};
use idp::domain::types::AccountKind;
use idp::domain::users;
use idp::store::schema::mail_outbox;

use crate::both_backends;
use crate::staff::{build, get, sign_in};
use crate::support::*;

const HEADER: &str = "legacy_id,identifier,email,family_name,kind,organising_body,schools\n";

/// Runs `account-migration` over `rows` (CSV lines after the header).
fn migrate(server: &TestServer, rows: &str) -> Run {
    let dir = crate::migration::temp_dir();
    let path = dir.0.join("legacy.csv");
    std::fs::write(&path, format!("{HEADER}{rows}")).unwrap();
    let mut conn = server.idp.conn().unwrap();
    let mut source = CsvSource::open(&path, None, Encoding::Auto, &Mapping::default()).unwrap();
    let options = Options::new(SourceName::parse("oldplatform").unwrap());
    run_quietly(&mut conn, &server.clock, &mut source, &options).unwrap()
}

/// The line of the row `run` reported about `identifier`.
fn line_of(server: &TestServer, run: &Run, identifier: &str) -> u64 {
    let mut conn = server.idp.conn().unwrap();
    migration::problems(&mut conn, &run.id)
        .unwrap()
        .into_iter()
        .find(|r| r.identifier.as_deref() == Some(identifier))
        .unwrap_or_else(|| panic!("{identifier} reported"))
        .line
}

/// The line of a row `run` reported about `identifier`, fixed since.
fn line_of_resolved(server: &TestServer, run: &Run, identifier: &str) -> String {
    use idp::store::schema::migration_problems;
    let mut conn = server.idp.conn().unwrap();
    let line: i32 = migration_problems::table
        .filter(migration_problems::run_id.eq(&run.id))
        .filter(migration_problems::identifier.eq(identifier))
        .filter(migration_problems::resolved_in.is_not_null())
        .select(migration_problems::line)
        .first(&mut conn)
        .unwrap();
    line.to_string()
}

fn kinds(server: &TestServer, identifier: &str) -> Vec<String> {
    let mut conn = server.idp.conn().unwrap();
    let user = users::find_by_username(&mut conn, identifier)
        .unwrap()
        .unwrap();
    audit::kinds_for(&mut conn, user.id).unwrap()
}

async fn post(
    browser: &reqwest::Client,
    server: &TestServer,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    browser
        .post(server.url(path))
        .form(form)
        .send()
        .await
        .unwrap()
}

/// A row whose identifier a hand-made account holds is attached to that account (which
/// gains the row's school and keeps its password); an account of another body is "no such
/// account" (and audited); rows fixed elsewhere since are migrated again as a selection,
/// a selection with another body's line is a 404; a `changed_on_sts` conflict is
/// overwritten with the legacy row on request.
async fn reported_rows_are_attached_retried_and_overwritten(backend: Backend) {
    let server = TestServer::start(backend).await;
    build(&server);
    let run = migrate(
        &server,
        "10,staff.a1,staff.a1@example.be,Janssens,teacher,Scholengroep A,Basisschool A2\n\
         11,ann.new,ann@example.be,Maes,pupil,Scholengroep A,Nieuwe School\n\
         12,bob.changed,bob@example.be,Claes,pupil,Scholengroep A,Atheneum A1\n\
         13,eva.b,eva@example.be,Wouters,pupil,Scholengroep B,Nowhere\n",
    );
    assert_eq!((run.counts.created, run.counts.skipped), (1, 3));
    let (body_a, csrf) = sign_in(&server, "body.a").await;
    let run_path = format!("/admin/migration/{}", run.id);

    // Attach: the row's identifier suggests the account holding it.
    let row_path = format!("{run_path}/rows/{}", line_of(&server, &run, "staff.a1"));
    let (_, form) = get(&body_a, &server, &row_path).await;
    assert_eq!(input_value(&form, "attach_to"), "staff.a1");
    assert!(
        !form.contains("id=\"overwrite\""),
        "no conflict to overwrite"
    );
    let attach = |to: &'static str| {
        vec![
            ("csrf", csrf.as_str()),
            ("identifier", "staff.a1"),
            ("email", "staff.a1@example.be"),
            ("family_name", "Janssens"),
            ("kind", "teacher"),
            ("schools", "Basisschool A2"),
            ("action", "attach"),
            ("attach_to", to),
        ]
    };
    let resp = post(&body_a, &server, &row_path, &attach("pupil.b1")).await;
    assert_eq!(resp.status(), 200);
    let page = resp.text().await.unwrap();
    assert!(page.contains("id=\"row-no-account\""), "{page}");
    assert!(kinds(&server, "body.a").contains(&"admin_out_of_scope".to_owned()));
    let resp = post(&body_a, &server, &row_path, &attach("nobody.at.all")).await;
    assert!(resp.text().await.unwrap().contains("id=\"row-no-account\""));
    let resp = post(&body_a, &server, &row_path, &attach("staff.a1")).await;
    assert_eq!(location(&resp), format!("{run_path}?done=attached"));
    {
        let mut conn = server.idp.conn().unwrap();
        let staff = users::find_by_username(&mut conn, "staff.a1")
            .unwrap()
            .unwrap();
        let names: Vec<String> = schools::schools_of(&mut conn, staff.id)
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert!(names.contains(&"Basisschool A2".to_owned()), "{names:?}");
        assert!(staff.password_hash.is_some(), "its own password stays");
        assert!(
            migration::moved(&mut conn, staff.id).unwrap().is_some(),
            "the legacy row is the account's"
        );
    }
    assert!(kinds(&server, "staff.a1").contains(&"legacy_row_attached".to_owned()));
    // A later run with the same row finds it unchanged: no second account, no report.
    let again = migrate(
        &server,
        "10,staff.a1,staff.a1@example.be,Janssens,teacher,Scholengroep A,Basisschool A2\n",
    );
    assert_eq!((again.counts.unchanged, again.counts.created), (1, 0));

    // Migrate again: refused while the school is missing, migrated once it exists.
    let ann = line_of(&server, &run, "ann.new").to_string();
    let retry = format!("{run_path}/retry");
    let selection = |lines: Vec<String>, action: &'static str| {
        let mut form: Vec<(&str, String)> =
            vec![("csrf", csrf.clone()), ("action", action.to_owned())];
        form.extend(lines.into_iter().map(|l| ("line", l)));
        form
    };
    let resp = body_a
        .post(server.url(&retry))
        .form(&selection(vec![ann.clone()], "migrate"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&resp), format!("{run_path}?migrated=0&refused=1"));
    let eva = line_of(&server, &run, "eva.b").to_string();
    let resp = body_a
        .post(server.url(&retry))
        .form(&selection(vec![ann.clone(), eva], "migrate"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404, "another body's row in the selection");
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
    let resp = body_a
        .post(server.url(&retry))
        .form(&selection(vec![ann], "migrate"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&resp), format!("{run_path}?migrated=1&refused=0"));
    let (_, page) = get(
        &body_a,
        &server,
        &format!("{run_path}?migrated=1&refused=0"),
    )
    .await;
    assert!(page.contains("id=\"admin-retried\"") && !page.contains("ann.new"));
    // Sent twice (a double click): the row fixed meanwhile is passed over, not foreign.
    let resp = body_a
        .post(server.url(&retry))
        .form(&selection(
            vec![line_of_resolved(&server, &run, "ann.new")],
            "migrate",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&resp), format!("{run_path}?migrated=0&refused=0"));
    let mut conn = server.idp.conn().unwrap();
    assert!(
        users::find_by_username(&mut conn, "ann.new")
            .unwrap()
            .is_some()
    );

    // Overwrite: bob was changed on the STS, then in the legacy platform.
    server.clock.advance(chrono::Duration::minutes(5));
    let bob = users::find_by_username(&mut conn, "bob.changed")
        .unwrap()
        .unwrap();
    users::set_kind(&mut conn, bob.id, AccountKind::Pupil, server.idp.now()).unwrap();
    let conflict = migrate(
        &server,
        "12,bob.changed,bob@example.be,Peeters,pupil,Scholengroep A,Atheneum A1\n",
    );
    assert_eq!(conflict.counts.conflicts, 1);
    let row_path = format!(
        "/admin/migration/{}/rows/{}",
        conflict.id,
        line_of(&server, &conflict, "bob.changed")
    );
    let (_, form) = get(&body_a, &server, &row_path).await;
    assert!(form.contains("id=\"overwrite\""), "{form}");
    let fields = |action: &'static str| {
        vec![
            ("csrf", csrf.as_str()),
            ("identifier", "bob.changed"),
            ("email", "bob@example.be"),
            ("family_name", "Peeters"),
            ("kind", "pupil"),
            ("schools", "Atheneum A1"),
            ("action", action),
        ]
    };
    let resp = post(&body_a, &server, &row_path, &fields("migrate")).await;
    let page = resp.text().await.unwrap();
    assert!(
        page.contains("id=\"row-refused\""),
        "migrated as it is, it is still a conflict"
    );
    let resp = post(&body_a, &server, &row_path, &fields("overwrite")).await;
    assert_eq!(
        location(&resp),
        format!("/admin/migration/{}?done=fixed", conflict.id)
    );
    let bob = users::find_by_id(&mut conn, bob.id).unwrap().unwrap();
    assert_eq!(bob.family_name.as_deref(), Some("Peeters"));
}
both_backends!(reported_rows_are_attached_retried_and_overwritten);

fn mails_to(server: &TestServer, address: &str) -> i64 {
    let mut conn = server.idp.conn().unwrap();
    mail_outbox::table
        .filter(mail_outbox::recipient.eq(address))
        .count()
        .get_result(&mut conn)
        .unwrap()
}

/// The run's page counts the body's accounts not invited yet and sends their invitations
/// at the configured pace (another body's accounts stay uninvited); an account's page
/// sends its invitation again once the first has left, but not to an account that chose
/// its password or was never migrated.
async fn invitations_are_sent_from_the_screens(backend: Backend) {
    let server = TestServer::start_with(backend, |s| {
        s.invitations.per_domain_per_hour = 60;
    })
    .await;
    let world = build(&server);
    let run = migrate(
        &server,
        "20,ann.invited,ann@example.be,Maes,pupil,Scholengroep A,Atheneum A1\n\
         21,bob.invited,bob@example.be,Claes,pupil,Scholengroep A,Basisschool A2\n\
         22,eva.other,eva@example.be,Wouters,pupil,Scholengroep B,Lycée B1\n",
    );
    assert_eq!(run.counts.created, 3);
    let (body_a, csrf) = sign_in(&server, "body.a").await;
    let run_path = format!("/admin/migration/{}", run.id);
    let (_, page) = get(&body_a, &server, &run_path).await;
    assert!(page.contains("id=\"not-invited\""), "{page}");
    assert!(page.contains(">2 account(s)"), "{page}");
    let resp = post(
        &body_a,
        &server,
        &format!("{run_path}/invite"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(location(&resp), format!("{run_path}?invited=2"));
    assert_eq!(mails_to(&server, "ann@example.be"), 1);
    assert_eq!(mails_to(&server, "bob@example.be"), 1);
    assert_eq!(mails_to(&server, "eva@example.be"), 0, "another body's");
    let (_, page) = get(&body_a, &server, &run_path).await;
    assert!(!page.contains("id=\"not-invited\""), "no one left");
    let (school_a1, school_csrf) = sign_in(&server, "school.a1").await;
    let resp = post(
        &school_a1,
        &server,
        &format!("{run_path}/invite"),
        &[("csrf", &school_csrf)],
    )
    .await;
    assert_eq!(resp.status(), 404, "a school's staff has no runs");

    // Sent again from the account's page: bob's left a minute after ann's.
    let bob = {
        let mut conn = server.idp.conn().unwrap();
        users::find_by_username(&mut conn, "bob.invited")
            .unwrap()
            .unwrap()
    };
    let account = format!("/admin/accounts/{}", bob.id);
    let (_, page) = get(&body_a, &server, &account).await;
    assert!(page.contains("id=\"invitation\"") && page.contains("id=\"invite-again\""));
    let again = format!("{account}/invitation");
    let resp = post(&body_a, &server, &again, &[("csrf", &csrf)]).await;
    assert_eq!(location(&resp), format!("{account}?done=invite-queued"));
    server.clock.advance(chrono::Duration::minutes(2));
    let resp = post(&body_a, &server, &again, &[("csrf", &csrf)]).await;
    assert_eq!(location(&resp), format!("{account}?done=invited"));
    assert_eq!(mails_to(&server, "bob@example.be"), 2);
    assert!(kinds(&server, "bob.invited").contains(&"invitation_sent".to_owned()));
    let (_, page) = get(&body_a, &server, &format!("{account}?done=invited")).await;
    assert!(
        page.contains("invitation sent again"),
        "in the recovery events"
    );

    // Not for an account that chose its password, nor one never migrated.
    {
        let mut conn = server.idp.conn().unwrap();
        let ann = users::find_by_username(&mut conn, "ann.invited")
            .unwrap()
            .unwrap();
        users::set_password_hash(&mut conn, ann.id, "$argon2id$chosen", server.idp.now()).unwrap();
        let resp = post(
            &body_a,
            &server,
            &format!("/admin/accounts/{}/invitation", ann.id),
            &[("csrf", &csrf)],
        )
        .await;
        assert!(location(&resp).ends_with("done=invite-has-password"));
    }
    let staff = &world.targets["staff.a1"];
    let resp = post(
        &body_a,
        &server,
        &format!("/admin/accounts/{}/invitation", staff.id),
        &[("csrf", &csrf)],
    )
    .await;
    assert!(location(&resp).ends_with("done=invite-not-migrated"));
    let eva = {
        let mut conn = server.idp.conn().unwrap();
        users::find_by_username(&mut conn, "eva.other")
            .unwrap()
            .unwrap()
    };
    let resp = post(
        &body_a,
        &server,
        &format!("/admin/accounts/{}/invitation", eva.id),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(resp.status(), 404, "another body's account");
    assert_eq!(mails_to(&server, "eva@example.be"), 0);
}
both_backends!(invitations_are_sent_from_the_screens);

/// Not signed in, a screen sends the person to the login page and back to it afterwards;
/// a `next` outside the STS's own pages is dropped.
async fn the_screens_return_after_login(backend: Backend) {
    let server = TestServer::start(backend).await;
    build(&server);
    let browser = browser();
    let resp = browser
        .get(server.url("/admin/audit?kind=login_failed"))
        .send()
        .await
        .unwrap();
    let login = location(&resp);
    assert_eq!(login, "/login?next=%2Fadmin%2Faudit%3Fkind%3Dlogin_failed");
    let page = browser
        .get(server.url(&login))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // As the browser reads it (handlebars writes `=` as `&#x3D;`).
    let next = input_value(&page, "next").replace("&#x3D;", "=");
    assert_eq!(next, "/admin/audit?kind=login_failed");
    let mut form = login_form(&page, "body.a", "Zebre-Orange-91").to_vec();
    form.push(("next", next));
    let resp = browser
        .post(server.url("/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(location(&resp), "/admin/audit?kind=login_failed");

    let other = crate::support::browser();
    let page = other
        .get(server.url("/login?next=https%3A%2F%2Fevil.example%2Fadmin"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("name=\"next\""));
    let mut form = login_form(&page, "body.a", "Zebre-Orange-91").to_vec();
    form.push(("next", "//evil.example/admin".to_owned()));
    let resp = other
        .post(server.url("/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(location(&resp), "/", "never elsewhere");
}
both_backends!(the_screens_return_after_login);

/// A run's reported rows come a page at a time (100), in the order of the source; a
/// search reads past the first page's worth of rows to find what matches.
async fn reported_rows_are_paged(backend: Backend) {
    let server = TestServer::start(backend).await;
    build(&server);
    let rows: String = (1..=130)
        .map(|n| format!("{n},person.{n:03},bad-{n},Peeters,pupil,Scholengroep A,Atheneum A1\n"))
        .collect();
    let run = migrate(&server, &rows);
    assert_eq!(run.counts.skipped, 130);
    let (body_a, _) = sign_in(&server, "body.a").await;
    let run_path = format!("/admin/migration/{}", run.id);
    let (_, first) = get(&body_a, &server, &run_path).await;
    assert_eq!(first.matches("name=\"line\"").count(), 100);
    assert!(first.contains("person.001") && first.contains("person.100"));
    assert!(!first.contains("person.101"));
    let at = first.find("id=\"rows-next\"").expect("a next page");
    let href_at = first[..at].rfind("href=\"").unwrap() + "href=\"".len();
    let next = first[href_at..href_at + first[href_at..].find('"').unwrap()]
        .replace("&amp;", "&")
        .replace("&#x3D;", "=");
    let (_, second) = get(&body_a, &server, &next).await;
    assert_eq!(second.matches("name=\"line\"").count(), 30, "{next}");
    assert!(second.contains("person.101") && !second.contains("id=\"rows-next\""));
    let (_, found) = get(&body_a, &server, &format!("{run_path}?q=PERSON.12")).await;
    assert_eq!(
        found.matches("name=\"line\"").count(),
        10,
        "person.120 to person.129"
    );
    let resp = body_a
        .get(server.url(&format!("{run_path}/rows.csv")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.text().await.unwrap().lines().count(),
        131,
        "the CSV has them all"
    );
}
both_backends!(reported_rows_are_paged);
