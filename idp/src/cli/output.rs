//! What every subcommand shares: the instance it works on, and how it prints.

use std::sync::Arc;

use crate::config::Settings;
use crate::domain::Idp;
use crate::domain::clock::SystemClock;

/// The domain, started as the server starts it (migrations, keys, static clients).
pub(super) fn open(settings: Settings) -> Result<Idp, Box<dyn std::error::Error>> {
    Ok(crate::app::start(settings, Arc::new(SystemClock))?)
}

/// Prints `value` as one JSON document with `--json`, else the text `human` writes.
pub(super) fn print(json_out: bool, value: serde_json::Value, human: impl FnOnce() -> String) {
    if json_out {
        println!("{value}");
    } else {
        println!("{}", human());
    }
}

/// Words joined by spaces, for lists on one line.
pub(super) fn spaced<'a>(words: impl IntoIterator<Item = &'a str>) -> String {
    words.into_iter().collect::<Vec<_>>().join(" ")
}
