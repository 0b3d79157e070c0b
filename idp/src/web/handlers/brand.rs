//! An organising body's stylesheet and logo, `/brand/{body}/{version}/style.css` and
//! `/brand/{body}/{version}/logo`: served by the STS itself (nothing external), under the
//! brand's version with a year of cache, as the other assets.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use super::{PageResult, State, run};
use crate::domain::DomainResult;
use crate::domain::branding::{self, Brand, Logo, LogoKind};

const A_YEAR: &str = "public, max-age=31536000, immutable";

/// Where a page finds its brand's stylesheet and logo, for the layout.
pub fn view(brand: &Brand) -> serde_json::Value {
    let base = format!("/brand/{}/{}", brand.body, brand.version);
    serde_json::json!({
        "name": brand.name,
        "stylesheet": brand.colour.map(|_| format!("{base}/style.css")),
        "logo": brand.has_logo.then(|| format!("{base}/logo")),
    })
}

async fn at_version(
    state: &State,
    path: web::Path<(String, String)>,
) -> DomainResult<Option<(Brand, Option<Logo>)>> {
    let (body, version) = path.into_inner();
    run(state, move |_, conn| {
        branding::at_version(conn, &body, &version)
    })
    .await
}

fn not_found() -> HttpResponse {
    HttpResponse::build(StatusCode::NOT_FOUND)
        .insert_header(("Cache-Control", "no-store"))
        .finish()
}

/// `GET /brand/{body}/{version}/style.css`.
pub async fn stylesheet(state: State, path: web::Path<(String, String)>) -> PageResult {
    Ok(match at_version(&state, path).await? {
        Some((brand, _)) if brand.colour.is_some() => HttpResponse::Ok()
            .content_type("text/css; charset=utf-8")
            .insert_header(("Cache-Control", A_YEAR))
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .body(brand.stylesheet()),
        _ => not_found(),
    })
}

/// `GET /brand/{body}/{version}/logo`. An SVG opened on its own runs nothing: the policy
/// sandboxes it (an image in a page never runs scripts anyway).
pub async fn logo(state: State, path: web::Path<(String, String)>) -> PageResult {
    Ok(match at_version(&state, path).await? {
        Some((_, Some(logo))) => {
            let mut answer = HttpResponse::Ok();
            answer
                .content_type(logo.kind.content_type())
                .insert_header(("Cache-Control", A_YEAR))
                .insert_header(("X-Content-Type-Options", "nosniff"));
            if logo.kind == LogoKind::Svg {
                answer.insert_header((
                    "Content-Security-Policy",
                    "default-src 'none'; style-src 'unsafe-inline'; sandbox",
                ));
            }
            answer.body(logo.bytes)
        }
        _ => not_found(),
    })
}

/// Puts `brand` on a page's data (the layout shows its band and stylesheet).
pub fn wear(data: &mut serde_json::Value, brand: Option<&Brand>) {
    if let (Some(map), Some(brand)) = (data.as_object_mut(), brand) {
        map.insert("brand".into(), view(brand));
    }
}

/// The brand of a page about `user`'s account (see [`branding::of_account`]). A brand is
/// only a look: when it cannot be read, the page goes neutral rather than fail.
pub async fn of_account(state: &State, user: crate::domain::types::UserId) -> Option<Brand> {
    let found = run(state, move |_, conn| branding::of_account(conn, user)).await;
    found.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "brand not read; the page goes neutral");
        None
    })
}
