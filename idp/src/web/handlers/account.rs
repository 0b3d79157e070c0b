//! The account page, once logged in: the person's data; a new password; per school, editing
//! their own data, a change request, or how to contact the school; and, for guardians, the
//! child's linked co-accounts.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::forms::{PageError, form_page, problem_box, rule_lines, user_locale};
use super::wizard::{own_fields, person_fields};
use super::{PageResult, State, client_address, run, see_other, session_cookie};
use crate::domain::login::{self, Failure, Finished, Method, PasswordAuthenticator, Then};
use crate::domain::oidc::sessions;
use crate::domain::recovery::{self, NewPassword, Origin, Problem};
use crate::domain::resets::Purpose;
use crate::domain::schools::{self, DataChanges};
use crate::domain::types::SchoolId;
use crate::domain::users::{self, Contact, User};
use crate::domain::{DomainError, DomainResult, Idp, links};
use crate::store::DbConn;
use crate::web::{cookies, csrf};

/// Everything the page shows.
struct View {
    user: User,
    schools: Vec<schools::School>,
    /// For guardians: each child, and the child's co-accounts.
    children: Vec<(User, Vec<(User, String)>)>,
}

fn load(conn: &mut DbConn, user: User) -> DomainResult<View> {
    let schools = schools::schools_of(conn, user.id)?;
    let mut children = Vec::new();
    for (child, _) in links::accounts_of(conn, user.id)? {
        let co = links::co_accounts(conn, child.id)?;
        children.push((child, co));
    }
    Ok(View {
        user,
        schools,
        children,
    })
}

fn render(
    state: &State,
    req: &HttpRequest,
    view: &View,
    done: Option<&str>,
    problems: &[Problem],
    error: Option<PageError>,
) -> HttpResponse {
    let locale = user_locale(state, req, &view.user);
    let schools: Vec<Value> = view
        .schools
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "name": s.name,
                "data_changes": s.data_changes.as_str(),
                "contact": s.contact,
            })
        })
        .collect();
    let children: Vec<Value> = view
        .children
        .iter()
        .map(|(child, co)| {
            json!({
                "identifier": child.username,
                "fields": person_fields(child, locale),
                "co_accounts": co
                    .iter()
                    .map(|(u, relation)| json!({"identifier": u.username, "name": u.name(), "relation": relation}))
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    let p = &view.user.profile;
    let mut data = json!({
        "account": view.user.username,
        "kind": format!("account-kind-{}", view.user.kind.as_str()),
        "own": own_fields(&view.user),
        "schools": schools,
        "can_edit": view.schools.iter().any(|s| s.data_changes == DataChanges::Edit),
        "edit": {
            "street_address": p.street_address,
            "postal_code": p.postal_code,
            "locality": p.locality,
            "country": p.country,
            "email": view.user.email,
            "phone": view.user.phone_number,
        },
        "children": children,
        "rules": rule_lines(state, locale, &view.user),
        "problems": problem_box(state, locale, problems),
        "done": done.map(|d| format!("account-done-{d}")),
        "max_length": state.idp.settings.password_policy.max_length,
    });
    PageError::fill(error, &mut data);
    form_page(state, req, "account", locale, StatusCode::OK, data)
}

#[derive(Debug, Deserialize)]
pub struct AccountQuery {
    done: Option<String>,
}

#[tracing::instrument(skip_all, name = "account")]
pub async fn account(
    state: State,
    req: HttpRequest,
    query: web::Query<AccountQuery>,
) -> PageResult {
    let cookie = session_cookie(&req);
    let view = run(&state, move |idp, conn| {
        match sessions::account_of(conn, cookie.as_deref(), idp.now())? {
            Some(user) => load(conn, user).map(Some),
            None => Ok(None),
        }
    })
    .await?;
    let done = query
        .into_inner()
        .done
        .filter(|d| ["password", "data", "request"].contains(&d.as_str()));
    Ok(match view {
        Some(view) => render(&state, &req, &view, done.as_deref(), &[], None),
        None => see_other("/login"),
    })
}

#[derive(Debug, Deserialize)]
pub struct AccountForm {
    csrf: Option<String>,
    /// Which form: password, data or request.
    #[serde(default)]
    form: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirmation: String,
    street_address: Option<String>,
    postal_code: Option<String>,
    locality: Option<String>,
    country: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    #[serde(default)]
    school: String,
    #[serde(default)]
    message: String,
}

enum Posted {
    NotSignedIn,
    Done(&'static str, Option<String>),
    Refused(Box<View>, Vec<Problem>, Option<PageError>),
}

/// Why a password change was refused: the rules broken, or a message.
type Refusal = (Vec<Problem>, Option<PageError>);

/// The current password, checked like a login (same throttles), then the new one; the
/// other sessions end with the change and this browser gets a new one (the cookie).
fn change_password(
    idp: &Idp,
    conn: &mut DbConn,
    user: &User,
    form: &AccountForm,
    address: &str,
) -> DomainResult<Result<String, Refusal>> {
    let origin = Origin::of(address);
    let current = PasswordAuthenticator::read(&user.username, &form.current);
    let checked = match current {
        Ok(current) => login::authenticate(idp, conn, &current, origin)?,
        Err(failure) => Err(failure),
    };
    let mut who = match checked {
        Ok(who) => who,
        Err(Failure::Throttled { minutes }) => {
            let throttled = PageError::wait("login-error-throttled", minutes);
            return Ok(Err((Vec::new(), Some(throttled))));
        }
        Err(_) => {
            return Ok(Err((
                Vec::new(),
                Some(PageError::new("account-error-current")),
            )));
        }
    };
    let new = NewPassword {
        password: &form.password,
        confirmation: &form.confirmation,
        email: None,
    };
    let problems = recovery::change_password(idp, conn, user, new, Purpose::Change, origin)?;
    if !problems.is_empty() {
        return Ok(Err((problems, None)));
    }
    who.method = Method::PASSWORD_CHANGE;
    match login::finish(idp, conn, who, origin, Then::Stay)? {
        Finished::LoggedIn { session_cookie, .. } => Ok(Ok(session_cookie)),
        Finished::RequiredActions { .. } => Err(DomainError::Internal(
            "staying on the account page owes no wizard".into(),
        )),
    }
}

fn edit_data(idp: &Idp, conn: &mut DbConn, user: &User, form: &AccountForm) -> DomainResult<()> {
    let now = idp.now();
    if !schools::schools_of(conn, user.id)?
        .iter()
        .any(|s| s.data_changes == DataChanges::Edit)
    {
        return Err(DomainError::invalid(
            "data",
            "a school that lets its people edit their data",
        ));
    }
    let mut profile = user.profile.clone();
    profile.street_address = form.street_address.clone();
    profile.postal_code = form.postal_code.clone();
    profile.locality = form.locality.clone();
    profile.country = form.country.clone();
    users::set_profile(conn, user.id, &profile, now)?;
    let contact = Contact {
        given_name: user.given_name.clone(),
        family_name: user.family_name.clone(),
        email: form.email.clone(),
        phone_number: form.phone.clone(),
    };
    users::set_contact(conn, user.id, &contact, now)
}

#[tracing::instrument(skip_all, name = "account_submit")]
pub async fn account_submit(
    state: State,
    req: HttpRequest,
    form: web::Form<AccountForm>,
) -> PageResult {
    let form = form.into_inner();
    let cookie = session_cookie(&req);
    let form_ok = csrf::verify(&state, &req, form.csrf.as_deref());
    let address = client_address(&state, &req);
    let result = run(&state, move |idp, conn| {
        let Some(user) = sessions::account_of(conn, cookie.as_deref(), idp.now())? else {
            return Ok(Posted::NotSignedIn);
        };
        if !form_ok {
            return Ok(Posted::Refused(
                Box::new(load(conn, user)?),
                Vec::new(),
                Some(PageError::new("login-error-form-expired")),
            ));
        }
        match form.form.as_str() {
            "password" => match change_password(idp, conn, &user, &form, &address)? {
                Ok(cookie) => Ok(Posted::Done("password", Some(cookie))),
                Err((problems, error)) => Ok(Posted::Refused(
                    Box::new(load(conn, user)?),
                    problems,
                    error,
                )),
            },
            "data" => match edit_data(idp, conn, &user, &form) {
                Ok(()) => Ok(Posted::Done("data", None)),
                Err(e) if e.is_client_error() => Ok(Posted::Refused(
                    Box::new(load(conn, user)?),
                    Vec::new(),
                    Some(PageError::new("account-error-data")),
                )),
                Err(e) => Err(e),
            },
            "request" => {
                let school = SchoolId::parse(&form.school)
                    .map_err(|_| DomainError::invalid("school", "a school id"));
                let sent = school.and_then(|s| {
                    schools::request_change(conn, user.id, s, &form.message, idp.now())
                });
                match sent {
                    Ok(_) => Ok(Posted::Done("request", None)),
                    Err(e) if e.is_client_error() => Ok(Posted::Refused(
                        Box::new(load(conn, user)?),
                        Vec::new(),
                        Some(PageError::new("account-error-request")),
                    )),
                    Err(e) => Err(e),
                }
            }
            _ => Ok(Posted::Refused(
                Box::new(load(conn, user)?),
                Vec::new(),
                None,
            )),
        }
    })
    .await?;
    Ok(match result {
        Posted::NotSignedIn => see_other("/login"),
        Posted::Done(what, cookie) => {
            let mut resp = see_other(&format!("/account?done={what}"));
            let https = state.idp.settings.https();
            cookies::add(&mut resp, cookie.map(|c| cookies::session(c, https)));
            resp
        }
        Posted::Refused(view, problems, error) => {
            render(&state, &req, &view, None, &problems, error)
        }
    })
}
