//! Password hashes of legacy school systems, as `account-migration` moves them in. Each is
//! read once, at import: a hash that cannot be read is a row error there, never a failure
//! at login. At the first login the legacy-hash authenticator verifies it, and the account
//! gets an argon2id hash instead (what Auth0, Kratos, Zitadel and Kanidm do; nobody
//! re-hashes at import, which is why imports stay fast).
//!
//! Cost parameters come from the hash itself, so they are capped: a header claiming a
//! billion PBKDF2 iterations must not turn one login into a denial of service.
//!
//! Formats so far: ASP.NET Identity V2 and V3 (CREOS-style .NET platforms), Django's
//! `pbkdf2_sha256` / `pbkdf2_sha1`, LDAP `{PBKDF2}`, `{PBKDF2-SHA256}`, `{PBKDF2-SHA512}`,
//! `{SHA}`, `{SSHA}`, `{SSHA256}`, `{SSHA512}`,
//! `{MD5}`, `{SMD5}`, phpass `$P$` / `$H$` (old Moodle, WordPress), Drupal 7 `$S$` (and
//! `U$S$`), MD5-crypt `$1$` and SHA-crypt `$5$` / `$6$` (also inside LDAP `{CRYPT}`),
//! argon2 and scrypt PHC strings, bcrypt `$2a$`,
//! `$2b$`, `$2y$` (with bcrypt's 72-byte rule, as the legacy systems applied it), and the
//! formats an import mapping declares with their salt column ([`Declared`]: ASP.NET
//! Membership, bare MD5/SHA-1/SHA-256 digests), kept in a canonical text of our own.

use std::num::NonZeroU32;

use aws_lc_rs::{constant_time, digest, pbkdf2};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::hex;

/// The most PBKDF2 iterations a legacy hash may ask for: above Django 5's 1,000,000 and
/// ASP.NET Core's 100,000, about half a second on these machines.
pub const MAX_PBKDF2_ITERATIONS: u32 = 1_200_000;
/// The highest bcrypt cost a legacy hash may ask for (2^13 rounds, about half a second).
pub const MAX_BCRYPT_COST: u32 = 13;
/// The most memory (KiB), passes and lanes an argon2 hash may ask for.
pub const MAX_ARGON2: (u32, u32, u32) = (65_536, 10, 4);
/// The most rounds a SHA-crypt hash may ask for (the format allows 999,999,999).
pub const MAX_SHA_CRYPT_ROUNDS: u32 = 500_000;
/// The most rounds, as a power of two, a phpass hash may ask for (2^20 MD5 rounds).
pub const MAX_PHPASS_LOG2: u32 = 20;

/// phpass's alphabet, for its round count and its output.
const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A legacy hash, read and checked for sound parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegacyHash {
    /// PBKDF2 over the UTF-8 password: ASP.NET Identity V2 (HMAC-SHA1, 1000 iterations) and
    /// V3 (its header names the PRF, the iterations and the salt), Django.
    Pbkdf2 {
        format: &'static str,
        prf: Prf,
        iterations: NonZeroU32,
        salt: Vec<u8>,
        derived: Vec<u8>,
    },
    /// One digest of the password and a salt (none for `{SHA}`): LDAP (salt after the
    /// UTF-8 password), ASP.NET Membership (salt before the UTF-16LE password), bare digests
    /// as the import's mapping declares them.
    SaltedDigest {
        format: &'static str,
        digest: Digest,
        salt: Vec<u8>,
        hash: Vec<u8>,
        salt_first: bool,
        utf16: bool,
    },
    /// phpass portable hashes (`$P$`, `$H$`): 2^log2 rounds of MD5 over the salt, then the
    /// previous digest, with the password. Drupal 7's `$S$` is the same with SHA-512 and
    /// the text cut at 55 characters; its `U$S$` hashes were made from the MD5 (hex) of the
    /// password, when Drupal 6 accounts were upgraded.
    Phpass {
        log2: u32,
        /// The first 12 characters: marker, round count, 8-character salt.
        setting: String,
        stored: String,
        digest: Digest,
        /// Drupal's `U$` prefix: the password is first replaced by its MD5 in hex.
        md5_first: bool,
    },
    /// MD5-crypt (`$1$`), the crypt(3) of old Linux systems and many PHP platforms.
    Md5Crypt { salt: String, stored: String },
    /// scrypt in PHC form (`$scrypt$ln=…,r=…,p=…$salt$hash`).
    Scrypt(String),
    /// SHA-crypt (`$5$`, `$6$`) as glibc's crypt writes it.
    ShaCrypt {
        format: &'static str,
        stored: String,
    },
    /// argon2 (i, d or id) in PHC form, as other identity providers store it.
    Argon2(String),
    /// bcrypt in modular-crypt form.
    Bcrypt(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prf {
    HmacSha1,
    HmacSha256,
    HmacSha512,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digest {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

/// Why a stored hash cannot be used; said in the import report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LegacyHashError {
    #[error("not a hash format we read")]
    UnknownFormat,
    #[error("{0}: malformed")]
    Malformed(&'static str),
    #[error("{0}: {1} iterations, more than the {MAX_PBKDF2_ITERATIONS} allowed")]
    TooManyIterations(&'static str, u32),
    #[error("bcrypt cost {0}, more than the {MAX_BCRYPT_COST} allowed")]
    CostTooHigh(u32),
    #[error("phpass: 2^{0} rounds, more than the 2^{MAX_PHPASS_LOG2} allowed")]
    TooManyRounds(u32),
    #[error("{0}: {1} rounds, more than the {MAX_SHA_CRYPT_ROUNDS} allowed")]
    TooManyShaCryptRounds(&'static str, u32),
    #[error("argon2: m={0} KiB, t={1}, p={2}, more than the {MAX_ARGON2:?} allowed")]
    Argon2TooCostly(u32, u32, u32),
    #[error("scrypt asks for {0} MiB of memory or {1} lanes (at most 64 MiB and 4)")]
    ScryptTooCostly(u64, u32),
}

impl Prf {
    fn algorithm(self) -> pbkdf2::Algorithm {
        match self {
            Self::HmacSha1 => pbkdf2::PBKDF2_HMAC_SHA1,
            Self::HmacSha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            Self::HmacSha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }

    fn output_len(self) -> usize {
        match self {
            Self::HmacSha1 => 20,
            Self::HmacSha256 => 32,
            Self::HmacSha512 => 64,
        }
    }
}

impl Digest {
    fn digest(self, input: &[u8]) -> Vec<u8> {
        use md5::Digest as _;
        let algorithm = match self {
            Self::Md5 => return md5::Md5::digest(input).to_vec(),
            Self::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha256 => &digest::SHA256,
            Self::Sha512 => &digest::SHA512,
        };
        digest::digest(algorithm, input).as_ref().to_vec()
    }

    fn output_len(self) -> usize {
        match self {
            Self::Md5 => 16,
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }
}

fn iterations(format: &'static str, n: u32) -> Result<NonZeroU32, LegacyHashError> {
    if n > MAX_PBKDF2_ITERATIONS {
        return Err(LegacyHashError::TooManyIterations(format, n));
    }
    NonZeroU32::new(n).ok_or(LegacyHashError::Malformed(format))
}

fn base64(format: &'static str, text: &str) -> Result<Vec<u8>, LegacyHashError> {
    STANDARD
        .decode(text.trim())
        .map_err(|_| LegacyHashError::Malformed(format))
}

impl LegacyHash {
    /// Reads a self-describing stored hash.
    pub fn parse(stored: &str) -> Result<Self, LegacyHashError> {
        let stored = stored.trim();
        // RFC 2307's `{CRYPT}` holds a crypt(3) string: read the string itself.
        if let Some(inner) = stored
            .get(..7)
            .filter(|p| p.eq_ignore_ascii_case("{CRYPT}"))
            .and_then(|_| stored.get(7..))
        {
            return Self::parse(inner);
        }
        if stored.starts_with("$2a$") || stored.starts_with("$2b$") || stored.starts_with("$2y$") {
            return bcrypt_hash(stored);
        }
        if let Some(rest) = stored.strip_prefix("pbkdf2_sha256$") {
            return django(rest, "django pbkdf2_sha256", Prf::HmacSha256);
        }
        if let Some(rest) = stored.strip_prefix("pbkdf2_sha1$") {
            return django(rest, "django pbkdf2_sha1", Prf::HmacSha1);
        }
        if stored.starts_with('{') {
            return ldap(stored);
        }
        if stored.starts_with("$argon2") {
            return argon2_hash(stored);
        }
        if let Some(rest) = stored.strip_prefix("$legacy$") {
            return declared(rest);
        }
        if stored.starts_with("$5$") || stored.starts_with("$6$") {
            return sha_crypt(stored);
        }
        if stored.starts_with("$P$") || stored.starts_with("$H$") {
            return phpass(stored, Digest::Md5, false);
        }
        if stored.starts_with("$S$") {
            return phpass(stored, Digest::Sha512, false);
        }
        if let Some(rest) = stored.strip_prefix('U').filter(|r| r.starts_with("$S$")) {
            return phpass(rest, Digest::Sha512, true);
        }
        if stored.starts_with("$1$") {
            return md5_crypt(stored);
        }
        if stored.starts_with("$scrypt$") {
            return scrypt_hash(stored);
        }
        aspnet(stored)
    }

    /// The format's name, for the audit trail and reports.
    pub fn format(&self) -> &'static str {
        match self {
            Self::Pbkdf2 { format, .. } | Self::SaltedDigest { format, .. } => format,
            Self::Phpass {
                digest: Digest::Sha512,
                ..
            } => "drupal 7",
            Self::Phpass { .. } => "phpass",
            Self::Md5Crypt { .. } => "md5-crypt",
            Self::Scrypt(_) => "scrypt",
            Self::Argon2(_) => "argon2",
            Self::ShaCrypt { format, .. } => format,
            Self::Bcrypt(_) => "bcrypt",
        }
    }

    /// Whether `password` is the one this hash was made from (compared in constant time).
    pub fn verify(&self, password: &str) -> bool {
        match self {
            Self::Pbkdf2 {
                prf,
                iterations,
                salt,
                derived,
                ..
            } => pbkdf2::verify(
                prf.algorithm(),
                *iterations,
                salt,
                password.as_bytes(),
                derived,
            )
            .is_ok(),
            Self::SaltedDigest {
                digest,
                salt,
                hash,
                salt_first,
                utf16,
                ..
            } => {
                let password: Vec<u8> = if *utf16 {
                    password.encode_utf16().flat_map(u16::to_le_bytes).collect()
                } else {
                    password.as_bytes().to_vec()
                };
                let input = if *salt_first {
                    [salt.as_slice(), &password].concat()
                } else {
                    [password.as_slice(), salt].concat()
                };
                constant_time::verify_slices_are_equal(&digest.digest(&input), hash).is_ok()
            }
            Self::Phpass {
                log2,
                setting,
                stored,
                digest,
                md5_first,
            } => {
                let prehashed;
                let password = if *md5_first {
                    prehashed = hex(&Digest::Md5.digest(password.as_bytes()));
                    prehashed.as_str()
                } else {
                    password
                };
                let computed = phpass_hash(password, setting, *log2, *digest);
                // Drupal keeps the first 55 characters; phpass all 34.
                let computed = computed.get(..stored.len()).unwrap_or_default();
                constant_time::verify_slices_are_equal(computed.as_bytes(), stored.as_bytes())
                    .is_ok()
            }
            Self::Md5Crypt { salt, stored } => {
                let computed = md5_crypt_hash(password.as_bytes(), salt.as_bytes());
                constant_time::verify_slices_are_equal(computed.as_bytes(), stored.as_bytes())
                    .is_ok()
            }
            Self::Scrypt(stored) => {
                use scrypt::password_hash::{PasswordHash, PasswordVerifier};
                PasswordHash::new(stored).is_ok_and(|hash| {
                    scrypt::Scrypt
                        .verify_password(password.as_bytes(), &hash)
                        .is_ok()
                })
            }
            Self::ShaCrypt { format, stored } => match *format {
                "sha256-crypt" => sha_crypt::sha256_check(password, stored).is_ok(),
                _ => sha_crypt::sha512_check(password, stored).is_ok(),
            },
            Self::Argon2(stored) => {
                use argon2::password_hash::{PasswordHash, PasswordVerifier};
                PasswordHash::new(stored).is_ok_and(|hash| {
                    argon2::Argon2::default()
                        .verify_password(password.as_bytes(), &hash)
                        .is_ok()
                })
            }
            // The legacy systems truncated at 72 bytes; so does this check.
            Self::Bcrypt(hash) => bcrypt::verify(password, hash).unwrap_or(false),
        }
    }

    /// Whether the format is one fast digest (the LDAP schemes, salted or not): cheap to
    /// guess offline, so the first login also asks for a new password.
    pub fn is_weak(&self) -> bool {
        matches!(self, Self::SaltedDigest { .. })
    }
}

fn bcrypt_hash(stored: &str) -> Result<LegacyHash, LegacyHashError> {
    let parts: bcrypt::HashParts = stored
        .parse()
        .map_err(|_| LegacyHashError::Malformed("bcrypt"))?;
    if parts.get_cost() > MAX_BCRYPT_COST {
        return Err(LegacyHashError::CostTooHigh(parts.get_cost()));
    }
    Ok(LegacyHash::Bcrypt(stored.to_owned()))
}

/// Django: `pbkdf2_sha256$ITERATIONS$SALT$BASE64`; the salt is used as its UTF-8 text.
fn django(rest: &str, format: &'static str, prf: Prf) -> Result<LegacyHash, LegacyHashError> {
    let mut fields = rest.splitn(3, '$');
    let (Some(count), Some(salt), Some(hash)) = (fields.next(), fields.next(), fields.next())
    else {
        return Err(LegacyHashError::Malformed(format));
    };
    let count: u32 = count
        .parse()
        .map_err(|_| LegacyHashError::Malformed(format))?;
    let derived = base64(format, hash)?;
    if salt.is_empty() || derived.len() != prf.output_len() {
        return Err(LegacyHashError::Malformed(format));
    }
    Ok(LegacyHash::Pbkdf2 {
        format,
        prf,
        iterations: iterations(format, count)?,
        salt: salt.as_bytes().to_vec(),
        derived,
    })
}

/// LDAP userPassword schemes (RFC 2307 and the salted variants OpenLDAP writes).
fn ldap(stored: &str) -> Result<LegacyHash, LegacyHashError> {
    let (scheme, rest) = stored
        .strip_prefix('{')
        .and_then(|s| s.split_once('}'))
        .ok_or(LegacyHashError::UnknownFormat)?;
    let pbkdf2_prf = match scheme.to_ascii_uppercase().as_str() {
        "PBKDF2" => Some(("ldap {PBKDF2}", Prf::HmacSha1)),
        "PBKDF2-SHA256" => Some(("ldap {PBKDF2-SHA256}", Prf::HmacSha256)),
        "PBKDF2-SHA512" => Some(("ldap {PBKDF2-SHA512}", Prf::HmacSha512)),
        _ => None,
    };
    if let Some((format, prf)) = pbkdf2_prf {
        return ldap_pbkdf2(rest, format, prf);
    }
    let (format, digest, salted) = match scheme.to_ascii_uppercase().as_str() {
        "MD5" => ("ldap {MD5}", Digest::Md5, false),
        "SMD5" => ("ldap {SMD5}", Digest::Md5, true),
        "SHA" => ("ldap {SHA}", Digest::Sha1, false),
        "SSHA" => ("ldap {SSHA}", Digest::Sha1, true),
        "SSHA256" => ("ldap {SSHA256}", Digest::Sha256, true),
        "SSHA512" => ("ldap {SSHA512}", Digest::Sha512, true),
        _ => return Err(LegacyHashError::UnknownFormat),
    };
    let bytes = base64(format, rest)?;
    let n = digest.output_len();
    if bytes.len() < n || (!salted && bytes.len() != n) || (salted && bytes.len() == n) {
        return Err(LegacyHashError::Malformed(format));
    }
    let (hash, salt) = bytes.split_at(n);
    Ok(LegacyHash::SaltedDigest {
        format,
        digest,
        salt: salt.to_vec(),
        hash: hash.to_vec(),
        salt_first: false,
        utf16: false,
    })
}

/// passlib's LDAP PBKDF2 schemes: `ROUNDS$SALT$HASH`, salt and hash in "adapted base64"
/// (`.` for `+`, no padding).
fn ldap_pbkdf2(rest: &str, format: &'static str, prf: Prf) -> Result<LegacyHash, LegacyHashError> {
    let malformed = LegacyHashError::Malformed(format);
    let adapted = |text: &str| {
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(text.replace('.', "+"))
            .map_err(|_| malformed.clone())
    };
    let fields: Vec<&str> = rest.split('$').collect();
    let [rounds, salt, hash] = fields.as_slice() else {
        return Err(malformed);
    };
    let rounds: u32 = rounds.parse().map_err(|_| malformed.clone())?;
    let (salt, derived) = (adapted(salt)?, adapted(hash)?);
    if salt.is_empty() || derived.len() != prf.output_len() {
        return Err(malformed);
    }
    Ok(LegacyHash::Pbkdf2 {
        format,
        prf,
        iterations: iterations(format, rounds)?,
        salt,
        derived,
    })
}

/// A format the import's mapping declares, because the hash says nothing about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Declared {
    /// ASP.NET `SqlMembershipProvider`: the digest of the salt column's bytes (base64)
    /// followed by the UTF-16LE password; the hash in base64.
    MembershipSha1,
    MembershipSha256,
    /// A bare digest of the UTF-8 password, with the salt column's text (if any) before or
    /// after it; the hash in hex or base64.
    Md5,
    Sha1,
    Sha256,
}

/// Where a declared salt goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaltAt {
    Before,
    After,
}

impl Declared {
    const ALL: [Declared; 5] = [
        Self::MembershipSha1,
        Self::MembershipSha256,
        Self::Md5,
        Self::Sha1,
        Self::Sha256,
    ];

    /// The format an import mapping names: `md5`, `sha1`, `sha256`, `aspnet-membership-sha1`
    /// or `aspnet-membership-sha256` (case, spaces, `-` and `_` do not matter).
    pub fn parse(name: &str) -> Option<Self> {
        let wanted: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        Self::ALL.into_iter().find(|d| {
            d.name()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .eq(wanted.chars())
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::MembershipSha1 => "aspnet membership sha1",
            Self::MembershipSha256 => "aspnet membership sha256",
            Self::Md5 => "md5",
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
        }
    }

    fn digest(self) -> Digest {
        match self {
            Self::Md5 => Digest::Md5,
            Self::MembershipSha1 | Self::Sha1 => Digest::Sha1,
            Self::MembershipSha256 | Self::Sha256 => Digest::Sha256,
        }
    }

    fn membership(self) -> bool {
        matches!(self, Self::MembershipSha1 | Self::MembershipSha256)
    }

    /// The canonical text stored for a declared hash, which `LegacyHash::parse` reads back:
    /// `$legacy$NAME$before|after$SALT$HASH`, salt and hash in base64. Checked now, so an
    /// unreadable row is an import error, never a failure at login.
    pub fn store(self, hash: &str, salt: &str, salt_at: SaltAt) -> Result<String, LegacyHashError> {
        let malformed = LegacyHashError::Malformed(self.name());
        let n = self.digest().output_len();
        let (salt, salt_at) = if self.membership() {
            // The provider always puts its (base64) salt first.
            let salt = base64(self.name(), salt)?;
            if salt.is_empty() {
                return Err(malformed);
            }
            (salt, SaltAt::Before)
        } else {
            (salt.as_bytes().to_vec(), salt_at)
        };
        let hash = hash.trim();
        let bytes = if !self.membership()
            && hash.len() == 2 * n
            && hash.bytes().all(|b| b.is_ascii_hexdigit())
        {
            (0..n)
                .map(|i| u8::from_str_radix(&hash[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|_| malformed.clone())?
        } else {
            base64(self.name(), hash)?
        };
        if bytes.len() != n {
            return Err(malformed);
        }
        let at = match salt_at {
            SaltAt::Before => "before",
            SaltAt::After => "after",
        };
        Ok(format!(
            "$legacy${}${at}${}${}",
            self.name(),
            STANDARD.encode(salt),
            STANDARD.encode(bytes)
        ))
    }
}

/// The canonical text `Declared::store` wrote.
fn declared(rest: &str) -> Result<LegacyHash, LegacyHashError> {
    let fields: Vec<&str> = rest.split('$').collect();
    let [name, at, salt, hash] = fields.as_slice() else {
        return Err(LegacyHashError::UnknownFormat);
    };
    let format = Declared::ALL
        .into_iter()
        .find(|d| d.name() == *name)
        .ok_or(LegacyHashError::UnknownFormat)?;
    let hash = base64(format.name(), hash)?;
    if hash.len() != format.digest().output_len() || !matches!(*at, "before" | "after") {
        return Err(LegacyHashError::Malformed(format.name()));
    }
    Ok(LegacyHash::SaltedDigest {
        format: format.name(),
        digest: format.digest(),
        salt: base64(format.name(), salt)?,
        hash,
        salt_first: *at == "before",
        utf16: format.membership(),
    })
}

/// argon2 in PHC form, its costs capped.
fn argon2_hash(stored: &str) -> Result<LegacyHash, LegacyHashError> {
    let malformed = LegacyHashError::Malformed("argon2");
    let hash = argon2::password_hash::PasswordHash::new(stored).map_err(|_| malformed.clone())?;
    let params = argon2::Params::try_from(&hash).map_err(|_| malformed.clone())?;
    if hash.hash.is_none() || argon2::Algorithm::try_from(hash.algorithm).is_err() {
        return Err(malformed);
    }
    let (m, t, p) = (params.m_cost(), params.t_cost(), params.p_cost());
    if m > MAX_ARGON2.0 || t > MAX_ARGON2.1 || p > MAX_ARGON2.2 {
        return Err(LegacyHashError::Argon2TooCostly(m, t, p));
    }
    Ok(LegacyHash::Argon2(stored.to_owned()))
}

/// SHA-crypt: `$5$` or `$6$`, an optional `rounds=N$`, a salt of up to 16 characters, and
/// the digest in crypt's base-64 (43 or 86 characters). Read without hashing anything, so
/// an import of many rows stays fast.
fn sha_crypt(stored: &str) -> Result<LegacyHash, LegacyHashError> {
    let (format, digest_len) = if stored.starts_with("$5$") {
        ("sha256-crypt", 43)
    } else {
        ("sha512-crypt", 86)
    };
    let malformed = LegacyHashError::Malformed(format);
    let mut fields: Vec<&str> = stored[3..].split('$').collect();
    if let Some(rounds) = fields.first().and_then(|f| f.strip_prefix("rounds=")) {
        let rounds: u32 = rounds.parse().map_err(|_| malformed.clone())?;
        if rounds > MAX_SHA_CRYPT_ROUNDS {
            return Err(LegacyHashError::TooManyShaCryptRounds(format, rounds));
        }
        fields.remove(0);
    }
    let crypt64 = |c: u8| c.is_ascii_alphanumeric() || c == b'.' || c == b'/';
    match fields.as_slice() {
        [salt, digest]
            if salt.len() <= 16
                && !salt.contains(':')
                && digest.len() == digest_len
                && digest.bytes().all(crypt64) =>
        {
            Ok(LegacyHash::ShaCrypt {
                format,
                stored: stored.to_owned(),
            })
        }
        _ => Err(malformed),
    }
}

/// phpass: `$P$`, the round count as one `ITOA64` character, 8 salt characters, then 22
/// characters of the 16-byte digest.
fn phpass(stored: &str, digest: Digest, md5_first: bool) -> Result<LegacyHash, LegacyHashError> {
    let format = if digest == Digest::Md5 {
        "phpass"
    } else {
        "drupal 7"
    };
    let malformed = LegacyHashError::Malformed(format);
    // phpass writes 12 + 22 characters (MD5); Drupal 7 cuts its 98 at 55 (SHA-512).
    let length = if digest == Digest::Md5 { 34 } else { 55 };
    if stored.len() != length || !stored.is_ascii() {
        return Err(malformed);
    }
    let log2 = ITOA64
        .iter()
        .position(|c| *c == stored.as_bytes()[3])
        .and_then(|p| u32::try_from(p).ok())
        .ok_or(malformed.clone())?;
    if log2 < 7 {
        return Err(malformed);
    }
    if log2 > MAX_PHPASS_LOG2 {
        return Err(LegacyHashError::TooManyRounds(log2));
    }
    Ok(LegacyHash::Phpass {
        log2,
        setting: stored[..12].to_owned(),
        stored: stored.to_owned(),
        digest,
        md5_first,
    })
}

/// The phpass hash of `password` for `setting` (its first 12 characters).
fn phpass_hash(password: &str, setting: &str, log2: u32, digest: Digest) -> String {
    let salt = setting.get(4..12).unwrap_or_default();
    let mut hash = digest.digest(&[salt.as_bytes(), password.as_bytes()].concat());
    for _ in 0..(1u64 << log2) {
        hash = digest.digest(&[&hash, password.as_bytes()].concat());
    }
    let mut out = setting.to_owned();
    out.push_str(&phpass_encode(&hash));
    out
}

/// MD5-crypt: `$1$`, a salt of up to 8 characters, `$`, 22 characters of crypt's base-64.
/// Its 1,000 rounds are fixed: nothing to cap.
fn md5_crypt(stored: &str) -> Result<LegacyHash, LegacyHashError> {
    let malformed = LegacyHashError::Malformed("md5-crypt");
    let rest = stored.get(3..).ok_or(malformed.clone())?;
    let (salt, hash) = rest.split_once('$').ok_or(malformed.clone())?;
    let crypt64 = |t: &str| t.bytes().all(|b| ITOA64.contains(&b));
    if salt.len() > 8 || hash.len() != 22 || !crypt64(salt) || !crypt64(hash) {
        return Err(malformed);
    }
    Ok(LegacyHash::Md5Crypt {
        salt: salt.to_owned(),
        stored: stored.to_owned(),
    })
}

/// Poul-Henning Kamp's MD5-crypt, as FreeBSD and glibc compute it.
fn md5_crypt_hash(password: &[u8], salt: &[u8]) -> String {
    use md5::{Digest as _, Md5};
    let mut alternate = Md5::new();
    alternate.update(password);
    alternate.update(salt);
    alternate.update(password);
    let alternate = alternate.finalize();
    let mut context = Md5::new();
    context.update(password);
    context.update(b"$1$");
    context.update(salt);
    let mut left = password.len();
    while left > 0 {
        let n = left.min(16);
        context.update(&alternate[..n]);
        left -= n;
    }
    let mut i = password.len();
    while i > 0 {
        if i & 1 == 1 {
            context.update([0u8]);
        } else {
            context.update(&password[..1]);
        }
        i >>= 1;
    }
    let mut result = context.finalize();
    for round in 0..1000 {
        let mut step = Md5::new();
        if round & 1 == 1 {
            step.update(password);
        } else {
            step.update(result);
        }
        if round % 3 != 0 {
            step.update(salt);
        }
        if round % 7 != 0 {
            step.update(password);
        }
        if round & 1 == 1 {
            step.update(result);
        } else {
            step.update(password);
        }
        result = step.finalize();
    }
    let mut out = format!("$1${}$", String::from_utf8_lossy(salt));
    let mut push = |value: u32, n: usize| {
        for k in 0..n {
            out.push(char::from(ITOA64[((value >> (6 * k)) & 0x3f) as usize]));
        }
    };
    let b = |i: usize| u32::from(result[i]);
    for (x, y, z) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        push((b(x) << 16) | (b(y) << 8) | b(z), 4);
    }
    push(b(11), 2);
    out
}

/// The most memory an scrypt hash may ask for: 128 · r · 2^ln bytes.
const MAX_SCRYPT_MEMORY: u64 = 64 * 1024 * 1024;

/// scrypt in PHC form, its memory and lanes capped like argon2's.
fn scrypt_hash(stored: &str) -> Result<LegacyHash, LegacyHashError> {
    let malformed = LegacyHashError::Malformed("scrypt");
    let hash = scrypt::password_hash::PasswordHash::new(stored).map_err(|_| malformed.clone())?;
    let params = scrypt::Params::try_from(&hash).map_err(|_| malformed.clone())?;
    if hash.hash.is_none() || hash.salt.is_none() {
        return Err(malformed);
    }
    let memory = (128 * u64::from(params.r())) << params.log_n();
    if memory > MAX_SCRYPT_MEMORY || params.p() > 4 {
        return Err(LegacyHashError::ScryptTooCostly(memory >> 20, params.p()));
    }
    Ok(LegacyHash::Scrypt(stored.to_owned()))
}

/// phpass's own base-64: little-endian groups of three bytes, `ITOA64` characters.
fn phpass_encode(input: &[u8]) -> String {
    let char_at = |v: u32| char::from(ITOA64[(v & 0x3f) as usize]);
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let value = chunk
            .iter()
            .enumerate()
            .fold(0u32, |v, (i, b)| v | (u32::from(*b) << (8 * i)));
        for k in 0..=chunk.len() {
            out.push(char_at(value >> (6 * k)));
        }
    }
    out
}

/// ASP.NET Identity: base64 of a format byte, then V2 (0x00): 16-byte salt and 32-byte
/// PBKDF2-HMAC-SHA1 subkey, 1000 iterations; V3 (0x01): PRF, iterations and salt length as
/// big-endian u32, the salt, the subkey (at least 16 bytes).
fn aspnet(stored: &str) -> Result<LegacyHash, LegacyHashError> {
    let bytes = STANDARD
        .decode(stored)
        .map_err(|_| LegacyHashError::UnknownFormat)?;
    match bytes.split_first() {
        Some((0x00, rest)) if rest.len() == 48 => {
            let (salt, derived) = rest.split_at(16);
            Ok(LegacyHash::Pbkdf2 {
                format: "aspnet identity v2",
                prf: Prf::HmacSha1,
                iterations: iterations("aspnet identity v2", 1000)?,
                salt: salt.to_vec(),
                derived: derived.to_vec(),
            })
        }
        Some((0x01, rest)) => aspnet_v3(rest),
        _ => Err(LegacyHashError::UnknownFormat),
    }
}

fn aspnet_v3(rest: &[u8]) -> Result<LegacyHash, LegacyHashError> {
    const FORMAT: &str = "aspnet identity v3";
    let malformed = LegacyHashError::Malformed(FORMAT);
    let word = |at: usize| -> Result<u32, LegacyHashError> {
        let bytes: [u8; 4] = rest
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .ok_or(malformed.clone())?;
        Ok(u32::from_be_bytes(bytes))
    };
    let prf = match word(0)? {
        0 => Prf::HmacSha1,
        1 => Prf::HmacSha256,
        2 => Prf::HmacSha512,
        _ => return Err(malformed),
    };
    let count = word(4)?;
    let salt_len = usize::try_from(word(8)?).map_err(|_| malformed.clone())?;
    let body = rest.get(12..).ok_or(malformed.clone())?;
    if salt_len < 16 || body.len() < salt_len + 16 {
        return Err(malformed);
    }
    let (salt, derived) = body.split_at(salt_len);
    Ok(LegacyHash::Pbkdf2 {
        format: FORMAT,
        prf,
        iterations: iterations(FORMAT, count)?,
        salt: salt.to_vec(),
        derived: derived.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The password of the vectors below. The vectors come from implementations that share
    /// no code with this one: Python's hashlib (ASP.NET layouts built by hand from the
    /// format), passlib (Django, LDAP) and pyca's bcrypt, plus the OpenBSD bcrypt vector.
    const PASSWORD: &str = "Ecole-2019!";

    fn check(stored: &str, format: &str) {
        let hash = LegacyHash::parse(stored).unwrap_or_else(|e| panic!("{stored}: {e}"));
        assert_eq!(hash.format(), format);
        assert!(hash.verify(PASSWORD), "{format}: the right password");
        assert!(!hash.verify("ecole-2019!"), "{format}: a wrong password");
        assert!(!hash.verify(""), "{format}: no password");
    }

    /// Drupal 7: hashcat's published example (mode 7900, password "hashcat"), then ours
    /// (made with a script that reproduces it), and a `U$` hash of a Drupal 6 upgrade.
    #[test]
    fn drupal_7_sha512_hashes() {
        let published =
            LegacyHash::parse("$S$C33783772bRXEx1aCsvY.dqgaaSu76XmVlKrW9Qu8IQlvxHlmzLf").unwrap();
        assert!(published.verify("hashcat"));
        assert!(!published.verify("Hashcat"));
        check(
            "$S$Dxyzabcde6E1ulllUQWGVd5jINwgar0L7ezb/UFFoNVI1XU/JK2d",
            "drupal 7",
        );
        check(
            "U$S$DqwertyuikgyXlNRUmEzmEfSihXaaDa98qq8QUplWeXZdE5KGATx",
            "drupal 7",
        );
        assert!(
            LegacyHash::parse("$S$Dxyzabcde6E1ulllUQWGVd5jINwgar0L7ezb/UFFoNVI1XU/JK2").is_err()
        );
        assert!(matches!(
            LegacyHash::parse("$S$Zxyzabcde6E1ulllUQWGVd5jINwgar0L7ezb/UFFoNVI1XU/JK2d"),
            Err(LegacyHashError::TooManyRounds(_))
        ));
    }

    /// MD5-crypt: hashcat's published example (mode 500, password "hashcat"), and one made
    /// with passlib.
    #[test]
    fn md5_crypt_hashes() {
        let published = LegacyHash::parse("$1$28772684$iEwNOgGugqO9.bIz5sk8k/").unwrap();
        assert!(published.verify("hashcat"));
        check("$1$abcdefgh$nhAblURO52keTP5wnveX9.", "md5-crypt");
        assert!(LegacyHash::parse("$1$abcdefgh$nhAblURO52keTP5wnveX9").is_err());
        assert!(LegacyHash::parse("$1$abcdefghi$nhAblURO52keTP5wnveX9.").is_err());
    }

    /// scrypt PHC strings (made with Python's hashlib.scrypt), memory capped.
    #[test]
    fn scrypt_phc_strings() {
        check(
            "$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$4oCf61FlPxaaR1ZtjJ6d71Q+W+HI+3B3qdQjLczKoF0",
            "scrypt",
        );
        assert!(matches!(
            LegacyHash::parse(
                "$scrypt$ln=20,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$4oCf61FlPxaaR1ZtjJ6d71Q+W+HI+3B3qdQjLczKoF0"
            ),
            Err(LegacyHashError::ScryptTooCostly(1024, 1))
        ));
    }

    #[test]
    fn aspnet_identity_v2_and_v3_with_each_prf() {
        check(
            "AAABAgMEBQYHCAkKCwwNDg/fUNffrD0w/zW+27zGWtP0VdPxHKoKIHGlOGjSjQSBxg==",
            "aspnet identity v2",
        );
        for v3 in [
            "AQAAAAAAACcQAAAAEGRlZmdoaWprbG1ub3BxcnP6UMV2CyDtPlmtiW/6sIqEpLF/UNhi0zacC4ceUCq2AA==",
            "AQAAAAEAACcQAAAAEGRlZmdoaWprbG1ub3BxcnOmsV53ZNW9+jOm1P664c/yiJBqMtX8hq3kyC9rmSYagw==",
            "AQAAAAIAACcQAAAAEGRlZmdoaWprbG1ub3BxcnNEIsjwFszkYq+uYhZNiEZFsOsA7bhpB1LyYC4onFfPrw==",
        ] {
            check(v3, "aspnet identity v3");
        }
    }

    #[test]
    fn django_pbkdf2() {
        check(
            "pbkdf2_sha256$20000$Pa55w0rdSa1t$XO3WEt8V2719ctGb4CZjy+myVtdNTIH1OwJX4q28Fjg=",
            "django pbkdf2_sha256",
        );
        check(
            "pbkdf2_sha1$20000$Pa55w0rdSa1t$L+ILicWGIBtwRkJwfr6R8/O4+LE=",
            "django pbkdf2_sha1",
        );
    }

    #[test]
    fn ldap_schemes() {
        check("{SHA}UzZ0B4pKUM9PlnGMtfzjeB5mbIQ=", "ldap {SHA}");
        check(
            "{SSHA}GTOWNyPzOSdDl0rrGiR1QB8oj9YBAgMEBQYHCA==",
            "ldap {SSHA}",
        );
        check(
            "{SSHA256}K7FLbvOZjPHwOf/skFG8GhdNlQ5pycvN0LAaB5LcqlwBAgMEBQYHCA==",
            "ldap {SSHA256}",
        );
        check(
            "{SSHA512}tns1SoqQWo55Tk5kd6VDGaWY0QXU4u3AYGf6VGDcyxI37bOZApUokDguU5jNormZceaz+E06Kmb37C+u2Y5NkgECAwQFBgcI",
            "ldap {SSHA512}",
        );
        check("{MD5}NdQYRcqHjjpj0bP8PO7ydQ==", "ldap {MD5}");
        check(
            "{PBKDF2-SHA256}29000$MDEyMzQ1Njc4OWFiY2RlZg$yWruDGiFn7lr1h4PFAXHx9W7vy0CeYRu7RPDpBP/Pfc",
            "ldap {PBKDF2-SHA256}",
        );
        check(
            "{PBKDF2}29000$MDEyMzQ1Njc4OWFiY2RlZg$owc0lELKfybdf16UPPauaYH72OA",
            "ldap {PBKDF2}",
        );
        check(
            "{PBKDF2-SHA512}25000$MDEyMzQ1Njc4OWFiY2RlZg$t2Og0dRT5RRY.uDFTPwH/RBaW31PZ3cJ3zW0MGK9dAdvKPbFDt87MN5a.4XKYoPFB97AS1.uTzwnVvS1d5DyGA",
            "ldap {PBKDF2-SHA512}",
        );
        assert!(
            !LegacyHash::parse("{PBKDF2}29000$MDEyMzQ1Njc4OWFiY2RlZg$owc0lELKfybdf16UPPauaYH72OA")
                .unwrap()
                .is_weak()
        );
        check("{SMD5}lr5m5hf3mdqimRlda4XsgQECAwQ=", "ldap {SMD5}");
        assert!(LegacyHash::parse("{SHA}UzZ0B4pKUM9PlnGMtfzjeB5mbIQ=").is_ok_and(|h| h.is_weak()));
    }

    /// Formats the mapping declares: stored in their canonical text, read back at login.
    #[test]
    fn declared_formats_with_their_salt() {
        let store = |format: Declared, hash: &str, salt: &str, at: SaltAt| {
            let text = format.store(hash, salt, at).unwrap();
            check(&text, format.name());
            assert!(LegacyHash::parse(&text).unwrap().is_weak());
        };
        let salt = "AAECAwQFBgcICQoLDA0ODw==";
        store(
            Declared::MembershipSha1,
            "RQWmlBmErMEDcDEeyGgVBuiEzgk=",
            salt,
            SaltAt::After,
        );
        store(
            Declared::MembershipSha256,
            "GB9AzdZGKg8jsB76Hyd6sT2laWz6LWlijXJ+S6iVU/0=",
            salt,
            SaltAt::Before,
        );
        store(
            Declared::Md5,
            "35d41845ca878e3a63d1b3fc3ceef275",
            "",
            SaltAt::After,
        );
        store(
            Declared::Sha1,
            "533674078A4A50CF4F96718CB5FCE3781E666C84",
            "",
            SaltAt::After,
        );
        store(
            Declared::Sha256,
            "fc0cd68ceaa079c30767d003318b2a5f547cf6941a13a4579b19fbf57ffdf277",
            "x9Fq",
            SaltAt::Before,
        );
        store(
            Declared::Sha256,
            "+xqtHe0A/HdtSbSpw7c15qWgLbp5obaXiSO0agdRGfQ=",
            "x9Fq",
            SaltAt::After,
        );
        // The salt on the wrong side, a digest of the wrong length, a missing salt.
        let wrong_side = Declared::Sha256
            .store(
                "+xqtHe0A/HdtSbSpw7c15qWgLbp5obaXiSO0agdRGfQ=",
                "x9Fq",
                SaltAt::Before,
            )
            .unwrap();
        assert!(!LegacyHash::parse(&wrong_side).unwrap().verify(PASSWORD));
        assert!(Declared::Md5.store("35d41845", "", SaltAt::After).is_err());
        assert!(
            Declared::MembershipSha1
                .store("RQWmlBmErMEDcDEeyGgVBuiEzgk=", "", SaltAt::Before)
                .is_err()
        );
    }

    /// Vectors from the reference argon2 library (argon2-cffi); hostile costs refused.
    #[test]
    fn argon2_phc() {
        check(
            "$argon2id$v=19$m=8192,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$7xJUMcehDptsPchxS5B42R9AIyO9ARcKq4ZuTDKsSgA",
            "argon2",
        );
        check(
            "$argon2i$v=19$m=4096,t=3,p=2$MDEyMzQ1Njc4OWFiY2RlZg$ws+wyeHZWk4tuAFEhQuiVUlr8Ujs6yCzftPcmTv0d8k",
            "argon2",
        );
        assert!(matches!(
            LegacyHash::parse(
                "$argon2id$v=19$m=4194304,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$7xJUMcehDptsPchxS5B42R9AIyO9ARcKq4ZuTDKsSgA"
            ),
            Err(LegacyHashError::Argon2TooCostly(4_194_304, 2, 1))
        ));
        assert!(LegacyHash::parse("$argon2id$v=19$m=8192,t=2,p=1$MDEy").is_err());
    }

    /// Vectors from glibc's crypt(3), also inside `{CRYPT}`.
    #[test]
    fn sha_crypt() {
        check(
            "{CRYPT}$6$saltstring$xWZkuVw0hMH.j1hv0.wDzSGZj2TkcLIfDZ8YMeGEIWaRb5lAQQ2NXHQ3tU.SbAiFbQ8dtG/NUNskao8nYJZMn1",
            "sha512-crypt",
        );
        check(
            "$5$rounds=10000$saltstring$nL.UUvu2.a27huxUVz8mdWSSl4Kbi4dqIejdemMSNm3",
            "sha256-crypt",
        );
        check(
            "$6$saltstring$xWZkuVw0hMH.j1hv0.wDzSGZj2TkcLIfDZ8YMeGEIWaRb5lAQQ2NXHQ3tU.SbAiFbQ8dtG/NUNskao8nYJZMn1",
            "sha512-crypt",
        );
        assert!(matches!(
            LegacyHash::parse(
                "$5$rounds=999999999$saltstring$nL.UUvu2.a27huxUVz8mdWSSl4Kbi4dqIejdemMSNm3"
            ),
            Err(LegacyHashError::TooManyShaCryptRounds(_, 999_999_999))
        ));
        assert!(LegacyHash::parse("$6$saltstring$short").is_err());
    }

    #[test]
    fn phpass_portable_hashes() {
        check("$P$6abcdefgh0Mq1CyD3sR27oCd54MYzy/", "phpass");
        check("$H$8ABCDEFGHdGUNV0yt54m6nElmmNKRZ.", "phpass");
        assert!(matches!(
            LegacyHash::parse("$P$Wabcdefgh0Mq1CyD3sR27oCd54MYzy/"),
            Err(LegacyHashError::TooManyRounds(_))
        ));
        assert!(LegacyHash::parse("$P$6abcdefgh0Mq1CyD3sR27oCd54MYzy").is_err());
    }

    #[test]
    fn bcrypt_prefixes_and_the_72_byte_rule() {
        check(
            "$2a$05$AkRr2Y7rVsTfkRbRa9zUVOzCoVUhGAr4ea/XsXD5cfOuJyuKq7WX6",
            "bcrypt",
        );
        check(
            "$2b$05$mCUaWXDJoTxQSd7WhUqm9.GajP.JpDqTjqX1yVFBP2Pm9BFDoBLhm",
            "bcrypt",
        );
        check(
            "$2y$05$537UgP.5UnXcm0BeVn1yhuElnlWj6NRU7vof0m0mNjpq.6.mGoIOS",
            "bcrypt",
        );
        // OpenBSD's published vector.
        let openbsd =
            LegacyHash::parse("$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW")
                .unwrap();
        assert!(openbsd.verify("U*U") && !openbsd.verify("U*V"));
        // Made from the first 72 bytes: what follows them never mattered.
        let long =
            LegacyHash::parse("$2b$04$PD/pJ9xyOjBmxx1Ag3OIqOd2CRXVJ8d53aipRG/69tS9drmug72Qm")
                .unwrap();
        let x72 = "x".repeat(72);
        assert!(long.verify(&x72) && long.verify(&format!("{x72}tail")));
        assert!(!long.verify(&"x".repeat(71)));
    }

    /// Hashes that cannot be read are refused at import, with the reason; hostile costs too.
    #[test]
    fn unreadable_and_hostile_hashes_are_refused() {
        assert_eq!(
            LegacyHash::parse("5f4dcc3b5aa765d61d8327deb882cf99"),
            Err(LegacyHashError::UnknownFormat)
        );
        assert_eq!(
            LegacyHash::parse("{CRYPT}abc"),
            Err(LegacyHashError::UnknownFormat)
        );
        assert!(matches!(
            LegacyHash::parse("$2b$31$mCUaWXDJoTxQSd7WhUqm9.GajP.JpDqTjqX1yVFBP2Pm9BFDoBLhm"),
            Err(LegacyHashError::CostTooHigh(31))
        ));
        assert!(matches!(
            LegacyHash::parse(
                "pbkdf2_sha256$1000000000$salt$XO3WEt8V2719ctGb4CZjy+myVtdNTIH1OwJX4q28Fjg="
            ),
            Err(LegacyHashError::TooManyIterations(_, 1_000_000_000))
        ));
        // An ASP.NET V3 header claiming a billion iterations.
        let mut v3 = vec![1u8, 0, 0, 0, 1];
        v3.extend_from_slice(&1_000_000_000u32.to_be_bytes());
        v3.extend_from_slice(&16u32.to_be_bytes());
        v3.extend_from_slice(&[7u8; 48]);
        assert!(matches!(
            LegacyHash::parse(&STANDARD.encode(&v3)),
            Err(LegacyHashError::TooManyIterations(_, 1_000_000_000))
        ));
        // Truncated or inconsistent headers.
        for broken in [
            STANDARD.encode([1u8, 0, 0, 0]),
            STANDARD.encode([1u8, 0, 0, 0, 9, 0, 0, 39, 16, 0, 0, 0, 16]),
            "pbkdf2_sha256$20000$salt".to_owned(),
            "{SSHA}AAAA".to_owned(),
            "$2b$05$short".to_owned(),
        ] {
            assert!(LegacyHash::parse(&broken).is_err(), "{broken}");
        }
    }
}
