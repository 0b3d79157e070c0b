//! Test harness: fresh databases, an in-process server with a movable clock, a browser-like
//! HTTP client.

use std::net::TcpListener;
use std::sync::Arc;

use diesel::{Connection, RunQueryDsl};
use idp::config::Settings;
use idp::domain::Idp;
use idp::domain::clients::{self, AuthMethod, GrantType, NewClient};
use idp::domain::clock::OffsetClock;
use idp::domain::types::{ClientId, Email, RedirectUri, SigningAlg, Username};
use idp::domain::users::{self, NewUser};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Declares one test per backend from an `async fn(Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::support::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::support::Backend::Postgres).await
            }
        }
    };
}

pub const PASSWORD: &str = "Babou45+";
pub const USERNAME: &str = "jean.dupont";
pub const REDIRECT: &str = "http://127.0.0.1:9/cb";
pub const POST_LOGOUT: &str = "http://127.0.0.1:9/bye";
pub const SECRET: &str = "school-app-secret-0123456789-abcdefghij";

/// A database that exists for one test and is dropped after it.
pub struct TestDb {
    pub url: String,
    pg_admin: Option<(String, String)>,
    _dir: Option<TempDir>,
}

pub struct TempDir(pub std::path::PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn postgres_admin_url() -> String {
    std::env::var("PG_TEST_URL").unwrap_or_else(|_| {
        "postgres://idp_test:idp_test@127.0.0.1:5432/postgres?sslmode=disable".into()
    })
}

impl TestDb {
    pub fn new(backend: Backend) -> Self {
        // Every test starts here: its plain reqwest clients need the TLS provider.
        https_for_test_clients();
        let name = format!("idp_test_{}", uuid::Uuid::new_v4().simple());
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(&name);
                std::fs::create_dir_all(&dir).unwrap();
                Self {
                    url: format!("sqlite://{}/idp.db", dir.display()),
                    pg_admin: None,
                    _dir: Some(TempDir(dir)),
                }
            }
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let mut conn = diesel::PgConnection::establish(&admin).unwrap_or_else(|e| {
                    panic!("PostgreSQL is not reachable at {admin} ({e}); run the tests with scripts/test, which starts it")
                });
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .unwrap();
                // Same server and options (sslmode), another database.
                let mut url = url::Url::parse(&admin).unwrap();
                url.set_path(&name);
                Self {
                    url: url.to_string(),
                    pg_admin: Some((admin, name)),
                    _dir: None,
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.pg_admin
            && let Ok(mut conn) = diesel::PgConnection::establish(admin)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn);
        }
    }
}

/// Settings for tests: cheap argon2 (the production parameters are benchmarked, not
/// tested), the given database and issuer.
pub fn test_settings(db_url: &str, issuer: &str, listen: &str) -> Settings {
    let env = vec![
        ("IDP_DATABASE_URL".to_string(), db_url.to_string()),
        ("IDP_ISSUER".to_string(), issuer.to_string()),
        ("IDP_LISTEN".to_string(), listen.to_string()),
        (
            "IDP_PASSWORD_HASHING__MEMORY_KIB".to_string(),
            "8192".to_string(),
        ),
        (
            "IDP_PASSWORD_HASHING__ITERATIONS".to_string(),
            "1".to_string(),
        ),
        ("IDP_DATABASE_POOL_SIZE".to_string(), "4".to_string()),
        // Tests run side by side on two cores: a connection may be slow to come.
        ("IDP_DATABASE_TIMEOUT_SECONDS".to_string(), "10".to_string()),
        ("IDP_WORKERS".to_string(), "2".to_string()),
        ("IDP_MAIL_POLL_SECONDS".to_string(), "1".to_string()),
        // Refused logins answer at once here; `login.rs` checks the floor itself.
        (
            "IDP_LOGIN_FAILURE_FLOOR_MILLIS".to_string(),
            "0".to_string(),
        ),
        (
            "IDP_OUTBOX_DIR".to_string(),
            std::env::temp_dir()
                .join(format!("idp-outbox-{}", uuid::Uuid::new_v4().simple()))
                .display()
                .to_string(),
        ),
    ];
    Settings::load(None, env).unwrap()
}

pub struct TestServer {
    pub base: String,
    pub idp: Arc<Idp>,
    pub clock: OffsetClock,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Dropped last: the server and its pool are gone before the database is.
    _db: TestDb,
}

/// Stops the server and lets its connection pool go before the database is dropped:
/// otherwise the pool keeps reconnecting to a dropped database while the process exits.
impl Drop for TestServer {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        // A thread of its own: this may run inside the test's async runtime.
        let _ =
            std::thread::spawn(move || actix_web::rt::System::new().block_on(handle.stop(false)))
                .join();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl TestServer {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    /// Starts with settings adjusted by `tweak` (master key, static clients…).
    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> Self {
        https_for_test_clients();
        let db = TestDb::new(backend);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let mut settings = test_settings(&db.url, &base, &addr.to_string());
        tweak(&mut settings);
        let clock = OffsetClock::default();
        let idp = Arc::new(idp::app::start(settings, Arc::new(clock.clone())).unwrap());
        seed(&idp);
        let server_idp = idp.clone();
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = idp::web::server(server_idp, listener).unwrap().server;
                handle_tx.send(server.handle()).unwrap();
                server.await.unwrap();
            })
        });
        let handle = handle_rx.recv().unwrap();
        Self {
            base,
            idp,
            clock,
            handle,
            thread: Some(thread),
            _db: db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// The accounts and clients every test starts with.
fn seed(idp: &Idp) {
    let mut conn = idp.conn().unwrap();
    let now = idp.now();
    let new_client =
        |id: &str, method: AuthMethod, grants: Vec<GrantType>, alg: SigningAlg| NewClient {
            id: ClientId::parse(id).unwrap(),
            name: format!("{id} app"),
            secret: (method == AuthMethod::ClientSecretBasic).then(|| SECRET.to_string()),
            token_endpoint_auth_method: method,
            redirect_uris: vec![RedirectUri::parse(REDIRECT).unwrap()],
            post_logout_redirect_uris: vec![RedirectUri::parse(POST_LOGOUT).unwrap()],
            grant_types: grants,
            scopes: clients::SUPPORTED_SCOPES.map(String::from).to_vec(),
            id_token_signed_response_alg: alg,
            jwks: None,
        };
    let all = vec![
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
    ];
    clients::create(
        &mut conn,
        new_client(
            "school-app",
            AuthMethod::ClientSecretBasic,
            all,
            SigningAlg::RS256,
        ),
        now,
    )
    .unwrap();
    clients::create(
        &mut conn,
        new_client(
            "mobile-app",
            AuthMethod::None,
            vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            SigningAlg::ES256,
        ),
        now,
    )
    .unwrap();
    users::create(
        &mut conn,
        &idp.hasher,
        NewUser {
            kind: Default::default(),
            username: Username::parse(USERNAME).unwrap(),
            email: Some(Email::parse("jean.dupont@hotmail.com").unwrap()),
            email_verified: true,
            given_name: Some("Jean".into()),
            family_name: Some("Dupont".into()),
            phone_number: None,
            locale: Some("fr".into()),
            password: Some(PASSWORD.into()),
        },
        now,
    )
    .unwrap();
    // A returning user: the first-login wizard has been done.
    let jean = users::find_by_username(&mut conn, USERNAME)
        .unwrap()
        .unwrap();
    users::mark_first_login(&mut conn, jean.id, now).unwrap();
}

/// reqwest is built without a TLS provider of its own (the STS hands its upstream client
/// an aws-lc-rs configuration); the tests' plain clients use the process default.
pub fn https_for_test_clients() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// A browser: keeps cookies, does not follow redirects (tests look at each one).
pub fn browser() -> reqwest::Client {
    https_for_test_clients();
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of `<input name="NAME" value="…">` in a page.
pub fn input_value(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no input {name} in {html}"))
        + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_string()
}

pub fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location on {}", resp.status()))
        .to_str()
        .unwrap()
        .to_string()
}

pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The fields of the login form on `page`, filled with an identifier and a password.
pub fn login_form(page: &str, identifier: &str, password: &str) -> [(&'static str, String); 4] {
    [
        ("request", input_value(page, "request")),
        ("csrf", input_value(page, "csrf")),
        ("identifier", identifier.to_string()),
        ("password", password.to_string()),
    ]
}

/// Follows an authorization URL to the login form and submits it; the form's answer.
/// The login form an authorization request leads `browser` to (the page's HTML).
pub async fn login_form_page(
    browser: &reqwest::Client,
    server: &TestServer,
    authorize_url: &str,
) -> String {
    let resp = browser.get(authorize_url).send().await.unwrap();
    assert_eq!(
        resp.status(),
        303,
        "authorize should redirect to the login form"
    );
    let login = location(&resp);
    assert!(login.starts_with("/login?request="), "{login}");
    browser
        .get(server.url(&login))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

pub async fn login_response(
    browser: &reqwest::Client,
    server: &TestServer,
    authorize_url: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    let page = login_form_page(browser, server, authorize_url).await;
    browser
        .post(server.url("/login"))
        .form(&login_form(&page, username, password))
        .send()
        .await
        .unwrap()
}

/// Follows an authorization URL through the login form; returns the redirect to the client.
pub async fn login_through(
    browser: &reqwest::Client,
    server: &TestServer,
    authorize_url: &str,
    username: &str,
    password: &str,
) -> String {
    let resp = login_response(browser, server, authorize_url, username, password).await;
    assert_eq!(
        resp.status(),
        303,
        "login should redirect back to the client"
    );
    location(&resp)
}

/// The claims of a JWT the STS signed, its signature checked against the key the STS
/// publishes for the header's `kid`, with the header's algorithm and what `expect` adds
/// to the validation (audience, issuer, required claims).
pub async fn verified_with_published_keys(
    server: &TestServer,
    token: &str,
    expect: impl FnOnce(&mut jsonwebtoken::Validation),
) -> serde_json::Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwks: jsonwebtoken::jwk::JwkSet = reqwest::get(server.url("/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("a published key");
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    expect(&mut validation);
    jsonwebtoken::decode::<serde_json::Value>(
        token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .expect("a valid token")
    .claims
}

/// POSTs `form` to the token endpoint at `base` as `school-app` (Basic); returns the status
/// and the JSON body, after checking the answer is not cacheable (RFC 6749 §5.1).
pub async fn token_call(base: &str, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let resp = reqwest::Client::new()
        .post(format!("{base}/token"))
        .basic_auth("school-app", Some(SECRET))
        .form(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers().get("cache-control").unwrap(), "no-store");
    (resp.status().as_u16(), resp.json().await.unwrap())
}

/// Redeems `code` (issued for `REDIRECT`) at the STS at `base` as `school-app`.
pub async fn redeem_code(base: &str, code: &str) -> (u16, serde_json::Value) {
    token_call(
        base,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await
}

/// Messages an SMTP server received, as raw text. The server clones the handler for each
/// connection: the list is shared, the message being received is the connection's own.
#[derive(Clone, Default)]
pub struct Inbox(Arc<std::sync::Mutex<Vec<String>>>, Vec<u8>);

impl mailin_embedded::Handler for Inbox {
    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.1.extend_from_slice(buf);
        Ok(())
    }
    fn data_end(&mut self) -> mailin_embedded::Response {
        let message = String::from_utf8_lossy(&std::mem::take(&mut self.1)).into_owned();
        self.0.lock().unwrap().push(message);
        mailin_embedded::response::OK
    }
}

/// A received mail, decoded.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Mail {
    fn parse(raw: &str) -> Self {
        let message = mail_parser::MessageParser::default()
            .parse(raw.as_bytes())
            .expect("a MIME message");
        let to = message
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_string();
        Self {
            to,
            subject: message.subject().unwrap_or_default().to_string(),
            text: message.body_text(0).unwrap_or_default().into_owned(),
            html: message.body_html(0).unwrap_or_default().into_owned(),
        }
    }

    /// Every link to `path` on the server, in the order of the text body.
    pub fn links(&self, server: &TestServer, path: &str) -> Vec<String> {
        let prefix = server.url(path);
        self.text
            .split_whitespace()
            .filter(|w| w.starts_with(&prefix))
            .map(String::from)
            .collect()
    }

    /// The reset codes (`XXXX-XXXX`) in the text body.
    pub fn codes(&self) -> Vec<String> {
        self.text
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .filter(|w| {
                w.len() == 9
                    && w.as_bytes()[4] == b'-'
                    && w.chars()
                        .all(|c| c == '-' || c.is_ascii_uppercase() || c.is_ascii_digit())
            })
            .map(String::from)
            .collect()
    }
}

impl Inbox {
    pub fn messages(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// The mails received so far, decoded.
    pub fn mails(&self) -> Vec<Mail> {
        self.messages().iter().map(|m| Mail::parse(m)).collect()
    }

    /// Waits (up to 20 s) until `n` mails have arrived; returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Mail> {
        for _ in 0..200 {
            if self.messages().len() >= n {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let mails = self.mails();
        assert!(mails.len() >= n, "expected {n} mails, got {mails:#?}");
        mails
    }
}

/// Starts an SMTP server on `listener`; it runs until the test process ends.
pub fn smtp_server(listener: TcpListener) -> Inbox {
    let inbox = Inbox::default();
    let mut server = mailin_embedded::Server::new(inbox.clone());
    server.with_name("sink.test").with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    inbox
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl TestServer {
    /// A server whose mail goes over SMTP to a real SMTP server on loopback.
    pub async fn with_mail(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> (Self, Inbox) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let inbox = smtp_server(listener);
        let server = Self::start_with(backend, |s| {
            s.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
            s.mail_poll_seconds = 1;
            s.recovery.response_floor_millis = 50;
            tweak(s);
        })
        .await;
        (server, inbox)
    }
}

/// A client of this provider as the `openidconnect` crate builds one from discovery.
pub type RelyingParty = openidconnect::core::CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// `client_id` (with `secret` when confidential) as an `openidconnect` relying party of
/// `server`, configured by discovery, redirecting to `REDIRECT`; and the HTTP client it uses
/// (which does not follow redirects).
pub async fn relying_party(
    server: &TestServer,
    client_id: &str,
    secret: Option<&str>,
) -> (RelyingParty, reqwest::Client) {
    use openidconnect::core::{CoreClient, CoreProviderMetadata};
    use openidconnect::{ClientId, ClientSecret, IssuerUrl, RedirectUrl};
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(server.base.clone()).unwrap(), &http)
            .await
            .unwrap();
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id.into()),
        secret.map(|s| ClientSecret::new(s.into())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    (client, http)
}

/// A returning account (its first login done) with `password` "Zebre-Orange-91".
pub fn add_user(
    server: &TestServer,
    username: &str,
    email: Option<&str>,
    locale: &str,
) -> users::User {
    let mut conn = server.idp.conn().unwrap();
    users::create(
        &mut conn,
        &server.idp.hasher,
        NewUser {
            kind: Default::default(),
            username: Username::parse(username).unwrap(),
            email: email.map(|e| Email::parse(e).unwrap()),
            email_verified: true,
            given_name: None,
            family_name: None,
            phone_number: None,
            locale: Some(locale.into()),
            password: Some("Zebre-Orange-91".into()),
        },
        server.idp.now(),
    )
    .inspect(|u| {
        let mut conn = server.idp.conn().unwrap();
        users::mark_first_login(&mut conn, u.id, server.idp.now()).unwrap();
    })
    .unwrap()
}

/// A school of an organising body that publishes no terms: an account that joins it has
/// school data to check at its first login, and nothing else.
pub fn school_without_terms(server: &TestServer) -> idp::domain::types::SchoolId {
    use idp::domain::schools::{self, DataChanges, NewSchool};
    let mut conn = server.idp.conn().unwrap();
    let now = server.idp.now();
    let body = schools::create_body(&mut conn, "Ville de Dinant", now).unwrap();
    let school = NewSchool {
        organising_body: body.id,
        name: "Athénée de Dinant",
        data_changes: DataChanges::Contact,
        contact: None,
    };
    schools::create_school(&mut conn, school, now).unwrap().id
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// An authorization request of `school-app` to `server` for `scope` (space-separated), then
/// `extra` (`"&state=st&nonce=n"`, `"&prompt=none"`).
pub fn authorize_url(server: &TestServer, scope: &str, extra: &str) -> String {
    format!(
        "{}?response_type=code&client_id=school-app&redirect_uri={}&scope={}{extra}",
        server.url("/authorize"),
        urlencode(REDIRECT),
        urlencode(scope)
    )
}

/// A relying party's authorization request, as it keeps it: the URL the browser goes to,
/// and the `state`, `nonce` and PKCE verifier it checks the answer with.
pub struct RpRequest {
    pub url: String,
    pub state: openidconnect::CsrfToken,
    pub nonce: openidconnect::Nonce,
    pub verifier: openidconnect::PkceCodeVerifier,
}

/// An authorization-code request of `client` with PKCE (S256), a `state`, a `nonce` and
/// `scopes` besides `openid`.
pub fn rp_request(client: &RelyingParty, scopes: &[&str]) -> RpRequest {
    use openidconnect::core::CoreAuthenticationFlow;
    use openidconnect::{CsrfToken, Nonce, PkceCodeChallenge, Scope};
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client.authorize_url(
        CoreAuthenticationFlow::AuthorizationCode,
        CsrfToken::new_random,
        Nonce::new_random,
    );
    for scope in scopes {
        request = request.add_scope(Scope::new((*scope).to_owned()));
    }
    let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
    RpRequest {
        url: url.to_string(),
        state,
        nonce,
        verifier,
    }
}

/// Redeems `code` as the relying party and verifies the ID token (signature, issuer,
/// audience, nonce): the token response and the ID token's claims.
pub async fn rp_redeem(
    client: &RelyingParty,
    http: &reqwest::Client,
    code: String,
    request: RpRequest,
) -> (
    openidconnect::core::CoreTokenResponse,
    openidconnect::core::CoreIdTokenClaims,
) {
    use openidconnect::{AuthorizationCode, TokenResponse};
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(request.verifier)
        .request_async(http)
        .await
        .unwrap();
    let claims = tokens
        .id_token()
        .expect("an ID token")
        .claims(&client.id_token_verifier(), &request.nonce)
        .expect("a valid ID token")
        .clone();
    (tokens, claims)
}

/// A small actix server of a test on a free loopback port (a scripted provider, an
/// application's logout endpoint), in a thread of its own, stopped when dropped.
pub struct Loopback {
    pub base: String,
    handle: actix_web::dev::ServerHandle,
}

impl Loopback {
    /// Runs the server `build` makes on the listener it is given.
    pub fn start(
        build: impl FnOnce(TcpListener) -> std::io::Result<actix_web::dev::Server> + Send + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = build(listener).unwrap();
                tx.send(server.handle()).unwrap();
                server.await.unwrap();
            })
        });
        Self {
            base,
            handle: rx.recv().unwrap(),
        }
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        let _ =
            std::thread::spawn(move || actix_web::rt::System::new().block_on(handle.stop(false)))
                .join();
    }
}

/// The `idp` binary serving a database, on a free port; killed when dropped.
pub struct Spawned {
    pub base: String,
    pub child: std::process::Child,
}

impl Spawned {
    /// Starts it and waits until `/readyz` answers 200.
    pub async fn start(database_url: &str, env: &[(&str, &str)]) -> Self {
        Self::start_logging(database_url, env, std::process::Stdio::null()).await
    }

    /// The same, its log lines (stderr) going to `log`.
    pub async fn start_logging(
        database_url: &str,
        env: &[(&str, &str)],
        log: impl Into<std::process::Stdio>,
    ) -> Self {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let outbox = std::env::temp_dir().join(format!("idp-outbox-{port}"));
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_idp"))
            .env("IDP_OUTBOX_DIR", outbox)
            .env("IDP_DATABASE_URL", database_url)
            .env("IDP_ISSUER", &base)
            .env("IDP_LISTEN", format!("127.0.0.1:{port}"))
            .env("IDP_WORKERS", "1")
            .env("IDP_LOG", "warn")
            .env("IDP_PASSWORD_HASHING__MEMORY_KIB", "8192")
            .env("IDP_PASSWORD_HASHING__ITERATIONS", "1")
            .env("IDP_LOGIN_FAILURE_FLOOR_MILLIS", "0")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let sts = Self { base, child };
        for _ in 0..200 {
            if let Ok(r) = reqwest::get(format!("{}/readyz", sts.base)).await
                && r.status() == 200
            {
                return sts;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the STS never became ready");
    }

    /// Sends a signal (`TERM`, `INT`…) to the process.
    pub fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits up to 10 s for the process to exit; its status.
    pub async fn exited(&mut self) -> Option<std::process::ExitStatus> {
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        None
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP relay to `target` that a test can cut (every connection through it dropped, new
/// ones refused) and restore: a database restarting, as its clients see it.
pub struct Relay {
    pub port: u16,
    up: Arc<std::sync::atomic::AtomicBool>,
    open: Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Relay {
    pub fn start(target: &str) -> Self {
        use std::sync::atomic::Ordering;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let open = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (target, up2, open2) = (target.to_owned(), up.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if !up2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = std::net::TcpStream::connect(&target) else {
                    continue;
                };
                let mut pipes = open2.lock().unwrap();
                for (from, to) in [(&client, &server), (&server, &client)] {
                    let (mut from, mut to) = (from.try_clone().unwrap(), to.try_clone().unwrap());
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
                pipes.push(client);
                pipes.push(server);
            }
        });
        Self { port, up, open }
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }

    pub fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// "Forgot password?" for `identifier`, sent by `browser` outside any login: the answer.
pub async fn ask_for_reset(
    browser: &reqwest::Client,
    server: &TestServer,
    identifier: &str,
) -> reqwest::Response {
    ask_for_reset_at(browser, &server.base, identifier).await
}

/// The same at the instance at `base` (a twin, a spawned one).
pub async fn ask_for_reset_at(
    browser: &reqwest::Client,
    base: &str,
    identifier: &str,
) -> reqwest::Response {
    let page = browser
        .get(format!("{base}/forgot"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = input_value(&page, "csrf");
    browser
        .post(format!("{base}/forgot"))
        .form(&[("csrf", csrf.as_str()), ("identifier", identifier)])
        .send()
        .await
        .unwrap()
}

/// Opens a reset `link` and sets `password` with it: the answer (200 when it was set).
pub async fn use_reset_link(
    browser: &reqwest::Client,
    server: &TestServer,
    link: &str,
    password: &str,
) -> reqwest::Response {
    let page = browser
        .get(link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let fields = ["csrf", "token", "code_identifier", "code"].map(|n| (n, input_value(&page, n)));
    let mut form: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
    form.extend([("password", password), ("confirmation", password)]);
    browser
        .post(server.url("/reset"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// `school-app`'s authorization request to the STS at `base` (any instance), through its
/// login form: the answer to the form.
pub async fn log_in_at(
    browser: &reqwest::Client,
    base: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    let url = format!(
        "{base}/authorize?response_type=code&client_id=school-app&redirect_uri={}&scope=openid&state=s",
        urlencode(REDIRECT)
    );
    let login = location(&browser.get(&url).send().await.unwrap());
    let page = browser
        .get(format!("{base}{login}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    browser
        .post(format!("{base}/login"))
        .form(&login_form(&page, username, password))
        .send()
        .await
        .unwrap()
}

/// A small file system of its own (a tmpfs) that a test can fill up, free, and make
/// read-only: a disk under the database, as the operating system reports it full
/// (`ENOSPC`) or read-only (`EROFS`). Mounting needs root, as the test command runs in
/// CI; unmounted when dropped.
pub struct SmallVolume {
    pub dir: std::path::PathBuf,
}

impl SmallVolume {
    pub fn mount(megabytes: u32) -> Self {
        let dir =
            std::env::temp_dir().join(format!("idp-volume-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "mounting a tmpfs at {} needs root (the test command runs as root in CI)",
            dir.display()
        );
        Self { dir }
    }

    pub fn sqlite_url(&self) -> String {
        format!("sqlite://{}/idp.db", self.dir.display())
    }

    /// Fills what is left with a ballast file, until the file system says it is full.
    pub fn fill(&self) {
        use std::io::Write;
        let mut ballast = std::fs::File::create(self.dir.join("ballast")).unwrap();
        let block = vec![0u8; 4096];
        loop {
            match ballast.write_all(&block) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                Err(e) => panic!("filling the volume: {e}"),
            }
        }
        let _ = ballast.sync_all();
    }

    /// Frees the room `fill` took.
    pub fn free(&self) {
        std::fs::remove_file(self.dir.join("ballast")).unwrap();
    }

    /// Remounts it read-only (no file on it may be open for writing).
    pub fn make_read_only(&self) {
        let status = std::process::Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.dir)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "remounting {} read-only",
            self.dir.display()
        );
    }
}

impl Drop for SmallVolume {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.dir)
            .status();
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Another instance of the server on the same database and clock, answering for the same
/// issuer (as two instances behind a load balancer do), in this process; stopped when
/// dropped.
pub struct Twin {
    pub base: String,
    _server: Loopback,
}

impl TestServer {
    pub fn twin(&self) -> Twin {
        let idp = Arc::new(
            idp::app::start(self.idp.settings.clone(), Arc::new(self.clock.clone())).unwrap(),
        );
        let server = Loopback::start(move |listener| Ok(idp::web::server(idp, listener)?.server));
        Twin {
            base: server.base.clone(),
            _server: server,
        }
    }
}
