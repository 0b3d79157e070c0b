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
use crate::domain::account::{self, DataEdit, PasswordRefusal};
use crate::domain::audit::Origin;
use crate::domain::oidc::sessions;
use crate::domain::recovery::{NewPassword, Problem};
use crate::domain::schools::{self, DataChanges};
use crate::domain::types::SchoolId;
use crate::domain::upstream;
use crate::domain::users::User;
use crate::domain::{DomainError, DomainResult, links};
use crate::store::DbConn;
use crate::web::{cookies, csrf};

/// Everything the page shows.
struct View {
    user: User,
    schools: Vec<schools::School>,
    /// For guardians: each child, and the child's co-accounts.
    children: Vec<(User, Vec<(User, String)>)>,
    /// The upstream identities (Microsoft, Google) linked to the account.
    upstream_links: Vec<upstream::links::Link>,
    /// The account logs in only upstream: it has no password here to change.
    upstream_only: bool,
    /// Where the person is logged in (this browser among them).
    sessions: Vec<sessions::LiveSession>,
}

fn load(
    conn: &mut DbConn,
    user: User,
    cookie: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> DomainResult<View> {
    let schools = schools::schools_of(conn, user.id)?;
    let mut children = Vec::new();
    for (child, _) in links::accounts_of(conn, user.id)? {
        let co = links::co_accounts(conn, child.id)?;
        children.push((child, co));
    }
    let upstream_links = upstream::links::of_user(conn, user.id)?;
    let upstream_only = upstream::only::applies_to(conn, &user)?;
    let sessions = sessions::live_of(conn, user.id, cookie, now)?;
    Ok(View {
        user,
        schools,
        children,
        upstream_links,
        upstream_only,
        sessions,
    })
}

async fn render(
    state: &State,
    req: &HttpRequest,
    view: &View,
    done: Option<&str>,
    problems: &[Problem],
    error: Option<PageError>,
) -> HttpResponse {
    let brand = super::brand::of_account(state, view.user.id).await;
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
        "upstream_links": upstream_links(state, &view.upstream_links),
        "upstream_providers": upstream_providers(state, brand.as_ref()),
        "upstream_only": view.upstream_only,
        "sessions": view.sessions.iter().map(|s| json!({
            "since": s.auth_time.to_rfc3339(),
            "provider": s.idp.as_deref().map(|p| state.idp.upstream.name_of(p)),
            "current": s.current,
        })).collect::<Vec<_>>(),
        "other_sessions": view.sessions.iter().any(|s| !s.current),
    });
    PageError::fill(error, &mut data);
    super::brand::wear(&mut data, brand.as_ref());
    form_page(state, req, "account", locale, StatusCode::OK, data)
}

/// The linked identities as the page lists them.
fn upstream_links(state: &State, links: &[upstream::links::Link]) -> Vec<Value> {
    links
        .iter()
        .map(|l| {
            json!({
                "id": l.id,
                "provider": state.idp.upstream.name_of(&l.provider),
                "email": l.email,
                "created_at": l.created_at.to_rfc3339(),
            })
        })
        .collect()
}

/// The providers the person may link: those of their organising body's login pages.
fn upstream_providers(state: &State, brand: Option<&crate::domain::branding::Brand>) -> Vec<Value> {
    let id = brand.map(|b| b.body.to_string());
    let body = brand
        .zip(id.as_deref())
        .map(|(b, id)| (id, b.name.as_str()));
    state
        .idp
        .upstream
        .shown_for(body)
        .map(|p| json!({"id": p.id, "name": p.name}))
        .collect()
}

/// What a finished form or link says on the page.
const DONE: [&str; 7] = [
    "password",
    "sessions",
    "data",
    "request",
    "upstream-linked",
    "upstream-taken",
    "upstream-unlinked",
];

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
            Some(user) => load(conn, user, cookie.as_deref(), idp.now()).map(Some),
            None => Ok(None),
        }
    })
    .await?;
    let done = query
        .into_inner()
        .done
        .filter(|d| DONE.contains(&d.as_str()));
    Ok(match view {
        Some(view) => render(&state, &req, &view, done.as_deref(), &[], None).await,
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
    /// The upstream link to remove.
    #[serde(default)]
    link: String,
}

impl AccountForm {
    fn data_edit(&self) -> DataEdit {
        DataEdit {
            street_address: self.street_address.clone(),
            postal_code: self.postal_code.clone(),
            locality: self.locality.clone(),
            country: self.country.clone(),
            email: self.email.clone(),
            phone: self.phone.clone(),
        }
    }
}

enum Posted {
    NotSignedIn,
    Done(&'static str, Option<String>),
    Refused(Box<View>, Vec<Problem>, Option<PageError>),
}

/// The message or rules a refused password change shows.
fn refusal(refused: PasswordRefusal) -> (Vec<Problem>, Option<PageError>) {
    match refused {
        PasswordRefusal::Throttled { minutes } => (
            Vec::new(),
            Some(PageError::wait("login-error-throttled", minutes)),
        ),
        PasswordRefusal::WrongCurrent => {
            (Vec::new(), Some(PageError::new("account-error-current")))
        }
        PasswordRefusal::Problems(problems) => (problems, None),
    }
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
        // The page again, as it stands now, with what refused the form.
        let refused = |conn: &mut DbConn, user, problems, error| -> DomainResult<Posted> {
            let view = load(conn, user, cookie.as_deref(), idp.now())?;
            Ok(Posted::Refused(Box::new(view), problems, error))
        };
        if !form_ok {
            let expired = PageError::new("login-error-form-expired");
            return refused(conn, user, Vec::new(), Some(expired));
        }
        match form.form.as_str() {
            "password" => {
                let new = NewPassword {
                    password: &form.password,
                    confirmation: &form.confirmation,
                    email: None,
                };
                let changed =
                    account::change_password(idp, conn, &user, &form.current, new, &address)?;
                match changed {
                    Ok(cookie) => Ok(Posted::Done("password", Some(cookie))),
                    Err(why) => {
                        let (problems, error) = refusal(why);
                        refused(conn, user, problems, error)
                    }
                }
            }
            "data" => match account::edit_data(idp, conn, &user, form.data_edit(), &address) {
                Ok(()) => Ok(Posted::Done("data", None)),
                Err(e) if e.is_client_error() => refused(
                    conn,
                    user,
                    Vec::new(),
                    Some(PageError::new("account-error-data")),
                ),
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
                    Err(e) if e.is_client_error() => {
                        let error = PageError::new("account-error-request");
                        refused(conn, user, Vec::new(), Some(error))
                    }
                    Err(e) => Err(e),
                }
            }
            "unlink" => {
                let origin = Origin::of(&address);
                let by = user.username.clone();
                upstream::links::unlink(idp, conn, user.id, &form.link, &by, origin, idp.now())?;
                Ok(Posted::Done("upstream-unlinked", None))
            }
            "sessions" => {
                let current = cookie.as_deref().unwrap_or_default();
                account::end_other_sessions(idp, conn, &user, current, &address)?;
                Ok(Posted::Done("sessions", None))
            }
            _ => refused(conn, user, Vec::new(), None),
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
            render(&state, &req, &view, None, &problems, error).await
        }
    })
}
