//! Every cookie the STS sets or reads, in one place: the SSO session, the login flow of the
//! wizard, the CSRF double-submit value, the language chosen on the switch, and the secret
//! that binds round trips to upstream providers to this browser. All are `HttpOnly`, `Path=/`, `SameSite=Lax`
//! (sent on the top-level navigation back from an application, not on cross-site
//! requests) and `Secure` whenever the issuer is https (RFC 6265bis §4.1.2; OWASP Session
//! Management cheat sheet).

use actix_web::cookie::{Cookie, SameSite};
use actix_web::{HttpRequest, HttpResponse};

use crate::i18n::Locale;

/// The browser's SSO session: a 256-bit secret, stored only as its SHA-256.
pub const SESSION: &str = "idp_session";
/// A login waiting for its required actions (the wizard).
pub const FLOW: &str = "idp_flow";
/// The random value the CSRF form token signs.
pub const CSRF: &str = "idp_csrf";
/// The language chosen on the pages' language switch (`fr`, `nl`, `en`, `de`).
pub const LANGUAGE: &str = "idp_lang";
/// A secret of this browser that binds its round trips to upstream providers (their
/// `state`, RFC 9700 §4.7.1): an answer brought to another browser finds nothing.
pub const UPSTREAM: &str = "idp_upstream";
/// How long a chosen language is remembered: a school year and then some.
const LANGUAGE_DAYS: i64 = 400;

fn build(name: &'static str, value: String, https: bool) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .secure(https)
        .same_site(SameSite::Lax)
        .finish()
}

fn removal(name: &'static str, https: bool) -> Cookie<'static> {
    let mut cookie = build(name, String::new(), https);
    cookie.make_removal();
    cookie
}

pub fn session(value: String, https: bool) -> Cookie<'static> {
    build(SESSION, value, https)
}

pub fn session_removal(https: bool) -> Cookie<'static> {
    removal(SESSION, https)
}

pub fn flow(value: String, https: bool) -> Cookie<'static> {
    build(FLOW, value, https)
}

pub fn flow_removal(https: bool) -> Cookie<'static> {
    removal(FLOW, https)
}

pub fn upstream(value: String, https: bool) -> Cookie<'static> {
    build(UPSTREAM, value, https)
}

pub fn csrf(value: String, https: bool) -> Cookie<'static> {
    build(CSRF, value, https)
}

/// Remembers the language chosen on the switch, on this browser.
pub fn language(locale: Locale, https: bool) -> Cookie<'static> {
    let mut cookie = build(LANGUAGE, locale.as_str().to_owned(), https);
    cookie.set_max_age(actix_web::cookie::time::Duration::days(LANGUAGE_DAYS));
    cookie
}

/// The language this browser chose on the switch, if any.
pub fn chosen_language(req: &HttpRequest) -> Option<Locale> {
    req.cookie(LANGUAGE).and_then(|c| Locale::parse(c.value()))
}

/// The value of cookie `name` the browser sent.
pub fn value(req: &HttpRequest, name: &str) -> Option<String> {
    req.cookie(name).map(|c| c.value().to_owned())
}

/// Adds `cookies` to a response already built (a redirect).
pub fn add(resp: &mut HttpResponse, cookies: impl IntoIterator<Item = Cookie<'static>>) {
    for cookie in cookies {
        if let Err(e) = resp.add_cookie(&cookie) {
            tracing::error!(error = %e, cookie = cookie.name(), "cannot set a cookie");
        }
    }
}
