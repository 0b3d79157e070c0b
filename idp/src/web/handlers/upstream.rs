//! "Log in with Microsoft / Google": the button's form starts a round trip to the upstream
//! provider, whose answer comes back to `/upstream/{id}/callback`. Both are thin: the
//! network half is `crate::federation`'s, the login `login::with_upstream`'s, the link
//! from the account page `upstream::links`'.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::{PageResult, State, client_address, run, see_other, session_cookie};
use crate::domain::audit::Origin;
use crate::domain::login::{self, UpstreamOutcome};
use crate::domain::oidc::{authorize, sessions};
use crate::domain::types::query_value;
use crate::domain::upstream::links::{self, LinkRefusal, LinkedBy};
use crate::domain::upstream::round_trip::{self, Purpose, Started};
use crate::domain::upstream::{Refusal, UpstreamIdentity};
use crate::federation::Passed;
use crate::web::{cookies, csrf};

#[derive(Debug, Deserialize)]
pub struct StartForm {
    csrf: Option<String>,
    /// The pending authorization request (empty: none).
    #[serde(default)]
    request: String,
    /// `link`: from the account page, to link the signed-in account.
    #[serde(default)]
    purpose: String,
}

/// The button: on to the provider, with a round trip bound to this browser.
#[tracing::instrument(skip_all, name = "upstream_start")]
pub async fn start(
    state: State,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<StartForm>,
) -> PageResult {
    let (id, form) = (id.into_inner(), form.into_inner());
    let Some(provider) = state.idp.upstream.find(&id) else {
        return Ok(super::not_found_page(&state, &req));
    };
    let provider_name = provider.name.clone();
    if !csrf::verify(&state, &req, form.csrf.as_deref()) {
        return Ok(super::form_expired(&state, &req));
    }
    let request = Some(form.request.clone()).filter(|r| !r.is_empty());
    let cookie = session_cookie(&req);
    let link = form.purpose == "link";
    let found = run(&state, move |idp, conn| {
        if link {
            let user = sessions::account_of(conn, cookie.as_deref(), idp.now())?;
            return Ok(user.map(|u| (Purpose::Link { user: u.id }, Passed::default())));
        }
        let pending = match &request {
            Some(r) => authorize::load_pending(idp, conn, r)?,
            None => None,
        };
        let passed = pending.as_ref().map(passed_on).unwrap_or_default();
        Ok(Some((Purpose::Login { request }, passed)))
    })
    .await?;
    let Some((purpose, passed)) = found else {
        // Linking needs a session: log in first, then come back to the account page.
        return Ok(see_other("/login?next=/account"));
    };
    let back = back_to(&purpose);
    let (url, started) = match state.federation.start(&id, purpose, &passed).await {
        Ok(found) => found,
        Err(refusal) => {
            tracing::warn!(provider = %id, error = %refusal, "upstream start failed");
            return Ok(problem(&state, &req, &refusal, &provider_name, &back));
        }
    };
    let https = state.idp.settings.https();
    let browser = match cookies::value(&req, cookies::UPSTREAM) {
        Some(value) if value.len() >= 43 => value,
        _ => crate::crypto::random_token().map_err(crate::domain::DomainError::from)?,
    };
    let secret = browser.clone();
    run(&state, move |idp, conn| {
        round_trip::save(conn, &started, &secret, idp.now())
    })
    .await?;
    let mut resp = see_other(&url);
    cookies::add(&mut resp, [cookies::upstream(browser, https)]);
    Ok(resp)
}

/// What the application asked that the provider should know: a fresh login, a maximum
/// age, an e-mail address as hint (OIDC Core §3.1.2.1).
fn passed_on(request: &authorize::AuthRequest) -> Passed {
    Passed {
        login_again: request.prompt_login,
        max_age: request.max_age,
        login_hint: request.login_hint.clone(),
    }
}

/// Where a person goes back to after a refused round trip.
fn back_to(purpose: &Purpose) -> String {
    match purpose {
        Purpose::Login {
            request: Some(request),
        } => format!("/login?request={}", query_value(request)),
        Purpose::Login { request: None } => "/login".into(),
        Purpose::Link { .. } => "/account".into(),
    }
}

#[derive(Debug, Deserialize)]
pub struct Answer {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    /// RFC 9207: the issuer of the answer, when the provider names it.
    iss: Option<String>,
}

/// The provider's answer: the round trip this browser started (a tampered, replayed or
/// foreign `state` finds none), the code exchanged and the ID token checked, then the
/// login or the link.
#[tracing::instrument(skip_all, name = "upstream_callback")]
pub async fn callback(
    state: State,
    req: HttpRequest,
    id: web::Path<String>,
    answer: web::Query<Answer>,
) -> PageResult {
    let (id, answer) = (id.into_inner(), answer.into_inner());
    let Some(provider) = state.idp.upstream.find(&id) else {
        return Ok(super::not_found_page(&state, &req));
    };
    let name = provider.name.clone();
    let expected_issuer = provider.issuer.exact().map(str::to_owned);
    let browser = cookies::value(&req, cookies::UPSTREAM);
    let token = answer.state.clone().unwrap_or_default();
    let binding = browser.clone();
    let started = run(&state, move |idp, conn| {
        round_trip::take(conn, &token, binding.as_deref(), idp.now())
    })
    .await?;
    let Some(started) = started.filter(|s| s.provider == id) else {
        let status = StatusCode::BAD_REQUEST;
        let message = "upstream-state-invalid";
        return Ok(upstream_page(
            &state, &req, status, message, &name, "/login", None,
        ));
    };
    let back = back_to(&started.purpose);
    // RFC 9207 §2.4: an answer naming another issuer is a mix-up.
    if let (Some(iss), Some(expected)) = (&answer.iss, &expected_issuer)
        && iss != expected
    {
        let refusal = Refusal::InvalidToken(format!("the answer names issuer {iss}"));
        return Ok(problem(&state, &req, &refusal, &name, &back));
    }
    let identity = match (&answer.error, &answer.code) {
        (Some(error), _) => Err(crate::federation::answered_error(
            error,
            answer.error_description.as_deref(),
        )),
        (None, Some(code)) => {
            state
                .federation
                .finish(&started, code, state.idp.now())
                .await
        }
        (None, None) => Err(Refusal::Provider("the answer holds no code".into())),
    };
    let identity = match identity {
        Ok(identity) => identity,
        Err(refusal) => {
            tracing::warn!(provider = %id, error = %refusal, "upstream login refused");
            return Ok(problem(&state, &req, &refusal, &name, &back));
        }
    };
    let browser = browser.unwrap_or_default();
    match started.purpose.clone() {
        Purpose::Link { user } => link_account(&state, &req, user, identity).await,
        Purpose::Login { request } => {
            log_in(&state, &req, &started, identity, request, browser, &name).await
        }
    }
}

async fn log_in(
    state: &State,
    req: &HttpRequest,
    started: &Started,
    identity: UpstreamIdentity,
    request: Option<String>,
    browser: String,
    name: &str,
) -> PageResult {
    let address = client_address(state, req);
    let language = cookies::chosen_language(req);
    let req_id = request.clone();
    let outcome = run(state, move |idp, conn| {
        let origin = Origin::of(&address).speaking(language);
        login::with_upstream(idp, conn, &identity, req_id.as_deref(), &browser, origin)
    })
    .await?;
    let back = back_to(&started.purpose);
    Ok(match outcome {
        UpstreamOutcome::Finished(finished) => super::after_login(state, finished, "/"),
        UpstreamOutcome::NotLinked { token, .. } => {
            let request = request.unwrap_or_default();
            see_other(&format!(
                "/login?request={}&link={}",
                query_value(&request),
                query_value(&token)
            ))
        }
        UpstreamOutcome::Failed(failure, _) => {
            let message = failure.message_key();
            upstream_page(
                state,
                req,
                StatusCode::FORBIDDEN,
                message,
                name,
                &back,
                None,
            )
        }
        UpstreamOutcome::Expired => {
            let message = "login-error-request-expired";
            super::error_page(state, req, StatusCode::BAD_REQUEST, message, None)
        }
    })
}

/// Links the identity to the account that started the round trip on its account page.
async fn link_account(
    state: &State,
    req: &HttpRequest,
    user: crate::domain::types::UserId,
    identity: UpstreamIdentity,
) -> PageResult {
    let address = client_address(state, req);
    let linked = run(state, move |idp, conn| {
        let origin = Origin::of(&address);
        links::link(
            idp,
            conn,
            user,
            &identity,
            LinkedBy::Person,
            origin,
            idp.now(),
        )
    })
    .await?;
    Ok(see_other(match linked {
        Ok(()) => "/account?done=upstream-linked",
        Err(LinkRefusal::TakenByAnother) => "/account?done=upstream-taken",
    }))
}

/// The page of a refused round trip: what happened in words, the way back to the login.
fn problem(
    state: &State,
    req: &HttpRequest,
    refusal: &Refusal,
    provider: &str,
    back: &str,
) -> HttpResponse {
    let status = match refusal {
        Refusal::Unreachable(_) => StatusCode::BAD_GATEWAY,
        Refusal::Denied | Refusal::WrongTenant | Refusal::WrongDomain => StatusCode::FORBIDDEN,
        _ => StatusCode::BAD_REQUEST,
    };
    let detail = Some(refusal.to_string());
    upstream_page(
        state,
        req,
        status,
        refusal.message_key(),
        provider,
        back,
        detail,
    )
}

fn upstream_page(
    state: &State,
    req: &HttpRequest,
    status: StatusCode,
    message: &str,
    provider: &str,
    back: &str,
    detail: Option<String>,
) -> HttpResponse {
    let locale = state.locale(req, None);
    // The switch returns to the login, not to an answer already used.
    let data = json!({
        "message": message,
        "provider": provider,
        "back": back,
        "detail": detail,
        "here": back,
    });
    let html = super::forms::render(state, req, "error", locale, data);
    super::page(status).body(html)
}

/// The identity kept for a password login to link, as the login page names it.
pub async fn kept_identity(
    state: &State,
    req: &HttpRequest,
    token: String,
) -> Result<Option<UpstreamIdentity>, crate::domain::DomainError> {
    let browser = cookies::value(req, cookies::UPSTREAM);
    run(state, move |idp, conn| {
        round_trip::unlinked(conn, &token, browser.as_deref(), idp.now())
    })
    .await
}
