//! `idp user …`: accounts, their passwords, kinds, profile data, schools and co-accounts.

use std::io::Read;

use clap::Subcommand;
use serde_json::json;

use super::CliResult;
use super::output::{open, print};
use crate::config::Settings;
use crate::domain::audit::Origin;
use crate::domain::password_policy::PasswordContext;
use crate::domain::recovery::{self, Delivery};
use crate::domain::types::{AccountKind, Email, Username};
use crate::domain::users::{self, NewUser};
use crate::domain::{DomainError, Idp, links, upstream};
use crate::i18n::Locale;

/// What an account is for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum KindArg {
    Pupil,
    Guardian,
    Staff,
    Administrator,
}

impl From<KindArg> for AccountKind {
    fn from(arg: KindArg) -> Self {
        match arg {
            KindArg::Pupil => Self::Pupil,
            KindArg::Guardian => Self::Guardian,
            KindArg::Staff => Self::Staff,
            KindArg::Administrator => Self::Administrator,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account; the password is read from stdin unless given.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long, value_enum, default_value = "pupil")]
        kind: KindArg,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        given_name: Option<String>,
        #[arg(long)]
        family_name: Option<String>,
        #[arg(long)]
        locale: Option<String>,
        #[arg(long)]
        password: Option<String>,
        /// Create without a password (the person sets one through a reset).
        #[arg(long, conflicts_with = "password")]
        no_password: bool,
        /// Accept a password that breaks the password policy.
        #[arg(long)]
        skip_policy: bool,
    },
    List,
    Show {
        user: String,
    },
    /// Set a password (read from stdin unless given).
    SetPassword {
        user: String,
        #[arg(long)]
        password: Option<String>,
        /// Accept a password that breaks the password policy.
        #[arg(long)]
        skip_policy: bool,
    },
    Disable {
        user: String,
    },
    Enable {
        user: String,
    },
    /// Issue a temporary password: the next login must choose a new one; it expires
    /// after `recovery.temporary_password_ttl_seconds`. Mailed to the account's addresses
    /// (and its co-accounts'), or shown once with --show.
    TempPassword {
        user: String,
        /// Print the password here instead of mailing it.
        #[arg(long)]
        show: bool,
    },
    /// Link a co-account (a guardian, a substitute) to an account; mail about the
    /// account also goes to the co-account's address.
    Link {
        account: String,
        co_account: String,
        /// What the co-account is to the account: mother, father, guardian, substitute…
        #[arg(long)]
        relation: String,
    },
    /// Remove a co-account link.
    Unlink {
        account: String,
        co_account: String,
    },
    /// The co-accounts of an account, and the accounts it is a co-account of.
    Links {
        user: String,
    },
    /// Link an account at an upstream provider (`[[upstream]]`) to this account: its
    /// subject there (Entra ID: the user's object id; others: `sub`), and for an Entra
    /// ID provider of several tenants, the tenant id. The person then logs in with the
    /// provider's button.
    UpstreamLink {
        user: String,
        #[arg(long)]
        provider: String,
        #[arg(long)]
        subject: String,
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Remove an upstream link (its id, from `upstream-links`).
    UpstreamUnlink {
        user: String,
        #[arg(long)]
        link: String,
    },
    /// The upstream identities linked to an account.
    UpstreamLinks {
        user: String,
    },
    /// Everything the STS holds about a person, as JSON (GDPR right of access): account,
    /// schools, co-accounts, linked accounts, accepted terms, applications, sessions and
    /// the audit events about them; never a secret.
    Export {
        user: String,
    },
    /// Erase the account at its owner's request (GDPR right to erasure): sessions end
    /// (applications hear it), its mail and everything hanging from it are deleted, the
    /// audit events about it keep a random pseudonym. Cannot be undone: --yes is required.
    Erase {
        user: String,
        #[arg(long)]
        yes: bool,
    },
    /// Mark the password expired: the next login must choose a new one (the wizard's
    /// new-password step) before any token is issued.
    ExpirePassword {
        user: String,
    },
    /// Change what an account is: pupil, guardian, staff or administrator.
    SetKind {
        user: String,
        #[arg(value_enum)]
        kind: KindArg,
    },
    /// Set what the school holds about the person; only the fields given change, an
    /// empty value removes one.
    SetProfile {
        user: String,
        #[arg(long)]
        given_name: Option<String>,
        #[arg(long)]
        family_name: Option<String>,
        /// YYYY-MM-DD.
        #[arg(long)]
        birth_date: Option<String>,
        #[arg(long)]
        street_address: Option<String>,
        #[arg(long)]
        postal_code: Option<String>,
        #[arg(long)]
        locality: Option<String>,
        #[arg(long)]
        country: Option<String>,
        #[arg(long)]
        nationality: Option<String>,
        #[arg(long)]
        sex: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        #[arg(long)]
        email: Option<String>,
    },
    /// Make an account a member of a school (by id or name).
    Join {
        user: String,
        school: String,
    },
    /// End an account's membership of a school.
    Leave {
        user: String,
        school: String,
    },
}

fn read_password(given: Option<String>) -> Result<String, Box<dyn std::error::Error>> {
    if let Some(p) = given {
        return Ok(p);
    }
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text)?;
    let p = text.trim_end_matches(['\n', '\r']).to_owned();
    if p.is_empty() {
        return Err("no password given on stdin".into());
    }
    Ok(p)
}

fn user_text(u: &users::User) -> String {
    format!(
        "{}  {}\n  e-mail: {}\n  name: {}\n  {}",
        u.username,
        u.id,
        u.email.as_deref().unwrap_or("-"),
        u.name().unwrap_or_else(|| "-".into()),
        if u.disabled { "disabled" } else { "active" },
    )
}

pub fn user(settings: Settings, command: UserCommand, json_out: bool) -> CliResult {
    let idp = open(settings)?;
    let mut conn = idp.conn()?;
    let now = idp.now();
    match command {
        UserCommand::Create {
            username,
            kind,
            email,
            given_name,
            family_name,
            locale,
            password,
            no_password,
            skip_policy,
        } => {
            let password = if no_password {
                None
            } else {
                Some(read_password(password)?)
            };
            if let (Some(p), false) = (&password, skip_policy) {
                let names: Vec<&str> = [given_name.as_deref(), family_name.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect();
                let who = PasswordContext {
                    identifier: &username,
                    names,
                    email: email.as_deref(),
                };
                enforce_policy(&idp, p, &who)?;
            }
            let new = NewUser {
                kind: kind.into(),
                username: Username::parse(&username)?,
                email: email.as_deref().map(Email::parse).transpose()?,
                email_verified: false,
                given_name,
                family_name,
                phone_number: None,
                locale,
                password,
            };
            let u = users::create(&mut conn, &idp.hasher, new, now)?;
            print(json_out, json!(u), || user_text(&u));
        }
        UserCommand::List => {
            let all = users::list(&mut conn)?;
            print(json_out, json!(all), || {
                all.iter()
                    .map(|u| {
                        format!(
                            "{}  {}  {}",
                            u.username,
                            u.email.as_deref().unwrap_or("-"),
                            u.id
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        UserCommand::Show { user } => {
            let u = users::lookup(&mut conn, &user)?;
            print(json_out, json!(u), || user_text(&u));
        }
        UserCommand::SetPassword {
            user,
            password,
            skip_policy,
        } => {
            let u = users::lookup(&mut conn, &user)?;
            let password = read_password(password)?;
            if !skip_policy {
                enforce_policy(&idp, &password, &u.password_context())?;
            }
            users::set_password_hash(&mut conn, u.id, &idp.hasher.hash(&password)?, now)?;
            print(json_out, json!({ "password_set": u.id }), || {
                format!("password of {} set", u.username)
            });
        }
        UserCommand::Disable { user } => {
            let u = users::lookup(&mut conn, &user)?;
            users::set_disabled(&mut conn, u.id, true, now)?;
            print(json_out, json!({ "disabled": u.id }), || {
                format!("{} disabled", u.username)
            });
        }
        UserCommand::Enable { user } => {
            let u = users::lookup(&mut conn, &user)?;
            users::set_disabled(&mut conn, u.id, false, now)?;
            print(json_out, json!({ "enabled": u.id }), || {
                format!("{} enabled", u.username)
            });
        }
        UserCommand::TempPassword { user, show } => {
            let u = users::lookup(&mut conn, &user)?;
            let delivery = if show { Delivery::Show } else { Delivery::Mail };
            let issued = recovery::issue_temporary_password(
                &idp,
                &mut conn,
                &u,
                delivery,
                "the command line",
            )?;
            let out = json!({
                "user": u.id,
                "password": issued.password,
                "expires_at": issued.expires_at,
                "mailed_to": issued.mailed_to,
            });
            print(json_out, out, || match &issued.password {
                Some(p) => format!(
                    "temporary password of {}: {p}\n(shown once; it expires {})",
                    u.username, issued.expires_at
                ),
                None => format!(
                    "temporary password of {} mailed to {} (expires {})",
                    u.username,
                    issued.mailed_to.join(", "),
                    issued.expires_at
                ),
            });
        }
        UserCommand::Link {
            account,
            co_account,
            relation,
        } => {
            let a = users::lookup(&mut conn, &account)?;
            let c = users::lookup(&mut conn, &co_account)?;
            let relation = links::RelationLabel::parse(&relation)?;
            links::link(&mut conn, a.id, c.id, &relation, now)?;
            let out = json!({"account": a.id, "co_account": c.id, "relation": relation.as_str()});
            print(json_out, out, || {
                format!(
                    "{} is now {} of {}",
                    c.username,
                    relation.as_str(),
                    a.username
                )
            });
        }
        UserCommand::Unlink {
            account,
            co_account,
        } => {
            let a = users::lookup(&mut conn, &account)?;
            let c = users::lookup(&mut conn, &co_account)?;
            if !links::unlink(&mut conn, a.id, c.id)? {
                return Err(DomainError::NotFound(
                    format!("link from {} to {}", a.username, c.username).into(),
                )
                .into());
            }
            print(json_out, json!({"unlinked": [a.id, c.id]}), || {
                format!("{} is no longer linked to {}", c.username, a.username)
            });
        }
        UserCommand::ExpirePassword { user } => {
            let u = users::lookup(&mut conn, &user)?;
            users::expire_password(&mut conn, u.id, now)?;
            print(json_out, json!({"password_expired": u.id}), || {
                format!(
                    "{} must choose a new password at the next login",
                    u.username
                )
            });
        }
        UserCommand::SetKind { user, kind } => {
            let u = users::lookup(&mut conn, &user)?;
            let kind = AccountKind::from(kind);
            users::set_kind(&mut conn, u.id, kind, now)?;
            print(json_out, json!({"user": u.id, "kind": kind}), || {
                format!("{} is now {}", u.username, kind.as_str())
            });
        }
        UserCommand::SetProfile {
            user,
            given_name,
            family_name,
            birth_date,
            street_address,
            postal_code,
            locality,
            country,
            nationality,
            sex,
            phone,
            email,
        } => {
            let u = users::lookup(&mut conn, &user)?;
            let mut profile = u.profile.clone();
            let merge = |field: &mut Option<String>, given: Option<String>| {
                if let Some(value) = given {
                    *field = Some(value).filter(|v| !v.trim().is_empty());
                }
            };
            merge(&mut profile.street_address, street_address);
            merge(&mut profile.postal_code, postal_code);
            merge(&mut profile.locality, locality);
            merge(&mut profile.country, country);
            merge(&mut profile.nationality, nationality);
            merge(&mut profile.sex, sex);
            if let Some(date) = birth_date {
                profile.birth_date = if date.trim().is_empty() {
                    None
                } else {
                    Some(
                        chrono::NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")
                            .map_err(|_| DomainError::invalid("birth_date", "YYYY-MM-DD"))?,
                    )
                };
            }
            let mut contact = users::Contact {
                given_name: u.given_name.clone(),
                family_name: u.family_name.clone(),
                email: u.email.as_deref().map(String::from),
                phone_number: u.phone_number.clone(),
            };
            merge(&mut contact.given_name, given_name);
            merge(&mut contact.family_name, family_name);
            merge(&mut contact.email, email);
            merge(&mut contact.phone_number, phone);
            // All or nothing; a changed address is told to the one it replaces.
            crate::store::transaction(&mut conn, |conn| {
                users::set_profile(conn, u.id, &profile, now)?;
                users::set_contact(conn, u.id, &contact, now)?;
                crate::domain::recovery::email_changed(
                    &idp,
                    conn,
                    &u,
                    contact.email.as_deref(),
                    Origin::of("cli"),
                    now,
                )
            })?;
            let u = users::lookup(&mut conn, &user)?;
            print(json_out, json!(u), || user_text(&u));
        }
        UserCommand::Join { user, school } => {
            let u = users::lookup(&mut conn, &user)?;
            let s = crate::domain::schools::find_school(&mut conn, &school)?;
            crate::domain::schools::join(&mut conn, u.id, s.id, now)?;
            print(json_out, json!({"user": u.id, "school": s.id}), || {
                format!("{} is a member of {}", u.username, s.name)
            });
        }
        UserCommand::Leave { user, school } => {
            let u = users::lookup(&mut conn, &user)?;
            let s = crate::domain::schools::find_school(&mut conn, &school)?;
            if !crate::domain::schools::leave(&mut conn, u.id, s.id)? {
                return Err(DomainError::NotFound(
                    format!("membership of {} in {}", u.username, s.name).into(),
                )
                .into());
            }
            print(json_out, json!({"user": u.id, "left": s.id}), || {
                format!("{} left {}", u.username, s.name)
            });
        }
        UserCommand::UpstreamLink {
            user,
            provider,
            subject,
            tenant,
        } => {
            let u = users::lookup(&mut conn, &user)?;
            let found = idp.upstream.find(&provider).ok_or_else(|| {
                DomainError::NotFound(format!("upstream provider {provider}").into())
            })?;
            let identity = upstream::links::identity_named(found, tenant.as_deref(), &subject)?;
            let origin = Origin::of("cli");
            let by = upstream::links::LinkedBy::Administrator;
            let linked =
                upstream::links::link(&idp, &mut conn, u.id, &identity, by, origin, idp.now())?;
            if linked.is_err() {
                return Err(DomainError::invalid(
                    "subject",
                    "an identity linked to no other account",
                )
                .into());
            }
            print(
                json_out,
                json!({"user": u.id, "issuer": identity.issuer, "subject": identity.subject}),
                || {
                    format!(
                        "{} linked to {} {}",
                        u.username, identity.issuer, identity.subject
                    )
                },
            );
        }
        UserCommand::UpstreamUnlink { user, link } => {
            let u = users::lookup(&mut conn, &user)?;
            let origin = Origin::of("cli");
            if !upstream::links::unlink(&idp, &mut conn, u.id, &link, "cli", origin, idp.now())? {
                return Err(DomainError::NotFound(format!("link {link}").into()).into());
            }
            print(json_out, json!({"user": u.id, "unlinked": link}), || {
                format!("{}: link {link} removed", u.username)
            });
        }
        UserCommand::Export { user } => {
            let u = users::lookup(&mut conn, &user)?;
            let all = crate::domain::personal_data::export(&mut conn, &u)?;
            // JSON whatever --json says: it is a document to hand over.
            let text = serde_json::to_string_pretty(&all)
                .map_err(|e| DomainError::Internal(e.to_string()))?;
            println!("{text}");
        }
        UserCommand::Erase { user, yes } => {
            if !yes {
                return Err(DomainError::invalid(
                    "yes",
                    "erasure cannot be undone: run it again with --yes",
                )
                .into());
            }
            let u = users::lookup(&mut conn, &user)?;
            let pseudonym = crate::domain::personal_data::erase(&mut conn, &u, "cli", idp.now())?;
            print(
                json_out,
                json!({"erased": u.id, "pseudonym": pseudonym}),
                || {
                    format!(
                        "{} erased; its audit events now read {pseudonym}",
                        u.username
                    )
                },
            );
        }
        UserCommand::UpstreamLinks { user } => {
            let u = users::lookup(&mut conn, &user)?;
            let all = upstream::links::of_user(&mut conn, u.id)?;
            print(json_out, json!(all), || {
                all.iter()
                    .map(|l| {
                        format!(
                            "{}  {}  {} {}  ({})",
                            l.id, l.provider, l.issuer, l.subject, l.linked_by
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        UserCommand::Links { user } => {
            let u = users::lookup(&mut conn, &user)?;
            let entry = |(other, relation): &(users::User, String)| json!({"id": other.id, "username": other.username, "relation": relation});
            let co = links::co_accounts(&mut conn, u.id)?;
            let of = links::accounts_of(&mut conn, u.id)?;
            let out = json!({
                "co_accounts": co.iter().map(entry).collect::<Vec<_>>(),
                "co_account_of": of.iter().map(entry).collect::<Vec<_>>(),
            });
            print(json_out, out, || {
                let mut lines: Vec<String> = co
                    .iter()
                    .map(|(o, r)| {
                        format!(
                            "{}: {r} ({})",
                            o.username,
                            o.email.as_deref().unwrap_or("-")
                        )
                    })
                    .collect();
                lines.extend(of.iter().map(|(o, r)| format!("{r} of {}", o.username)));
                if lines.is_empty() {
                    lines.push(format!("{} has no links", u.username));
                }
                lines.join("\n")
            });
        }
    }
    Ok(())
}

/// Refuses a password that breaks the policy, listing every rule it breaks.
fn enforce_policy(idp: &Idp, password: &str, who: &PasswordContext<'_>) -> CliResult {
    let violations = idp.settings.password_policy.check(password, who);
    if violations.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = violations
        .iter()
        .map(|v| {
            let text =
                idp.translations
                    .with_counts(Locale::En, &v.message_key(), &v.message_args());
            format!("  - {text}")
        })
        .collect();
    Err(format!(
        "the password breaks the password policy (--skip-policy to accept it anyway):\n{}",
        lines.join("\n")
    )
    .into())
}
