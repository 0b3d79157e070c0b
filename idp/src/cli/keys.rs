//! `idp keys`: the signing keys' timeline, and rotation.

use chrono::Duration;
use clap::Subcommand;
use serde_json::json;

use super::CliResult;
use super::output::{open, print};
use crate::config::Settings;
use crate::domain::{Idp, keys};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    List,
    /// Publish new keys now; they sign after `signing_key_publish_lead_seconds`.
    Rotate,
}

pub fn keys(settings: Settings, command: KeysCommand, json_out: bool) -> CliResult {
    let idp = open(settings)?;
    match command {
        KeysCommand::List => list(&idp, json_out),
        KeysCommand::Rotate => rotate(&idp, json_out),
    }
}

/// Publishes new keys, then (without `--json`, which prints one document) the timeline.
fn rotate(idp: &Idp, json_out: bool) -> CliResult {
    let s = &idp.settings;
    let max_ttl = s.access_token_ttl_seconds.max(s.id_token_ttl_seconds);
    let created = keys::rotate(
        &mut *idp.conn()?,
        idp.master.as_ref(),
        idp.now(),
        Duration::seconds(s.signing_key_publish_lead_seconds),
        Duration::seconds(max_ttl),
    )?;
    print(json_out, json!({ "created": created }), || {
        format!(
            "new keys {} published; they sign in {} s",
            created.join(", "),
            s.signing_key_publish_lead_seconds
        )
    });
    if json_out {
        return Ok(());
    }
    list(idp, json_out)
}

fn list(idp: &Idp, json_out: bool) -> CliResult {
    let rows = keys::list(&mut *idp.conn()?)?;
    let list: Vec<_> = rows
        .iter()
        .map(|r| json!({ "kid": r.id, "alg": r.alg, "encrypted": r.encrypted, "created_at": r.created_at.and_utc(), "activates_at": r.activates_at.and_utc(), "retires_at": r.retires_at.map(|t| t.and_utc()), "removed_at": r.removed_at.map(|t| t.and_utc()) }))
        .collect();
    print(json_out, json!(list), || {
        rows.iter()
            .map(|r| {
                format!(
                    "{}  {}  signs from {}{}{}",
                    r.id,
                    r.alg,
                    r.activates_at,
                    r.retires_at
                        .map(|t| format!(" until {t}"))
                        .unwrap_or_default(),
                    r.removed_at
                        .map(|t| format!(", unpublished at {t}"))
                        .unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}
