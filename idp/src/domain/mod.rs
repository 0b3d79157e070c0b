//! The identity provider's domain: accounts, clients, keys and the OIDC protocol. It knows
//! nothing of HTTP; the web layer extracts input, calls in here and maps the result.

pub mod account;
pub mod admin;
pub mod audit;
pub mod branding;
pub mod clients;
pub mod clock;
pub mod error;
pub mod janitor;
pub mod keys;
pub mod links;
pub mod login;
pub mod mail;
pub mod migration;
pub mod oidc;
pub mod password_policy;
pub mod personal_data;
pub mod recovery;
pub mod required_actions;
pub mod resets;
pub mod schools;
pub mod secrets;
pub mod spreadsheet;
pub mod terms;
pub mod throttle;
pub mod types;
pub mod upstream;
pub mod users;
pub mod wizard;

use std::sync::{Arc, RwLock};

pub use error::{DomainError, DomainResult, ErrorCode, RefusedWrite};

use crate::config::Settings;
use crate::crypto::password::PasswordHasher;
use crate::crypto::sealing::MasterKey;
use crate::store::{DbPool, PooledDb};
use clock::Clock;
use keys::KeySet;

/// Everything a request needs, shared by all workers of one instance. Holds no state of
/// its own beyond caches of what the database says (the key set), so instances scale out.
pub struct Idp {
    pub settings: Settings,
    pub pool: DbPool,
    pub clock: Arc<dyn Clock>,
    pub hasher: PasswordHasher,
    pub master: Option<MasterKey>,
    pub mailer: mail::Mailer,
    /// The texts of pages and mails, shared with the web.
    pub translations: Arc<crate::i18n::Translations>,
    /// The organising body's time zone (`time_zone`), read once at start.
    pub zone: crate::i18n::Zone,
    /// Writes mails; the domain knows it only through the trait.
    pub mail: Box<dyn mail::MailRenderer>,
    /// The upstream providers people may log in with, resolved from the settings.
    pub upstream: upstream::Providers,
    /// The clients this instance read lately (`client_cache_seconds`).
    pub client_cache: clients::ClientCache,
    keys: RwLock<Arc<KeySet>>,
}

impl Idp {
    /// Opens the store, applies migrations, syncs configured clients, ensures keys exist.
    /// `crate::app::start` gives it the parts it knows only through traits.
    pub fn start(
        settings: Settings,
        clock: Arc<dyn Clock>,
        translations: Arc<crate::i18n::Translations>,
        zone: crate::i18n::Zone,
        mail: Box<dyn mail::MailRenderer>,
    ) -> Result<Self, StartError> {
        let pool = crate::store::connect_waiting(
            &settings.database_url,
            settings.database_pool_size,
            std::time::Duration::from_secs(settings.database_timeout_seconds.max(1)),
        )?;
        let mut conn = pool.get().map_err(crate::store::StoreError::from)?;
        crate::store::migrate(&mut conn)?;
        let master = settings
            .master_key_bytes()
            .map(|b| MasterKey::new(&b))
            .transpose()?;
        let now = clock.now();
        clients::sync_static(&mut conn, &settings.clients, now)?;
        keys::ensure_keys(&mut conn, master.as_ref(), now)?;
        let key_set = keys::load(&mut conn, master.as_ref(), now)?;
        let hasher = PasswordHasher::new(settings.password_hashing)?;
        let sender = mail::Sender::parse(&settings.mail_from, settings.mail_reply_to.as_deref())?;
        let mailer = mail::Mailer::new(
            settings.smtp_url.as_deref(),
            &settings.outbox_dir,
            sender,
            settings.dkim.as_ref(),
        )?;
        let upstream = upstream::Providers::from_settings(&settings.upstream);
        let client_cache = clients::ClientCache::new(settings.client_cache_seconds);
        Ok(Self {
            upstream,
            client_cache,
            settings,
            pool,
            clock,
            hasher,
            master,
            mailer,
            translations,
            zone,
            mail,
            keys: RwLock::new(key_set),
        })
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    pub fn conn(&self) -> DomainResult<PooledDb> {
        Ok(self.pool.get()?)
    }

    pub fn keys(&self) -> Arc<KeySet> {
        match self.keys.read() {
            Ok(k) => k.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Re-reads the key set, so rotations made by the CLI or another instance take effect.
    /// How rotations publish and retire keys, from the settings.
    pub fn rotation_times(&self) -> keys::RotationTimes {
        let s = &self.settings;
        keys::RotationTimes {
            lead: chrono::Duration::seconds(s.signing_key_publish_lead_seconds),
            max_token_ttl: chrono::Duration::seconds(
                s.access_token_ttl_seconds.max(s.id_token_ttl_seconds),
            ),
        }
    }

    /// The scheduled rotation (`signing_key_rotation_days`), when it is due; every
    /// instance asks periodically, one rotates.
    pub fn rotate_keys_if_due(&self) -> DomainResult<Option<Vec<String>>> {
        let days = self.settings.signing_key_rotation_days;
        if days == 0 {
            return Ok(None);
        }
        let every = chrono::Duration::days(i64::from(days));
        let mut conn = self.conn()?;
        let created = keys::rotate_if_due(
            &mut conn,
            self.master.as_ref(),
            self.now(),
            self.rotation_times(),
            every,
        )?;
        if let Some(kids) = &created {
            tracing::info!(keys = ?kids, "scheduled rotation: new signing keys published");
        }
        Ok(created)
    }

    pub fn reload_keys(&self) -> DomainResult<()> {
        let mut conn = self.conn()?;
        let fresh = keys::load(&mut conn, self.master.as_ref(), self.now())?;
        match self.keys.write() {
            Ok(mut k) => *k = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
        Ok(())
    }

    /// The language of mail and pages when nothing better is known.
    pub fn default_locale(&self) -> crate::i18n::Locale {
        crate::i18n::Locale::parse(&self.settings.default_locale).unwrap_or(crate::i18n::Locale::Fr)
    }

    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.settings.issuer)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
    #[error(transparent)]
    Mail(#[from] mail::MailError),
}
