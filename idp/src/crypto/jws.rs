//! Compact JWS creation with a key parsed once (jsonwebtoken's `encode` re-parses the
//! private key on every call, which costs more than the signature itself for RSA).
//! Verification goes through `jsonwebtoken::decode`.

use jsonwebtoken::{Algorithm, Header};
use serde::Serialize;

use super::SigningAlg;
use super::keys::SigningKey;
use super::{CryptoError, b64url};

/// Serialises `claims` and signs them with `key`; `typ` goes in the header (`JWT`, or
/// `at+jwt` for access tokens per RFC 9068 §2.1).
pub fn sign<T: Serialize>(key: &SigningKey, typ: &str, claims: &T) -> Result<String, CryptoError> {
    let mut header = Header::new(match key.alg {
        SigningAlg::RS256 => Algorithm::RS256,
        SigningAlg::ES256 => Algorithm::ES256,
    });
    header.typ = Some(typ.to_owned());
    header.kid = Some(key.kid.clone());
    let header = serde_json::to_vec(&header).map_err(|e| CryptoError(e.to_string()))?;
    let claims = serde_json::to_vec(claims).map_err(|e| CryptoError(e.to_string()))?;
    let mut token = b64url(&header);
    token.push('.');
    token.push_str(&b64url(&claims));
    let signature = key.sign(token.as_bytes())?;
    token.push('.');
    token.push_str(&b64url(&signature));
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keys;
    use jsonwebtoken::{Validation, decode};

    #[test]
    fn signed_tokens_verify_with_published_key() {
        for alg in SigningAlg::ALL {
            let generated = keys::generate(alg, "k1").unwrap();
            let key = SigningKey::from_pkcs8("k1", alg, &generated.pkcs8).unwrap();
            let claims = serde_json::json!({"sub": "abc", "exp": 4_000_000_000u64});
            let token = sign(&key, "JWT", &claims).unwrap();
            let jwk: jsonwebtoken::jwk::Jwk =
                serde_json::from_value(generated.public_jwk.clone()).unwrap();
            let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
            let mut validation = Validation::new(match alg {
                SigningAlg::RS256 => Algorithm::RS256,
                SigningAlg::ES256 => Algorithm::ES256,
            });
            validation.validate_aud = false;
            let data = decode::<serde_json::Value>(&token, &decoding, &validation).unwrap();
            assert_eq!(data.claims["sub"], "abc");
            assert_eq!(data.header.kid.as_deref(), Some("k1"));
        }
    }
}
