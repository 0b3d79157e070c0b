//! Signing keys: generated here, stored (sealed when a master key is set) in the database,
//! parsed once into key pairs that sign without re-reading DER.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair,
};
use jsonwebtoken::DecodingKey;
use serde_json::{Value, json};

use super::SigningAlg;
use super::{CryptoError, b64url};

/// A private key ready to sign, with its public half as a JWK and as a verification key.
pub struct SigningKey {
    pub kid: String,
    pub alg: SigningAlg,
    pair: KeyPairKind,
    pub public_jwk: Value,
    pub decoding_key: DecodingKey,
}

enum KeyPairKind {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

/// A freshly generated key: PKCS#8 DER of the private key and the public JWK.
pub struct GeneratedKey {
    pub pkcs8: Vec<u8>,
    pub public_jwk: Value,
}

pub fn generate(alg: SigningAlg, kid: &str) -> Result<GeneratedKey, CryptoError> {
    let pkcs8 = match alg {
        SigningAlg::RS256 => {
            let pair = RsaKeyPair::generate(KeySize::Rsa2048)
                .map_err(|_| CryptoError("RSA key generation failed".into()))?;
            pair.as_der()
                .map_err(|_| CryptoError("RSA key export failed".into()))?
                .as_ref()
                .to_vec()
        }
        SigningAlg::ES256 => EcdsaKeyPair::generate_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &aws_lc_rs::rand::SystemRandom::new(),
        )
        .map_err(|_| CryptoError("EC key generation failed".into()))?
        .as_ref()
        .to_vec(),
    };
    let key = SigningKey::from_pkcs8(kid, alg, &pkcs8)?;
    Ok(GeneratedKey {
        pkcs8,
        public_jwk: key.public_jwk,
    })
}

impl SigningKey {
    pub fn from_pkcs8(kid: &str, alg: SigningAlg, pkcs8: &[u8]) -> Result<Self, CryptoError> {
        let bad = |what: &str| CryptoError(format!("signing key {kid}: {what}"));
        let (pair, public_jwk, decoding_key) = match alg {
            SigningAlg::RS256 => {
                let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| bad("not an RSA key"))?;
                let public = pair.public_key();
                let n = public.modulus().big_endian_without_leading_zero().to_vec();
                let e = public.exponent().big_endian_without_leading_zero().to_vec();
                let jwk = json!({
                    "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                    "n": b64url(&n), "e": b64url(&e),
                });
                let decoding = DecodingKey::from_rsa_raw_components(&n, &e);
                (KeyPairKind::Rsa(pair), jwk, decoding)
            }
            SigningAlg::ES256 => {
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                    .map_err(|_| bad("not a P-256 key"))?;
                // Uncompressed SEC1 point: 0x04 || x (32 bytes) || y (32 bytes).
                let point = pair.public_key().as_ref();
                if point.len() != 65 {
                    return Err(bad("unexpected public point"));
                }
                let (x, y) = (b64url(&point[1..33]), b64url(&point[33..65]));
                let decoding = DecodingKey::from_ec_components(&x, &y)
                    .map_err(|_| bad("public point rejected"))?;
                let jwk = json!({
                    "kty": "EC", "use": "sig", "alg": "ES256", "kid": kid,
                    "crv": "P-256", "x": x, "y": y,
                });
                (KeyPairKind::Ec(pair), jwk, decoding)
            }
        };
        Ok(Self {
            kid: kid.to_owned(),
            alg,
            pair,
            public_jwk,
            decoding_key,
        })
    }

    /// Signs a JWS signing input (RFC 7515 §5.1) and returns the raw signature.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        match &self.pair {
            KeyPairKind::Rsa(pair) => {
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .map_err(|_| CryptoError("RSA signing failed".into()))?;
                Ok(sig)
            }
            KeyPairKind::Ec(pair) => pair
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| CryptoError("ECDSA signing failed".into())),
        }
    }
}
