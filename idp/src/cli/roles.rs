//! `idp role`: who may use the organising bodies' screens (`/admin`), and for whom.

use clap::Subcommand;
use serde_json::json;

use super::CliResult;
use super::output::{open, print};
use crate::config::Settings;
use crate::domain::admin::{Role, roles};
use crate::domain::audit;
use crate::domain::users;

#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// Give an account a role: platform-admin; body-admin --org; school-admin or teacher
    /// --school (organising bodies and schools by id or name).
    Grant {
        /// The account, by identifier or id.
        user: String,
        role: String,
        #[arg(long)]
        org: Option<String>,
        #[arg(long)]
        school: Option<String>,
    },
    /// Take a role back.
    Revoke {
        user: String,
        role: String,
        #[arg(long)]
        org: Option<String>,
        #[arg(long)]
        school: Option<String>,
    },
    /// Every grant.
    List,
}

pub fn role(settings: Settings, command: RoleCommand, json_out: bool) -> CliResult {
    let idp = open(settings)?;
    let mut conn = idp.conn()?;
    let now = idp.now();
    match command {
        RoleCommand::Grant {
            user,
            role,
            org,
            school,
        } => {
            let holder = users::lookup(&mut conn, &user)?;
            let role = Role::parse(&mut conn, &role, org.as_deref(), school.as_deref())?;
            let new = roles::grant(&mut conn, holder.id, role, None, now)?;
            audit::Event::new(audit::Kind::RoleGranted)
                .user(holder.id)
                .detail(&format!("{role}, by the command line"))
                .record(&mut conn, now)?;
            let scope = roles::scope_name(&mut conn, role)?;
            print(json_out, json!({ "granted": new, "role": role }), || {
                let again = if new { "" } else { " (already held)" };
                format!("{} is {} of {scope}{again}", holder.username, role.name())
            });
        }
        RoleCommand::Revoke {
            user,
            role,
            org,
            school,
        } => {
            let holder = users::lookup(&mut conn, &user)?;
            let role = Role::parse(&mut conn, &role, org.as_deref(), school.as_deref())?;
            let held = roles::revoke(&mut conn, holder.id, role)?;
            if held {
                audit::Event::new(audit::Kind::RoleRevoked)
                    .user(holder.id)
                    .detail(&format!("{role}, by the command line"))
                    .record(&mut conn, now)?;
            }
            print(json_out, json!({ "revoked": held }), || match held {
                true => format!("{} is no longer {}", holder.username, role.name()),
                false => format!("{} did not hold that role", holder.username),
            });
        }
        RoleCommand::List => {
            let mut rows = Vec::new();
            for (holder, role) in roles::all(&mut conn)? {
                let who = users::find_by_id(&mut conn, holder)?.map(|u| u.username);
                let scope = roles::scope_name(&mut conn, role)?;
                rows.push(json!({ "user": who, "role": role, "scope_name": scope }));
            }
            print(json_out, json!(rows), || {
                rows.iter()
                    .map(|r| {
                        format!(
                            "{}  {}  {}",
                            r["user"].as_str().unwrap_or("?"),
                            r["role"]["role"].as_str().unwrap_or("?"),
                            r["scope_name"].as_str().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
    }
    Ok(())
}
