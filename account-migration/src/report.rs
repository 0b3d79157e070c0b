//! The report of a run as files, next to the one the store keeps: `NAME.json` (the run,
//! its counts and every reported row with the row as read) and `NAME.csv` (the reported
//! rows, one per line, for a spreadsheet). Rows are written as they come, so a run of a
//! million rows does not hold its report in memory.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use idp::domain::migration::{ReportedRow, Run};

pub use idp::domain::migration::{CSV_HEADER, csv_fields};

pub struct ReportFiles {
    json: BufWriter<File>,
    csv: csv::Writer<BufWriter<File>>,
    first: bool,
    pub json_path: PathBuf,
    pub csv_path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
#[error("report {path}: {source}")]
pub struct ReportError {
    path: String,
    source: std::io::Error,
}

impl ReportFiles {
    /// Creates `BASE.json` and `BASE.csv`.
    pub fn create(base: &Path) -> Result<Self, ReportError> {
        let json_path = base.with_extension("json");
        let csv_path = base.with_extension("csv");
        let open = |path: &Path| {
            File::create(path)
                .map(BufWriter::new)
                .map_err(|source| ReportError {
                    path: path.display().to_string(),
                    source,
                })
        };
        let mut json = open(&json_path)?;
        let mut csv = csv::Writer::from_writer(open(&csv_path)?);
        let err = |path: &Path| {
            let path = path.display().to_string();
            move |source| ReportError { path, source }
        };
        json.write_all(b"{\"rows\":[\n").map_err(err(&json_path))?;
        csv.write_record(CSV_HEADER)
            .map_err(|e| err(&csv_path)(e.into()))?;
        Ok(Self {
            json,
            csv,
            first: true,
            json_path,
            csv_path,
        })
    }

    pub fn rows(&mut self, rows: &[ReportedRow]) -> Result<(), ReportError> {
        for row in rows {
            let json_err = |source| ReportError {
                path: self.json_path.display().to_string(),
                source,
            };
            if !self.first {
                self.json.write_all(b",\n").map_err(json_err)?;
            }
            self.first = false;
            serde_json::to_writer(&mut self.json, row).map_err(|e| ReportError {
                path: self.json_path.display().to_string(),
                source: e.into(),
            })?;
            self.csv
                .write_record(csv_fields(row))
                .map_err(|e| ReportError {
                    path: self.csv_path.display().to_string(),
                    source: e.into(),
                })?;
        }
        Ok(())
    }

    /// Closes the files with the run and its counts.
    pub fn finish(mut self, run: &Run) -> Result<(), ReportError> {
        let json_err = |source| ReportError {
            path: self.json_path.display().to_string(),
            source,
        };
        self.json.write_all(b"\n],\"run\":").map_err(json_err)?;
        serde_json::to_writer(&mut self.json, run).map_err(|e| json_err(e.into()))?;
        self.json.write_all(b"}\n").map_err(json_err)?;
        self.json.flush().map_err(json_err)?;
        self.csv.flush().map_err(|source| ReportError {
            path: self.csv_path.display().to_string(),
            source,
        })
    }
}
