//! Upstream OpenID providers people log in with ("Log in with Microsoft", "… Google"):
//! what each configured provider is ([`Provider`], presets resolved here from the plain
//! settings), which of their answers the STS accepts ([`Provider::admits`]: the tenant,
//! the Workspace domain), the identities linked to accounts ([`links`]), the round trip
//! bound to a browser ([`round_trip`]) and the accounts that have no password of their
//! own ([`only`]). Talking to the provider (discovery, the code exchange, the ID token's
//! signature) is `crate::federation`'s; logging in with what it verified is
//! `login::upstream`'s.

pub mod links;
pub mod only;
pub mod round_trip;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{UpstreamKind, UpstreamSettings};
use crate::store::DbConn;

use super::DomainResult;

/// Microsoft Entra ID's sign-in address.
const MICROSOFT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// Google's issuer.
const GOOGLE_ISSUER: &str = "https://accounts.google.com";
/// The placeholder of Entra ID's multi-tenant issuer, as its discovery document writes it.
const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// Which issuers a provider's tokens may come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerRule {
    /// One issuer (any OpenID provider, Google, a single Entra tenant's v2.0 endpoint).
    Exact(String),
    /// Entra ID's multi-tenant endpoint: its discovery document names the issuer as a
    /// template, `https://login.microsoftonline.com/{tenantid}/v2.0`. A token's `iss`
    /// must be the template with the token's own `tid`, and the `tid` one of `tenants`
    /// (none: any work or school tenant). Microsoft identity platform, "Validate the
    /// issuer" of multi-tenant applications.
    Tenant {
        template: String,
        tenants: Option<Vec<String>>,
    },
}

impl IssuerRule {
    /// Whether a discovery document naming `issuer` belongs to this provider.
    pub fn accepts_metadata(&self, issuer: &str) -> bool {
        match self {
            Self::Exact(expected) => issuer == expected,
            Self::Tenant { template, tenants } => {
                issuer == template
                    || tenants
                        .iter()
                        .flatten()
                        .any(|t| issuer == fill(template, t))
            }
        }
    }

    /// The issuer the ID token itself must name, if a single one is known before.
    pub fn exact(&self) -> Option<&str> {
        match self {
            Self::Exact(issuer) => Some(issuer),
            Self::Tenant { .. } => None,
        }
    }
}

fn fill(template: &str, tenant: &str) -> String {
    template.replace(TENANT_PLACEHOLDER, tenant)
}

/// Which claim names the person at the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectClaim {
    /// `sub` (OIDC Core §2): stable and never reassigned at its issuer.
    Sub,
    /// Entra ID's `oid`: its `sub` is pairwise (another for every application), while
    /// `oid` is the account's object id in its tenant, the one an administrator sees in
    /// the Entra admin centre and can link by; the issuer holds the tenant.
    Oid,
}

/// A configured upstream provider, its preset resolved.
#[derive(Debug, Clone)]
pub struct Provider {
    pub id: String,
    pub kind: UpstreamKind,
    /// The name on its button.
    pub name: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// Discovery reads `{discovery_base}/.well-known/openid-configuration`.
    pub discovery_base: String,
    pub issuer: IssuerRule,
    pub subject_claim: SubjectClaim,
    /// Google Workspace domains admitted (`hd`); empty: any.
    pub domains: Vec<String>,
    /// Every scope asked (`openid email profile` and the configured ones).
    pub scopes: Vec<String>,
    pub link_by_email: bool,
    /// The organising bodies whose login pages show it; empty: every login page.
    pub bodies: Vec<String>,
    pub discovery_refresh: std::time::Duration,
    pub timeout: std::time::Duration,
}

impl Provider {
    pub fn from_settings(s: &UpstreamSettings) -> Self {
        let trim = |url: &str| url.trim_end_matches('/').to_owned();
        let (discovery_base, issuer, subject_claim, default_name) = match s.kind {
            UpstreamKind::Microsoft => {
                let authority = trim(s.authority.as_deref().unwrap_or(MICROSOFT_AUTHORITY));
                let template = format!("{authority}/{TENANT_PLACEHOLDER}/v2.0");
                let any = matches!(
                    s.tenants.as_slice(),
                    [t] if t == "organizations" || t == "common"
                );
                let base = match s.tenants.as_slice() {
                    [one] => format!("{authority}/{one}/v2.0"),
                    _ => format!("{authority}/organizations/v2.0"),
                };
                let tenants = (!any).then(|| s.tenants.clone());
                let rule = IssuerRule::Tenant { template, tenants };
                (base, rule, SubjectClaim::Oid, "Microsoft")
            }
            UpstreamKind::Google => {
                let issuer = trim(s.authority.as_deref().unwrap_or(GOOGLE_ISSUER));
                let rule = IssuerRule::Exact(issuer.clone());
                (issuer, rule, SubjectClaim::Sub, "Google")
            }
            UpstreamKind::Oidc => {
                let issuer = s.issuer.clone().unwrap_or_default();
                let base = trim(&issuer);
                (base, IssuerRule::Exact(issuer), SubjectClaim::Sub, "")
            }
        };
        let mut scopes: Vec<String> = ["openid", "email", "profile"].map(String::from).into();
        for extra in &s.scopes {
            if !scopes.contains(extra) {
                scopes.push(extra.clone());
            }
        }
        Self {
            id: s.id.clone(),
            kind: s.kind,
            name: s.name.clone().unwrap_or_else(|| match default_name {
                "" => s.id.clone(),
                name => name.to_owned(),
            }),
            client_id: s.client_id.clone(),
            client_secret: s.client_secret.clone(),
            discovery_base,
            issuer,
            subject_claim,
            domains: s.domains.iter().map(|d| d.to_ascii_lowercase()).collect(),
            scopes,
            link_by_email: s.link_by_email,
            bodies: s.organising_bodies.clone(),
            discovery_refresh: std::time::Duration::from_secs(s.discovery_refresh_seconds),
            timeout: std::time::Duration::from_secs(s.timeout_seconds),
        }
    }

    /// Whether its button shows on the login page of an application of `body` (its id and
    /// name, either of which the settings may give; none: an application of no body, or
    /// no application).
    pub fn shown_for(&self, body: Option<(&str, &str)>) -> bool {
        self.bodies.is_empty()
            || body.is_some_and(|(id, name)| self.bodies.iter().any(|x| x == id || x == name))
    }

    /// The `hd` to ask for: Google then shows only that domain's accounts (a hint; the
    /// claim is still checked).
    pub fn hosted_domain_hint(&self) -> Option<&str> {
        match self.domains.as_slice() {
            [one] if self.kind == UpstreamKind::Google => Some(one),
            _ => None,
        }
    }

    /// Checks what the signature and the standard claims do not: the tenant of a
    /// multi-tenant Entra ID token, the Workspace domain of a Google one.
    pub fn admits(&self, claims: &VerifiedClaims) -> Result<(), Refusal> {
        if let IssuerRule::Tenant { template, tenants } = &self.issuer {
            let tid = claims.tid.as_deref().ok_or(Refusal::WrongTenant)?;
            if claims.iss != fill(template, tid) {
                return Err(Refusal::WrongTenant);
            }
            if let Some(tenants) = tenants
                && !tenants.iter().any(|t| t.eq_ignore_ascii_case(tid))
            {
                return Err(Refusal::WrongTenant);
            }
        }
        if !self.domains.is_empty() {
            // Google: "use the hd claim, not the e-mail's domain" (Google Identity,
            // "Validating an ID token").
            let hd = claims.hd.as_deref().map(str::to_ascii_lowercase);
            if !hd.is_some_and(|hd| self.domains.contains(&hd)) {
                return Err(Refusal::WrongDomain);
            }
        }
        Ok(())
    }

    /// The identity the claims name: issuer and subject (the configured claim).
    pub fn identity(&self, claims: VerifiedClaims) -> Result<UpstreamIdentity, Refusal> {
        let subject = match self.subject_claim {
            SubjectClaim::Sub => Some(claims.sub),
            SubjectClaim::Oid => claims.oid,
        };
        let subject = subject
            .filter(|s| !s.is_empty())
            .ok_or(Refusal::NoSubject)?;
        Ok(UpstreamIdentity {
            provider: self.id.clone(),
            issuer: claims.iss,
            subject,
            email: claims.email,
            email_verified: claims.email_verified,
            name: claims.name,
            amr: claims.amr,
        })
    }
}

/// The configured providers.
#[derive(Debug, Clone, Default)]
pub struct Providers(Vec<Provider>);

impl Providers {
    pub fn from_settings(settings: &[UpstreamSettings]) -> Self {
        Self(settings.iter().map(Provider::from_settings).collect())
    }

    pub fn find(&self, id: &str) -> Option<&Provider> {
        self.0.iter().find(|p| p.id == id)
    }

    /// The providers shown on the login page of an application of `body`.
    pub fn shown_for<'a>(
        &'a self,
        body: Option<(&'a str, &'a str)>,
    ) -> impl Iterator<Item = &'a Provider> {
        self.0.iter().filter(move |p| p.shown_for(body))
    }

    pub fn all(&self) -> &[Provider] {
        &self.0
    }

    /// The name of provider `id`, or the id itself when it is no longer configured.
    pub fn name_of<'a>(&'a self, id: &'a str) -> &'a str {
        self.find(id).map_or(id, |p| p.name.as_str())
    }
}

/// The claims of an ID token whose signature, issuer, audience, lifetime and nonce
/// `crate::federation` verified.
#[derive(Debug, Clone, Default)]
pub struct VerifiedClaims {
    pub iss: String,
    pub sub: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub amr: Vec<String>,
    /// Entra ID: the tenant, and the account's object id.
    pub tid: Option<String>,
    pub oid: Option<String>,
    /// Google: the Workspace domain.
    pub hd: Option<String>,
}

/// Who a provider vouched for: an issuer and a subject. The e-mail address is only what
/// the provider said, used to link automatically when configured and verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamIdentity {
    pub provider: String,
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    /// RFC 8176 values the provider reported.
    #[serde(default)]
    pub amr: Vec<String>,
}

/// Why an upstream login did not go through; each has its page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The person said no at the provider, or the provider refused them (`access_denied`).
    #[error("the provider refused or the person cancelled")]
    Denied,
    /// Another error the provider answered with (its code and description).
    #[error("the provider answered with an error: {0}")]
    Provider(String),
    /// The provider cannot be reached or answers nonsense.
    #[error("the provider cannot be reached: {0}")]
    Unreachable(String),
    /// The ID token failed a check: signature, issuer, audience, lifetime, nonce.
    #[error("the ID token was refused: {0}")]
    InvalidToken(String),
    /// An Entra ID token of a tenant that is not configured.
    #[error("the account belongs to a tenant that is not admitted")]
    WrongTenant,
    /// A Google account outside the configured Workspace domains.
    #[error("the account belongs to a domain that is not admitted")]
    WrongDomain,
    /// The ID token names nobody (no `sub`, or no `oid` for Entra ID).
    #[error("the ID token names no subject")]
    NoSubject,
}

impl Refusal {
    /// The message of its page.
    pub fn message_key(&self) -> &'static str {
        match self {
            Self::Denied => "upstream-denied",
            Self::Provider(_) | Self::InvalidToken(_) | Self::NoSubject => "upstream-failed",
            Self::Unreachable(_) => "upstream-unreachable",
            Self::WrongTenant | Self::WrongDomain => "upstream-wrong-organisation",
        }
    }
}

/// Removes round trips nobody can finish any more.
pub fn purge(conn: &mut DbConn, now: DateTime<Utc>) -> DomainResult<usize> {
    round_trip::purge(conn, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(kind: UpstreamKind) -> UpstreamSettings {
        UpstreamSettings {
            id: "p".into(),
            kind,
            name: None,
            client_id: "c".into(),
            client_secret: None,
            issuer: None,
            tenants: Vec::new(),
            domains: Vec::new(),
            authority: None,
            scopes: Vec::new(),
            link_by_email: false,
            organising_bodies: Vec::new(),
            discovery_refresh_seconds: 60,
            timeout_seconds: 5,
        }
    }

    fn entra(tenants: &[&str]) -> Provider {
        Provider::from_settings(&UpstreamSettings {
            tenants: tenants.iter().map(|t| t.to_string()).collect(),
            ..settings(UpstreamKind::Microsoft)
        })
    }

    fn claims(iss: &str, tid: Option<&str>, hd: Option<&str>) -> VerifiedClaims {
        VerifiedClaims {
            iss: iss.into(),
            sub: "pairwise".into(),
            tid: tid.map(Into::into),
            oid: Some("object-id".into()),
            hd: hd.map(Into::into),
            ..VerifiedClaims::default()
        }
    }

    const A: &str = "aaaaaaaa-0000-0000-0000-000000000001";
    const B: &str = "bbbbbbbb-0000-0000-0000-000000000002";

    #[test]
    fn entra_tenants_are_checked_against_the_issuer_template() {
        let iss = |t: &str| format!("https://login.microsoftonline.com/{t}/v2.0");
        let listed = entra(&[A, B]);
        assert_eq!(
            listed.discovery_base,
            "https://login.microsoftonline.com/organizations/v2.0"
        );
        assert!(listed.admits(&claims(&iss(A), Some(A), None)).is_ok());
        assert!(listed.admits(&claims(&iss(B), Some(B), None)).is_ok());
        let other = "cccccccc-0000-0000-0000-000000000003";
        assert_eq!(
            listed.admits(&claims(&iss(other), Some(other), None)),
            Err(Refusal::WrongTenant)
        );
        // A `tid` that does not match the issuer, or none at all.
        assert_eq!(
            listed.admits(&claims(&iss(other), Some(A), None)),
            Err(Refusal::WrongTenant)
        );
        assert_eq!(
            listed.admits(&claims(&iss(A), None, None)),
            Err(Refusal::WrongTenant)
        );
        let any = entra(&["organizations"]);
        assert!(any.admits(&claims(&iss(other), Some(other), None)).is_ok());
        let one = entra(&[A]);
        assert_eq!(one.discovery_base, iss(A));
        assert!(one.issuer.accepts_metadata(&iss(A)));
        assert!(
            one.issuer
                .accepts_metadata("https://login.microsoftonline.com/{tenantid}/v2.0")
        );
        assert!(!one.issuer.accepts_metadata(&iss(B)));
        // Entra's subject is the object id, not the pairwise `sub`.
        let who = one.identity(claims(&iss(A), Some(A), None)).unwrap();
        assert_eq!(who.subject, "object-id");
        assert_eq!(who.issuer, iss(A));
    }

    #[test]
    fn google_domains_are_checked_by_hd_not_by_the_address() {
        let google = Provider::from_settings(&UpstreamSettings {
            domains: vec!["School.be".into()],
            ..settings(UpstreamKind::Google)
        });
        let iss = "https://accounts.google.com";
        assert_eq!(google.hosted_domain_hint(), Some("school.be"));
        assert!(google.admits(&claims(iss, None, Some("school.be"))).is_ok());
        let mut outsider = claims(iss, None, None);
        outsider.email = Some("someone@school.be".into());
        assert_eq!(google.admits(&outsider), Err(Refusal::WrongDomain));
        assert_eq!(
            google.admits(&claims(iss, None, Some("elsewhere.be"))),
            Err(Refusal::WrongDomain)
        );
        let open = Provider::from_settings(&settings(UpstreamKind::Google));
        assert!(open.admits(&claims(iss, None, None)).is_ok());
        assert_eq!(
            open.identity(claims(iss, None, None)).unwrap().subject,
            "pairwise"
        );
        assert_eq!(open.name, "Google");
    }

    #[test]
    fn a_provider_of_some_bodies_shows_only_on_their_pages() {
        let mut p = Provider::from_settings(&settings(UpstreamKind::Google));
        assert!(p.shown_for(None) && p.shown_for(Some(("id-1", "Ville de Namur"))));
        p.bodies = vec!["Ville de Namur".into(), "id-2".into()];
        assert!(p.shown_for(Some(("id-1", "Ville de Namur"))));
        assert!(p.shown_for(Some(("id-2", "Ville de Dinant"))));
        assert!(!p.shown_for(Some(("id-3", "Ville de Liège"))) && !p.shown_for(None));
    }
}
