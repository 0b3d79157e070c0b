//! Registered relying parties.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use super::clock::{from_db, to_db};
use super::types::{ClientId, RedirectUri, SigningAlg};
use super::{DomainError, DomainResult};
use crate::config::StaticClient;
use crate::crypto;
use crate::store::models::ClientRow;
use crate::store::schema::clients;
use crate::store::{self, DbConn};

mod cache;
pub use cache::ClientCache;

/// Client authentication at the token endpoint (OIDC Core §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
    /// Public client: no secret; PKCE is then required.
    None,
}

impl AuthMethod {
    pub const ALL: [AuthMethod; 4] = [
        Self::ClientSecretBasic,
        Self::ClientSecretPost,
        Self::PrivateKeyJwt,
        Self::None,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::None => "none",
        }
    }
    pub fn parse(text: &str) -> DomainResult<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == text)
            .ok_or_else(|| {
                DomainError::invalid(
                    "token_endpoint_auth_method",
                    "client_secret_basic, client_secret_post, private_key_jwt or none",
                )
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl GrantType {
    pub const ALL: [GrantType; 3] = [
        Self::AuthorizationCode,
        Self::RefreshToken,
        Self::ClientCredentials,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
        }
    }
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == text)
    }
}

/// Scopes this provider knows (OIDC Core §5.4 and §11), and `school` (account kind,
/// schools and organising bodies).
pub const SUPPORTED_SCOPES: [&str; 7] = [
    "openid",
    "profile",
    "email",
    "address",
    "phone",
    "offline_access",
    "school",
];

#[derive(Debug, Clone, Serialize)]
pub struct Client {
    pub id: ClientId,
    pub name: String,
    #[serde(skip)]
    pub secret_hash: Option<Vec<u8>>,
    pub token_endpoint_auth_method: AuthMethod,
    pub redirect_uris: Vec<RedirectUri>,
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    pub grant_types: Vec<GrantType>,
    pub scopes: Vec<String>,
    pub id_token_signed_response_alg: SigningAlg,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    pub from_config: bool,
    pub created_at: DateTime<Utc>,
}

/// Why a client's registered keys cannot verify a JWT it signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKeyError {
    /// The client registered no JWK Set.
    NoKeys,
    /// None of its keys has the JWT's `kid`.
    UnknownKey,
    /// The key is not one `jsonwebtoken` can verify with.
    Unusable,
}

impl Client {
    /// The key of the client's registered JWK Set that verifies a JWT with header `kid`
    /// (without one, the set's first): client assertions (RFC 7523) and request objects
    /// (RFC 9101).
    pub fn verifying_key(
        &self,
        kid: Option<&str>,
    ) -> Result<jsonwebtoken::DecodingKey, ClientKeyError> {
        let keys: jsonwebtoken::jwk::JwkSet = self
            .jwks
            .clone()
            .and_then(|j| serde_json::from_value(j).ok())
            .ok_or(ClientKeyError::NoKeys)?;
        let jwk = match kid {
            Some(kid) => keys.find(kid),
            None => keys.keys.first(),
        }
        .ok_or(ClientKeyError::UnknownKey)?;
        jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|_| ClientKeyError::Unusable)
    }

    pub fn is_public(&self) -> bool {
        self.token_endpoint_auth_method == AuthMethod::None
    }
    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }
    /// Exact string comparison, as RFC 9700 §4.1.3 and OIDC Core §3.1.2.1 require.
    pub fn has_redirect_uri(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|r| r.as_str() == uri)
    }
    pub fn has_post_logout_redirect_uri(&self, uri: &str) -> bool {
        self.post_logout_redirect_uris
            .iter()
            .any(|r| r.as_str() == uri)
    }

    fn from_row(row: ClientRow) -> DomainResult<Self> {
        let corrupt = |what: &str| DomainError::Corrupt(format!("client {}: {what}", row.id));
        let json_list = |text: &str| -> DomainResult<Vec<String>> {
            serde_json::from_str(text).map_err(|_| corrupt("list column"))
        };
        Ok(Self {
            id: ClientId::parse(&row.id)?,
            name: row.name.clone(),
            secret_hash: row.secret_hash.clone(),
            token_endpoint_auth_method: AuthMethod::parse(&row.token_endpoint_auth_method)?,
            redirect_uris: json_list(&row.redirect_uris)?
                .iter()
                .map(|u| RedirectUri::parse(u))
                .collect::<Result<_, _>>()?,
            post_logout_redirect_uris: json_list(&row.post_logout_redirect_uris)?
                .iter()
                .map(|u| RedirectUri::parse(u))
                .collect::<Result<_, _>>()?,
            grant_types: json_list(&row.grant_types)?
                .iter()
                .map(|g| GrantType::parse(g).ok_or_else(|| corrupt("grant type")))
                .collect::<Result<_, _>>()?,
            scopes: json_list(&row.scopes)?,
            id_token_signed_response_alg: SigningAlg::parse(&row.id_token_signed_response_alg)
                .map_err(|e| DomainError::Corrupt(format!("client {}: alg {e}", row.id)))?,
            jwks: match &row.jwks {
                Some(text) => Some(serde_json::from_str(text).map_err(|_| corrupt("jwks"))?),
                None => None,
            },
            from_config: row.from_config,
            created_at: from_db(row.created_at),
        })
    }
}

/// A client to register, validated as a whole.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub id: ClientId,
    pub name: String,
    /// The secret in clear, for a confidential client; generated when not given.
    pub secret: Option<String>,
    pub token_endpoint_auth_method: AuthMethod,
    pub redirect_uris: Vec<RedirectUri>,
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    pub grant_types: Vec<GrantType>,
    pub scopes: Vec<String>,
    pub id_token_signed_response_alg: SigningAlg,
    pub jwks: Option<serde_json::Value>,
}

impl NewClient {
    pub fn validate(&self) -> DomainResult<()> {
        if self.name.trim().is_empty() {
            return Err(DomainError::invalid("name", "a non-empty name"));
        }
        if self.grant_types.is_empty() {
            return Err(DomainError::invalid(
                "grant_types",
                "at least one grant type",
            ));
        }
        let uses_code = self.grant_types.contains(&GrantType::AuthorizationCode);
        if uses_code && self.redirect_uris.is_empty() {
            return Err(DomainError::invalid(
                "redirect_uris",
                "at least one redirect URI for the authorization_code grant",
            ));
        }
        if self.token_endpoint_auth_method == AuthMethod::None
            && self.grant_types.contains(&GrantType::ClientCredentials)
        {
            return Err(DomainError::invalid(
                "grant_types",
                "no client_credentials for a public client",
            ));
        }
        if let Some(bad) = self
            .scopes
            .iter()
            .find(|s| !SUPPORTED_SCOPES.contains(&s.as_str()))
        {
            return Err(DomainError::invalid(
                "scopes",
                format!(
                    "known scopes only ({}); not {bad:?}",
                    SUPPORTED_SCOPES.join(" ")
                ),
            ));
        }
        match self.token_endpoint_auth_method {
            AuthMethod::PrivateKeyJwt => {
                let keys = self.jwks.as_ref().and_then(|j| {
                    serde_json::from_value::<jsonwebtoken::jwk::JwkSet>(j.clone()).ok()
                });
                if keys.is_none_or(|k| k.keys.is_empty()) {
                    return Err(DomainError::invalid(
                        "jwks",
                        "a JWK Set with the client's public keys for private_key_jwt",
                    ));
                }
            }
            AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost => {
                if let Some(secret) = &self.secret
                    && secret.len() < 32
                {
                    return Err(DomainError::invalid(
                        "secret",
                        "at least 32 characters (or let the STS generate one)",
                    ));
                }
            }
            AuthMethod::None => {
                if self.secret.is_some() {
                    return Err(DomainError::invalid(
                        "secret",
                        "no secret for a public client",
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn from_static(c: &StaticClient) -> DomainResult<Self> {
        let method = match (&c.token_endpoint_auth_method, &c.secret) {
            (Some(m), _) => AuthMethod::parse(m)?,
            (None, Some(_)) => AuthMethod::ClientSecretBasic,
            (None, None) if c.jwks.is_some() => AuthMethod::PrivateKeyJwt,
            (None, None) => AuthMethod::None,
        };
        let grant_types = c
            .grant_types
            .iter()
            .map(|g| {
                GrantType::parse(g).ok_or_else(|| {
                    DomainError::invalid(
                        "grant_types",
                        "authorization_code, refresh_token or client_credentials",
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        let new = Self {
            id: c.id.clone(),
            name: c.name.clone(),
            secret: c.secret.clone(),
            token_endpoint_auth_method: method,
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            grant_types,
            scopes: c.scopes.clone(),
            id_token_signed_response_alg: c.id_token_signed_response_alg,
            jwks: c.jwks.clone(),
        };
        new.validate()?;
        Ok(new)
    }

    fn into_row(
        self,
        secret: Option<&str>,
        from_config: bool,
        now: DateTime<Utc>,
    ) -> DomainResult<ClientRow> {
        let list = |v: Vec<String>| {
            serde_json::to_string(&v).map_err(|e| DomainError::Internal(e.to_string()))
        };
        Ok(ClientRow {
            id: self.id.to_string(),
            name: self.name.trim().to_owned(),
            secret_hash: secret.map(|s| crypto::sha256(s.as_bytes())),
            token_endpoint_auth_method: self.token_endpoint_auth_method.as_str().into(),
            redirect_uris: list(self.redirect_uris.into_iter().map(String::from).collect())?,
            post_logout_redirect_uris: list(
                self.post_logout_redirect_uris
                    .into_iter()
                    .map(String::from)
                    .collect(),
            )?,
            grant_types: list(
                self.grant_types
                    .iter()
                    .map(|g| g.as_str().to_owned())
                    .collect(),
            )?,
            scopes: list(self.scopes)?,
            id_token_signed_response_alg: self.id_token_signed_response_alg.as_str().into(),
            jwks: self.jwks.map(|j| j.to_string()),
            from_config,
            created_at: to_db(now),
            updated_at: to_db(now),
        })
    }
}

/// Registers a client; returns it and, for a secret-based client, the secret in clear — the
/// only time it is ever shown.
pub fn create(
    conn: &mut DbConn,
    new: NewClient,
    now: DateTime<Utc>,
) -> DomainResult<(Client, Option<String>)> {
    new.validate()?;
    if find(conn, new.id.as_str())?.is_some() {
        return Err(DomainError::Conflict(
            format!("client {} already exists", new.id).into(),
        ));
    }
    let secret = match new.token_endpoint_auth_method {
        AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost => Some(match &new.secret {
            Some(s) => s.clone(),
            None => crypto::random_token()?,
        }),
        _ => None,
    };
    let row = new.into_row(secret.as_deref(), false, now)?;
    diesel::insert_into(clients::table)
        .values(&row)
        .execute(conn)?;
    Ok((Client::from_row(row)?, secret))
}

/// Writes the configuration file's clients, replacing earlier versions of them. Every
/// instance does this at start; it is idempotent.
pub fn sync_static(
    conn: &mut DbConn,
    statics: &[StaticClient],
    now: DateTime<Utc>,
) -> DomainResult<()> {
    for c in statics {
        // Named, so the operator knows which `[[clients]]` entry to mend.
        let new = NewClient::from_static(c)
            .map_err(|e| DomainError::invalid("clients", format!("{} ({e})", c.id)))?;
        let secret = new.secret.clone();
        let mut row = new.into_row(secret.as_deref(), true, now)?;
        store::transaction(conn, |conn| {
            let existing: Option<ClientRow> = clients::table
                .find(&row.id)
                .select(ClientRow::as_select())
                .first(conn)
                .optional()?;
            match existing {
                Some(old) => {
                    row.created_at = old.created_at;
                    diesel::update(clients::table.find(&row.id))
                        .set(&row)
                        .execute(conn)?;
                }
                None => {
                    diesel::insert_into(clients::table)
                        .values(&row)
                        .execute(conn)?;
                }
            }
            // Back-Channel Logout: the file owns this client's listener too.
            let uri = c.backchannel_logout_uri.as_ref().map(RedirectUri::as_str);
            let front = c.frontchannel_logout_uri.as_ref().map(RedirectUri::as_str);
            diesel::update(clients::table.find(&row.id))
                .set((
                    clients::backchannel_logout_uri.eq(uri),
                    clients::frontchannel_logout_uri.eq(front),
                ))
                .execute(conn)?;
            Ok::<_, DomainError>(())
        })?;
    }
    Ok(())
}

pub fn find(conn: &mut DbConn, id: &str) -> DomainResult<Option<Client>> {
    let row: Option<ClientRow> = clients::table
        .find(id)
        .select(ClientRow::as_select())
        .first(conn)
        .optional()?;
    row.map(Client::from_row).transpose()
}

pub fn list(conn: &mut DbConn) -> DomainResult<Vec<Client>> {
    let rows: Vec<ClientRow> = clients::table
        .order(clients::id)
        .select(ClientRow::as_select())
        .load(conn)?;
    rows.into_iter().map(Client::from_row).collect()
}

pub fn delete(conn: &mut DbConn, id: &str) -> DomainResult<()> {
    let n = diesel::delete(clients::table.find(id)).execute(conn)?;
    if n == 0 {
        return Err(DomainError::NotFound(format!("client {id}").into()));
    }
    Ok(())
}

/// The claims about a person an organising body may keep back from an application (OIDC
/// Core §5.1 and this STS's `school` claims); what the protocol needs (`sub`, `iss`,
/// `auth_time`…) never.
pub const WITHHOLDABLE_CLAIMS: [&str; 14] = [
    "preferred_username",
    "name",
    "given_name",
    "family_name",
    "locale",
    "birthdate",
    "gender",
    "address",
    "email",
    "phone_number",
    "account_kind",
    "schools",
    "organising_bodies",
    "updated_at",
];

/// The claims kept back from client `id`.
pub fn withheld_claims(conn: &mut DbConn, id: &str) -> DomainResult<Vec<String>> {
    let text: Option<String> = clients::table
        .find(id)
        .select(clients::withheld_claims)
        .first(conn)
        .optional()?;
    match text {
        Some(text) => serde_json::from_str(&text)
            .map_err(|_| DomainError::Corrupt(format!("client {id}: withheld claims"))),
        None => Ok(Vec::new()),
    }
}

/// Keeps `claims` back from client `id` from now on (replacing the earlier list; empty:
/// none). Unknown names are refused, naming the ones that may be.
pub fn set_withheld_claims(conn: &mut DbConn, id: &str, claims: &[String]) -> DomainResult<()> {
    if let Some(bad) = claims
        .iter()
        .find(|c| !WITHHOLDABLE_CLAIMS.contains(&c.as_str()))
    {
        return Err(DomainError::invalid(
            "claim",
            format!(
                "{bad} is not a claim about the person ({})",
                WITHHOLDABLE_CLAIMS.join(", ")
            ),
        ));
    }
    let text = serde_json::to_string(claims).map_err(|e| DomainError::Internal(e.to_string()))?;
    let changed = diesel::update(clients::table.find(id))
        .set(clients::withheld_claims.eq(text))
        .execute(conn)?;
    if changed == 0 {
        return Err(DomainError::NotFound(format!("client {id}").into()));
    }
    Ok(())
}

/// Removes from `claims` what client `id` is kept from, with the claims that only say
/// something of them (`email_verified` goes with `email`).
pub fn withhold(
    conn: &mut DbConn,
    id: &str,
    claims: &mut serde_json::Map<String, serde_json::Value>,
) -> DomainResult<()> {
    for name in withheld_claims(conn, id)? {
        claims.remove(&name);
        match name.as_str() {
            "email" => {
                claims.remove("email_verified");
            }
            "phone_number" => {
                claims.remove("phone_number_verified");
            }
            _ => {}
        }
    }
    Ok(())
}
