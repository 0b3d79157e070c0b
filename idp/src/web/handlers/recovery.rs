//! "Forgot password?", "Forgot your identifier?" and "check your mail".

use crate::domain::migration::period;
use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::brand;
use super::forms::{PageError, form_page};
use super::{PageResult, State, client_address, run};
use crate::domain::oidc::authorize::{self, AuthRequest};
use crate::domain::recovery::{self, IdentifyBy, Origin, Requested};
use crate::web::csrf;

/// The pending login a page carries, if it is still alive.
async fn pending(state: &State, request: &str) -> Option<AuthRequest> {
    if request.is_empty() {
        return None;
    }
    let id = request.to_owned();
    run(state, move |idp, conn| {
        authorize::load_pending(idp, conn, &id)
    })
    .await
    .ok()
    .flatten()
}

/// A recovery page in the language and the brand of the pending login it carries.
fn pending_page(
    state: &State,
    req: &HttpRequest,
    name: &str,
    pending: Option<&AuthRequest>,
    status: StatusCode,
    mut data: Value,
) -> HttpResponse {
    let locale = state.locale(req, pending.and_then(|p| p.ui_locales.as_deref()));
    brand::wear(&mut data, pending.and_then(|p| p.brand.as_ref()));
    form_page(state, req, name, locale, status, data)
}

/// Gives a request answer a fixed minimum duration, so the time it took does not tell
/// whether an account matched (OWASP Forgot Password cheat sheet, "consistent time").
async fn pad(state: &State, started: Instant) {
    super::pad_to(state.idp.settings.recovery.response_floor_millis, started).await;
}

#[derive(Debug, Deserialize)]
pub struct RequestQuery {
    /// The pending login the page carries ("" without one).
    #[serde(default)]
    pub request: String,
}

#[derive(Debug, Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    request: String,
    csrf: Option<String>,
    #[serde(default)]
    identifier: String,
    #[serde(default)]
    email: String,
}

fn forgot_data(
    state: &State,
    request: &str,
    identifier: &str,
    email: &str,
    error: Option<PageError>,
) -> Value {
    let mode = state.idp.settings.recovery.identify_by;
    let mut data = json!({
        "request": request,
        "ask_either": mode == IdentifyBy::Either,
        "ask_identifier": matches!(mode, IdentifyBy::Identifier | IdentifyBy::Both),
        "ask_email": matches!(mode, IdentifyBy::Email | IdentifyBy::Both),
        "identifier": identifier,
        "email": email,
        // Accounts may have no password here at all: said to everyone, about nobody.
        "upstream": !state.idp.upstream.all().is_empty(),
    });
    PageError::fill(error, &mut data);
    data
}

#[tracing::instrument(skip_all, name = "forgot_form")]
pub async fn forgot_form(
    state: State,
    req: HttpRequest,
    query: web::Query<RequestQuery>,
) -> HttpResponse {
    let request = query.into_inner().request;
    let pending = pending(&state, &request).await;
    let hint = pending
        .as_ref()
        .and_then(|p| p.login_hint.clone())
        .unwrap_or_default();
    let data = forgot_data(&state, &request, &hint, "", None);
    pending_page(
        &state,
        &req,
        "forgot",
        pending.as_ref(),
        StatusCode::OK,
        data,
    )
}

#[tracing::instrument(skip_all, name = "forgot_submit")]
pub async fn forgot_submit(
    state: State,
    req: HttpRequest,
    form: web::Form<ForgotForm>,
) -> PageResult {
    let started = Instant::now();
    let form = form.into_inner();
    let pending = pending(&state, &form.request).await;
    if !csrf::verify(&state, &req, form.csrf.as_deref()) {
        let data = forgot_data(
            &state,
            &form.request,
            &form.identifier,
            &form.email,
            Some(PageError::new("login-error-form-expired")),
        );
        return Ok(pending_page(
            &state,
            &req,
            "forgot",
            pending.as_ref(),
            StatusCode::BAD_REQUEST,
            data,
        ));
    }
    let address = client_address(&state, &req);
    let client_id = pending.as_ref().map(|p| p.client_id.to_string());
    let resume = pending.is_some().then(|| form.request.clone());
    let (identifier, email) = (form.identifier.clone(), form.email.clone());
    let result = run(&state, move |idp, conn| {
        let request = recovery::ResetRequest {
            identifier: &identifier,
            email: &email,
            resume_request: resume.as_deref(),
            origin: Origin::of(&address).for_client(client_id.as_deref()),
        };
        let requested = recovery::forgot_password(idp, conn, request)?;
        // Said to everyone during a migration, so it tells nothing of any account.
        let period = period::current(conn, idp.zone.date_at(idp.now()))?;
        Ok((requested, period))
    })
    .await;
    pad(&state, started).await;
    let (result, period) = match result {
        Ok((requested, period)) => (Ok(requested), period),
        Err(e) => (Err(e), None),
    };
    let error = match result {
        Ok(Requested::Accepted) => {
            let data = json!({
                "request": form.request,
                "what": "password",
                "hours": state.idp.settings.recovery.reset_ttl_seconds / 3600,
                "migration": period.map(|p| json!({"contact": p.contact})),
            });
            return Ok(pending_page(
                &state,
                &req,
                "forgot_sent",
                pending.as_ref(),
                StatusCode::OK,
                data,
            ));
        }
        Ok(Requested::Throttled { minutes }) => PageError::wait("forgot-error-throttled", minutes),
        Ok(Requested::Incomplete(message)) => PageError::new(message),
        Err(e) => return Err(e.into()),
    };
    let data = forgot_data(
        &state,
        &form.request,
        &form.identifier,
        &form.email,
        Some(error),
    );
    Ok(pending_page(
        &state,
        &req,
        "forgot",
        pending.as_ref(),
        StatusCode::OK,
        data,
    ))
}

#[tracing::instrument(skip_all, name = "forgot_identifier_form")]
pub async fn forgot_identifier_form(
    state: State,
    req: HttpRequest,
    query: web::Query<RequestQuery>,
) -> HttpResponse {
    let request = query.into_inner().request;
    let pending = pending(&state, &request).await;
    let mut data = json!({"request": request, "email": ""});
    PageError::fill(None, &mut data);
    pending_page(
        &state,
        &req,
        "forgot_identifier",
        pending.as_ref(),
        StatusCode::OK,
        data,
    )
}

#[tracing::instrument(skip_all, name = "forgot_identifier_submit")]
pub async fn forgot_identifier_submit(
    state: State,
    req: HttpRequest,
    form: web::Form<ForgotForm>,
) -> PageResult {
    let started = Instant::now();
    let form = form.into_inner();
    let pending = pending(&state, &form.request).await;
    let page_with = |error: PageError, status| {
        let mut data = json!({"request": form.request, "email": form.email});
        PageError::fill(Some(error), &mut data);
        pending_page(
            &state,
            &req,
            "forgot_identifier",
            pending.as_ref(),
            status,
            data,
        )
    };
    if !csrf::verify(&state, &req, form.csrf.as_deref()) {
        let expired = PageError::new("login-error-form-expired");
        return Ok(page_with(expired, StatusCode::BAD_REQUEST));
    }
    let address = client_address(&state, &req);
    let client_id = pending.as_ref().map(|p| p.client_id.to_string());
    let email = form.email.clone();
    let result = run(&state, move |idp, conn| {
        let origin = Origin::of(&address).for_client(client_id.as_deref());
        recovery::forgot_identifier(idp, conn, &email, origin)
    })
    .await?;
    pad(&state, started).await;
    Ok(match result {
        Requested::Accepted => {
            let data = json!({"request": form.request, "what": "identifier", "hours": 0});
            pending_page(
                &state,
                &req,
                "forgot_sent",
                pending.as_ref(),
                StatusCode::OK,
                data,
            )
        }
        Requested::Throttled { minutes } => page_with(
            PageError::wait("forgot-error-throttled", minutes),
            StatusCode::OK,
        ),
        Requested::Incomplete(message) => page_with(PageError::new(message), StatusCode::OK),
    })
}
