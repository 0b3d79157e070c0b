//! The composition root: the one place that knows every layer. It gives the domain what the
//! domain knows only through traits (the mail renderer, written from `templates/mail`), so
//! no layer imports one above it.

use std::sync::Arc;

use crate::config::Settings;
use crate::domain::Idp;
use crate::domain::clock::Clock;
use crate::i18n::{Translations, Zone};
use crate::mail_templates::MailTemplates;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Domain(#[from] crate::domain::StartError),
    #[error(transparent)]
    I18n(#[from] crate::i18n::I18nError),
    #[error(transparent)]
    MailTemplate(#[from] crate::mail_templates::MailTemplateError),
    #[error("time_zone: {0}")]
    TimeZone(String),
}

/// An instance's domain, with its texts and mail templates.
pub fn start(settings: Settings, clock: Arc<dyn Clock>) -> Result<Idp, StartError> {
    let translations = Arc::new(Translations::load()?);
    let zone = Zone::load(&settings.time_zone).map_err(StartError::TimeZone)?;
    let mail = MailTemplates::load(translations.clone(), zone.clone())?;
    Ok(Idp::start(
        settings,
        clock,
        translations,
        zone,
        Box::new(mail),
    )?)
}
