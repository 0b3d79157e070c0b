//! The STS as a relying party of upstream OpenID providers ("Log in with Microsoft"),
//! through the `openidconnect` crate: discovery (cached per instance and read again after
//! `discovery_refresh_seconds`, or at once when a token names a key the cached set lacks:
//! the provider rotated its keys, OIDC Core §10.1.1), the authorization URL with PKCE
//! (RFC 7636), `state` and `nonce`, the code exchange, and the ID token's checks
//! (OIDC Core §3.1.3.7: signature, `iss`, `aud`, `exp`, `nonce`), then the provider's own
//! rules (`Provider::admits`: tenant, Workspace domain). It knows nothing of the pages:
//! the web layer calls it and the domain decides what a verified identity may do.
//!
//! Redirects are never followed (the openidconnect crate's advice against SSRF), and every
//! call has the provider's `timeout_seconds`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreClientAuthMethod,
    CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, ClaimsVerificationError, Client, ClientId, ClientSecret,
    CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields,
    JsonWebKeySet, LoginHint, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, SignatureVerificationError, StandardErrorResponse,
    StandardTokenResponse, TokenResponse,
};
use serde::{Deserialize, Serialize};

use crate::config::UpstreamKind;
use crate::domain::upstream::round_trip::{Purpose, Started};
use crate::domain::upstream::{Provider, Providers, Refusal, UpstreamIdentity, VerifiedClaims};

/// The claims besides OIDC Core's that the presets read.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ExtraClaims {
    /// Entra ID: the tenant, and the account's object id.
    tid: Option<String>,
    oid: Option<String>,
    /// Entra ID's optional "e-mail domain owner verified" claim (its `email` is otherwise
    /// not verified: never link by it without).
    xms_edov: Option<serde_json::Value>,
    /// Google: the Workspace domain.
    hd: Option<String>,
}
impl AdditionalClaims for ExtraClaims {}

type TokenFields = IdTokenFields<
    ExtraClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type UpstreamTokenResponse = StandardTokenResponse<TokenFields, CoreTokenType>;
type UpstreamClient = Client<
    ExtraClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    UpstreamTokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// A provider's discovery document with its keys, and when they were read.
struct Discovered {
    metadata: CoreProviderMetadata,
    read_at: Instant,
}

/// One provider's HTTP client and cached discovery.
struct Upstream {
    provider: Provider,
    http: reqwest::Client,
    discovered: Mutex<Option<Arc<Discovered>>>,
}

/// Every configured provider, as a relying party.
pub struct Federation {
    upstreams: HashMap<String, Upstream>,
    /// This STS's issuer: redirect URIs are `{issuer}/upstream/{id}/callback`.
    issuer: String,
}

/// What the person's login at the provider needs passed on (OIDC Core §3.1.2.1).
#[derive(Debug, Clone, Default)]
pub struct Passed {
    /// `prompt=login` or a `max_age`: the provider asks for the credentials again.
    pub login_again: bool,
    pub max_age: Option<i64>,
    /// An e-mail address the application hinted at (our identifiers mean nothing there).
    pub login_hint: Option<String>,
}

impl Federation {
    pub fn new(providers: &Providers, issuer: &str) -> Result<Self, String> {
        let mut upstreams = HashMap::new();
        for provider in providers.all() {
            let http = http_client(provider.timeout)
                .map_err(|e| format!("upstream {}: {e}", provider.id))?;
            let upstream = Upstream {
                provider: provider.clone(),
                http,
                discovered: Mutex::new(None),
            };
            upstreams.insert(provider.id.clone(), upstream);
        }
        Ok(Self {
            upstreams,
            issuer: issuer.trim_end_matches('/').to_owned(),
        })
    }

    /// The redirect URI registered with provider `id`.
    pub fn redirect_uri(&self, id: &str) -> String {
        format!("{}/upstream/{id}/callback", self.issuer)
    }

    fn upstream(&self, id: &str) -> Result<&Upstream, Refusal> {
        self.upstreams
            .get(id)
            .ok_or_else(|| Refusal::Provider(format!("no provider {id}")))
    }

    /// Starts a round trip: the provider's authorization URL, and what the STS keeps to
    /// check its answer (saved by the caller, bound to the browser).
    pub async fn start(
        &self,
        id: &str,
        purpose: Purpose,
        passed: &Passed,
    ) -> Result<(String, Started), Refusal> {
        let upstream = self.upstream(id)?;
        let discovered = upstream.discovered(false).await?;
        let client = self.client(upstream, &discovered)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in upstream.provider.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        if passed.login_again {
            request = request.add_prompt(CoreAuthPrompt::Login);
        }
        if let Some(seconds) = passed.max_age.and_then(|s| u64::try_from(s).ok()) {
            request = request.set_max_age(std::time::Duration::from_secs(seconds));
        }
        if let Some(hint) = passed.login_hint.as_deref().filter(|h| h.contains('@')) {
            request = request.set_login_hint(LoginHint::new(hint.to_owned()));
        }
        if let Some(domain) = upstream.provider.hosted_domain_hint() {
            request = request.add_extra_param("hd", domain.to_owned());
        }
        let (url, state, nonce) = request.url();
        let started = Started {
            provider: id.to_owned(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            purpose,
        };
        Ok((url.to_string(), started))
    }

    /// Finishes a round trip with the provider's code: the exchange, the ID token's checks
    /// (with the provider's keys read again once if it names one the cache lacks), the
    /// provider's rules; the identity it vouches for.
    pub async fn finish(
        &self,
        started: &Started,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<UpstreamIdentity, Refusal> {
        let upstream = self.upstream(&started.provider)?;
        let discovered = upstream.discovered(false).await?;
        let client = self.client(upstream, &discovered)?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| Refusal::Provider(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(started.pkce_verifier.clone()))
            .request_async(&upstream.http)
            .await
            .map_err(token_refusal)?;
        let id_token = response
            .id_token()
            .ok_or_else(|| Refusal::InvalidToken("the answer holds no ID token".into()))?;
        let nonce = Nonce::new(started.nonce.clone());
        let verify = |client: &UpstreamClient| {
            let exact = upstream.provider.issuer.exact().is_some();
            let verifier = client
                .id_token_verifier()
                .require_issuer_match(exact)
                .set_time_fn(move || now);
            id_token.claims(&verifier, &nonce).cloned()
        };
        let claims = match verify(&client) {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                // The provider signs with a key newer than the cached set: read it again.
                let fresh = upstream.discovered(true).await?;
                verify(&self.client(upstream, &fresh)?)
            }
            other => other,
        }
        .map_err(|e| Refusal::InvalidToken(e.to_string()))?;
        let extra = claims.additional_claims();
        let edov = matches!(&extra.xms_edov, Some(v) if v == true || v == "1" || v == "true");
        let verified = VerifiedClaims {
            iss: claims.issuer().as_str().to_owned(),
            sub: claims.subject().as_str().to_owned(),
            email: claims.email().map(|e| e.as_str().to_owned()),
            email_verified: claims.email_verified().unwrap_or(false)
                || (upstream.provider.kind == UpstreamKind::Microsoft && edov),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_owned()),
            amr: claims
                .auth_method_refs()
                .into_iter()
                .flatten()
                .map(|a| a.as_str().to_owned())
                .collect(),
            tid: extra.tid.clone(),
            oid: extra.oid.clone(),
            hd: extra.hd.clone(),
        };
        upstream.provider.admits(&verified)?;
        upstream.provider.identity(verified)
    }

    fn client(&self, upstream: &Upstream, found: &Discovered) -> Result<UpstreamClient, Refusal> {
        let provider = &upstream.provider;
        let redirect = RedirectUrl::new(self.redirect_uri(&provider.id))
            .map_err(|e| Refusal::Provider(format!("redirect URI: {e}")))?;
        let secret = provider.client_secret.clone().map(ClientSecret::new);
        let client = UpstreamClient::from_provider_metadata(
            found.metadata.clone(),
            ClientId::new(provider.client_id.clone()),
            secret,
        )
        .set_redirect_uri(redirect);
        // RFC 6749 §2.3.1: Basic is the default; a provider that lists only
        // `client_secret_post` gets the secret in the body.
        let methods = found.metadata.token_endpoint_auth_methods_supported();
        let post_only = methods.is_some_and(|m| {
            m.contains(&CoreClientAuthMethod::ClientSecretPost)
                && !m.contains(&CoreClientAuthMethod::ClientSecretBasic)
        });
        Ok(if post_only {
            client.set_auth_type(openidconnect::AuthType::RequestBody)
        } else {
            client
        })
    }
}

impl Upstream {
    /// The discovery document and keys: the cached ones while fresh (and while the provider
    /// cannot be reached, logged), else read again.
    async fn discovered(&self, force: bool) -> Result<Arc<Discovered>, Refusal> {
        let cached = self.cached();
        if let Some(found) = &cached
            && !force
            && found.read_at.elapsed() < self.provider.discovery_refresh
        {
            return Ok(found.clone());
        }
        match self.discover().await {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                if let Ok(mut slot) = self.discovered.lock() {
                    *slot = Some(fresh.clone());
                }
                Ok(fresh)
            }
            Err(refusal) => match cached {
                Some(stale) if !force => {
                    tracing::warn!(provider = %self.provider.id, error = %refusal, "discovery failed; the cached document stays in use");
                    Ok(stale)
                }
                _ => Err(refusal),
            },
        }
    }

    fn cached(&self) -> Option<Arc<Discovered>> {
        match self.discovered.lock() {
            Ok(slot) => slot.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reads `/.well-known/openid-configuration` and the key set. The issuer is checked
    /// against the provider's rule rather than by the crate, which would refuse Entra ID's
    /// multi-tenant template (OIDC Discovery §4.3).
    async fn discover(&self) -> Result<Discovered, Refusal> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.provider.discovery_base
        );
        let unreachable = |e: &dyn std::fmt::Display| Refusal::Unreachable(format!("{url}: {e}"));
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| unreachable(&e))?;
        if !response.status().is_success() {
            return Err(unreachable(&response.status()));
        }
        let body = response.bytes().await.map_err(|e| unreachable(&e))?;
        let metadata: CoreProviderMetadata =
            serde_json::from_slice(&body).map_err(|e| unreachable(&e))?;
        if !self
            .provider
            .issuer
            .accepts_metadata(metadata.issuer().as_str())
        {
            let issuer = metadata.issuer().as_str();
            return Err(unreachable(&format!("names another issuer, {issuer}")));
        }
        let keys = JsonWebKeySet::fetch_async(metadata.jwks_uri(), &self.http)
            .await
            .map_err(|e| unreachable(&e))?;
        Ok(Discovered {
            metadata: metadata.set_jwks(keys),
            read_at: Instant::now(),
        })
    }
}

/// What a failed code exchange means for the person.
fn token_refusal<RE: std::error::Error + 'static>(
    error: RequestTokenError<RE, StandardErrorResponse<CoreErrorResponseType>>,
) -> Refusal {
    match error {
        RequestTokenError::ServerResponse(answer) => {
            Refusal::Provider(answer.error().as_ref().to_owned())
        }
        RequestTokenError::Request(e) => Refusal::Unreachable(e.to_string()),
        RequestTokenError::Parse(e, _) => Refusal::Provider(format!("unreadable answer: {e}")),
        RequestTokenError::Other(e) => Refusal::Provider(e),
    }
}

/// An HTTP client for calls out of the STS: rustls on aws-lc-rs, no redirects followed,
/// every call bounded by `timeout`.
pub fn http_client(timeout: std::time::Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .use_preconfigured_tls(tls_config()?)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        .map_err(|e| e.to_string())
}

/// rustls on aws-lc-rs (the provider lettre uses too) with the Mozilla roots: no
/// process-wide default to install, no second cryptography library.
fn tls_config() -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// What a provider's error answer at the redirect URI means (RFC 6749 §4.1.2.1).
pub fn answered_error(code: &str, description: Option<&str>) -> Refusal {
    match code {
        "access_denied" => Refusal::Denied,
        _ => Refusal::Provider(match description {
            Some(d) => format!("{code}: {d}"),
            None => code.to_owned(),
        }),
    }
}
