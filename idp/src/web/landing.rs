//! Where a login without an application lands: a page of the STS itself that sent the
//! person to log in (`/login?next=/admin/...`), never anywhere else. An open redirect
//! after login is what phishing needs (RFC 9700 §4.11.2; OWASP ASVS 5.1.5), so only the
//! STS's own signed-in pages are accepted, as a plain path.

/// A path on this STS to go to after logging in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Landing(String);

/// The signed-in pages a login may return to.
const PAGES: [&str; 2] = ["/admin", "/account"];

impl Landing {
    /// `next` if it is one of the STS's signed-in pages (with its own path and query);
    /// anything else (another host, `//host`, a backslash, a scheme) is refused.
    pub fn parse(next: &str) -> Option<Self> {
        let safe = next
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/-_.~?=&%+".contains(c));
        let page = PAGES.iter().any(|page| {
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
