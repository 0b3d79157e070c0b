//! Admission to password checks under overload. A login costs one argon2id computation
//! (m = 19 MiB), and a core does about sixty a second: when logins arrive faster (a whole
//! school at 8:25), waiting in line on the blocking pool would make every one of them time
//! out, and take the pool's threads from the requests that need no hash. So a login first
//! waits here, asynchronously, for one of as many places as there are cores: a queue with
//! a deadline of `login_queue_wait_millis`. A login that finds the line already longer
//! than the places can serve within that deadline (the people ahead of it times the mean
//! time a place is held) is answered at once with "try again in a few seconds" (503,
//! `Retry-After`) rather than after waiting in vain; one that waits and gets no place by
//! the deadline is answered the same way then. Tokens, discovery, JWKS, UserInfo and pages
//! never wait here and keep their speed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct PasswordGate {
    places: Arc<Semaphore>,
    count: usize,
    wait: Duration,
    /// Logins waiting for a place now.
    waiting: AtomicUsize,
    /// How long a place is held, on average (microseconds, a moving average of the last
    /// few); 0 until the first one is given back.
    mean_hold_micros: Arc<AtomicU64>,
}

/// A place at the gate, given back when dropped: it goes along to the blocking pool with
/// the login, whose domain function drops it as soon as the password is checked
/// (`login::CheckTurn`), before the login's writes.
pub struct Place {
    mean_hold_micros: Arc<AtomicU64>,
    since: Instant,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Place {
    fn drop(&mut self) {
        fold_hold(&self.mean_hold_micros, self.since.elapsed());
    }
}

/// One login counted among the waiting ones while it waits.
struct InLine<'a>(&'a AtomicUsize);

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl PasswordGate {
    /// `places` checks at once (the cores); a login waits at most `wait` for one.
    pub fn new(places: usize, wait: Duration) -> Self {
        Self {
            places: Arc::new(Semaphore::new(places.max(1))),
            count: places.max(1),
            wait,
            waiting: AtomicUsize::new(0),
            mean_hold_micros: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A place, held until the returned `Place` drops; `None` when none can come free in
    /// time: at once when the line is too long already, else at the deadline.
    pub async fn enter(&self) -> Option<Place> {
        if let Ok(permit) = self.places.clone().try_acquire_owned() {
            return Some(self.place(permit));
        }
        let ahead = self.waiting.fetch_add(1, Ordering::Relaxed);
        let _in_line = InLine(&self.waiting);
        if self.expected_wait(ahead) > self.wait {
            return None;
        }
        let place = self.places.clone().acquire_owned();
        match actix_web::rt::time::timeout(self.wait, place).await {
            Ok(Ok(permit)) => Some(self.place(permit)),
            _ => None,
        }
    }

    fn place(&self, permit: OwnedSemaphorePermit) -> Place {
        Place {
            mean_hold_micros: self.mean_hold_micros.clone(),
            since: Instant::now(),
            _permit: permit,
        }
    }

    /// The wait of a login with `ahead` others in line before it: it gets a place after
    /// `ahead / places + 1` turns of the places, each about the mean time one is held.
    fn expected_wait(&self, ahead: usize) -> Duration {
        let turns = (ahead / self.count + 1) as u64;
        Duration::from_micros(self.mean_hold_micros.load(Ordering::Relaxed) * turns)
    }

    #[cfg(test)]
    fn held_for(&self, held: Duration) {
        fold_hold(&self.mean_hold_micros, held);
    }
}

/// Folds one hold into the moving average (weight 1/8: the last dozen or so count).
fn fold_hold(mean_hold_micros: &AtomicU64, held: Duration) {
    let held = u64::try_from(held.as_micros()).unwrap_or(u64::MAX);
    let _ = mean_hold_micros.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |mean| {
        Some(if mean == 0 {
            held
        } else {
            mean - mean / 8 + held / 8
        })
    });
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
        let started = Instant::now();
        assert!(gate.enter().await.is_none(), "no place within the wait");
        assert!(
            started.elapsed() >= Duration::from_millis(20),
            "with nothing known of how long a place is held, it waited for one"
        );
        drop(held);
        assert!(gate.enter().await.is_some(), "a place again once freed");
    }

    #[test]
    fn a_line_longer_than_the_wait_is_turned_away_at_once() {
        actix_web::rt::System::new().block_on(line_too_long());
    }

    /// Places held 30 ms each, a wait of 100 ms, two places: a login with five others
    /// ahead (three turns, 90 ms) still waits its turn; one with six ahead (four turns,
    /// 120 ms) is told at once.
    async fn line_too_long() {
        let gate = PasswordGate::new(2, Duration::from_millis(100));
        gate.held_for(Duration::from_millis(30));
        assert_eq!(gate.expected_wait(5), Duration::from_millis(90));
        assert_eq!(gate.expected_wait(6), Duration::from_millis(120));

        let first = gate.enter().await;
        let second = gate.enter().await;
        assert!(first.is_some() && second.is_some());
        gate.waiting.store(6, Ordering::Relaxed); // six logins waiting already
        let started = Instant::now();
        assert!(gate.enter().await.is_none());
        assert!(
            started.elapsed() < Duration::from_millis(50),
            "answered at once, not at the deadline"
        );
        assert_eq!(
            gate.waiting.load(Ordering::Relaxed),
            6,
            "it left the line it did not wait in"
        );
    }

    #[test]
    fn the_mean_hold_follows_the_recent_ones() {
        let gate = PasswordGate::new(1, Duration::from_secs(1));
        gate.held_for(Duration::from_millis(80));
        assert_eq!(gate.mean_hold_micros.load(Ordering::Relaxed), 80_000);
        for _ in 0..40 {
            gate.held_for(Duration::from_millis(10));
        }
        let mean = gate.mean_hold_micros.load(Ordering::Relaxed);
        assert!((10_000..11_000).contains(&mean), "{mean}");
    }
}
