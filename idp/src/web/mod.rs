//! HTTP: thin actix handlers that extract input, call the domain on the blocking pool and
//! map the result. Errors become HTTP in `error` only.

pub mod assets;
pub mod client_address;
pub mod cookies;
pub mod csrf;
pub mod error;
pub mod handlers;
pub mod landing;
pub mod pages;
pub mod password_gate;
pub mod shutdown;
pub mod telemetry;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::ErrorHandlers;
use actix_web::{App, HttpRequest, HttpServer, web};

use crate::domain::Idp;
use crate::i18n::{self, Locale};
use pages::Pages;

/// Shared by every worker: the domain, and what only the web needs.
pub struct AppState {
    pub idp: Arc<Idp>,
    pub pages: Pages,
    /// Signs CSRF form tokens; the secret lives in the database, so every instance checks
    /// every form.
    pub csrf_key: aws_lc_rs::hmac::Key,
    /// The discovery document, built once (it depends on the settings only); each answer
    /// shares these bytes, nothing is copied.
    pub discovery_json: web::Bytes,
    /// The STS as a relying party of the upstream providers (their discovery cached).
    pub federation: crate::federation::Federation,
    /// Set once the instance is shutting down: `/readyz` then says it is not ready.
    pub draining: shutdown::Draining,
    /// Logins wait here for a password check (bounded: beyond it, "try again").
    pub password_gate: password_gate::PasswordGate,
    /// `metrics_listen`, read once: the listener that serves the metrics alone.
    pub metrics_address: Option<std::net::SocketAddr>,
}

pub type State = web::Data<AppState>;

impl AppState {
    pub fn default_locale(&self) -> Locale {
        Locale::parse(&self.idp.settings.default_locale).unwrap_or(Locale::Fr)
    }

    /// The page language for this request (see `i18n::negotiate` for the order).
    pub fn locale(&self, req: &HttpRequest, ui_locales: Option<&str>) -> Locale {
        self.locale_for(req, ui_locales, None)
    }

    /// The page language for this request of a person whose account reads `account`.
    pub fn locale_for(
        &self,
        req: &HttpRequest,
        ui_locales: Option<&str>,
        account: Option<Locale>,
    ) -> Locale {
        let accept = req
            .headers()
            .get(actix_web::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok());
        let wishes = i18n::Wishes {
            chosen: cookies::chosen_language(req),
            ui_locales,
            account,
            accept_language: accept,
        };
        i18n::negotiate(wishes, self.default_locale())
    }
}

/// A server built on its listener: await `server` to run it; `draining` is what the
/// shutdown sequence sets (`shutdown::on_signal`).
pub struct Running {
    pub server: Server,
    pub draining: shutdown::Draining,
}

/// Builds the server on `listener`. The returned server runs until stopped; it does not
/// watch signals itself (`idp serve` does, through `shutdown::on_signal`).
pub fn server(idp: Arc<Idp>, listener: TcpListener) -> std::io::Result<Running> {
    let pages =
        Pages::load(idp.translations.clone(), idp.zone.clone()).map_err(std::io::Error::other)?;
    let max_body = idp.settings.max_body_bytes;
    let workers = match idp.settings.workers {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let csrf_secret = {
        let mut conn = idp.conn().map_err(std::io::Error::other)?;
        let (master, now) = (idp.master.as_ref(), idp.now());
        crate::domain::secrets::get_or_create(&mut conn, "csrf", master, now)
            .map_err(std::io::Error::other)?
    };
    let discovery = crate::domain::oidc::discovery::document(&idp.settings);
    let federation = crate::federation::Federation::new(&idp.upstream, &idp.settings.issuer)
        .map_err(std::io::Error::other)?;
    let draining = shutdown::Draining::default();
    // Checked as the settings were read; a request compares ports, it parses nothing.
    let metrics_address = match &idp.settings.metrics_listen {
        Some(listen) => Some(listen.parse().map_err(std::io::Error::other)?),
        None => None,
    };
    let grace = Duration::from_secs(idp.settings.shutdown_grace_seconds);
    let state = web::Data::new(AppState {
        idp: idp.clone(),
        pages,
        csrf_key: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &csrf_secret),
        discovery_json: web::Bytes::from(discovery.to_string()),
        federation,
        draining: draining.clone(),
        password_gate: password_gate::PasswordGate::new(
            std::thread::available_parallelism().map_or(2, |n| n.get()),
            Duration::from_millis(idp.settings.login_queue_wait_millis),
        ),
        metrics_address,
    });
    spawn_mail_worker(idp.clone(), draining.clone());
    spawn_logout_worker(idp.clone(), draining.clone());
    let blocking = blocking_threads_per_worker(&idp.settings, workers);
    spawn_key_reloader(idp);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(ErrorHandlers::new().default_handler(handlers::render_error_page))
            .wrap(actix_web::middleware::from_fn(telemetry::observe))
            .app_data(state.clone())
            .app_data(web::PayloadConfig::new(max_body))
            .app_data(web::FormConfig::default().limit(max_body))
            .configure(handlers::routes)
    })
    .workers(workers)
    .disable_signals()
    .shutdown_timeout(grace.as_secs());
    let server = match blocking {
        Some(threads) => server.worker_max_blocking_threads(threads),
        None => server,
    }
    .listen(listener)?;
    let server = match metrics_address {
        Some(address) => server.bind(address)?,
        None => server,
    }
    .run();
    Ok(Running { server, draining })
}

/// On SQLite every task of the blocking pool takes one of the pool's connections, and one
/// always comes (the file is held open): a thread beyond the pool's size could only wait
/// for one. So as many threads as connections, shared out among the workers; under load a
/// thread that finishes a task takes the next one from its queue without sleeping, where
/// 32 threads on 8 connections spent their time waking one another (10-15 % more tokens
/// and UserInfo answers a second: docs/performance.md). On PostgreSQL a request waits for
/// a connection at most `database_timeout_seconds` while the server is out of reach, and
/// must then fail, not queue behind the waits of others: the default (many threads).
fn blocking_threads_per_worker(
    settings: &crate::config::Settings,
    workers: usize,
) -> Option<usize> {
    match crate::store::Backend::of_url(&settings.database_url) {
        Ok(crate::store::Backend::Sqlite) => Some(
            (settings.database_pool_size as usize)
                .div_ceil(workers.max(1))
                .max(1),
        ),
        _ => None,
    }
}

/// Every instance re-reads the key set periodically, so `idp keys rotate` (run anywhere)
/// reaches all of them without a restart; rotates the keys when the schedule says so
/// (one instance does); and purges expired state at the same pace.
fn spawn_key_reloader(idp: Arc<Idp>) {
    let every = Duration::from_secs(idp.settings.signing_key_reload_seconds.max(1));
    actix_web::rt::spawn(async move {
        let mut interval = actix_web::rt::time::interval(every);
        interval.tick().await;
        loop {
            interval.tick().await;
            let idp = idp.clone();
            let work = move || {
                idp.rotate_keys_if_due()?;
                idp.reload_keys()?;
                let mut conn = idp.conn()?;
                crate::domain::janitor::purge(&mut conn, idp.now(), &idp.settings.retention)
            };
            match web::block(work).await {
                Ok(Ok(purged)) => tracing::debug!(purged, "expired state purged"),
                Ok(Err(e)) => tracing::error!(error = %e, "periodic key reload or purge failed"),
                Err(e) => tracing::error!(error = %e, "periodic key reload or purge failed"),
            }
        }
    });
}

/// Every instance sends due back-channel logout tokens, each second; claims keep two from
/// sending one.
fn spawn_logout_worker(idp: Arc<Idp>, draining: shutdown::Draining) {
    let http = crate::notify::Client::default();
    actix_web::rt::spawn(async move {
        let mut interval = actix_web::rt::time::interval(Duration::from_secs(1));
        interval.tick().await;
        loop {
            interval.tick().await;
            if draining.is_draining() {
                break;
            }
            if let Err(e) = crate::notify::deliver_logouts(idp.clone(), &http).await {
                tracing::error!(error = %e, "logout worker failed");
            }
        }
    });
}

/// Every instance sends due mail from the outbox; claims keep two from sending one mail.
/// A draining instance claims no more: what is queued waits for the others.
fn spawn_mail_worker(idp: Arc<Idp>, draining: shutdown::Draining) {
    let every = Duration::from_secs(idp.settings.mail_poll_seconds.max(1));
    actix_web::rt::spawn(async move {
        let mut interval = actix_web::rt::time::interval(every);
        // The first tick is immediate; the first round starts one period after start-up.
        interval.tick().await;
        loop {
            interval.tick().await;
            if draining.is_draining() {
                break;
            }
            let idp = idp.clone();
            let work = move || {
                let mut conn = idp.conn()?;
                crate::domain::mail::deliver_due(&mut conn, &idp.mailer, idp.now())
            };
            match web::block(work).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "mail worker failed"),
                Err(e) => tracing::error!(error = %e, "mail worker failed"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_gets_as_many_blocking_threads_as_connections_postgres_the_default() {
        let mut settings = crate::config::Settings {
            database_url: "sqlite://idp.db".into(),
            database_pool_size: 8,
            ..Default::default()
        };
        assert_eq!(blocking_threads_per_worker(&settings, 2), Some(4));
        assert_eq!(blocking_threads_per_worker(&settings, 3), Some(3));
        assert_eq!(blocking_threads_per_worker(&settings, 16), Some(1));
        settings.database_url = "postgres://idp@db/idp".into();
        assert_eq!(blocking_threads_per_worker(&settings, 2), None);
    }
}
