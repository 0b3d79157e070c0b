//! Configuration: defaults in code, then an optional TOML file (`--config` or `IDP_CONFIG`),
//! then `IDP_*` environment variables (`IDP_ACCESS_TOKEN_TTL_SECONDS=300`; nested keys with a
//! double underscore: `IDP_PASSWORD_HASHING__MEMORY_KIB`). Unknown keys in the file, and bad
//! values, stop start-up with a message naming the key; an `IDP_*` variable that names no
//! setting (Kubernetes' service links, `IDP_PORT`…) is ignored, since the environment is
//! the platform's too. Every field is documented in
//! `docs/configuration.md`.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Deserialize;

mod sections;

pub use sections::{
    CharClass, ClassesOf, DkimAlgorithm, DkimSettings, IdentifyBy, InvitationSettings, Networks,
    PasswordPolicy, RecoverySettings, RetentionSettings, TrustedProxies, UpstreamKind,
    UpstreamSettings,
};

use crate::crypto::SigningAlg;
use crate::crypto::password::Argon2Params;
// Validated value types: a misspelt client id or an unsafe redirect URI is refused as the
// file is read, with the key named. They hold no behaviour beyond their parsing.
use crate::domain::types::{ClientId, RedirectUri};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("configuration file {path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("configuration key `{key}`: {message}")]
    Key { key: String, message: String },
}

fn key_error(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Key {
        key: key.into(),
        message: message.into(),
    }
}

/// All settings. Durations are whole seconds, named `*_seconds`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// The issuer identifier (`iss`), the public base URL of this STS.
    pub issuer: String,
    /// Address and port to listen on.
    pub listen: String,
    /// `sqlite://PATH` (default, zero set-up) or `postgres://USER:PASS@HOST/DB`.
    pub database_url: String,
    /// Connections in the pool of each instance.
    pub database_pool_size: u32,
    /// Seconds a request waits for a database connection before it is answered "try again"
    /// (503): with the database restarting, requests fail fast instead of hanging.
    pub database_timeout_seconds: u64,
    /// HTTP worker threads; 0 = one per core.
    pub workers: usize,
    /// Seconds each instance keeps a client it read from the store (0: never): how long a
    /// client deleted or re-created elsewhere may still be seen as it was.
    pub client_cache_seconds: u64,
    /// Base64 of 32 random bytes; when set, private keys and server secrets are encrypted
    /// at rest with it.
    pub master_key: Option<String>,
    /// Lifetime of access tokens.
    pub access_token_ttl_seconds: i64,
    /// Lifetime of ID tokens.
    pub id_token_ttl_seconds: i64,
    /// Lifetime of authorization codes (RFC 6749 §4.1.2 recommends at most 10 minutes).
    pub authorization_code_ttl_seconds: i64,
    /// Lifetime of a refresh token after its issue (each use rotates it).
    pub refresh_token_ttl_seconds: i64,
    /// How long after the person authenticated a grant's refresh tokens keep working,
    /// however often they are rotated (0: no limit beyond `refresh_token_ttl_seconds`).
    pub grant_max_age_seconds: i64,
    /// Lifetime of a pending login (authorization request waiting for the login form).
    pub login_request_ttl_seconds: i64,
    /// Lifetime of a browser's single-sign-on session.
    pub sso_session_ttl_seconds: i64,
    /// How long a new signing key is published in the JWKS before it signs, so relying
    /// parties that cache the JWKS know it in time.
    pub signing_key_publish_lead_seconds: i64,
    /// How often each instance re-reads signing keys from the database.
    pub signing_key_reload_seconds: u64,
    /// Days between scheduled rotations of the signing keys (0: only `idp keys rotate`).
    pub signing_key_rotation_days: u32,
    /// How long a login may wait for a password check when logins arrive faster than the
    /// cores hash them; beyond it the person is asked to try again in a few seconds.
    pub login_queue_wait_millis: u64,
    /// Algorithm of access tokens (RFC 9068).
    pub access_token_signing_alg: SigningAlg,
    /// argon2id parameters (OWASP: 19 MiB, 2 passes, 1 lane).
    pub password_hashing: Argon2Params,
    /// Shortest time a refused login takes to answer, so its timing tells nothing of the
    /// account behind it (unknown, argon2id, or a legacy hash whose check costs more).
    pub login_failure_floor_millis: u64,
    /// Rules a new password must meet.
    pub password_policy: PasswordPolicy,
    /// Forgotten passwords and identifiers, temporary passwords.
    pub recovery: RecoverySettings,
    /// Invitations of migrated accounts: their pace and how long they work.
    pub invitations: InvitationSettings,
    /// Days after its migration that an account's old identifier (the legacy platform's)
    /// still logs in, each time with a notice naming the new one; 0: never.
    pub old_identifier_days: u32,
    /// Language of pages when neither `ui_locales` nor the browser names a supported one.
    pub default_locale: String,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// SMTP server for mail (`smtp://host:25`, `smtp://host:587?tls=required` for
    /// STARTTLS, `smtps://user:password@host:465`); without it mail is written as `.eml`
    /// files to `outbox_dir`.
    pub smtp_url: Option<String>,
    /// Sender of every mail. Its domain is the domain of every `Message-ID`, and should be
    /// the one SPF, DKIM and DMARC are published for (docs/operations.md).
    pub mail_from: String,
    /// Where replies to mail go (`Reply-To`), e.g. the organising body's help desk; without
    /// it replies go to `mail_from`.
    pub mail_reply_to: Option<String>,
    /// The organising body's time zone (an IANA name, from the system's tz database):
    /// times in mails and pages are shown in it.
    pub time_zone: String,
    /// Optional DKIM signing of every mail.
    pub dkim: Option<DkimSettings>,
    /// Where mail goes as `.eml` files when no SMTP server is configured.
    pub outbox_dir: String,
    /// How often each instance looks for mail to send.
    pub mail_poll_seconds: u64,
    /// Reverse proxies (addresses or networks) whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
    /// The schools' own networks (their NAT addresses): no per-address rate limit there,
    /// the per-account limits carry the defence.
    pub school_networks: Networks,
    /// Clients declared here are written to the database at start-up.
    pub clients: Vec<StaticClient>,
    /// Upstream OpenID providers people may log in with (`[[upstream]]`).
    pub upstream: Vec<UpstreamSettings>,
    /// How long audit events and sent mail are kept.
    pub retention: RetentionSettings,
    /// On SIGTERM: seconds the instance keeps serving while `/readyz` says it is not ready
    /// (so the load balancer takes it out first).
    pub shutdown_drain_seconds: u64,
    /// Then: seconds requests in flight may take to finish before they are cut.
    pub shutdown_grace_seconds: u64,
    /// Log lines as text for people or JSON for a log collector.
    pub log_format: LogFormat,
    /// A second address (`0.0.0.0:9100`) that serves `/metrics` alone; the main listener
    /// then does not. Unset: `/metrics` is on the main listener.
    pub metrics_listen: Option<String>,
    /// `IDP_*` variables that are no setting (warned about once logging is set up).
    #[serde(skip)]
    pub ignored_variables: Vec<String>,
}

/// How log lines are written on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    /// One JSON object a line, with the request's span fields (its `request_id`).
    Json,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            issuer: "http://127.0.0.1:8080".into(),
            listen: "127.0.0.1:8080".into(),
            database_url: "sqlite://./data/idp.db".into(),
            database_pool_size: 8,
            database_timeout_seconds: 3,
            workers: 0,
            client_cache_seconds: 1,
            master_key: None,
            access_token_ttl_seconds: 600,
            id_token_ttl_seconds: 600,
            authorization_code_ttl_seconds: 60,
            refresh_token_ttl_seconds: 30 * 24 * 3600,
            grant_max_age_seconds: 60 * 24 * 3600,
            login_request_ttl_seconds: 3600,
            sso_session_ttl_seconds: 10 * 3600,
            signing_key_publish_lead_seconds: 3600,
            signing_key_reload_seconds: 60,
            signing_key_rotation_days: 90,
            login_queue_wait_millis: 3000,
            access_token_signing_alg: SigningAlg::ES256,
            password_hashing: Argon2Params::default(),
            login_failure_floor_millis: 300,
            password_policy: Default::default(),
            recovery: Default::default(),
            invitations: Default::default(),
            old_identifier_days: 180,
            default_locale: "fr".into(),
            max_body_bytes: 64 * 1024,
            smtp_url: None,
            dkim: None,
            mail_from: "Service d'identification <no-reply@localhost>".into(),
            mail_reply_to: None,
            time_zone: "Europe/Brussels".into(),
            outbox_dir: "./data/outbox".into(),
            mail_poll_seconds: 2,
            trusted_proxies: Default::default(),
            school_networks: Default::default(),
            clients: Vec::new(),
            upstream: Vec::new(),
            retention: RetentionSettings::default(),
            shutdown_drain_seconds: 5,
            shutdown_grace_seconds: 20,
            log_format: LogFormat::Text,
            metrics_listen: None,
            ignored_variables: Vec::new(),
        }
    }
}

/// A client declared in the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticClient {
    pub id: ClientId,
    pub name: String,
    /// The client secret in clear; absent for a public client (PKCE, no secret).
    pub secret: Option<String>,
    #[serde(default)]
    pub redirect_uris: Vec<RedirectUri>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    #[serde(default = "default_grants")]
    pub grant_types: Vec<String>,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    #[serde(default = "default_alg")]
    pub id_token_signed_response_alg: SigningAlg,
    /// `client_secret_basic`, `client_secret_post`, `private_key_jwt` or `none`; by default
    /// `client_secret_basic` with a secret and `none` without.
    pub token_endpoint_auth_method: Option<String>,
    /// The client's public keys (a JWK Set) for `private_key_jwt`.
    pub jwks: Option<serde_json::Value>,
    /// Where the client hears that a session ended (OpenID Connect Back-Channel Logout).
    pub backchannel_logout_uri: Option<RedirectUri>,
    /// The page an iframe of the STS's logout page loads (Front-Channel Logout).
    pub frontchannel_logout_uri: Option<RedirectUri>,
}

fn default_grants() -> Vec<String> {
    vec!["authorization_code".into(), "refresh_token".into()]
}
fn default_scopes() -> Vec<String> {
    ["openid", "profile", "email", "phone", "offline_access"]
        .map(String::from)
        .to_vec()
}
fn default_alg() -> SigningAlg {
    SigningAlg::RS256
}

impl Settings {
    /// Loads defaults, then `file` if given, then the `IDP_*` variables of `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table = toml::Table::new();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            table = text
                .parse::<toml::Table>()
                .map_err(|e| ConfigError::Syntax {
                    path: path.to_owned(),
                    message: e.to_string(),
                })?;
        }
        let names = setting_names();
        let mut ignored = Vec::new();
        for (name, value) in env {
            let Some(rest) = name.strip_prefix("IDP_") else {
                continue;
            };
            if NOT_SETTINGS.contains(&name.as_str()) {
                continue;
            }
            let path: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
            // The environment is shared with the platform: a name that is no setting of
            // ours is not fatal (a misspelt key in the file, or below a known one, is).
            if !path
                .first()
                .is_some_and(|first| names.contains(&first.as_str()))
            {
                if !is_service_link(rest) {
                    ignored.push(name);
                }
                continue;
            }
            insert_path(&mut table, &path, env_value(&value))
                .map_err(|message| key_error(&name, message))?;
        }
        let mut settings: Settings = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| {
                let key = e.path().to_string();
                key_error(key, e.into_inner().message().to_owned())
            })?;
        settings.ignored_variables = ignored;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(listen) = &self.metrics_listen {
            let addr = listen.parse::<std::net::SocketAddr>().map_err(|_| {
                key_error("metrics_listen", "an address and port, like 0.0.0.0:9100")
            })?;
            let main = self
                .listen
                .rsplit(':')
                .next()
                .and_then(|p| p.parse::<u16>().ok());
            if main == Some(addr.port()) {
                return Err(key_error("metrics_listen", "another port than listen's"));
            }
        }
        let issuer = url::Url::parse(&self.issuer)
            .map_err(|e| key_error("issuer", format!("not a URL: {e}")))?;
        let loopback = matches!(issuer.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if issuer.scheme() != "https" && !(issuer.scheme() == "http" && loopback) {
            return Err(key_error(
                "issuer",
                "must be https (plain http only on localhost), OIDC Discovery §3",
            ));
        }
        if issuer.query().is_some() || issuer.fragment().is_some() || self.issuer.ends_with('/') {
            return Err(key_error(
                "issuer",
                "must have no query, fragment or trailing slash",
            ));
        }
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(key_error(
                "listen",
                "must be ADDRESS:PORT, e.g. 0.0.0.0:8080",
            ));
        }
        crate::store::Backend::of_url(&self.database_url)
            .map_err(|e| key_error("database_url", e.to_string()))?;
        if self.database_pool_size == 0 {
            return Err(key_error("database_pool_size", "must be at least 1"));
        }
        if self.client_cache_seconds > 60 {
            return Err(key_error(
                "client_cache_seconds",
                "at most 60: a deleted client must not work for longer",
            ));
        }
        if let Some(key) = &self.master_key {
            self.decode_master_key(key)?;
        }
        for (key, value, max) in [
            (
                "access_token_ttl_seconds",
                self.access_token_ttl_seconds,
                86_400,
            ),
            ("id_token_ttl_seconds", self.id_token_ttl_seconds, 86_400),
            (
                "authorization_code_ttl_seconds",
                self.authorization_code_ttl_seconds,
                600,
            ),
            (
                "refresh_token_ttl_seconds",
                self.refresh_token_ttl_seconds,
                366 * 86_400,
            ),
            (
                "grant_max_age_seconds",
                self.grant_max_age_seconds,
                3 * 366 * 86_400,
            ),
            (
                "login_request_ttl_seconds",
                self.login_request_ttl_seconds,
                86_400,
            ),
            (
                "sso_session_ttl_seconds",
                self.sso_session_ttl_seconds,
                30 * 86_400,
            ),
            (
                "signing_key_publish_lead_seconds",
                self.signing_key_publish_lead_seconds,
                30 * 86_400,
            ),
        ] {
            let min = if key == "signing_key_publish_lead_seconds" || key == "grant_max_age_seconds"
            {
                0
            } else {
                1
            };
            if !(min..=max).contains(&value) {
                return Err(key_error(key, format!("must be between {min} and {max}")));
            }
        }
        let p = self.password_hashing;
        if p.memory_kib < 8 * 1024 || p.iterations < 1 || p.parallelism < 1 {
            return Err(key_error(
                "password_hashing",
                "at least 8192 KiB, 1 iteration and 1 lane (OWASP minimums are 19 MiB, 2, 1)",
            ));
        }
        self.password_policy
            .validate()
            .map_err(|e| key_error("password_policy", e))?;
        self.invitations
            .validate()
            .map_err(|(key, e)| key_error(format!("invitations.{key}"), e))?;
        self.recovery
            .validate()
            .map_err(|(key, e)| key_error(format!("recovery.{key}"), e))?;
        if crate::i18n::Locale::parse(&self.default_locale).is_none() {
            return Err(key_error("default_locale", "one of fr, nl, en, de"));
        }
        crate::i18n::Zone::load(&self.time_zone).map_err(|e| key_error("time_zone", e))?;
        if self.old_identifier_days > 3650 {
            return Err(key_error("old_identifier_days", "must be at most 3650"));
        }
        if self.login_failure_floor_millis > 5000 {
            return Err(key_error(
                "login_failure_floor_millis",
                "must be at most 5000",
            ));
        }
        if self.max_body_bytes < 1024 {
            return Err(key_error("max_body_bytes", "must be at least 1024"));
        }
        if self.mail_poll_seconds == 0 {
            return Err(key_error("mail_poll_seconds", "must be at least 1"));
        }
        self.validate_upstream()
    }

    fn validate_upstream(&self) -> Result<(), ConfigError> {
        let mut seen = std::collections::HashSet::new();
        for (i, provider) in self.upstream.iter().enumerate() {
            provider
                .check()
                .map_err(|(key, message)| key_error(format!("upstream[{i}].{key}"), message))?;
            if !seen.insert(provider.id.as_str()) {
                return Err(key_error(format!("upstream[{i}].id"), "used twice"));
            }
        }
        Ok(())
    }

    fn decode_master_key(&self, key: &str) -> Result<Vec<u8>, ConfigError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(key.trim())
            .map_err(|_| key_error("master_key", "must be base64"))?;
        if bytes.len() != 32 {
            return Err(key_error(
                "master_key",
                "must be 32 bytes (try: head -c32 /dev/urandom | base64)",
            ));
        }
        Ok(bytes)
    }

    /// A master key written as `master_key` is (base64 of 32 bytes), e.g. the old one
    /// `idp keys reseal` reads from a file.
    pub fn parse_master_key(&self, text: &str) -> Result<Vec<u8>, ConfigError> {
        self.decode_master_key(text)
    }

    /// The decoded master key, if one is configured (validated at load).
    pub fn master_key_bytes(&self) -> Option<Vec<u8>> {
        self.master_key
            .as_deref()
            .and_then(|k| self.decode_master_key(k).ok())
    }

    /// Whether cookies must carry `Secure`.
    pub fn https(&self) -> bool {
        self.issuer.starts_with("https://")
    }
}

/// Kubernetes puts `{SERVICE}_PORT`, `{SERVICE}_PORT_8080_TCP…` and `{SERVICE}_SERVICE_HOST`,
/// `…_SERVICE_PORT…` into every pod for a service named `idp`: never ours, never a warning.
fn is_service_link(rest: &str) -> bool {
    rest == "PORT" || rest.starts_with("PORT_") || rest.starts_with("SERVICE_")
}

/// The top-level keys of [`Settings`], as its `Deserialize` names them (asked once of a
/// deserializer that only listens).
fn setting_names() -> &'static [&'static str] {
    use serde::de::{self, Visitor};
    struct Names(&'static [&'static str]);
    impl<'de> serde::Deserializer<'de> for &mut Names {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("only a struct's field names are asked"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0 = fields;
            Err(de::Error::custom("field names taken"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut names = Names(&[]);
    let _ = Settings::deserialize(&mut names);
    names.0
}

/// `IDP_*` variables that select the file or tune logging rather than set a key.
const NOT_SETTINGS: [&str; 2] = ["IDP_CONFIG", "IDP_LOG"];

/// An environment value as TOML when it parses as a scalar or array (`600`, `true`,
/// `["a"]`), else as a string.
fn env_value(raw: &str) -> toml::Value {
    match format!("v = {raw}").parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.into())),
        Err(_) => toml::Value::String(raw.into()),
    }
}

fn insert_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    match path {
        [] => Err("empty key".into()),
        [last] => {
            table.insert(last.clone(), value);
            Ok(())
        }
        [first, rest @ ..] => {
            let entry = table
                .entry(first.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(inner) => insert_path(inner, rest, value),
                _ => Err(format!("`{first}` is not a table")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_valid() {
        let s = Settings::load(None, Vec::new()).unwrap();
        assert_eq!(s.issuer, "http://127.0.0.1:8080");
        assert!(s.database_url.starts_with("sqlite://"));
    }

    #[test]
    fn env_overrides_and_nested_keys() {
        let s = Settings::load(
            None,
            env(&[
                ("IDP_ACCESS_TOKEN_TTL_SECONDS", "300"),
                ("IDP_PASSWORD_HASHING__MEMORY_KIB", "65536"),
                ("IDP_DEFAULT_LOCALE", "nl"),
                ("PATH", "/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(s.access_token_ttl_seconds, 300);
        assert_eq!(s.password_hashing.memory_kib, 65536);
        assert_eq!(s.default_locale, "nl");
    }

    #[test]
    fn metrics_listen_is_an_address_of_its_own() {
        let ok = Settings::load(None, env(&[("IDP_METRICS_LISTEN", "127.0.0.1:9100")])).unwrap();
        assert_eq!(ok.metrics_listen.as_deref(), Some("127.0.0.1:9100"));
        for bad in ["9100", "127.0.0.1:8080"] {
            let err = Settings::load(None, env(&[("IDP_METRICS_LISTEN", bad)])).unwrap_err();
            assert!(err.to_string().contains("metrics_listen"), "{bad}: {err}");
        }
    }

    #[test]
    fn unknown_and_bad_keys_are_named() {
        // Not ours: the platform's, or a stray one (warned about), never fatal; a misspelt
        // key below a known one still is.
        let s = Settings::load(
            None,
            env(&[
                ("IDP_PORT", "tcp://10.0.0.7:8080"),
                ("IDP_PORT_8080_TCP_ADDR", "10.0.0.7"),
                ("IDP_SERVICE_HOST", "10.0.0.7"),
                ("IDP_SERVICE_PORT_HTTP", "8080"),
                ("IDP_NO_SUCH_THING", "1"),
                ("IDP_ACCESS_TOKEN_TTL_SECONDS", "300"),
            ]),
        )
        .unwrap();
        assert_eq!(s.access_token_ttl_seconds, 300);
        assert_eq!(
            s.ignored_variables,
            ["IDP_NO_SUCH_THING"],
            "warned about, not fatal"
        );
        assert!(setting_names().contains(&"upstream") && setting_names().len() > 30);
        let err = Settings::load(None, env(&[("IDP_PASSWORD_HASHING__NOPE", "1")])).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
        let err =
            Settings::load(None, env(&[("IDP_ACCESS_TOKEN_TTL_SECONDS", "soon")])).unwrap_err();
        assert!(
            err.to_string().contains("access_token_ttl_seconds"),
            "{err}"
        );
        let err = Settings::load(None, env(&[("IDP_ISSUER", "http://example.org")])).unwrap_err();
        assert!(err.to_string().contains("issuer"), "{err}");
        let err = Settings::load(None, env(&[("IDP_MASTER_KEY", "c2hvcnQ=")])).unwrap_err();
        assert!(err.to_string().contains("master_key"), "{err}");
        let err = Settings::load(None, env(&[("IDP_TIME_ZONE", "Europe/Bruxelles")])).unwrap_err();
        assert!(err.to_string().contains("time_zone"), "{err}");
        let ok = Settings::load(None, env(&[("IDP_TIME_ZONE", "Europe/Luxembourg")]));
        assert_eq!(ok.unwrap().time_zone, "Europe/Luxembourg");
        let err = Settings::load(None, env(&[("IDP_CLIENT_CACHE_SECONDS", "3600")])).unwrap_err();
        assert!(err.to_string().contains("client_cache_seconds"), "{err}");
        let ok = Settings::load(None, env(&[("IDP_CLIENT_CACHE_SECONDS", "0")]));
        assert_eq!(ok.unwrap().client_cache_seconds, 0);
    }

    #[test]
    fn file_with_static_client() {
        let dir = std::env::temp_dir().join(format!("idp-cfg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("idp.toml");
        std::fs::write(
            &path,
            r#"
issuer = "https://sts.example.org"
[[clients]]
id = "school-app"
name = "School app"
secret = "s3cret-s3cret-s3cret-s3cret-s3cret"
redirect_uris = ["https://app.example.org/cb"]
"#,
        )
        .unwrap();
        let s = Settings::load(Some(&path), Vec::new()).unwrap();
        assert_eq!(s.clients.len(), 1);
        std::fs::write(
            &path,
            "[[clients]]\nid = \"x\"\nname = \"x\"\nredirect_uris = [\"http://evil.example/cb\"]\n",
        )
        .unwrap();
        let err = Settings::load(Some(&path), Vec::new()).unwrap_err();
        assert!(err.to_string().contains("redirect_uri"), "{err}");
    }

    #[test]
    fn upstream_providers_are_checked_as_read() {
        let dir = std::env::temp_dir().join(format!("idp-cfg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("idp.toml");
        let load = |text: &str| {
            std::fs::write(&path, text).unwrap();
            Settings::load(Some(&path), Vec::new())
        };
        let good = load(
            "[[upstream]]\nid = \"microsoft\"\nkind = \"microsoft\"\nclient_id = \"c\"\ntenants = [\"organizations\"]\n\n[[upstream]]\nid = \"google\"\nkind = \"google\"\nclient_id = \"g\"\ndomains = [\"school.be\"]\n",
        )
        .unwrap();
        assert_eq!(good.upstream.len(), 2);
        assert_eq!(good.upstream[1].kind, UpstreamKind::Google);
        let refused = [
            (
                "id = \"Micro soft\"\nkind = \"oidc\"\nissuer = \"https://x\"",
                "upstream[0].id",
            ),
            ("id = \"m\"\nkind = \"microsoft\"", "upstream[0].tenants"),
            (
                "id = \"m\"\nkind = \"microsoft\"\ntenants = [\"a\", \"organizations\"]",
                "upstream[0].tenants",
            ),
            ("id = \"o\"\nkind = \"oidc\"", "upstream[0].issuer"),
            (
                "id = \"g\"\nkind = \"google\"\ntenants = [\"a\"]",
                "upstream[0].tenants",
            ),
            (
                "id = \"g\"\nkind = \"google\"\nnope = 1",
                "upstream[0].nope",
            ),
        ];
        for (section, key) in refused {
            let text = format!("[[upstream]]\nclient_id = \"c\"\n{section}\n");
            let err = load(&text).unwrap_err().to_string();
            assert!(
                err.contains(key) || err.contains("nope"),
                "{section}: {err}"
            );
        }
        let twice = "[[upstream]]\nid = \"g\"\nkind = \"google\"\nclient_id = \"c\"\n";
        let err = load(&format!("{twice}{twice}")).unwrap_err().to_string();
        assert!(err.contains("upstream[1].id"), "{err}");
    }
}
