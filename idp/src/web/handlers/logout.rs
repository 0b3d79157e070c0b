//! RP-Initiated Logout 1.0.

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::{PageResult, State, page, parse_pairs, run};
use crate::domain::oidc::params::Params;
use crate::domain::oidc::{frontchannel, sessions, tokens};
use crate::domain::{DomainError, DomainResult, ErrorCode, Idp, clients};
use crate::store::DbConn;
use crate::web::{cookies, csrf};

#[tracing::instrument(skip_all, name = "logout")]
pub async fn logout_get(state: State, req: HttpRequest) -> PageResult {
    let q = req.query_string().to_owned();
    logout(state, req, q).await
}

#[tracing::instrument(skip_all, name = "logout")]
pub async fn logout_post(state: State, req: HttpRequest, body: web::Bytes) -> PageResult {
    logout(state, req, String::from_utf8_lossy(&body).into_owned()).await
}

/// Where to send the browser afterwards: a registered post-logout URI (RP-Initiated
/// Logout §3: exact match, and never an unregistered one) with `state`.
fn checked_target(
    conn: &mut DbConn,
    client_id: Option<&str>,
    uri: Option<&str>,
    state: Option<&str>,
) -> DomainResult<Option<String>> {
    let Some(uri) = uri else { return Ok(None) };
    let bad = || {
        DomainError::oauth(
            ErrorCode::InvalidRequest,
            "post_logout_redirect_uri is not registered for this client",
        )
    };
    let client_id = client_id.ok_or_else(|| {
        DomainError::oauth(
            ErrorCode::InvalidRequest,
            "post_logout_redirect_uri needs id_token_hint or client_id",
        )
    })?;
    let client = clients::find(conn, client_id)?.ok_or_else(bad)?;
    if !client.has_post_logout_redirect_uri(uri) {
        return Err(bad());
    }
    let mut url = url::Url::parse(uri).map_err(|_| bad())?;
    if let Some(state) = state {
        url.query_pairs_mut().append_pair("state", state);
    }
    Ok(Some(url.to_string()))
}

enum Decision {
    /// Logged out: on to the application's address, if any; what the page does or says.
    Done(Option<String>, Ended),
    Confirm {
        upstream: Option<String>,
        target_uri: String,
        client_id: String,
        state: String,
    },
}

/// What ending a session leaves for the page to do or say.
#[derive(Debug, Default)]
struct Ended {
    /// The upstream provider it was opened through (the person stays logged in there:
    /// the page says so).
    upstream: Option<String>,
    /// The applications' front-channel logout pages to load (Front-Channel Logout §3).
    frames: Vec<String>,
}

/// Ends the browser's session (its applications with a back-channel hear it from the
/// outbox; those with a front channel are loaded by the page).
fn end_current(idp: &Idp, conn: &mut DbConn, cookie: Option<&str>) -> DomainResult<Ended> {
    let Some(session) = cookie
        .map(|c| sessions::find(conn, c, idp.now()))
        .transpose()?
        .flatten()
    else {
        return Ok(Ended::default());
    };
    let sid = session.id.to_string();
    let frames = frontchannel::pages_for_session(conn, &idp.settings.issuer, &sid)?;
    sessions::end(conn, session.id, idp.now())?;
    Ok(Ended {
        upstream: session.idp,
        frames,
    })
}

async fn logout(state: State, req: HttpRequest, raw: String) -> PageResult {
    let params = parse_pairs(&raw).and_then(Params::from_pairs)?;
    let cookie = cookies::value(&req, cookies::SESSION);
    let result = run(&state, move |idp, conn| {
        let hint = match params.get("id_token_hint") {
            Some(h) => Some(tokens::verify_id_token_hint(idp, h)?),
            None => None,
        };
        let hint_client = hint.as_ref().and_then(|h| h.audience());
        let client_id = match (params.get("client_id"), hint_client.as_deref()) {
            (Some(a), Some(b)) if a != b => {
                return Err(DomainError::oauth(
                    ErrorCode::InvalidRequest,
                    "client_id does not match id_token_hint",
                ));
            }
            (a, b) => a.or(b).map(str::to_owned),
        };
        let target = checked_target(
            conn,
            client_id.as_deref(),
            params.get("post_logout_redirect_uri"),
            params.get("state"),
        )?;
        let session = match &cookie {
            Some(c) => sessions::find(conn, c, idp.now())?,
            None => None,
        };
        // A valid hint for the session's own user proves the RP asked: log out at once.
        // Otherwise ask the person, so a stray link cannot log them out (§2, "SHOULD ask").
        let hinted_same_user = hint.as_ref().is_some_and(|h| {
            session
                .as_ref()
                .is_none_or(|s| s.user_id.to_string() == h.sub)
        });
        if session.is_none() || hinted_same_user {
            let ended = end_current(idp, conn, cookie.as_deref())?;
            return Ok(Decision::Done(target, ended));
        }
        Ok(Decision::Confirm {
            upstream: session.and_then(|s| s.idp),
            target_uri: params
                .get("post_logout_redirect_uri")
                .unwrap_or("")
                .to_owned(),
            client_id: client_id.unwrap_or_default(),
            state: params.get("state").unwrap_or("").to_owned(),
        })
    })
    .await?;
    Ok(match result {
        Decision::Done(target, ended) => finished(&state, &req, target, ended),
        Decision::Confirm {
            target_uri,
            client_id,
            state: rp_state,
            upstream,
        } => {
            let upstream = upstream_name(&state, upstream);
            let data = json!({ "post_logout_redirect_uri": target_uri, "client_id": client_id, "state": rp_state, "upstream": upstream });
            let locale = state.locale(&req, None);
            super::forms::form_page(&state, &req, "logout", locale, StatusCode::OK, data)
        }
    })
}

#[derive(Debug, serde::Deserialize)]
pub struct ConfirmForm {
    csrf: Option<String>,
    #[serde(default)]
    post_logout_redirect_uri: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    state: String,
}

#[tracing::instrument(skip_all, name = "logout_confirm")]
pub async fn logout_confirm(
    state: State,
    req: HttpRequest,
    form: web::Form<ConfirmForm>,
) -> PageResult {
    let form = form.into_inner();
    if !csrf::verify(&state, &req, form.csrf.as_deref()) {
        return Ok(super::form_expired(&state, &req));
    }
    let cookie = cookies::value(&req, cookies::SESSION);
    let result = run(&state, move |idp, conn| {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        let target = checked_target(
            conn,
            some(&form.client_id).as_deref(),
            some(&form.post_logout_redirect_uri).as_deref(),
            some(&form.state).as_deref(),
        )?;
        let ended = end_current(idp, conn, cookie.as_deref())?;
        Ok((target, ended))
    })
    .await?;
    let (target, ended) = result;
    Ok(finished(&state, &req, target, ended))
}

/// The name of the upstream provider a session was opened through.
fn upstream_name(state: &State, upstream: Option<String>) -> Option<String> {
    upstream.map(|id| state.idp.upstream.name_of(&id).to_owned())
}

/// After a logout: straight back to the application that asked, or the logged-out page,
/// which first loads the applications' front-channel logout pages (and then, with its
/// script, goes back to the application).
fn finished(
    state: &State,
    req: &HttpRequest,
    target: Option<String>,
    ended: Ended,
) -> HttpResponse {
    let removal = cookies::session_removal(state.idp.settings.https());
    if let (Some(to), true) = (&target, ended.frames.is_empty()) {
        return HttpResponse::SeeOther()
            .insert_header((LOCATION, to.as_str()))
            .cookie(removal)
            .finish();
    }
    let data = json!({
        "upstream": upstream_name(state, ended.upstream),
        "frames": ended.frames,
        "next": target,
    });
    let html = state
        .pages
        .render("logged_out", state.locale(req, None), data);
    let mut answer = page(StatusCode::OK);
    if !ended.frames.is_empty() {
        answer.insert_header(("Content-Security-Policy", frames_policy(&ended.frames)));
    }
    answer.cookie(removal).body(html)
}

/// The pages' policy, with the origins of the front-channel frames allowed as frames.
fn frames_policy(frames: &[String]) -> String {
    let origins: Vec<String> = frames
        .iter()
        .filter_map(|f| url::Url::parse(f).ok())
        .map(|u| u.origin().ascii_serialization())
        .collect();
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-src {}; base-uri 'none'; frame-ancestors 'none'",
        origins.join(" ")
    )
}
