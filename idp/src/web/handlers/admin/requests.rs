//! The change requests of the schools one manages: accept or refuse.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{answer, as_staff, form_expired};
use crate::domain::admin::requests::{self, Decision};
use crate::web::csrf;
use crate::web::handlers::forms::{form_page, user_locale};
use crate::web::handlers::{PageResult, State, see_other};

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    done: Option<String>,
}

pub async fn list(state: State, req: HttpRequest, query: web::Query<ListQuery>) -> PageResult {
    let outcome = as_staff(&state, &req, move |_, conn, staff, _| {
        Ok(Some((staff.user.clone(), requests::open(conn, staff)?)))
    })
    .await?;
    let done = query
        .into_inner()
        .done
        .filter(|d| ["accepted", "refused"].contains(&d.as_str()));
    answer(&state, &req, outcome, |(staff, open)| {
        let locale = user_locale(&state, &req, &staff);
        let rows: Vec<Value> = open
            .iter()
            .map(|r| {
                json!({
                    "id": r.id,
                    "account_id": r.account_id,
                    "identifier": r.identifier,
                    "name": r.name,
                    "school": r.school,
                    "message": r.message,
                    "at": r.created_at.to_rfc3339(),
                })
            })
            .collect();
        let data = json!({
            "wide": true,
            "requests": rows,
            "none": rows.is_empty(),
            "done": done.map(|d| format!("admin-requests-done-{d}")),
        });
        form_page(&state, &req, "admin_requests", locale, StatusCode::OK, data)
    })
}

#[derive(Debug, Deserialize)]
pub struct DecisionForm {
    csrf: Option<String>,
    decision: String,
}

pub async fn decide(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<DecisionForm>,
) -> PageResult {
    let form = form.into_inner();
    if !csrf::verify(&state, &req, form.csrf.as_deref()) {
        return Ok(form_expired(&state, &req));
    }
    let decision = match form.decision.as_str() {
        "accept" => Decision::Accept,
        _ => Decision::Refuse,
    };
    let id = path.into_inner();
    let outcome = as_staff(&state, &req, move |idp, conn, staff, origin| {
        requests::decide(conn, staff, &id, decision, origin, idp.now())
    })
    .await?;
    let done = match decision {
        Decision::Accept => "accepted",
        Decision::Refuse => "refused",
    };
    answer(&state, &req, outcome, |()| {
        see_other(&format!("/admin/requests?done={done}"))
    })
}
