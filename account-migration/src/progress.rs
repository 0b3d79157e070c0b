//! How a run shows it is alive: a progress bar (rate, rows done, time left) on a terminal,
//! a plain log line every few seconds otherwise (a cron job, a CI log, a pipe).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use idp::domain::migration::Counts;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::source::Position;

pub trait Progress {
    fn update(&mut self, position: crate::source::Position, counts: &Counts);
    fn finish(&mut self, counts: &Counts);
}

/// The bar on a terminal, log lines elsewhere.
pub fn for_stderr() -> Box<dyn Progress> {
    if std::io::stderr().is_terminal() {
        Box::new(Bar::new())
    } else {
        Box::new(LogLines::new(Duration::from_secs(5)))
    }
}

fn summary(counts: &Counts, rate: f64) -> String {
    format!(
        "{} rows ({rate:.0}/s): {} created, {} updated, {} unchanged, {} skipped, {} conflicts",
        counts.read,
        counts.created,
        counts.updated,
        counts.unchanged,
        counts.skipped,
        counts.conflicts
    )
}

fn rate(counts: &Counts, started: Instant) -> f64 {
    counts.read as f64 / started.elapsed().as_secs_f64().max(0.001)
}

pub struct Bar {
    bar: ProgressBar,
    started: Instant,
}

impl Bar {
    fn new() -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {percent:>3}%  {msg}  eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Self {
            bar,
            started: Instant::now(),
        }
    }
}

impl Progress for Bar {
    fn update(&mut self, position: Position, counts: &Counts) {
        if let Some(total) = position.total {
            self.bar.set_length(total);
        }
        self.bar.set_position(position.done);
        self.bar
            .set_message(summary(counts, rate(counts, self.started)));
    }

    fn finish(&mut self, counts: &Counts) {
        self.bar
            .finish_with_message(summary(counts, rate(counts, self.started)));
    }
}

pub struct LogLines {
    every: Duration,
    started: Instant,
    last: Instant,
}

impl LogLines {
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            started: Instant::now(),
            last: Instant::now(),
        }
    }
}

impl Progress for LogLines {
    fn update(&mut self, position: Position, counts: &Counts) {
        if self.last.elapsed() < self.every {
            return;
        }
        self.last = Instant::now();
        let done = match position.total {
            Some(total) if total > 0 => format!(" {}%", position.done * 100 / total),
            _ => String::new(),
        };
        tracing::info!(
            "migrating{done}: {}",
            summary(counts, rate(counts, self.started))
        );
    }

    fn finish(&mut self, counts: &Counts) {
        tracing::info!("done: {}", summary(counts, rate(counts, self.started)));
    }
}

/// No output (the library's callers that show their own).
pub struct Silent;

impl Progress for Silent {
    fn update(&mut self, _: Position, _: &Counts) {}
    fn finish(&mut self, _: &Counts) {}
}
