//! The files pages load from `/assets` (one stylesheet, two small scripts): embedded in the
//! binary, each served under a name carrying a hash of its content (`site.3f2a9c1e0b.css`),
//! so browsers keep it for a year and a new version is a new address. Pages name them
//! through the `asset` template helper. Nothing is loaded from anywhere else, and no page
//! carries an inline style or script, so the Content-Security-Policy needs no
//! `'unsafe-inline'`.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

/// Every asset: its name in templates, its media type, its content.
const FILES: [(&str, &str, &str); 3] = [
    (
        "site.css",
        "text/css; charset=utf-8",
        include_str!("../../../templates/assets/site.css"),
    ),
    (
        "site.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../templates/assets/site.js"),
    ),
    (
        "password-rules.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../templates/assets/password-rules.js"),
    ),
];

/// One asset as served.
#[derive(Debug)]
struct Asset {
    content_type: &'static str,
    body: &'static str,
}

/// The assets, by the hashed file name they are served under.
#[derive(Debug)]
pub struct Assets {
    served: HashMap<String, Asset>,
    /// Template name → URL (`site.css` → `/assets/site.3f2a9c1e0b.css`).
    urls: HashMap<&'static str, String>,
}

impl Assets {
    pub fn load() -> Self {
        let mut served = HashMap::new();
        let mut urls = HashMap::new();
        for (name, content_type, body) in FILES {
            let hash = crate::crypto::hex(&crate::crypto::sha256(body.as_bytes())[..5]);
            let hashed = match name.rsplit_once('.') {
                Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
                None => format!("{name}.{hash}"),
            };
            urls.insert(name, format!("/assets/{hashed}"));
            served.insert(hashed, Asset { content_type, body });
        }
        Self { served, urls }
    }

    /// Where the asset a template names is served; none for an unknown name.
    pub fn url(&self, name: &str) -> Option<&str> {
        self.urls.get(name).map(String::as_str)
    }

    /// The answer to `GET /assets/{file}`: a year of cache for what exists (its name
    /// changes with its content), a plain 404 otherwise.
    pub fn answer(&self, file: &str) -> HttpResponse {
        match self.served.get(file) {
            Some(asset) => HttpResponse::Ok()
                .content_type(asset.content_type)
                .insert_header(("Cache-Control", "public, max-age=31536000, immutable"))
                .insert_header(("X-Content-Type-Options", "nosniff"))
                .body(asset.body),
            None => HttpResponse::build(StatusCode::NOT_FOUND)
                .insert_header(("Cache-Control", "no-store"))
                .finish(),
        }
    }
}

/// `{{asset "site.css"}}`: the URL the asset is served under.
pub struct AssetHelper(pub Arc<Assets>);

impl handlebars::HelperDef for AssetHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &handlebars::Helper<'rc>,
        _: &'reg handlebars::Handlebars<'reg>,
        _: &'rc handlebars::Context,
        _: &mut handlebars::RenderContext<'reg, 'rc>,
    ) -> Result<handlebars::ScopedJson<'rc>, handlebars::RenderError> {
        let url = h
            .param(0)
            .and_then(|p| p.value().as_str())
            .and_then(|name| self.0.url(name))
            .ok_or(handlebars::RenderErrorReason::InvalidParamType(
                "the name of an asset in templates/assets",
            ))?;
        Ok(handlebars::ScopedJson::Derived(serde_json::Value::String(
            url.to_owned(),
        )))
    }
}

/// `GET /assets/{file}`.
pub async fn serve(state: web::Data<super::AppState>, file: web::Path<String>) -> HttpResponse {
    state.pages.assets.answer(&file)
}

#[cfg(test)]
mod tests {
    use super::Assets;

    #[test]
    fn each_asset_has_a_hashed_address_with_a_long_cache() {
        let assets = Assets::load();
        let url = assets.url("site.css").unwrap();
        assert!(url.starts_with("/assets/site.") && url.ends_with(".css"));
        let answer = assets.answer(url.trim_start_matches("/assets/"));
        assert_eq!(answer.status(), 200);
        let cache = answer.headers().get("cache-control").unwrap();
        assert_eq!(cache, "public, max-age=31536000, immutable");
        assert_eq!(
            assets.answer("site.css").status(),
            404,
            "only under its hash"
        );
        assert!(assets.url("missing.js").is_none());
    }
}
