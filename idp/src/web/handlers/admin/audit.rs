//! The audit trail of the person's scope: filtered by account, kind and period, newest
//! first, in pages; and the same selection as a CSV file.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{answer, as_staff, csv_download};
use crate::domain::admin::trail::{self, Entry, Filter, Page};
use crate::domain::audit::Kind;
use crate::domain::spreadsheet::cell;
use crate::domain::types::query_value;
use crate::domain::users::User;
use crate::i18n::Zone;
use crate::web::handlers::forms::user_locale;
use crate::web::handlers::{PageResult, State, page};

/// The filter as the form sends it; what does not parse is left out.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TrailQuery {
    #[serde(default)]
    account: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    until: String,
    before_at: Option<String>,
    before_id: Option<String>,
}

impl TrailQuery {
    /// The domain's filter; days are the organising body's calendar days, `until`
    /// included.
    fn filter(&self, zone: &Zone) -> Filter {
        let day = |text: &str| NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok();
        let before = match (&self.before_at, &self.before_id) {
            (Some(at), Some(id)) => DateTime::parse_from_rfc3339(at)
                .ok()
                .map(|at| (at.with_timezone(&Utc), id.clone())),
            _ => None,
        };
        Filter {
            account: Some(self.account.clone()).filter(|a| !a.trim().is_empty()),
            kind: Kind::parse(&self.kind),
            from: day(&self.from).map(|d| zone.start_of(d)),
            until: day(&self.until)
                .and_then(|d| d.succ_opt())
                .map(|d| zone.start_of(d)),
            before,
        }
    }

    /// This filter's query string (for the next page and the CSV link).
    fn query(&self) -> String {
        format!(
            "account={}&kind={}&from={}&until={}",
            query_value(&self.account),
            query_value(&self.kind),
            query_value(&self.from),
            query_value(&self.until)
        )
    }
}

pub async fn trail_page(
    state: State,
    req: HttpRequest,
    query: web::Query<TrailQuery>,
) -> PageResult {
    let query = query.into_inner();
    let filter = query.filter(&state.idp.zone);
    let outcome = as_staff(&state, &req, move |idp, conn, staff, origin| {
        let found = trail::page(conn, staff, &filter, origin, idp.now())?;
        Ok(found.map(|p| (staff.user.clone(), p)))
    })
    .await?;
    answer(&state, &req, outcome, |(staff, found)| {
        render(&state, &req, &staff, &found, &query)
    })
}

fn render(
    state: &State,
    req: &HttpRequest,
    staff: &User,
    found: &Page,
    query: &TrailQuery,
) -> HttpResponse {
    let locale = user_locale(state, req, staff);
    let kinds: Vec<Value> = Kind::ALL
        .iter()
        .map(|k| {
            json!({
                "value": k.as_str(),
                "label": event_label(k.as_str()),
                "selected": k.as_str() == query.kind,
            })
        })
        .collect();
    let entries: Vec<Value> = found
        .entries
        .iter()
        .map(|e| {
            json!({
                "at": e.occurred_at.to_rfc3339(),
                "kind": event_label(&e.kind),
                "account": e.account,
                "address": e.address,
                "client_id": e.client_id,
                "detail": e.detail,
            })
        })
        .collect();
    let next = found.next.as_ref().map(|(at, id)| {
        format!(
            "/admin/audit?{}&before_at={}&before_id={}",
            query.query(),
            query_value(&at.to_rfc3339()),
            query_value(id)
        )
    });
    let data = json!({
        "wide": true,
        "account": query.account,
        "from": query.from,
        "until": query.until,
        "kinds": kinds,
        "entries": entries,
        "none": entries.is_empty(),
        "next": next,
        "csv": format!("/admin/audit.csv?{}", query.query()),
    });
    let html = crate::web::handlers::forms::render(state, req, "admin_audit", locale, data);
    page(StatusCode::OK).body(html)
}

/// The message naming an event's kind.
pub(super) fn event_label(kind: &str) -> String {
    format!("admin-event-{}", kind.replace('_', "-"))
}

pub async fn trail_csv(
    state: State,
    req: HttpRequest,
    query: web::Query<TrailQuery>,
) -> PageResult {
    let filter = query.into_inner().filter(&state.idp.zone);
    let outcome = as_staff(&state, &req, move |idp, conn, staff, origin| {
        trail::export(conn, staff, &filter, origin, idp.now())
    })
    .await?;
    answer(&state, &req, outcome, |entries| {
        let rows = entries.iter().map(csv_fields);
        csv_download("audit.csv", CSV_HEADER, rows)
    })
}

/// The export's columns: times in UTC (RFC 3339).
const CSV_HEADER: [&str; 6] = [
    "occurred_at",
    "kind",
    "account",
    "address",
    "client_id",
    "detail",
];

/// An event as the export's fields, every cell safe to open in a spreadsheet.
fn csv_fields(e: &Entry) -> [String; 6] {
    let safe = |text: Option<&str>| cell(text.unwrap_or_default()).into_owned();
    [
        e.occurred_at.to_rfc3339(),
        e.kind.clone(),
        safe(e.account.as_deref()),
        safe(e.address.as_deref()),
        safe(e.client_id.as_deref()),
        safe(Some(&e.detail)),
    ]
}
