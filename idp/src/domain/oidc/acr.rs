//! Authentication context classes (OIDC Core §2 `acr`, §3.1.2.1 `acr_values`): how strongly
//! a login was made, as this STS names it. Every ID token carries one; an application may
//! ask for some with `acr_values`, a voluntary request (§5.5.1.1): an SSO session of another
//! class is not reused (the person logs in again), and the token says what the login was.

/// The classes this STS issues, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acr {
    /// The identifier and password on the STS's own form (or a reset, or the wizard).
    Password,
    /// A login at an upstream provider (Microsoft, Google) that vouched for the person.
    Upstream,
}

impl Acr {
    pub const ALL: [Acr; 2] = [Self::Password, Self::Upstream];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "urn:idp:acr:password",
            Self::Upstream => "urn:idp:acr:upstream",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == value)
    }

    /// The class of a login that went through upstream provider `idp`, if any.
    pub fn of(idp: Option<&str>) -> Self {
        match idp {
            Some(_) => Self::Upstream,
            None => Self::Password,
        }
    }
}

/// The classes an `acr_values` parameter asks for, in its order of preference; values
/// this STS does not issue are passed over (the request is voluntary).
pub fn requested(acr_values: Option<&str>) -> Vec<String> {
    acr_values
        .unwrap_or_default()
        .split(' ')
        .filter_map(Acr::parse)
        .map(|a| a.as_str().to_owned())
        .collect()
}

/// Whether a session of class `acr` answers a request for `wanted` (none asked: any).
pub fn satisfies(acr: Acr, wanted: &[String]) -> bool {
    wanted.is_empty() || wanted.iter().any(|w| w == acr.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_values_are_passed_over() {
        let wanted = requested(Some("urn:other:loa:3 urn:idp:acr:upstream"));
        assert_eq!(wanted, ["urn:idp:acr:upstream"]);
        assert!(satisfies(Acr::Upstream, &wanted));
        assert!(!satisfies(Acr::Password, &wanted));
        assert!(satisfies(
            Acr::Password,
            &requested(Some("urn:other:loa:3"))
        ));
        assert!(satisfies(Acr::Password, &requested(None)));
        assert_eq!(Acr::of(Some("microsoft")), Acr::Upstream);
    }
}
