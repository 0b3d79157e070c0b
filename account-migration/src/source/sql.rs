//! The legacy database itself (SQLite or PostgreSQL), read a page at a time through a
//! mapping that names the table (or a view, for data spread over several tables) and the
//! column of each field. Only `SELECT`s are sent; every value is read as text.

use std::collections::VecDeque;

use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::sqlite::SqliteConnection;
use idp::domain::migration::LegacyRecord;
use idp::store::Backend;

use super::mapping::Mapping;
use super::{Field, Position, Row, Source, SourceError, set_field};

/// Rows per page: the memory of the source, whatever the table's size.
const PAGE: i64 = 1000;

enum Legacy {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

#[derive(QueryableByName)]
struct Page {
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = Nullable<Text>)]
    legacy_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    identifier: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    old_identifier: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    emails: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    given_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    family_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    kind: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    organising_body: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    schools: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    guardians: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    password_hash: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    password_format: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    password_salt: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    salt_position: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    active: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    locale: Option<String>,
}

impl Page {
    fn into_record(self) -> LegacyRecord {
        let values = [
            (Field::LegacyId, self.legacy_id),
            (Field::Identifier, self.identifier),
            (Field::OldIdentifier, self.old_identifier),
            (Field::Emails, self.emails),
            (Field::GivenName, self.given_name),
            (Field::FamilyName, self.family_name),
            (Field::Kind, self.kind),
            (Field::OrganisingBody, self.organising_body),
            (Field::Schools, self.schools),
            (Field::Guardians, self.guardians),
            (Field::PasswordHash, self.password_hash),
            (Field::PasswordFormat, self.password_format),
            (Field::PasswordSalt, self.password_salt),
            (Field::SaltPosition, self.salt_position),
            (Field::Active, self.active),
            (Field::Locale, self.locale),
        ];
        let mut record = LegacyRecord::default();
        for (field, value) in values {
            if let Some(value) = value {
                set_field(&mut record, field, value);
            }
        }
        record
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

pub struct SqlSource {
    conn: Legacy,
    describe: String,
    select: String,
    key: String,
    from: String,
    last: Option<String>,
    page: VecDeque<Page>,
    done: u64,
    total: Option<u64>,
    exhausted: bool,
    failed: bool,
}

/// A table or column name from the mapping, quoted; only plain names (and `schema.table`)
/// are accepted, so the mapping cannot smuggle SQL in.
fn quoted(name: &str) -> Result<String, SourceError> {
    let parts: Vec<&str> = name.trim().split('.').collect();
    let plain = |p: &&str| {
        !p.is_empty()
            && p.len() <= 63
            && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !p.starts_with(|c: char| c.is_ascii_digit())
    };
    if parts.is_empty() || parts.len() > 2 || !parts.iter().all(plain) {
        return Err(SourceError::Mapping(format!(
            "{name:?} is not a plain table or column name (letters, digits, _)"
        )));
    }
    Ok(parts
        .iter()
        .map(|p| format!("\"{p}\""))
        .collect::<Vec<_>>()
        .join("."))
}

impl SqlSource {
    pub fn open(url: &str, mapping: &Mapping) -> Result<Self, SourceError> {
        let db = |e: String| SourceError::Database(e);
        let conn = match Backend::of_url(url).map_err(|e| db(e.to_string()))? {
            Backend::Sqlite => {
                let path = url.strip_prefix("sqlite://").unwrap_or(url);
                if !std::path::Path::new(path).exists() {
                    return Err(db(format!("no SQLite file at {path}")));
                }
                Legacy::Sqlite(SqliteConnection::establish(path).map_err(|e| db(e.to_string()))?)
            }
            Backend::Postgres => {
                Legacy::Postgres(PgConnection::establish(url).map_err(|e| db(e.to_string()))?)
            }
        };
        let table = mapping.table.as_deref().ok_or_else(|| {
            SourceError::Mapping("no table = \"…\" for the legacy database".into())
        })?;
        let from = quoted(table)?;
        let key_column = mapping.columns.get(&Field::LegacyId).ok_or_else(|| {
            SourceError::Mapping("[columns] has no legacy_id (the key of every row)".into())
        })?;
        let key = format!("CAST({} AS TEXT)", quoted(key_column)?);
        let mut select = vec![format!("{key} AS key")];
        for field in Field::ALL {
            select.push(match mapping.columns.get(&field) {
                Some(column) => format!("CAST({} AS TEXT) AS {}", quoted(column)?, field.name()),
                None => format!("CAST(NULL AS TEXT) AS {}", field.name()),
            });
        }
        let mut source = Self {
            conn,
            // The URL may hold a password: only the table is named.
            describe: format!("database table {table}"),
            select: select.join(", "),
            key,
            from,
            last: None,
            page: VecDeque::new(),
            done: 0,
            total: None,
            exhausted: false,
            failed: false,
        };
        let count = format!("SELECT COUNT(*) AS n FROM {}", source.from);
        let n = match &mut source.conn {
            Legacy::Sqlite(c) => diesel::sql_query(&count).get_result::<Count>(c),
            Legacy::Postgres(c) => diesel::sql_query(&count).get_result::<Count>(c),
        }
        .map_err(|e| db(format!("{table}: {e}")))?;
        source.total = u64::try_from(n.n).ok();
        Ok(source)
    }

    /// The next page, after the last key read (keyset paging: no OFFSET to rescan).
    fn fetch(&mut self) -> Result<(), diesel::result::Error> {
        let query = |placeholder: &str, after: bool| {
            format!(
                "SELECT {} FROM {} {} ORDER BY {} LIMIT {PAGE}",
                self.select,
                self.from,
                if after {
                    format!("WHERE {} > {placeholder}", self.key)
                } else {
                    format!("WHERE {} IS NOT NULL", self.key)
                },
                self.key
            )
        };
        let rows: Vec<Page> = match (&mut self.conn, &self.last) {
            (Legacy::Sqlite(c), Some(last)) => diesel::sql_query(query("?", true))
                .bind::<Text, _>(last)
                .load(c)?,
            (Legacy::Sqlite(c), None) => diesel::sql_query(query("", false)).load(c)?,
            (Legacy::Postgres(c), Some(last)) => diesel::sql_query(query("$1", true))
                .bind::<Text, _>(last)
                .load(c)?,
            (Legacy::Postgres(c), None) => diesel::sql_query(query("", false)).load(c)?,
        };
        if (rows.len() as i64) < PAGE {
            self.exhausted = true;
        }
        self.last = rows.last().map(|r| r.key.clone());
        self.page.extend(rows);
        Ok(())
    }
}

impl Iterator for SqlSource {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        if self.page.is_empty()
            && !self.exhausted
            && !self.failed
            && let Err(e) = self.fetch()
        {
            // The database went away mid-run: one row says so, and the run ends with what
            // it has (a re-run resumes).
            self.failed = true;
            self.done += 1;
            return Some(Row {
                line: self.done,
                record: Err(format!("legacy database: {e}")),
            });
        }
        let page = self.page.pop_front()?;
        self.done += 1;
        Some(Row {
            line: self.done,
            record: Ok(page.into_record()),
        })
    }
}

impl Source for SqlSource {
    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn progress(&self) -> Position {
        Position {
            done: self.done,
            total: self.total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::quoted;

    #[test]
    fn only_plain_names_are_quoted() {
        assert_eq!(quoted("members").unwrap(), "\"members\"");
        assert_eq!(quoted("legacy.members").unwrap(), "\"legacy\".\"members\"");
        assert!(quoted("members; DROP TABLE users").is_err());
        assert!(quoted("a\"b").is_err());
        assert!(quoted("").is_err());
    }
}
