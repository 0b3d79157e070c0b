//! HTML pages from `templates/`, rendered by handlebars in strict mode, every text through
//! the `t` helper (Fluent).

use std::sync::Arc;

use handlebars::Handlebars;

use crate::i18n::{Locale, TranslateHelper, Translations};

const TEMPLATES: [(&str, &str); 6] = [
    ("layout", include_str!("../../../templates/layout.hbs")),
    ("login", include_str!("../../../templates/login.hbs")),
    ("error", include_str!("../../../templates/error.hbs")),
    ("logout", include_str!("../../../templates/logout.hbs")),
    (
        "logged_out",
        include_str!("../../../templates/logged_out.hbs"),
    ),
    ("home", include_str!("../../../templates/home.hbs")),
];

pub struct Pages {
    registry: Handlebars<'static>,
    pub translations: Arc<Translations>,
}

#[derive(Debug, thiserror::Error)]
pub enum PagesError {
    #[error("template {0}: {1}")]
    Template(&'static str, String),
    #[error(transparent)]
    I18n(#[from] crate::i18n::I18nError),
}

impl Pages {
    pub fn load(translations: Arc<Translations>) -> Result<Self, PagesError> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        registry.register_helper("t", Box::new(TranslateHelper::html(translations.clone())));
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
        })
    }

    /// Renders page `name`; `data` gets `lang` added.
    pub fn render(&self, name: &str, locale: Locale, mut data: serde_json::Value) -> String {
        if let Some(map) = data.as_object_mut() {
            map.insert("lang".into(), serde_json::json!(locale.as_str()));
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn login_page_renders_in_every_language() {
        let pages = Pages::load(Arc::new(Translations::load().unwrap())).unwrap();
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
}
