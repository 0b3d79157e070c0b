//! CSV exports as legacy systems write them: any delimiter (`,`, `;` as Excel writes it
//! in French, Dutch and German locales, tab, `|`), UTF-8 with or without a byte-order mark,
//! and Windows-1252, which legacy Windows systems still produce. The header row names the
//! fields (canonical names, or a mapping's columns).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use encoding_rs::WINDOWS_1252;
use idp::domain::migration::LegacyRecord;

use super::mapping::Mapping;
use super::{Field, Position, Row, Source, SourceError, set_field};

/// How the bytes of the file are text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Encoding {
    /// UTF-8, and Windows-1252 for any field that is not valid UTF-8 (a Windows-1252 file
    /// is never valid UTF-8 except where it is plain ASCII, which both read alike).
    #[default]
    Auto,
    Utf8,
    Windows1252,
}

pub struct CsvSource {
    reader: csv::Reader<Box<dyn Read>>,
    fields: Vec<Option<Field>>,
    encoding: Encoding,
    path: String,
    size: Option<u64>,
    record: csv::ByteRecord,
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The delimiter of the header line: the candidate that occurs most often outside quotes.
fn sniff_delimiter(header: &[u8]) -> u8 {
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0), (b'|', 0)];
    let mut quoted = false;
    for &b in header {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted && let Some(c) = counts.iter_mut().find(|(d, _)| *d == b) {
            c.1 += 1;
        }
    }
    counts
        .iter()
        .max_by_key(|(_, n)| *n)
        .filter(|(_, n)| *n > 0)
        .map_or(b',', |(d, _)| *d)
}

fn decode(bytes: &[u8], encoding: Encoding) -> Result<String, String> {
    match (std::str::from_utf8(bytes), encoding) {
        (Ok(text), Encoding::Auto | Encoding::Utf8) => Ok(text.to_owned()),
        (Err(_), Encoding::Utf8) => {
            Err("the row is not valid UTF-8 (try --encoding windows-1252)".into())
        }
        _ => Ok(WINDOWS_1252
            .decode_without_bom_handling(bytes)
            .0
            .into_owned()),
    }
}

impl CsvSource {
    pub fn open(
        path: &Path,
        delimiter: Option<u8>,
        encoding: Encoding,
        mapping: &Mapping,
    ) -> Result<Self, SourceError> {
        let io = |source| SourceError::Io {
            path: path.display().to_string(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let size = file.metadata().ok().map(|m| m.len());
        let mut buffered = BufReader::with_capacity(64 * 1024, file);
        let start = buffered.fill_buf().map_err(io)?;
        if start.starts_with(b"\xFF\xFE") || start.starts_with(b"\xFE\xFF") {
            return Err(SourceError::Csv(
                "the file is UTF-16 (Excel's \"Unicode text\"); save it as \"CSV UTF-8\"".into(),
            ));
        }
        if start.starts_with(UTF8_BOM) {
            buffered.consume(UTF8_BOM.len());
        }
        let start = buffered.fill_buf().map_err(io)?;
        let header_end = start
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(start.len());
        let delimiter = delimiter.unwrap_or_else(|| sniff_delimiter(&start[..header_end]));
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .has_headers(true)
            .from_reader(Box::new(buffered) as Box<dyn Read>);
        let headers = reader
            .byte_headers()
            .map_err(|e| SourceError::Csv(format!("header row: {e}")))?
            .clone();
        let mut fields = Vec::with_capacity(headers.len());
        let mut unknown = Vec::new();
        for header in headers.iter() {
            let name = decode(header, encoding).map_err(SourceError::Csv)?;
            let field = mapping.field_of(&name);
            if field.is_none() && !name.trim().is_empty() {
                unknown.push(name);
            }
            fields.push(field);
        }
        if !fields.contains(&Some(Field::LegacyId)) {
            return Err(SourceError::Csv(format!(
                "no legacy_id column among {:?} (delimiter {:?}); name the columns as in \
                 docs/migration.md or give a --mapping",
                fields_and_names(&headers, encoding),
                char::from(delimiter)
            )));
        }
        if !unknown.is_empty() {
            tracing::warn!(columns = ?unknown, "columns not read (no canonical field)");
        }
        Ok(Self {
            reader,
            fields,
            encoding,
            path: path.display().to_string(),
            size,
            record: csv::ByteRecord::new(),
        })
    }
}

fn fields_and_names(headers: &csv::ByteRecord, encoding: Encoding) -> Vec<String> {
    headers
        .iter()
        .map(|h| decode(h, encoding).unwrap_or_default())
        .collect()
}

impl Iterator for CsvSource {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        loop {
            let read = self.reader.read_byte_record(&mut self.record);
            let line = self.record.position().map_or(0, |p| p.line());
            return match read {
                Ok(false) => None,
                Ok(true)
                    if self
                        .record
                        .iter()
                        .all(|f| f.iter().all(u8::is_ascii_whitespace)) =>
                {
                    continue; // a blank line
                }
                Ok(true) => Some(Row {
                    line,
                    record: self.to_record(),
                }),
                Err(e) => Some(Row {
                    line: e.position().map_or(line, |p| p.line()),
                    record: Err(e.to_string()),
                }),
            };
        }
    }
}

impl CsvSource {
    fn to_record(&self) -> Result<LegacyRecord, String> {
        let mut record = LegacyRecord::default();
        for (bytes, field) in self.record.iter().zip(&self.fields) {
            if let Some(field) = field {
                set_field(&mut record, *field, decode(bytes, self.encoding)?);
            }
        }
        Ok(record)
    }
}

impl Source for CsvSource {
    fn describe(&self) -> String {
        format!("csv {}", self.path)
    }

    fn progress(&self) -> Position {
        Position {
            done: self.reader.position().byte(),
            total: self.size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_the_delimiter_outside_quotes() {
        assert_eq!(sniff_delimiter(b"legacy_id;identifier;\"a,b,c\""), b';');
        assert_eq!(sniff_delimiter(b"legacy_id\tidentifier"), b'\t');
        assert_eq!(sniff_delimiter(b"legacy_id,identifier"), b',');
        assert_eq!(sniff_delimiter(b"legacy_id"), b',');
    }

    #[test]
    fn reads_windows_1252_where_utf8_fails() {
        assert_eq!(decode(b"Andr\xe9", Encoding::Auto).unwrap(), "André");
        assert_eq!(decode("André".as_bytes(), Encoding::Auto).unwrap(), "André");
        assert!(decode(b"Andr\xe9", Encoding::Utf8).is_err());
        assert_eq!(
            decode(b"M\xfcller", Encoding::Windows1252).unwrap(),
            "Müller"
        );
    }
}
