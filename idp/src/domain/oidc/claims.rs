//! The `claims` request parameter (OIDC Core §5.5): single claims an application asks for,
//! for the ID token, for UserInfo, or both, besides what its scopes give. Each claim still
//! needs the client to be allowed the scope that would give it (§5.4), so the parameter
//! never reaches past a client's registration. `essential` only says the application
//! needs the claim for a smooth experience (§5.5.1): a claim the account has no value for
//! is left out, never an error. `acr` with `value` or `values` is read as `acr_values`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::{DomainError, DomainResult, ErrorCode};

/// What the `claims` parameter asked for, kept with the grant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestedClaims {
    #[serde(default)]
    pub id_token: Vec<String>,
    #[serde(default)]
    pub userinfo: Vec<String>,
    /// The `acr` values asked in `id_token.acr` (`value` or `values`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acr: Vec<String>,
}

fn invalid(message: &'static str) -> DomainError {
    DomainError::oauth(ErrorCode::InvalidRequest, message)
}

impl RequestedClaims {
    /// Reads the parameter: a JSON object whose `id_token` and `userinfo` members are
    /// objects of claim names, each null or an object with `essential`, `value`, `values`.
    pub fn parse(text: &str) -> DomainResult<Self> {
        let value: Value =
            serde_json::from_str(text).map_err(|_| invalid("claims is not a JSON object"))?;
        let top = value
            .as_object()
            .ok_or_else(|| invalid("claims is not a JSON object"))?;
        let mut requested = Self::default();
        for (target, list) in [
            ("id_token", &mut requested.id_token),
            ("userinfo", &mut requested.userinfo),
        ] {
            let Some(member) = top.get(target) else {
                continue;
            };
            let entries = member
                .as_object()
                .ok_or_else(|| invalid("claims: id_token and userinfo must be objects"))?;
            for (name, spec) in entries {
                if !(spec.is_null() || spec.is_object()) {
                    return Err(invalid("claims: each claim is null or an object"));
                }
                list.push(name.clone());
            }
            list.sort();
        }
        if let Some(acr) = top.get("id_token").and_then(|t| t.get("acr")) {
            let value = acr.get("value").and_then(Value::as_str).map(str::to_owned);
            let values = acr
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten();
            requested.acr = value
                .into_iter()
                .chain(values.filter_map(Value::as_str).map(str::to_owned))
                .collect();
        }
        Ok(requested)
    }

    pub fn is_empty(&self) -> bool {
        self.id_token.is_empty() && self.userinfo.is_empty()
    }
}

/// The scope that gives `claim` (OIDC Core §5.4, and this STS's `school`), if any.
pub fn scope_of(claim: &str) -> Option<&'static str> {
    Some(match claim {
        "preferred_username" | "name" | "given_name" | "family_name" | "locale" | "updated_at"
        | "birthdate" | "gender" => "profile",
        "email" | "email_verified" => "email",
        "address" => "address",
        "phone_number" | "phone_number_verified" => "phone",
        "account_kind" | "schools" | "organising_bodies" => "school",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parameter_as_core_writes_it() {
        let asked = RequestedClaims::parse(
            r#"{"userinfo": {"given_name": {"essential": true}, "birthdate": null},
                "id_token": {"email": null, "acr": {"essential": true, "values": ["urn:idp:acr:upstream"]}}}"#,
        )
        .unwrap();
        assert_eq!(asked.userinfo, ["birthdate", "given_name"]);
        assert_eq!(asked.id_token, ["acr", "email"]);
        assert_eq!(asked.acr, ["urn:idp:acr:upstream"]);
        for bad in [
            "[]",
            "nope",
            r#"{"userinfo": []}"#,
            r#"{"id_token": {"email": 3}}"#,
        ] {
            assert!(RequestedClaims::parse(bad).is_err(), "{bad}");
        }
        assert!(RequestedClaims::parse("{}").unwrap().is_empty());
        assert_eq!(scope_of("birthdate"), Some("profile"));
        assert_eq!(scope_of("sub"), None);
    }
}
