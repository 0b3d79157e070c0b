//! The required-actions wizard (APSchool's first login: Welcome → the child's data → own
//! data → terms), shown between a right password and the code sent to the application.
//! Steps are tabs; Back and Next move between them; leaving and coming back resumes.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::forms::{form_page, problem_box, rule_lines, user_locale};
use super::{PageResult, State, client_address, error_page, run, see_other};
use crate::domain::audit::Origin;
use crate::domain::recovery::{self, NewPassword};
use crate::domain::required_actions::{self, Step};
use crate::domain::users::User;
use crate::domain::wizard::{self, Action, Next, View};
use crate::i18n::Locale;
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
        field("wizard-field-identifier", Some(user.username.to_string())),
        field("wizard-field-name", user.name()),
        field("wizard-field-address", p.street_address.clone()),
        field("wizard-field-postal-code", p.postal_code.clone()),
        field("wizard-field-locality", p.locality.clone()),
        field("wizard-field-country", p.country.clone()),
        field(
            "wizard-field-email",
            user.email.as_deref().map(String::from),
        ),
        field("wizard-field-phone", user.phone_number.clone()),
    ]
}

async fn render(
    state: &State,
    req: &HttpRequest,
    view: &View,
    problems: &[recovery::Problem],
    status: StatusCode,
) -> HttpResponse {
    let brand = super::brand::of_account(state, view.user.id).await;
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
    // The old identifier keeps working `old_identifier_days` after the migration.
    let days = state.idp.settings.old_identifier_days;
    let moved = view.moved.as_ref().map(|m| {
        let changed = !m
            .legacy_username
            .eq_ignore_ascii_case(view.user.username.as_str());
        json!({
            "identifier": view.user.username,
            "old": changed.then_some(&m.legacy_username),
            "until": (days > 0)
                .then(|| (m.migrated_at + chrono::Duration::days(i64::from(days))).to_rfc3339()),
        })
    });
    let mut data = json!({
        "step": step.as_str(),
        "moved": moved,
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
    });
    super::brand::wear(&mut data, brand.as_ref());
    form_page(state, req, "wizard", locale, status, data)
}

fn expired(state: &State, req: &HttpRequest) -> HttpResponse {
    error_page(state, req, StatusCode::BAD_REQUEST, "wizard-expired", None)
}

#[tracing::instrument(skip_all, name = "wizard")]
pub async fn wizard(state: State, req: HttpRequest) -> PageResult {
    let Some(secret) = flow_secret(&req) else {
        return Ok(expired(&state, &req));
    };
    let view = run(&state, move |idp, conn| {
        match required_actions::find(conn, &secret, idp.now())? {
            Some(flow) => wizard::load(conn, flow).map(Some),
            None => Ok(None),
        }
    })
    .await?;
    Ok(match view {
        Some(view) => render(&state, &req, &view, &[], StatusCode::OK).await,
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

#[tracing::instrument(skip_all, name = "wizard_submit")]
pub async fn wizard_submit(
    state: State,
    req: HttpRequest,
    form: web::Form<WizardForm>,
) -> PageResult {
    let Some(secret) = flow_secret(&req) else {
        return Ok(expired(&state, &req));
    };
    let form = form.into_inner();
    let action = if csrf::verify(&state, &req, form.csrf.as_deref()) {
        Action::parse(&form.action)
    } else {
        // Nothing changes; the same step is shown again with a fresh form.
        Action::Stay
    };
    let address = client_address(&state, &req);
    let language = cookies::chosen_language(&req);
    let result = run(&state, move |idp, conn| {
        let new = NewPassword {
            password: &form.password,
            confirmation: &form.confirmation,
            email: None,
        };
        let from = Origin::of(&address).speaking(language);
        wizard::submit(idp, conn, &secret, action, new, from)
    })
    .await?;
    Ok(match result {
        Next::Show(view, problems) => render(&state, &req, &view, &problems, StatusCode::OK).await,
        Next::Finished(finished) => super::after_login(&state, finished, "/"),
        Next::Refused(Some(redirect)) => see_other(&redirect),
        Next::Refused(None) => error_page(&state, &req, StatusCode::OK, "wizard-refused", None),
        Next::Expired => expired(&state, &req),
    })
}
