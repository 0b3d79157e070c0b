//! RP-Initiated Logout 1.0.

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::{PageResult, State, page, parse_pairs, run};
use crate::domain::oidc::params::Params;
use crate::domain::oidc::{sessions, tokens};
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
    /// Logged out: on to the application's address, if any; the upstream provider the
    /// session came through.
    Done(Option<String>, Option<String>),
    Confirm {
        upstream: Option<String>,
        target_uri: String,
        client_id: String,
        state: String,
    },
}

/// Ends the browser's session; the upstream provider it was opened through, if any (the
/// person stays logged in there: the page says so).
fn end_current(idp: &Idp, conn: &mut DbConn, cookie: Option<&str>) -> DomainResult<Option<String>> {
    if let Some(cookie) = cookie
        && let Some(session) = sessions::find(conn, cookie, idp.now())?
    {
        sessions::end(conn, session.id, idp.now())?;
        return Ok(session.idp);
    }
    Ok(None)
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
            let upstream = end_current(idp, conn, cookie.as_deref())?;
            return Ok(Decision::Done(target, upstream));
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
        Decision::Done(target, upstream) => finished(&state, &req, target, upstream),
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
        let upstream = end_current(idp, conn, cookie.as_deref())?;
        Ok((target, upstream))
    })
    .await?;
    let (target, upstream) = result;
    Ok(finished(&state, &req, target, upstream))
}

/// The name of the upstream provider a session was opened through.
fn upstream_name(state: &State, upstream: Option<String>) -> Option<String> {
    upstream.map(|id| state.idp.upstream.name_of(&id).to_owned())
}

fn finished(
    state: &State,
    req: &HttpRequest,
    target: Option<String>,
    upstream: Option<String>,
) -> HttpResponse {
    let removal = cookies::session_removal(state.idp.settings.https());
    match target {
        Some(to) => HttpResponse::SeeOther()
            .insert_header((LOCATION, to))
            .cookie(removal)
            .finish(),
        None => {
            let html = state.pages.render(
                "logged_out",
                state.locale(req, None),
                json!({"upstream": upstream_name(state, upstream)}),
            );
            page(StatusCode::OK).cookie(removal).body(html)
        }
    }
}
