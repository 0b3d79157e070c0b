//! Mail from `templates/mail/`: for each mail a subject, a plain-text and an HTML body, the
//! bodies sharing partials (the account details CREOS puts at the bottom of every mail),
//! rendered in strict mode in the recipient's language.

use std::sync::Arc;

use handlebars::Handlebars;
use serde_json::Value;

use crate::domain::mail::{MailKind, MailRenderer, OutgoingMail, RenderError};
use crate::i18n::{DateTimeHelper, Locale, TranslateHelper, Translations, Zone};

/// The templates of each mail the domain sends: subject, text body, HTML body.
macro_rules! mail {
    ($kind:expr, $name:literal) => {
        (
            $kind,
            [
                include_str!(concat!("../../templates/mail/", $name, ".subject.hbs")),
                include_str!(concat!("../../templates/mail/", $name, ".text.hbs")),
                include_str!(concat!("../../templates/mail/", $name, ".html.hbs")),
            ],
        )
    };
}

const MAILS: [(MailKind, [&str; 3]); 8] = [
    mail!(MailKind::Test, "test"),
    mail!(MailKind::Reset, "reset"),
    mail!(MailKind::PasswordChanged, "password_changed"),
    mail!(MailKind::Identifiers, "identifiers"),
    mail!(MailKind::TemporaryPassword, "temporary_password"),
    mail!(MailKind::Invitation, "invitation"),
    mail!(MailKind::EmailChanged, "email_changed"),
    mail!(MailKind::SignInChanged, "sign_in_changed"),
];

pub struct MailTemplates {
    /// Subjects and text bodies: nothing escaped.
    plain: Handlebars<'static>,
    /// HTML bodies: everything escaped.
    html: Handlebars<'static>,
}

#[derive(Debug, thiserror::Error)]
#[error("mail template {0}: {1}")]
pub struct MailTemplateError(String, String);

impl MailTemplates {
    /// Mail templates whose times are shown in the organising body's time `zone`.
    pub fn load(translations: Arc<Translations>, zone: Zone) -> Result<Self, MailTemplateError> {
        let mut plain = Handlebars::new();
        plain.set_strict_mode(true);
        plain.register_escape_fn(handlebars::no_escape);
        plain.register_helper("t", Box::new(TranslateHelper::plain(translations.clone())));
        let mut html = Handlebars::new();
        html.set_strict_mode(true);
        html.register_helper("t", Box::new(TranslateHelper::html(translations)));
        plain.register_helper("datetime", Box::new(DateTimeHelper::new(zone.clone())));
        html.register_helper("datetime", Box::new(DateTimeHelper::new(zone)));
        fn err(name: &'static str) -> impl Fn(handlebars::TemplateError) -> MailTemplateError {
            move |e| MailTemplateError(name.to_owned(), e.to_string())
        }
        plain
            .register_partial(
                "account_text",
                include_str!("../../templates/mail/partials/account.text.hbs"),
            )
            .map_err(err("account_text"))?;
        html.register_partial(
            "account_html",
            include_str!("../../templates/mail/partials/account.html.hbs"),
        )
        .map_err(err("account_html"))?;
        html.register_partial(
            "layout_html",
            include_str!("../../templates/mail/partials/layout.html.hbs"),
        )
        .map_err(err("layout_html"))?;
        for (kind, [subject, text, body]) in MAILS {
            let name = kind.name();
            plain
                .register_template_string(&format!("{name}.subject"), subject)
                .map_err(err(name))?;
            plain
                .register_template_string(&format!("{name}.text"), text)
                .map_err(err(name))?;
            html.register_template_string(&format!("{name}.html"), body)
                .map_err(err(name))?;
        }
        Ok(Self { plain, html })
    }
}

impl MailRenderer for MailTemplates {
    /// Renders the mail of `kind` for `recipient` in `locale`; `data` gets `lang` added.
    fn render(
        &self,
        kind: MailKind,
        locale: Locale,
        recipient: &str,
        mut data: Value,
    ) -> Result<OutgoingMail, RenderError> {
        if let Some(map) = data.as_object_mut() {
            map.insert("lang".into(), Value::from(locale.as_str()));
        }
        let name = kind.name();
        let err = |e: handlebars::RenderError| RenderError {
            kind: name,
            message: e.to_string(),
        };
        Ok(OutgoingMail {
            recipient: recipient.to_owned(),
            language: Some(locale),
            subject: self
                .plain
                .render(&format!("{name}.subject"), &data)
                .map_err(err)?
                .trim()
                .to_owned(),
            text_body: self
                .plain
                .render(&format!("{name}.text"), &data)
                .map_err(err)?,
            html_body: self
                .html
                .render(&format!("{name}.html"), &data)
                .map_err(err)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every mail the domain may ask for has its templates.
    #[test]
    fn every_kind_has_templates() {
        for kind in MailKind::ALL {
            assert!(MAILS.iter().any(|(k, _)| *k == kind), "{kind:?}");
        }
    }

    #[test]
    fn renders_each_part_in_the_recipients_language() {
        let mails = MailTemplates::load(
            Arc::new(Translations::load().unwrap()),
            Zone::load("Europe/Brussels").unwrap(),
        )
        .unwrap();
        let data = json!({"identifier": "jean.dupont", "email": "jean.dupont@hotmail.com"});
        let fr = mails
            .render(
                MailKind::Test,
                Locale::Fr,
                "jean.dupont@hotmail.com",
                data.clone(),
            )
            .unwrap();
        assert_eq!(fr.subject, "Message de test du service d'identification");
        assert!(
            fr.text_body.contains("Votre identifiant : jean.dupont"),
            "{}",
            fr.text_body
        );
        assert!(
            fr.text_body.contains("(conservez-les"),
            "plain text is not HTML-escaped"
        );
        assert!(fr.html_body.contains("<strong>jean.dupont</strong>"));
        assert!(fr.html_body.contains("lang=\"fr\""));
        let nl = mails
            .render(MailKind::Test, Locale::Nl, "x@example.org", data)
            .unwrap();
        assert!(nl.text_body.contains("Je gebruikersnaam: jean.dupont"));
        let evil = mails
            .render(
                MailKind::Test,
                Locale::En,
                "x@example.org",
                json!({"identifier": "<script>", "email": null}),
            )
            .unwrap();
        assert!(evil.html_body.contains("&lt;script&gt;") && !evil.html_body.contains("<script>"));
    }

    /// Every mail renders in every language with the data its sender gives.
    #[test]
    fn every_mail_renders_in_every_language() {
        let mails = MailTemplates::load(
            Arc::new(Translations::load().unwrap()),
            Zone::load("Europe/Brussels").unwrap(),
        )
        .unwrap();
        let account = json!({"identifier": "lea.dupont", "email": "famille@example.org", "name": "Léa Dupont", "link": "https://sts/reset?token=T1", "code": "K7QM-2XPD"});
        let cases = [
            (
                MailKind::Reset,
                json!({"several": true, "accounts": [account.clone(), account], "hours": 48, "code_url": "https://sts/reset/code", "forgot_url": "https://sts/forgot"}),
            ),
            (
                MailKind::PasswordChanged,
                json!({"identifier": "lea.dupont", "email": null, "name": null, "when": "2026-11-23T18:55:00Z", "forgot_url": "https://sts/forgot"}),
            ),
            (
                MailKind::Identifiers,
                json!({"accounts": [{"identifier": "lea.dupont", "name": null, "relation": null}], "email": "famille@example.org", "login_url": "https://sts/login", "forgot_url": "https://sts/forgot"}),
            ),
            (
                MailKind::TemporaryPassword,
                json!({"identifier": "lea.dupont", "email": "a@b.c", "name": "Léa", "password": "Kq7m-2xpd-W9rt", "expires": "2026-11-30T10:00:00Z", "login_url": "https://sts/login"}),
            ),
            (
                MailKind::Invitation,
                json!({"identifier": "lea.dupont", "email": "a@b.c", "name": "Léa", "link": "https://sts/reset?token=T1", "code": "K7QM-2XPD", "code_url": "https://sts/reset/code", "days": 14}),
            ),
            (
                MailKind::EmailChanged,
                json!({"identifier": "lea.dupont", "email": null, "name": "Léa", "when": "2026-11-23T18:55:00Z", "new_email": "l***@e***.org", "forgot_url": "https://sts/forgot"}),
            ),
            (
                MailKind::EmailChanged,
                json!({"identifier": "lea.dupont", "email": null, "name": null, "when": "2026-11-23T18:55:00Z", "new_email": null, "forgot_url": "https://sts/forgot"}),
            ),
            (
                MailKind::SignInChanged,
                json!({"identifier": "lea.dupont", "email": null, "name": "Léa", "when": "2026-11-23T18:55:00Z", "provider": "Microsoft", "linked": true}),
            ),
            (
                MailKind::SignInChanged,
                json!({"identifier": "lea.dupont", "email": null, "name": "Léa", "when": "2026-11-23T18:55:00Z", "provider": "Google", "linked": false}),
            ),
        ];
        for locale in Locale::ALL {
            for (name, data) in &cases {
                let mail = mails
                    .render(*name, locale, "x@example.org", data.clone())
                    .unwrap();
                for part in [&mail.subject, &mail.text_body, &mail.html_body] {
                    assert!(
                        !part.contains("mail-"),
                        "untranslated key in {name:?}: {part}"
                    );
                }
            }
        }
        // Times in the organising body's zone, as the reader's language writes them.
        let changed = mails
            .render(
                MailKind::PasswordChanged,
                Locale::Fr,
                "x@example.org",
                cases[1].1.clone(),
            )
            .unwrap();
        assert!(
            changed.text_body.contains("modifié le 23/11/2026 à 19:55."),
            "{}",
            changed.text_body
        );
        assert!(changed.html_body.contains("modifié le 23/11/2026 à 19:55."));
        assert!(!changed.text_body.contains("UTC"));
        let temporary = mails
            .render(
                MailKind::TemporaryPassword,
                Locale::De,
                "x@example.org",
                cases[3].1.clone(),
            )
            .unwrap();
        assert!(
            temporary.text_body.contains("30.11.2026 um 11:00 Uhr"),
            "{}",
            temporary.text_body
        );
        let reset = mails
            .render(
                MailKind::Reset,
                Locale::Fr,
                "x@example.org",
                cases[0].1.clone(),
            )
            .unwrap();
        assert_eq!(
            reset
                .text_body
                .matches("https://sts/reset?token=T1")
                .count(),
            2
        );
        assert!(reset.text_body.contains("K7QM-2XPD"));
        assert!(reset.text_body.contains("Votre identifiant : lea.dupont"));
        assert!(
            reset
                .text_body
                .contains("mot de passe actuel reste valable")
        );
    }
}
