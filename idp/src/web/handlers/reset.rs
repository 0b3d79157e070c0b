//! The new-password form from a reset link or code, the code page, links that cannot be
//! used, and the way back to the application.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::forms::{PageError, expired_form_box, form_page, problem_box, rule_lines, user_locale};
use super::recovery::RequestQuery;
use super::{PageResult, State, client_address, page, run, see_other, session_cookie};
use crate::domain::oidc::authorize::{self, Outcome};
use crate::domain::oidc::sessions;
use crate::domain::recovery::{self, CompletionOutcome, Credential, NewPassword, Origin};
use crate::domain::resets::{Purpose, Unusable, UnusableReset};
use crate::domain::types::query_value;
use crate::domain::users::User;
use crate::web::{cookies, csrf};

/// What the new-password form shows.
struct ResetView<'a> {
    /// The hidden fields that name the reset: `token`, or `identifier` and `code`.
    credential: Credential<'a>,
    user: &'a User,
    purpose: Purpose,
    /// The problem box (`forms::problem_box`), `null` for none.
    problems: Value,
    email: &'a str,
    /// Where the mail went, masked.
    sent_to: &'a [String],
}

async fn reset_page(
    state: &State,
    req: &HttpRequest,
    view: ResetView<'_>,
    status: StatusCode,
) -> HttpResponse {
    let brand = super::brand::of_account(state, view.user.id).await;
    let locale = user_locale(state, req, view.user);
    let rules = rule_lines(state, locale, view.user);
    let (token, identifier, code) = match view.credential {
        Credential::Token(t) => (t, "", ""),
        Credential::Code { identifier, code } => ("", identifier, code),
    };
    let ask_email = state.idp.settings.recovery.confirm_email_on_reset
        && view.purpose == Purpose::Reset
        && view.user.email.is_some();
    let mut data = json!({
        "token": token,
        "code_identifier": identifier,
        "code": code,
        "account": view.user.username,
        "rules": rules,
        "problems": view.problems,
        "ask_email": ask_email,
        "email": view.email,
        "sent_to": view.sent_to.join(", "),
    });
    super::brand::wear(&mut data, brand.as_ref());
    form_page(state, req, "reset", locale, status, data)
}

/// The page for a link or code that cannot be used, offering a new one for the same
/// pending login, so the person still gets back to the application.
fn unusable_page(
    state: &State,
    req: &HttpRequest,
    unusable: UnusableReset,
    by_code: bool,
) -> HttpResponse {
    let message = match (unusable.why, by_code) {
        // A code page never says more than "not valid": it names no account.
        (_, true) | (Unusable::Unknown, false) => "reset-unusable-unknown",
        (Unusable::Expired, false) => "reset-unusable-expired",
        (Unusable::Used, false) => "reset-unusable-used",
        (Unusable::Revoked, false) => "reset-unusable-revoked",
    };
    // A typed code names no pending login: it could belong to anyone's account.
    let request = match unusable.resume_request {
        Some(request) if !by_code => format!("?request={}", query_value(&request)),
        _ => String::new(),
    };
    let html = super::forms::render(
        state,
        req,
        "reset_unusable",
        state.locale(req, None),
        json!({
            "message": message,
            "forgot_url": format!("/forgot{request}"),
            "login_url": format!("/login{request}"),
        }),
    );
    page(StatusCode::OK).body(html)
}

#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// Opening the link shows the form; it uses nothing (mail scanners open links).
#[tracing::instrument(skip_all, name = "reset_form")]
pub async fn reset_form(
    state: State,
    req: HttpRequest,
    query: web::Query<TokenQuery>,
) -> PageResult {
    show_reset_form(&state, &req, query.into_inner().token).await
}

/// The new-password form for a reset token.
async fn show_reset_form(state: &State, req: &HttpRequest, token: String) -> PageResult {
    let address = client_address(state, req);
    let t = token.clone();
    let opened = run(state, move |idp, conn| {
        let origin = Origin::of(&address);
        recovery::open(idp, conn, Credential::Token(&t), origin)
    })
    .await?;
    Ok(match opened {
        CompletionOutcome::Open(reset, user, sent_to) => {
            let view = ResetView {
                credential: Credential::Token(&token),
                user: &user,
                purpose: reset.purpose,
                problems: Value::Null,
                email: "",
                sent_to: &sent_to,
            };
            reset_page(state, req, view, StatusCode::OK).await
        }
        CompletionOutcome::Unusable(unusable) => unusable_page(state, req, unusable, false),
        _ => unusable_page(state, req, Unusable::Unknown.into(), false),
    })
}

#[derive(Debug, Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    request: String,
    csrf: Option<String>,
    #[serde(default)]
    identifier: String,
    #[serde(default)]
    code: String,
}

fn code_page(
    state: &State,
    req: &HttpRequest,
    form: &CodeForm,
    error: Option<PageError>,
) -> HttpResponse {
    let mut data = json!({
        "request": form.request,
        "identifier": form.identifier,
        "code": form.code,
    });
    PageError::fill(error, &mut data);
    form_page(
        state,
        req,
        "reset_code",
        state.locale(req, None),
        StatusCode::OK,
        data,
    )
}

#[tracing::instrument(skip_all, name = "reset_code_form")]
pub async fn reset_code_form(
    state: State,
    req: HttpRequest,
    query: web::Query<RequestQuery>,
) -> HttpResponse {
    let form = CodeForm {
        request: query.into_inner().request,
        csrf: None,
        identifier: String::new(),
        code: String::new(),
    };
    code_page(&state, &req, &form, None)
}

/// "I received a reset code": identifier and code open the new-password form.
#[tracing::instrument(skip_all, name = "reset_code_submit")]
pub async fn reset_code_submit(
    state: State,
    req: HttpRequest,
    form: web::Form<CodeForm>,
) -> PageResult {
    let form = form.into_inner();
    if !csrf::verify(&state, &req, form.csrf.as_deref()) {
        let expired = PageError::new("login-error-form-expired");
        return Ok(code_page(&state, &req, &form, Some(expired)));
    }
    let address = client_address(&state, &req);
    let (identifier, code) = (form.identifier.clone(), form.code.clone());
    let opened = run(&state, move |idp, conn| {
        let origin = Origin::of(&address);
        recovery::open(
            idp,
            conn,
            Credential::Code {
                identifier: &identifier,
                code: &code,
            },
            origin,
        )
    })
    .await?;
    Ok(match opened {
        CompletionOutcome::Open(reset, user, sent_to) => {
            let view = ResetView {
                credential: Credential::Code {
                    identifier: &form.identifier,
                    code: &form.code,
                },
                user: &user,
                purpose: reset.purpose,
                problems: Value::Null,
                email: "",
                sent_to: &sent_to,
            };
            reset_page(&state, &req, view, StatusCode::OK).await
        }
        CompletionOutcome::Throttled { minutes } => {
            let throttled = PageError::wait("reset-error-code-throttled", minutes);
            code_page(&state, &req, &form, Some(throttled))
        }
        _ => code_page(
            &state,
            &req,
            &form,
            Some(PageError::new("reset-error-code")),
        ),
    })
}

#[derive(Debug, Clone, Deserialize)]
pub struct ResetForm {
    csrf: Option<String>,
    #[serde(default)]
    token: String,
    #[serde(default)]
    code_identifier: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirmation: String,
    email: Option<String>,
}

impl ResetForm {
    fn credential(&self) -> Credential<'_> {
        if self.token.is_empty() {
            Credential::Code {
                identifier: &self.code_identifier,
                code: &self.code,
            }
        } else {
            Credential::Token(&self.token)
        }
    }
}

/// Submitting the form is what uses the reset, once, if the password is acceptable.
#[tracing::instrument(skip_all, name = "reset_submit")]
pub async fn reset_submit(
    state: State,
    req: HttpRequest,
    form: web::Form<ResetForm>,
) -> PageResult {
    let form = form.into_inner();
    let form_ok = csrf::verify(&state, &req, form.csrf.as_deref());
    let address = client_address(&state, &req);
    let language = cookies::chosen_language(&req);
    let f = form.clone();
    let result = run(&state, move |idp, conn| {
        let origin = Origin::of(&address).speaking(language);
        let credential = f.credential();
        if !form_ok {
            // Show the form again (nothing used), asking to resubmit.
            return recovery::open(idp, conn, credential, origin);
        }
        let new = NewPassword {
            password: &f.password,
            confirmation: &f.confirmation,
            email: f.email.as_deref(),
        };
        recovery::complete(idp, conn, credential, new, origin)
    })
    .await?;
    let locale_of = |user: &User| user_locale(&state, &req, user);
    Ok(match result {
        CompletionOutcome::Done(done) => {
            let brand = super::brand::of_account(&state, done.user.id).await;
            let mut data = json!({
                    // It moves on by itself; switching the language starts afresh.
                    "here": "/",
                    "countdown": state.idp.settings.recovery.redirect_delay_seconds,
                    "continue_url": done.next,
                    "account": done.user.username,
                    "has_app": done.resume_request.is_some(),
            });
            super::brand::wear(&mut data, brand.as_ref());
            let locale = locale_of(&done.user);
            let html = super::forms::render(&state, &req, "reset_done", locale, data);
            let mut resp = page(StatusCode::OK).body(html);
            let https = state.idp.settings.https();
            cookies::add(&mut resp, [cookies::session(done.session_cookie, https)]);
            resp
        }
        CompletionOutcome::Open(reset, user, sent_to) => {
            let view = ResetView {
                credential: form.credential(),
                user: &user,
                purpose: reset.purpose,
                problems: expired_form_box(&state, locale_of(&user)),
                email: form.email.as_deref().unwrap_or_default(),
                sent_to: &sent_to,
            };
            reset_page(&state, &req, view, StatusCode::BAD_REQUEST).await
        }
        CompletionOutcome::Rejected(reset, user, problems, sent_to) => {
            let problems = problem_box(&state, locale_of(&user), &problems);
            let view = ResetView {
                credential: form.credential(),
                user: &user,
                purpose: reset.purpose,
                problems,
                email: form.email.as_deref().unwrap_or_default(),
                sent_to: &sent_to,
            };
            reset_page(&state, &req, view, StatusCode::OK).await
        }
        CompletionOutcome::Unusable(unusable) => unusable_page(
            &state,
            &req,
            unusable,
            !form.code.is_empty() && form.token.is_empty(),
        ),
        CompletionOutcome::Throttled { .. } => {
            unusable_page(&state, &req, Unusable::Unknown.into(), true)
        }
    })
}

/// Back to the application of the pending login, now that the browser has a session.
#[tracing::instrument(skip_all, name = "resume")]
pub async fn resume(state: State, req: HttpRequest, query: web::Query<RequestQuery>) -> PageResult {
    let request = query.into_inner().request;
    let cookie = session_cookie(&req);
    let result = run(&state, move |idp, conn| {
        let Some(pending) = authorize::load_pending(idp, conn, &request)? else {
            return Ok(Outcome::Redirect("/".to_owned()));
        };
        let session = match &cookie {
            Some(c) => sessions::find(conn, c, idp.now())?,
            None => None,
        };
        authorize::delete_pending(conn, &request)?;
        authorize::decide(idp, conn, pending, session.as_ref())
    })
    .await?;
    Ok(match result {
        Outcome::Redirect(to) => see_other(&to),
        Outcome::Login { request_id, .. } => see_other(&format!("/login?request={request_id}")),
        Outcome::RequiredActions { flow } => super::wizard::to_wizard(&state, flow),
        Outcome::Untrusted(e) => return Err(e.into()),
    })
}
