//! `idp org …` and `idp school …`: organising bodies and their schools.

use crate::domain::migration::period;
use clap::Subcommand;
use serde_json::json;

use super::CliResult;
use super::output::{open, print};
use crate::config::Settings;
use crate::domain::branding;
use crate::domain::schools::{self, DataChanges, NewSchool};

/// What a school's people may do about the data it holds.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DataChangesArg {
    /// Edit it themselves on the account page.
    Edit,
    /// Send a change request the school handles.
    Request,
    /// See how to contact the school.
    Contact,
}

impl From<DataChangesArg> for DataChanges {
    fn from(arg: DataChangesArg) -> Self {
        match arg {
            DataChangesArg::Edit => Self::Edit,
            DataChangesArg::Request => Self::Request,
            DataChangesArg::Contact => Self::Contact,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organising body (a school board).
    Create {
        #[arg(long)]
        name: String,
    },
    List,
    /// Set the organising body's migration period: the login page's notice ("your account
    /// has probably been moved") and whom to contact when no reset mail comes.
    MigrationPeriod {
        #[arg(long)]
        org: String,
        /// First day (YYYY-MM-DD).
        #[arg(long)]
        starts: chrono::NaiveDate,
        /// Last day (YYYY-MM-DD).
        #[arg(long)]
        ends: chrono::NaiveDate,
        /// The notice in one language, instead of the built-in one: `fr=TEXT` (repeat per
        /// language).
        #[arg(long = "notice")]
        notices: Vec<String>,
        /// Whom to contact when no mail comes ("the secretariat, 02 123 45 67").
        #[arg(long)]
        contact: Option<String>,
    },
    /// Give an organising body its look on the pages of its applications and accounts: a
    /// colour (#rrggbb; the text on it is chosen for contrast) and a logo (PNG, JPEG or
    /// SVG, at most 256 KiB), replacing the earlier ones. With neither, its pages show
    /// only its name.
    Brand {
        #[arg(long)]
        org: String,
        #[arg(long)]
        colour: Option<String>,
        #[arg(long)]
        logo: Option<std::path::PathBuf>,
    },
    /// Make the accounts of an organising body's schools (of one kind, or every kind) log
    /// in only with an upstream provider: no password here, "forgot password" tells them
    /// to use their school's Microsoft or Google account. With --off, no longer.
    UpstreamOnly {
        #[arg(long)]
        org: String,
        #[arg(long, value_enum)]
        kind: Option<super::users::KindArg>,
        #[arg(long)]
        off: bool,
    },
    /// Make a relying application one of an organising body's: its login page wears the
    /// body's brand. Without --org, it belongs to none.
    Client {
        #[arg(long)]
        client: String,
        #[arg(long)]
        org: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SchoolCommand {
    /// Create a school of an organising body (given by id or name).
    Create {
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: String,
        /// What people may do about their data.
        #[arg(long, value_enum, default_value = "contact")]
        data_changes: DataChangesArg,
        /// How to reach the school's office, shown to people.
        #[arg(long)]
        contact: Option<String>,
    },
    List,
    /// The change requests people sent to a school (open ones, or --all).
    Requests {
        school: String,
        #[arg(long)]
        all: bool,
    },
    /// Mark a change request handled.
    HandleRequest {
        id: String,
    },
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
        OrgCommand::MigrationPeriod {
            org,
            starts,
            ends,
            notices,
            contact,
        } => {
            let body = schools::find_body(&mut conn, &org)?;
            let notices = notices
                .iter()
                .map(|n| {
                    n.split_once('=')
                        .map(|(l, t)| (l.trim().to_owned(), t.trim().to_owned()))
                        .ok_or_else(|| format!("--notice {n:?}: expected LANGUAGE=TEXT"))
                })
                .collect::<Result<_, _>>()?;
            let period = period::Period {
                organising_body: body.id,
                starts_on: starts,
                ends_on: ends,
                notices,
                contact,
            };
            period::set(&mut conn, &period)?;
            print(json_out, json!(period), || {
                format!("{}: migration period {starts} to {ends}", body.name)
            });
        }
        OrgCommand::Brand { org, colour, logo } => {
            let body = schools::find_body(&mut conn, &org)?;
            let colour = colour.as_deref().map(branding::Colour::parse).transpose()?;
            let logo = logo
                .map(|path| {
                    let bytes = std::fs::read(&path)
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                    Ok::<_, Box<dyn std::error::Error>>(branding::Logo::read(bytes)?)
                })
                .transpose()?;
            match (colour, &logo) {
                (None, None) => branding::clear(&mut conn, &body.id)?,
                _ => branding::set(&mut conn, &body.id, colour, logo.as_ref(), idp.now())?,
            }
            print(
                json_out,
                json!({"org": body.id, "colour": colour.map(branding::Colour::css), "logo": logo.is_some()}),
                || format!("{}: brand set", body.name),
            );
        }
        OrgCommand::UpstreamOnly { org, kind, off } => {
            let body = schools::find_body(&mut conn, &org)?;
            let kind = kind.map(crate::domain::types::AccountKind::from);
            crate::domain::upstream::only::set(&mut conn, &body.id, kind, !off)?;
            let rules = crate::domain::upstream::only::rules_of(&mut conn, &body.id)?;
            print(
                json_out,
                json!({"org": body.id, "upstream_only": rules}),
                || match rules.as_slice() {
                    [] => format!("{}: every account may use a password", body.name),
                    kinds => format!(
                        "{}: upstream login only for {}",
                        body.name,
                        kinds.join(", ")
                    ),
                },
            );
        }
        OrgCommand::Client { client, org } => {
            let body = org
                .map(|org| schools::find_body(&mut conn, &org))
                .transpose()?;
            branding::set_client_body(&mut conn, &client, body.as_ref().map(|b| &b.id))?;
            print(
                json_out,
                json!({"client": client, "org": body.as_ref().map(|b| &b.id)}),
                || match &body {
                    Some(b) => format!("{client} belongs to {}", b.name),
                    None => format!("{client} belongs to no organising body"),
                },
            );
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
                data_changes: data_changes.into(),
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
        SchoolCommand::Requests { school, all } => {
            let school = schools::find_school(&mut conn, &school)?;
            let mut rows = Vec::new();
            for r in schools::change_requests(&mut conn, school.id, all)? {
                let who = crate::domain::users::find_by_id(&mut conn, r.user_id)?;
                rows.push(json!({
                    "id": r.id,
                    "username": who.map(|u| u.username),
                    "message": r.message,
                    "created_at": r.created_at,
                    "handled_at": r.handled_at,
                }));
            }
            print(json_out, json!(rows), || {
                rows.iter()
                    .map(|r| {
                        format!(
                            "{}  {}  {}\n  {}",
                            r["id"], r["username"], r["created_at"], r["message"]
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        SchoolCommand::HandleRequest { id } => {
            if !schools::handle_change_request(&mut conn, &id, idp.now())? {
                return Err(format!("no open change request {id}").into());
            }
            print(json_out, json!({"handled": id}), || format!("{id} handled"));
        }
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum TermsCommand {
    /// Publish a new version of an organising body's terms: everyone in its schools
    /// accepts it at their next login.
    Publish {
        #[arg(long)]
        org: String,
        #[arg(long)]
        version: String,
        /// LANG=FILE, once per language (fr required): `--text fr=cgu-fr.txt`.
        #[arg(long = "text", required = true)]
        texts: Vec<String>,
    },
    /// The versions of an organising body's terms, newest first.
    List {
        #[arg(long)]
        org: String,
    },
    /// Who accepted a version, and when.
    Acceptances {
        #[arg(long)]
        org: String,
        #[arg(long)]
        version: String,
    },
}

pub fn terms(settings: Settings, command: TermsCommand, json_out: bool) -> CliResult {
    use crate::domain::{terms, users};
    use crate::i18n::Locale;
    let idp = open(settings)?;
    let mut conn = idp.conn()?;
    match command {
        TermsCommand::Publish {
            org,
            version,
            texts,
        } => {
            let body = schools::find_body(&mut conn, &org)?;
            let mut by_locale = std::collections::BTreeMap::new();
            for entry in texts {
                let (lang, file) = entry
                    .split_once('=')
                    .ok_or_else(|| format!("--text {entry}: expected LANG=FILE"))?;
                let locale = Locale::parse(lang)
                    .ok_or_else(|| format!("--text {entry}: language is one of fr, nl, en, de"))?;
                let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
                by_locale.insert(locale, text);
            }
            let published = terms::publish(&mut conn, body.id, &version, by_locale, idp.now())?;
            print(json_out, json!(published), || {
                format!("terms {} of {} published", published.version, body.name)
            });
        }
        TermsCommand::List { org } => {
            let body = schools::find_body(&mut conn, &org)?;
            let all = terms::list(&mut conn, body.id)?;
            print(json_out, json!(all), || {
                all.iter()
                    .map(|t| format!("{}  published {}", t.version, t.published_at))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        TermsCommand::Acceptances { org, version } => {
            let body = schools::find_body(&mut conn, &org)?;
            let version_terms = terms::list(&mut conn, body.id)?
                .into_iter()
                .find(|t| t.version == version)
                .ok_or_else(|| format!("no version {version} of {}", body.name))?;
            let mut rows = Vec::new();
            for (user, at) in terms::acceptances(&mut conn, &version_terms.id)? {
                let name = users::find_by_id(&mut conn, user)?.map(|u| u.username);
                rows.push(json!({"user": user, "username": name, "accepted_at": at}));
            }
            print(json_out, json!(rows), || {
                rows.iter()
                    .map(|r| format!("{}  {}", r["username"], r["accepted_at"]))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
    }
    Ok(())
}
