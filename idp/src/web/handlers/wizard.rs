//! The required-actions wizard (APSchool's first login: Welcome → the child's data → own
//! data → terms), shown between a right password and the code sent to the application.
//! Steps are tabs; Back and Next move between them; leaving and coming back resumes.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::forms::{form_page, problem_box, rule_lines, user_locale};
use super::{PageResult, State, client_address, error_page, run, see_other};
use crate::domain::login::{self, Authenticated, Finished, Then};
use crate::domain::oidc::authorize;
use crate::domain::recovery::{self, NewPassword, Origin};
use crate::domain::required_actions::{self, Flow, Step};
use crate::domain::resets::Purpose;
use crate::domain::schools;
use crate::domain::users::{self, User};
use crate::domain::{DomainError, DomainResult, ErrorCode, Idp, audit, links, terms};
use crate::i18n::Locale;
use crate::store::DbConn;
use crate::web::{cookies, csrf};

/// Sends the browser to the wizard with its flow.
pub fn to_wizard(state: &State, flow: String) -> HttpResponse {
    let mut resp = see_other("/wizard");
    cookies::add(&mut resp, [cookies::flow(flow, state.idp.settings.https())]);
    resp
}

fn flow_secret(req: &HttpRequest) -> Option<String> {
    cookies::value(req, cookies::FLOW)
}

/// One labelled value of a person's data; a missing value is shown as missing.
fn field(label: &str, value: Option<String>) -> Value {
    json!({"label": label, "value": value})
}

pub(super) fn person_fields(user: &User, locale: Locale) -> Vec<Value> {
    let p = &user.profile;
    vec![
        field("wizard-field-name", user.name()),
        field("wizard-field-address", p.street_address.clone()),
        field("wizard-field-postal-code", p.postal_code.clone()),
        field("wizard-field-locality", p.locality.clone()),
        field("wizard-field-country", p.country.clone()),
        field("wizard-field-nationality", p.nationality.clone()),
        field("wizard-field-sex", p.sex.clone()),
        field(
            "wizard-field-birth-date",
            p.birth_date.map(|d| locale.format_date(d)),
        ),
    ]
}

pub(super) fn own_fields(user: &User) -> Vec<Value> {
    let p = &user.profile;
    vec![
        field("wizard-field-identifier", Some(user.username.clone())),
        field("wizard-field-name", user.name()),
        field("wizard-field-address", p.street_address.clone()),
        field("wizard-field-postal-code", p.postal_code.clone()),
        field("wizard-field-locality", p.locality.clone()),
        field("wizard-field-country", p.country.clone()),
        field("wizard-field-email", user.email.clone()),
        field("wizard-field-phone", user.phone_number.clone()),
    ]
}

/// Everything the wizard page needs, read in one go.
struct View {
    flow: Flow,
    user: User,
    pupils: Vec<(User, String)>,
    schools: Vec<schools::School>,
    terms: Vec<terms::Terms>,
}

fn load(conn: &mut DbConn, flow: Flow) -> DomainResult<View> {
    let user = users::find_by_id(conn, flow.user_id)?
        .ok_or_else(|| DomainError::NotFound("account".into()))?;
    let pupils = links::accounts_of(conn, user.id)?;
    let schools = schools::schools_of(conn, user.id)?;
    let terms = terms::owed_by(conn, user.id)?;
    Ok(View {
        flow,
        user,
        pupils,
        schools,
        terms,
    })
}

fn render(
    state: &State,
    req: &HttpRequest,
    view: &View,
    problems: &[recovery::Problem],
    status: StatusCode,
) -> HttpResponse {
    let locale: Locale = user_locale(state, req, &view.user);
    let problems = problem_box(state, locale, problems);
    let step = view.flow.current().unwrap_or(Step::Welcome);
    let tabs: Vec<Value> = view
        .flow
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            json!({
                "label": format!("wizard-tab-{}", s.as_str().replace('_', "-")),
                "current": i == view.flow.position,
                "done": i < view.flow.position,
            })
        })
        .collect();
    let pupils: Vec<Value> = view
        .pupils
        .iter()
        .map(|(p, _)| json!({"identifier": p.username, "fields": person_fields(p, locale)}))
        .collect();
    let schools: Vec<Value> = view
        .schools
        .iter()
        .map(|s| json!({"name": s.name, "data_changes": s.data_changes.as_str(), "contact": s.contact}))
        .collect();
    let terms: Vec<Value> = view
        .terms
        .iter()
        .map(|t| json!({"version": t.version, "text": t.text(locale)}))
        .collect();
    let data = json!({
        "step": step.as_str(),
        "tabs": tabs,
        "position": view.flow.position + 1,
        "count": view.flow.steps.len(),
        "account": view.user.username,
        "pupils": pupils,
        "own": own_fields(&view.user),
        "schools": schools,
        "rules": rule_lines(state, locale, &view.user),
        "password_done": !view.user.password_change_required,
        "problems": problems,
        "terms": terms,
        "back": view.flow.position > 0,
        "max_length": state.idp.settings.password_policy.max_length,
    });
    form_page(state, req, "wizard", locale, status, data)
}

fn expired(state: &State, req: &HttpRequest) -> HttpResponse {
    error_page(
        state,
        state.locale(req, None),
        StatusCode::BAD_REQUEST,
        "wizard-expired",
        None,
    )
}

#[tracing::instrument(skip_all, name = "wizard")]
pub async fn wizard(state: State, req: HttpRequest) -> PageResult {
    let Some(secret) = flow_secret(&req) else {
        return Ok(expired(&state, &req));
    };
    let view = run(&state, move |idp, conn| {
        match required_actions::find(conn, &secret, idp.now())? {
            Some(flow) => load(conn, flow).map(Some),
            None => Ok(None),
        }
    })
    .await?;
    Ok(match view {
        Some(view) => render(&state, &req, &view, &[], StatusCode::OK),
        None => expired(&state, &req),
    })
}

#[derive(Debug, Deserialize)]
pub struct WizardForm {
    csrf: Option<String>,
    #[serde(default)]
    action: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirmation: String,
}

/// What a submitted step led to.
enum Next {
    /// Show the wizard (with the reasons a new password was refused).
    Show(Box<View>, Vec<recovery::Problem>),
    /// The login is done (or owes new required actions).
    Finished(Finished),
    /// Terms refused: back to the application with access_denied, or a page.
    Refused(Option<String>),
    Expired,
}

/// The wizard is done: the first login is recorded, and the login ends as every login
/// does, with how the person authenticated before the wizard.
fn finish(
    idp: &Idp,
    conn: &mut DbConn,
    secret: &str,
    flow: Flow,
    address: &str,
) -> DomainResult<Next> {
    users::mark_first_login(conn, flow.user_id, idp.now())?;
    required_actions::end(conn, secret)?;
    let Some(user) = users::find_by_id(conn, flow.user_id)? else {
        return Ok(Next::Expired);
    };
    let pending = match &flow.request_id {
        Some(id) => authorize::load_pending(idp, conn, id)?,
        None => None,
    };
    let origin = Origin {
        address,
        client_id: pending.as_ref().map(|p| p.client_id.as_str()),
    };
    let who = Authenticated {
        user,
        amr: flow.amr,
        method: flow.method,
    };
    let finished = login::finish(idp, conn, who, origin, Then::Answer(flow.request_id))?;
    Ok(Next::Finished(finished))
}

fn submit(
    idp: &Idp,
    conn: &mut DbConn,
    secret: &str,
    form: &WizardForm,
    address: &str,
) -> DomainResult<Next> {
    let now = idp.now();
    let Some(mut flow) = required_actions::find(conn, secret, now)? else {
        return Ok(Next::Expired);
    };
    // Disabled meanwhile: the login ends here.
    if users::find_by_id(conn, flow.user_id)?.is_none_or(|u| u.disabled) {
        required_actions::end(conn, secret)?;
        return Ok(Next::Expired);
    }
    let mut problems = Vec::new();
    match (form.action.as_str(), flow.current()) {
        ("back", _) => flow.position = flow.position.saturating_sub(1),
        ("refuse", Some(Step::Terms)) => {
            for t in &terms::owed_by(conn, flow.user_id)? {
                audit::Event::new(audit::Kind::TermsRefused)
                    .from(Origin::of(address))
                    .user(flow.user_id)
                    .detail(&t.version)
                    .record(conn, now)?;
            }
            required_actions::end(conn, secret)?;
            let redirect = match &flow.request_id {
                Some(id) => match authorize::load_pending(idp, conn, id)? {
                    Some(p) => {
                        authorize::delete_pending(conn, id)?;
                        let err = DomainError::oauth(
                            ErrorCode::AccessDenied,
                            "the terms of use were refused",
                        );
                        Some(authorize::error_redirect(idp, &p, &err))
                    }
                    None => None,
                },
                None => None,
            };
            return Ok(Next::Refused(redirect));
        }
        ("accept", Some(Step::Terms)) => {
            for t in terms::owed_by(conn, flow.user_id)? {
                terms::accept(conn, flow.user_id, &t.id, now)?;
                audit::Event::new(audit::Kind::TermsAccepted)
                    .from(Origin::of(address))
                    .user(flow.user_id)
                    .detail(&t.version)
                    .record(conn, now)?;
            }
            flow.position += 1;
        }
        ("next", Some(Step::NewPassword)) => {
            let user = users::find_by_id(conn, flow.user_id)?
                .ok_or_else(|| DomainError::NotFound("account".into()))?;
            if user.password_change_required {
                let new = NewPassword {
                    password: &form.password,
                    confirmation: &form.confirmation,
                    email: None,
                };
                let origin = Origin {
                    address,
                    client_id: None,
                };
                problems = recovery::change_password(
                    idp,
                    conn,
                    &user,
                    new,
                    Purpose::TemporaryPassword,
                    origin,
                )?;
            }
            if problems.is_empty() {
                flow.position += 1;
            }
        }
        ("next", Some(Step::Terms)) => {} // Terms are accepted or refused, not skipped.
        ("next", Some(_)) => flow.position += 1,
        _ => {}
    }
    if flow.position >= flow.steps.len() {
        return finish(idp, conn, secret, flow, address);
    }
    required_actions::move_to(conn, secret, flow.position)?;
    Ok(Next::Show(Box::new(load(conn, flow)?), problems))
}

#[tracing::instrument(skip_all, name = "wizard_submit")]
pub async fn wizard_submit(
    state: State,
    req: HttpRequest,
    form: web::Form<WizardForm>,
) -> PageResult {
    let Some(secret) = flow_secret(&req) else {
        return Ok(expired(&state, &req));
    };
    let mut form = form.into_inner();
    if !csrf::verify(&state, &req, form.csrf.as_deref()) {
        // Nothing changes; the same step is shown again with a fresh form.
        form.action = String::new();
    }
    let address = client_address(&state, &req);
    let result = run(&state, move |idp, conn| {
        submit(idp, conn, &secret, &form, &address)
    })
    .await?;
    Ok(match result {
        Next::Show(view, problems) => render(&state, &req, &view, &problems, StatusCode::OK),
        Next::Finished(finished) => super::after_login(&state, finished, "/"),
        Next::Refused(Some(redirect)) => see_other(&redirect),
        Next::Refused(None) => error_page(
            &state,
            state.locale(&req, None),
            StatusCode::OK,
            "wizard-refused",
            None,
        ),
        Next::Expired => expired(&state, &req),
    })
}
