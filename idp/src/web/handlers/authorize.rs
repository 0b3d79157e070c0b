//! The authorization endpoint and the login form.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::forms::{PageError, form_page};
use super::{State, domain_error_page, page, parse_pairs, run, see_other, session_cookie};
use crate::domain::login::{self, FormOutcome};
use crate::domain::oidc::authorize::{self, AuthRequest, FatalError, Outcome};
use crate::domain::oidc::sessions;
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

/// Renders the form, with a message when the last try failed.
fn login_page(
    state: &State,
    req: &HttpRequest,
    request_id: &str,
    pending: Option<&AuthRequest>,
    identifier: &str,
    error: Option<PageError>,
    status: StatusCode,
) -> HttpResponse {
    let locale = state.locale(req, pending.and_then(|p| p.ui_locales.as_deref()));
    let mut data = json!({
        "request": request_id,
        "identifier": identifier,
        "client_name": pending.map(|p| p.client_name.clone()),
    });
    PageError::fill(error, &mut data);
    form_page(state, req, "login", locale, status, data)
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

#[derive(Debug, Clone, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    request: String,
    csrf: Option<String>,
    #[serde(default)]
    identifier: String,
    #[serde(default)]
    password: String,
}

#[tracing::instrument(skip_all, name = "login_submit")]
pub async fn login_submit(
    state: State,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> HttpResponse {
    let form = form.into_inner();
    if !csrf::verify(&state, &req, form.csrf.as_deref()) {
        let expired = PageError::new("login-error-form-expired");
        let status = StatusCode::BAD_REQUEST;
        return login_page(
            &state,
            &req,
            &form.request,
            None,
            &form.identifier,
            Some(expired),
            status,
        );
    }
    let address = super::client_address(&state, &req);
    let f = form.clone();
    let result = run(&state, move |idp, conn| {
        login::with_password(idp, conn, &f.request, &f.identifier, &f.password, &address)
    })
    .await;
    match result {
        Ok(FormOutcome::Finished(finished)) => super::after_login(&state, finished, "/"),
        Ok(FormOutcome::Failed(failure, pending)) => login_page(
            &state,
            &req,
            &form.request,
            pending.as_deref(),
            &form.identifier,
            Some(PageError::from(failure)),
            StatusCode::OK,
        ),
        Ok(FormOutcome::Expired) => super::error_page(
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
