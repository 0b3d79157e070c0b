//! Cryptographic building blocks, all from aws-lc-rs (a maintained, native backend) or the
//! RustCrypto `argon2` crate. Nothing here is hand-rolled cryptography.

pub mod jws;
pub mod keys;
pub mod legacy;
pub mod password;
pub mod sealing;

use aws_lc_rs::{constant_time, digest, rand};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

#[derive(Debug, thiserror::Error)]
#[error("cryptographic failure: {0}")]
pub struct CryptoError(pub String);

/// JWS algorithms this provider signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SigningAlg {
    RS256,
    ES256,
}

/// A name that is not one of [`SigningAlg`]'s.
#[derive(Debug, thiserror::Error)]
#[error("RS256 or ES256")]
pub struct UnknownAlg;

impl SigningAlg {
    pub const ALL: [SigningAlg; 2] = [Self::RS256, Self::ES256];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
        }
    }

    pub fn parse(text: &str) -> Result<Self, UnknownAlg> {
        match text {
            "RS256" => Ok(Self::RS256),
            "ES256" => Ok(Self::ES256),
            _ => Err(UnknownAlg),
        }
    }
}

/// `len` bytes from the operating system's CSPRNG.
pub fn random_bytes(len: usize) -> Result<Vec<u8>, CryptoError> {
    let mut buf = vec![0u8; len];
    rand::fill(&mut buf).map_err(|_| CryptoError("the system random generator failed".into()))?;
    Ok(buf)
}

/// A random (version 4) UUID from the same generator: a token's `jti`. It draws on the
/// kernel only to seed itself, where `Uuid::new_v4` asks the kernel for every id (a system
/// call per token: 3 % of a `client_credentials` grant's time).
pub fn random_uuid() -> Result<uuid::Uuid, CryptoError> {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes).map_err(|_| CryptoError("the system random generator failed".into()))?;
    Ok(uuid::Builder::from_random_bytes(bytes).into_uuid())
}

/// `len` characters drawn uniformly from `alphabet` (ASCII): codes and temporary passwords
/// people read and type. Bytes that would bias the draw are thrown away.
pub fn random_chars(alphabet: &[u8], len: usize) -> Result<String, CryptoError> {
    let n = alphabet.len();
    if n == 0 || n > 256 {
        return Err(CryptoError("an alphabet of 1 to 256 characters".into()));
    }
    let limit = 256 - 256 % n;
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in random_bytes(len * 2)? {
            if (b as usize) < limit && out.len() < len {
                out.push(alphabet[b as usize % n] as char);
            }
        }
    }
    Ok(out)
}

/// An opaque bearer secret (code, refresh token, cookie) of 256 bits, base64url.
/// RFC 6749 §10.10 and RFC 9700 ask for at least 128 bits; we take twice that.
pub fn random_token() -> Result<String, CryptoError> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes(32)?))
}

/// SHA-256: secrets are stored only as this hash. They carry 256 bits of entropy, so a fast
/// hash is as safe as a slow one here and keeps grants cheap (unlike argon2, ~45/s).
pub fn sha256(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, data).as_ref().to_vec()
}

/// Bytes as lowercase hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two secrets (or their hashes) without leaking where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    constant_time::verify_slices_are_equal(a, b).is_ok()
}

pub fn b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// PKCE S256 transformation (RFC 7636 §4.2): BASE64URL(SHA256(ASCII(code_verifier))).
pub fn pkce_s256(verifier: &str) -> String {
    b64url(&sha256(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_rfc7636_appendix_b() {
        assert_eq!(
            pkce_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn random_uuids_are_version_4_and_differ() {
        let a = random_uuid().unwrap();
        let b = random_uuid().unwrap();
        assert_eq!(a.get_version(), Some(uuid::Version::Random));
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
        assert_ne!(a, b);
    }

    #[test]
    fn tokens_are_unique_and_long() {
        let a = random_token().unwrap();
        let b = random_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(b64url_decode(&a).unwrap().len(), 32);
    }
}
