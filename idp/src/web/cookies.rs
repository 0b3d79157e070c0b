//! Every cookie the STS sets or reads, in one place: the SSO session, the login flow of the
//! wizard, the CSRF double-submit value, the language chosen on the switch, and the secret
//! that binds round trips to upstream providers to this browser. All are `HttpOnly`, `Path=/`, `SameSite=Lax`
//! (sent on the top-level navigation back from an application, not on cross-site
//! requests) and `Secure` whenever the issuer is https (RFC 6265bis §4.1.2; OWASP Session
//! Management cheat sheet). On https their names also carry the `__Host-` prefix (RFC
//! 6265bis §4.1.3.2, ASVS 4.0.3 §3.4.4): a browser keeps such a cookie only when it is
//! `Secure`, from a secure origin, with `Path=/` and no `Domain`, so no sibling subdomain
//! can plant or shadow one; and only the prefixed name is read there. The plain-http
//! loopback set-up (a developer's `cargo run`) cannot have the prefix and keeps the bare
//! names.

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

/// The name a cookie has on the wire: `__Host-` and its name on https.
fn wire_name(name: &'static str, https: bool) -> std::borrow::Cow<'static, str> {
    if https {
        format!("__Host-{name}").into()
    } else {
        name.into()
    }
}

fn build(name: &'static str, value: String, https: bool) -> Cookie<'static> {
    Cookie::build(wire_name(name, https), value)
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
    value(req, LANGUAGE).and_then(|v| Locale::parse(&v))
}

/// The value of cookie `name` the browser sent (under its wire name).
pub fn value(req: &HttpRequest, name: &'static str) -> Option<String> {
    let https = req
        .app_data::<super::State>()
        .is_some_and(|state| state.idp.settings.https());
    read(req, name, https)
}

fn read(req: &HttpRequest, name: &'static str, https: bool) -> Option<String> {
    req.cookie(&wire_name(name, https))
        .map(|c| c.value().to_owned())
}

/// Adds `cookies` to a response already built (a redirect).
pub fn add(resp: &mut HttpResponse, cookies: impl IntoIterator<Item = Cookie<'static>>) {
    for cookie in cookies {
        if let Err(e) = resp.add_cookie(&cookie) {
            tracing::error!(error = %e, cookie = cookie.name(), "cannot set a cookie");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    /// On https every cookie is `__Host-` prefixed with the attributes the prefix demands,
    /// and only the prefixed name is read: a bare `idp_session` planted by a sibling
    /// subdomain is not. On plain-http loopback, the bare names.
    #[test]
    fn host_prefix_on_https() {
        let cookie = session("s3cret".into(), true);
        assert_eq!(cookie.name(), "__Host-idp_session");
        assert_eq!(cookie.secure(), Some(true));
        assert_eq!(cookie.path(), Some("/"));
        assert_eq!(cookie.domain(), None);
        assert_eq!(csrf("c".into(), true).name(), "__Host-idp_csrf");
        assert_eq!(language(Locale::Nl, true).name(), "__Host-idp_lang");
        assert_eq!(flow_removal(true).name(), "__Host-idp_flow");

        let req = TestRequest::default()
            .cookie(Cookie::new("idp_session", "planted"))
            .cookie(Cookie::new("__Host-idp_session", "ours"))
            .to_http_request();
        assert_eq!(read(&req, SESSION, true).as_deref(), Some("ours"));
        let planted_only = TestRequest::default()
            .cookie(Cookie::new("idp_session", "planted"))
            .to_http_request();
        assert_eq!(read(&planted_only, SESSION, true), None);

        let plain = session("s3cret".into(), false);
        assert_eq!(plain.name(), "idp_session");
        assert_eq!(plain.secure(), Some(false));
        assert_eq!(
            read(&planted_only, SESSION, false).as_deref(),
            Some("planted")
        );
    }
}
