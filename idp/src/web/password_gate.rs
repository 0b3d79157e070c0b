//! Admission to password checks under overload. A login costs one argon2id computation
//! (m = 19 MiB), and a core does about sixty a second: when logins arrive faster (a whole
//! school at 8:25), waiting in line on the blocking pool would make every one of them time
//! out, and take the pool's threads from the requests that need no hash. So a login first
//! waits here, asynchronously, for one of as many places as there are cores, for at most
//! `login_queue_wait_millis`; past that it is answered at once with "try again in a few
//! seconds" (503, `Retry-After`), and tokens, discovery, JWKS, UserInfo and pages keep
//! their speed.

use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

pub struct PasswordGate {
    places: Semaphore,
    wait: Duration,
}

impl PasswordGate {
    /// `places` checks at once (the cores); a login waits at most `wait` for one.
    pub fn new(places: usize, wait: Duration) -> Self {
        Self {
            places: Semaphore::new(places.max(1)),
            wait,
        }
    }

    /// A place, held until the returned permit drops; `None` when none came free in time.
    pub async fn enter(&self) -> Option<SemaphorePermit<'_>> {
        match actix_web::rt::time::timeout(self.wait, self.places.acquire()).await {
            Ok(Ok(permit)) => Some(permit),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_gate_turns_away_after_the_wait() {
        actix_web::rt::System::new().block_on(gate_turns_away());
    }

    async fn gate_turns_away() {
        let gate = PasswordGate::new(1, Duration::from_millis(20));
        let held = gate.enter().await;
        assert!(held.is_some());
        assert!(gate.enter().await.is_none(), "no place within the wait");
        drop(held);
        assert!(gate.enter().await.is_some(), "a place again once freed");
    }
}
