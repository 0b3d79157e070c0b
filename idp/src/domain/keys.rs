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

/// Rotation: new keys are published now and sign from `now + lead`; the current keys stop
/// signing then and leave the JWKS `max_token_ttl` later, once every token they signed
/// has expired.
pub fn rotate(
    conn: &mut DbConn,
    master: Option<&MasterKey>,
    now: DateTime<Utc>,
    lead: Duration,
    max_token_ttl: Duration,
) -> DomainResult<Vec<String>> {
    let switch = now + lead;
    let mut created = Vec::new();
    store::transaction(conn, |conn| {
        diesel::update(signing_keys::table.filter(signing_keys::retires_at.is_null()))
            .set((
                signing_keys::retires_at.eq(to_db(switch)),
                signing_keys::removed_at.eq(to_db(switch + max_token_ttl)),
            ))
            .execute(conn)?;
        for alg in SigningAlg::ALL {
            let row = generate_row(alg, master, now, switch)?;
            diesel::insert_into(signing_keys::table)
                .values(&row)
                .execute(conn)?;
            created.push(row.id);
        }
        Ok::<_, DomainError>(())
    })?;
    Ok(created)
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
