//! Encryption at rest of private keys and server secrets under `IDP_MASTER_KEY`
//! (AES-256-GCM, a fresh 96-bit nonce per value, the value's name as associated data so a
//! sealed value cannot be moved to another row).

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use super::{CryptoError, random_bytes};

pub struct MasterKey(LessSafeKey);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    /// `bytes` must be 32 bytes (checked when the configuration is validated).
    pub fn new(bytes: &[u8]) -> Result<Self, CryptoError> {
        let key = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| CryptoError("the master key must be 32 bytes".into()))?;
        Ok(Self(LessSafeKey::new(key)))
    }

    pub fn seal(&self, name: &str, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let nonce_bytes = random_bytes(NONCE_LEN)?;
        let nonce = Nonce::try_assume_unique_for_key(&nonce_bytes)
            .map_err(|_| CryptoError("nonce".into()))?;
        let mut buf = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(nonce, Aad::from(name.as_bytes()), &mut buf)
            .map_err(|_| CryptoError("sealing failed".into()))?;
        let mut out = nonce_bytes;
        out.extend_from_slice(&buf);
        Ok(out)
    }

    pub fn open(&self, name: &str, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < NONCE_LEN {
            return Err(CryptoError(format!("sealed value {name} is truncated")));
        }
        let (nonce_bytes, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce_bytes)
            .map_err(|_| CryptoError("nonce".into()))?;
        let mut buf = ciphertext.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(name.as_bytes()), &mut buf)
            .map_err(|_| {
                CryptoError(format!(
                    "cannot decrypt {name}: wrong IDP_MASTER_KEY or altered data"
                ))
            })?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let key = MasterKey::new(&[7u8; 32]).unwrap();
        let sealed = key.seal("k1", b"secret").unwrap();
        assert_eq!(key.open("k1", &sealed).unwrap(), b"secret");
        assert!(key.open("k2", &sealed).is_err());
        assert!(
            MasterKey::new(&[0u8; 32])
                .unwrap()
                .open("k1", &sealed)
                .is_err()
        );
    }
}
