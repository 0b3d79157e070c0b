//! Durable mail: an outbox table written in the same transaction as what caused the mail,
//! and a worker in every instance that claims due mail, sends it and retries with back-off.
//! SMTP down for an hour loses nothing; two instances never send one mail twice (a claim is
//! a conditional UPDATE only one of them can win).

use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use lettre::message::dkim::{DkimConfig, DkimSigningAlgorithm, DkimSigningKey};
use lettre::message::{Mailbox, MultiPart};
use lettre::{FileTransport, Message, SmtpTransport, Transport as _};

use super::clock::to_db;
use super::{DomainError, DomainResult};
use crate::store::DbConn;
use crate::store::schema::mail_outbox;

/// A mail to send: one recipient, a subject, text and HTML bodies.
#[derive(Debug, Clone)]
pub struct OutgoingMail {
    pub recipient: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
}

/// How long a claim protects a mail being sent from the other instances.
const CLAIM: Duration = Duration::seconds(120);
/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::minutes(10);

/// Puts a mail in the outbox; call inside the transaction that caused it.
pub fn enqueue(conn: &mut DbConn, mail: &OutgoingMail, now: DateTime<Utc>) -> DomainResult<()> {
    diesel::insert_into(mail_outbox::table)
        .values((
            mail_outbox::id.eq(uuid::Uuid::new_v4().to_string()),
            mail_outbox::recipient.eq(&mail.recipient),
            mail_outbox::subject.eq(&mail.subject),
            mail_outbox::text_body.eq(&mail.text_body),
            mail_outbox::html_body.eq(&mail.html_body),
            mail_outbox::created_at.eq(to_db(now)),
            mail_outbox::next_attempt_at.eq(to_db(now)),
            mail_outbox::attempts.eq(0),
        ))
        .execute(conn)?;
    Ok(())
}

/// Where mail goes: an SMTP server, or `.eml` files (the zero-configuration default, so a
/// newcomer can follow a reset link without a mail server).
pub struct Mailer {
    transport: Transport,
    /// Signs every mail (RFC 6376) when configured.
    dkim: Option<DkimConfig>,
}

enum Transport {
    Smtp(Box<SmtpTransport>),
    Files(PathBuf),
}

/// DKIM signing (RFC 6376) of outgoing mail, so receivers can check it comes from the
/// school's domain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkimSettings {
    /// The signing domain (`d=`), e.g. `sts.school.example`.
    pub domain: String,
    /// The selector (`s=`): the key is published at `SELECTOR._domainkey.DOMAIN`.
    pub selector: String,
    /// `rsa` (a PKCS#1 PEM file) or `ed25519` (a file with the base64 of the 32-byte key).
    pub algorithm: DkimAlgorithm,
    pub private_key_file: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DkimAlgorithm {
    Rsa,
    Ed25519,
}

fn dkim_config(settings: &DkimSettings) -> Result<DkimConfig, String> {
    let key = std::fs::read_to_string(&settings.private_key_file)
        .map_err(|e| format!("{}: {e}", settings.private_key_file.display()))?;
    let algorithm = match settings.algorithm {
        DkimAlgorithm::Rsa => DkimSigningAlgorithm::Rsa,
        DkimAlgorithm::Ed25519 => DkimSigningAlgorithm::Ed25519,
    };
    let key = DkimSigningKey::new(key.trim(), algorithm)
        .map_err(|e| format!("{}: {e}", settings.private_key_file.display()))?;
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
        dkim: Option<&DkimSettings>,
    ) -> Result<Self, String> {
        let transport = match smtp_url {
            Some(url) => SmtpTransport::from_url(url)
                .map(|b| Transport::Smtp(Box::new(b.build())))
                .map_err(|e| format!("smtp_url: {e}"))?,
            None => Transport::Files(PathBuf::from(outbox_dir)),
        };
        let dkim = dkim
            .map(dkim_config)
            .transpose()
            .map_err(|e| format!("dkim: {e}"))?;
        Ok(Self { transport, dkim })
    }

    /// True when mail is written to files (no SMTP server configured).
    pub fn writes_files(&self) -> bool {
        matches!(self.transport, Transport::Files(_))
    }

    fn send(&self, from: &Mailbox, mail: &OutgoingMail) -> Result<(), String> {
        let to: Mailbox = mail
            .recipient
            .parse()
            .map_err(|e| format!("recipient: {e}"))?;
        let mut message = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(&mail.subject)
            .multipart(MultiPart::alternative_plain_html(
                mail.text_body.clone(),
                mail.html_body.clone(),
            ))
            .map_err(|e| format!("message: {e}"))?;
        if let Some(dkim) = &self.dkim {
            message.sign(dkim);
        }
        match &self.transport {
            Transport::Smtp(smtp) => smtp.send(&message).map(|_| ()).map_err(|e| e.to_string()),
            Transport::Files(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                let id = FileTransport::new(dir)
                    .send(&message)
                    .map_err(|e| e.to_string())?;
                tracing::info!(file = %dir.join(format!("{id}.eml")).display(), "mail written (no SMTP configured)");
                Ok(())
            }
        }
    }
}

/// Claims the mail due at `now`, sends it, and records the outcome. Returns how many were
/// delivered.
pub fn deliver_due(
    conn: &mut DbConn,
    mailer: &Mailer,
    from: &Mailbox,
    now: DateTime<Utc>,
) -> DomainResult<usize> {
    let due: Vec<(String, String, String, String, String, i32)> = mail_outbox::table
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
            mail_outbox::subject,
            mail_outbox::text_body,
            mail_outbox::html_body,
            mail_outbox::attempts,
        ))
        .load(conn)?;
    let mut delivered = 0;
    for (id, recipient, subject, text_body, html_body, attempts) in due {
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
            subject,
            text_body,
            html_body,
        };
        match mailer.send(from, &mail) {
            Ok(()) => {
                diesel::update(mail_outbox::table.find(&id))
                    .set((
                        mail_outbox::sent_at.eq(to_db(now)),
                        mail_outbox::attempts.eq(attempts + 1),
                        mail_outbox::claimed_until.eq(None::<chrono::NaiveDateTime>),
                    ))
                    .execute(conn)?;
                let event = super::audit::Event {
                    kind: super::audit::Kind::MailSent,
                    user: None,
                    client_id: None,
                    address: None,
                    detail: &recipient,
                };
                super::audit::record(conn, event, now)?;
                delivered += 1;
            }
            Err(error) => {
                // 30 s, 1 min, 2 min … capped: retried until it goes, never dropped.
                let backoff =
                    Duration::seconds(30 * (1i64 << attempts.clamp(0, 10))).min(MAX_BACKOFF);
                tracing::warn!(mail = %id, attempts = attempts + 1, %error, "mail not sent; will retry");
                diesel::update(mail_outbox::table.find(&id))
                    .set((
                        mail_outbox::attempts.eq(attempts + 1),
                        mail_outbox::last_error.eq(error.chars().take(500).collect::<String>()),
                        mail_outbox::next_attempt_at.eq(to_db(now + backoff)),
                        mail_outbox::claimed_until.eq(None::<chrono::NaiveDateTime>),
                    ))
                    .execute(conn)?;
            }
        }
    }
    Ok(delivered)
}

/// The configured sender, checked at start.
pub fn sender(mail_from: &str) -> DomainResult<Mailbox> {
    mail_from.parse().map_err(|_| {
        DomainError::invalid("mail_from", "a sender like \"STS <no-reply@example.org>\"")
    })
}
