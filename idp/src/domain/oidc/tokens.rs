//! The token endpoint (RFC 6749 §4.1.3, §4.4, §6), the tokens it mints (OIDC Core §2,
//! RFC 9068), and their checks at UserInfo, revocation (RFC 7009) and introspection
//! (RFC 7662).

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::claims::RequestedClaims;
use super::client_auth::{self, BasicCredentials};
use super::params::Params;
use super::resources;
use super::scope::Scope;
use crate::crypto::{self, jws};
use crate::domain::clients::{self, Client, GrantType};
use crate::domain::clock::{from_db, to_db};
use crate::domain::types::{GrantId, SigningAlg, UserId};
use crate::domain::users::{self, User};
use crate::domain::{DomainError, DomainResult, ErrorCode, Idp};
use crate::store::DbConn;
use crate::store::models::{AuthorizationCodeRow, GrantRow, RefreshTokenRow};
use crate::store::schema::{authorization_codes, grants, refresh_tokens, revoked_access_tokens};

/// The JSON answer of RFC 6749 §5.1.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

fn invalid_grant(msg: &'static str) -> DomainError {
    DomainError::oauth(ErrorCode::InvalidGrant, msg)
}

pub fn grant(
    idp: &Idp,
    conn: &mut DbConn,
    client: &Client,
    params: &Params,
) -> DomainResult<TokenResponse> {
    let grant_type = params.require("grant_type")?;
    let grant = GrantType::parse(grant_type).ok_or_else(|| {
        DomainError::oauth(
            ErrorCode::UnsupportedGrantType,
            "grant_type is not supported",
        )
    })?;
    if !client.allows_grant(grant) {
        return Err(DomainError::oauth(
            ErrorCode::UnauthorizedClient,
            "this client may not use this grant type",
        ));
    }
    let answer = match grant {
        GrantType::AuthorizationCode => redeem_code(idp, conn, client, params),
        GrantType::RefreshToken => refresh(idp, conn, client, params),
        GrantType::ClientCredentials => client_credentials(idp, conn, client, params),
    };
    counted(grant, answer)
}

/// The token endpoint's answer when nothing in the request needs the store: a
/// `client_credentials` grant (RFC 6749 §4.4) without `resource`, by a client whose
/// secret this instance remembers (`clients::ClientCache`). The web answers it on its
/// async worker, without the hop to the database threads: a machine client's tokens are
/// then a hash, a signature and JSON. None: the request goes the usual way (`grant`),
/// which gives every refusal its error.
pub fn client_credentials_from_memory(
    idp: &Idp,
    basic: Option<&BasicCredentials>,
    params: &Params,
) -> Option<DomainResult<TokenResponse>> {
    let grant = GrantType::ClientCredentials;
    if params.get("grant_type") != Some(grant.as_str()) || params.get("resource").is_some() {
        return None;
    }
    let client = client_auth::remembered(idp, basic, params)?;
    if !client.allows_grant(grant) {
        return None;
    }
    Some(counted(grant, client_token(idp, &client, params, None)))
}

/// Counts a token request's outcome by grant type (`/metrics`).
fn counted(grant: GrantType, answer: DomainResult<TokenResponse>) -> DomainResult<TokenResponse> {
    let outcome = match answer {
        Ok(_) => crate::metrics::Outcome::issued,
        Err(_) => crate::metrics::Outcome::refused,
    };
    crate::metrics::token(grant.as_str(), outcome);
    answer
}

/// A grant, when it was revoked (if it was) and the client it belongs to.
type LoadedGrant = (Grant, Option<DateTime<Utc>>, String);

/// A user grant as stored.
struct Grant {
    id: GrantId,
    user_id: UserId,
    session_id: Option<String>,
    scope: Scope,
    nonce: Option<String>,
    auth_time: DateTime<Utc>,
    amr: Vec<String>,
    /// The upstream provider of the login (the ID token's `idp`), if any.
    idp: Option<String>,
    /// Single claims asked with the `claims` parameter.
    requested: RequestedClaims,
    /// The API the authorization request named (RFC 8707).
    resource: Option<String>,
}

fn load_grant(conn: &mut DbConn, id: &str) -> DomainResult<Option<LoadedGrant>> {
    let row: Option<GrantRow> = grants::table
        .find(id)
        .select(GrantRow::as_select())
        .first(conn)
        .optional()?;
    row.map(|r| {
        Ok((
            Grant {
                id: GrantId::parse(&r.id)?,
                user_id: UserId::parse(&r.user_id)?,
                session_id: r.sso_session_id,
                scope: Scope::parse(&r.scope),
                nonce: r.nonce,
                auth_time: from_db(r.auth_time),
                amr: serde_json::from_str(&r.amr)
                    .map_err(|e| DomainError::Corrupt(format!("grant amr: {e}")))?,
                idp: r.idp,
                requested: match &r.claims {
                    Some(text) => serde_json::from_str(text)
                        .map_err(|e| DomainError::Corrupt(format!("grant claims: {e}")))?,
                    None => RequestedClaims::default(),
                },
                resource: r.resource,
            },
            r.revoked_at.map(from_db),
            r.client_id,
        ))
    })
    .transpose()
}

/// Revokes a grant: its refresh tokens and the access tokens carrying its id stop working.
pub fn revoke_grant(conn: &mut DbConn, id: &str, now: DateTime<Utc>) -> DomainResult<()> {
    diesel::update(grants::table.find(id).filter(grants::revoked_at.is_null()))
        .set(grants::revoked_at.eq(to_db(now)))
        .execute(conn)?;
    Ok(())
}

/// The grant behind a code or refresh token, which must belong to `client`
/// (RFC 6749 §4.1.3, §6), and when it was revoked, if it was.
fn owned_grant(
    conn: &mut DbConn,
    grant_id: &str,
    client: &Client,
    what: &str,
) -> DomainResult<(Grant, Option<DateTime<Utc>>)> {
    match load_grant(conn, grant_id)? {
        Some((grant, revoked, owner)) if owner == client.id.as_str() => Ok((grant, revoked)),
        Some(_) => Err(DomainError::oauth(
            ErrorCode::InvalidGrant,
            format!("the {what} was issued to another client"),
        )),
        None => Err(DomainError::oauth(
            ErrorCode::InvalidGrant,
            format!("the {what} is invalid"),
        )),
    }
}

fn redeem_code(
    idp: &Idp,
    conn: &mut DbConn,
    client: &Client,
    params: &Params,
) -> DomainResult<TokenResponse> {
    let now = idp.now();
    let code = params.require("code")?;
    let code_hash = crypto::sha256(code.as_bytes());
    let row: AuthorizationCodeRow = authorization_codes::table
        .find(&code_hash)
        .select(AuthorizationCodeRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| invalid_grant("the code is invalid"))?;
    let (grant, revoked) = owned_grant(conn, &row.grant_id, client, "code")?;
    // Single use, race-free across instances: only one UPDATE can flip used_at.
    let won = crate::store::write(conn, |conn| {
        diesel::update(
            authorization_codes::table
                .find(&code_hash)
                .filter(authorization_codes::used_at.is_null()),
        )
        .set(authorization_codes::used_at.eq(to_db(now)))
        .execute(conn)
    })?;
    if won == 0 {
        // RFC 6749 §4.1.2 and RFC 9700 §4.5: a replayed code revokes what it issued.
        revoke_grant(conn, &row.grant_id, now)?;
        tracing::warn!(client = %client.id, "authorization code replayed; grant revoked");
        return Err(invalid_grant("the code was already used"));
    }
    if from_db(row.expires_at) <= now {
        return Err(invalid_grant("the code has expired"));
    }
    if revoked.is_some() {
        return Err(invalid_grant("the grant was revoked"));
    }
    if params.get("redirect_uri") != Some(row.redirect_uri.as_str()) {
        return Err(invalid_grant(
            "redirect_uri differs from the authorization request",
        ));
    }
    match (&row.code_challenge, params.get("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            let valid_shape = (43..=128).contains(&verifier.len())
                && verifier
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c));
            if !valid_shape
                || !crypto::constant_time_eq(
                    crypto::pkce_s256(verifier).as_bytes(),
                    challenge.as_bytes(),
                )
            {
                return Err(invalid_grant(
                    "code_verifier does not match the code_challenge",
                ));
            }
        }
        (Some(_), None) => return Err(invalid_grant("code_verifier is missing")),
        // RFC 9700 §2.1.1: a verifier without a challenge is a downgrade attempt.
        (None, Some(_)) => return Err(invalid_grant("no code_challenge was sent for this code")),
        (None, None) => {}
    }
    let user = active_user(conn, grant.user_id)?;
    let target = resources::target(conn, client, params, grant.resource.as_deref())?;
    issue_user_tokens(idp, conn, client, &grant, &user, true, target.as_ref())
}

fn active_user(conn: &mut DbConn, id: UserId) -> DomainResult<User> {
    match users::find_by_id(conn, id)? {
        Some(u) if !u.disabled => Ok(u),
        _ => Err(invalid_grant("the account is not active")),
    }
}

/// The refresh token stored under `hash` (tokens are kept only as their SHA-256).
fn find_refresh_token(conn: &mut DbConn, hash: &[u8]) -> DomainResult<Option<RefreshTokenRow>> {
    Ok(refresh_tokens::table
        .find(hash)
        .select(RefreshTokenRow::as_select())
        .first(conn)
        .optional()?)
}

fn refresh(
    idp: &Idp,
    conn: &mut DbConn,
    client: &Client,
    params: &Params,
) -> DomainResult<TokenResponse> {
    let now = idp.now();
    let token = params.require("refresh_token")?;
    let hash = crypto::sha256(token.as_bytes());
    let row = find_refresh_token(conn, &hash)?
        .ok_or_else(|| invalid_grant("the refresh token is invalid"))?;
    let (mut grant, revoked, grant_client) = load_grant(conn, &row.grant_id)?
        .ok_or_else(|| invalid_grant("the refresh token is invalid"))?;
    if grant_client != client.id.as_str() {
        return Err(invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    let won = crate::store::write(conn, |conn| {
        diesel::update(
            refresh_tokens::table
                .find(&hash)
                .filter(refresh_tokens::used_at.is_null()),
        )
        .set(refresh_tokens::used_at.eq(to_db(now)))
        .execute(conn)
    })?;
    if won == 0 {
        // RFC 9700 §4.14.2: reuse of a rotated refresh token revokes the whole family.
        revoke_grant(conn, &row.grant_id, now)?;
        tracing::warn!(client = %client.id, "refresh token reused; grant revoked");
        return Err(invalid_grant("the refresh token was already used"));
    }
    if revoked.is_some() {
        return Err(invalid_grant("the grant was revoked"));
    }
    if from_db(row.expires_at) <= now {
        return Err(invalid_grant("the refresh token has expired"));
    }
    outlived_its_login(idp, conn, &grant, now)?;
    if let Some(asked) = params.get("scope") {
        let asked = Scope::parse(asked);
        if let Some(extra) = asked.beyond(&grant.scope) {
            return Err(DomainError::oauth(
                ErrorCode::InvalidScope,
                format!("scope {extra} was not granted"),
            ));
        }
        grant.scope = asked;
    }
    let user = active_user(conn, grant.user_id)?;
    let target = resources::target(conn, client, params, grant.resource.as_deref())?;
    issue_user_tokens(idp, conn, client, &grant, &user, false, target.as_ref())
}

/// A refresh token lives no longer than the login it came from (ASVS 4.0.3 §3.3.1 and
/// §3.3.2, NIST SP 800-63B §7.2): an online grant (without `offline_access`) only as long
/// as the SSO session it was made in, so that when the session expires its applications
/// cannot go on without a new login (OIDC Core §11: only `offline_access` outlives it);
/// and any grant at most `grant_max_age_seconds` after the person authenticated, however
/// often its refresh token was rotated.
fn outlived_its_login(
    idp: &Idp,
    conn: &mut DbConn,
    grant: &Grant,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    let max_age = idp.settings.grant_max_age_seconds;
    if max_age > 0 && grant.auth_time + Duration::seconds(max_age) <= now {
        return Err(invalid_grant(
            "the login this grant came from is too old: the person must log in again",
        ));
    }
    if !grant.scope.contains(Scope::OFFLINE_ACCESS)
        && let Some(session) = &grant.session_id
        && !super::sessions::is_live(conn, session, now)?
    {
        return Err(invalid_grant(
            "the login session of this grant has ended: the person must log in again",
        ));
    }
    Ok(())
}

fn issue_user_tokens(
    idp: &Idp,
    conn: &mut DbConn,
    client: &Client,
    grant: &Grant,
    user: &User,
    with_nonce: bool,
    target: Option<&resources::Resource>,
) -> DomainResult<TokenResponse> {
    let now = idp.now();
    let keys = idp.keys();
    let ttl = idp.settings.access_token_ttl_seconds;
    // RFC 8707: a token for an API carries that API as audience, and its scopes only.
    let scope = match target {
        Some(api) => api.narrow(&grant.scope).to_string(),
        None => grant.scope.to_string(),
    };
    let access = AccessClaims {
        auth_time: Some(grant.auth_time.timestamp()),
        sid: grant.session_id.clone(),
        grant_id: Some(grant.id.to_string()),
        aud: target.map_or_else(|| idp.settings.issuer.clone(), |api| api.uri.clone()),
        ..AccessClaims::new(idp, client, user.id.to_string(), &scope, now)?
    };
    let access_key = keys.signing_key(idp.settings.access_token_signing_alg, now)?;
    let access_token = jws::sign(access_key, "at+jwt", &access)?;
    let id_token = if grant.scope.contains(Scope::OPENID) {
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(idp.settings.issuer));
        claims.insert("sub".into(), json!(user.id.to_string()));
        claims.insert("aud".into(), json!(client.id.as_str()));
        claims.insert("iat".into(), json!(now.timestamp()));
        claims.insert(
            "exp".into(),
            json!(now.timestamp() + idp.settings.id_token_ttl_seconds),
        );
        claims.insert("auth_time".into(), json!(grant.auth_time.timestamp()));
        claims.insert("amr".into(), json!(grant.amr));
        // OIDC Core §2: how strong the login was, always said.
        let acr = super::acr::Acr::of(grant.idp.as_deref());
        claims.insert("acr".into(), json!(acr.as_str()));
        // Which upstream provider vouched for the person (as IdentityServer and Entra ID
        // name it): the application may treat a federated login differently.
        if let Some(upstream) = &grant.idp {
            claims.insert("idp".into(), json!(upstream));
        }
        if let Some(sid) = &grant.session_id {
            claims.insert("sid".into(), json!(sid));
        }
        if let (true, Some(nonce)) = (with_nonce, &grant.nonce) {
            claims.insert("nonce".into(), json!(nonce));
        }
        let alg = client.id_token_signed_response_alg;
        // OIDC Core §3.1.3.6: at_hash, the left half of the hash of the access token.
        let digest = crypto::sha256(access_token.as_bytes());
        claims.insert("at_hash".into(), json!(crypto::b64url(&digest[..16])));
        let asked = &grant.requested.id_token;
        person_claims(conn, user, client, &grant.scope, asked, &mut claims)?;
        Some(jws::sign(
            keys.signing_key(alg, now)?,
            "JWT",
            &Value::Object(claims),
        )?)
    } else {
        None
    };
    let refresh_token = if client.allows_grant(GrantType::RefreshToken) {
        let token = crypto::random_token()?;
        let row = RefreshTokenRow {
            token_hash: crypto::sha256(token.as_bytes()),
            grant_id: grant.id.to_string(),
            created_at: to_db(now),
            expires_at: to_db(now + Duration::seconds(idp.settings.refresh_token_ttl_seconds)),
            used_at: None,
        };
        crate::store::write(conn, |conn| {
            diesel::insert_into(refresh_tokens::table)
                .values(row)
                .execute(conn)
        })?;
        Some(token)
    } else {
        None
    };
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: ttl,
        scope,
        id_token,
        refresh_token,
    })
}

/// Claims of the scopes granted (OIDC Core §5.4).
/// The claims `scope` releases about `user` (OIDC Core §5.4), and with the `school` scope
/// what school apps need so they keep no second directory: the account's kind, its schools
/// and their organising bodies (documented in docs/claims.md).
pub fn scope_claims(
    conn: &mut DbConn,
    user: &User,
    scope: &Scope,
    claims: &mut Map<String, Value>,
) -> DomainResult<()> {
    let has = |s: &str| scope.contains(s);
    if has("school") {
        let schools = crate::domain::schools::schools_of(conn, user.id)?;
        let mut bodies: Vec<Value> = Vec::new();
        for s in &schools {
            let body = json!({"id": s.organising_body.id, "name": s.organising_body.name});
            if !bodies.contains(&body) {
                bodies.push(body);
            }
        }
        claims.insert("account_kind".into(), json!(user.kind));
        claims.insert(
            "schools".into(),
            json!(
                schools
                    .iter()
                    .map(|s| json!({"id": s.id, "name": s.name, "organising_body": s.organising_body.id}))
                    .collect::<Vec<_>>()
            ),
        );
        claims.insert("organising_bodies".into(), json!(bodies));
    }
    if has("profile") {
        claims.insert("preferred_username".into(), json!(user.username));
        if let Some(name) = user.name() {
            claims.insert("name".into(), json!(name));
        }
        for (key, value) in [
            ("given_name", &user.given_name),
            ("family_name", &user.family_name),
            ("locale", &user.locale),
        ] {
            if let Some(v) = value {
                claims.insert(key.into(), json!(v));
            }
        }
        claims.insert("updated_at".into(), json!(user.updated_at.timestamp()));
        // OIDC Core §5.1: `birthdate` as YYYY-MM-DD, `gender` female, male or another word.
        if let Some(born) = user.profile.birth_date {
            claims.insert(
                "birthdate".into(),
                json!(born.format("%Y-%m-%d").to_string()),
            );
        }
        if let Some(gender) = user.profile.sex.as_deref().and_then(gender) {
            claims.insert("gender".into(), json!(gender));
        }
    }
    // OIDC Core §5.1.1: the structured address, its parts as stored.
    if has("address") {
        let p = &user.profile;
        let mut address = Map::new();
        for (key, value) in [
            ("street_address", &p.street_address),
            ("postal_code", &p.postal_code),
            ("locality", &p.locality),
            ("country", &p.country),
        ] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                address.insert(key.into(), json!(v));
            }
        }
        if !address.is_empty() {
            claims.insert("address".into(), Value::Object(address));
        }
    }
    if has("email")
        && let Some(email) = &user.email
    {
        claims.insert("email".into(), json!(email));
        claims.insert("email_verified".into(), json!(user.email_verified));
    }
    if has("phone")
        && let Some(phone) = &user.phone_number
    {
        claims.insert("phone_number".into(), json!(phone));
        // Nobody proved the number to the STS (schools type it in).
        claims.insert("phone_number_verified".into(), json!(false));
    }
    Ok(())
}

/// The `gender` claim of a stored sex: the codes registers use (M/F, and their French,
/// Dutch and German words) as OIDC Core's `female` and `male`, any other word as written.
fn gender(sex: &str) -> Option<String> {
    let sex = sex.trim().to_lowercase();
    Some(match sex.as_str() {
        "" => return None,
        "f" | "female" | "femme" | "féminin" | "v" | "vrouw" | "vrouwelijk" | "w" | "weiblich" => {
            "female".into()
        }
        "m" | "male" | "homme" | "masculin" | "h" | "man" | "mannelijk" | "männlich" => {
            "male".into()
        }
        _ => sex,
    })
}

/// The claims about `user` an ID token or UserInfo carries: those the granted scope gives
/// (OIDC Core §5.4), those asked singly with the `claims` parameter whose scope the client
/// may have (§5.5), less what the client is kept from.
fn person_claims(
    conn: &mut DbConn,
    user: &User,
    client: &Client,
    scope: &Scope,
    asked: &[String],
    out: &mut Map<String, Value>,
) -> DomainResult<()> {
    scope_claims(conn, user, scope, out)?;
    let allowed = |s: &&str| !scope.contains(s) && client.scopes.iter().any(|c| c == s);
    let extra: Scope = asked
        .iter()
        .filter_map(|c| super::claims::scope_of(c))
        .filter(allowed)
        .collect();
    if !extra.is_empty() {
        let mut more = Map::new();
        scope_claims(conn, user, &extra, &mut more)?;
        let companions = [
            ("email", "email_verified"),
            ("phone_number", "phone_number_verified"),
        ];
        for name in asked {
            let Some(value) = more.remove(name) else {
                continue;
            };
            out.insert(name.clone(), value);
            for (claim, companion) in companions {
                if claim == name
                    && let Some(value) = more.remove(companion)
                {
                    out.insert(companion.into(), value);
                }
            }
        }
    }
    clients::withhold(conn, client.id.as_str(), out)
}

/// RFC 6749 §4.4; the token's subject is the client itself (RFC 9068 §2.2).
fn client_credentials(
    idp: &Idp,
    conn: &mut DbConn,
    client: &Client,
    params: &Params,
) -> DomainResult<TokenResponse> {
    let target = resources::target(conn, client, params, None)?;
    client_token(idp, client, params, target)
}

/// The access token of a `client_credentials` grant for the scopes asked, to `target`
/// (RFC 8707) if the request named a registered API, else to the STS itself.
fn client_token(
    idp: &Idp,
    client: &Client,
    params: &Params,
    target: Option<resources::Resource>,
) -> DomainResult<TokenResponse> {
    let now = idp.now();
    let asked = Scope::parse(params.get("scope").unwrap_or(""));
    // RFC 8707: to a named API, only scopes that API accepts.
    if let Some(api) = &target
        && let Some(bad) = asked.iter().find(|s| !api.scopes.iter().any(|a| a == s))
    {
        return Err(DomainError::oauth(
            ErrorCode::InvalidScope,
            format!("scope {bad} is not one {} accepts", api.uri),
        ));
    }
    if let Some(bad) = asked.iter().find(|s| {
        !client.scopes.iter().any(|c| c == s) || [Scope::OPENID, Scope::OFFLINE_ACCESS].contains(s)
    }) {
        return Err(DomainError::oauth(
            ErrorCode::InvalidScope,
            format!("scope {bad} is not available to this client"),
        ));
    }
    let scope = asked.to_string();
    let ttl = idp.settings.access_token_ttl_seconds;
    let claims = AccessClaims {
        aud: target.map_or_else(|| idp.settings.issuer.clone(), |api| api.uri),
        ..AccessClaims::new(idp, client, client.id.to_string(), &scope, now)?
    };
    let key = idp.keys();
    let token = jws::sign(
        key.signing_key(idp.settings.access_token_signing_alg, now)?,
        "at+jwt",
        &claims,
    )?;
    Ok(TokenResponse {
        access_token: token,
        token_type: "Bearer",
        expires_in: ttl,
        scope,
        id_token: None,
        refresh_token: None,
    })
}

/// Claims of an access token (RFC 9068 §2.2).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
}

impl AccessClaims {
    /// The claims every access token carries (RFC 9068 §2.2): issued now to `client` for
    /// `sub` with `scope`, for the configured lifetime, with a fresh `jti`. Tokens of a
    /// login add `auth_time`, `sid` and the grant.
    fn new(
        idp: &Idp,
        client: &Client,
        sub: String,
        scope: &str,
        now: DateTime<Utc>,
    ) -> DomainResult<Self> {
        Ok(Self {
            iss: idp.settings.issuer.clone(),
            sub,
            aud: idp.settings.issuer.clone(),
            client_id: client.id.to_string(),
            iat: now.timestamp(),
            exp: now.timestamp() + idp.settings.access_token_ttl_seconds,
            jti: crypto::random_uuid()?.to_string(),
            scope: scope.to_owned(),
            auth_time: None,
            sid: None,
            grant_id: None,
        })
    }
}

fn jwt_alg(alg: SigningAlg) -> Algorithm {
    match alg {
        SigningAlg::RS256 => Algorithm::RS256,
        SigningAlg::ES256 => Algorithm::ES256,
    }
}

/// Verifies one of our JWTs: known `kid`, the key's own algorithm (never `none` or a
/// downgrade), our issuer; `exp` checked unless `allow_expired`.
fn verify_ours<T: serde::de::DeserializeOwned>(
    idp: &Idp,
    token: &str,
    typ: &str,
    allow_expired: bool,
) -> Option<T> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    if header
        .typ
        .as_deref()
        .is_some_and(|t| !t.eq_ignore_ascii_case(typ))
    {
        return None;
    }
    let keys = idp.keys();
    let key = keys.by_kid(header.kid.as_deref()?)?;
    let mut validation = Validation::new(jwt_alg(key.alg));
    validation.set_issuer(&[&idp.settings.issuer]);
    validation.validate_aud = false;
    validation.validate_exp = !allow_expired;
    validation.leeway = 0;
    jsonwebtoken::decode::<T>(token, &key.decoding_key, &validation)
        .ok()
        .map(|d| d.claims)
}

/// Checks an access token as a bearer: signature, expiry, not revoked, grant still valid.
pub fn verify_access_token(
    idp: &Idp,
    conn: &mut DbConn,
    token: &str,
) -> DomainResult<AccessClaims> {
    let bad = || {
        DomainError::oauth(
            ErrorCode::InvalidToken,
            "the access token is invalid or expired",
        )
    };
    let claims: AccessClaims = verify_ours(idp, token, "at+jwt", false).ok_or_else(bad)?;
    if claims.exp <= idp.now().timestamp() {
        return Err(bad());
    }
    let revoked: i64 = revoked_access_tokens::table
        .filter(revoked_access_tokens::jti.eq(&claims.jti))
        .count()
        .get_result(conn)?;
    if revoked > 0 {
        return Err(bad());
    }
    if let Some(grant_id) = &claims.grant_id {
        match load_grant(conn, grant_id)? {
            Some((_, None, _)) => {}
            _ => return Err(bad()),
        }
    }
    Ok(claims)
}

#[derive(Debug, Deserialize)]
pub struct IdTokenHint {
    pub sub: String,
    pub aud: Value,
    pub sid: Option<String>,
}

impl IdTokenHint {
    pub fn audience(&self) -> Option<String> {
        match &self.aud {
            Value::String(s) => Some(s.clone()),
            Value::Array(a) => a.first().and_then(|v| v.as_str()).map(str::to_owned),
            _ => None,
        }
    }
}

/// An ID token we issued, expired or not (OIDC Core §3.1.2.1, RP-Initiated Logout §2).
pub fn verify_id_token_hint(idp: &Idp, token: &str) -> DomainResult<IdTokenHint> {
    verify_ours(idp, token, "JWT", true)
        .ok_or_else(|| DomainError::oauth(ErrorCode::InvalidRequest, "id_token_hint is invalid"))
}

/// The UserInfo response (OIDC Core §5.3).
pub fn userinfo(idp: &Idp, conn: &mut DbConn, token: &str) -> DomainResult<Value> {
    let claims = verify_access_token(idp, conn, token)?;
    let scope = Scope::parse(&claims.scope);
    if !scope.contains(Scope::OPENID) {
        return Err(DomainError::oauth(
            ErrorCode::InvalidToken,
            "the token was not issued for OpenID Connect",
        ));
    }
    // RFC 8707: a token issued for an API is that API's, not UserInfo's.
    if claims.aud != idp.settings.issuer {
        return Err(DomainError::oauth(
            ErrorCode::InvalidToken,
            "the token was issued for another resource",
        ));
    }
    let id = UserId::parse(&claims.sub)
        .map_err(|_| DomainError::oauth(ErrorCode::InvalidToken, "the token has no user"))?;
    let user = match users::find_by_id(conn, id)? {
        Some(u) if !u.disabled => u,
        _ => {
            return Err(DomainError::oauth(
                ErrorCode::InvalidToken,
                "the account is not active",
            ));
        }
    };
    let mut out = Map::new();
    out.insert("sub".into(), json!(user.id.to_string()));
    let client = clients::find(conn, &claims.client_id)?
        .ok_or_else(|| DomainError::oauth(ErrorCode::InvalidToken, "the client is gone"))?;
    let asked = match claims
        .grant_id
        .as_deref()
        .map(|g| load_grant(conn, g))
        .transpose()?
    {
        Some(Some((grant, _, _))) => grant.requested.userinfo,
        _ => Vec::new(),
    };
    person_claims(conn, &user, &client, &scope, &asked, &mut out)?;
    Ok(Value::Object(out))
}

/// RFC 7009: revokes a refresh token (and its grant) or an access token of `client`.
/// Unknown tokens are answered like known ones (§2.2).
pub fn revoke(idp: &Idp, conn: &mut DbConn, client: &Client, token: &str) -> DomainResult<()> {
    let now = idp.now();
    let hash = crypto::sha256(token.as_bytes());
    if let Some(row) = find_refresh_token(conn, &hash)? {
        if let Some((_, _, owner)) = load_grant(conn, &row.grant_id)? {
            if owner != client.id.as_str() {
                return Err(DomainError::oauth(
                    ErrorCode::UnauthorizedClient,
                    "the token belongs to another client",
                ));
            }
            revoke_grant(conn, &row.grant_id, now)?;
        }
        return Ok(());
    }
    if let Some(claims) = verify_ours::<AccessClaims>(idp, token, "at+jwt", false) {
        if claims.client_id != client.id.as_str() {
            return Err(DomainError::oauth(
                ErrorCode::UnauthorizedClient,
                "the token belongs to another client",
            ));
        }
        let exists: i64 = revoked_access_tokens::table
            .filter(revoked_access_tokens::jti.eq(&claims.jti))
            .count()
            .get_result(conn)?;
        if exists == 0 {
            diesel::insert_into(revoked_access_tokens::table)
                .values((
                    revoked_access_tokens::jti.eq(&claims.jti),
                    revoked_access_tokens::expires_at.eq(to_db(
                        DateTime::from_timestamp(claims.exp, 0).unwrap_or(now),
                    )),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// RFC 7662 §2.2. Only confidential clients may ask; inactive tokens say only that.
pub fn introspect(idp: &Idp, conn: &mut DbConn, token: &str) -> DomainResult<Value> {
    let now = idp.now();
    if let Ok(c) = verify_access_token(idp, conn, token) {
        let mut out = json!({
            "active": true, "token_type": "Bearer", "scope": c.scope, "client_id": c.client_id,
            "sub": c.sub, "aud": c.aud, "iss": c.iss, "exp": c.exp, "iat": c.iat, "jti": c.jti,
        });
        if let Ok(id) = UserId::parse(&c.sub)
            && let Some(user) = users::find_by_id(conn, id)?
        {
            out["username"] = json!(user.username);
        }
        return Ok(out);
    }
    let hash = crypto::sha256(token.as_bytes());
    if let Some(row) = find_refresh_token(conn, &hash)?
        && row.used_at.is_none()
        && from_db(row.expires_at) > now
        && let Some((grant, None, client_id)) = load_grant(conn, &row.grant_id)?
    {
        return Ok(json!({
            "active": true, "token_type": "refresh_token", "scope": grant.scope.to_string(),
            "client_id": client_id, "sub": grant.user_id.to_string(), "iss": idp.settings.issuer,
            "exp": from_db(row.expires_at).timestamp(), "iat": from_db(row.created_at).timestamp(),
        }));
    }
    Ok(json!({ "active": false }))
}
