//! Administration subcommands for clients, keys and mail, and what every subcommand
//! shares. Output is for people, or JSON with `--json`.

use std::sync::Arc;

use chrono::Duration;
use clap::Subcommand;
use serde_json::json;

use super::CliResult;
use crate::config::Settings;
use crate::domain::clients::{self, AuthMethod, GrantType, NewClient};
use crate::domain::clock::SystemClock;
use crate::domain::mail::MailKind;
use crate::domain::types::{ClientId, Email, RedirectUri, SigningAlg};
use crate::domain::{DomainError, Idp, keys};
use crate::i18n::Locale;

// Parsed once per process: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints its secret once.
    Create {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        /// A public client (no secret; PKCE required).
        #[arg(long)]
        public: bool,
        /// Use this secret instead of generating one (at least 32 characters).
        #[arg(long)]
        secret: Option<String>,
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// authorization_code, refresh_token, client_credentials (repeat for several).
        #[arg(long = "grant")]
        grants: Vec<String>,
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// RS256 (default, as OIDC requires) or ES256.
        #[arg(long, default_value = "RS256")]
        id_token_alg: String,
        /// client_secret_basic (default), client_secret_post, private_key_jwt, none.
        #[arg(long)]
        auth_method: Option<String>,
        /// File with the client's JWK Set, for private_key_jwt.
        #[arg(long)]
        jwks_file: Option<std::path::PathBuf>,
    },
    List,
    Show {
        id: String,
    },
    Delete {
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Send a test mail through the outbox, to check the SMTP settings.
    Test {
        #[arg(long)]
        to: String,
        /// fr, nl, en or de.
        #[arg(long, default_value = "fr")]
        locale: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    List,
    /// Publish new keys now; they sign after `signing_key_publish_lead_seconds`.
    Rotate,
}

pub(super) fn open(settings: Settings) -> Result<Idp, Box<dyn std::error::Error>> {
    Ok(crate::app::start(settings, Arc::new(SystemClock))?)
}

pub(super) fn print(json_out: bool, value: serde_json::Value, human: impl FnOnce() -> String) {
    if json_out {
        println!("{value}");
    } else {
        println!("{}", human());
    }
}

fn client_text(c: &clients::Client) -> String {
    format!(
        "{}  {}\n  auth: {}\n  grants: {}\n  scopes: {}\n  redirect URIs: {}\n  post-logout URIs: {}\n  ID token alg: {}",
        c.id,
        c.name,
        c.token_endpoint_auth_method.as_str(),
        c.grant_types
            .iter()
            .map(|g| g.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        c.scopes.join(" "),
        c.redirect_uris
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        c.post_logout_redirect_uris
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        c.id_token_signed_response_alg.as_str(),
    )
}

pub fn client(settings: Settings, command: ClientCommand, json_out: bool) -> CliResult {
    let idp = open(settings)?;
    let mut conn = idp.conn()?;
    match command {
        ClientCommand::Create {
            id,
            name,
            public,
            secret,
            redirect_uris,
            post_logout_redirect_uris,
            grants,
            scopes,
            id_token_alg,
            auth_method,
            jwks_file,
        } => {
            let method = match (auth_method, public) {
                (Some(m), _) => AuthMethod::parse(&m)?,
                (None, true) => AuthMethod::None,
                (None, false) if jwks_file.is_some() => AuthMethod::PrivateKeyJwt,
                (None, false) => AuthMethod::ClientSecretBasic,
            };
            let grant_types = if grants.is_empty() {
                vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
            } else {
                grants
                    .iter()
                    .map(|g| {
                        GrantType::parse(g).ok_or_else(|| {
                            DomainError::invalid(
                                "grant",
                                "authorization_code, refresh_token or client_credentials",
                            )
                        })
                    })
                    .collect::<Result<_, _>>()?
            };
            let jwks = match jwks_file {
                Some(path) => Some(serde_json::from_str(&std::fs::read_to_string(path)?)?),
                None => None,
            };
            let new = NewClient {
                id: ClientId::parse(&id)?,
                name,
                secret,
                token_endpoint_auth_method: method,
                redirect_uris: redirect_uris
                    .iter()
                    .map(|u| RedirectUri::parse(u))
                    .collect::<Result<_, _>>()?,
                post_logout_redirect_uris: post_logout_redirect_uris
                    .iter()
                    .map(|u| RedirectUri::parse(u))
                    .collect::<Result<_, _>>()?,
                grant_types,
                scopes: if scopes.is_empty() {
                    clients::SUPPORTED_SCOPES.map(String::from).to_vec()
                } else {
                    scopes
                },
                id_token_signed_response_alg: SigningAlg::parse(&id_token_alg)?,
                jwks,
            };
            let (client, secret) = clients::create(&mut conn, new, idp.now())?;
            print(
                json_out,
                json!({ "client": client, "client_secret": secret }),
                || {
                    let mut out = client_text(&client);
                    if let Some(s) = &secret {
                        out.push_str(&format!("\n  secret (shown once, store it now): {s}"));
                    }
                    out
                },
            );
        }
        ClientCommand::List => {
            let all = clients::list(&mut conn)?;
            print(json_out, json!(all), || {
                all.iter()
                    .map(|c| {
                        format!(
                            "{}  {}  ({})",
                            c.id,
                            c.name,
                            c.token_endpoint_auth_method.as_str()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        ClientCommand::Show { id } => {
            let c = clients::find(&mut conn, &id)?
                .ok_or_else(|| DomainError::NotFound(format!("client {id}").into()))?;
            print(json_out, json!(c), || client_text(&c));
        }
        ClientCommand::Delete { id } => {
            clients::delete(&mut conn, &id)?;
            print(json_out, json!({ "deleted": id }), || {
                format!("client {id} deleted")
            });
        }
    }
    Ok(())
}

pub fn keys(settings: Settings, command: KeysCommand, json_out: bool) -> CliResult {
    let idp = open(settings)?;
    let mut conn = idp.conn()?;
    if let KeysCommand::Rotate = command {
        let s = &idp.settings;
        let max_ttl = s.access_token_ttl_seconds.max(s.id_token_ttl_seconds);
        let created = keys::rotate(
            &mut conn,
            idp.master.as_ref(),
            idp.now(),
            Duration::seconds(s.signing_key_publish_lead_seconds),
            Duration::seconds(max_ttl),
        )?;
        print(json_out, json!({ "created": created }), || {
            format!(
                "new keys {} published; they sign in {} s",
                created.join(", "),
                s.signing_key_publish_lead_seconds
            )
        });
        if json_out {
            return Ok(()); // one JSON document per command
        }
    }
    let rows = keys::list(&mut conn)?;
    let list: Vec<_> = rows
        .iter()
        .map(|r| json!({ "kid": r.id, "alg": r.alg, "encrypted": r.encrypted, "created_at": r.created_at.and_utc(), "activates_at": r.activates_at.and_utc(), "retires_at": r.retires_at.map(|t| t.and_utc()), "removed_at": r.removed_at.map(|t| t.and_utc()) }))
        .collect();
    print(json_out, json!(list), || {
        rows.iter()
            .map(|r| {
                format!(
                    "{}  {}  signs from {}{}{}",
                    r.id,
                    r.alg,
                    r.activates_at,
                    r.retires_at
                        .map(|t| format!(" until {t}"))
                        .unwrap_or_default(),
                    r.removed_at
                        .map(|t| format!(", unpublished at {t}"))
                        .unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

pub fn mail(settings: Settings, command: MailCommand, json_out: bool) -> CliResult {
    let idp = open(settings)?;
    let mut conn = idp.conn()?;
    let MailCommand::Test { to, locale } = command;
    let to = Email::parse(&to)?;
    let locale = Locale::parse(&locale).ok_or("--locale: fr, nl, en or de")?;
    let mail = idp.mail.render(
        MailKind::Test,
        locale,
        to.as_str(),
        json!({ "identifier": "jean.dupont", "email": to.as_str() }),
    )?;
    crate::domain::mail::enqueue(&mut conn, &mail, idp.now())?;
    // Try at once, so the operator sees the outcome; a failure stays queued for the workers.
    let sent = crate::domain::mail::deliver_due(&mut conn, &idp.mailer, idp.now())?;
    print(json_out, json!({ "delivered": sent > 0 }), || {
        if sent > 0 {
            format!("test mail to {} delivered", to.as_str())
        } else {
            format!(
                "test mail to {} could not be sent yet; it stays in the outbox and will be retried (see the log)",
                to.as_str()
            )
        }
    });
    Ok(())
}
