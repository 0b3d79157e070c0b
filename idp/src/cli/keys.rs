//! `idp keys`: the signing keys' timeline, and rotation.

use clap::Subcommand;
use serde_json::json;

use super::CliResult;
use super::output::{open, print};
use crate::config::Settings;
use crate::domain::{Idp, keys};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// The timeline: each key's state and moments, and the next scheduled rotation (also
    /// `idp keys` alone).
    List,
    /// Publish new keys now; they sign after `signing_key_publish_lead_seconds`.
    Rotate,
    /// After a master-key change: seal every private key and server secret with the
    /// configured `master_key` (the new one), opening them with the old one. Stored
    /// unsealed (no master key before), they are sealed for the first time.
    Reseal {
        /// A file holding the old master key as `master_key` is written (base64).
        #[arg(long, value_name = "FILE")]
        old_master_key_file: Option<std::path::PathBuf>,
    },
}

pub fn keys(settings: Settings, command: KeysCommand, json_out: bool) -> CliResult {
    if let KeysCommand::Reseal {
        old_master_key_file,
    } = &command
    {
        // Not through `open`: the STS cannot start until the keys open with the new key.
        return reseal(&settings, old_master_key_file.as_deref(), json_out);
    }
    let idp = open(settings)?;
    match command {
        KeysCommand::List => list(&idp, json_out),
        KeysCommand::Rotate => rotate(&idp, json_out),
        KeysCommand::Reseal { .. } => Ok(()),
    }
}

fn reseal(settings: &Settings, old_file: Option<&std::path::Path>, json_out: bool) -> CliResult {
    use crate::crypto::sealing::MasterKey;
    let new = settings
        .master_key_bytes()
        .ok_or("set master_key (IDP_MASTER_KEY) to the new master key")?;
    let new = MasterKey::new(&new)?;
    let old = match old_file {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            Some(MasterKey::new(&settings.parse_master_key(&text)?)?)
        }
        None => None,
    };
    let pool = crate::store::connect(&settings.database_url, 1)?;
    let done = keys::reseal(&mut *pool.get()?, old.as_ref(), &new)?;
    print(json_out, json!(done), || {
        format!(
            "{} sealed with the new master key, {} already were",
            done.resealed.len(),
            done.current.len()
        )
    });
    Ok(())
}

/// Publishes new keys, then (without `--json`, which prints one document) the timeline.
fn rotate(idp: &Idp, json_out: bool) -> CliResult {
    let s = &idp.settings;
    let created = keys::rotate(
        &mut *idp.conn()?,
        idp.master.as_ref(),
        idp.now(),
        idp.rotation_times(),
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

/// The timeline: every key with its state now, and when the schedule rotates next.
fn list(idp: &Idp, json_out: bool) -> CliResult {
    let rows = keys::list(&mut *idp.conn()?)?;
    let now = idp.now();
    let every = idp.settings.signing_key_rotation_days;
    let next = (every > 0)
        .then(|| keys::next_rotation(&rows, chrono::Duration::days(i64::from(every))))
        .flatten();
    let list: Vec<_> = rows
        .iter()
        .map(|r| json!({ "kid": r.id, "alg": r.alg, "state": keys::state(r, now), "sealed": r.encrypted, "created_at": r.created_at.and_utc(), "activates_at": r.activates_at.and_utc(), "retires_at": r.retires_at.map(|t| t.and_utc()), "removed_at": r.removed_at.map(|t| t.and_utc()) }))
        .collect();
    let document = json!({ "keys": list, "next_rotation": next, "rotation_days": every });
    print(json_out, document, || {
        let mut lines: Vec<String> = rows
            .iter()
            .map(|r| {
                let state = keys::state(r, now).as_str();
                format!(
                    "{}  {}  {:<9}  published {}, signs from {}{}{}",
                    r.id,
                    r.alg,
                    state,
                    r.created_at.format("%Y-%m-%d %H:%M"),
                    r.activates_at.format("%Y-%m-%d %H:%M"),
                    r.retires_at
                        .map(|t| format!(" until {}", t.format("%Y-%m-%d %H:%M")))
                        .unwrap_or_default(),
                    r.removed_at
                        .map(|t| format!(", unpublished {}", t.format("%Y-%m-%d %H:%M")))
                        .unwrap_or_default()
                )
            })
            .collect();
        lines.push(match next {
            Some(at) => format!(
                "next scheduled rotation: {}",
                at.format("%Y-%m-%d %H:%M UTC")
            ),
            None => "no scheduled rotation (signing_key_rotation_days = 0)".into(),
        });
        lines.join("\n")
    });
    Ok(())
}
