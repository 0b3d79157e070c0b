//! Durable mail: an outbox table written in the same transaction as what caused the mail,
//! and a worker in every instance that claims due mail, sends it and retries with back-off.
//! SMTP down for an hour loses nothing; two instances never send one mail twice (a claim is
//! a conditional UPDATE only one of them can win).

use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use lettre::message::dkim::{DkimConfig, DkimSigningAlgorithm, DkimSigningKey};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{FileTransport, Message, SmtpTransport, Transport as _};

use super::clock::to_db;
use super::{DomainError, DomainResult};
pub use crate::config::{DkimAlgorithm, DkimSettings};
use crate::i18n::Locale;
use crate::store::DbConn;
use crate::store::schema::mail_outbox;

/// A mail to send: one recipient, a subject, text and HTML bodies, in one language.
#[derive(Debug, Clone)]
pub struct OutgoingMail {
    pub recipient: String,
    /// The language it is written in (its `Content-Language`); unknown for mail queued
    /// before the outbox recorded it.
    pub language: Option<Locale>,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
}

/// The mails the STS sends. What each says is the renderer's business; the domain gives
/// the facts (identifiers, links, codes, moments).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailKind {
    /// `idp mail test`: proves the mail set-up.
    Test,
    /// A reset link and code, for one account or several sharing a mailbox.
    Reset,
    /// "Your password was changed."
    PasswordChanged,
    /// "Forgot your identifier?": the identifiers using an address.
    Identifiers,
    /// A temporary password an administrator issued.
    TemporaryPassword,
    /// "Your account moved, choose your password": a migrated account's invitation.
    Invitation,
    /// "The e-mail address of your account was changed", to the address it had.
    EmailChanged,
    /// "A Microsoft (Google…) sign-in was linked to your account", or removed from it.
    SignInChanged,
}

impl MailKind {
    pub const ALL: [MailKind; 8] = [
        Self::Test,
        Self::Reset,
        Self::PasswordChanged,
        Self::Identifiers,
        Self::TemporaryPassword,
        Self::Invitation,
        Self::EmailChanged,
        Self::SignInChanged,
    ];

    /// Its name, as its templates are named.
    pub fn name(self) -> &'static str {
        match self {
            Self::Test => "test",
            Self::Reset => "reset",
            Self::PasswordChanged => "password_changed",
            Self::Identifiers => "identifiers",
            Self::TemporaryPassword => "temporary_password",
            Self::Invitation => "invitation",
            Self::EmailChanged => "email_changed",
            Self::SignInChanged => "sign_in_changed",
        }
    }
}

/// Writes a mail of `kind` for one recipient in their language from the facts in `data`.
/// The domain knows mail only through this; `mail_templates` implements it.
pub trait MailRenderer: Send + Sync {
    fn render(
        &self,
        kind: MailKind,
        locale: Locale,
        recipient: &str,
        data: serde_json::Value,
    ) -> Result<OutgoingMail, RenderError>;
}

/// A mail that could not be written: a template fault, never the recipient's.
#[derive(Debug, thiserror::Error)]
#[error("mail {kind}: {message}")]
pub struct RenderError {
    pub kind: &'static str,
    pub message: String,
}

/// How long a claim protects a mail being sent from the other instances.
const CLAIM: Duration = Duration::seconds(120);
/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::minutes(10);

/// Puts a mail in the outbox; call inside the transaction that caused it.
pub fn enqueue(conn: &mut DbConn, mail: &OutgoingMail, now: DateTime<Utc>) -> DomainResult<()> {
    enqueue_at(conn, mail, now, now)
}

/// Puts a mail in the outbox to leave at `not_before` (invitations spread over time).
pub fn enqueue_at(
    conn: &mut DbConn,
    mail: &OutgoingMail,
    now: DateTime<Utc>,
    not_before: DateTime<Utc>,
) -> DomainResult<()> {
    diesel::insert_into(mail_outbox::table)
        .values((
            mail_outbox::id.eq(uuid::Uuid::new_v4().to_string()),
            mail_outbox::recipient.eq(&mail.recipient),
            mail_outbox::language.eq(mail.language.map(Locale::as_str)),
            mail_outbox::subject.eq(&mail.subject),
            mail_outbox::text_body.eq(&mail.text_body),
            mail_outbox::html_body.eq(&mail.html_body),
            mail_outbox::created_at.eq(to_db(now)),
            mail_outbox::next_attempt_at.eq(to_db(not_before.max(now))),
            mail_outbox::attempts.eq(0),
        ))
        .execute(conn)?;
    crate::metrics::mail(crate::metrics::Outcome::queued);
    Ok(())
}

/// How many mails wait in the outbox, and since when the oldest has (for `/metrics`).
pub fn outbox_backlog(
    conn: &mut DbConn,
    now: DateTime<Utc>,
) -> DomainResult<(i64, Option<Duration>)> {
    let unsent = mail_outbox::table.filter(mail_outbox::sent_at.is_null());
    let count: i64 = unsent.count().get_result(conn)?;
    let oldest: Option<chrono::NaiveDateTime> = unsent
        .select(diesel::dsl::min(mail_outbox::created_at))
        .first(conn)?;
    Ok((count, oldest.map(|at| now - super::clock::from_db(at))))
}

/// Why a mail could not be sent (it stays in the outbox and is retried), or why the mailer
/// could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("smtp_url: {0}")]
    SmtpUrl(lettre::transport::smtp::Error),
    #[error("dkim: {0}")]
    Dkim(String),
    #[error("recipient {0:?}: {1}")]
    Recipient(String, lettre::address::AddressError),
    #[error("message: {0}")]
    Message(#[from] lettre::error::Error),
    #[error("SMTP: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error("{0}: {1}")]
    Directory(PathBuf, std::io::Error),
    #[error("writing the .eml file: {0}")]
    File(#[from] lettre::transport::file::Error),
}

/// Who every mail is from and where replies go, checked at start.
#[derive(Debug, Clone)]
pub struct Sender {
    pub from: Mailbox,
    /// The organising body's help desk, when replies should reach someone.
    pub reply_to: Option<Mailbox>,
}

impl Sender {
    pub fn parse(from: &str, reply_to: Option<&str>) -> DomainResult<Self> {
        let from = from.parse().map_err(|_| {
            DomainError::invalid("mail_from", "a sender like \"STS <no-reply@example.org>\"")
        })?;
        let reply_to = reply_to.map(str::parse).transpose().map_err(|_| {
            DomainError::invalid(
                "mail_reply_to",
                "an address like \"Help desk <helpdesk@example.org>\"",
            )
        })?;
        Ok(Self { from, reply_to })
    }

    /// The `Message-ID` of the outbox row `id`: unique, on the sender's own domain (RFC 5322
    /// §3.6.4), and the same at every attempt, so a receiver that got a retry twice can
    /// drop the copy. Gmail refuses mail without one.
    pub fn message_id(&self, id: &str) -> String {
        format!("<{id}@{}>", self.from.email.domain())
    }

    /// The `From` header as a quoted string when the display name is plain ASCII. lettre
    /// base64-encodes a name as soon as it holds an apostrophe ("Service d'identification"),
    /// and spam filters count base64 that was not needed (SpamAssassin's
    /// `FROM_EXCESS_BASE64`). A name outside ASCII keeps lettre's RFC 2047 encoding.
    fn plain_from(&self) -> Option<HeaderValue> {
        let name = self.from.name.as_deref()?.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
            return None;
        }
        let quoted = name.replace('\\', "\\\\").replace('"', "\\\"");
        let encoded = format!("\"{quoted}\" <{}>", self.from.email);
        // One unfolded line within RFC 5322's recommended 78 characters.
        (encoded.len() + "From: ".len() <= 78).then(|| {
            HeaderValue::dangerous_new_pre_encoded(
                HeaderName::new_from_ascii_str("From"),
                self.from.to_string(),
                encoded,
            )
        })
    }
}

/// A header lettre has no type for.
fn header(name: &'static str, value: &str) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value.to_owned())
}

/// Where mail goes: an SMTP server, or `.eml` files (the zero-configuration default, so a
/// newcomer can follow a reset link without a mail server).
pub struct Mailer {
    transport: Transport,
    sender: Sender,
    /// Signs every mail (RFC 6376) when configured.
    dkim: Option<DkimConfig>,
}

enum Transport {
    Smtp(Box<SmtpTransport>),
    Files(PathBuf),
}

fn dkim_config(settings: &DkimSettings) -> Result<DkimConfig, MailError> {
    let file = settings.private_key_file.display();
    let key = std::fs::read_to_string(&settings.private_key_file)
        .map_err(|e| MailError::Dkim(format!("{file}: {e}")))?;
    let algorithm = match settings.algorithm {
        DkimAlgorithm::Rsa => DkimSigningAlgorithm::Rsa,
        DkimAlgorithm::Ed25519 => DkimSigningAlgorithm::Ed25519,
    };
    let key = DkimSigningKey::new(key.trim(), algorithm)
        .map_err(|e| MailError::Dkim(format!("{file}: {e}")))?;
    Ok(DkimConfig::default_config(
        settings.selector.clone(),
        settings.domain.clone(),
        key,
    ))
}

impl Mailer {
    /// `smtp_url` as lettre reads it: `smtp://host:25`, `smtp://host:587?tls=required`
    /// (STARTTLS), `smtps://user:password@host:465` (TLS).
    pub fn new(
        smtp_url: Option<&str>,
        outbox_dir: &str,
        sender: Sender,
        dkim: Option<&DkimSettings>,
    ) -> Result<Self, MailError> {
        let transport = match smtp_url {
            Some(url) => SmtpTransport::from_url(url)
                .map(|b| Transport::Smtp(Box::new(b.build())))
                .map_err(MailError::SmtpUrl)?,
            None => Transport::Files(PathBuf::from(outbox_dir)),
        };
        let dkim = dkim.map(dkim_config).transpose()?;
        Ok(Self {
            transport,
            sender,
            dkim,
        })
    }

    pub fn sender(&self) -> &Sender {
        &self.sender
    }

    /// The message for outbox row `id`, with the headers of automated mail: a stable
    /// `Message-ID`, `Auto-Submitted` (RFC 3834 §5) and its Exchange counterpart, so
    /// out-of-office replies do not answer it, `Content-Language` (RFC 3282), and
    /// `Reply-To` when set. lettre adds `Date` and `MIME-Version`.
    pub fn compose(&self, id: &str, mail: &OutgoingMail) -> Result<Message, MailError> {
        let to: Mailbox = mail
            .recipient
            .parse()
            .map_err(|e| MailError::Recipient(mail.recipient.clone(), e))?;
        let mut builder = Message::builder()
            .message_id(Some(self.sender.message_id(id)))
            .from(self.sender.from.clone())
            .to(to)
            .subject(&mail.subject);
        if let Some(reply_to) = &self.sender.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        let mut message = builder.multipart(MultiPart::alternative_plain_html(
            mail.text_body.clone(),
            mail.html_body.clone(),
        ))?;
        let headers = message.headers_mut();
        if let Some(from) = self.sender.plain_from() {
            headers.insert_raw(from);
        }
        headers.insert_raw(header("Auto-Submitted", "auto-generated"));
        headers.insert_raw(header("X-Auto-Response-Suppress", "OOF, AutoReply"));
        if let Some(language) = mail.language {
            headers.insert_raw(header("Content-Language", language.as_str()));
        }
        if let Some(dkim) = &self.dkim {
            message.sign(dkim);
        }
        Ok(message)
    }

    fn send(&self, id: &str, mail: &OutgoingMail) -> Result<(), MailError> {
        let message = self.compose(id, mail)?;
        match &self.transport {
            Transport::Smtp(smtp) => {
                smtp.send(&message)?;
                Ok(())
            }
            Transport::Files(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| MailError::Directory(dir.clone(), e))?;
                let file = FileTransport::new(dir).send(&message)?;
                tracing::info!(file = %dir.join(format!("{file}.eml")).display(), "mail written (no SMTP configured)");
                Ok(())
            }
        }
    }
}

/// Claims the mail due at `now`, sends it, and records the outcome. Returns how many were
/// delivered.
pub fn deliver_due(conn: &mut DbConn, mailer: &Mailer, now: DateTime<Utc>) -> DomainResult<usize> {
    type Due = (String, String, Option<String>, String, String, String, i32);
    let due: Vec<Due> = mail_outbox::table
        .filter(mail_outbox::sent_at.is_null())
        .filter(mail_outbox::next_attempt_at.le(to_db(now)))
        .filter(
            mail_outbox::claimed_until
                .is_null()
                .or(mail_outbox::claimed_until.lt(to_db(now))),
        )
        .order(mail_outbox::next_attempt_at)
        .limit(50)
        .select((
            mail_outbox::id,
            mail_outbox::recipient,
            mail_outbox::language,
            mail_outbox::subject,
            mail_outbox::text_body,
            mail_outbox::html_body,
            mail_outbox::attempts,
        ))
        .load(conn)?;
    let mut delivered = 0;
    for (id, recipient, language, subject, text_body, html_body, attempts) in due {
        // Still due and unclaimed: another instance may have tried it since the SELECT,
        // and a failed attempt must wait out its back-off.
        let won = diesel::update(
            mail_outbox::table
                .find(&id)
                .filter(mail_outbox::sent_at.is_null())
                .filter(mail_outbox::next_attempt_at.le(to_db(now)))
                .filter(
                    mail_outbox::claimed_until
                        .is_null()
                        .or(mail_outbox::claimed_until.lt(to_db(now))),
                ),
        )
        .set(mail_outbox::claimed_until.eq(to_db(now + CLAIM)))
        .execute(conn)?;
        if won == 0 {
            continue; // another instance has it
        }
        let mail = OutgoingMail {
            recipient: recipient.clone(),
            language: language.as_deref().and_then(Locale::parse),
            subject,
            text_body,
            html_body,
        };
        match mailer.send(&id, &mail) {
            Ok(()) => {
                diesel::update(mail_outbox::table.find(&id))
                    .set((
                        mail_outbox::sent_at.eq(to_db(now)),
                        mail_outbox::attempts.eq(attempts + 1),
                        mail_outbox::claimed_until.eq(None::<chrono::NaiveDateTime>),
                    ))
                    .execute(conn)?;
                super::audit::Event::new(super::audit::Kind::MailSent)
                    .detail(&recipient)
                    .record(conn, now)?;
                crate::metrics::mail(crate::metrics::Outcome::sent);
                delivered += 1;
            }
            Err(error) => {
                // 30 s, 1 min, 2 min … capped: retried until it goes, never dropped.
                let backoff =
                    Duration::seconds(30 * (1i64 << attempts.clamp(0, 10))).min(MAX_BACKOFF);
                tracing::warn!(mail = %id, attempts = attempts + 1, %error, "mail not sent; will retry");
                crate::metrics::mail(crate::metrics::Outcome::retried);
                diesel::update(mail_outbox::table.find(&id))
                    .set((
                        mail_outbox::attempts.eq(attempts + 1),
                        mail_outbox::last_error.eq(error
                            .to_string()
                            .chars()
                            .take(500)
                            .collect::<String>()),
                        mail_outbox::next_attempt_at.eq(to_db(now + backoff)),
                        mail_outbox::claimed_until.eq(None::<chrono::NaiveDateTime>),
                    ))
                    .execute(conn)?;
            }
        }
    }
    Ok(delivered)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailer(from: &str) -> Mailer {
        let sender = Sender::parse(from, Some("Help desk <helpdesk@school.example>")).unwrap();
        Mailer::new(None, "./data/outbox", sender, None).unwrap()
    }

    fn mail() -> OutgoingMail {
        OutgoingMail {
            recipient: "parent@example.org".into(),
            language: Some(Locale::Nl),
            subject: "Kies een nieuw wachtwoord".into(),
            text_body: "tekst".into(),
            html_body: "<p>html</p>".into(),
        }
    }

    fn formatted(message: &Message) -> String {
        String::from_utf8(message.formatted()).unwrap()
    }

    /// A retry of an outbox row is the same message: the same Message-ID, on the sender's
    /// domain; another row gets another.
    #[test]
    fn message_id_is_the_rows_on_the_senders_domain() {
        let mailer = mailer("Service d'identification <no-reply@sts.school.example>");
        let first = formatted(&mailer.compose("row-1", &mail()).unwrap());
        let again = formatted(&mailer.compose("row-1", &mail()).unwrap());
        let other = formatted(&mailer.compose("row-2", &mail()).unwrap());
        let id = |m: &str| {
            m.lines()
                .find(|l| l.starts_with("Message-ID:"))
                .unwrap()
                .to_owned()
        };
        assert_eq!(id(&first), "Message-ID: <row-1@sts.school.example>");
        assert_eq!(id(&first), id(&again));
        assert_ne!(id(&first), id(&other));
        for header in [
            "From: \"Service d'identification\" <no-reply@sts.school.example>",
            "Reply-To: \"Help desk\" <helpdesk@school.example>",
            "Auto-Submitted: auto-generated",
            "X-Auto-Response-Suppress: OOF, AutoReply",
            "Content-Language: nl",
        ] {
            assert!(first.lines().any(|l| l == header), "{header} in {first}");
        }
    }

    /// A sender or reply-to address that is not one is refused, naming its setting.
    #[test]
    fn settings_that_are_no_address_are_named() {
        let err = Sender::parse("STS <sts@example.org>", Some("help desk")).unwrap_err();
        assert!(err.to_string().contains("mail_reply_to"), "{err}");
        let err = Sender::parse("no-reply", None).unwrap_err();
        assert!(err.to_string().contains("mail_from"), "{err}");
    }

    /// A name outside ASCII still needs RFC 2047; a plain one is written as it is.
    #[test]
    fn from_name_is_encoded_only_when_needed() {
        let plain = formatted(
            &mailer("STS <sts@example.org>")
                .compose("r", &mail())
                .unwrap(),
        );
        assert!(
            plain
                .lines()
                .any(|l| l == "From: \"STS\" <sts@example.org>"),
            "{plain}"
        );
        let accented = formatted(
            &mailer("Service de l'école <sts@example.org>")
                .compose("r", &mail())
                .unwrap(),
        );
        let from = accented.lines().find(|l| l.starts_with("From:")).unwrap();
        assert!(from.contains("=?utf-8?"), "{from}");
    }
}
