//! The canonical layout of a legacy account, as every source (CSV, JSON Lines, a legacy
//! database through a mapping) hands it over, and its validation into an account the
//! store can take. A row that fails validation is a [`Problem`] in the report, never the
//! end of the run.

use std::collections::HashMap;

use serde::{Deserialize, Deserializer, Serialize};

use super::{Problem, Reason};
use crate::crypto::legacy::{Declared, LegacyHash, SaltAt};
use crate::domain::DomainResult;
use crate::domain::links::RelationLabel;
use crate::domain::schools;
use crate::domain::types::{AccountKind, Email, OrganisingBodyId, SchoolId, Username, normalize};
use crate::store::DbConn;

/// A guardian (or other co-account) named by its legacy id, with the relation label.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardianRef {
    pub legacy_id: String,
    #[serde(default)]
    pub relation: Option<String>,
}

/// One legacy account as read, before any check. Every field is text as the legacy system
/// wrote it; several values (e-mails, schools, guardians) are lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LegacyRecord {
    pub legacy_id: Option<String>,
    /// The identifier on the STS.
    pub identifier: Option<String>,
    /// What people typed on the old platform, when it differs; it keeps working for a while.
    pub old_identifier: Option<String>,
    #[serde(deserialize_with = "one_or_many", alias = "email")]
    pub emails: Vec<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub kind: Option<String>,
    pub organising_body: Option<String>,
    #[serde(deserialize_with = "one_or_many", alias = "school")]
    pub schools: Vec<String>,
    pub guardians: Vec<GuardianRef>,
    pub password_hash: Option<String>,
    /// Empty for a self-describing hash; `md5`, `sha1`, `sha256`, `aspnet-membership-sha1`…
    /// for one that needs its salt column (see `crypto::legacy::Declared`).
    pub password_format: Option<String>,
    pub password_salt: Option<String>,
    /// `before` or `after` the password (declared formats only).
    pub salt_position: Option<String>,
    #[serde(deserialize_with = "flag")]
    pub active: Option<String>,
    pub locale: Option<String>,
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(Option<String>),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(one) => one.into_iter().collect(),
        OneOrMany::Many(many) => many,
    })
}

/// JSON sources write the active flag as a boolean or as text.
fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Number(i64),
        Text(Option<String>),
    }
    Ok(match Flag::deserialize(d)? {
        Flag::Bool(b) => Some(b.to_string()),
        Flag::Number(n) => Some(n.to_string()),
        Flag::Text(t) => t,
    })
}

impl LegacyRecord {
    /// SHA-256 of the record as read: a re-run compares it to find unchanged rows.
    pub fn digest(&self) -> String {
        let text = serde_json::to_string(self).unwrap_or_default();
        crate::crypto::hex(&crate::crypto::sha256(text.as_bytes()))
    }

    pub fn legacy_id(&self) -> Option<&str> {
        present(&self.legacy_id)
    }
}

fn present(field: &Option<String>) -> Option<&str> {
    field.as_deref().map(str::trim).filter(|t| !t.is_empty())
}

/// The organising bodies and schools a record may name (by id or name, in any case),
/// read once per run.
pub struct Directory {
    bodies: HashMap<String, OrganisingBodyId>,
    schools: HashMap<(OrganisingBodyId, String), SchoolId>,
    default_body: Option<OrganisingBodyId>,
}

impl Directory {
    /// `default_body` is the organising body of records that name none.
    pub fn load(conn: &mut DbConn, default_body: Option<&str>) -> DomainResult<Self> {
        let mut bodies = HashMap::new();
        for body in schools::list_bodies(conn)? {
            bodies.insert(normalize(&body.name), body.id);
            bodies.insert(body.id.to_string(), body.id);
        }
        let mut by_body = HashMap::new();
        for school in schools::list_schools(conn)? {
            let body = school.organising_body.id;
            by_body.insert((body, normalize(&school.name)), school.id);
            by_body.insert((body, school.id.to_string()), school.id);
        }
        let default_body = default_body
            .map(|key| schools::find_body(conn, key).map(|b| b.id))
            .transpose()?;
        Ok(Self {
            bodies,
            schools: by_body,
            default_body,
        })
    }

    /// The organising body a record belongs to, as far as the STS knows it: the one it
    /// names, else the run's default (a reported row is shown to that body's staff).
    pub fn body_of(&self, record: &LegacyRecord) -> Option<OrganisingBodyId> {
        self.body(present(&record.organising_body)).ok().flatten()
    }

    fn body(&self, name: Option<&str>) -> Result<Option<OrganisingBodyId>, Problem> {
        match name {
            None => Ok(self.default_body),
            Some(name) => self
                .bodies
                .get(&normalize(name))
                .copied()
                .map(Some)
                .ok_or_else(|| Problem::new(Reason::UnknownOrganisingBody, name)),
        }
    }

    fn school(&self, body: Option<OrganisingBodyId>, name: &str) -> Result<SchoolId, Problem> {
        let key = normalize(name);
        let found = match body {
            Some(body) => self.schools.get(&(body, key)).copied(),
            // Without an organising body, a school name must be unambiguous.
            None => {
                let mut matches = self.schools.iter().filter(|((_, n), _)| *n == key);
                match (matches.next(), matches.next()) {
                    (Some((_, id)), None) => Some(*id),
                    _ => None,
                }
            }
        };
        found.ok_or_else(|| Problem::new(Reason::UnknownSchool, name))
    }
}

/// A record that passed every check: what the store will hold.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub legacy_id: String,
    pub username: Username,
    pub legacy_username: Username,
    pub email: Option<Email>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub kind: AccountKind,
    pub schools: Vec<SchoolId>,
    pub guardians: Vec<(String, RelationLabel)>,
    /// The legacy hash in the form `LegacyHash::parse` reads (declared formats made canonical).
    pub legacy_hash: Option<String>,
    pub active: bool,
    pub locale: Option<String>,
    pub digest: String,
}

/// What the legacy systems call the kinds of account (in the four languages of the
/// platforms), mapped to ours.
fn kind(text: &str) -> Result<AccountKind, Problem> {
    if let Ok(kind) = AccountKind::parse(text) {
        return Ok(kind);
    }
    let kind = match normalize(text).as_str() {
        "student" | "leerling" | "eleve" | "élève" | "schüler" | "schueler" | "child" => {
            AccountKind::Pupil
        }
        "parent" | "ouder" | "eltern" | "elternteil" | "tuteur" | "voogd" => AccountKind::Guardian,
        "teacher" | "leerkracht" | "leraar" | "enseignant" | "professeur" | "lehrer"
        | "lehrerin" | "personeel" | "personnel" | "employee" => AccountKind::Staff,
        "admin" | "beheerder" | "directie" | "direction" => AccountKind::Administrator,
        _ => return Err(Problem::new(Reason::UnknownKind, text)),
    };
    Ok(kind)
}

fn active(text: Option<&str>) -> Result<bool, Problem> {
    match text.map(normalize).as_deref() {
        None => Ok(true),
        Some("1" | "true" | "t" | "yes" | "y" | "ja" | "oui" | "active" | "actief" | "actif") => {
            Ok(true)
        }
        Some(
            "0" | "false" | "f" | "no" | "n" | "nee" | "non" | "nein" | "inactive" | "inactief"
            | "inactif",
        ) => Ok(false),
        Some(other) => Err(Problem::new(Reason::UnreadableActiveFlag, other)),
    }
}

/// The legacy hash as the store keeps it: self-describing formats as they came, declared
/// ones (a digest with a salt column) in our canonical text. Read now, so a hash that
/// cannot be read is this row's problem and never a failure at login.
fn legacy_hash(record: &LegacyRecord) -> Result<Option<String>, Problem> {
    let Some(hash) = present(&record.password_hash) else {
        return Ok(None);
    };
    let stored = match present(&record.password_format) {
        None => hash.to_owned(),
        Some(format) => match Declared::parse(format) {
            Some(declared) => {
                let salt_at = match present(&record.salt_position).map(normalize).as_deref() {
                    None | Some("after" | "suffix") => SaltAt::After,
                    Some("before" | "prefix") => SaltAt::Before,
                    Some(other) => return Err(Problem::new(Reason::UnreadableHash, other)),
                };
                let salt = record.password_salt.as_deref().unwrap_or("");
                declared
                    .store(hash, salt, salt_at)
                    .map_err(|e| Problem::new(Reason::UnreadableHash, e.to_string()))?
            }
            // A self-describing format named for the reader's sake.
            None => hash.to_owned(),
        },
    };
    LegacyHash::parse(&stored).map_err(|e| Problem::new(Reason::UnreadableHash, e.to_string()))?;
    Ok(Some(stored))
}

fn text(field: &Option<String>) -> Option<String> {
    present(field).map(str::to_owned)
}

impl Directory {
    /// Checks `record` field by field; the first problem found is the row's reason.
    pub fn validate(&self, record: &LegacyRecord) -> Result<Candidate, Problem> {
        let legacy_id = record
            .legacy_id()
            .ok_or_else(|| Problem::new(Reason::MissingLegacyId, ""))?
            .to_owned();
        let identifier = present(&record.identifier)
            .ok_or_else(|| Problem::new(Reason::MissingIdentifier, ""))?;
        let username = Username::parse(identifier)
            .map_err(|e| Problem::new(Reason::InvalidIdentifier, format!("{identifier}: {e}")))?;
        let legacy_username = match present(&record.old_identifier) {
            Some(old) => Username::parse(old)
                .map_err(|e| Problem::new(Reason::InvalidIdentifier, format!("{old}: {e}")))?,
            None => username.clone(),
        };
        // An account has one address here; a legacy row may list several (the first
        // usable one is kept).
        let email = match record
            .emails
            .iter()
            .map(|e| e.trim())
            .find(|e| !e.is_empty())
        {
            Some(first) => {
                Some(Email::parse(first).map_err(|_| Problem::new(Reason::InvalidEmail, first))?)
            }
            None => None,
        };
        let kind = match present(&record.kind) {
            Some(k) => kind(k)?,
            None => return Err(Problem::new(Reason::UnknownKind, "")),
        };
        let body = self.body(present(&record.organising_body))?;
        let schools = record
            .schools
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(|s| self.school(body, s))
            .collect::<Result<Vec<_>, _>>()?;
        let guardians = record
            .guardians
            .iter()
            .filter(|g| !g.legacy_id.trim().is_empty())
            .map(|g| {
                let label = present(&g.relation).unwrap_or("guardian");
                RelationLabel::parse(label)
                    .map(|l| (g.legacy_id.trim().to_owned(), l))
                    .map_err(|_| Problem::new(Reason::InvalidRelation, label))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Candidate {
            legacy_id,
            username,
            legacy_username,
            email,
            given_name: text(&record.given_name),
            family_name: text(&record.family_name),
            kind,
            schools,
            guardians,
            legacy_hash: legacy_hash(record)?,
            active: active(present(&record.active))?,
            locale: text(&record.locale),
            digest: record.digest(),
        })
    }
}
