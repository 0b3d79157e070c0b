//! `idp org …` and `idp school …`: organising bodies and their schools.

use clap::Subcommand;
use serde_json::json;

use super::CliResult;
use super::admin::{open, print};
use crate::config::Settings;
use crate::domain::schools::{self, DataChanges, NewSchool};

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organising body (a school board).
    Create {
        #[arg(long)]
        name: String,
    },
    List,
}

#[derive(Debug, Subcommand)]
pub enum SchoolCommand {
    /// Create a school of an organising body (given by id or name).
    Create {
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: String,
        /// What people may do about their data: edit, request or contact.
        #[arg(long, default_value = "contact")]
        data_changes: String,
        /// How to reach the school's office, shown to people.
        #[arg(long)]
        contact: Option<String>,
    },
    List,
}

fn school_text(s: &schools::School) -> String {
    format!(
        "{}  {}\n  organising body: {}\n  data changes: {}",
        s.name,
        s.id,
        s.organising_body.name,
        s.data_changes.as_str()
    )
}

pub fn org(settings: Settings, command: OrgCommand, json_out: bool) -> CliResult {
    let idp = open(settings)?;
    let mut conn = idp.conn()?;
    match command {
        OrgCommand::Create { name } => {
            let body = schools::create_body(&mut conn, &name, idp.now())?;
            print(json_out, json!(body), || {
                format!("{}  {}", body.name, body.id)
            });
        }
        OrgCommand::List => {
            let all = schools::list_bodies(&mut conn)?;
            print(json_out, json!(all), || {
                all.iter()
                    .map(|b| format!("{}  {}", b.name, b.id))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
    }
    Ok(())
}

pub fn school(settings: Settings, command: SchoolCommand, json_out: bool) -> CliResult {
    let idp = open(settings)?;
    let mut conn = idp.conn()?;
    match command {
        SchoolCommand::Create {
            org,
            name,
            data_changes,
            contact,
        } => {
            let body = schools::find_body(&mut conn, &org)?;
            let new = NewSchool {
                organising_body: body.id,
                name: &name,
                data_changes: DataChanges::parse(&data_changes)?,
                contact: contact.as_deref(),
            };
            let school = schools::create_school(&mut conn, new, idp.now())?;
            print(json_out, json!(school), || school_text(&school));
        }
        SchoolCommand::List => {
            let all = schools::list_schools(&mut conn)?;
            print(json_out, json!(all), || {
                all.iter().map(school_text).collect::<Vec<_>>().join("\n")
            });
        }
    }
    Ok(())
}
