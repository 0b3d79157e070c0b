//! What `/metrics` tells Prometheus about this instance: logins by outcome, tokens by grant
//! type, reset requests and mails by outcome, throttling by limit, HTTP latency by route,
//! and, read when scraped, the outbox and the database pool. Counters are per process (as
//! Prometheus expects: it sums the instances); what lives in the database (the outbox) is
//! the same on every instance, so alert on its `max`, not its sum.
//!
//! Plain data and counters only: the domain and the web count here, nothing here calls
//! back into them.

use std::sync::LazyLock;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// How a login, a reset request or a mail ended.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Outcome {
    succeeded,
    failed,
    throttled,
    /// A login turned away because password checks were saturated (try again).
    overloaded,
    /// A reset request that matched an account (a mail is queued).
    matched,
    /// A reset request that matched none (nothing is sent; the page says the same).
    unmatched,
    /// A mail put in the outbox.
    queued,
    /// A mail the SMTP server took.
    sent,
    /// A mail attempt that failed (it is retried).
    retried,
    /// A token request answered with tokens.
    issued,
    /// A token request answered with an error.
    refused,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: Outcome,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    grant_type: &'static str,
    outcome: Outcome,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CauseLabels {
    cause: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

struct Metrics {
    registry: Registry,
    logins: Family<OutcomeLabels, Counter>,
    tokens: Family<TokenLabels, Counter>,
    resets: Family<OutcomeLabels, Counter>,
    mails: Family<OutcomeLabels, Counter>,
    throttled: Family<LimitLabels, Counter>,
    refused_writes: Family<CauseLabels, Counter>,
    http: HistogramFamily<HttpLabels>,
    outbox_depth: Gauge,
    outbox_oldest: Gauge<f64, AtomicU64>,
    pool: Family<PoolLabels, Gauge>,
    pool_max: Gauge,
}

fn latency_histogram() -> Histogram {
    // 1 ms to about 8 s: a page is milliseconds, a login with argon2 a few hundred.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.001, 2.0, 14,
    ))
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("idp");
    let m = Metrics {
        logins: Family::default(),
        tokens: Family::default(),
        resets: Family::default(),
        mails: Family::default(),
        throttled: Family::default(),
        refused_writes: Family::default(),
        http: Family::new_with_constructor(latency_histogram),
        outbox_depth: Gauge::default(),
        outbox_oldest: Gauge::default(),
        pool: Family::default(),
        pool_max: Gauge::default(),
        registry: Registry::default(),
    };
    registry.register(
        "logins",
        "Password and upstream logins, by outcome",
        m.logins.clone(),
    );
    registry.register(
        "tokens",
        "Token endpoint requests, by grant type and outcome",
        m.tokens.clone(),
    );
    registry.register(
        "reset_requests",
        "\"Forgot password?\" requests, by outcome",
        m.resets.clone(),
    );
    registry.register("mails", "Mails, by outcome", m.mails.clone());
    registry.register(
        "throttled",
        "Requests refused or muted by a rate limit, by limit",
        m.throttled.clone(),
    );
    registry.register(
        "refused_writes",
        "Requests whose writes the database refused (disk full, read-only), by cause",
        m.refused_writes.clone(),
    );
    registry.register(
        "http_request_duration_seconds",
        "HTTP requests, by method, route pattern and status",
        m.http.clone(),
    );
    registry.register(
        "outbox_unsent",
        "Mails in the outbox not sent yet (database-wide)",
        m.outbox_depth.clone(),
    );
    registry.register(
        "outbox_oldest_unsent_age_seconds",
        "Age of the oldest unsent mail (database-wide; 0 when none)",
        m.outbox_oldest.clone(),
    );
    registry.register(
        "db_pool_connections",
        "This instance's database connections, by state",
        m.pool.clone(),
    );
    registry.register(
        "db_pool_max_connections",
        "The size this instance's database pool may grow to",
        m.pool_max.clone(),
    );
    Metrics { registry, ..m }
});

pub fn login(outcome: Outcome) {
    METRICS
        .logins
        .get_or_create(&OutcomeLabels { outcome })
        .inc();
}

pub fn token(grant_type: &'static str, outcome: Outcome) {
    METRICS
        .tokens
        .get_or_create(&TokenLabels {
            grant_type,
            outcome,
        })
        .inc();
}

pub fn reset_request(outcome: Outcome) {
    METRICS
        .resets
        .get_or_create(&OutcomeLabels { outcome })
        .inc();
}

pub fn mail(outcome: Outcome) {
    METRICS
        .mails
        .get_or_create(&OutcomeLabels { outcome })
        .inc();
}

/// A rate limit reached (`limit` names which: `domain::throttle::ThrottleKey::name`).
pub fn throttled(limit: &'static str) {
    METRICS
        .throttled
        .get_or_create(&LimitLabels { limit })
        .inc();
}

/// A request whose writes the database refused (`cause`: `disk_full`, `read_only`).
pub fn refused_write(cause: &'static str) {
    METRICS
        .refused_writes
        .get_or_create(&CauseLabels { cause })
        .inc();
}

/// One HTTP request served; `route` is its pattern (`/reset/{token}`), never its path.
pub fn http_request(method: &'static str, route: String, status: u16, seconds: f64) {
    METRICS
        .http
        .get_or_create(&HttpLabels {
            method,
            route,
            status,
        })
        .observe(seconds);
}

/// What is read when scraped rather than counted.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    pub outbox_unsent: i64,
    pub outbox_oldest_seconds: f64,
    pub pool_in_use: u32,
    pub pool_idle: u32,
    pub pool_max: u32,
}

/// The OpenMetrics text of every metric, with the snapshot's gauges.
pub fn render(snapshot: Snapshot) -> Result<String, std::fmt::Error> {
    // One scrape at a time: another's snapshot must not land between setting and writing.
    static SCRAPE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = SCRAPE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let m = &*METRICS;
    m.outbox_depth.set(snapshot.outbox_unsent);
    m.outbox_oldest.set(snapshot.outbox_oldest_seconds);
    let pool = |state| m.pool.get_or_create(&PoolLabels { state }).clone();
    pool("in_use").set(i64::from(snapshot.pool_in_use));
    pool("idle").set(i64::from(snapshot.pool_idle));
    m.pool_max.set(i64::from(snapshot.pool_max));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &m.registry)?;
    Ok(text)
}

/// The content type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
