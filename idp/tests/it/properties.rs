//! Property-based tests (proptest) of everything that reads what a client or a file sends:
//! form bodies and query strings, the identifiers and addresses people type, authorization
//! requests (with request objects), token requests (with client assertions), bearer
//! tokens, reset links and codes, legacy password hashes, and the migration's CSV and
//! JSON Lines rows. Whatever arrives, the answer is a value or a named client error, never
//! a panic and never an internal error. A failing case proptest finds is written to
//! `idp/proptest-regressions/` (the `proptest!` properties) or
//! `idp/tests/it/properties.regressions` (those run against the server), to be committed:
//! it is replayed first from then on.

use std::sync::OnceLock;

use proptest::prelude::*;

use idp::domain::oidc::{authorize, client_auth, params::Params, tokens};
use idp::domain::types::{ClientId, Email, RedirectUri, RequestId, Username};
use idp::domain::{DomainError, ErrorCode};

use crate::support::*;

/// One server for every property (the parsers do not depend on the backend); started on
/// its own runtime, it serves until the test process ends.
fn server() -> &'static TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(TestServer::start(Backend::Sqlite))
    })
}

/// 256 cases a property; failures kept for the runs against the server.
fn runner() -> proptest::test_runner::TestRunner {
    proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(
                "tests/it/properties.regressions",
            ),
        )),
        ..ProptestConfig::default()
    })
}

/// A client's error or a refusal, not a failure of ours.
fn answered<T>(result: &Result<T, DomainError>) -> bool {
    match result {
        Ok(_) => true,
        Err(e) => e.is_client_error() && e.code() != ErrorCode::ServerError,
    }
}

/// Text of every kind: printable, control characters, quotes, percent escapes, non-ASCII.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,40}",
        ".{0,40}",
        "[%&=+;,'\"<> a-z0-9\\x00-\\x1f]{0,40}",
        Just(String::new()),
    ]
}

/// Something shaped like a JWT: three base64url-ish parts, sometimes real JSON inside.
fn jwt_like() -> impl Strategy<Value = String> {
    use base64::Engine;
    let b64 = |s: String| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    prop_oneof![
        ("[A-Za-z0-9_-]{0,60}", "[A-Za-z0-9_-]{0,80}", "[A-Za-z0-9_-]{0,90}")
            .prop_map(|(h, p, s)| format!("{h}.{p}.{s}")),
        (text(), text(), "[A-Za-z0-9_-]{0,40}").prop_map(move |(h, p, s)| {
            format!(
                "{}.{}.{s}",
                b64(format!("{{\"alg\":\"{h}\",\"kid\":\"x\"}}")),
                b64(format!(
                    "{{\"iss\":\"school-app\",\"sub\":\"school-app\",\"aud\":\"{p}\",\"exp\":9999999999}}"
                ))
            )
        }),
        text(),
    ]
}

const AUTHORIZE_NAMES: [&str; 20] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "ui_locales",
    "login_hint",
    "acr_values",
    "claims",
    "request",
    "request_uri",
    "resource",
    "response_mode",
    "id_token_hint",
    "claims_locales",
];

/// A value for an authorization parameter: often a valid one, so that the request gets
/// far into its checks, else anything.
fn authorize_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("code".to_string()),
        Just("school-app".to_string()),
        Just(REDIRECT.to_string()),
        Just("openid profile email offline_access".to_string()),
        Just("S256".to_string()),
        Just("none login consent".to_string()),
        Just("{\"id_token\":{\"acr\":{\"essential\":true}}}".to_string()),
        Just("urn:ietf:params:oauth:request_uri:x".to_string()),
        "[0-9]{1,12}",
        jwt_like(),
        text(),
    ]
}

fn authorization_request() -> impl Strategy<Value = Vec<(String, String)>> {
    let base = vec![
        ("response_type".to_string(), "code".to_string()),
        ("client_id".to_string(), "school-app".to_string()),
        ("redirect_uri".to_string(), REDIRECT.to_string()),
        ("scope".to_string(), "openid".to_string()),
    ];
    (
        proptest::collection::vec(
            (
                prop_oneof![
                    prop::sample::select(AUTHORIZE_NAMES.to_vec()).prop_map(String::from),
                    text()
                ],
                authorize_value(),
            ),
            0..8,
        ),
        proptest::bool::ANY,
    )
        .prop_map(move |(extra, keep_base)| {
            let mut pairs = if keep_base { base.clone() } else { Vec::new() };
            for (name, value) in extra {
                pairs.retain(|(n, _)| *n != name);
                pairs.push((name, value));
            }
            pairs
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Form bodies and query strings: pairs, or `invalid_request`.
    #[test]
    fn form_bodies(body in prop_oneof![text(), "([a-z_%0-9]{0,8}=[^&]{0,10}&?){0,6}"]) {
        let parsed = idp::web::handlers::parse_pairs(&body);
        prop_assert!(answered(&parsed));
        if let Ok(pairs) = parsed {
            prop_assert!(answered(&Params::from_pairs(pairs)));
        }
    }

    /// What people and administrators type: accepted values read back as themselves.
    #[test]
    fn typed_values(typed in text()) {
        if let Ok(id) = ClientId::parse(&typed) {
            prop_assert_eq!(ClientId::parse(id.as_str()).unwrap(), id);
        }
        if let Ok(name) = Username::parse(&typed) {
            prop_assert_eq!(Username::parse(name.as_str()).unwrap(), name);
        }
        if let Ok(email) = Email::parse(&typed) {
            prop_assert_eq!(Email::parse(email.as_str()).unwrap(), email);
        }
        if let Ok(uri) = RedirectUri::parse(&typed) {
            prop_assert_eq!(RedirectUri::parse(uri.as_str()).unwrap(), uri);
        }
        if let Some(id) = RequestId::parse(&typed) {
            prop_assert!(id.as_str().bytes().all(|b| b.is_ascii_graphic()));
        }
        let _ = idp::domain::resets::normalize_code(&typed);
    }

    /// Stored hashes from legacy systems: read or refused, and a read one checks any
    /// password without failing.
    #[test]
    fn legacy_hashes(
        prefix in prop::sample::select(vec![
            "", "$2b$", "$2y$10$", "pbkdf2_sha256$", "pbkdf2_sha256$1000$", "{CRYPT}", "$1$",
            "$5$", "$6$", "$6$rounds=5000$", "{SSHA}", "{SHA}", "{MD5}", "AQAAAAE",
            "sha1$", "md5$",
        ]),
        tail in text(),
        password in text(),
    ) {
        let stored = format!("{prefix}{tail}");
        if let Ok(hash) = idp::crypto::legacy::LegacyHash::parse(&stored) {
            let _ = hash.verify(&password);
            let _ = hash.format();
        }
    }
}

/// Authorization requests, request objects among them: a redirect, the login form, or a
/// named error; never an internal one.
#[test]
fn authorization_requests() {
    let server = server();
    let mut runner = runner();
    runner
        .run(&authorization_request(), |pairs| {
            let mut conn = server.idp.conn().unwrap();
            let outcome = authorize::authorize(&server.idp, &mut conn, pairs.clone(), None);
            prop_assert!(answered(&outcome), "{pairs:?}: {:?}", outcome.err());
            Ok(())
        })
        .unwrap();
}

/// Token requests with any parameters, client secrets and client assertions: tokens or
/// a named error.
#[test]
fn token_requests() {
    let server = server();
    let names = vec![
        "grant_type",
        "code",
        "redirect_uri",
        "refresh_token",
        "scope",
        "code_verifier",
        "client_id",
        "client_secret",
        "client_assertion",
        "client_assertion_type",
        "resource",
    ];
    let request = proptest::collection::vec(
        (
            prop::sample::select(names),
            prop_oneof![
                Just("authorization_code".to_string()),
                Just("refresh_token".to_string()),
                Just("client_credentials".to_string()),
                Just("school-app".to_string()),
                Just(SECRET.to_string()),
                Just("urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string()),
                jwt_like(),
                text(),
            ],
        ),
        0..7,
    );
    let basic = proptest::option::of((text(), text()));
    let mut runner = runner();
    runner
        .run(&(request, basic), |(pairs, basic)| {
            let pairs: Vec<(String, String)> =
                pairs.into_iter().map(|(n, v)| (n.to_string(), v)).collect();
            let Ok(params) = Params::from_pairs(pairs.clone()) else {
                return Ok(());
            };
            let mut conn = server.idp.conn().unwrap();
            let basic = basic
                .map(|(client_id, secret)| client_auth::BasicCredentials { client_id, secret });
            let client = client_auth::authenticate(&server.idp, &mut conn, basic, &params);
            prop_assert!(answered(&client), "{pairs:?}: {:?}", client.as_ref().err());
            if let Ok(client) = client {
                let granted = tokens::grant(&server.idp, &mut conn, &client, &params);
                prop_assert!(
                    answered(&granted),
                    "{pairs:?}: {:?}",
                    granted.as_ref().err()
                );
            }
            Ok(())
        })
        .unwrap();
}

/// Bearer tokens at UserInfo and introspection, reset links and codes: refused (or
/// inactive), never an internal error.
#[test]
fn presented_tokens() {
    let server = server();
    let mut runner = runner();
    runner
        .run(&jwt_like(), |token| {
            let mut conn = server.idp.conn().unwrap();
            let info = tokens::userinfo(&server.idp, &mut conn, &token);
            prop_assert!(info.is_err() && answered(&info), "{token}: {info:?}");
            let seen = tokens::introspect(&server.idp, &mut conn, &token).unwrap();
            prop_assert_eq!(&seen["active"], &serde_json::json!(false));
            let now = server.idp.now();
            let reset = idp::domain::resets::find_by_token(&mut conn, &token, now).unwrap();
            prop_assert!(reset.is_err(), "no reset has this token");
            Ok(())
        })
        .unwrap();
}

/// The migration's sources: any bytes under a real header, or any bytes at all, read as
/// rows or row errors (or the file refused), never a panic.
#[test]
fn migration_sources() {
    use account_migration::source::csv::{CsvSource, Encoding};
    use account_migration::source::jsonl::JsonLinesSource;
    use account_migration::source::mapping::Mapping;
    let dir =
        TempDir(std::env::temp_dir().join(format!("idp-props-{}", uuid::Uuid::new_v4().simple())));
    std::fs::create_dir_all(&dir.0).unwrap();
    const HEADER: &str = "legacy_id;identifier;email;given_name;family_name;kind;organising_body;schools;guardians;password_hash;active\n";
    let body = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..400),
        proptest::collection::vec("[^\\n]{0,60}", 0..6).prop_map(|rows| format!(
            "{HEADER}{}",
            rows.join("\n")
        )
        .into_bytes()),
        proptest::collection::vec(("[0-9]{0,4}", "[a-z.]{0,12}", text(), text()), 0..5).prop_map(
            |rows| {
                let lines: Vec<String> = rows
                    .into_iter()
                    .map(|(id, name, mail, hash)| {
                        format!("{id};{name};{mail};A;B;pupil;Org;\"S;1\";;{hash};yes")
                    })
                    .collect();
                format!("{HEADER}{}", lines.join("\r\n")).into_bytes()
            }
        ),
    ];
    let mut runner = runner();
    let path = dir.0.join("source");
    runner
        .run(&body, |bytes| {
            std::fs::write(&path, &bytes).unwrap();
            if let Ok(source) = CsvSource::open(&path, None, Encoding::Auto, &Mapping::default()) {
                for row in source {
                    let _ = row.record;
                }
            }
            if let Ok(source) = JsonLinesSource::open(&path) {
                for row in source {
                    let _ = row.record;
                }
            }
            Ok(())
        })
        .unwrap();
}
