//! The authorization endpoint and the login form.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::{
    State, domain_error_page, page, parse_pairs, run, see_other, session_cookie, session_cookie_for,
};
use crate::domain::oidc::authorize::{self, AuthRequest, FatalError, Outcome};
use crate::domain::oidc::sessions;
use crate::domain::required_actions;
use crate::domain::types::normalize;
use crate::domain::users::{self, LoginFailure};
use crate::domain::{audit, throttle};
use crate::web::csrf;

#[tracing::instrument(skip_all, name = "authorize")]
pub async fn authorize_get(state: State, req: HttpRequest) -> HttpResponse {
    let query = req.query_string().to_owned();
    authorize(state, req, query).await
}

#[tracing::instrument(skip_all, name = "authorize")]
pub async fn authorize_post(state: State, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    authorize(state, req, String::from_utf8_lossy(&body).into_owned()).await
}

async fn authorize(state: State, req: HttpRequest, raw: String) -> HttpResponse {
    let pairs = match parse_pairs(&raw) {
        Ok(p) => p,
        Err(e) => return domain_error_page(&state, &req, &e),
    };
    let cookie = session_cookie(&req);
    let result = run(&state, move |idp, conn| {
        let validated = match authorize::validate(idp, conn, pairs) {
            Ok(v) => v,
            Err(FatalError(e)) => return Ok(Err(e)),
        };
        let auth_req = match validated {
            Ok(r) => r,
            Err((r, e)) => {
                return Ok(Ok(Outcome::Redirect(authorize::error_redirect(
                    idp, &r, &e,
                ))));
            }
        };
        let session = match &cookie {
            Some(c) => sessions::find(conn, c, idp.now())?,
            None => None,
        };
        authorize::decide(idp, conn, auth_req, session.as_ref()).map(Ok)
    })
    .await;
    match result {
        Ok(Ok(Outcome::Redirect(to))) => see_other(&to),
        Ok(Ok(Outcome::Login { request_id, .. })) => {
            see_other(&format!("/login?request={request_id}"))
        }
        Ok(Ok(Outcome::RequiredActions { flow })) => super::wizard::to_wizard(&state, flow),
        Ok(Err(fatal)) => domain_error_page(&state, &req, &fatal),
        Err(e) => domain_error_page(&state, &req, &e),
    }
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    request: Option<String>,
}

/// Renders the form; `error` is a message key.
fn login_page(
    state: &State,
    req: &HttpRequest,
    request_id: &str,
    pending: Option<&AuthRequest>,
    identifier: &str,
    error: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    let locale = state.locale(req, pending.and_then(|p| p.ui_locales.as_deref()));
    let (csrf_token, csrf_cookie) = csrf::token(&state.idp, req);
    let html = state.pages.render(
        "login",
        locale,
        json!({
            "request": request_id,
            "csrf": csrf_token,
            "identifier": identifier,
            "error": error,
            "client_name": pending.map(|p| p.client_name.clone()),
        }),
    );
    let mut builder = page(status);
    if let Some(c) = csrf_cookie {
        builder.cookie(c);
    }
    builder.body(html)
}

#[tracing::instrument(skip_all, name = "login_form")]
pub async fn login_form(
    state: State,
    req: HttpRequest,
    query: web::Query<LoginQuery>,
) -> HttpResponse {
    let request_id = query.into_inner().request.unwrap_or_default();
    if request_id.is_empty() {
        return login_page(&state, &req, "", None, "", None, StatusCode::OK);
    }
    let id = request_id.clone();
    match run(&state, move |idp, conn| {
        authorize::load_pending(idp, conn, &id)
    })
    .await
    {
        Ok(Some(pending)) => {
            let hint = pending.login_hint.clone().unwrap_or_default();
            login_page(
                &state,
                &req,
                &request_id,
                Some(&pending),
                &hint,
                None,
                StatusCode::OK,
            )
        }
        Ok(None) => super::error_page(
            &state,
            state.locale(&req, None),
            StatusCode::BAD_REQUEST,
            "login-error-request-expired",
            None,
        ),
        Err(e) => domain_error_page(&state, &req, &e),
    }
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    request: String,
    csrf: Option<String>,
    #[serde(default)]
    identifier: String,
    #[serde(default)]
    password: String,
}

enum LoginResult {
    Expired,
    Failed(&'static str, Option<Box<AuthRequest>>),
    Done {
        redirect: String,
        cookie: String,
    },
    /// The account owes required actions: on to the wizard with this flow.
    RequiredActions {
        flow: String,
    },
}

#[tracing::instrument(skip_all, name = "login_submit")]
pub async fn login_submit(
    state: State,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> HttpResponse {
    let form = form.into_inner();
    if !csrf::verify(&state.idp, &req, form.csrf.as_deref()) {
        return login_page(
            &state,
            &req,
            &form.request,
            None,
            &form.identifier,
            Some("login-error-form-expired"),
            StatusCode::BAD_REQUEST,
        );
    }
    let request_id = form.request.clone();
    let identifier = form.identifier.clone();
    let address = super::client_address(&state, &req);
    let result = run(&state, move |idp, conn| {
        let pending = if request_id.is_empty() {
            None
        } else {
            match authorize::load_pending(idp, conn, &request_id)? {
                Some(p) => Some(p),
                None => return Ok(LoginResult::Expired),
            }
        };
        // People type their e-mail address where the identifier goes (the CREOS guide's
        // red warning); identifiers never contain '@', so say so precisely. This depends
        // only on what was typed, never on whether an account exists.
        if normalize(&form.identifier).contains('@') {
            return Ok(LoginResult::Failed(
                "login-error-email-as-identifier",
                pending.map(Box::new),
            ));
        }
        let now = idp.now();
        let account_key = format!("login-failure:account:{}", normalize(&form.identifier));
        let address_key = format!("login-failure:address:{address}");
        let client_id = pending.as_ref().map(|p| p.client_id.to_string());
        let audit = |conn: &mut crate::store::DbConn, kind, user| {
            let event = audit::Event {
                kind,
                user,
                client_id: client_id.as_deref(),
                address: Some(&address),
                detail: &form.identifier,
            };
            audit::record(conn, event, now)
        };
        // Checked before the password, so a throttled guess costs no argon2 run either.
        if throttle::blocked_until(
            conn,
            &account_key,
            throttle::LOGIN_FAILURES_PER_ACCOUNT,
            now,
        )?
        .is_some()
            || throttle::blocked_until(
                conn,
                &address_key,
                throttle::LOGIN_FAILURES_PER_ADDRESS,
                now,
            )?
            .is_some()
        {
            audit(conn, audit::Kind::LoginThrottled, None)?;
            return Ok(LoginResult::Failed(
                "login-error-throttled",
                pending.map(Box::new),
            ));
        }
        let user =
            match users::authenticate(conn, &idp.hasher, &form.identifier, &form.password, now)? {
                Ok(u) => u,
                Err(LoginFailure::TemporaryPasswordExpired) => {
                    audit(conn, audit::Kind::LoginFailed, None)?;
                    return Ok(LoginResult::Failed(
                        "login-error-temporary-expired",
                        pending.map(Box::new),
                    ));
                }
                Err(LoginFailure::BadCredentials | LoginFailure::Disabled) => {
                    throttle::hit(
                        conn,
                        &account_key,
                        throttle::LOGIN_FAILURES_PER_ACCOUNT,
                        now,
                    )?;
                    throttle::hit(
                        conn,
                        &address_key,
                        throttle::LOGIN_FAILURES_PER_ADDRESS,
                        now,
                    )?;
                    audit(conn, audit::Kind::LoginFailed, None)?;
                    return Ok(LoginResult::Failed(
                        "login-error-credentials",
                        pending.map(Box::new),
                    ));
                }
            };
        throttle::clear(conn, &account_key)?;
        // What the account still owes (first-login wizard, a temporary password, new
        // terms) comes before any code.
        let steps = required_actions::owed(conn, &user)?;
        if !steps.is_empty() {
            if user.password_change_required {
                audit(conn, audit::Kind::PasswordChangeRequired, Some(user.id))?;
            }
            audit(conn, audit::Kind::RequiredActionsStarted, Some(user.id))?;
            let ttl = chrono::Duration::seconds(idp.settings.login_request_ttl_seconds);
            let request = pending.is_some().then_some(request_id.as_str());
            let flow = required_actions::start(conn, user.id, request, &steps, ttl, now)?;
            return Ok(LoginResult::RequiredActions { flow });
        }
        audit(conn, audit::Kind::LoginSucceeded, Some(user.id))?;
        if user.first_login_at.is_none() {
            // A first login with nothing to check (no school data) is still the first.
            users::mark_first_login(conn, user.id, now)?;
        }
        let (session, cookie) = sessions::create(idp, conn, user.id, &["pwd"])?;
        let redirect = match pending {
            Some(p) => {
                authorize::delete_pending(conn, &request_id)?;
                authorize::issue_code(idp, conn, &p, &session)?
            }
            None => "/".to_owned(),
        };
        tracing::info!(user = %user.id, "login succeeded");
        Ok(LoginResult::Done { redirect, cookie })
    })
    .await;
    match result {
        Ok(LoginResult::Done { redirect, cookie }) => {
            let mut resp = see_other(&redirect);
            if let Err(e) = resp.add_cookie(&session_cookie_for(&state, cookie)) {
                tracing::error!(error = %e, "cannot set the session cookie");
            }
            resp
        }
        Ok(LoginResult::Failed(message, pending)) => login_page(
            &state,
            &req,
            &form.request,
            pending.as_deref(),
            &identifier,
            Some(message),
            StatusCode::OK,
        ),
        Ok(LoginResult::RequiredActions { flow }) => super::wizard::to_wizard(&state, flow),
        Ok(LoginResult::Expired) => super::error_page(
            &state,
            state.locale(&req, None),
            StatusCode::BAD_REQUEST,
            "login-error-request-expired",
            None,
        ),
        Err(e) => domain_error_page(&state, &req, &e),
    }
}

/// Where a person lands without an application: who is logged in, and a way in or out.
#[tracing::instrument(skip_all, name = "home")]
pub async fn home(state: State, req: HttpRequest) -> HttpResponse {
    let cookie = session_cookie(&req);
    let username = run(&state, move |idp, conn| {
        Ok(sessions::account_of(conn, cookie.as_deref(), idp.now())?.map(|u| u.username))
    })
    .await;
    match username {
        Ok(username) => {
            let html = state.pages.render(
                "home",
                state.locale(&req, None),
                json!({ "username": username }),
            );
            page(StatusCode::OK).body(html)
        }
        Err(e) => domain_error_page(&state, &req, &e),
    }
}
