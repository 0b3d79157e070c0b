//! Request parameters as sent, before validation.

use std::collections::HashMap;

use crate::domain::{DomainError, DomainResult, ErrorCode};

/// Longest value accepted for any parameter. Real values (state, nonce, PKCE challenges,
/// tokens) are far shorter; longer ones are refused rather than stored.
pub const MAX_PARAM_LEN: usize = 4096;

/// Parameters of a form or query string. RFC 6749 §3.1 and §3.2: a parameter must not be
/// sent twice; empty values count as absent.
#[derive(Debug, Clone, Default)]
pub struct Params(HashMap<String, String>);

impl Params {
    pub fn from_pairs(pairs: Vec<(String, String)>) -> DomainResult<Self> {
        let mut map = HashMap::with_capacity(pairs.len());
        for (k, v) in pairs {
            if v.len() > MAX_PARAM_LEN {
                return Err(DomainError::oauth(
                    ErrorCode::InvalidRequest,
                    format!("parameter {k} is longer than {MAX_PARAM_LEN} characters"),
                ));
            }
            if v.is_empty() {
                continue;
            }
            if map.insert(k.clone(), v).is_some() {
                return Err(DomainError::oauth(
                    ErrorCode::InvalidRequest,
                    format!("parameter {k} is repeated"),
                ));
            }
        }
        Ok(Self(map))
    }

    /// The parameters as pairs (in no particular order).
    pub fn pairs(&self) -> Vec<(String, String)> {
        self.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn require(&self, key: &str) -> DomainResult<&str> {
        self.get(key).ok_or_else(|| {
            DomainError::oauth(
                ErrorCode::InvalidRequest,
                format!("parameter {key} is missing"),
            )
        })
    }
}
