//! What the password forms share: a page with a CSRF token, the password rules as the
//! page script ticks them, the texts of a refused password, the account's language.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Value, json};

use super::{State, page};
use crate::domain::login::Failure;
use crate::domain::password_policy::{Violation, personal_fragments};
use crate::domain::recovery;
use crate::domain::users::User;
use crate::i18n::Locale;
use crate::web::csrf;

/// Renders `name` with a CSRF token in `data`.
pub(super) fn form_page(
    state: &State,
    req: &HttpRequest,
    name: &str,
    locale: Locale,
    status: StatusCode,
    mut data: Value,
) -> HttpResponse {
    let (token, cookie) = match csrf::token(state, req) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "no CSRF token");
            let status = StatusCode::INTERNAL_SERVER_ERROR;
            return super::error_page(state, req, status, "error-internal", None);
        }
    };
    if let Some(map) = data.as_object_mut() {
        map.insert("csrf".into(), Value::from(token));
    }
    let html = render(state, req, name, locale, data);
    let mut builder = page(status);
    if let Some(c) = cookie {
        builder.cookie(c);
    }
    builder.body(html)
}

/// Renders page `name` for `req`: with its language switch returning here.
pub(super) fn render(
    state: &State,
    req: &HttpRequest,
    name: &str,
    locale: Locale,
    mut data: Value,
) -> String {
    let here = here(req, &data);
    if let Some(map) = data.as_object_mut() {
        // A page may name where its switch returns itself (one that moves on by itself).
        map.entry("here").or_insert(Value::from(here));
    }
    state.pages.render(name, locale, data)
}

/// The address of the page being answered, for its language switch to return to: the
/// page itself for a GET; for a form's answer, the form's page with what it carries in
/// its address (the pending login, the reset link's token).
fn here(req: &HttpRequest, data: &Value) -> String {
    if req.method() == actix_web::http::Method::GET {
        return super::path_and_query(req);
    }
    let carried: Vec<String> = ["request", "token"]
        .into_iter()
        .filter_map(|key| {
            let value = data.get(key)?.as_str().filter(|v| !v.is_empty())?;
            Some(format!(
                "{key}={}",
                crate::domain::types::query_value(value)
            ))
        })
        .collect();
    match carried.as_slice() {
        [] => req.path().to_owned(),
        _ => format!("{}?{}", req.path(), carried.join("&")),
    }
}

/// What a broken password rule says, in `locale`.
fn violation_text(state: &State, locale: Locale, v: &Violation) -> String {
    let (key, counts) = (v.message_key(), v.message_args());
    state.pages.translations.with_counts(locale, &key, &counts)
}

/// One rule line of the new-password page; `data-*` attributes let the page script tick it.
fn rule_line(state: &State, locale: Locale, v: &Violation, words: &[String]) -> Value {
    let policy = &state.idp.settings.password_policy;
    let check = v
        .message_key()
        .trim_start_matches("password-rule-")
        .to_owned();
    // What the script needs to judge the rule: a length, "count class…", or the words.
    let value = match v {
        Violation::TooShort { min } => min.to_string(),
        Violation::TooFewClasses { count, .. } => format!(
            "{count} {}",
            policy
                .classes_of
                .iter()
                .flat_map(|r| r.of.iter().map(|c| c.as_str()))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Violation::PersonalInfo => words.join(" "),
        _ => String::new(),
    };
    // Only the server can judge strength and the block-list: the script leaves them be.
    let checked_live = !matches!(v, Violation::TooWeak | Violation::Blocklisted);
    json!({
        "text": violation_text(state, locale, v),
        "check": if checked_live { check } else { String::new() },
        "value": value,
    })
}

/// The password rules as a new-password form lists them for `user`.
pub(super) fn rule_lines(state: &State, locale: Locale, user: &User) -> Vec<Value> {
    let context = user.password_context();
    let words = personal_fragments(&context);
    state
        .idp
        .settings
        .password_policy
        .rules()
        .iter()
        .map(|v| rule_line(state, locale, v, &words))
        .collect()
}

/// What a refused password form lists, under a heading that fits: "this password cannot be
/// used yet" only when every item is about the password chosen (a rule, or the temporary
/// one again); "your new password has not been saved" when the confirmation or the e-mail
/// differs or the form expired. `null` (no box) without problems.
pub(super) fn problem_box(state: &State, locale: Locale, problems: &[recovery::Problem]) -> Value {
    if problems.is_empty() {
        return Value::Null;
    }
    let t = &state.pages.translations;
    let about_the_password = problems.iter().all(|p| {
        matches!(
            p,
            recovery::Problem::Policy(_) | recovery::Problem::Unchanged
        )
    });
    let items: Vec<String> = problems
        .iter()
        .map(|p| match p {
            recovery::Problem::Policy(v) => violation_text(state, locale, v),
            other => t.get(locale, &other.message_key(), None),
        })
        .collect();
    json!({
        "heading": if about_the_password { "reset-problems" } else { "reset-not-saved" },
        "items": items,
    })
}

/// The box of a password form whose CSRF token expired: nothing was saved.
pub(super) fn expired_form_box(state: &State, locale: Locale) -> Value {
    let text = state
        .pages
        .translations
        .get(locale, "login-error-form-expired", None);
    json!({"heading": "reset-not-saved", "items": [text]})
}

/// A message a page shows: its key, and the waiting time it names, if any.
#[derive(Debug, Clone, Copy)]
pub(super) struct PageError {
    key: &'static str,
    minutes: Option<i64>,
}

impl PageError {
    pub fn new(key: &'static str) -> Self {
        Self { key, minutes: None }
    }

    /// A message that says to wait `minutes` (from the throttle's limit).
    pub fn wait(key: &'static str, minutes: i64) -> Self {
        Self {
            key,
            minutes: Some(minutes),
        }
    }

    /// Sets `error` (the key) and `minutes` in a page's data.
    pub fn fill(error: Option<Self>, data: &mut Value) {
        if let Some(map) = data.as_object_mut() {
            map.insert("error".into(), json!(error.map(|e| e.key)));
            map.insert("minutes".into(), json!(error.and_then(|e| e.minutes)));
        }
    }
}

impl From<Failure> for PageError {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Throttled { minutes } => Self::wait(failure.message_key(), minutes),
            other => Self::new(other.message_key()),
        }
    }
}

/// The account's own language first: the link comes from a mail written in it.
pub(super) fn user_locale(state: &State, req: &HttpRequest, user: &User) -> Locale {
    let account = user.locale.as_deref().and_then(Locale::parse);
    state.locale_for(req, None, account)
}
