//! `idp client`: register, list, show and delete relying parties.

use clap::{Subcommand, ValueEnum};
use serde_json::json;

use super::CliResult;
use super::output::{open, print, spaced};
use crate::config::Settings;
use crate::domain::clients::{self, AuthMethod, GrantType, NewClient};
use crate::domain::types::{ClientId, RedirectUri, SigningAlg};
use crate::domain::{DomainError, Idp};

// Parsed once per process: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints its secret once.
    Create(CreateArgs),
    List,
    Show {
        id: String,
    },
    Delete {
        id: String,
    },
    /// Where the application hears that a session ended (OpenID Connect Back-Channel
    /// Logout: a signed logout token is POSTed there); without --uri, it hears nothing.
    BackchannelLogout {
        id: String,
        #[arg(long)]
        uri: Option<String>,
    },
    /// The page the application clears its session on, loaded in an iframe by the STS's
    /// logout page (OpenID Connect Front-Channel Logout); without --uri, none.
    FrontchannelLogout {
        id: String,
        #[arg(long)]
        uri: Option<String>,
    },
    /// Require the application to push every authorization request first (RFC 9126
    /// PAR); with --off, no longer.
    RequirePar {
        id: String,
        #[arg(long)]
        off: bool,
    },
    /// Register (or replace) an API access tokens may be issued for (RFC 8707 resource
    /// indicators): its URI becomes the token's audience; it accepts the --scope values
    /// and is open to the --client applications.
    RegisterApi {
        #[arg(long)]
        uri: String,
        #[arg(long)]
        name: String,
        #[arg(long = "scope")]
        scopes: Vec<String>,
        #[arg(long = "client")]
        clients: Vec<String>,
    },
    /// The registered APIs.
    Apis,
    /// Keep claims about people back from this application although its scopes would give
    /// them (a birth date a timetable app has no need of): the list replaces the earlier
    /// one; without --claim, nothing is kept back.
    Withhold {
        id: String,
        #[arg(long = "claim")]
        claims: Vec<String>,
    },
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
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
    /// Grant types (repeat for several); by default authorization_code and refresh_token.
    #[arg(long = "grant", value_enum)]
    grants: Vec<GrantArg>,
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// RS256 (the default, as OIDC requires) or ES256.
    #[arg(long, value_enum, default_value = "RS256")]
    id_token_alg: AlgArg,
    /// By default client_secret_basic (none for --public, private_key_jwt with --jwks-file).
    #[arg(long, value_enum)]
    auth_method: Option<AuthMethodArg>,
    /// File with the client's JWK Set, for private_key_jwt.
    #[arg(long)]
    jwks_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
enum GrantArg {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl From<GrantArg> for GrantType {
    fn from(arg: GrantArg) -> Self {
        match arg {
            GrantArg::AuthorizationCode => Self::AuthorizationCode,
            GrantArg::RefreshToken => Self::RefreshToken,
            GrantArg::ClientCredentials => Self::ClientCredentials,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AlgArg {
    #[value(name = "RS256")]
    Rs256,
    #[value(name = "ES256")]
    Es256,
}

impl From<AlgArg> for SigningAlg {
    fn from(arg: AlgArg) -> Self {
        match arg {
            AlgArg::Rs256 => Self::RS256,
            AlgArg::Es256 => Self::ES256,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
enum AuthMethodArg {
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
    None,
}

impl From<AuthMethodArg> for AuthMethod {
    fn from(arg: AuthMethodArg) -> Self {
        match arg {
            AuthMethodArg::ClientSecretBasic => Self::ClientSecretBasic,
            AuthMethodArg::ClientSecretPost => Self::ClientSecretPost,
            AuthMethodArg::PrivateKeyJwt => Self::PrivateKeyJwt,
            AuthMethodArg::None => Self::None,
        }
    }
}

pub fn client(settings: Settings, command: ClientCommand, json_out: bool) -> CliResult {
    let idp = open(settings)?;
    match command {
        ClientCommand::Create(args) => create(&idp, args, json_out),
        ClientCommand::List => list(&idp, json_out),
        ClientCommand::Show { id } => show(&idp, &id, json_out),
        ClientCommand::Delete { id } => delete(&idp, &id, json_out),
        ClientCommand::BackchannelLogout { id, uri } => {
            let backchannel = crate::domain::oidc::backchannel::set_uri;
            backchannel(&mut *idp.conn()?, &id, uri.as_deref())?;
            print(
                json_out,
                json!({ "client": id, "backchannel_logout_uri": uri }),
                || match &uri {
                    Some(uri) => format!("{id} hears of ended sessions at {uri}"),
                    None => format!("{id} hears of no ended session"),
                },
            );
            Ok(())
        }
        ClientCommand::FrontchannelLogout { id, uri } => {
            let frontchannel = crate::domain::oidc::frontchannel::set_uri;
            frontchannel(&mut *idp.conn()?, &id, uri.as_deref())?;
            print(
                json_out,
                json!({ "client": id, "frontchannel_logout_uri": uri }),
                || match &uri {
                    Some(uri) => format!("{id} is logged out in the browser at {uri}"),
                    None => format!("{id} has no front-channel logout"),
                },
            );
            Ok(())
        }
        ClientCommand::RequirePar { id, off } => {
            crate::domain::oidc::par::set_required(&mut *idp.conn()?, &id, !off)?;
            print(
                json_out,
                json!({ "client": id, "require_pushed_authorization_requests": !off }),
                || match off {
                    false => format!("{id} must push its authorization requests"),
                    true => format!("{id} may send its authorization requests through the browser"),
                },
            );
            Ok(())
        }
        ClientCommand::RegisterApi {
            uri,
            name,
            scopes,
            clients,
        } => {
            use crate::domain::oidc::resources::{self, Resource};
            let api = Resource {
                uri,
                name,
                scopes,
                clients,
            };
            resources::register(&mut *idp.conn()?, &api, idp.now())?;
            print(json_out, json!(api), || {
                format!("API {} registered", api.uri)
            });
            Ok(())
        }
        ClientCommand::Apis => {
            let all = crate::domain::oidc::resources::list(&mut *idp.conn()?)?;
            print(json_out, json!(all), || {
                all.iter()
                    .map(|a| {
                        format!(
                            "{}  {}  scopes: {}  clients: {}",
                            a.uri,
                            a.name,
                            a.scopes.join(" "),
                            a.clients.join(" ")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        }
        ClientCommand::Withhold { id, claims } => {
            clients::set_withheld_claims(&mut *idp.conn()?, &id, &claims)?;
            print(
                json_out,
                json!({ "client": id, "withheld_claims": claims }),
                || match claims.as_slice() {
                    [] => format!("{id} receives every claim its scopes give"),
                    some => format!("{id} does not receive {}", some.join(", ")),
                },
            );
            Ok(())
        }
    }
}

fn client_text(c: &clients::Client) -> String {
    format!(
        "{}  {}\n  auth: {}\n  grants: {}\n  scopes: {}\n  redirect URIs: {}\n  post-logout URIs: {}\n  ID token alg: {}",
        c.id,
        c.name,
        c.token_endpoint_auth_method.as_str(),
        spaced(c.grant_types.iter().map(|g| g.as_str())),
        spaced(c.scopes.iter().map(String::as_str)),
        spaced(c.redirect_uris.iter().map(|r| r.as_str())),
        spaced(c.post_logout_redirect_uris.iter().map(|r| r.as_str())),
        c.id_token_signed_response_alg.as_str(),
    )
}

fn create(idp: &Idp, args: CreateArgs, json_out: bool) -> CliResult {
    let method = match (args.auth_method, args.public) {
        (Some(m), _) => m.into(),
        (None, true) => AuthMethod::None,
        (None, false) if args.jwks_file.is_some() => AuthMethod::PrivateKeyJwt,
        (None, false) => AuthMethod::ClientSecretBasic,
    };
    let grant_types = if args.grants.is_empty() {
        vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
    } else {
        args.grants.into_iter().map(GrantType::from).collect()
    };
    let jwks = match args.jwks_file {
        Some(path) => Some(serde_json::from_str(&std::fs::read_to_string(path)?)?),
        None => None,
    };
    let uris = |list: &[String]| -> Result<Vec<RedirectUri>, DomainError> {
        list.iter().map(|u| RedirectUri::parse(u)).collect()
    };
    let new = NewClient {
        id: ClientId::parse(&args.id)?,
        name: args.name,
        secret: args.secret,
        token_endpoint_auth_method: method,
        redirect_uris: uris(&args.redirect_uris)?,
        post_logout_redirect_uris: uris(&args.post_logout_redirect_uris)?,
        grant_types,
        scopes: if args.scopes.is_empty() {
            clients::SUPPORTED_SCOPES.map(String::from).to_vec()
        } else {
            args.scopes
        },
        id_token_signed_response_alg: args.id_token_alg.into(),
        jwks,
    };
    let (client, secret) = clients::create(&mut *idp.conn()?, new, idp.now())?;
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
    Ok(())
}

fn list(idp: &Idp, json_out: bool) -> CliResult {
    let all = clients::list(&mut *idp.conn()?)?;
    print(json_out, json!(all), || {
        all.iter()
            .map(|c| {
                let method = c.token_endpoint_auth_method.as_str();
                format!("{}  {}  ({method})", c.id, c.name)
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

fn show(idp: &Idp, id: &str, json_out: bool) -> CliResult {
    let c = clients::find(&mut *idp.conn()?, id)?
        .ok_or_else(|| DomainError::NotFound(format!("client {id}").into()))?;
    print(json_out, json!(c), || client_text(&c));
    Ok(())
}

fn delete(idp: &Idp, id: &str, json_out: bool) -> CliResult {
    clients::delete(&mut *idp.conn()?, id)?;
    print(json_out, json!({ "deleted": id }), || {
        format!("client {id} deleted")
    });
    Ok(())
}
