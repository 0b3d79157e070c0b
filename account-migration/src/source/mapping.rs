//! A mapping file names, for a source whose columns are not the canonical ones, which
//! column holds which field; for a legacy database also the table (or view) to read:
//!
//! ```toml
//! table = "members"
//! [columns]
//! legacy_id = "member_id"
//! identifier = "login"
//! emails = "mail"
//! ```

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use super::{Field, SourceError};

#[derive(Debug, Clone, Default)]
pub struct Mapping {
    /// The legacy table or view (SQL sources).
    pub table: Option<String>,
    /// Canonical field → column name in the source.
    pub columns: HashMap<Field, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    table: Option<String>,
    #[serde(default)]
    columns: HashMap<String, String>,
}

impl Mapping {
    pub fn read(path: &Path) -> Result<Self, SourceError> {
        let text = std::fs::read_to_string(path).map_err(|source| SourceError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self, SourceError> {
        let file: MappingFile =
            toml::from_str(text).map_err(|e| SourceError::Mapping(e.to_string()))?;
        let mut columns = HashMap::new();
        for (field, column) in file.columns {
            let field = Field::parse(&field).ok_or_else(|| {
                SourceError::Mapping(format!(
                    "unknown field {field:?}; the fields are {}",
                    Field::ALL.map(Field::name).join(", ")
                ))
            })?;
            columns.insert(field, column);
        }
        Ok(Self {
            table: file.table,
            columns,
        })
    }

    /// The field a source's column holds: mapped, else the column's own canonical name.
    pub fn field_of(&self, column: &str) -> Option<Field> {
        if self.columns.is_empty() {
            return Field::parse(column);
        }
        self.columns
            .iter()
            .find(|(_, c)| c.trim().eq_ignore_ascii_case(column.trim()))
            .map(|(f, _)| *f)
    }
}
