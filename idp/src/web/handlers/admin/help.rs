//! Password help: a temporary password shown once, on a letter to print for a pupil
//! without e-mail (in the pupil's language, with a QR code of the login address); or a
//! reset mail.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use qrcode::QrCode;
use qrcode::render::svg;
use serde_json::json;

use super::{ButtonForm, answer, as_staff, back_to_account, form_expired};
use crate::domain::admin::help::{self, Issued};
use crate::domain::migration::invite::NotAgain;
use crate::domain::recovery::StaffReset;
use crate::domain::types::query_value;
use crate::web::csrf;
use crate::web::handlers::{PageResult, State, page};

pub async fn temporary_password(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<ButtonForm>,
) -> PageResult {
    if !csrf::verify(&state, &req, form.into_inner().csrf.as_deref()) {
        return Ok(form_expired(&state, &req));
    }
    let id = path.into_inner();
    let outcome = as_staff(&state, &req, move |idp, conn, staff, origin| {
        let issued = help::temporary_password(idp, conn, staff, &id, origin)?;
        let schools = match &issued {
            Some(i) => crate::domain::schools::schools_of(conn, i.account.id)?,
            None => Vec::new(),
        };
        Ok(issued.map(|i| (i, schools)))
    })
    .await?;
    answer(&state, &req, outcome, |(issued, schools)| {
        letter(&state, &issued, &schools)
    })
}

/// The page that shows the temporary password once: a letter to hand or print, in the
/// account's language, with the login address as text and as a QR code. No language
/// switch: leaving the page would lose the password, which is shown once.
fn letter(
    state: &State,
    issued: &Issued,
    schools: &[crate::domain::schools::School],
) -> HttpResponse {
    let account = &issued.account;
    let locale = account.locale_or(state.default_locale());
    let login_url = state.idp.endpoint("/login");
    let data = json!({
        "letter": true,
        "identifier": account.username,
        "name": account.name(),
        "password": issued.password,
        "expires": issued.expires_at.to_rfc3339(),
        "login_url": login_url,
        "qr": qr_svg(&login_url),
        "schools": schools.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
        "back": format!("/admin/accounts/{}", query_value(&account.id.to_string())),
    });
    let html = state.pages.render("admin_letter", locale, data);
    page(StatusCode::OK).body(html)
}

/// The login address as an inline SVG QR code (no image request, nothing external).
fn qr_svg(url: &str) -> Option<String> {
    let code = QrCode::new(url.as_bytes()).ok()?;
    let svg = code
        .render::<svg::Color<'_>>()
        .min_dimensions(160, 160)
        .quiet_zone(true)
        .build();
    // The XML declaration belongs to a file, not to an element inside HTML.
    Some(match svg.find("<svg") {
        Some(at) => svg[at..].to_owned(),
        None => svg,
    })
}

pub async fn reset_mail(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<ButtonForm>,
) -> PageResult {
    if !csrf::verify(&state, &req, form.into_inner().csrf.as_deref()) {
        return Ok(form_expired(&state, &req));
    }
    let id = path.into_inner();
    let target = id.clone();
    let outcome = as_staff(&state, &req, move |idp, conn, staff, origin| {
        help::reset_mail(idp, conn, staff, &target, origin)
    })
    .await?;
    answer(&state, &req, outcome, |sent| {
        let done = match sent {
            StaffReset::Sent(_) => "reset-mail",
            StaffReset::Throttled { .. } => "reset-throttled",
            StaffReset::NoAddress => "no-address",
        };
        back_to_account(&id, done)
    })
}

/// Sends a migrated account's invitation again (the first was lost or expired).
pub async fn invite_again(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<ButtonForm>,
) -> PageResult {
    if !csrf::verify(&state, &req, form.into_inner().csrf.as_deref()) {
        return Ok(form_expired(&state, &req));
    }
    let id = path.into_inner();
    let target = id.clone();
    let outcome = as_staff(&state, &req, move |idp, conn, staff, origin| {
        crate::domain::admin::migration::invite_again(idp, conn, staff, &target, origin)
    })
    .await?;
    answer(&state, &req, outcome, |sent| {
        let done = match sent {
            Ok(_) => "invited",
            Err(NotAgain::NotMigrated) => "invite-not-migrated",
            Err(NotAgain::HasPassword) => "invite-has-password",
            Err(NotAgain::Unreachable) => "invite-unreachable",
            Err(NotAgain::StillQueued(_)) => "invite-queued",
        };
        back_to_account(&id, done)
    })
}
