//! The migration screens: the runs that concern one's organising bodies, and a run's
//! reported rows, searchable, and as CSV.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ButtonForm, answer, as_staff, csv_download, form_expired};
use crate::domain::admin::migration::{self, Attached, Correction, Fixed, PAGE, RowsAsked};
use crate::domain::migration::{CSV_HEADER, Reason, ReportedRow, Run, csv_fields};
use crate::domain::types::query_value;
use crate::web::csrf;
use crate::web::handlers::forms::{form_page, user_locale};
use crate::web::handlers::{PageResult, State, page, parse_pairs, see_other};

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
        let html =
            crate::web::handlers::forms::render(&state, &req, "admin_migration", locale, data);
        page(StatusCode::OK).body(html)
    })
}

#[derive(Debug, Deserialize)]
pub struct RowsQuery {
    #[serde(default)]
    q: String,
    /// The page after this line.
    #[serde(default)]
    after: u64,
    done: Option<String>,
    /// After rows were taken up again: how many were migrated, how many still are not.
    migrated: Option<u64>,
    refused: Option<u64>,
    /// After invitations were sent: how many.
    invited: Option<u64>,
}

/// Shown as "1000+": counting every account not invited yet is not worth a page's time.
const NOT_INVITED_SHOWN: i64 = 1000;

pub async fn run_rows(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<RowsQuery>,
) -> PageResult {
    let id = path.into_inner();
    let query = query.into_inner();
    let done = match query.done.as_deref() {
        Some("fixed") => Some("admin-migration-fixed"),
        Some("attached") => Some("admin-migration-attached"),
        _ => None,
    };
    let text = query.q.clone();
    let shown = text.clone();
    let after = query.after;
    let outcome = as_staff(&state, &req, move |idp, conn, staff, origin| {
        let asked = RowsAsked {
            text: &text,
            after,
            limit: PAGE + 1,
        };
        let Some((run, mut rows)) =
            migration::run_rows(conn, staff, &id, asked, origin, idp.now())?
        else {
            return Ok(None);
        };
        let next = (rows.len() > PAGE).then(|| {
            rows.truncate(PAGE);
            rows.last().map_or(0, |r| r.line)
        });
        let not_invited = migration::not_invited(conn, staff, &run, NOT_INVITED_SHOWN + 1)?;
        Ok(Some((staff.user.clone(), run, rows, next, not_invited)))
    })
    .await?;
    answer(
        &state,
        &req,
        outcome,
        |(staff, run, rows, next, not_invited)| {
            let locale = user_locale(&state, &req, &staff);
            let conflicts = rows.iter().any(|r| r.reason == Reason::ChangedOnSts);
            let rows: Vec<Value> = rows.iter().map(row_json).collect();
            let not_invited = match i64::try_from(not_invited) {
                Ok(n) if n <= NOT_INVITED_SHOWN => n.to_string(),
                _ => format!("{NOT_INVITED_SHOWN}+"),
            };
            let data = json!({
                "wide": true,
                "run": run_json(&run),
                "q": shown,
                "rows": rows,
                "none": rows.is_empty(),
                "conflicts": conflicts,
                "csv": format!("/admin/migration/{}/rows.csv?q={}", query_value(&run.id), query_value(&shown)),
                "next": next.map(|after| format!("/admin/migration/{}?q={}&after={after}", query_value(&run.id), query_value(&shown))),
                "done": done,
                "retried": query.migrated.map(|m| json!({"migrated": m, "refused": query.refused.unwrap_or_default()})),
                "invited": query.invited,
                "not_invited": (not_invited != "0").then_some(not_invited),
                "dry_run": run.dry_run,
            });
            form_page(
                &state,
                &req,
                "admin_migration_run",
                locale,
                StatusCode::OK,
                data,
            )
        },
    )
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
        let every = RowsAsked {
            text: &text,
            after: 0,
            limit: usize::MAX,
        };
        migration::run_rows(conn, staff, &id, every, origin, idp.now())
    })
    .await?;
    answer(&state, &req, outcome, |(run, rows)| {
        let filename = format!("migration-{}.csv", run.id);
        csv_download(&filename, CSV_HEADER, rows.iter().map(csv_fields))
    })
}

/// What the row form says of the last attempt.
enum Attempt<'a> {
    First,
    /// Still not migrated (or not attached), for this reason.
    Refused(&'a ReportedRow),
    /// No account with this identifier among those one manages.
    NoSuchAccount(&'a str),
}

/// The account a row most likely duplicates: the one holding its identifier.
fn attach_suggestion(row: &ReportedRow) -> String {
    let taken = matches!(
        row.reason,
        Reason::IdentifierTaken | Reason::IdentifierCaseDuplicate
    );
    match (&row.identifier, taken) {
        (Some(identifier), true) => identifier.clone(),
        _ => String::new(),
    }
}

/// The form to correct one reported row, filled with `correction`, saying what became of
/// the last attempt.
fn row_form(
    state: &State,
    req: &HttpRequest,
    staff: &crate::domain::users::User,
    run: &Run,
    row: &ReportedRow,
    correction: &Correction,
    attempt: Attempt<'_>,
) -> HttpResponse {
    let locale = user_locale(state, req, staff);
    let (refused, no_account, attach_to) = match attempt {
        Attempt::First => (None, false, attach_suggestion(row)),
        Attempt::Refused(why) => (Some(why), false, attach_suggestion(row)),
        Attempt::NoSuchAccount(typed) => (None, true, typed.to_owned()),
    };
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
        "overwrite": row.reason == Reason::ChangedOnSts,
        "attach_to": attach_to,
        "no_account": no_account,
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
    answer(&state, &req, outcome, |(staff, (run, row, _))| {
        let correction = Correction::of(&row.record);
        row_form(
            &state,
            &req,
            &staff,
            &run,
            &row,
            &correction,
            Attempt::First,
        )
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
    /// `migrate` (the default), `overwrite` (the legacy row wins over the STS's changes)
    /// or `attach` (the row is the account `attach_to`).
    #[serde(default)]
    action: String,
    #[serde(default)]
    attach_to: String,
}

/// What a person asked of a reported row.
enum RowAction {
    Migrate { overwrite: bool },
    Attach(String),
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
    let action = match form.action.as_str() {
        "attach" => RowAction::Attach(form.attach_to.clone()),
        "overwrite" => RowAction::Migrate { overwrite: true },
        _ => RowAction::Migrate { overwrite: false },
    };
    let correction = Correction {
        identifier: form.identifier,
        email: form.email,
        given_name: form.given_name,
        family_name: form.family_name,
        kind: form.kind,
        schools: form.schools,
    };
    let (run_id, line) = path.into_inner();
    let asked = correction.clone();
    let outcome = as_staff(&state, &req, move |idp, conn, staff, origin| {
        let now = idp.now();
        let done = match &action {
            RowAction::Migrate { overwrite } => {
                migration::fix_row(conn, staff, &run_id, line, &asked, *overwrite, origin, now)?
                    .map(|(run, row, fixed)| (run, row, RowDone::Fixed(fixed)))
            }
            RowAction::Attach(to) => {
                migration::attach_row(conn, staff, &run_id, line, &asked, to, origin, now)?
                    .map(|(run, row, attached)| (run, row, RowDone::Attached(attached, to.clone())))
            }
        };
        Ok(done.map(|(run, row, done)| (staff.user.clone(), run, row, done)))
    })
    .await?;
    answer(&state, &req, outcome, |(staff, run, row, done)| {
        let back = |done: &str| {
            see_other(&format!(
                "/admin/migration/{}?done={done}",
                query_value(&run.id)
            ))
        };
        let form = |attempt| row_form(&state, &req, &staff, &run, &row, &correction, attempt);
        match done {
            RowDone::Fixed(Fixed::Migrated) => back("fixed"),
            RowDone::Attached(Attached::To(_), _) => back("attached"),
            RowDone::Fixed(Fixed::Refused(why)) | RowDone::Attached(Attached::Refused(why), _) => {
                form(Attempt::Refused(&why))
            }
            RowDone::Attached(Attached::NoSuchAccount, typed) => {
                form(Attempt::NoSuchAccount(&typed))
            }
        }
    })
}

/// What became of a row the form sent.
enum RowDone {
    Fixed(Fixed),
    /// With the identifier typed.
    Attached(Attached, String),
}

/// The selection of a run's rows to migrate again: `line` once per ticked row, and which
/// button (`action`: `migrate` or `overwrite`).
pub async fn retry_rows(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> PageResult {
    let (mut csrf_token, mut overwrite, mut lines) = (None, false, Vec::new());
    for (key, value) in parse_pairs(&String::from_utf8_lossy(&body))? {
        match key.as_str() {
            "csrf" => csrf_token = Some(value),
            "action" => overwrite = value == "overwrite",
            "line" => lines.extend(value.parse::<u64>().ok()),
            _ => {}
        }
    }
    if !csrf::verify(&state, &req, csrf_token.as_deref()) {
        return Ok(form_expired(&state, &req));
    }
    let run_id = path.into_inner();
    let outcome = as_staff(&state, &req, move |idp, conn, staff, origin| {
        migration::retry_rows(conn, staff, &run_id, &lines, overwrite, origin, idp.now())
    })
    .await?;
    answer(&state, &req, outcome, |(run, retried)| {
        see_other(&format!(
            "/admin/migration/{}?migrated={}&refused={}",
            query_value(&run.id),
            retried.migrated.len(),
            retried.refused.len()
        ))
    })
}

/// Invites the accounts of a run's source in one's organising bodies not invited yet.
pub async fn invite(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<ButtonForm>,
) -> PageResult {
    if !csrf::verify(&state, &req, form.into_inner().csrf.as_deref()) {
        return Ok(form_expired(&state, &req));
    }
    let run_id = path.into_inner();
    let outcome = as_staff(&state, &req, move |idp, conn, staff, origin| {
        migration::invite(idp, conn, staff, &run_id, origin)
    })
    .await?;
    answer(&state, &req, outcome, |(run, invited)| {
        see_other(&format!(
            "/admin/migration/{}?invited={}",
            query_value(&run.id),
            invited.invited
        ))
    })
}
