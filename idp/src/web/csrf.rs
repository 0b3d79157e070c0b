//! CSRF protection for every form: a signed double-submit cookie (OWASP CSRF cheat sheet).
//! The cookie holds a random value; the form carries its HMAC under a key shared by all
//! instances through the database, so any instance can check any form.

use actix_web::HttpRequest;
use actix_web::cookie::Cookie;
use aws_lc_rs::hmac;

use super::{AppState, cookies};
use crate::crypto;
use crate::domain::DomainResult;

/// The form token for this browser, and the cookie to set if it has none yet.
pub fn token(
    state: &AppState,
    req: &HttpRequest,
) -> DomainResult<(String, Option<Cookie<'static>>)> {
    if let Some(value) = cookies::value(req, cookies::CSRF)
        && crypto::b64url_decode(&value).is_some_and(|v| v.len() == 32)
    {
        return Ok((sign(state, &value), None));
    }
    let value = crypto::random_token()?;
    let token = sign(state, &value);
    Ok((
        token,
        Some(cookies::csrf(value, state.idp.settings.https())),
    ))
}

fn sign(state: &AppState, value: &str) -> String {
    crypto::b64url(hmac::sign(&state.csrf_key, value.as_bytes()).as_ref())
}

pub fn verify(state: &AppState, req: &HttpRequest, form_token: Option<&str>) -> bool {
    let (Some(cookie), Some(form_token)) = (cookies::value(req, cookies::CSRF), form_token) else {
        return false;
    };
    let Some(mac) = crypto::b64url_decode(form_token) else {
        return false;
    };
    hmac::verify(&state.csrf_key, cookie.as_bytes(), &mac).is_ok()
}
