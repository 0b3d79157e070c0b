//! The migration screens: the runs that concern one's organising bodies, and a run's
//! reported rows, searchable, and as CSV.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{answer, as_staff, csv_download, form_expired};
use crate::domain::admin::migration::{self, Correction, Fixed};
use crate::domain::migration::{CSV_HEADER, ReportedRow, Run, csv_fields};
use crate::domain::types::query_value;
use crate::web::csrf;
use crate::web::handlers::forms::{form_page, user_locale};
use crate::web::handlers::{PageResult, State, page, see_other};

fn run_json(run: &Run) -> Value {
    json!({
        "id": run.id,
        "source": run.source.as_str(),
        "input": run.input,
        "dry_run": run.dry_run,
        "status": format!("admin-migration-status-{}", run.status.as_str()),
        "started_at": run.started_at.to_rfc3339(),
        "finished_at": run.finished_at.map(|t| t.to_rfc3339()),
        "counts": run.counts,
    })
}

pub async fn runs(state: State, req: HttpRequest) -> PageResult {
    let outcome = as_staff(&state, &req, move |_, conn, staff, _| {
        Ok(Some((staff.user.clone(), migration::runs(conn, staff)?)))
    })
    .await?;
    answer(&state, &req, outcome, |(staff, runs)| {
        let locale = user_locale(&state, &req, &staff);
        let runs: Vec<Value> = runs.iter().map(run_json).collect();
        let data = json!({ "wide": true, "none": runs.is_empty(), "runs": runs });
        let html = state.pages.render("admin_migration", locale, data);
        page(StatusCode::OK).body(html)
    })
}

#[derive(Debug, Deserialize)]
pub struct RowsQuery {
    #[serde(default)]
    q: String,
    done: Option<String>,
}

pub async fn run_rows(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<RowsQuery>,
) -> PageResult {
    let id = path.into_inner();
    let query = query.into_inner();
    let fixed = query.done.as_deref() == Some("fixed");
    let text = query.q;
    let shown = text.clone();
    let outcome = as_staff(&state, &req, move |idp, conn, staff, origin| {
        let found = migration::run_rows(conn, staff, &id, &text, origin, idp.now())?;
        Ok(found.map(|f| (staff.user.clone(), f)))
    })
    .await?;
    answer(&state, &req, outcome, |(staff, (run, rows))| {
        let locale = user_locale(&state, &req, &staff);
        let rows: Vec<Value> = rows.iter().map(row_json).collect();
        let data = json!({
            "wide": true,
            "run": run_json(&run),
            "q": shown,
            "rows": rows,
            "none": rows.is_empty(),
            "csv": format!("/admin/migration/{}/rows.csv?q={}", query_value(&run.id), query_value(&shown)),
            "fixed": fixed,
        });
        let html = state.pages.render("admin_migration_run", locale, data);
        page(StatusCode::OK).body(html)
    })
}

fn row_json(row: &ReportedRow) -> Value {
    json!({
        "line": row.line,
        "legacy_id": row.legacy_id,
        "identifier": row.identifier,
        "outcome": format!("admin-migration-outcome-{}", row.outcome.as_str()),
        "reason": format!("admin-migration-reason-{}", row.reason.as_str().replace('_', "-")),
        "detail": row.detail,
    })
}

pub async fn run_rows_csv(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<RowsQuery>,
) -> PageResult {
    let id = path.into_inner();
    let text = query.into_inner().q;
    let outcome = as_staff(&state, &req, move |idp, conn, staff, origin| {
        migration::run_rows(conn, staff, &id, &text, origin, idp.now())
    })
    .await?;
    answer(&state, &req, outcome, |(run, rows)| {
        let filename = format!("migration-{}.csv", run.id);
        csv_download(&filename, CSV_HEADER, rows.iter().map(csv_fields))
    })
}

/// The form to correct one reported row, filled with `correction`; `refused`: why the
/// last attempt was refused.
fn row_form(
    state: &State,
    req: &HttpRequest,
    staff: &crate::domain::users::User,
    run: &Run,
    row: &ReportedRow,
    correction: &Correction,
    refused: Option<&ReportedRow>,
) -> HttpResponse {
    let locale = user_locale(state, req, staff);
    let data = json!({
        "wide": true,
        "run": run_json(run),
        "row": row_json(row),
        "fields": {
            "identifier": correction.identifier,
            "email": correction.email,
            "given_name": correction.given_name,
            "family_name": correction.family_name,
            "kind": correction.kind,
            "schools": correction.schools,
        },
        "refused": refused.map(row_json),
    });
    form_page(
        state,
        req,
        "admin_migration_row",
        locale,
        StatusCode::OK,
        data,
    )
}

pub async fn row(state: State, req: HttpRequest, path: web::Path<(String, u64)>) -> PageResult {
    let (run_id, line) = path.into_inner();
    let outcome = as_staff(&state, &req, move |idp, conn, staff, origin| {
        let found = migration::reported_row(conn, staff, &run_id, line, origin, idp.now())?;
        Ok(found.map(|f| (staff.user.clone(), f)))
    })
    .await?;
    answer(&state, &req, outcome, |(staff, (run, row))| {
        let correction = Correction::of(&row.record);
        row_form(&state, &req, &staff, &run, &row, &correction, None)
    })
}

#[derive(Debug, Deserialize)]
pub struct CorrectionForm {
    csrf: Option<String>,
    #[serde(default)]
    identifier: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    given_name: String,
    #[serde(default)]
    family_name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    schools: String,
}

pub async fn fix_row(
    state: State,
    req: HttpRequest,
    path: web::Path<(String, u64)>,
    form: web::Form<CorrectionForm>,
) -> PageResult {
    let form = form.into_inner();
    if !csrf::verify(&state, &req, form.csrf.as_deref()) {
        return Ok(form_expired(&state, &req));
    }
    let correction = Correction {
        identifier: form.identifier,
        email: form.email,
        given_name: form.given_name,
        family_name: form.family_name,
        kind: form.kind,
        schools: form.schools,
    };
    let (run_id, line) = path.into_inner();
    let (target, asked) = (run_id.clone(), correction.clone());
    let outcome = as_staff(&state, &req, move |idp, conn, staff, origin| {
        let fixed = migration::fix_row(conn, staff, &target, line, &asked, origin, idp.now())?;
        Ok(fixed.map(|(run, row, f)| (staff.user.clone(), run, row, f)))
    })
    .await?;
    answer(
        &state,
        &req,
        outcome,
        |(staff, run, row, fixed)| match fixed {
            Fixed::Migrated => see_other(&format!(
                "/admin/migration/{}?done=fixed",
                query_value(&run.id)
            )),
            Fixed::Refused(why) => {
                row_form(&state, &req, &staff, &run, &row, &correction, Some(&why))
            }
        },
    )
}
