//! `account-migration` against a real store on both backends: each source kind, re-runs,
//! conflicts, bad rows, families, every legacy hash through the relying party, and a real
//! process killed mid-run then resumed.

use std::io::Write;
use std::path::{Path, PathBuf};

use account_migration::run::{Options, run_quietly};
use account_migration::source::Source;
use account_migration::source::csv::{CsvSource, Encoding};
use account_migration::source::jsonl::JsonLinesSource;
use account_migration::source::mapping::Mapping;
use account_migration::source::sql::SqlSource;
use diesel::{Connection, RunQueryDsl};
use idp::domain::migration::{self, Counts, Reason, Run, SourceName};
use idp::domain::schools::{self, DataChanges, NewSchool};
use idp::domain::{links, users};

use crate::both_backends;
use crate::login::{LEGACY_HASHES, LEGACY_PASSWORD};
use crate::support::*;

const BODY: &str = "Scholengroep Brussel";

pub(crate) fn temp_dir() -> TempDir {
    let dir = std::env::temp_dir().join(format!("migration-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
    path
}

/// The organising body and its two schools the legacy rows name.
fn schools_of_the_body(server: &TestServer) {
    let mut conn = server.idp.conn().unwrap();
    let now = server.idp.now();
    let body = schools::create_body(&mut conn, BODY, now).unwrap();
    for name in ["Atheneum Etterbeek", "Basisschool De Klaproos"] {
        let school = NewSchool {
            organising_body: body.id,
            name,
            data_changes: DataChanges::Contact,
            contact: None,
        };
        schools::create_school(&mut conn, school, now).unwrap();
    }
}

fn migrate(server: &TestServer, name: &str, source: &mut dyn Source, dry_run: bool) -> Run {
    let mut conn = server.idp.conn().unwrap();
    let mut options = Options::new(SourceName::parse(name).unwrap());
    options.dry_run = dry_run;
    options.batch_size = 3; // several batches even for a few rows
    run_quietly(&mut conn, &server.clock, source, &options).unwrap()
}

fn csv(path: &Path) -> CsvSource {
    CsvSource::open(path, None, Encoding::Auto, &Mapping::default()).unwrap()
}

/// A Windows export: `;`-separated (Excel in Dutch and French), Windows-1252, a child
/// named before the guardians it links to, two guardians sharing one family address.
const FAMILY_CSV: &[u8] = b"legacy_id;identifier;email;given_name;family_name;kind;organising_body;schools;guardians;password_hash;active\r\n\
2001;lucas.peeters;;Lucas;Peeters;leerling;Scholengroep Brussel;Basisschool De Klaproos;3001:mother|3002:father;;1\r\n\
1001;marie.dubois;marie.dubois@example.be;Marie;Dubois;teacher;Scholengroep Brussel;Atheneum Etterbeek|Basisschool De Klaproos;;$2b$05$mCUaWXDJoTxQSd7WhUqm9.GajP.JpDqTjqX1yVFBP2Pm9BFDoBLhm;1\r\n\
3001;an.peeters;famille.peeters@example.be;An;Peeters;ouder;Scholengroep Brussel;;;;1\r\n\
3002;jos.peeters;famille.peeters@example.be;Jos;M\xfcller-Peeters;parent;Scholengroep Brussel;;;;1\r\n\
4001;ren\xe9.lefevre;;Ren\xe9;Lef\xe8vre;teacher;Scholengroep Brussel;Atheneum Etterbeek;;;0\r\n";

fn assert_family(server: &TestServer) {
    let mut conn = server.idp.conn().unwrap();
    let lucas = users::lookup(&mut conn, "lucas.peeters").unwrap();
    assert_eq!(lucas.kind, idp::domain::types::AccountKind::Pupil);
    let guardians = links::co_accounts(&mut conn, lucas.id).unwrap();
    let mut named: Vec<(String, String)> = guardians
        .iter()
        .map(|(u, r)| (u.username.as_str().to_owned(), r.clone()))
        .collect();
    named.sort();
    assert_eq!(
        named,
        [
            ("an.peeters".to_owned(), "mother".to_owned()),
            ("jos.peeters".to_owned(), "father".to_owned())
        ],
        "guardians named before they were migrated are linked at the end of the run"
    );
    let family = users::find_by_email(&mut conn, "Famille.Peeters@example.be").unwrap();
    assert_eq!(family.len(), 2, "a family address is shared");
    let jos = users::lookup(&mut conn, "JOS.PEETERS").unwrap();
    assert_eq!(jos.family_name.as_deref(), Some("Müller-Peeters"));
    let marie = users::lookup(&mut conn, "marie.dubois").unwrap();
    assert_eq!(schools::schools_of(&mut conn, marie.id).unwrap().len(), 2);
    assert!(marie.password_hash.is_none());
    assert!(
        marie
            .legacy_password_hash
            .as_deref()
            .unwrap()
            .starts_with("$2b$")
    );
    let rene = users::lookup(&mut conn, "rené.lefevre").unwrap();
    assert_eq!(rene.given_name.as_deref(), Some("René"));
    assert!(rene.disabled, "an inactive legacy account stays disabled");
}

/// CSV (with a BOM, `;`, Windows-1252), JSON Lines, and the legacy database itself
/// through a mapping: each brings the same family in, with the same result.
async fn every_source_kind_imports_the_canonical_layout(backend: Backend) {
    let dir = temp_dir();
    // CSV, with a UTF-8 BOM in front of a Windows-1252 body (what some tools produce).
    let server = TestServer::start(backend).await;
    schools_of_the_body(&server);
    let path = write(
        &dir.0,
        "family.csv",
        &[b"\xEF\xBB\xBF", FAMILY_CSV].concat(),
    );
    let run = migrate(&server, "smartschool", &mut csv(&path), false);
    assert_eq!(run.counts.created, 5, "{:?}", run.counts);
    assert_eq!(run.counts.skipped + run.counts.incomplete, 0);
    assert_family(&server);

    // JSON Lines: lists as arrays or single strings, the active flag as a boolean.
    let server = TestServer::start(backend).await;
    schools_of_the_body(&server);
    let jsonl = r#"{"legacy_id":"2001","identifier":"lucas.peeters","given_name":"Lucas","family_name":"Peeters","kind":"pupil","organising_body":"Scholengroep Brussel","schools":"Basisschool De Klaproos","guardians":[{"legacy_id":"3001","relation":"mother"},{"legacy_id":"3002","relation":"father"}]}
{"legacy_id":"1001","identifier":"marie.dubois","emails":["marie.dubois@example.be","m.dubois@old.example"],"kind":"staff","organising_body":"Scholengroep Brussel","schools":["Atheneum Etterbeek","Basisschool De Klaproos"],"password_hash":"$2b$05$mCUaWXDJoTxQSd7WhUqm9.GajP.JpDqTjqX1yVFBP2Pm9BFDoBLhm","active":true}

{"legacy_id":"3001","identifier":"an.peeters","email":"famille.peeters@example.be","kind":"guardian","organising_body":"Scholengroep Brussel"}
{"legacy_id":"3002","identifier":"jos.peeters","email":"famille.peeters@example.be","family_name":"Müller-Peeters","kind":"guardian","organising_body":"Scholengroep Brussel"}
{"legacy_id":"4001","identifier":"rené.lefevre","given_name":"René","kind":"teacher","organising_body":"Scholengroep Brussel","schools":["Atheneum Etterbeek"],"active":false}
"#;
    let path = write(&dir.0, "family.jsonl", jsonl.as_bytes());
    let run = migrate(
        &server,
        "smartschool",
        &mut JsonLinesSource::open(&path).unwrap(),
        false,
    );
    assert_eq!(run.counts.created, 5, "{:?}", run.counts);
    assert_family(&server);

    // The legacy database: SQLite for the SQLite store, PostgreSQL for the PostgreSQL one,
    // its own column names, a key that is a number.
    let server = TestServer::start(backend).await;
    schools_of_the_body(&server);
    let legacy_url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.0.join("legacy.db").display()),
        Backend::Postgres => server.idp.settings.database_url.clone(),
    };
    legacy_database(&legacy_url, backend);
    let mapping = Mapping::parse(
        r#"
table = "leden"
[columns]
legacy_id = "lid_nr"
identifier = "login"
emails = "mail"
given_name = "voornaam"
family_name = "naam"
kind = "soort"
organising_body = "inrichtende_macht"
schools = "scholen"
guardians = "ouders"
password_hash = "wachtwoord"
active = "actief"
"#,
    )
    .unwrap();
    let mut source = SqlSource::open(&legacy_url, &mapping).unwrap();
    let run = migrate(&server, "smartschool", &mut source, false);
    assert_eq!(run.counts.created, 5, "{:?}", run.counts);
    assert_family(&server);
}
both_backends!(every_source_kind_imports_the_canonical_layout);

/// The family as a legacy database table of its own naming.
fn legacy_database(url: &str, backend: Backend) {
    let create = "CREATE TABLE leden (lid_nr INTEGER PRIMARY KEY, login TEXT, mail TEXT, \
                  voornaam TEXT, naam TEXT, soort TEXT, inrichtende_macht TEXT, scholen TEXT, \
                  ouders TEXT, wachtwoord TEXT, actief BOOLEAN)";
    let rows = [
        "(2001, 'lucas.peeters', NULL, 'Lucas', 'Peeters', 'leerling', 'Scholengroep Brussel', 'Basisschool De Klaproos', '3001:mother|3002:father', NULL, TRUE)",
        "(1001, 'marie.dubois', 'marie.dubois@example.be', 'Marie', 'Dubois', 'leerkracht', 'Scholengroep Brussel', 'Atheneum Etterbeek|Basisschool De Klaproos', NULL, '$2b$05$mCUaWXDJoTxQSd7WhUqm9.GajP.JpDqTjqX1yVFBP2Pm9BFDoBLhm', TRUE)",
        "(3001, 'an.peeters', 'famille.peeters@example.be', 'An', 'Peeters', 'ouder', 'Scholengroep Brussel', NULL, NULL, NULL, TRUE)",
        "(3002, 'jos.peeters', 'famille.peeters@example.be', 'Jos', 'Müller-Peeters', 'ouder', 'Scholengroep Brussel', NULL, NULL, NULL, TRUE)",
        "(4001, 'rené.lefevre', NULL, 'René', 'Lefèvre', 'leerkracht', 'Scholengroep Brussel', 'Atheneum Etterbeek', NULL, NULL, FALSE)",
    ];
    let insert = format!("INSERT INTO leden VALUES {}", rows.join(", "));
    match backend {
        Backend::Sqlite => {
            let path = url.strip_prefix("sqlite://").unwrap();
            let mut conn = diesel::SqliteConnection::establish(path).unwrap();
            diesel::sql_query(create).execute(&mut conn).unwrap();
            diesel::sql_query(insert).execute(&mut conn).unwrap();
        }
        Backend::Postgres => {
            let mut conn = diesel::PgConnection::establish(url).unwrap();
            diesel::sql_query(create).execute(&mut conn).unwrap();
            diesel::sql_query(insert).execute(&mut conn).unwrap();
        }
    }
}

/// `bytes` with the first `from` replaced (the file stays Windows-1252 elsewhere).
fn replace(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    let at = bytes
        .windows(from.len())
        .position(|w| w == from.as_bytes())
        .unwrap();
    [&bytes[..at], to.as_bytes(), &bytes[at + from.len()..]].concat()
}

fn counts_of(run: &Run) -> Counts {
    run.counts
}

/// A second run of the same file changes nothing; a changed legacy row updates its
/// account, unless the account was changed on the STS since: then it is a conflict, and
/// the account keeps what was changed here.
async fn a_rerun_changes_nothing_and_a_change_on_both_sides_is_a_conflict(backend: Backend) {
    let dir = temp_dir();
    let server = TestServer::start(backend).await;
    schools_of_the_body(&server);
    let path = write(&dir.0, "family.csv", FAMILY_CSV);
    migrate(&server, "smartschool", &mut csv(&path), false);
    let accounts = || users::list(&mut server.idp.conn().unwrap()).unwrap().len();
    let before = accounts();

    let again = migrate(&server, "smartschool", &mut csv(&path), false);
    let c = counts_of(&again);
    assert_eq!((c.read, c.unchanged, c.created, c.updated), (5, 5, 0, 0));
    assert_eq!(accounts(), before, "no duplicates");

    // Marie moved to another address in the legacy system, and so did An; but An also
    // changed hers on the STS in the meantime.
    let mut conn = server.idp.conn().unwrap();
    let an = users::lookup(&mut conn, "an.peeters").unwrap();
    server.clock.advance(chrono::Duration::seconds(5));
    let contact = users::Contact {
        given_name: Some("An".into()),
        family_name: Some("Peeters".into()),
        email: Some("an@example.be".into()),
        phone_number: None,
    };
    users::set_contact(&mut conn, an.id, &contact, server.idp.now()).unwrap();
    let changed = replace(
        &replace(FAMILY_CSV, "marie.dubois@example.be", "marie@nieuw.example"),
        "3001;an.peeters;famille.peeters@example.be",
        "3001;an.peeters;an.peeters@legacy.example",
    );
    let path = write(&dir.0, "changed.csv", &changed);
    server.clock.advance(chrono::Duration::seconds(5));
    let third = migrate(&server, "smartschool", &mut csv(&path), false);
    let c = counts_of(&third);
    assert_eq!((c.updated, c.conflicts, c.unchanged), (1, 1, 3), "{c:?}");
    let marie = users::lookup(&mut conn, "marie.dubois").unwrap();
    assert_eq!(marie.email.as_deref(), Some("marie@nieuw.example"));
    let an = users::lookup(&mut conn, "an.peeters").unwrap();
    assert_eq!(
        an.email.as_deref(),
        Some("an@example.be"),
        "never overwritten"
    );
    let reported = migration::problems(&mut conn, &third.id).unwrap();
    assert_eq!(reported.len(), 1);
    assert_eq!(reported[0].reason, Reason::ChangedOnSts);
    assert_eq!(reported[0].legacy_id.as_deref(), Some("3001"));
    assert!(reported[0].detail.contains("changed on the STS"));
    assert_eq!(accounts(), before);
}
both_backends!(a_rerun_changes_nothing_and_a_change_on_both_sides_is_a_conflict);

/// Every kind of bad row is reported with its reason in words, and never stops the run;
/// a dry run reports the same and writes nothing.
async fn bad_rows_are_reported_and_a_dry_run_writes_nothing(backend: Backend) {
    let dir = temp_dir();
    let server = TestServer::start(backend).await;
    schools_of_the_body(&server);
    let rows = "legacy_id,identifier,email,kind,organising_body,schools,guardians,password_hash\n\
        10,ok.one,,pupil,Scholengroep Brussel,,,\n\
        11,bad.mail,not-an-address,pupil,,,,\n\
        12,lost.school,,pupil,Scholengroep Brussel,Nowhere College,,\n\
        13,bad.hash,,pupil,,,,$2b$99$abc\n\
        14,what.kind,,astronaut,,,,\n\
        15,jean.dupont,,staff,,,,\n\
        16,Ok.One,,pupil,,,,\n\
        10,ok.again,,pupil,,,,\n\
        17,orphan,,pupil,,,999:mother,\n\
        18,,,pupil,,,,\n\
        19,someone@example.be,,pupil,,,,\n";
    let path = write(&dir.0, "bad.csv", rows.as_bytes());
    let accounts = || users::list(&mut server.idp.conn().unwrap()).unwrap().len();
    let before = accounts();

    let dry = migrate(&server, "legacy", &mut csv(&path), true);
    assert!(dry.dry_run);
    assert_eq!(accounts(), before, "a dry run writes no account");
    let mut conn = server.idp.conn().unwrap();
    assert!(migration::runs(&mut conn).unwrap().is_empty(), "nor a run");

    let real = migrate(&server, "legacy", &mut csv(&path), false);
    assert_eq!(
        (
            dry.counts.created,
            dry.counts.skipped,
            dry.counts.incomplete
        ),
        (
            real.counts.created,
            real.counts.skipped,
            real.counts.incomplete
        ),
        "the dry run told what the real one did"
    );
    assert_eq!(real.counts.created, 2, "{:?}", real.counts); // ok.one, orphan
    assert_eq!(accounts(), before + 2);
    let reported = migration::problems(&mut conn, &real.id).unwrap();
    let reason_of = |legacy_id: &str| {
        reported
            .iter()
            .find(|r| r.legacy_id.as_deref() == Some(legacy_id))
            .map(|r| r.reason)
    };
    assert_eq!(reason_of("11"), Some(Reason::InvalidEmail));
    assert_eq!(reason_of("12"), Some(Reason::UnknownSchool));
    assert_eq!(reason_of("13"), Some(Reason::UnreadableHash));
    assert_eq!(reason_of("14"), Some(Reason::UnknownKind));
    assert_eq!(reason_of("15"), Some(Reason::IdentifierTaken));
    assert_eq!(reason_of("16"), Some(Reason::IdentifierCaseDuplicate));
    assert_eq!(reason_of("10"), Some(Reason::DuplicateLegacyId));
    assert_eq!(reason_of("17"), Some(Reason::GuardianNotFound));
    assert_eq!(reason_of("19"), Some(Reason::InvalidIdentifier));
    assert!(
        reported
            .iter()
            .any(|r| r.reason == Reason::MissingIdentifier)
    );
    let case = reported
        .iter()
        .find(|r| r.reason == Reason::IdentifierCaseDuplicate)
        .unwrap();
    assert!(
        case.detail.contains("differing only in case"),
        "{}",
        case.detail
    );
    assert!(case.detail.contains("legacy row 10"), "{}", case.detail);
    // The stored report keeps the row as read, so it can be fixed later.
    let mail = reported
        .iter()
        .find(|r| r.reason == Reason::InvalidEmail)
        .unwrap();
    assert_eq!(mail.record.emails, ["not-an-address"]);

    // A JSON line that cannot be read, or names a field the layout does not have, is
    // reported as such and the next line is read.
    let lines = "{\"legacy_id\":\"30\",\"identifier\":\"fine.json\",\"kind\":\"pupil\"}\n\
        {\"legacy_id\": \"31\", \n\
        {\"legacy_id\":\"32\",\"identifer\":\"typo\",\"kind\":\"pupil\"}\n\
        {\"legacy_id\":\"33\",\"identifier\":\"fine.too\",\"kind\":\"pupil\"}\n";
    let path = write(&dir.0, "bad.jsonl", lines.as_bytes());
    let run = migrate(
        &server,
        "legacy-json",
        &mut JsonLinesSource::open(&path).unwrap(),
        false,
    );
    assert_eq!((run.counts.created, run.counts.skipped), (2, 2));
    let reported = migration::problems(&mut conn, &run.id).unwrap();
    assert!(reported.iter().all(|r| r.reason == Reason::UnreadableRow));
    assert!(
        reported[1].detail.contains("identifer"),
        "{}",
        reported[1].detail
    );
}
both_backends!(bad_rows_are_reported_and_a_dry_run_writes_nothing);

/// Every legacy format, migrated from a file: a wrong password fails; the right one logs
/// in through the `openidconnect` relying party (or, for a weak format, is first asked for
/// a new password); then the stored hash is argon2id and the legacy one is gone.
async fn every_legacy_format_logs_in_through_the_relying_party(backend: Backend) {
    let dir = temp_dir();
    let server = TestServer::start(backend).await;
    let mut lines = String::new();
    for (n, (stored, _)) in LEGACY_HASHES.iter().enumerate() {
        let row = serde_json::json!({
            "legacy_id": format!("h{n}"), "identifier": format!("legacy.{n}"),
            "kind": "staff", "password_hash": stored, "locale": "en",
        });
        lines.push_str(&format!("{row}\n"));
    }
    // Formats that need their salt column, as the row declares them (all weak digests).
    let declared = [
        ("md5", "e2876b5768a6d88ddb0664d7f89dbfbb", "pepper", "after"),
        (
            "sha1",
            "8f419fb4579926beb5ecabab952e6da5791c3d58",
            "salz",
            "before",
        ),
        (
            "aspnet-membership-sha256",
            "jmFNb8Rz1Mm8A9aXMCYRdsiLE9rqTNWvbvr8ljB832A=",
            "EBESExQVFhcYGRobHB0eHw==",
            "",
        ),
    ];
    for (n, (format, hash, salt, at)) in declared.iter().enumerate() {
        let row = serde_json::json!({
            "legacy_id": format!("d{n}"), "identifier": format!("declared.{n}"),
            "kind": "staff", "password_hash": hash, "password_format": format, "locale": "en",
            "password_salt": salt, "salt_position": at,
        });
        lines.push_str(&format!("{row}\n"));
    }
    let path = write(&dir.0, "hashes.jsonl", lines.as_bytes());
    let run = migrate(
        &server,
        "old-platform",
        &mut JsonLinesSource::open(&path).unwrap(),
        false,
    );
    assert_eq!(
        run.counts.created as usize,
        LEGACY_HASHES.len() + declared.len(),
        "{:?}",
        run.counts
    );

    let (client, http) = relying_party(&server, "school-app", Some(SECRET)).await;
    let every = LEGACY_HASHES
        .iter()
        .enumerate()
        .map(|(n, (stored, weak))| (format!("legacy.{n}"), *stored, *weak))
        .chain(
            declared
                .iter()
                .enumerate()
                .map(|(n, d)| (format!("declared.{n}"), d.0, true)),
        );
    for (username, stored, weak) in every {
        let rp = rp_request(&client, &[]);
        let wrong = login_response(&browser(), &server, &rp.url, &username, "ecole-2019!").await;
        assert_eq!(wrong.status(), 200, "{stored}: a wrong password is refused");
        let rp = rp_request(&client, &[]);
        let browser = crate::support::browser();
        let right = login_response(&browser, &server, &rp.url, &username, LEGACY_PASSWORD).await;
        assert_eq!(right.status(), 303, "{stored}");
        // A migrated account's first login begins with "your account has moved".
        assert_eq!(location(&right), "/wizard", "{stored}");
        let (page, next) = wizard_press_next(&browser, &server).await;
        assert!(page.contains("Your account has moved"), "{stored}: {page}");
        let mut conn = server.idp.conn().unwrap();
        let account = users::lookup(&mut conn, &username).unwrap();
        if weak {
            // A weak format asks for a new password next, before any code.
            assert_eq!(next.status(), 200, "{stored}");
            let page = next.text().await.unwrap();
            assert!(page.contains("name=\"confirmation\""), "{stored}: {page}");
        } else {
            assert_eq!(next.status(), 303, "{stored}");
            let next = location(&next);
            let code = query_param(&next, "code").unwrap_or_else(|| panic!("{stored}: {next}"));
            let (_, claims) = rp_redeem(&client, &http, code, rp).await;
            assert_eq!(
                claims.subject().as_str(),
                account.id.to_string(),
                "{stored}"
            );
        }
        let argon2 = account.password_hash.as_deref().unwrap_or_default();
        assert!(argon2.starts_with("$argon2id$"), "{stored}: {argon2}");
        assert_eq!(account.legacy_password_hash, None, "{stored}");
    }
}
both_backends!(every_legacy_format_logs_in_through_the_relying_party);

/// The `account-migration` binary next to this test binary (`cargo test` does not build
/// another package's binaries; `scripts/test` builds it first).
fn migration_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let binary = dir.join(format!("account-migration{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} is missing: build it with `cargo build -p account-migration` (scripts/test does)",
        binary.display()
    );
    binary
}

fn migrated_count(server: &TestServer) -> i64 {
    use diesel::QueryDsl;
    use idp::store::schema::migrated_accounts;
    let mut conn = server.idp.conn().unwrap();
    migrated_accounts::table
        .count()
        .get_result(&mut conn)
        .unwrap()
}

/// A real `account-migration` process, killed (SIGKILL) in the middle of a big file, then
/// run again: it finishes, without a duplicate, and the killed run is marked interrupted.
/// Meanwhile the STS serves a login (how long such logins wait: `migration-bench`).
async fn killed_in_the_middle_then_resumed(backend: Backend) {
    let dir = temp_dir();
    let server = TestServer::start(backend).await;
    const ROWS: usize = 40_000;
    let mut file = String::from("legacy_id,identifier,email,kind\n");
    for n in 0..ROWS {
        file.push_str(&format!("{n},pupil.{n},family{}@example.be,pupil\n", n / 2));
    }
    let path = write(&dir.0, "big.csv", file.as_bytes());
    let mut child = std::process::Command::new(migration_binary())
        .args(["run", "--source", "big", "--batch-size", "200", "--csv"])
        .arg(&path)
        .arg("--report")
        .arg(dir.0.join("killed"))
        .env("IDP_DATABASE_URL", &server.idp.settings.database_url)
        .env("IDP_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while migrated_count(&server) < 1_000 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the migration ended before it could be killed"
        );
        assert!(started.elapsed().as_secs() < 60, "no progress");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // While the import writes, a person already here logs in: on SQLite the import leaves
    // the write lock free between its stretches of batches, and the login's writes get in.
    let url = authorize_url(&server, "openid", "&state=st&nonce=n");
    let browser = crate::support::browser();
    let resp = login_response(&browser, &server, &url, USERNAME, PASSWORD).await;
    assert!(
        location(&resp).starts_with(REDIRECT),
        "a login during the import"
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "the import was still running"
    );
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    let partial = migrated_count(&server);
    assert!(
        partial < ROWS as i64,
        "killed before the end ({partial} rows in)"
    );

    let resumed = migrate(
        &server,
        "big",
        &mut CsvSource::open(&path, None, Encoding::Auto, &Mapping::default()).unwrap(),
        false,
    );
    assert_eq!(migrated_count(&server), ROWS as i64);
    assert_eq!(
        resumed.counts.created + resumed.counts.unchanged,
        ROWS as u64,
        "{:?}",
        resumed.counts
    );
    assert!(resumed.counts.unchanged >= partial as u64);
    assert_eq!(resumed.counts.skipped, 0);
    let mut conn = server.idp.conn().unwrap();
    let family = users::find_by_email(&mut conn, "family7@example.be").unwrap();
    assert_eq!(family.len(), 2);
    let runs = migration::runs(&mut conn).unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(
        serde_json::to_value(runs[1].status).unwrap(),
        "interrupted",
        "the killed run is marked so"
    );
}
both_backends!(killed_in_the_middle_then_resumed);

/// "Forgot password?" for `identifier` within the pending login `request`: the
/// confirmation page.
async fn forgot_password(
    browser: &reqwest::Client,
    server: &TestServer,
    request: &str,
    identifier: &str,
) -> String {
    let forgot = browser
        .get(server.url(&format!("/forgot?request={request}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let resp = browser
        .post(server.url("/forgot"))
        .form(&[
            ("request", request),
            ("csrf", input_value(&forgot, "csrf").as_str()),
            ("identifier", identifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap()
}

/// The wizard page the browser is on, and its answer to "Next".
async fn wizard_press_next(
    browser: &reqwest::Client,
    server: &TestServer,
) -> (String, reqwest::Response) {
    let page = browser
        .get(server.url("/wizard"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let resp = browser
        .post(server.url("/wizard"))
        .form(&[
            ("csrf", input_value(&page, "csrf")),
            ("action", "next".to_owned()),
        ])
        .send()
        .await
        .unwrap();
    (page, resp)
}

/// The wizard page the browser is on, and where "Next" sends it.
async fn wizard_next(browser: &reqwest::Client, server: &TestServer) -> (String, String) {
    let (page, resp) = wizard_press_next(browser, server).await;
    assert_eq!(resp.status(), 303, "{page}");
    (page, location(&resp))
}

/// A migrated account's first login shows "your account has moved" with the new
/// identifier; the old one keeps working, each time with that notice, until
/// `old_identifier_days` after the migration. An account migrated without a password
/// resets by its identifier at once.
async fn the_old_identifier_works_with_its_notice(backend: Backend) {
    let dir = temp_dir();
    let (server, inbox) = TestServer::with_mail(backend, |s| s.old_identifier_days = 180).await;
    let rows = format!(
        "{}\n{}\n",
        serde_json::json!({"legacy_id": "7", "identifier": "lucas.peeters",
            "old_identifier": "LPeeters", "kind": "pupil", "locale": "en",
            "password_hash": LEGACY_HASHES[7].0}),
        serde_json::json!({"legacy_id": "8", "identifier": "sofie.claes", "kind": "staff",
            "email": "sofie.claes@example.be", "locale": "en"}),
    );
    let path = write(&dir.0, "moved.jsonl", rows.as_bytes());
    migrate(
        &server,
        "old",
        &mut JsonLinesSource::open(&path).unwrap(),
        false,
    );

    // First login, with the old identifier: the moved step names both.
    let browser = browser();
    let url = authorize_url(&server, "openid", "&state=st&nonce=n");
    let resp = login_response(&browser, &server, &url, "lpeeters", LEGACY_PASSWORD).await;
    assert_eq!(location(&resp), "/wizard");
    let (page, next) = wizard_next(&browser, &server).await;
    assert!(page.contains("Your account has moved"), "{page}");
    assert!(
        page.contains("log in with the identifier lucas.peeters")
            && page.contains("Your old identifier LPeeters keeps working until"),
        "{page}"
    );
    assert!(next.starts_with(REDIRECT), "{next}");

    // Again with the old identifier: the notice again, then the application.
    let browser = crate::support::browser();
    let resp = login_response(&browser, &server, &url, "LPEETERS", LEGACY_PASSWORD).await;
    assert_eq!(location(&resp), "/wizard");
    let (page, next) = wizard_next(&browser, &server).await;
    assert!(page.contains("lucas.peeters"), "{page}");
    assert!(next.starts_with(REDIRECT), "{next}");
    // With the new identifier: straight to the application.
    let resp = login_response(
        &crate::support::browser(),
        &server,
        &url,
        "lucas.peeters",
        LEGACY_PASSWORD,
    )
    .await;
    assert!(location(&resp).starts_with(REDIRECT));

    // 181 days later the old identifier is no one's.
    server.clock.advance(chrono::Duration::days(181));
    let resp = login_response(
        &crate::support::browser(),
        &server,
        &url,
        "lpeeters",
        LEGACY_PASSWORD,
    )
    .await;
    assert_eq!(resp.status(), 200, "refused like any unknown identifier");
    let resp = login_response(
        &crate::support::browser(),
        &server,
        &url,
        "lucas.peeters",
        LEGACY_PASSWORD,
    )
    .await;
    assert!(location(&resp).starts_with(REDIRECT));

    // No hash: "Forgot password?" by identifier sends the reset at once.
    let browser = crate::support::browser();
    let resp = browser.get(&url).send().await.unwrap();
    let request = query_param(&server.url(&location(&resp)), "request").unwrap();
    forgot_password(&browser, &server, &request, "sofie.claes").await;
    let mails = inbox.wait_for(1).await;
    assert!(
        mails[0].to.contains("sofie.claes@example.be"),
        "{:?}",
        mails[0].to
    );
    assert!(!mails[0].links(&server, "/reset").is_empty());
}
both_backends!(the_old_identifier_works_with_its_notice);

/// Invitations go through the outbox at the configured pace per recipient domain: with 2
/// an hour, a school's four accounts leave 30 minutes apart, Gmail's two likewise, each
/// domain from its own first slot. Accounts with a working legacy password, disabled ones
/// and those without an address are not invited; a second run invites no one again.
async fn invitations_leave_at_the_configured_pace(backend: Backend) {
    let dir = temp_dir();
    let (server, inbox) = TestServer::with_mail(backend, |_| {}).await;
    let mut rows = String::new();
    let people = [
        ("1", "school.example", "", "1"),
        ("2", "school.example", "", "1"),
        ("3", "school.example", "", "1"),
        ("4", "school.example", "", "1"),
        ("5", "gmail.example", "", "1"),
        ("6", "gmail.example", "", "1"),
        ("7", "school.example", LEGACY_HASHES[7].0, "1"),
        ("8", "school.example", "", "0"),
    ];
    for (id, domain, hash, active) in people {
        rows.push_str(&format!(
            "{}\n",
            serde_json::json!({"legacy_id": id, "identifier": format!("person.{id}"),
                "email": format!("person.{id}@{domain}"), "kind": "guardian", "locale": "en",
                "password_hash": hash, "active": active})
        ));
    }
    rows.push_str("{\"legacy_id\":\"9\",\"identifier\":\"no.address\",\"kind\":\"pupil\"}\n");
    let path = write(&dir.0, "invite.jsonl", rows.as_bytes());
    migrate(
        &server,
        "old",
        &mut JsonLinesSource::open(&path).unwrap(),
        false,
    );

    let pace = migration::invite::Pace {
        per_domain_per_hour: 2,
        everyone: false,
        valid_days: 14,
    };
    let source = SourceName::parse("old").unwrap();
    let mut conn = server.idp.conn().unwrap();
    let now = server.idp.now();
    let done = migration::invite::invite(
        &server.idp,
        &mut conn,
        migration::invite::Invitees::all(&source),
        pace,
    )
    .unwrap();
    assert_eq!(done.invited, 6);
    let (school, last_school) = done.domains["school.example"];
    let (gmail, last_gmail) = done.domains["gmail.example"];
    assert_eq!((school, gmail), (4, 2));
    let minutes = |at: chrono::DateTime<chrono::Utc>| (at - now).num_minutes();
    assert_eq!((minutes(last_school), minutes(last_gmail)), (90, 30));

    // At once: the first of each domain; the others at their slots.
    let first = inbox.wait_for(2).await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(inbox.mails().len(), 2, "the others wait for their slot");
    let invitation = &first[0];
    assert_eq!(
        invitation.subject,
        "Your school account has moved: choose your password"
    );
    assert!(!invitation.links(&server, "/reset").is_empty());
    server.clock.advance(chrono::Duration::minutes(31));
    inbox.wait_for(4).await;
    server.clock.advance(chrono::Duration::minutes(60));
    let all = inbox.wait_for(6).await;
    let mut to: Vec<&str> = all.iter().map(|m| m.to.as_str()).collect();
    to.sort();
    assert!(
        to.iter()
            .all(|t| !t.contains("person.7") && !t.contains("person.8"))
    );

    // A second run finds no one left to invite.
    let again = migration::invite::invite(
        &server.idp,
        &mut conn,
        migration::invite::Invitees::all(&source),
        pace,
    )
    .unwrap();
    assert_eq!(again.invited, 0);

    // The link works after the mail left, for 14 days.
    let link = invitation.links(&server, "/reset")[0].clone();
    let page = crate::support::browser()
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("name=\"password\""), "{page}");
}
both_backends!(invitations_leave_at_the_configured_pace);

/// During an organising body's migration period the login page carries the notice (its
/// own text, or the built-in one) with a button to "Forgot password?" that keeps the
/// application's pending login; the forgot-password confirmation names whom to contact,
/// whatever was typed. Outside the period, neither.
async fn the_migration_period_shows_on_the_login_and_forgot_pages(backend: Backend) {
    use idp::domain::migration::period::{self, Period};
    let server = TestServer::start(backend).await;
    schools_of_the_body(&server);
    let mut conn = server.idp.conn().unwrap();
    let body = schools::find_body(&mut conn, BODY).unwrap();
    let today = server.idp.now().date_naive();
    let period = Period {
        organising_body: body.id,
        starts_on: today - chrono::Duration::days(1),
        ends_on: today + chrono::Duration::days(30),
        notices: [(
            "nl".to_owned(),
            "Nieuw platform! Kies een wachtwoord.".to_owned(),
        )]
        .into(),
        contact: Some("het secretariaat, 02 123 45 67".to_owned()),
    };
    period::set(&mut conn, &period).unwrap();

    let page_of = |lang: &'static str| {
        let server = &server;
        async move {
            let browser = crate::support::browser();
            let url = authorize_url(
                server,
                "openid",
                &format!("&state=st&nonce=n&ui_locales={lang}"),
            );
            let resp = browser.get(&url).send().await.unwrap();
            let login = location(&resp);
            let request = query_param(&server.url(&login), "request").unwrap();
            let page = browser
                .get(server.url(&login))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            (browser, request, page)
        }
    };
    let (_, request, page) = page_of("nl").await;
    assert!(
        page.contains("Nieuw platform! Kies een wachtwoord."),
        "{page}"
    );
    assert!(page.contains(&format!(
        "href=\"/forgot?request={request}\" id=\"migration-forgot\""
    )));
    let (browser, request, page) = page_of("en").await;
    assert!(
        page.contains("Your account has probably been moved here"),
        "{page}"
    );

    // Whatever is typed, the confirmation says whom to contact.
    let sent = forgot_password(&browser, &server, &request, "nobody.at.all").await;
    assert!(
        sent.contains(
            "may not have been moved to this platform yet. Contact het secretariaat, 02 123 45 67."
        ),
        "{sent}"
    );

    // After the period: no notice, no hint.
    server.clock.advance(chrono::Duration::days(32));
    let (_, _, page) = page_of("en").await;
    assert!(!page.contains("migration-notice"), "{page}");
}
both_backends!(the_migration_period_shows_on_the_login_and_forgot_pages);
