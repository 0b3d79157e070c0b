//! The organising bodies' screens under `/admin`: sign-in is the STS's own login (its SSO
//! session); every page and action runs as the signed-in `Staff`, which finds what a
//! request names only within its scope. Not signed in: the login page; signed in without
//! a role: 403; anything outside one's scope: 404, as if it did not exist.

mod accounts;
mod audit;
mod help;
mod migration;
mod requests;
mod terms;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::{
    PageResult, State, client_address, error_page, form_expired, run, see_other, session_cookie,
};
use crate::domain::admin::{SignedIn, Staff, signed_in};
use crate::domain::audit::Origin;
use crate::domain::types::query_value;
use crate::domain::{DomainResult, Idp};
use crate::store::DbConn;
use crate::web::landing::Landing;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin", web::get().to(accounts::list))
        .route("/admin/accounts/{id}", web::get().to(accounts::show))
        .route(
            "/admin/accounts/{id}/disabled",
            web::post().to(accounts::set_disabled),
        )
        .route(
            "/admin/accounts/{id}/roles",
            web::post().to(accounts::change_role),
        )
        .route(
            "/admin/accounts/{id}/upstream",
            web::post().to(accounts::change_upstream),
        )
        .route(
            "/admin/accounts/{id}/temporary-password",
            web::post().to(help::temporary_password),
        )
        .route(
            "/admin/accounts/{id}/reset-mail",
            web::post().to(help::reset_mail),
        )
        .route(
            "/admin/accounts/{id}/invitation",
            web::post().to(help::invite_again),
        )
        .route("/admin/migration", web::get().to(migration::runs))
        .route("/admin/migration/{run}", web::get().to(migration::run_rows))
        .route(
            "/admin/migration/{run}/rows.csv",
            web::get().to(migration::run_rows_csv),
        )
        .route(
            "/admin/migration/{run}/rows/{line}",
            web::get().to(migration::row),
        )
        .route(
            "/admin/migration/{run}/rows/{line}",
            web::post().to(migration::fix_row),
        )
        .route(
            "/admin/migration/{run}/retry",
            web::post().to(migration::retry_rows),
        )
        .route(
            "/admin/migration/{run}/invite",
            web::post().to(migration::invite),
        )
        .route("/admin/requests", web::get().to(requests::list))
        .route("/admin/requests/{id}", web::post().to(requests::decide))
        .route("/admin/terms", web::get().to(terms::list))
        .route("/admin/terms/{body}", web::post().to(terms::publish))
        .route("/admin/audit", web::get().to(audit::trail_page))
        .route("/admin/audit.csv", web::get().to(audit::trail_csv));
}

/// A form that carries nothing but its CSRF token (a button).
#[derive(Debug, serde::Deserialize)]
pub struct ButtonForm {
    csrf: Option<String>,
}

/// The answer after an action on an account's page: back to it, saying what was done.
fn back_to_account(id: &str, done: &str) -> HttpResponse {
    see_other(&format!("/admin/accounts/{}?done={done}", query_value(id)))
}

/// Why a screen is not shown.
enum Refused {
    NotSignedIn,
    WithoutRole,
    /// Out of scope, or does not exist: the same answer.
    NotFound,
}

/// Runs `work` as the signed-in staff member, on the blocking pool; `work` answers none
/// for what is not in their scope.
async fn as_staff<T, F>(
    state: &State,
    req: &HttpRequest,
    work: F,
) -> Result<Result<T, Refused>, super::error::ErrorPage>
where
    F: for<'a> FnOnce(&Idp, &mut DbConn, &Staff, Origin<'a>) -> DomainResult<Option<T>>
        + Send
        + 'static,
    T: Send + 'static,
{
    let cookie = session_cookie(req);
    let address = client_address(state, req);
    let answer = run(state, move |idp, conn| {
        let staff = match signed_in(conn, cookie.as_deref(), idp.now())? {
            SignedIn::Staff(staff) => staff,
            SignedIn::WithoutRole => return Ok(Err(Refused::WithoutRole)),
            SignedIn::Nobody => return Ok(Err(Refused::NotSignedIn)),
        };
        let done = work(idp, conn, &staff, Origin::of(&address))?;
        Ok(done.ok_or(Refused::NotFound))
    })
    .await?;
    Ok(answer)
}

/// The answer to a refused screen.
fn refused(state: &State, req: &HttpRequest, why: Refused) -> HttpResponse {
    match why {
        // Back to this screen once logged in (its GET; a form sent without a session
        // is sent again by the person).
        Refused::NotSignedIn => {
            let here = super::path_and_query(req);
            match (req.method() == actix_web::http::Method::GET)
                .then(|| Landing::parse(&here))
                .flatten()
            {
                Some(next) => see_other(&format!("/login?next={}", query_value(next.as_str()))),
                None => see_other("/login"),
            }
        }
        Refused::WithoutRole => error_page(
            state,
            req,
            StatusCode::FORBIDDEN,
            "admin-error-no-role",
            None,
        ),
        Refused::NotFound => error_page(state, req, StatusCode::NOT_FOUND, "error-not-found", None),
    }
}

/// A screen's answer: the page `render` makes, or the refusal.
fn answer<T>(
    state: &State,
    req: &HttpRequest,
    outcome: Result<T, Refused>,
    render: impl FnOnce(T) -> HttpResponse,
) -> PageResult {
    Ok(match outcome {
        Ok(value) => render(value),
        Err(why) => refused(state, req, why),
    })
}

/// A CSV file to download: `header`, then `rows` (their cells made safe by the caller),
/// never cached, never sniffed into something else.
fn csv_download<const N: usize>(
    filename: &str,
    header: [&str; N],
    rows: impl IntoIterator<Item = [String; N]>,
) -> HttpResponse {
    let written = (|| -> Result<Vec<u8>, csv::Error> {
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record(header)?;
        for row in rows {
            out.write_record(row)?;
        }
        out.into_inner()
            .map_err(|e| csv::Error::from(e.into_error()))
    })();
    match written {
        Ok(bytes) => HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header(("Cache-Control", "no-store"))
            .insert_header((
                "Content-Disposition",
                format!("attachment; filename=\"{filename}\""),
            ))
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .body(bytes),
        Err(e) => {
            tracing::error!(error = %e, filename, "CSV export");
            HttpResponse::InternalServerError().finish()
        }
    }
}
