//! The authorization endpoint and the login form.

use crate::domain::migration::period::{self, Period};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::forms::{PageError, form_page};
use super::{PageResult, State, page, parse_pairs, run, see_other, session_cookie};
use crate::domain::login::{self, Failure, FormOutcome};
use crate::domain::oidc::authorize::{self, AuthRequest, Outcome};
use crate::domain::oidc::sessions;
use crate::domain::upstream::UpstreamIdentity;
use crate::web::csrf;
use crate::web::landing::Landing;

#[tracing::instrument(skip_all, name = "authorize")]
pub async fn authorize_get(state: State, req: HttpRequest) -> PageResult {
    let query = req.query_string().to_owned();
    authorize(state, req, query).await
}

#[tracing::instrument(skip_all, name = "authorize")]
pub async fn authorize_post(state: State, req: HttpRequest, body: web::Bytes) -> PageResult {
    authorize(state, req, String::from_utf8_lossy(&body).into_owned()).await
}

async fn authorize(state: State, req: HttpRequest, raw: String) -> PageResult {
    let pairs = parse_pairs(&raw)?;
    let cookie = session_cookie(&req);
    let outcome = run(&state, move |idp, conn| {
        authorize::authorize(idp, conn, pairs, cookie.as_deref())
    })
    .await?;
    Ok(match outcome {
        Outcome::Redirect(to) => see_other(&to),
        Outcome::Login { request_id, .. } => see_other(&format!("/login?request={request_id}")),
        Outcome::RequiredActions { flow } => super::wizard::to_wizard(&state, flow),
        Outcome::Untrusted(e) => return Err(e.into()),
    })
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    request: Option<String>,
    /// An unlinked upstream identity kept for this login to link.
    link: Option<String>,
    /// Without an application: the STS's page to return to (see `Landing`).
    next: Option<String>,
}

/// What the login form shows: the application, the identifier typed, the last try's
/// error, an organising body's migration notice, the STS page to return to.
#[derive(Default)]
struct LoginView<'a> {
    pending: Option<&'a AuthRequest>,
    identifier: &'a str,
    error: Option<PageError>,
    period: Option<&'a Period>,
    next: Option<&'a Landing>,
    /// The upstream identity this login will link, and its token.
    link: Option<(&'a str, &'a UpstreamIdentity)>,
}

/// The "Log in with …" buttons of the login page: the providers of the application's
/// organising body (none while a login links an upstream identity already vouched for).
fn providers(
    state: &State,
    pending: Option<&AuthRequest>,
    linking: bool,
) -> Vec<serde_json::Value> {
    if linking {
        return Vec::new();
    }
    let brand = pending.and_then(|p| p.brand.as_ref());
    let id = brand.map(|b| b.body.to_string());
    let body = brand
        .zip(id.as_deref())
        .map(|(b, id)| (id, b.name.as_str()));
    state
        .idp
        .upstream
        .shown_for(body)
        .map(
            |p| json!({"id": p.id, "name": p.name, "kind": format!("{:?}", p.kind).to_lowercase()}),
        )
        .collect()
}

/// Renders the form, with a message when the last try failed.
fn login_page(
    state: &State,
    req: &HttpRequest,
    request_id: &str,
    view: LoginView<'_>,
    status: StatusCode,
) -> HttpResponse {
    let LoginView {
        pending,
        identifier,
        error,
        period,
        next,
        link,
    } = view;
    let locale = state.locale(req, pending.and_then(|p| p.ui_locales.as_deref()));
    let mut data = json!({
        "request": request_id,
        "identifier": identifier,
        "client_name": pending.map(|p| p.client_name.clone()),
        // During an organising body's migration: "you only need to choose a password".
        "migration": period.map(|p| json!({"text": p.notice(locale)})),
        "next": next.map(Landing::as_str),
        "providers": providers(state, pending, link.is_some()),
        "link": link.map(|(token, identity)| json!({
            "token": token,
            "provider": state.idp.upstream.name_of(&identity.provider),
            "email": identity.email,
        })),
    });
    super::brand::wear(&mut data, pending.and_then(|p| p.brand.as_ref()));
    PageError::fill(error, &mut data);
    form_page(state, req, "login", locale, status, data)
}

#[tracing::instrument(skip_all, name = "login_form")]
pub async fn login_form(
    state: State,
    req: HttpRequest,
    query: web::Query<LoginQuery>,
) -> PageResult {
    let query = query.into_inner();
    let request_id = query.request.unwrap_or_default();
    let token = query.link.unwrap_or_default();
    let kept = match token.as_str() {
        "" => None,
        t => super::upstream::kept_identity(&state, &req, t.to_owned()).await?,
    };
    let link = kept.as_ref().map(|identity| (token.as_str(), identity));
    if request_id.is_empty() {
        let next = query.next.as_deref().and_then(Landing::parse);
        let view = LoginView {
            next: next.as_ref(),
            link,
            ..LoginView::default()
        };
        return Ok(login_page(&state, &req, "", view, StatusCode::OK));
    }
    let id = request_id.clone();
    let (pending, period) = run(&state, move |idp, conn| {
        let today = idp.zone.date_at(idp.now());
        Ok((
            authorize::load_pending(idp, conn, &id)?,
            period::current(conn, today)?,
        ))
    })
    .await?;
    Ok(match pending {
        Some(pending) => {
            let hint = pending.login_hint.clone().unwrap_or_default();
            let status = StatusCode::OK;
            login_page(
                &state,
                &req,
                &request_id,
                LoginView {
                    pending: Some(&pending),
                    identifier: &hint,
                    error: None,
                    period: period.as_ref(),
                    next: None,
                    link,
                },
                status,
            )
        }
        None => request_expired(&state, &req),
    })
}

/// The page for a login whose pending authorization request has expired.
fn request_expired(state: &State, req: &HttpRequest) -> HttpResponse {
    let message = "login-error-request-expired";
    super::error_page(state, req, StatusCode::BAD_REQUEST, message, None)
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
    #[serde(default)]
    next: String,
    /// An unlinked upstream identity's token: the login links it.
    #[serde(default)]
    link: String,
}

#[tracing::instrument(skip_all, name = "login_submit")]
pub async fn login_submit(
    state: State,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> PageResult {
    let form = form.into_inner();
    if !csrf::verify(&state, &req, form.csrf.as_deref()) {
        let expired = Some(PageError::new("login-error-form-expired"));
        let (request, identifier) = (&form.request, &form.identifier);
        let status = StatusCode::BAD_REQUEST;
        let next = Landing::parse(&form.next);
        let view = LoginView {
            identifier,
            error: expired,
            next: next.as_ref(),
            ..LoginView::default()
        };
        return Ok(login_page(&state, &req, request, view, status));
    }
    let Some(place) = state.password_gate.enter().await else {
        return Ok(too_busy(&state, &req, &form));
    };
    let address = super::client_address(&state, &req);
    let f = form.clone();
    let language = crate::web::cookies::chosen_language(&req);
    let browser = crate::web::cookies::value(&req, crate::web::cookies::UPSTREAM);
    let started = std::time::Instant::now();
    let (outcome, period) = run(&state, move |idp, conn| {
        let outcome = login::with_password(
            idp,
            conn,
            login::PasswordForm {
                request_id: &f.request,
                identifier: &f.identifier,
                password: &f.password,
                address: &address,
                language,
                link: (!f.link.is_empty()).then_some((f.link.as_str(), browser.as_deref())),
            },
            login::CheckTurn::holding(place),
        )?;
        let period = match outcome {
            FormOutcome::Failed(..) => period::current(conn, idp.zone.date_at(idp.now()))?,
            _ => None,
        };
        Ok((outcome, period))
    })
    .await?;
    if let FormOutcome::Failed(Failure::BadCredentials, _) = outcome {
        // An unknown account, a wrong argon2id password and a wrong legacy one (whose
        // check may cost more) answer after the same minimum time.
        super::pad_to(state.idp.settings.login_failure_floor_millis, started).await;
    }
    let next = Landing::parse(&form.next);
    // A refused login that was to link an upstream identity keeps it for the next try.
    let kept = match (&outcome, form.link.as_str()) {
        (FormOutcome::Failed(..), token) if !token.is_empty() => {
            super::upstream::kept_identity(&state, &req, token.to_owned()).await?
        }
        _ => None,
    };
    Ok(match outcome {
        FormOutcome::Finished(finished) => {
            let stay = next.as_ref().map_or("/", Landing::as_str);
            super::after_login(&state, finished, stay)
        }
        FormOutcome::Failed(failure, pending) => login_page(
            &state,
            &req,
            &form.request,
            LoginView {
                pending: pending.as_deref(),
                identifier: &form.identifier,
                error: Some(PageError::from(failure)),
                period: period.as_ref(),
                next: next.as_ref(),
                link: kept.as_ref().map(|identity| (form.link.as_str(), identity)),
            },
            StatusCode::OK,
        ),
        FormOutcome::Expired => request_expired(&state, &req),
    })
}

/// The login form again, as typed but the password, saying to try again in a few seconds:
/// password checks are saturated (`web::password_gate`). Nothing was used or counted.
fn too_busy(state: &State, req: &HttpRequest, form: &LoginForm) -> HttpResponse {
    crate::metrics::login(crate::metrics::Outcome::overloaded);
    let next = Landing::parse(&form.next);
    let view = LoginView {
        identifier: &form.identifier,
        error: Some(PageError::new("login-error-busy")),
        next: next.as_ref(),
        ..LoginView::default()
    };
    login_page(
        state,
        req,
        &form.request,
        view,
        StatusCode::SERVICE_UNAVAILABLE,
    )
}

/// Where a person lands without an application: who is logged in, and a way in or out.
#[tracing::instrument(skip_all, name = "home")]
pub async fn home(state: State, req: HttpRequest) -> PageResult {
    let cookie = session_cookie(&req);
    let (username, admin) = run(&state, move |idp, conn| {
        let Some(user) = sessions::account_of(conn, cookie.as_deref(), idp.now())? else {
            return Ok((None, false));
        };
        let admin = !crate::domain::admin::roles::of(conn, user.id)?.is_empty();
        Ok((Some(user.username), admin))
    })
    .await?;
    let locale = state.locale(&req, None);
    let data = json!({ "username": username, "admin": admin });
    let html = super::forms::render(&state, &req, "home", locale, data);
    Ok(page(StatusCode::OK).body(html))
}
