//! OpenID Connect Discovery 1.0 §3 and RFC 8414 metadata, built once at start.

use serde_json::{Value, json};

use crate::config::Settings;
use crate::domain::clients::SUPPORTED_SCOPES;

pub const CLAIMS: [&str; 26] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "sid",
    "amr",
    "acr",
    "preferred_username",
    "name",
    "given_name",
    "family_name",
    "locale",
    "updated_at",
    "birthdate",
    "gender",
    "address",
    "email",
    "email_verified",
    "phone_number",
    "phone_number_verified",
    "account_kind",
    "schools",
    "organising_bodies",
];

pub fn document(settings: &Settings) -> Value {
    let iss = &settings.issuer;
    json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/authorize"),
        "token_endpoint": format!("{iss}/token"),
        "userinfo_endpoint": format!("{iss}/userinfo"),
        "jwks_uri": format!("{iss}/jwks"),
        "revocation_endpoint": format!("{iss}/revoke"),
        "introspection_endpoint": format!("{iss}/introspect"),
        "end_session_endpoint": format!("{iss}/logout"),
        "scopes_supported": SUPPORTED_SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "userinfo_signing_alg_values_supported": ["none"],
        "token_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
        "revocation_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "introspection_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": CLAIMS,
        "acr_values_supported": super::acr::Acr::ALL.map(super::acr::Acr::as_str),
        "claims_parameter_supported": true,
        "pushed_authorization_request_endpoint": format!("{iss}/par"),
        "require_pushed_authorization_requests": false,
        "request_parameter_supported": true,
        "request_object_signing_alg_values_supported": super::request_object::ALGORITHMS,
        "request_uri_parameter_supported": false,
        "prompt_values_supported": ["none", "login"],
        "ui_locales_supported": ["fr", "nl", "en", "de"],
        "authorization_response_iss_parameter_supported": true,
        "frontchannel_logout_supported": true,
        "frontchannel_logout_session_supported": true,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
    })
}
