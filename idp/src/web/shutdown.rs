//! Graceful shutdown. On SIGTERM (what Kubernetes and systemd send) or Ctrl-C the instance
//! first says it is not ready (`/readyz` answers 503) while it still serves, so the load
//! balancer stops sending it new requests; after `shutdown_drain_seconds` it stops
//! accepting, lets the requests in flight finish for at most `shutdown_grace_seconds`, and
//! exits. Its workers claim nothing new once draining: queued mail and logout notices stay
//! in the database for the other instances (or the next start).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::dev::ServerHandle;

/// Whether this instance is shutting down; shared by `/readyz` and the workers.
#[derive(Debug, Clone, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    pub fn begin(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Waits for SIGTERM or SIGINT, then drains and stops the server.
pub async fn on_signal(server: ServerHandle, draining: Draining, drain: Duration) {
    let signal = termination().await;
    tracing::info!(
        signal,
        drain_seconds = drain.as_secs(),
        "shutting down: not ready any more"
    );
    draining.begin();
    actix_web::rt::time::sleep(drain).await;
    tracing::info!("shutting down: no new connections, finishing requests in flight");
    server.stop(true).await;
}

#[cfg(unix)]
async fn termination() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("signal handlers could not be installed; stop the STS with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

#[cfg(not(unix))]
async fn termination() -> &'static str {
    let _ = tokio::signal::ctrl_c().await;
    "Ctrl-C"
}
