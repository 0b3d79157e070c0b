//! Mail that reaches the inbox: every kind of mail the STS sends, as a real SMTP server on
//! loopback receives it, checked for the RFC 5322 essentials and scored by a real
//! SpamAssassin (Debian's `spamassassin`, local rules only, no network).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Command, Stdio};

use idp::domain::links::{self, RelationLabel};
use idp::domain::mail::MailKind;
use idp::domain::recovery::{self, Delivery, NewPassword, Origin, ResetRequest};
use idp::domain::resets::Purpose;
use idp::domain::users;
use idp::i18n::Locale;
use mail_parser::MimeHeaders;

use crate::both_backends;
use crate::support::*;

const SENDER_DOMAIN: &str = "sts.school.example";
/// The issuer as in production: links on a port of their own score (`WEIRD_PORT`), and the
/// test server's port is one. These tests follow no link (the recovery tests do).
const ISSUER: &str = "https://sts.school.example";
const ORIGIN: Origin<'static> = Origin {
    address: "192.0.2.7",
    client_id: None,
    language: None,
};

/// Rules that fire on every mail with an HTML part, which the mails must have; they say
/// so (`HTML_MESSAGE` scores 0.001, as SpamAssassin's informational rules do) and judge
/// nothing else.
const INFORMATIONAL: [&str; 1] = ["HTML_MESSAGE"];

/// What SpamAssassin finds in `raw`: each rule that fired with its score.
fn spam_rules(raw: &str) -> BTreeMap<String, f64> {
    let mut child = Command::new("spamassassin")
        .args([
            "--local",
            "--nocreate-prefs",
            "--cf",
            "use_bayes 0",
            "--cf",
            "add_header all Tests _TESTSSCORES(,)_",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spamassassin is installed (scripts/system-deps installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(raw.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "spamassassin failed");
    let scored = String::from_utf8_lossy(&out.stdout).into_owned();
    // The header may be folded over several lines.
    let mut header = String::new();
    let mut lines = scored.lines();
    for line in lines.by_ref() {
        if let Some(rest) = line.strip_prefix("X-Spam-Tests:") {
            header.push_str(rest);
            break;
        }
    }
    for line in lines {
        if !line.starts_with([' ', '\t']) {
            break;
        }
        header.push_str(line);
    }
    assert!(!header.is_empty(), "no X-Spam-Tests header in {scored}");
    header
        .split(',')
        .filter_map(|pair| pair.trim().split_once('='))
        .map(|(rule, score)| (rule.to_owned(), score.parse().unwrap()))
        .collect()
}

/// The rules that added points to `raw`.
fn penalties(raw: &str) -> Vec<(String, f64)> {
    spam_rules(raw)
        .into_iter()
        .filter(|(rule, score)| *score > 0.0 && !INFORMATIONAL.contains(&rule.as_str()))
        .collect()
}

/// Every URL in a text or HTML body.
fn urls(body: &str) -> Vec<String> {
    let mut found = Vec::new();
    for start in ["http://", "https://"] {
        let mut rest = body;
        while let Some(at) = rest.find(start) {
            let url: String = rest[at..]
                .chars()
                .take_while(|c| !c.is_whitespace() && !matches!(c, '"' | '<' | '>' | '\''))
                .collect();
            rest = &rest[at + url.len()..];
            found.push(url);
        }
    }
    found
}

/// Every value of an HTML attribute `name` (`href`, `src`).
fn attribute_values(html: &str, name: &str) -> Vec<String> {
    let pattern = format!("{name}=\"");
    html.match_indices(&pattern)
        .map(|(at, _)| {
            html[at + pattern.len()..]
                .chars()
                .take_while(|c| *c != '"')
                .collect()
        })
        .collect()
}

/// The RFC 5322 and MIME essentials of a received mail, and the rules of automated mail.
fn check_essentials(raw: &str, to: &str, language: Locale) {
    let message = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .expect("a MIME message");
    let id = message.message_id().expect("a Message-ID");
    assert!(id.ends_with(&format!("@{SENDER_DOMAIN}")), "{id}");
    assert!(message.date().is_some(), "a Date");
    let from = message.from().and_then(|f| f.first()).expect("a From");
    assert_eq!(from.address(), Some("no-reply@sts.school.example"));
    assert_eq!(from.name(), Some("Service d'identification"));
    let from_line = raw.lines().find(|l| l.starts_with("From:")).unwrap();
    assert!(!from_line.contains("=?"), "no encoding needed: {from_line}");
    let recipients: Vec<_> = message.to().unwrap().iter().collect();
    assert_eq!(recipients.len(), 1, "one To");
    assert_eq!(recipients[0].address(), Some(to));
    assert!(message.cc().is_none() && message.bcc().is_none());
    let reply_to = message.reply_to().and_then(|r| r.first()).unwrap();
    assert_eq!(reply_to.address(), Some("helpdesk@school.example"));
    assert_eq!(
        message.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-generated")
    );
    assert_eq!(
        message.header_raw("Content-Language").map(str::trim),
        Some(language.as_str())
    );
    let content_type = message.content_type().unwrap();
    assert_eq!(
        (content_type.ctype(), content_type.subtype()),
        ("multipart", Some("alternative"))
    );
    assert_eq!(
        (message.text_body_count(), message.html_body_count()),
        (1, 1),
        "a text and an HTML alternative"
    );
    for line in raw.split("\r\n") {
        assert!(line.len() <= 998, "a line of {} characters", line.len());
    }
    // Links only to the issuer's own pages; no images, no remote resources.
    let text = message.body_text(0).unwrap();
    let html = message.body_html(0).unwrap();
    assert!(!html.contains("<img") && !html.contains("url("), "{html}");
    assert!(attribute_values(&html, "src").is_empty(), "{html}");
    let hrefs = attribute_values(&html, "href");
    for link in urls(&text).iter().chain(&hrefs).chain(&urls(&html)) {
        assert!(
            link.starts_with(&format!("{ISSUER}/")),
            "{link} is not on the issuer"
        );
    }
    // " UTC" as chrono writes a zone it was not given; a token or code may hold the letters.
    assert!(
        !text.contains(" UTC"),
        "times in the organising body's zone"
    );
}

/// A reset, a family reset, identifiers, a temporary password, a "password changed" and
/// the test mail: each arrives with the headers receivers expect and no rule of
/// SpamAssassin adds a point to it.
async fn every_mail_reaches_the_inbox(backend: Backend) {
    let (server, inbox) = TestServer::with_mail(backend, |s| {
        s.issuer = ISSUER.into();
        s.mail_from = format!("Service d'identification <no-reply@{SENDER_DOMAIN}>");
        s.mail_reply_to = Some("Help desk <helpdesk@school.example>".into());
    })
    .await;
    // Recipient → (the mail it gets, its language).
    let mut expected: BTreeMap<&str, (MailKind, Locale)> = BTreeMap::new();
    let idp = &server.idp;
    let mut conn = idp.conn().unwrap();

    add_user(&server, "marie.claes", Some("marie.claes@example.be"), "fr");
    let reset = ResetRequest {
        identifier: "marie.claes",
        email: "",
        resume_request: None,
        origin: ORIGIN,
    };
    recovery::forgot_password(idp, &mut conn, reset).unwrap();
    expected.insert("marie.claes@example.be", (MailKind::Reset, Locale::Fr));

    add_user(
        &server,
        "lea.peeters",
        Some("gezin.peeters@example.be"),
        "nl",
    );
    add_user(
        &server,
        "tom.peeters",
        Some("gezin.peeters@example.be"),
        "nl",
    );
    let family = ResetRequest {
        identifier: "gezin.peeters@example.be",
        ..reset
    };
    recovery::forgot_password(idp, &mut conn, family).unwrap();
    expected.insert("gezin.peeters@example.be", (MailKind::Reset, Locale::Nl));

    let noah = add_user(&server, "noah.weber", Some("noah.weber@example.de"), "de");
    recovery::issue_temporary_password(idp, &mut conn, &noah, Delivery::Mail, "a test").unwrap();
    expected.insert(
        "noah.weber@example.de",
        (MailKind::TemporaryPassword, Locale::De),
    );

    let sofie = add_user(
        &server,
        "sofie.smith",
        Some("sofie.smith@example.org"),
        "en",
    );
    let new = NewPassword {
        password: "Velo-Riviere-Lune-42",
        confirmation: "Velo-Riviere-Lune-42",
        email: None,
    };
    let refused =
        recovery::change_password(idp, &mut conn, &sofie, new, Purpose::Change, ORIGIN).unwrap();
    assert!(refused.is_empty(), "{refused:?}");
    expected.insert(
        "sofie.smith@example.org",
        (MailKind::PasswordChanged, Locale::En),
    );

    // A teacher moves her account to another address: the one it had is told.
    let anna = add_user(
        &server,
        "anna.lambert",
        Some("anna.lambert@example.be"),
        "fr",
    );
    recovery::email_changed(
        idp,
        &mut conn,
        &anna,
        Some("anna.l@example.org"),
        ORIGIN,
        idp.now(),
    )
    .unwrap();
    expected.insert(
        "anna.lambert@example.be",
        (MailKind::EmailChanged, Locale::Fr),
    );

    // A Microsoft sign-in is linked to a teacher's account: she is told.
    let lotte = add_user(
        &server,
        "lotte.janssens",
        Some("lotte.janssens@example.be"),
        "nl",
    );
    recovery::sign_in_changed(
        idp,
        &mut conn,
        lotte.id,
        "microsoft",
        true,
        ORIGIN,
        idp.now(),
    )
    .unwrap();
    expected.insert(
        "lotte.janssens@example.be",
        (MailKind::SignInChanged, Locale::Nl),
    );

    // A guardian asks which identifiers use the address: hers and her child's.
    let child = add_user(&server, "emma.dubois", None, "fr");
    let mother = add_user(&server, "claire.dubois", Some("claire@example.fr"), "fr");
    let mother_label = RelationLabel::parse("mother").unwrap();
    links::link(&mut conn, child.id, mother.id, &mother_label, idp.now()).unwrap();
    recovery::forgot_identifier(idp, &mut conn, "claire@example.fr", ORIGIN).unwrap();
    expected.insert("claire@example.fr", (MailKind::Identifiers, Locale::Fr));

    // A migrated account without a password is invited to choose one.
    let export = std::env::temp_dir().join(format!("invite-{}.jsonl", uuid::Uuid::new_v4()));
    std::fs::write(
        &export,
        r#"{"legacy_id":"1","identifier":"jonas.maes","email":"jonas.maes@example.be","kind":"staff","locale":"nl"}"#,
    )
    .unwrap();
    let mut source = account_migration::source::jsonl::JsonLinesSource::open(&export).unwrap();
    let old = idp::domain::migration::SourceName::parse("old").unwrap();
    account_migration::run::run_quietly(
        &mut conn,
        &server.clock,
        &mut source,
        &account_migration::run::Options::new(old.clone()),
    )
    .unwrap();
    let _ = std::fs::remove_file(&export);
    let pace = idp::domain::migration::invite::Pace {
        per_domain_per_hour: 60,
        everyone: false,
        valid_days: 14,
    };
    idp::domain::migration::invite::invite(
        idp,
        &mut conn,
        idp::domain::migration::invite::Invitees::all(&old),
        pace,
    )
    .unwrap();
    expected.insert("jonas.maes@example.be", (MailKind::Invitation, Locale::Nl));

    let test = idp
        .mail
        .render(
            MailKind::Test,
            Locale::Fr,
            "ict@example.be",
            serde_json::json!({"identifier": "ict.coordinator", "email": "ict@example.be"}),
        )
        .unwrap();
    idp::domain::mail::enqueue(&mut conn, &test, idp.now()).unwrap();
    expected.insert("ict@example.be", (MailKind::Test, Locale::Fr));

    // Every kind of mail the STS sends is here: a new one fails this test until it is.
    let kinds: BTreeSet<&str> = expected.values().map(|(kind, _)| kind.name()).collect();
    let all: BTreeSet<&str> = MailKind::ALL.iter().map(|kind| kind.name()).collect();
    assert_eq!(kinds, all, "every kind of mail is scored");

    inbox.wait_for(expected.len()).await;
    let raws = inbox.messages();
    assert_eq!(raws.len(), expected.len(), "one mail per recipient");
    let mut ids = BTreeSet::new();
    for raw in &raws {
        let parsed = mail_parser::MessageParser::default()
            .parse(raw.as_bytes())
            .unwrap();
        let to = parsed
            .to()
            .and_then(|t| t.first())
            .and_then(|a| a.address());
        let to = to.unwrap().to_ascii_lowercase();
        let (_, language) = expected[to.as_str()];
        check_essentials(raw, &to, language);
        assert!(
            ids.insert(parsed.message_id().unwrap().to_owned()),
            "unique"
        );
    }

    // SpamAssassin takes a few seconds to start: score the mails side by side.
    let scored: Vec<(String, Vec<(String, f64)>)> = std::thread::scope(|s| {
        let runs: Vec<_> = raws
            .iter()
            .map(|raw| s.spawn(move || penalties(raw)))
            .collect();
        raws.iter()
            .zip(runs)
            .map(|(raw, run)| (raw.clone(), run.join().unwrap()))
            .collect()
    });
    for (raw, points) in &scored {
        assert!(points.is_empty(), "rules adding points: {points:?}\n{raw}");
    }
}
both_backends!(every_mail_reaches_the_inbox);

/// The scoring itself can fail: the same mail without its Message-ID loses points, as
/// it did before every mail had one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spam_check_sees_a_missing_message_id() {
    let (server, inbox) = TestServer::with_mail(Backend::Sqlite, |s| {
        s.issuer = ISSUER.into();
        s.mail_from = format!("Service d'identification <no-reply@{SENDER_DOMAIN}>");
    })
    .await;
    let mut conn = server.idp.conn().unwrap();
    let account = users::find_by_username(&mut conn, USERNAME)
        .unwrap()
        .unwrap();
    recovery::issue_temporary_password(&server.idp, &mut conn, &account, Delivery::Mail, "a test")
        .unwrap();
    inbox.wait_for(1).await;
    let raw = &inbox.messages()[0];
    let without_id: String = raw
        .split_inclusive("\r\n")
        .filter(|line| !line.starts_with("Message-ID:"))
        .collect();
    assert_ne!(&without_id, raw, "the mail had a Message-ID");
    let rules = spam_rules(&without_id);
    assert!(rules.contains_key("MISSING_MID"), "{rules:?}");
    assert!(penalties(raw).is_empty(), "{:?}", penalties(raw));
}
