//! Validated newtypes: input is parsed once, at the edge, into these.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::DomainError;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        uuid_id!($(#[$doc])* $name, Uuid::new_v4);
    };
    ($(#[$doc:meta])* $name:ident, $make:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn new() -> Self {
                Self($make())
            }
            /// Parses an id read back from the store or from a token.
            pub fn parse(text: &str) -> Result<Self, DomainError> {
                Uuid::parse_str(text)
                    .map(Self)
                    .map_err(|_| DomainError::Corrupt(format!("{} {text:?}", stringify!($name))))
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

uuid_id!(
    /// An account; also its OIDC `sub`, stable and never reassigned (OIDC Core §2).
    /// Time-ordered (UUIDv7, RFC 9562 §5.7), so every index keyed by it grows at its end: a
    /// bulk import writes each index page once instead of once per account (random ids made
    /// an import of 100,000 accounts write gigabytes to SQLite's WAL). The creation time it
    /// carries, to the millisecond, tells a relying app nothing it could misuse (RFC 9562
    /// §8 notes it); Auth0's ids carry theirs as well.
    UserId,
    Uuid::now_v7
);
uuid_id!(
    /// A browser's single-sign-on session; also the `sid` claim.
    SessionId
);
uuid_id!(
    /// An organising body (a school board, "pouvoir organisateur").
    OrganisingBodyId
);
uuid_id!(
    /// A school of an organising body.
    SchoolId
);
uuid_id!(
    /// What one login gave one client: codes and refresh tokens are revoked by grant.
    GrantId
);

/// The id of one HTTP request, in its log lines and in the audit events it caused: the
/// one a trusted proxy sent in `X-Request-Id`, else a new UUID. What a proxy sends is kept
/// only when it is 1 to 128 visible ASCII characters without quotes or backslashes, so it
/// can go into a log line or a header as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    pub fn new() -> Self {
        Self(Uuid::now_v7().to_string())
    }

    pub fn parse(text: &str) -> Option<Self> {
        let ok = !text.is_empty()
            && text.len() <= 128
            && text
                .bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\\' | b'\''));
        ok.then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An OAuth client id (RFC 6749 §2.2): a printable string chosen by the administrator.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let ok = !text.is_empty()
            && text.len() <= 128
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._~:".contains(c));
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(DomainError::invalid(
                "client_id",
                "1 to 128 characters among letters, digits and - . _ ~ :",
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ClientId {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}
impl From<ClientId> for String {
    fn from(value: ClientId) -> Self {
        value.0
    }
}
impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A validated text value reads as the text it is (pages, mails, claims); only its `parse`
/// makes one.
macro_rules! read_as_text {
    ($name:ident) => {
        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

/// The identifier a person logs in with (not their e-mail address).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Username(String);

read_as_text!(Username);

impl Username {
    pub const MAX_LEN: usize = 64;

    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let text = text.trim();
        if text.is_empty() || text.chars().count() > Self::MAX_LEN {
            return Err(DomainError::invalid("username", "1 to 64 characters"));
        }
        if text.contains('@') {
            return Err(DomainError::invalid(
                "username",
                "an identifier, not an e-mail address (no @)",
            ));
        }
        if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(DomainError::invalid(
                "username",
                "no spaces or control characters",
            ));
        }
        Ok(Self(text.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The form kept unique: case-folded, so `Jean.Dupont` and `jean.dupont` are one account.
    pub fn normalized(&self) -> String {
        normalize(&self.0)
    }
}

/// `text` encoded for a URL's query (pending-login ids are URL-safe already; this keeps any
/// other value from breaking the URL).
pub fn query_value(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Case-insensitive form of an identifier or address as typed at login.
pub fn normalize(text: &str) -> String {
    text.trim().to_lowercase()
}

/// An e-mail address, checked for shape only (the mail itself proves it exists).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Email(String);

read_as_text!(Email);

impl Email {
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let text = text.trim();
        let valid = text.len() <= 254
            && !text.chars().any(|c| c.is_whitespace() || c.is_control())
            && match text.rsplit_once('@') {
                Some((local, domain)) => {
                    !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
                }
                None => false,
            };
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(DomainError::invalid(
                "email",
                "an address like name@example.org",
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn normalized(&self) -> String {
        normalize(&self.0)
    }
}

/// A redirect URI as registered: absolute, no fragment (RFC 6749 §3.1.2), https unless it
/// points at the loopback interface or uses a private-use scheme (RFC 8252 §7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RedirectUri(String);

impl RedirectUri {
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let url = url::Url::parse(text)
            .map_err(|_| DomainError::invalid("redirect_uri", "an absolute URI"))?;
        if url.fragment().is_some() {
            return Err(DomainError::invalid(
                "redirect_uri",
                "a URI without #fragment",
            ));
        }
        let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => {
                return Err(DomainError::invalid(
                    "redirect_uri",
                    "https (plain http only on localhost)",
                ));
            }
            scheme if scheme.contains('.') => {} // private-use scheme of a native app
            _ => {
                return Err(DomainError::invalid(
                    "redirect_uri",
                    "https, http on localhost, or a reverse-domain private scheme",
                ));
            }
        }
        // Kept exactly as registered: comparison is by simple string equality (RFC 9700 §4.1.3).
        Ok(Self(text.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RedirectUri {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}
impl From<RedirectUri> for String {
    fn from(value: RedirectUri) -> Self {
        value.0
    }
}

pub use crate::crypto::{SigningAlg, UnknownAlg};

impl From<UnknownAlg> for DomainError {
    fn from(_: UnknownAlg) -> Self {
        DomainError::invalid("alg", "RS256 or ES256")
    }
}

/// What an account is for; claims and the first-login wizard depend on it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountKind {
    #[default]
    Pupil,
    Guardian,
    Staff,
    Administrator,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pupil => "pupil",
            Self::Guardian => "guardian",
            Self::Staff => "staff",
            Self::Administrator => "administrator",
        }
    }

    pub fn parse(text: &str) -> Result<Self, DomainError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "pupil" => Ok(Self::Pupil),
            "guardian" => Ok(Self::Guardian),
            "staff" => Ok(Self::Staff),
            "administrator" => Ok(Self::Administrator),
            _ => Err(DomainError::invalid(
                "kind",
                "pupil, guardian, staff or administrator",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_refuses_email_and_normalises_case() {
        assert!(Username::parse("jean.dupont@hotmail.com").is_err());
        let name = Username::parse(" Jean.Dupont ").unwrap();
        assert_eq!(name.as_str(), "Jean.Dupont");
        assert_eq!(name.normalized(), "jean.dupont");
    }

    #[test]
    fn redirect_uri_rules() {
        assert!(RedirectUri::parse("https://app.example/cb").is_ok());
        assert!(RedirectUri::parse("http://127.0.0.1:9000/cb").is_ok());
        assert!(RedirectUri::parse("be.school.app:/cb").is_ok());
        assert!(RedirectUri::parse("http://app.example/cb").is_err());
        assert!(RedirectUri::parse("https://app.example/cb#x").is_err());
        assert!(RedirectUri::parse("javascript:alert(1)").is_err());
        assert!(RedirectUri::parse("/relative").is_err());
    }

    #[test]
    fn client_id_charset() {
        assert!(ClientId::parse("school-app_1").is_ok());
        assert!(ClientId::parse("").is_err());
        assert!(ClientId::parse("a b").is_err());
    }
}
