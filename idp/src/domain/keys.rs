//! Signing keys in the database, shared by every instance. Each instance parses them once
//! per reload; the JWKS is served from bytes built at that time.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use super::clock::{from_db, to_db};
use super::types::SigningAlg;
use super::{DomainError, DomainResult};
use crate::crypto::keys::{self, SigningKey};
use crate::crypto::sealing::MasterKey;
use crate::store::models::SigningKeyRow;
use crate::store::schema::signing_keys;
use crate::store::{self, DbConn};

pub struct LoadedKey {
    pub key: SigningKey,
    pub activates_at: DateTime<Utc>,
    pub retires_at: Option<DateTime<Utc>>,
}

/// The keys published now, parsed, with the JWKS document pre-serialised.
pub struct KeySet {
    keys: Vec<LoadedKey>,
    by_kid: HashMap<String, usize>,
    /// The JWKS document, serialised once per load.
    pub jwks_json: Arc<[u8]>,
}

impl KeySet {
    /// The newest key of `alg` that is active at `now`.
    pub fn signing_key(&self, alg: SigningAlg, now: DateTime<Utc>) -> DomainResult<&SigningKey> {
        self.keys
            .iter()
            .filter(|k| {
                k.key.alg == alg && k.activates_at <= now && k.retires_at.is_none_or(|r| r > now)
            })
            .max_by_key(|k| k.activates_at)
            .map(|k| &k.key)
            .ok_or_else(|| DomainError::Corrupt(format!("no active {} signing key", alg.as_str())))
    }

    pub fn by_kid(&self, kid: &str) -> Option<&SigningKey> {
        self.by_kid.get(kid).map(|&i| &self.keys[i].key)
    }
}

fn generate_row(
    alg: SigningAlg,
    master: Option<&MasterKey>,
    now: DateTime<Utc>,
    activates_at: DateTime<Utc>,
) -> DomainResult<SigningKeyRow> {
    let kid = uuid::Uuid::new_v4().simple().to_string();
    let generated = keys::generate(alg, &kid)?;
    let (private_key, encrypted) = match master {
        Some(m) => (m.seal(&kid, &generated.pkcs8)?, true),
        None => (generated.pkcs8, false),
    };
    Ok(SigningKeyRow {
        id: kid,
        alg: alg.as_str().into(),
        private_key,
        encrypted,
        public_jwk: generated.public_jwk.to_string(),
        created_at: to_db(now),
        activates_at: to_db(activates_at),
        retires_at: None,
        removed_at: None,
    })
}

/// Creates a key, active at once, for every algorithm that has none (first start).
pub fn ensure_keys(
    conn: &mut DbConn,
    master: Option<&MasterKey>,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    for alg in SigningAlg::ALL {
        let n: i64 = signing_keys::table
            .filter(signing_keys::alg.eq(alg.as_str()))
            .filter(signing_keys::retires_at.is_null())
            .count()
            .get_result(conn)?;
        if n == 0 {
            let row = generate_row(alg, master, now, now)?;
            diesel::insert_into(signing_keys::table)
                .values(&row)
                .execute(conn)?;
            tracing::info!(kid = %row.id, alg = alg.as_str(), "created signing key");
        }
    }
    Ok(())
}

/// When keys are replaced: how long new keys are published before they sign, and how long
/// the longest token lives (a retired key stays published that much longer).
#[derive(Debug, Clone, Copy)]
pub struct RotationTimes {
    pub lead: Duration,
    pub max_token_ttl: Duration,
}

/// Rotation: new keys are published now and sign from `now + lead`; the current keys stop
/// signing then and leave the JWKS `max_token_ttl` later, once every token they signed
/// has expired.
pub fn rotate(
    conn: &mut DbConn,
    master: Option<&MasterKey>,
    now: DateTime<Utc>,
    times: RotationTimes,
) -> DomainResult<Vec<String>> {
    rotate_keys_created_before(conn, master, now, times, None)
}

/// The scheduled rotation: when the current keys were created `every` ago or more, rotate
/// (as [`rotate`]). Every instance asks; the update that retires the current keys only
/// matches them while nobody else has, so one rotation happens however many ask at once
/// (on PostgreSQL the second update waits for the first and then matches nothing).
pub fn rotate_if_due(
    conn: &mut DbConn,
    master: Option<&MasterKey>,
    now: DateTime<Utc>,
    times: RotationTimes,
    every: Duration,
) -> DomainResult<Option<Vec<String>>> {
    let created = rotate_keys_created_before(conn, master, now, times, Some(now - every))?;
    Ok((!created.is_empty()).then_some(created))
}

fn rotate_keys_created_before(
    conn: &mut DbConn,
    master: Option<&MasterKey>,
    now: DateTime<Utc>,
    times: RotationTimes,
    created_before: Option<DateTime<Utc>>,
) -> DomainResult<Vec<String>> {
    let switch = now + times.lead;
    store::transaction(conn, |conn| {
        let current = signing_keys::table.filter(signing_keys::retires_at.is_null());
        let retire = (
            signing_keys::retires_at.eq(to_db(switch)),
            signing_keys::removed_at.eq(to_db(switch + times.max_token_ttl)),
        );
        let retired = match created_before {
            // Due only when no current key is younger than the period.
            Some(cutoff) => {
                let younger: i64 = current
                    .filter(signing_keys::created_at.gt(to_db(cutoff)))
                    .count()
                    .get_result(conn)?;
                if younger > 0 {
                    return Ok(Vec::new());
                }
                // Keys another instance made meanwhile are younger: they stay.
                diesel::update(current.filter(signing_keys::created_at.le(to_db(cutoff))))
                    .set(retire)
                    .execute(conn)?
            }
            None => diesel::update(current).set(retire).execute(conn)?,
        };
        if created_before.is_some() && retired == 0 {
            return Ok(Vec::new()); // another instance rotated first
        }
        let mut created = Vec::new();
        for alg in SigningAlg::ALL {
            let row = generate_row(alg, master, now, switch)?;
            diesel::insert_into(signing_keys::table)
                .values(&row)
                .execute(conn)?;
            created.push(row.id);
        }
        Ok::<_, DomainError>(created)
    })
}

/// Where a key stands at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Published, signing later (relying parties learn it first).
    Published,
    Signing,
    /// No longer signing; published until the last token it signed has expired.
    Retired,
    /// Out of the JWKS.
    Removed,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Published => "published",
            Self::Signing => "signing",
            Self::Retired => "retired",
            Self::Removed => "removed",
        }
    }
}

pub fn state(row: &SigningKeyRow, now: DateTime<Utc>) -> KeyState {
    let passed = |at: Option<chrono::NaiveDateTime>| at.is_some_and(|t| from_db(t) <= now);
    if passed(row.removed_at) {
        KeyState::Removed
    } else if passed(row.retires_at) {
        KeyState::Retired
    } else if from_db(row.activates_at) <= now {
        KeyState::Signing
    } else {
        KeyState::Published
    }
}

/// When the scheduled rotation is next due: `every` after the newest current key was made.
pub fn next_rotation(rows: &[SigningKeyRow], every: Duration) -> Option<DateTime<Utc>> {
    rows.iter()
        .filter(|r| r.retires_at.is_none())
        .map(|r| from_db(r.created_at))
        .max()
        .map(|newest| newest + every)
}

/// What `reseal` did.
#[derive(Debug, Default, serde::Serialize)]
pub struct Resealed {
    /// Sealed again with the new master key (or sealed for the first time).
    pub resealed: Vec<String>,
    /// Already sealed with the new master key.
    pub current: Vec<String>,
}

/// After a master-key change: every private key and server secret is opened with the old
/// master key (or read as it is when it was stored unsealed) and sealed with the new one,
/// in one transaction; what the new key opens already is left alone, so it can run again.
pub fn reseal(
    conn: &mut DbConn,
    old: Option<&MasterKey>,
    new: &MasterKey,
) -> DomainResult<Resealed> {
    use crate::store::schema::server_secrets;
    store::transaction(conn, |conn| {
        let mut done = Resealed::default();
        let keys: Vec<(String, Vec<u8>, bool)> = signing_keys::table
            .select((
                signing_keys::id,
                signing_keys::private_key,
                signing_keys::encrypted,
            ))
            .load(conn)?;
        for (name, value, encrypted) in keys {
            if let Some(sealed) = reseal_one(&name, &value, encrypted, old, new, &mut done)? {
                diesel::update(signing_keys::table.find(&name))
                    .set((
                        signing_keys::private_key.eq(sealed),
                        signing_keys::encrypted.eq(true),
                    ))
                    .execute(conn)?;
            }
        }
        let secrets: Vec<(String, Vec<u8>, bool)> = server_secrets::table
            .select((
                server_secrets::name,
                server_secrets::value,
                server_secrets::encrypted,
            ))
            .load(conn)?;
        for (name, value, encrypted) in secrets {
            if let Some(sealed) = reseal_one(&name, &value, encrypted, old, new, &mut done)? {
                diesel::update(server_secrets::table.find(&name))
                    .set((
                        server_secrets::value.eq(sealed),
                        server_secrets::encrypted.eq(true),
                    ))
                    .execute(conn)?;
            }
        }
        Ok::<_, DomainError>(done)
    })
}

/// The value sealed with `new`, or `None` when it is already.
fn reseal_one(
    name: &str,
    value: &[u8],
    encrypted: bool,
    old: Option<&MasterKey>,
    new: &MasterKey,
    done: &mut Resealed,
) -> DomainResult<Option<Vec<u8>>> {
    if encrypted && new.open(name, value).is_ok() {
        done.current.push(name.to_owned());
        return Ok(None);
    }
    let plain = match (encrypted, old) {
        (false, _) => value.to_vec(),
        (true, Some(old)) => old.open(name, value).map_err(|_| {
            DomainError::Corrupt(format!(
                "{name}: neither the old nor the new master key opens it"
            ))
        })?,
        (true, None) => {
            return Err(DomainError::Corrupt(format!(
                "{name} is sealed with another master key: give the old one"
            )));
        }
    };
    done.resealed.push(name.to_owned());
    Ok(Some(new.seal(name, &plain)?))
}

pub fn list(conn: &mut DbConn) -> DomainResult<Vec<SigningKeyRow>> {
    Ok(signing_keys::table
        .order(signing_keys::created_at)
        .select(SigningKeyRow::as_select())
        .load(conn)?)
}

/// Reads and parses the keys still published at `now`.
pub fn load(
    conn: &mut DbConn,
    master: Option<&MasterKey>,
    now: DateTime<Utc>,
) -> DomainResult<Arc<KeySet>> {
    let rows: Vec<SigningKeyRow> = signing_keys::table
        .filter(
            signing_keys::removed_at
                .is_null()
                .or(signing_keys::removed_at.gt(to_db(now))),
        )
        .order(signing_keys::activates_at)
        .select(SigningKeyRow::as_select())
        .load(conn)?;
    let mut loaded = Vec::with_capacity(rows.len());
    for row in rows {
        let pkcs8 = if row.encrypted {
            let master = master.ok_or_else(|| {
                DomainError::Corrupt(format!(
                    "signing key {} is encrypted but IDP_MASTER_KEY is not set",
                    row.id
                ))
            })?;
            master.open(&row.id, &row.private_key)?
        } else {
            row.private_key.clone()
        };
        let alg = SigningAlg::parse(&row.alg)
            .map_err(|e| DomainError::Corrupt(format!("signing key {}: alg {e}", row.id)))?;
        loaded.push(LoadedKey {
            key: SigningKey::from_pkcs8(&row.id, alg, &pkcs8)?,
            activates_at: from_db(row.activates_at),
            retires_at: row.retires_at.map(from_db),
        });
    }
    let jwks =
        serde_json::json!({ "keys": loaded.iter().map(|k| &k.key.public_jwk).collect::<Vec<_>>() });
    let by_kid = loaded
        .iter()
        .enumerate()
        .map(|(i, k)| (k.key.kid.clone(), i))
        .collect();
    Ok(Arc::new(KeySet {
        keys: loaded,
        by_kid,
        jwks_json: jwks.to_string().into_bytes().into(),
    }))
}
