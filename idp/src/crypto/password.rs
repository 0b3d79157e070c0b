//! Password hashing with argon2id (NIST 800-63B §3.1.1.2, OWASP Password Storage cheat
//! sheet: m = 19 MiB, t = 2, p = 1 by default).

use std::sync::{Condvar, Mutex};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use super::{CryptoError, random_bytes};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Argon2Params {
    /// Memory cost in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub iterations: u32,
    /// Degree of parallelism.
    pub parallelism: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Outcome of checking a password against a stored hash.
#[derive(Debug, PartialEq, Eq)]
pub enum Verification {
    Mismatch,
    Match,
    /// Right password, but hashed with other parameters: store the new hash.
    MatchRehash(String),
}

pub struct PasswordHasher {
    argon2: Argon2<'static>,
    memory: MemoryPool,
    /// A hash of a random password, verified when the account does not exist so that the
    /// answer takes as long as for a real account (no account enumeration by timing).
    dummy_hash: String,
}

impl PasswordHasher {
    pub fn new(params: Argon2Params) -> Result<Self, CryptoError> {
        let params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|e| CryptoError(format!("argon2 parameters: {e}")))?;
        let blocks = params.block_count();
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let mut hasher = Self {
            memory: MemoryPool::new(cores, blocks),
            argon2,
            dummy_hash: String::new(),
        };
        let dummy = super::b64url(&random_bytes(16)?);
        hasher.dummy_hash = hasher.hash(&dummy)?;
        Ok(hasher)
    }

    pub fn hash(&self, password: &str) -> Result<String, CryptoError> {
        let salt_bytes = random_bytes(16)?;
        let salt =
            SaltString::encode_b64(&salt_bytes).map_err(|e| CryptoError(format!("salt: {e}")))?;
        self.argon2
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| CryptoError(format!("argon2: {e}")))
    }

    /// Checks `password` against `stored`, or against the dummy hash when there is none.
    pub fn verify(
        &self,
        password: &str,
        stored: Option<&str>,
    ) -> Result<Verification, CryptoError> {
        let Some(stored) = stored else {
            let _ = self.check(password, &self.dummy_hash);
            return Ok(Verification::Mismatch);
        };
        if !self.check(password, stored) {
            return Ok(Verification::Mismatch);
        }
        if self.is_current(stored) {
            Ok(Verification::Match)
        } else {
            Ok(Verification::MatchRehash(self.hash(password)?))
        }
    }

    /// Recomputes the hash of `password` with the stored salt and parameters and compares
    /// in constant time. Runs at most one argon2 computation per core, each in a reused
    /// memory area: more at once would not finish sooner, and would each allocate m_cost
    /// (19 MiB) of fresh memory, which the allocator keeps (gigabytes under load).
    fn check(&self, password: &str, stored: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(stored) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return false;
        };
        let algorithm = match parsed.algorithm.as_str() {
            "argon2id" => Algorithm::Argon2id,
            "argon2i" => Algorithm::Argon2i,
            "argon2d" => Algorithm::Argon2d,
            _ => return false,
        };
        let version = match parsed.version {
            Some(0x10) => Version::V0x10,
            _ => Version::V0x13,
        };
        let Ok(params) = Params::try_from(&parsed) else {
            return false;
        };
        let mut salt_buf = [0u8; 64];
        let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
            return false;
        };
        let mut out = vec![0u8; expected.len()];
        let blocks = params.block_count();
        let argon2 = Argon2::new(algorithm, version, params);
        let computed = self.memory.with_blocks(blocks, |memory| {
            argon2.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, memory)
        });
        computed.is_ok() && super::constant_time_eq(&out, expected.as_bytes())
    }

    /// Whether a stored hash uses today's algorithm and parameters.
    fn is_current(&self, stored: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(stored) else {
            return false;
        };
        let Ok(params) = Params::try_from(&parsed) else {
            return false;
        };
        let current = self.argon2.params();
        parsed.algorithm.as_str() == "argon2id"
            && params.m_cost() == current.m_cost()
            && params.t_cost() == current.t_cost()
            && params.p_cost() == current.p_cost()
    }
}

/// One argon2 memory area per core, lent out in turn.
struct MemoryPool {
    free: Mutex<Vec<Vec<Block>>>,
    returned: Condvar,
    blocks: usize,
}

impl MemoryPool {
    fn new(areas: usize, blocks: usize) -> Self {
        Self {
            free: Mutex::new((0..areas).map(|_| Vec::new()).collect()),
            returned: Condvar::new(),
            blocks,
        }
    }

    /// Runs `f` with `blocks` blocks of memory, waiting for a free area. An area is filled
    /// on first use; a hash with other parameters (before its upgrade) gets its own.
    fn with_blocks<R>(&self, blocks: usize, f: impl FnOnce(&mut [Block]) -> R) -> R {
        if blocks != self.blocks {
            return f(&mut vec![Block::default(); blocks]);
        }
        let mut area = {
            let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if let Some(area) = free.pop() {
                    break area;
                }
                free = self.returned.wait(free).unwrap_or_else(|p| p.into_inner());
            }
        };
        if area.len() != blocks {
            area = vec![Block::default(); blocks];
        }
        let result = f(&mut area);
        self.free
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(area);
        self.returned.notify_one();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(memory_kib: u32) -> Argon2Params {
        Argon2Params {
            memory_kib,
            iterations: 1,
            parallelism: 1,
        }
    }

    #[test]
    fn verifies_and_flags_rehash_on_parameter_change() {
        let old = PasswordHasher::new(small(1024)).unwrap();
        let hash = old.hash("Babou45+").unwrap();
        assert_eq!(
            old.verify("Babou45+", Some(&hash)).unwrap(),
            Verification::Match
        );
        assert_eq!(
            old.verify("nope", Some(&hash)).unwrap(),
            Verification::Mismatch
        );
        let new = PasswordHasher::new(small(2048)).unwrap();
        match new.verify("Babou45+", Some(&hash)).unwrap() {
            Verification::MatchRehash(h) => assert!(h.contains("m=2048")),
            other => panic!("expected a rehash, got {other:?}"),
        }
        assert_eq!(new.verify("x", None).unwrap(), Verification::Mismatch);
    }
}
