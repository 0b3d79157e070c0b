//! Routes and the helpers every handler shares.

mod account;
mod admin;
mod authorize;
pub mod brand;
mod forms;
mod language;
mod logout;
mod metadata;
mod recovery;
mod reset;
mod tokens;
mod upstream;
mod wizard;

use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::error;
use super::{State, cookies};
use crate::domain::login::Finished;
use crate::domain::{DomainError, DomainResult, Idp};
use crate::store::DbConn;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/.well-known/openid-configuration",
        web::get().to(metadata::discovery),
    )
    .route(
        "/.well-known/oauth-authorization-server",
        web::get().to(metadata::discovery),
    )
    .route("/jwks", web::get().to(metadata::jwks))
    .route("/health", web::get().to(metadata::health))
    .route("/healthz", web::get().to(metadata::alive))
    .route("/readyz", web::get().to(metadata::ready))
    .route("/metrics", web::get().to(metadata::metrics))
    // The back-channel endpoints early: routes are tried in order, and each pattern with
    // a `{…}` segment tried before a request's own costs it a regular expression.
    .route("/token", web::post().to(tokens::token))
    .route("/userinfo", web::get().to(tokens::userinfo))
    .route("/userinfo", web::post().to(tokens::userinfo))
    .route("/revoke", web::post().to(tokens::revoke))
    .route("/par", web::post().to(tokens::par))
    .route("/introspect", web::post().to(tokens::introspect))
    .route("/authorize", web::get().to(authorize::authorize_get))
    .route("/authorize", web::post().to(authorize::authorize_post))
    .route("/login", web::get().to(authorize::login_form))
    .route("/login", web::post().to(authorize::login_submit))
    .route("/", web::get().to(authorize::home))
    .route("/forgot", web::get().to(recovery::forgot_form))
    .route("/forgot", web::post().to(recovery::forgot_submit))
    .route(
        "/forgot-identifier",
        web::get().to(recovery::forgot_identifier_form),
    )
    .route(
        "/forgot-identifier",
        web::post().to(recovery::forgot_identifier_submit),
    )
    .route("/reset", web::get().to(reset::reset_form))
    .route("/reset", web::post().to(reset::reset_submit))
    .route("/reset/code", web::get().to(reset::reset_code_form))
    .route("/reset/code", web::post().to(reset::reset_code_submit))
    .route("/resume", web::get().to(reset::resume))
    .route("/account", web::get().to(account::account))
    .route("/account", web::post().to(account::account_submit))
    .route("/wizard", web::get().to(wizard::wizard))
    .route("/wizard", web::post().to(wizard::wizard_submit))
    .route("/assets/{file}", web::get().to(crate::web::assets::serve))
    .route("/language", web::get().to(language::switch))
    .route(
        "/brand/{body}/{version}/style.css",
        web::get().to(brand::stylesheet),
    )
    .route("/brand/{body}/{version}/logo", web::get().to(brand::logo))
    .configure(admin::routes)
    .route("/logout", web::get().to(logout::logout_get))
    .route("/logout", web::post().to(logout::logout_post))
    .route("/logout/confirm", web::post().to(logout::logout_confirm))
    .route("/upstream/{id}", web::post().to(upstream::start))
    .route("/upstream/{id}/callback", web::get().to(upstream::callback))
    .default_service(web::to(not_found));
}

/// Runs domain work on the blocking pool with a pooled connection, so database and
/// argon2 time never stall the async workers.
pub async fn run<T, F>(state: &State, f: F) -> DomainResult<T>
where
    F: FnOnce(&Idp, &mut DbConn) -> DomainResult<T> + Send + 'static,
    T: Send + 'static,
{
    let idp = state.idp.clone();
    // The request's span and id go along to the blocking pool: its log lines and the audit
    // events it records name the request.
    let (span, request) = (
        tracing::Span::current(),
        crate::web::telemetry::current_request(),
    );
    web::block(move || {
        let _entered = span.enter();
        crate::domain::audit::during(request, || {
            let mut conn = idp.conn()?;
            f(&idp, &mut conn)
        })
    })
    .await
    .map_err(|e| DomainError::Internal(format!("blocking task failed: {e}")))?
}

/// The address a request asked for, as a path with its query.
pub fn path_and_query(req: &HttpRequest) -> String {
    match req.query_string() {
        "" => req.path().to_owned(),
        query => format!("{}?{query}", req.path()),
    }
}

/// Query or form pairs; a malformed encoding is the client's error.
pub fn parse_pairs(text: &str) -> DomainResult<Vec<(String, String)>> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(text).map_err(|_| {
        DomainError::oauth(
            crate::domain::ErrorCode::InvalidRequest,
            "the parameters are not valid URL encoding",
        )
    })
}

/// A form sent without its CSRF token, or with a stale one.
pub fn form_expired(state: &State, req: &HttpRequest) -> HttpResponse {
    error_page(
        state,
        req,
        StatusCode::BAD_REQUEST,
        "login-error-form-expired",
        None,
    )
}

/// An error page in the visitor's language, with its language switch: a GET comes back
/// to the same address, a form's answer to the form's page.
pub fn error_page(
    state: &State,
    req: &HttpRequest,
    status: StatusCode,
    message: &str,
    detail: Option<String>,
) -> HttpResponse {
    let locale = state.locale(req, None);
    let data = json!({ "message": message, "detail": detail, "provider": null, "back": null });
    let html = forms::render(state, req, "error", locale, data);
    page(status).body(html)
}

/// Turns an `ErrorPage` a handler returned into the error page, in the visitor's language.
/// The person reads their own language only; the technical words (in English, as the RFCs
/// write them) wait under "details for the school's IT". Other responses pass untouched.
pub fn render_error_page<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let found = res.response().error().and_then(|e| {
        match e.as_error::<error::ErrorPage>() {
            Some(page) => Some(page.message()),
            // What an extractor refused on a page (a form sent as JSON, a body too large):
            // a page in the person's language too. The API endpoints answer for themselves.
            None if is_page(res.request().path()) && res.status().is_client_error() => {
                Some(("error-bad-request", Some(e.to_string())))
            }
            None => None,
        }
    });
    let (Some((message, detail)), Some(state)) =
        (found, res.request().app_data::<State>().cloned())
    else {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    };
    let status = res.status();
    let page = error_page(&state, res.request(), status, message, detail);
    let (req, _) = res.into_parts();
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, page).map_into_right_body(),
    ))
}

/// Waits until `floor_millis` have passed since `started`, so an answer's timing tells
/// nothing of the work behind it.
pub async fn pad_to(floor_millis: u64, started: std::time::Instant) {
    let floor = std::time::Duration::from_millis(floor_millis);
    if let Some(rest) = floor.checked_sub(started.elapsed()) {
        actix_web::rt::time::sleep(rest).await;
    }
}

/// Whether `path` is a page a person sees (not an endpoint an application calls).
fn is_page(path: &str) -> bool {
    const API: [&str; 10] = [
        "/healthz",
        "/readyz",
        "/metrics",
        "/par",
        "/token",
        "/userinfo",
        "/revoke",
        "/introspect",
        "/jwks",
        "/.well-known/",
    ];
    !API.iter().any(|api| path.starts_with(api))
}

/// The client's address (behind trusted proxies, the one they saw).
pub fn client_address(state: &State, req: &HttpRequest) -> String {
    super::client_address::client_address(&state.idp.settings.trusted_proxies, req)
}

pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((LOCATION, location))
        .insert_header(("Cache-Control", "no-store"))
        .finish()
}

/// The SSO session cookie the browser sent, if any.
pub fn session_cookie(req: &HttpRequest) -> Option<String> {
    cookies::value(req, cookies::SESSION)
}

/// Where a finished login sends the browser: on to the application (or a page) with the
/// new session, or to the wizard first. `next` of none (stay) goes to `stay`.
pub fn after_login(state: &State, finished: Finished, stay: &str) -> HttpResponse {
    let https = state.idp.settings.https();
    match finished {
        Finished::LoggedIn {
            session_cookie,
            next,
        } => {
            let mut resp = see_other(next.as_deref().unwrap_or(stay));
            cookies::add(
                &mut resp,
                [
                    cookies::session(session_cookie, https),
                    cookies::flow_removal(https),
                ],
            );
            resp
        }
        Finished::RequiredActions { flow } => wizard::to_wizard(state, flow),
    }
}

/// A page answer with the security headers every page carries. No `form-action`: the
/// login form's answer redirects to the application, and browsers apply `form-action` to
/// that redirect too.
/// The headers of every HTML page; a 503 also says when to try again.
pub fn page(status: StatusCode) -> actix_web::HttpResponseBuilder {
    let mut b = HttpResponse::build(status);
    crate::web::error::retry_after(&mut b, status);
    b.content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'"));
    b
}

pub type PageResult = Result<HttpResponse, error::ErrorPage>;

async fn not_found(state: State, req: HttpRequest) -> HttpResponse {
    not_found_page(&state, &req)
}

pub fn not_found_page(state: &State, req: &HttpRequest) -> HttpResponse {
    error_page(state, req, StatusCode::NOT_FOUND, "error-not-found", None)
}
