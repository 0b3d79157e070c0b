//! Time is passed in, so tests can move it (expired codes, key rotation) without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, NaiveDateTime, Utc};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Real time shifted by an offset that tests advance.
#[derive(Debug, Default, Clone)]
pub struct OffsetClock(Arc<AtomicI64>);

impl OffsetClock {
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.num_milliseconds(), Ordering::SeqCst);
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + Duration::milliseconds(self.0.load(Ordering::SeqCst))
    }
}

/// The store keeps UTC timestamps without zone.
pub fn to_db(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}

pub fn from_db(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}
