//! The accounts screen: search, one account as the help desk sees it, disable and enable.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{answer, as_staff, form_expired};
use crate::domain::admin::accounts::{self, Detail, Found, Search};
use crate::domain::admin::{Access, Role, Staff, grants, roles};
use crate::domain::schools::School;
use crate::domain::types::query_value;
use crate::domain::users::User;
use crate::web::csrf;
use crate::web::handlers::forms::{form_page, user_locale};
use crate::web::handlers::{PageResult, State};

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    school: String,
    after: Option<String>,
}

/// What the list shows.
struct ListView {
    staff: Staff,
    roles: Vec<String>,
    schools: Vec<School>,
    found: Found,
}

pub async fn list(state: State, req: HttpRequest, query: web::Query<ListQuery>) -> PageResult {
    let query = query.into_inner();
    let (text, school, after) = (query.q.clone(), query.school.clone(), query.after.clone());
    let outcome = as_staff(&state, &req, move |idp, conn, staff, origin| {
        let school = match school.trim() {
            "" => None,
            id => match staff.school(conn, id, origin, idp.now())? {
                Some(s) => Some(s.id),
                None => return Ok(None),
            },
        };
        let search = Search {
            text,
            school,
            after,
        };
        let found = accounts::search(conn, staff, &search)?;
        let mut roles = Vec::new();
        for role in &staff.roles {
            roles.push(role_words(conn, *role)?);
        }
        Ok(Some(ListView {
            staff: staff.clone(),
            roles,
            schools: staff.schools(conn)?,
            found,
        }))
    })
    .await?;
    answer(&state, &req, outcome, |view| {
        render_list(&state, &req, &view, &query)
    })
}

fn role_words(conn: &mut crate::store::DbConn, role: Role) -> crate::domain::DomainResult<String> {
    Ok(format!(
        "{}: {}",
        role.name(),
        roles::scope_name(conn, role)?
    ))
}

fn render_list(
    state: &State,
    req: &HttpRequest,
    view: &ListView,
    query: &ListQuery,
) -> HttpResponse {
    let locale = user_locale(state, req, &view.staff.user);
    let next = view.found.next.as_ref().map(|after| {
        format!(
            "/admin?q={}&school={}&after={}",
            query_value(&query.q),
            query_value(&query.school),
            query_value(after)
        )
    });
    let schools: Vec<Value> = view
        .schools
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "name": format!("{} ({})", s.name, s.organising_body.name),
                "selected": s.id.to_string() == query.school,
            })
        })
        .collect();
    let accounts: Vec<Value> = view
        .found
        .accounts
        .iter()
        .map(|a| {
            json!({
                "id": a.id,
                "identifier": a.identifier,
                "name": a.name,
                "kind": format!("account-kind-{}", a.kind.as_str()),
                "email": a.email,
                "disabled": a.disabled,
            })
        })
        .collect();
    let data = json!({
        "wide": true,
        "staff": view.staff.user.username,
        "roles": view.roles,
        "q": query.q,
        "schools": schools,
        "accounts": accounts,
        "none": accounts.is_empty(),
        "next": next,
    });
    let html = crate::web::handlers::forms::render(state, req, "admin_accounts", locale, data);
    crate::web::handlers::page(StatusCode::OK).body(html)
}

#[derive(Debug, Deserialize)]
pub struct ShowQuery {
    done: Option<String>,
}

pub async fn show(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<ShowQuery>,
) -> PageResult {
    let id = path.into_inner();
    let outcome = as_staff(&state, &req, move |idp, conn, staff, origin| {
        let Some(detail) = accounts::detail(conn, staff, &id, origin, idp.now())? else {
            return Ok(None);
        };
        let roles = match detail.access {
            Access::Manage => Some(role_lists(conn, staff, &detail)?),
            Access::Help => None,
        };
        Ok(Some((staff.user.clone(), detail, roles)))
    })
    .await?;
    let done = query
        .into_inner()
        .done
        .filter(|d| DONE.contains(&d.as_str()));
    answer(&state, &req, outcome, |(staff, detail, roles)| {
        render_account(&state, &req, &staff, &detail, roles, done.as_deref())
    })
}

/// The account's roles (each: key, words, whether this person may take it) and the roles
/// this person may give.
type RoleLists = (Vec<(String, String, bool)>, Vec<(String, String)>);

fn role_lists(
    conn: &mut crate::store::DbConn,
    staff: &Staff,
    detail: &Detail,
) -> crate::domain::DomainResult<RoleLists> {
    let mut held = Vec::new();
    for role in roles::of(conn, detail.user.id)? {
        let words = role_words(conn, role)?;
        held.push((role.key(), words, staff.may_grant(conn, role)?));
    }
    let mut grantable = Vec::new();
    for role in grants::grantable(conn, staff)? {
        grantable.push((role.key(), role_words(conn, role)?));
    }
    Ok((held, grantable))
}

/// What an action on the account page reports when it is back there.
const DONE: [&str; 17] = [
    "upstream-incomplete",
    "upstream-linked",
    "upstream-taken",
    "upstream-unlinked",
    "disabled",
    "enabled",
    "reset-mail",
    "reset-throttled",
    "no-address",
    "role-granted",
    "role-revoked",
    "role-unchanged",
    "invited",
    "invite-not-migrated",
    "invite-has-password",
    "invite-unreachable",
    "invite-queued",
];

fn person(user: &User, relation: &str) -> Value {
    json!({
        "id": user.id,
        "identifier": user.username,
        "name": user.name(),
        "relation": relation,
    })
}

fn render_account(
    state: &State,
    req: &HttpRequest,
    staff: &User,
    d: &Detail,
    roles: Option<RoleLists>,
    done: Option<&str>,
) -> HttpResponse {
    let locale = user_locale(state, req, staff);
    let u = &d.user;
    let recovery: Vec<Value> = d
        .recovery
        .iter()
        .map(|e| {
            json!({
                "at": e.occurred_at.to_rfc3339(),
                "kind": super::audit::event_label(&e.kind),
                "detail": e.detail,
            })
        })
        .collect();
    let data = json!({
        "wide": true,
        "id": u.id,
        "identifier": u.username,
        "name": u.name(),
        "kind": format!("account-kind-{}", u.kind.as_str()),
        "email": u.email,
        "disabled": u.disabled,
        "has_password": d.has_password,
        "temporary": u.password_change_required,
        "last_login": d.last_login.map(|t| t.to_rfc3339()),
        "schools": d.schools.iter().map(|s| format!("{} ({})", s.name, s.organising_body.name)).collect::<Vec<_>>(),
        "co_accounts": d.co_accounts.iter().map(|(u, r)| person(u, r)).collect::<Vec<_>>(),
        "children": d.children.iter().map(|(u, r)| person(u, r)).collect::<Vec<_>>(),
        "recovery": recovery,
        "manage": d.access == Access::Manage,
        "roles": roles.as_ref().map(|(held, _)| held.iter().map(|(key, words, revocable)| {
            json!({ "key": key, "words": words, "revocable": revocable })
        }).collect::<Vec<_>>()),
        "grantable": roles.as_ref().map(|(_, grantable)| grantable.iter().map(|(key, words)| {
            json!({ "key": key, "words": words })
        }).collect::<Vec<_>>()),
        "invitation": d.invitation.as_ref().map(|i| json!({
            "source": i.source,
            "at": i.invited_at.map(|t| t.to_rfc3339()),
            // What the help desk can do: send it again while no password was chosen.
            "again": u.password_hash.is_none() && !u.disabled && u.email.is_some(),
        })),
        "done": done.map(|d| format!("admin-done-{d}")),
        "upstream_links": d.upstream_links.iter().map(|l| json!({
            "id": l.id,
            "provider": state.idp.upstream.name_of(&l.provider),
            "subject": l.subject,
            "email": l.email,
            "linked_by": l.linked_by,
        })).collect::<Vec<_>>(),
        "upstream_providers": state.idp.upstream.all().iter().map(|p| json!({
            "id": p.id,
            "name": p.name,
        })).collect::<Vec<_>>(),
    });
    form_page(state, req, "admin_account", locale, StatusCode::OK, data)
}

#[derive(Debug, Deserialize)]
pub struct DisabledForm {
    csrf: Option<String>,
    disabled: String,
}

pub async fn set_disabled(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<DisabledForm>,
) -> PageResult {
    let id = path.into_inner();
    let form = form.into_inner();
    if !csrf::verify(&state, &req, form.csrf.as_deref()) {
        return Ok(form_expired(&state, &req));
    }
    let disabled = form.disabled == "true";
    let target = id.clone();
    let outcome = as_staff(&state, &req, move |idp, conn, staff, origin| {
        let done = accounts::set_disabled(conn, staff, &target, disabled, origin, idp.now())?;
        Ok(done.then_some(()))
    })
    .await?;
    let done = if disabled { "disabled" } else { "enabled" };
    answer(&state, &req, outcome, |()| {
        super::back_to_account(&id, done)
    })
}

#[derive(Debug, Deserialize)]
pub struct RoleForm {
    csrf: Option<String>,
    role: String,
    /// grant or revoke
    action: String,
}

pub async fn change_role(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<RoleForm>,
) -> PageResult {
    let id = path.into_inner();
    let form = form.into_inner();
    if !csrf::verify(&state, &req, form.csrf.as_deref()) {
        return Ok(form_expired(&state, &req));
    }
    let give = form.action == "grant";
    let role = Role::from_key(&form.role);
    let target = id.clone();
    let outcome = as_staff(&state, &req, move |idp, conn, staff, origin| {
        // A key that names no role is no role anyone may give: as out of scope.
        let Some(role) = role else {
            return Ok(None);
        };
        grants::change(conn, staff, &target, role, give, origin, idp.now())
    })
    .await?;
    answer(&state, &req, outcome, |changed| {
        let done = match (changed, give) {
            (false, _) => "role-unchanged",
            (true, true) => "role-granted",
            (true, false) => "role-revoked",
        };
        super::back_to_account(&id, done)
    })
}

#[derive(Debug, Deserialize)]
pub struct UpstreamForm {
    csrf: Option<String>,
    /// link or unlink
    action: String,
    #[serde(default)]
    provider: String,
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    subject: String,
    /// The link to remove.
    #[serde(default)]
    link: String,
}

/// Links an upstream identity to the account, or removes a link (an administrator).
pub async fn change_upstream(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<UpstreamForm>,
) -> PageResult {
    use crate::domain::admin::accounts::UpstreamLinked;
    let id = path.into_inner();
    let form = form.into_inner();
    if !csrf::verify(&state, &req, form.csrf.as_deref()) {
        return Ok(form_expired(&state, &req));
    }
    let target = id.clone();
    let outcome = as_staff(&state, &req, move |idp, conn, staff, origin| {
        let now = idp.now();
        if form.action == "unlink" {
            let removed =
                accounts::unlink_upstream(idp, conn, staff, &target, &form.link, origin, now)?;
            return Ok(removed.map(|()| "upstream-unlinked"));
        }
        // A provider the settings do not name is none anyone may link: as out of scope.
        let Some(provider) = idp.upstream.find(&form.provider) else {
            return Ok(None);
        };
        let tenant = Some(form.tenant.as_str()).filter(|t| !t.trim().is_empty());
        let named = (provider, tenant, form.subject.as_str());
        let linked = accounts::link_upstream(idp, conn, staff, &target, named, origin, now)?;
        Ok(linked.map(|l| match l {
            UpstreamLinked::Linked => "upstream-linked",
            UpstreamLinked::Taken => "upstream-taken",
            UpstreamLinked::Incomplete => "upstream-incomplete",
        }))
    })
    .await?;
    answer(&state, &req, outcome, |done| {
        super::back_to_account(&id, done)
    })
}
