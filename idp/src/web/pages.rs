//! HTML pages from `templates/`, rendered by handlebars in strict mode, every text through
//! the `t` helper (Fluent).

use std::sync::Arc;

use handlebars::Handlebars;

use super::assets::{AssetHelper, Assets};
use crate::i18n::{DateTimeHelper, Locale, TranslateHelper, Translations, Zone};

const TEMPLATES: [(&str, &str); 24] = [
    ("layout", include_str!("../../../templates/layout.hbs")),
    ("login", include_str!("../../../templates/login.hbs")),
    ("error", include_str!("../../../templates/error.hbs")),
    ("logout", include_str!("../../../templates/logout.hbs")),
    (
        "logged_out",
        include_str!("../../../templates/logged_out.hbs"),
    ),
    ("home", include_str!("../../../templates/home.hbs")),
    ("forgot", include_str!("../../../templates/forgot.hbs")),
    (
        "forgot_sent",
        include_str!("../../../templates/forgot_sent.hbs"),
    ),
    (
        "forgot_identifier",
        include_str!("../../../templates/forgot_identifier.hbs"),
    ),
    ("reset", include_str!("../../../templates/reset.hbs")),
    (
        "reset_code",
        include_str!("../../../templates/reset_code.hbs"),
    ),
    (
        "reset_unusable",
        include_str!("../../../templates/reset_unusable.hbs"),
    ),
    (
        "reset_done",
        include_str!("../../../templates/reset_done.hbs"),
    ),
    ("wizard", include_str!("../../../templates/wizard.hbs")),
    ("account", include_str!("../../../templates/account.hbs")),
    (
        "admin_accounts",
        include_str!("../../../templates/admin_accounts.hbs"),
    ),
    (
        "admin_account",
        include_str!("../../../templates/admin_account.hbs"),
    ),
    (
        "admin_audit",
        include_str!("../../../templates/admin_audit.hbs"),
    ),
    (
        "admin_letter",
        include_str!("../../../templates/admin_letter.hbs"),
    ),
    (
        "admin_requests",
        include_str!("../../../templates/admin_requests.hbs"),
    ),
    (
        "admin_terms",
        include_str!("../../../templates/admin_terms.hbs"),
    ),
    (
        "admin_migration",
        include_str!("../../../templates/admin_migration.hbs"),
    ),
    (
        "admin_migration_run",
        include_str!("../../../templates/admin_migration_run.hbs"),
    ),
    (
        "admin_migration_row",
        include_str!("../../../templates/admin_migration_row.hbs"),
    ),
];

pub struct Pages {
    registry: Handlebars<'static>,
    pub translations: Arc<Translations>,
    /// The stylesheet and scripts pages load, under their hashed names.
    pub assets: Arc<Assets>,
}

#[derive(Debug, thiserror::Error)]
pub enum PagesError {
    #[error("template {0}: {1}")]
    Template(&'static str, String),
    #[error(transparent)]
    I18n(#[from] crate::i18n::I18nError),
}

impl Pages {
    pub fn load(translations: Arc<Translations>, zone: Zone) -> Result<Self, PagesError> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        registry.register_helper("t", Box::new(TranslateHelper::html(translations.clone())));
        registry.register_helper("datetime", Box::new(DateTimeHelper::new(zone)));
        let assets = Arc::new(Assets::load());
        registry.register_helper("asset", Box::new(AssetHelper(assets.clone())));
        for (name, source) in TEMPLATES {
            registry
                .register_template_string(name, source)
                .map_err(|e| PagesError::Template(name, e.to_string()))?;
            if name == "layout" {
                registry
                    .register_partial(name, source)
                    .map_err(|e| PagesError::Template(name, e.to_string()))?;
            }
        }
        Ok(Self {
            registry,
            translations,
            assets,
        })
    }

    /// Renders page `name`; `data` gets `lang` added, and the layout's optional values
    /// (`script`, `brand`) when a page does not set them.
    pub fn render(&self, name: &str, locale: Locale, mut data: serde_json::Value) -> String {
        if let Some(map) = data.as_object_mut() {
            map.insert("lang".into(), serde_json::json!(locale.as_str()));
            let switch = map
                .get("here")
                .and_then(|h| h.as_str())
                .map(|here| languages(locale, here));
            map.insert("languages".into(), switch.into());
            for optional in ["script", "brand"] {
                map.entry(optional).or_insert(serde_json::Value::Null);
            }
        }
        match self.registry.render(name, &data) {
            Ok(html) => html,
            Err(e) => {
                tracing::error!(page = name, error = %e, "page rendering failed");
                format!(
                    "<!doctype html><title>Error</title><p>{}</p>",
                    handlebars::html_escape(&self.translations.get(locale, "error-internal", None))
                )
            }
        }
    }
}

/// The language switch: each language in its own name, linking to `/language` with the
/// page to return to.
fn languages(current: Locale, here: &str) -> serde_json::Value {
    let back = crate::domain::types::query_value(here);
    Locale::ALL
        .into_iter()
        .map(|l| {
            serde_json::json!({
                "code": l.as_str(),
                "name": l.own_name(),
                "href": format!("/language?to={}&back={back}", l.as_str()),
                "current": l == current,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn login_page_renders_in_every_language() {
        let pages = Pages::load(
            Arc::new(Translations::load().unwrap()),
            Zone::load("Europe/Brussels").unwrap(),
        )
        .unwrap();
        for locale in Locale::ALL {
            let html = pages.render(
                "login",
                locale,
                json!({"request": "r", "csrf": "c", "identifier": "", "error": null, "client_name": "App"}),
            );
            assert!(html.contains("name=\"csrf\""), "{html}");
            assert!(html.contains(&format!("lang=\"{}\"", locale.as_str())));
            assert!(
                !html.contains("login-title"),
                "untranslated key in {}",
                locale.as_str()
            );
        }
    }

    /// Every recovery page renders in every language with the data its handler gives, and
    /// no message key shows through untranslated.
    #[test]
    fn recovery_pages_render_in_every_language() {
        let pages = Pages::load(
            Arc::new(Translations::load().unwrap()),
            Zone::load("Europe/Brussels").unwrap(),
        )
        .unwrap();
        let rule = json!({"text": "8+", "check": "min-length", "param": "min", "value": "8"});
        let cases = [
            (
                "forgot",
                json!({"request": "r", "csrf": "c", "ask_either": true, "ask_identifier": false, "ask_email": false, "identifier": "", "email": "", "error": "forgot-error-throttled"}),
            ),
            (
                "forgot_sent",
                json!({"request": "r", "csrf": "c", "what": "password", "hours": 48}),
            ),
            (
                "forgot_sent",
                json!({"request": "r", "csrf": "c", "what": "identifier", "hours": 0}),
            ),
            (
                "forgot_identifier",
                json!({"request": "r", "csrf": "c", "email": "", "error": null}),
            ),
            (
                "reset_code",
                json!({"request": "r", "csrf": "c", "identifier": "", "code": "", "error": "reset-error-code"}),
            ),
            (
                "reset",
                json!({"csrf": "c", "token": "t", "code_identifier": "", "code": "", "account": "jean.dupont", "rules": [rule], "problems": {"heading": "reset-not-saved", "items": ["x"]}, "ask_email": true, "email": ""}),
            ),
            (
                "reset_unusable",
                json!({"message": "reset-unusable-expired", "forgot_url": "/forgot?request=r", "login_url": "/login?request=r"}),
            ),
            (
                "reset_done",
                json!({"countdown": 5, "continue_url": "/resume?request=r", "account": "jean.dupont", "has_app": true}),
            ),
        ];
        for locale in Locale::ALL {
            for (name, data) in &cases {
                let html = pages.render(name, locale, data.clone());
                assert!(html.contains("</html>"), "{name} failed to render: {html}");
                assert_no_inline_style_or_script(name, &html);
                assert_passwords_never_cut(name, &html);
                for key in ["forgot-", "reset-", "login-", "password-rule-"] {
                    assert!(
                        !html.contains(&format!(">{key}")),
                        "untranslated {key}… in {name} ({})",
                        locale.as_str()
                    );
                }
            }
        }
        // Handlebars writes `=` as `&#x3D;` in attributes; browsers read it back.
        let done = pages
            .render("reset_done", Locale::Fr, cases[7].1.clone())
            .replace("&#x3D;", "=");
        // No refresh of the page itself (WCAG 2.2.1): the script counts down and can be
        // stopped; without it, the button.
        assert!(!done.contains("http-equiv"), "{done}");
        assert!(done.contains("data-countdown=\"5\""), "{done}");
        assert!(done.contains("href=\"/resume?request=r\""), "{done}");
        let reset = pages.render("reset", Locale::En, cases[5].1.clone());
        let rules = pages.assets.url("password-rules.js").unwrap();
        assert!(reset.contains(&format!("<script src=\"{rules}\" defer>")));
    }

    /// What the Content-Security-Policy (no `'unsafe-inline'`) would block: an inline
    /// stylesheet or style attribute, a script without `src`, an event handler attribute.
    /// ASVS 4.0.3 §2.1.3: a password field never has `maxlength`, with which a browser
    /// silently cuts a longer pasted password; the server refuses one that is too long,
    /// saying so.
    fn assert_passwords_never_cut(name: &str, html: &str) {
        for (at, _) in html.match_indices("type=\"password\"") {
            let start = html[..at].rfind('<').unwrap_or(0);
            let tag = &html[start..at + html[at..].find('>').unwrap_or(0)];
            assert!(!tag.contains("maxlength"), "{name}: {tag}");
        }
    }

    fn assert_no_inline_style_or_script(name: &str, html: &str) {
        assert!(!html.contains("<style"), "{name}: an inline stylesheet");
        assert!(!html.contains(" style="), "{name}: a style attribute");
        assert!(
            !html.contains(" onclick=") && !html.contains(" onload="),
            "{name}"
        );
        for (at, _) in html.match_indices("<script") {
            let tag = &html[at..at + html[at..].find('>').unwrap_or(0)];
            assert!(
                tag.contains(" src=\"/assets/"),
                "{name}: an inline script {tag}"
            );
        }
    }

    /// The switch lists the four languages, each in its own name, the current one marked,
    /// each returning to the page.
    #[test]
    fn the_language_switch_returns_to_the_page() {
        let pages = Pages::load(
            Arc::new(Translations::load().unwrap()),
            Zone::load("Europe/Brussels").unwrap(),
        )
        .unwrap();
        let data =
            json!({"request": "r1", "csrf": "c", "identifier": "", "here": "/login?request=r1"});
        let html = pages
            .render("login", Locale::Nl, data)
            .replace("&#x3D;", "=");
        assert!(html.contains("<html lang=\"nl\">"));
        for (code, name) in [
            ("fr", "Français"),
            ("nl", "Nederlands"),
            ("en", "English"),
            ("de", "Deutsch"),
        ] {
            assert!(
                html.contains(&format!(
                    "href=\"/language?to={code}&amp;back=%2Flogin%3Frequest%3Dr1\" lang=\"{code}\""
                )),
                "{code}: {html}"
            );
            assert!(html.contains(&format!(">{name}</a>")));
        }
        assert!(html.contains("id=\"language-nl\" aria-current=\"true\""));
        assert_no_inline_style_or_script("login", &html);
        let css = pages.assets.url("site.css").unwrap();
        assert!(html.contains(&format!("<link rel=\"stylesheet\" href=\"{css}\">")));
    }

    /// The wizard (each step) and the account page render in every language.
    #[test]
    fn wizard_and_account_render_in_every_language() {
        let pages = Pages::load(
            Arc::new(Translations::load().unwrap()),
            Zone::load("Europe/Brussels").unwrap(),
        )
        .unwrap();
        let field = json!({"label": "wizard-field-name", "value": null});
        let tabs = json!([{"label": "wizard-tab-welcome", "current": true, "done": false},
            {"label": "wizard-tab-pupil-data", "current": false, "done": false},
            {"label": "wizard-tab-own-data", "current": false, "done": false},
            {"label": "wizard-tab-new-password", "current": false, "done": false},
            {"label": "wizard-tab-terms", "current": false, "done": false}]);
        let school =
            json!({"id": "s", "name": "École", "data_changes": "request", "contact": "081"});
        for locale in Locale::ALL {
            for step in ["welcome", "pupil_data", "own_data", "new_password", "terms"] {
                let html = pages.render(
                    "wizard",
                    locale,
                    json!({
                        "csrf": "c", "step": step, "tabs": tabs, "position": 1, "count": 5,
                        "account": "a", "pupils": [{"identifier": "p", "fields": [field]}],
                        "own": [field], "schools": [school], "rules": [], "password_done": false,
                        "problems": {"heading": "reset-problems", "items": ["x"]}, "terms": [{"version": "v1", "text": "T"}], "back": true,
                    }),
                );
                assert!(html.contains("</html>"), "wizard {step} failed: {html}");
                assert_passwords_never_cut(step, &html);
                assert!(
                    !html.contains(">wizard-") && !html.contains(">reset-"),
                    "untranslated in {step} ({})",
                    locale.as_str()
                );
            }
            let html = pages.render("account", locale, json!({
                "csrf": "c", "account": "a", "kind": "account-kind-guardian", "own": [field],
                "schools": [school], "can_edit": true,
                "edit": {"street_address": null, "postal_code": null, "locality": null, "country": null, "email": null, "phone": null},
                "children": [{"identifier": "p", "fields": [field], "co_accounts": [{"identifier": "m", "name": null, "relation": "mother"}]}],
                "rules": [], "problems": {"heading": "reset-problems", "items": ["x"]}, "error": "account-error-current", "done": "account-done-sessions",
                "sessions": [{"since": "2026-12-07T07:55:00Z", "provider": null, "current": true}, {"since": "2026-12-06T18:10:00Z", "provider": "Microsoft", "current": false}],
                "other_sessions": true,
            }));
            assert!(html.contains("</html>"), "account failed: {html}");
            assert_passwords_never_cut("account", &html);
            assert!(
                !html.contains(">account-") && !html.contains(">wizard-"),
                "untranslated on the account page ({})",
                locale.as_str()
            );
        }
    }
}
