//! Who receives mail about an account: its own address and those of its co-accounts, each
//! in the language of the person who owns it.

use crate::domain::DomainResult;
use crate::domain::links;
use crate::domain::types::normalize;
use crate::domain::users::User;
use crate::i18n::Locale;
use crate::store::DbConn;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The address as written.
    pub address: String,
    /// The address compared: one mail per mailbox, whatever its case.
    pub normalized: String,
    pub locale: Locale,
}

impl Recipient {
    /// The address of `user`, if it has one, written to in its language.
    pub(super) fn of(user: &User, default: Locale) -> Option<Self> {
        let address = user.email.as_deref()?.trim();
        (!address.is_empty()).then(|| Self {
            address: address.to_owned(),
            normalized: normalize(address),
            locale: user.locale_or(default),
        })
    }
}

/// Every address that receives mail about `user`, without repeats: its own first, then
/// its co-accounts' (guardians, substitutes).
pub fn of_account(conn: &mut DbConn, user: &User, default: Locale) -> DomainResult<Vec<Recipient>> {
    let mut out: Vec<Recipient> = Recipient::of(user, default).into_iter().collect();
    for (co_account, _) in links::co_accounts(conn, user.id)? {
        if co_account.disabled {
            continue;
        }
        if let Some(r) = Recipient::of(&co_account, default)
            && !out.iter().any(|o| o.normalized == r.normalized)
        {
            out.push(r);
        }
    }
    Ok(out)
}

/// An address as the reset page may show it to someone who proved they hold the link or
/// the code: enough to recognise one's mailbox ("j***@s***.be"), not enough to learn
/// someone's address.
pub fn masked(address: &str) -> String {
    let Some((local, domain)) = address.trim().rsplit_once('@') else {
        return "***".to_owned();
    };
    let first = |text: &str| text.chars().next().map(String::from).unwrap_or_default();
    let (host, tld) = domain.rsplit_once('.').unwrap_or((domain, ""));
    let tld = if tld.is_empty() {
        String::new()
    } else {
        format!(".{tld}")
    };
    format!("{}***@{}***{tld}", first(local), first(host))
}

#[cfg(test)]
mod tests {
    use super::masked;

    #[test]
    fn an_address_is_recognisable_not_readable() {
        assert_eq!(masked("jean.dupont@school.be"), "j***@s***.be");
        assert_eq!(masked("x@mail.example.com"), "x***@m***.com");
        assert_eq!(masked("nobody"), "***");
        assert_eq!(masked("é@é"), "é***@é***");
    }
}
