//! JSON Lines: one JSON object per line with the canonical field names; lists (e-mails,
//! schools, guardians) as arrays, or a single value as a string.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use idp::domain::migration::LegacyRecord;

use super::{Position, Row, Source, SourceError};

pub struct JsonLinesSource {
    reader: BufReader<File>,
    path: String,
    size: Option<u64>,
    line: u64,
    done: u64,
    buffer: Vec<u8>,
}

impl JsonLinesSource {
    pub fn open(path: &Path) -> Result<Self, SourceError> {
        let file = File::open(path).map_err(|source| SourceError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Self {
            size: file.metadata().ok().map(|m| m.len()),
            reader: BufReader::with_capacity(64 * 1024, file),
            path: path.display().to_string(),
            line: 0,
            done: 0,
            buffer: Vec::new(),
        })
    }
}

impl Iterator for JsonLinesSource {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        loop {
            self.buffer.clear();
            self.line += 1;
            match self.reader.read_until(b'\n', &mut self.buffer) {
                Ok(0) => return None,
                Ok(n) => self.done += n as u64,
                Err(e) => {
                    return Some(Row {
                        line: self.line,
                        record: Err(e.to_string()),
                    });
                }
            }
            let Ok(text) = std::str::from_utf8(&self.buffer) else {
                return Some(Row {
                    line: self.line,
                    record: Err("the line is not valid UTF-8".into()),
                });
            };
            let text = text.trim().trim_start_matches('\u{feff}');
            if text.is_empty() {
                continue;
            }
            return Some(Row {
                line: self.line,
                record: serde_json::from_str::<LegacyRecord>(text).map_err(|e| e.to_string()),
            });
        }
    }
}

impl Source for JsonLinesSource {
    fn describe(&self) -> String {
        format!("jsonl {}", self.path)
    }

    fn progress(&self) -> Position {
        Position {
            done: self.done,
            total: self.size,
        }
    }
}
