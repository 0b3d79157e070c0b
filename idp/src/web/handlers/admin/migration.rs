//! The migration screens: the runs that concern one's organising bodies, and a run's
//! reported rows, searchable, and as CSV.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{answer, as_staff};
use crate::domain::admin::migration;
use crate::domain::migration::{CSV_HEADER, ReportedRow, Run, csv_fields};
use crate::domain::types::query_value;
use crate::web::handlers::forms::user_locale;
use crate::web::handlers::{PageResult, State, page};

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
}

pub async fn run_rows(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<RowsQuery>,
) -> PageResult {
    let id = path.into_inner();
    let text = query.into_inner().q;
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
        match csv_bytes(&rows) {
            Ok(bytes) => HttpResponse::Ok()
                .content_type("text/csv; charset=utf-8")
                .insert_header(("Cache-Control", "no-store"))
                .insert_header((
                    "Content-Disposition",
                    format!("attachment; filename=\"migration-{}.csv\"", run.id),
                ))
                .insert_header(("X-Content-Type-Options", "nosniff"))
                .body(bytes),
            Err(e) => {
                tracing::error!(error = %e, "migration rows export");
                HttpResponse::InternalServerError().finish()
            }
        }
    })
}

/// The rows in the CSV report's format (as `account-migration`'s files).
fn csv_bytes(rows: &[ReportedRow]) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(CSV_HEADER)?;
    for row in rows {
        out.write_record(csv_fields(row))?;
    }
    out.into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))
}
