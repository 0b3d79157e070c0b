//! The sections of the settings: plain data, checked for sound values when loaded. What
//! they mean lives where they are used (the password rules in `domain::password_policy`,
//! the trusted proxies in `web::client_address`).

use std::net::IpAddr;
use std::path::PathBuf;

use chrono::Duration;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// A class of characters a rule can require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CharClass {
    Lower,
    Upper,
    Digit,
    Special,
}

/// "At least `count` of these classes" (Smartschool: 3 of lower, upper, digit, special).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassesOf {
    pub count: usize,
    pub of: Vec<CharClass>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordPolicy {
    /// Fewest characters (NIST: at least 8).
    pub min_length: usize,
    /// Most characters (NIST: allow at least 64).
    pub max_length: usize,
    /// Classes that must each appear.
    pub required_classes: Vec<CharClass>,
    /// Optionally, a number of classes out of a set.
    pub classes_of: Option<ClassesOf>,
    /// Refuse passwords containing the identifier, a name or the e-mail's local part.
    pub forbid_personal_info: bool,
    /// Extra refused passwords (compared without regard to case), e.g. the school's name.
    pub blocklist: Vec<String>,
    /// Minimum zxcvbn score (0 to 4; 0 turns the estimate off). zxcvbn also knows the
    /// commonest passwords, which score 0.
    pub min_strength: u8,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 8,
            max_length: 128,
            required_classes: Vec::new(),
            classes_of: None,
            forbid_personal_info: true,
            blocklist: Vec::new(),
            min_strength: 2,
        }
    }
}

impl PasswordPolicy {
    /// Checks the configuration itself (at start-up).
    pub fn validate(&self) -> Result<(), String> {
        if self.min_length < 1 || self.max_length < self.min_length || self.max_length > 1024 {
            return Err("need 1 ≤ min_length ≤ max_length ≤ 1024".into());
        }
        if self.max_length < 64 {
            return Err("max_length must allow at least 64 characters (NIST 800-63B)".into());
        }
        if let Some(c) = &self.classes_of
            && (c.count == 0 || c.count > c.of.len())
        {
            return Err(
                "classes_of.count must be between 1 and the number of classes listed".into(),
            );
        }
        if self.min_strength > 4 {
            return Err("min_strength is a zxcvbn score, 0 to 4".into());
        }
        Ok(())
    }
}

/// Which fields of the "Forgot password?" form identify the account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentifyBy {
    /// The identifier only.
    Identifier,
    /// The e-mail address only: every account using it gets a link (families).
    Email,
    /// One field taking either (CREOS).
    #[default]
    Either,
    /// Both, and they must belong to the same account (Smartschool).
    Both,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecoverySettings {
    /// Which fields identify the account on the "Forgot password?" form.
    pub identify_by: IdentifyBy,
    /// How long a reset link and its code stay valid.
    pub reset_ttl_seconds: i64,
    /// Ask again for the account's e-mail address with the new password (CREOS).
    pub confirm_email_on_reset: bool,
    /// End the account's sessions and refresh tokens when its password is reset.
    pub end_sessions_on_reset: bool,
    /// How long a temporary password works.
    pub temporary_password_ttl_seconds: i64,
    /// Shortest time a request takes to answer, so timing does not reveal a match.
    pub response_floor_millis: u64,
    /// Seconds the confirmation page waits before going back to the application (CREOS).
    pub redirect_delay_seconds: u32,
}

impl Default for RecoverySettings {
    fn default() -> Self {
        Self {
            identify_by: IdentifyBy::Either,
            reset_ttl_seconds: 48 * 3600,
            confirm_email_on_reset: false,
            end_sessions_on_reset: true,
            temporary_password_ttl_seconds: 7 * 86_400,
            response_floor_millis: 400,
            redirect_delay_seconds: 5,
        }
    }
}

impl RecoverySettings {
    /// A bad value, as (key, message).
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(600..=14 * 86_400).contains(&self.reset_ttl_seconds) {
            return Err((
                "reset_ttl_seconds",
                "must be between 600 (10 minutes) and 1209600 (14 days)".into(),
            ));
        }
        if !(3600..=90 * 86_400).contains(&self.temporary_password_ttl_seconds) {
            return Err((
                "temporary_password_ttl_seconds",
                "must be between 3600 (1 hour) and 7776000 (90 days)".into(),
            ));
        }
        if self.response_floor_millis > 5000 {
            return Err(("response_floor_millis", "must be at most 5000".into()));
        }
        if self.redirect_delay_seconds > 60 {
            return Err(("redirect_delay_seconds", "must be at most 60".into()));
        }
        Ok(())
    }

    pub fn reset_ttl(&self) -> Duration {
        Duration::seconds(self.reset_ttl_seconds)
    }
}

/// Invitations of migrated accounts ("your account moved, choose your password"): the
/// pace of `account-migration invite` and of the organising bodies' screens.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InvitationSettings {
    /// Mails per hour to one recipient domain (all of `@school.example`): a school's mail
    /// provider files thousands of identical mails in a minute as spam.
    pub per_domain_per_hour: u32,
    /// Days each invitation's link and code work after it leaves.
    pub valid_days: u32,
}

impl Default for InvitationSettings {
    fn default() -> Self {
        Self {
            per_domain_per_hour: 300,
            valid_days: 14,
        }
    }
}

impl InvitationSettings {
    /// A bad value, as (key, message).
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(1..=100_000).contains(&self.per_domain_per_hour) {
            return Err(("per_domain_per_hour", "must be between 1 and 100000".into()));
        }
        if !(1..=90).contains(&self.valid_days) {
            return Err(("valid_days", "must be between 1 and 90".into()));
        }
        Ok(())
    }
}

/// DKIM signing (RFC 6376) of outgoing mail, so receivers can check it comes from the
/// school's domain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkimSettings {
    /// The signing domain (`d=`), e.g. `sts.school.example`.
    pub domain: String,
    /// The selector (`s=`): the key is published at `SELECTOR._domainkey.DOMAIN`.
    pub selector: String,
    /// `rsa` (a PKCS#1 PEM file) or `ed25519` (a file with the base64 of the 32-byte key).
    pub algorithm: DkimAlgorithm,
    pub private_key_file: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DkimAlgorithm {
    Rsa,
    Ed25519,
}

/// A list of addresses or networks (`10.0.0.0/8`, `192.0.2.7`): the reverse proxies in
/// front of the instances, the schools' networks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Vec<String>")]
pub struct Networks(pub Vec<IpNet>);

/// The reverse proxies in front of the instances (their `X-Forwarded-For` is believed).
pub type TrustedProxies = Networks;

impl Networks {
    /// Whether `ip` is one of the addresses or inside one of the networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The same for an address as text (false when it is none).
    pub fn contains_text(&self, address: &str) -> bool {
        address.parse().is_ok_and(|ip| self.contains(ip))
    }
}

impl TryFrom<Vec<String>> for Networks {
    type Error = String;

    fn try_from(list: Vec<String>) -> Result<Self, String> {
        list.iter()
            .map(|entry| {
                let entry = entry.trim();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!("{entry:?} is not an address or a network such as 10.0.0.0/8")
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }
}

/// Which upstream provider a `[[upstream]]` section configures: a preset, or any OpenID
/// provider by its issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamKind {
    /// Microsoft Entra ID (Microsoft 365 for Education): `tenants` required.
    Microsoft,
    /// Google (Workspace for Education): optionally only some `domains`.
    Google,
    /// Any OpenID provider: `issuer` required.
    Oidc,
}

/// An upstream OpenID provider people may log in with ("Log in with Microsoft").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSettings {
    /// Its name in addresses and links (`a-z`, `0-9`, `-`): `/upstream/{id}/callback` is
    /// the redirect URI to register with the provider.
    pub id: String,
    pub kind: UpstreamKind,
    /// The name on its button ("Log in with …"); by default the preset's.
    pub name: Option<String>,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// `oidc`: the issuer identifier (discovery at `{issuer}/.well-known/openid-configuration`).
    pub issuer: Option<String>,
    /// `microsoft`: one tenant id, several, or `organizations` (any work or school account).
    #[serde(default)]
    pub tenants: Vec<String>,
    /// `google`: only accounts of these Workspace domains (the `hd` claim); empty: any.
    #[serde(default)]
    pub domains: Vec<String>,
    /// `microsoft`, `google`: the provider's base address, for national clouds (and tests).
    pub authority: Option<String>,
    /// Scopes asked besides `openid email profile`.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Link an unlinked login to the one account holding the same e-mail address, when
    /// the provider says it verified it.
    #[serde(default)]
    pub link_by_email: bool,
    /// Only on the login pages of these organising bodies' applications (their ids or
    /// names); empty: on every login page.
    #[serde(default)]
    pub organising_bodies: Vec<String>,
    /// How long its discovery document and keys are used before they are read again.
    #[serde(default = "default_discovery_refresh")]
    pub discovery_refresh_seconds: u64,
    /// How long a call to the provider may take.
    #[serde(default = "default_upstream_timeout")]
    pub timeout_seconds: u64,
}

fn default_discovery_refresh() -> u64 {
    3600
}
fn default_upstream_timeout() -> u64 {
    10
}

impl UpstreamSettings {
    /// Checks what each kind needs; the error names the key.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let slug = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
        if self.id.is_empty() || self.id.len() > 32 || !self.id.chars().all(slug) {
            return Err(("id", "1 to 32 of a-z, 0-9 and -".into()));
        }
        if self.client_id.trim().is_empty() {
            return Err(("client_id", "must not be empty".into()));
        }
        let url = |key, value: &str| {
            url::Url::parse(value)
                .map(|_| ())
                .map_err(|e| (key, format!("not a URL: {e}")))
        };
        if let Some(authority) = &self.authority {
            url("authority", authority)?;
        }
        match self.kind {
            UpstreamKind::Microsoft => {
                let any = ["organizations", "common"];
                if self.tenants.is_empty() {
                    return Err(("tenants", "a tenant id, several, or organizations".into()));
                }
                if self.tenants.len() > 1 && self.tenants.iter().any(|t| any.contains(&t.as_str()))
                {
                    return Err(("tenants", "organizations stands alone".into()));
                }
            }
            UpstreamKind::Google => {}
            UpstreamKind::Oidc => match &self.issuer {
                Some(issuer) => url("issuer", issuer)?,
                None => return Err(("issuer", "required for kind oidc".into())),
            },
        }
        if self.kind != UpstreamKind::Microsoft && !self.tenants.is_empty() {
            return Err(("tenants", "only for kind microsoft".into()));
        }
        if self.kind != UpstreamKind::Google && !self.domains.is_empty() {
            return Err(("domains", "only for kind google".into()));
        }
        if self.kind != UpstreamKind::Oidc && self.issuer.is_some() {
            return Err(("issuer", "only for kind oidc (presets know theirs)".into()));
        }
        if self.timeout_seconds == 0 || self.discovery_refresh_seconds == 0 {
            return Err(("timeout_seconds", "must be at least 1".into()));
        }
        Ok(())
    }
}

/// How long what the periodic purge deletes is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSettings {
    /// Days an audit event is kept (0: for ever). The help desk reads a school year back.
    pub audit_events_days: u32,
    /// Days a sent mail's copy stays in the outbox (0: for ever).
    pub sent_mail_days: u32,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            audit_events_days: 400,
            sent_mail_days: 30,
        }
    }
}
