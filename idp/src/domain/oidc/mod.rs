//! OpenID Connect Core 1.0 on top of OAuth 2.0 (RFC 6749), with PKCE (RFC 7636),
//! revocation (RFC 7009), introspection (RFC 7662), JWT access tokens (RFC 9068), issuer
//! identification (RFC 9207), RP-Initiated Logout and the OAuth 2.0 Security BCP (RFC 9700).

pub mod acr;
pub mod authorize;
pub mod backchannel;
pub mod claims;
pub mod client_auth;
pub mod discovery;
pub mod frontchannel;
pub mod par;
pub mod params;
pub mod request_object;
pub mod resources;
pub mod scope;
pub mod sessions;
pub mod tokens;
