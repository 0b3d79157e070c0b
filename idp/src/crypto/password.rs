//! Password hashing with argon2id (NIST 800-63B §3.1.1.2, OWASP Password Storage cheat
//! sheet: m = 19 MiB, t = 2, p = 1 by default).

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

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
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut hasher = Self {
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

    fn check(&self, password: &str, stored: &str) -> bool {
        match PasswordHash::new(stored) {
            Ok(parsed) => self
                .argon2
                .verify_password(password.as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        }
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
