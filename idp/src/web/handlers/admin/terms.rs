//! Terms of use: each body's versions with their acceptance counts; a new version.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{answer, as_staff, form_expired};
use crate::domain::DomainError;
use crate::domain::admin::terms;
use crate::i18n::Locale;
use crate::web::csrf;
use crate::web::handlers::forms::{form_page, user_locale};
use crate::web::handlers::{PageResult, State, see_other};

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    done: Option<String>,
}

pub async fn list(state: State, req: HttpRequest, query: web::Query<ListQuery>) -> PageResult {
    let outcome = as_staff(&state, &req, move |_, conn, staff, _| {
        Ok(Some((staff.user.clone(), terms::overview(conn, staff)?)))
    })
    .await?;
    let done = query
        .into_inner()
        .done
        .filter(|d| ["published", "invalid"].contains(&d.as_str()));
    answer(&state, &req, outcome, |(staff, bodies)| {
        let locale = user_locale(&state, &req, &staff);
        let bodies: Vec<Value> = bodies
            .iter()
            .map(|b| {
                json!({
                    "id": b.body.id,
                    "name": b.body.name,
                    "versions": b.versions.iter().map(|v| json!({
                        "version": v.terms.version,
                        "published_at": v.terms.published_at.to_rfc3339(),
                        "languages": v.terms.texts.keys().cloned().collect::<Vec<_>>().join(", "),
                        "accepted": v.accepted,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let data = json!({
            "wide": true,
            "bodies": bodies,
            "none": bodies.is_empty(),
            "done": done.map(|d| format!("admin-terms-done-{d}")),
        });
        form_page(&state, &req, "admin_terms", locale, StatusCode::OK, data)
    })
}

#[derive(Debug, Deserialize)]
pub struct PublishForm {
    csrf: Option<String>,
    #[serde(default)]
    version: String,
    #[serde(default)]
    text_fr: String,
    #[serde(default)]
    text_nl: String,
    #[serde(default)]
    text_en: String,
    #[serde(default)]
    text_de: String,
}

pub async fn publish(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<PublishForm>,
) -> PageResult {
    let form = form.into_inner();
    if !csrf::verify(&state, &req, form.csrf.as_deref()) {
        return Ok(form_expired(&state, &req));
    }
    let texts: BTreeMap<Locale, String> = [
        (Locale::Fr, form.text_fr),
        (Locale::Nl, form.text_nl),
        (Locale::En, form.text_en),
        (Locale::De, form.text_de),
    ]
    .into_iter()
    .collect();
    let (body, version) = (path.into_inner(), form.version);
    let outcome = as_staff(&state, &req, move |idp, conn, staff, origin| {
        match terms::publish(conn, staff, &body, &version, texts, origin, idp.now()) {
            Ok(published) => Ok(published.map(|_| "published")),
            // A missing version or French text: said on the page, nothing published.
            Err(DomainError::Invalid { .. }) => Ok(Some("invalid")),
            Err(e) => Err(e),
        }
    })
    .await?;
    answer(&state, &req, outcome, |done| {
        see_other(&format!("/admin/terms?done={done}"))
    })
}
