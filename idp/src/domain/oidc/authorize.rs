//! The authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2).

use chrono::Duration;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::params::Params;
use super::scope::Scope;
use super::sessions::SsoSession;
use crate::crypto;
use crate::domain::clients::{self, Client, GrantType, SUPPORTED_SCOPES};
use crate::domain::clock::{from_db, to_db};
use crate::domain::types::{ClientId, GrantId};
use crate::domain::{DomainError, DomainResult, ErrorCode, Idp};
use crate::store::models::{AuthRequestRow, AuthorizationCodeRow, GrantRow};
use crate::store::schema::{auth_requests, authorization_codes, grants};
use crate::store::{self, DbConn};

/// Longest `state` echoed back; longer ones are refused before any redirect.
const MAX_STATE_LEN: usize = 2048;

/// A request that was checked and may be redirected back to the client.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthRequest {
    pub client_id: ClientId,
    pub client_name: String,
    pub redirect_uri: String,
    pub scope: Scope,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt_login: bool,
    pub prompt_none: bool,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    pub ui_locales: Option<String>,
    /// `sub` of a valid `id_token_hint`: the session must belong to that account.
    pub expected_sub: Option<String>,
    /// The look of the organising body the client belongs to, for the login pages.
    #[serde(default)]
    pub brand: Option<crate::domain::branding::Brand>,
    /// The authentication context classes asked for (`acr_values`), that this STS issues.
    #[serde(default)]
    pub acr_values: Vec<String>,
    /// Single claims asked with the `claims` parameter (OIDC Core §5.5).
    #[serde(default)]
    pub claims: super::claims::RequestedClaims,
    /// The API the tokens are for (RFC 8707 `resource`), checked.
    #[serde(default)]
    pub resource: Option<String>,
}

/// What checking an authorization request found.
#[derive(Debug)]
pub enum Validated {
    Valid(AuthRequest),
    /// The client and redirect URI are trusted: the error goes back to the client.
    Refused(AuthRequest, DomainError),
    /// The client or the redirect URI cannot be trusted: an error page, never a redirect
    /// (RFC 6749 §4.1.2.1, RFC 9700 §4.11).
    Untrusted(DomainError),
}

/// What the endpoint does next.
#[derive(Debug)]
pub enum Outcome {
    /// Send the browser to the client's redirect URI (with a code or an error).
    Redirect(String),
    /// Show the login form for this pending request.
    Login {
        request_id: String,
        request: Box<AuthRequest>,
    },
    /// The session's account owes required actions: on to the wizard with this flow.
    RequiredActions { flow: String },
    /// The client or redirect URI cannot be trusted: show this error, never redirect.
    Untrusted(DomainError),
}

/// Builds the redirect to the client: `params` appended to its query, plus `iss`
/// (RFC 9207 §2) and `state`.
pub fn client_redirect(idp: &Idp, req: &AuthRequest, params: &[(&str, &str)]) -> String {
    let mut url = match url::Url::parse(&req.redirect_uri) {
        Ok(u) => u,
        Err(_) => return req.redirect_uri.clone(),
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
        if let Some(state) = &req.state {
            q.append_pair("state", state);
        }
        q.append_pair("iss", &idp.settings.issuer);
    }
    url.to_string()
}

pub fn error_redirect(idp: &Idp, req: &AuthRequest, err: &DomainError) -> String {
    let description = match err {
        DomainError::OAuth { description, .. } => description.to_string(),
        _ => "the request could not be processed".into(),
    };
    client_redirect(
        idp,
        req,
        &[
            ("error", err.code().as_str()),
            ("error_description", &description),
        ],
    )
}

/// The authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2): the request checked,
/// then answered from the browser's SSO session or sent to the login form.
pub fn authorize(
    idp: &Idp,
    conn: &mut DbConn,
    pairs: Vec<(String, String)>,
    session_cookie: Option<&str>,
) -> DomainResult<Outcome> {
    // RFC 9126 §4: a pushed request's URI stands for the parameters the client pushed.
    let pushed_uri = pairs
        .iter()
        .find(|(k, v)| k == "request_uri" && v.starts_with(super::par::URN))
        .map(|(_, v)| v.clone());
    let (pairs, pushed) = match pushed_uri {
        Some(uri) => {
            let client = pairs
                .iter()
                .find(|(k, _)| k == "client_id")
                .map(|(_, v)| v.as_str());
            match super::par::take(conn, client, &uri, idp.now()) {
                Ok(pushed) => (pushed, true),
                Err(e) => return Ok(Outcome::Untrusted(e)),
            }
        }
        None => (pairs, false),
    };
    let pairs = match super::request_object::expand(idp, conn, pairs) {
        Ok(pairs) => pairs,
        Err(e) => return Ok(Outcome::Untrusted(e)),
    };
    let req = match validate(idp, conn, pairs, pushed) {
        Validated::Valid(req) => req,
        Validated::Refused(req, e) => return Ok(Outcome::Redirect(error_redirect(idp, &req, &e))),
        Validated::Untrusted(e) => return Ok(Outcome::Untrusted(e)),
    };
    let session = match session_cookie {
        Some(cookie) => super::sessions::find(conn, cookie, idp.now())?,
        None => None,
    };
    decide(idp, conn, req, session.as_ref())
}

/// Validates the client and redirect URI first; any later error goes back to the client.
/// `pushed`: the request came through the back channel (RFC 9126).
pub fn validate(
    idp: &Idp,
    conn: &mut DbConn,
    pairs: Vec<(String, String)>,
    pushed: bool,
) -> Validated {
    let (params, client, mut req) = match trusted(conn, pairs) {
        Ok(t) => t,
        Err(e) => return Validated::Untrusted(e),
    };
    match super::par::required(conn, client.id.as_str()) {
        Ok(true) if !pushed => {
            let e = invalid("this client must push its authorization requests (RFC 9126 §6)");
            return Validated::Refused(req, e);
        }
        Ok(_) => {}
        Err(e) => return Validated::Untrusted(e),
    }
    if let Err(e) = fill(idp, &client, &params, &mut req) {
        return Validated::Refused(req, e);
    }
    // RFC 8707 §2.1: the API the tokens are to be for, checked now (`invalid_target`).
    if let Some(uri) = params.get("resource") {
        match super::resources::named(conn, &client, uri) {
            Ok(api) => req.resource = Some(api.uri),
            Err(e) if e.is_client_error() => return Validated::Refused(req, e),
            Err(e) => return Validated::Untrusted(e),
        }
    }
    Validated::Valid(req)
}

/// The client, its registered redirect URI and the `state`: what must hold before any
/// error may be sent back to the client.
fn trusted(
    conn: &mut DbConn,
    pairs: Vec<(String, String)>,
) -> DomainResult<(Params, Client, AuthRequest)> {
    let params = Params::from_pairs(pairs)?;
    let client_id = params.require("client_id")?;
    let client = clients::find(conn, client_id)?
        .ok_or_else(|| DomainError::oauth(ErrorCode::InvalidRequest, "unknown client_id"))?;
    // OIDC Core §3.1.2.1: redirect_uri is required and must match a registered one exactly.
    let redirect_uri = params.require("redirect_uri")?;
    if !client.has_redirect_uri(redirect_uri) {
        return Err(DomainError::oauth(
            ErrorCode::InvalidRequest,
            "redirect_uri is not registered for this client",
        ));
    }
    let state = params.get("state").map(str::to_owned);
    if state.as_ref().is_some_and(|s| s.len() > MAX_STATE_LEN) {
        return Err(DomainError::oauth(
            ErrorCode::InvalidRequest,
            "state is too long",
        ));
    }
    let req = AuthRequest {
        client_id: client.id.clone(),
        client_name: client.name.clone(),
        redirect_uri: redirect_uri.to_owned(),
        scope: Scope::default(),
        state,
        nonce: None,
        code_challenge: None,
        prompt_login: false,
        prompt_none: false,
        max_age: None,
        login_hint: None,
        ui_locales: params.get("ui_locales").map(str::to_owned),
        expected_sub: None,
        brand: None,
        acr_values: Vec::new(),
        claims: Default::default(),
        resource: None,
    };
    Ok((params, client, req))
}

fn invalid(msg: &'static str) -> DomainError {
    DomainError::oauth(ErrorCode::InvalidRequest, msg)
}

fn fill(idp: &Idp, client: &Client, params: &Params, req: &mut AuthRequest) -> DomainResult<()> {
    // OIDC Core §6.1, §3.1.2.6: an OP without request objects says so with its own codes.
    if params.get("request").is_some() {
        return Err(DomainError::oauth(
            ErrorCode::RequestNotSupported,
            "request objects are not supported",
        ));
    }
    if params.get("request_uri").is_some() {
        return Err(DomainError::oauth(
            ErrorCode::RequestUriNotSupported,
            "request_uri is not supported",
        ));
    }
    if params.get("registration").is_some() {
        return Err(DomainError::oauth(
            ErrorCode::RegistrationNotSupported,
            "the registration parameter is not supported",
        ));
    }
    match params.get("response_type") {
        Some("code") => {}
        Some(_) => {
            return Err(DomainError::oauth(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ));
        }
        None => return Err(invalid("parameter response_type is missing")),
    }
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(DomainError::oauth(
            ErrorCode::UnauthorizedClient,
            "this client may not use the authorization code flow",
        ));
    }
    if params.get("response_mode").is_some_and(|m| m != "query") {
        return Err(invalid("only response_mode=query is supported"));
    }
    // Scopes: the intersection of what was asked, what we know and what the client may have.
    let asked = Scope::parse(params.get("scope").unwrap_or(""));
    req.scope =
        asked.only(|s| SUPPORTED_SCOPES.contains(&s) && client.scopes.iter().any(|c| c == s));
    if !req.scope.contains(Scope::OPENID) {
        return Err(DomainError::oauth(
            ErrorCode::InvalidScope,
            "scope must include openid",
        ));
    }
    // PKCE (RFC 7636, RFC 9700 §2.1.1): S256 only; required for public clients.
    match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (Some(challenge), Some("S256")) => {
            let ok = (43..=128).contains(&challenge.len())
                && challenge
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c));
            if !ok {
                return Err(invalid(
                    "code_challenge must be 43 to 128 unreserved characters",
                ));
            }
            req.code_challenge = Some(challenge.to_owned());
        }
        (Some(_), _) => {
            return Err(invalid(
                "code_challenge_method must be S256 (plain is refused)",
            ));
        }
        (None, Some(_)) => return Err(invalid("code_challenge_method without code_challenge")),
        (None, None) if client.is_public() => {
            return Err(invalid(
                "public clients must use PKCE (code_challenge with S256)",
            ));
        }
        (None, None) => {}
    }
    req.nonce = params.get("nonce").map(str::to_owned);
    if let Some(prompt) = params.get("prompt") {
        let values: Vec<&str> = prompt.split(' ').filter(|v| !v.is_empty()).collect();
        req.prompt_none = values.contains(&"none");
        req.prompt_login = values.contains(&"login");
        if req.prompt_none && values.len() > 1 {
            return Err(invalid("prompt=none cannot be combined with other values"));
        }
        if let Some(bad) = values
            .iter()
            .find(|v| !["none", "login", "consent", "select_account"].contains(v))
        {
            return Err(DomainError::oauth(
                ErrorCode::InvalidRequest,
                format!("unknown prompt value {bad}"),
            ));
        }
    }
    if let Some(max_age) = params.get("max_age") {
        req.max_age = Some(
            max_age
                .parse::<i64>()
                .ok()
                .filter(|m| *m >= 0)
                .ok_or_else(|| invalid("max_age must be a whole number of seconds"))?,
        );
    }
    if let Some(text) = params.get("claims") {
        req.claims = super::claims::RequestedClaims::parse(text)?;
    }
    // `acr` asked through `claims` counts as `acr_values` (OIDC Core §5.5.1.1).
    let asked_acr = [
        params.get("acr_values").unwrap_or_default(),
        &req.claims.acr.join(" "),
    ]
    .join(" ");
    req.acr_values = super::acr::requested(Some(&asked_acr));
    req.login_hint = params
        .get("login_hint")
        .map(|h| h.chars().take(128).collect());
    if let Some(hint) = params.get("id_token_hint") {
        let claims = super::tokens::verify_id_token_hint(idp, hint)
            .map_err(|_| invalid("id_token_hint is not a valid ID token of this issuer"))?;
        req.expected_sub = Some(claims.sub);
    }
    Ok(())
}

/// Decides between answering at once from the SSO session and asking for a login.
pub fn decide(
    idp: &Idp,
    conn: &mut DbConn,
    req: AuthRequest,
    session: Option<&SsoSession>,
) -> DomainResult<Outcome> {
    let now = idp.now();
    let usable = session.filter(|s| {
        !req.prompt_login
            && req
                .max_age
                .is_none_or(|m| (now - s.auth_time).num_seconds() <= m)
            && req
                .expected_sub
                .as_ref()
                .is_none_or(|sub| *sub == s.user_id.to_string())
            // A session of another class than the application asked for is not reused.
            && super::acr::satisfies(super::acr::Acr::of(s.idp.as_deref()), &req.acr_values)
    });
    if let Some(session) = usable {
        let user = crate::domain::users::find_by_id(conn, session.user_id)?;
        if let Some(user) = user.filter(|u| !u.disabled) {
            // New terms, or a first login finished elsewhere: what the account owes comes
            // before any code, with a session too.
            let steps = crate::domain::required_actions::owed(conn, &user)?;
            if steps.is_empty() {
                return Ok(Outcome::Redirect(issue_code(idp, conn, &req, session)?));
            }
            if req.prompt_none {
                let err = DomainError::oauth(
                    ErrorCode::InteractionRequired,
                    "the account must complete required actions",
                );
                return Ok(Outcome::Redirect(error_redirect(idp, &req, &err)));
            }
            let request_id = save_pending(idp, conn, &req)?;
            let ttl = Duration::seconds(idp.settings.login_request_ttl_seconds);
            let who = crate::domain::login::Authenticated {
                user,
                amr: session
                    .amr
                    .iter()
                    .map(crate::domain::login::Amr::new)
                    .collect(),
                method: crate::domain::login::Method::SSO_SESSION,
                old_identifier: None,
                upstream: session.idp.clone(),
            };
            let flow = crate::domain::required_actions::start(
                conn,
                &who,
                Some(&request_id),
                &steps,
                ttl,
                now,
            )?;
            return Ok(Outcome::RequiredActions { flow });
        }
    }
    if req.prompt_none {
        let err = DomainError::oauth(ErrorCode::LoginRequired, "the user must log in");
        return Ok(Outcome::Redirect(error_redirect(idp, &req, &err)));
    }
    let request_id = save_pending(idp, conn, &req)?;
    Ok(Outcome::Login {
        request_id,
        request: Box::new(req),
    })
}

/// Stores a pending request until the login form is submitted; returns its opaque id.
/// Keeps `req` for the login pages, with the brand they wear (read here, not for every
/// request: one answered from the SSO session shows no page).
fn save_pending(idp: &Idp, conn: &mut DbConn, req: &AuthRequest) -> DomainResult<String> {
    let now = idp.now();
    let id = crypto::random_token()?;
    let pending = AuthRequest {
        brand: crate::domain::branding::of_client(conn, req.client_id.as_str())?,
        ..req.clone()
    };
    let params =
        serde_json::to_string(&pending).map_err(|e| DomainError::Internal(e.to_string()))?;
    let row = AuthRequestRow {
        id_hash: crypto::sha256(id.as_bytes()),
        client_id: req.client_id.to_string(),
        params,
        created_at: to_db(now),
        expires_at: to_db(now + Duration::seconds(idp.settings.login_request_ttl_seconds)),
    };
    store::write(conn, |conn| {
        diesel::insert_into(auth_requests::table)
            .values(row)
            .execute(conn)
    })?;
    Ok(id)
}

/// The pending request `id` names, if it has not expired.
pub fn load_pending(idp: &Idp, conn: &mut DbConn, id: &str) -> DomainResult<Option<AuthRequest>> {
    let row: Option<AuthRequestRow> = auth_requests::table
        .find(crypto::sha256(id.as_bytes()))
        .select(AuthRequestRow::as_select())
        .first(conn)
        .optional()?;
    Ok(row
        .filter(|r| from_db(r.expires_at) > idp.now())
        .and_then(|r| serde_json::from_str(&r.params).ok()))
}

pub fn delete_pending(conn: &mut DbConn, id: &str) -> DomainResult<()> {
    let id_hash = crypto::sha256(id.as_bytes());
    store::write(conn, |conn| {
        diesel::delete(auth_requests::table.find(id_hash)).execute(conn)
    })?;
    Ok(())
}

/// Records the grant and a single-use code; returns the redirect carrying the code.
pub fn issue_code(
    idp: &Idp,
    conn: &mut DbConn,
    req: &AuthRequest,
    session: &SsoSession,
) -> DomainResult<String> {
    let now = idp.now();
    let code = crypto::random_token()?;
    let grant_id = GrantId::new();
    store::transaction(conn, |conn| {
        diesel::insert_into(grants::table)
            .values(GrantRow {
                id: grant_id.to_string(),
                client_id: req.client_id.to_string(),
                user_id: session.user_id.to_string(),
                sso_session_id: Some(session.id.to_string()),
                scope: req.scope.to_string(),
                nonce: req.nonce.clone(),
                auth_time: to_db(session.auth_time),
                amr: serde_json::to_string(&session.amr)
                    .map_err(|e| DomainError::Internal(e.to_string()))?,
                created_at: to_db(now),
                revoked_at: None,
                idp: session.idp.clone(),
                claims: (!req.claims.is_empty())
                    .then(|| serde_json::to_string(&req.claims))
                    .transpose()
                    .map_err(|e| DomainError::Internal(e.to_string()))?,
                resource: req.resource.clone(),
            })
            .execute(conn)?;
        diesel::insert_into(authorization_codes::table)
            .values(AuthorizationCodeRow {
                code_hash: crypto::sha256(code.as_bytes()),
                grant_id: grant_id.to_string(),
                redirect_uri: req.redirect_uri.clone(),
                code_challenge: req.code_challenge.clone(),
                created_at: to_db(now),
                expires_at: to_db(
                    now + Duration::seconds(idp.settings.authorization_code_ttl_seconds),
                ),
                used_at: None,
            })
            .execute(conn)?;
        Ok::<_, DomainError>(())
    })?;
    Ok(client_redirect(idp, req, &[("code", &code)]))
}
