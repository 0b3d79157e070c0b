//! Calls out to applications: the back-channel logout tokens of ended sessions
//! (OpenID Connect Back-Channel Logout 1.0 §2.5), POSTed by a worker every instance runs.
//! The outbox, its claims and its back-off are the domain's (`oidc::backchannel`); this is
//! only the network.

use std::sync::Arc;
use std::time::Duration;

use crate::domain::oidc::backchannel::{self, Due};
use crate::domain::{DomainError, DomainResult, Idp};

/// How long an application may take to answer a logout token.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The client logout tokens go out through, made the first time one is due: an instance
/// that never sends one spends no memory on a TLS client (its trust anchors, its pool).
#[derive(Default)]
pub struct Client(std::sync::OnceLock<reqwest::Client>);

impl Client {
    fn get(&self) -> DomainResult<&reqwest::Client> {
        if let Some(client) = self.0.get() {
            return Ok(client);
        }
        let made = crate::federation::http_client(TIMEOUT).map_err(DomainError::Internal)?;
        Ok(self.0.get_or_init(|| made))
    }
}

/// Sends the logout tokens due now; how many were taken.
pub async fn deliver_logouts(idp: Arc<Idp>, client: &Client) -> DomainResult<usize> {
    let claimer = idp.clone();
    let due = blocking(move || {
        let mut conn = claimer.conn()?;
        backchannel::claim_due(&claimer, &mut conn, claimer.now())
    })
    .await?;
    if due.is_empty() {
        return Ok(0);
    }
    let http = client.get()?;
    let mut taken = 0;
    for delivery in due {
        let outcome = post(http, &delivery).await;
        taken += usize::from(outcome.is_ok());
        let recorder = idp.clone();
        blocking(move || {
            let mut conn = recorder.conn()?;
            let now = recorder.now();
            match outcome {
                Ok(()) => backchannel::delivered(&mut conn, &delivery, now),
                Err(error) => backchannel::failed(&mut conn, &delivery, &error, now),
            }
        })
        .await?;
    }
    Ok(taken)
}

/// §2.5: a form POST of `logout_token`; §2.8: 200 means taken (204 is accepted too).
async fn post(http: &reqwest::Client, delivery: &Due) -> Result<(), String> {
    let body = serde_urlencoded::to_string([("logout_token", delivery.token.as_str())])
        .map_err(|e| e.to_string())?;
    let response = http
        .post(&delivery.uri)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Cache-Control", "no-store")
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    match response.status().as_u16() {
        200 | 204 => Ok(()),
        status => Err(format!("HTTP {status}")),
    }
}

async fn blocking<T, F>(work: F) -> DomainResult<T>
where
    F: FnOnce() -> DomainResult<T> + Send + 'static,
    T: Send + 'static,
{
    actix_web::web::block(work)
        .await
        .map_err(|e| DomainError::Internal(format!("blocking task failed: {e}")))?
}
