//! CSRF protection for every form: a signed double-submit cookie (OWASP CSRF cheat sheet).
//! The cookie holds a random value; the form carries its HMAC under a key shared by all
//! instances through the database, so any instance can check any form.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};
use aws_lc_rs::hmac;

use crate::crypto;
use crate::domain::Idp;

pub const COOKIE: &str = "idp_csrf";

/// The form token for this browser, and the cookie to set if it has none yet.
pub fn token(idp: &Idp, req: &HttpRequest) -> (String, Option<Cookie<'static>>) {
    if let Some(c) = req.cookie(COOKIE)
        && crypto::b64url_decode(c.value()).is_some_and(|v| v.len() == 32)
    {
        return (sign(idp, c.value()), None);
    }
    let value = crypto::random_token().unwrap_or_default();
    let cookie = Cookie::build(COOKIE, value.clone())
        .path("/")
        .http_only(true)
        .secure(idp.settings.https())
        .same_site(SameSite::Lax)
        .finish();
    (sign(idp, &value), Some(cookie))
}

fn sign(idp: &Idp, value: &str) -> String {
    crypto::b64url(hmac::sign(&idp.csrf_key, value.as_bytes()).as_ref())
}

pub fn verify(idp: &Idp, req: &HttpRequest, form_token: Option<&str>) -> bool {
    let (Some(cookie), Some(form_token)) = (req.cookie(COOKIE), form_token) else {
        return false;
    };
    let Some(mac) = crypto::b64url_decode(form_token) else {
        return false;
    };
    hmac::verify(&idp.csrf_key, cookie.value().as_bytes(), &mac).is_ok()
}
