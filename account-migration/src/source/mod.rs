//! Where legacy accounts come from: a CSV export, a JSON Lines file, or the legacy
//! database itself through a mapping. Each source is a stream of rows (memory does not
//! grow with the file), each row the canonical [`LegacyRecord`] or the reason it could not
//! be read; a bad row never ends the stream.

pub mod csv;
pub mod jsonl;
pub mod mapping;
pub mod sql;

use idp::domain::migration::{GuardianRef, LegacyRecord};

/// One row of a source: its line (or row number), and the record or why it is unreadable.
pub struct Row {
    pub line: u64,
    pub record: Result<LegacyRecord, String>,
}

/// How far a source has got, for the progress bar: in bytes of a file or rows of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub done: u64,
    pub total: Option<u64>,
}

/// A stream of legacy rows.
pub trait Source: Iterator<Item = Row> {
    /// What is being read, for the run's record (never a password).
    fn describe(&self) -> String;
    fn progress(&self) -> Position;
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Csv(String),
    #[error("mapping file: {0}")]
    Mapping(String),
    #[error("legacy database: {0}")]
    Database(String),
}

/// Sets a canonical field from text as the flat sources (CSV, a legacy table) hold it:
/// lists separated by `|`, guardians as `LEGACY_ID:relation`.
pub fn set_field(record: &mut LegacyRecord, field: Field, value: String) {
    let value = value.trim().to_owned();
    let list = || -> Vec<String> {
        value
            .split('|')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let text = (!value.is_empty()).then(|| value.clone());
    match field {
        Field::LegacyId => record.legacy_id = text,
        Field::Identifier => record.identifier = text,
        Field::OldIdentifier => record.old_identifier = text,
        Field::Emails => record.emails = list(),
        Field::GivenName => record.given_name = text,
        Field::FamilyName => record.family_name = text,
        Field::Kind => record.kind = text,
        Field::OrganisingBody => record.organising_body = text,
        Field::Schools => record.schools = list(),
        Field::Guardians => {
            record.guardians = list()
                .into_iter()
                .map(|g| match g.split_once(':') {
                    Some((id, relation)) => GuardianRef {
                        legacy_id: id.trim().to_owned(),
                        relation: Some(relation.trim().to_owned()).filter(|r| !r.is_empty()),
                    },
                    None => GuardianRef {
                        legacy_id: g,
                        relation: None,
                    },
                })
                .collect();
        }
        Field::PasswordHash => record.password_hash = text,
        Field::PasswordFormat => record.password_format = text,
        Field::PasswordSalt => record.password_salt = text,
        Field::SaltPosition => record.salt_position = text,
        Field::Active => record.active = text,
        Field::Locale => record.locale = text,
    }
}

/// The canonical layout's fields, as named in CSV headers, JSON keys and mapping files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    LegacyId,
    Identifier,
    OldIdentifier,
    Emails,
    GivenName,
    FamilyName,
    Kind,
    OrganisingBody,
    Schools,
    Guardians,
    PasswordHash,
    PasswordFormat,
    PasswordSalt,
    SaltPosition,
    Active,
    Locale,
}

impl Field {
    pub const ALL: [Field; 16] = [
        Self::LegacyId,
        Self::Identifier,
        Self::OldIdentifier,
        Self::Emails,
        Self::GivenName,
        Self::FamilyName,
        Self::Kind,
        Self::OrganisingBody,
        Self::Schools,
        Self::Guardians,
        Self::PasswordHash,
        Self::PasswordFormat,
        Self::PasswordSalt,
        Self::SaltPosition,
        Self::Active,
        Self::Locale,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::LegacyId => "legacy_id",
            Self::Identifier => "identifier",
            Self::OldIdentifier => "old_identifier",
            Self::Emails => "emails",
            Self::GivenName => "given_name",
            Self::FamilyName => "family_name",
            Self::Kind => "kind",
            Self::OrganisingBody => "organising_body",
            Self::Schools => "schools",
            Self::Guardians => "guardians",
            Self::PasswordHash => "password_hash",
            Self::PasswordFormat => "password_format",
            Self::PasswordSalt => "password_salt",
            Self::SaltPosition => "salt_position",
            Self::Active => "active",
            Self::Locale => "locale",
        }
    }

    /// A canonical name (or its singular: `email`, `school`, `guardian`), in any case.
    pub fn parse(name: &str) -> Option<Self> {
        let name = name.trim().to_ascii_lowercase().replace([' ', '-'], "_");
        let name = match name.as_str() {
            "email" => "emails",
            "school" => "schools",
            "guardian" => "guardians",
            other => other,
        };
        Self::ALL.into_iter().find(|f| f.name() == name)
    }
}
