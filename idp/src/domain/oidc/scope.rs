//! OAuth scopes (RFC 6749 §3.3): parsed once from the space-delimited text a client sends
//! or a grant stores, then handled as a set.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Scope values, case-sensitive, in the order first given, without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Scope(Vec<String>);

impl Scope {
    pub const OPENID: &'static str = "openid";
    pub const OFFLINE_ACCESS: &'static str = "offline_access";

    /// The values of a `scope` parameter or a stored grant: separated by spaces (extra
    /// spaces are forgiven), duplicates dropped.
    pub fn parse(text: &str) -> Self {
        text.split(' ').filter(|s| !s.is_empty()).collect()
    }

    pub fn contains(&self, value: &str) -> bool {
        self.0.iter().any(|v| v == value)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The values `keep` accepts.
    pub fn only(&self, keep: impl Fn(&str) -> bool) -> Self {
        self.iter().filter(|v| keep(v)).collect()
    }

    /// The first value not in `granted`, if any (a narrower scope asked at refresh).
    pub fn beyond<'a>(&'a self, granted: &Scope) -> Option<&'a str> {
        self.iter().find(|v| !granted.contains(v))
    }
}

impl<'a> FromIterator<&'a str> for Scope {
    fn from_iter<I: IntoIterator<Item = &'a str>>(values: I) -> Self {
        let mut scope = Vec::<String>::new();
        for value in values {
            if !scope.iter().any(|v| v == value) {
                scope.push(value.to_owned());
            }
        }
        Self(scope)
    }
}

/// The space-delimited form (RFC 6749 §3.3), for responses, tokens and the store.
impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsed_once_as_a_set() {
        let scope = Scope::parse(" openid  profile openid email");
        assert_eq!(scope.to_string(), "openid profile email");
        assert!(scope.contains(Scope::OPENID) && !scope.contains("Profile"));
        let narrower = Scope::parse("openid email");
        assert_eq!(narrower.beyond(&scope), None);
        assert_eq!(Scope::parse("openid phone").beyond(&scope), Some("phone"));
        assert_eq!(scope.only(|v| v != "email").to_string(), "openid profile");
        assert!(Scope::parse("").is_empty());
    }
}
