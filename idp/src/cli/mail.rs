//! `idp mail test`: proves the mail set-up end to end.

use clap::{Subcommand, ValueEnum};
use serde_json::json;

use super::CliResult;
use super::output::{open, print};
use crate::config::Settings;
use crate::domain::mail::{MailKind, deliver_due, enqueue};
use crate::domain::types::Email;
use crate::i18n::Locale;

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Send a test mail through the outbox, to check the SMTP settings.
    Test {
        #[arg(long)]
        to: String,
        #[arg(long, value_enum, default_value = "fr")]
        locale: LocaleArg,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LocaleArg {
    Fr,
    Nl,
    En,
    De,
}

impl From<LocaleArg> for Locale {
    fn from(arg: LocaleArg) -> Self {
        match arg {
            LocaleArg::Fr => Self::Fr,
            LocaleArg::Nl => Self::Nl,
            LocaleArg::En => Self::En,
            LocaleArg::De => Self::De,
        }
    }
}

pub fn mail(settings: Settings, command: MailCommand, json_out: bool) -> CliResult {
    let idp = open(settings)?;
    let mut conn = idp.conn()?;
    let MailCommand::Test { to, locale } = command;
    let to = Email::parse(&to)?;
    let mail = idp.mail.render(
        MailKind::Test,
        locale.into(),
        to.as_str(),
        json!({ "identifier": "jean.dupont", "email": to.as_str() }),
    )?;
    enqueue(&mut conn, &mail, idp.now())?;
    // Try at once, so the operator sees the outcome; a failure stays queued for the workers.
    let sent = deliver_due(&mut conn, &idp.mailer, idp.now())?;
    print(json_out, json!({ "delivered": sent > 0 }), || {
        if sent > 0 {
            format!("test mail to {} delivered", to.as_str())
        } else {
            format!(
                "test mail to {} could not be sent yet; it stays in the outbox and will be retried (see the log)",
                to.as_str()
            )
        }
    });
    Ok(())
}
