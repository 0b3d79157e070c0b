//! Where a login without an application lands: a page of the STS itself that sent the
//! person to log in (`/login?next=/admin/...`), never anywhere else; and likewise where
//! the language switch returns to. An open redirect
//! after login is what phishing needs (RFC 9700 §4.11.2; OWASP ASVS 5.1.5), so only the
//! STS's own signed-in pages are accepted, as a plain path.

/// A path on this STS to go to after logging in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Landing(String);

/// The signed-in pages a login may return to.
const PAGES: [&str; 2] = ["/admin", "/account"];

/// Every page a person may be on (where the language switch returns to).
const ANY_PAGE: [&str; 9] = [
    "/authorize",
    "/login",
    "/forgot",
    "/forgot-identifier",
    "/reset",
    "/wizard",
    "/logout",
    "/admin",
    "/account",
];

impl Landing {
    /// `next` if it is one of the STS's signed-in pages (with its own path and query);
    /// anything else (another host, `//host`, a backslash, a scheme) is refused.
    pub fn parse(next: &str) -> Option<Self> {
        Self::among(next, &PAGES)
    }

    /// `back` if it is any page of the STS (the home page, a login, a reset…): where the
    /// language switch returns to.
    pub fn page(back: &str) -> Option<Self> {
        if back == "/" {
            return Some(Self(back.to_owned()));
        }
        Self::among(back, &ANY_PAGE)
    }

    fn among(next: &str, pages: &[&str]) -> Option<Self> {
        let safe = next
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/-_.~?=&%+".contains(c));
        let page = pages.iter().any(|page| {
            next.strip_prefix(page)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
        });
        (safe && page && !next.contains("//")).then(|| Self(next.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Landing;

    #[test]
    fn the_language_switch_returns_to_any_page_of_the_sts() {
        for good in ["/", "/login?request=abc", "/reset/code?request=", "/wizard"] {
            assert!(Landing::page(good).is_some(), "{good}");
        }
        for bad in [
            "//evil.example",
            "/token",
            "https://evil.example/",
            "/loginx",
        ] {
            assert_eq!(Landing::page(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_the_sts_own_signed_in_pages() {
        for good in ["/admin", "/admin/migration/7?q=tom", "/account"] {
            assert_eq!(Landing::parse(good).map(|l| l.0), Some(good.to_owned()));
        }
        for bad in [
            "",
            "/",
            "https://evil.example/admin",
            "//evil.example/admin",
            "/admin//evil.example",
            "/\\evil.example",
            "/administrator",
            "/admin\\..\\x",
            "/token",
            "admin",
            "/admin/\u{0}",
        ] {
            assert_eq!(Landing::parse(bad), None, "{bad:?}");
        }
    }
}
