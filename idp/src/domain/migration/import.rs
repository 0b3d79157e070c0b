//! The import of one batch of legacy rows, in one short transaction (so logins and resets
//! on a serving STS wait a moment at most): a few queries find what the batch's rows
//! already are here, new accounts go in with one multi-row insert per table, changed ones
//! are updated one by one (rare after the first run). Nothing is re-hashed: a legacy hash
//! is stored as it came and replaced at the account's first login.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::record::{Candidate, Directory, LegacyRecord};
use super::{Counts, Outcome, Problem, Reason, ReportedRow, Run, SourceName};
use crate::domain::clock::to_db;
use crate::domain::types::{SchoolId, UserId};
use crate::domain::users::{NewUser, new_row};
use crate::domain::{DomainError, DomainResult};
use crate::store::models::UserRow;
use crate::store::schema::{account_links, migrated_accounts, school_members, users};
use crate::store::{self, DbConn};

/// Rows per multi-row insert: well under SQLite's limit of bound values per statement.
const INSERT_CHUNK: usize = 400;

/// What a batch did, for the run's counts and report.
#[derive(Debug, Default)]
pub struct Batch {
    pub counts: Counts,
    pub reported: Vec<ReportedRow>,
}

impl Batch {
    fn add(&mut self, outcome: Outcome) {
        self.counts.read += 1;
        self.counts.add(outcome);
    }

    fn report(&mut self, line: u64, record: &LegacyRecord, outcome: Outcome, problem: Problem) {
        self.add(outcome);
        self.reported
            .push(ReportedRow::new(line, record.clone(), outcome, problem));
    }
}

/// What a dry run would have written, kept in memory since every batch of a dry run is
/// rolled back: later batches still see the earlier ones' accounts (an identifier taken,
/// a guardian found), so the dry run tells what the real one will do.
#[derive(Debug, Default)]
pub struct Shadow {
    legacy_ids: HashSet<String>,
    identifiers: HashMap<String, (String, String)>,
    pending: Vec<Pending>,
}

/// Guardians a row names that were not migrated yet: linked at the end of the run.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    line: u64,
    legacy_id: String,
    guardians: Vec<(String, String)>,
    record: LegacyRecord,
}

/// What the run is: which source, which run, when, and whether it writes.
pub struct Context<'a> {
    pub run: &'a Run,
    pub directory: &'a Directory,
    pub now: DateTime<Utc>,
    /// A person chose the legacy rows over what was changed on the STS since the last
    /// migration (the screens' "overwrite"): no `changed_on_sts` conflict.
    pub overwrite: bool,
}

impl Context<'_> {
    fn source(&self) -> &SourceName {
        &self.run.source
    }
}

/// A migrated account as the store has it.
struct Known {
    user_id: String,
    digest: String,
    synced_at: NaiveDateTime,
    run_id: String,
}

/// Why the transaction of a batch ended early: a dry run always rolls back.
enum Abort {
    DryRun(Batch),
    Failed(DomainError),
}

impl From<diesel::result::Error> for Abort {
    fn from(e: diesel::result::Error) -> Self {
        Self::Failed(e.into())
    }
}

impl From<DomainError> for Abort {
    fn from(e: DomainError) -> Self {
        Self::Failed(e)
    }
}

/// Imports `rows` (each with its line in the source) in one transaction; in a dry run the
/// transaction is rolled back and `shadow` remembers what it would have written.
pub fn import_batch(
    conn: &mut DbConn,
    ctx: &Context<'_>,
    rows: Vec<(u64, LegacyRecord)>,
    shadow: Option<&mut Shadow>,
) -> DomainResult<Batch> {
    let dry_run = shadow.is_some();
    // Checking the rows needs no store: done before the transaction, which on SQLite holds
    // the one write lock the STS's logins wait for.
    let mut checked = Batch::default();
    let candidates = validate(ctx.directory, rows, &mut checked);
    let result = store::transaction::<Batch, Abort, _>(conn, |conn| {
        let batch = apply(conn, ctx, candidates, checked, shadow)?;
        if dry_run {
            Err(Abort::DryRun(batch))
        } else {
            Ok(batch)
        }
    });
    match result {
        Ok(batch) | Err(Abort::DryRun(batch)) => Ok(batch),
        Err(Abort::Failed(e)) => Err(e),
    }
}

fn apply(
    conn: &mut DbConn,
    ctx: &Context<'_>,
    candidates: Vec<(u64, Candidate, LegacyRecord)>,
    mut batch: Batch,
    mut shadow: Option<&mut Shadow>,
) -> DomainResult<Batch> {
    let ids: Vec<&str> = candidates.iter().map(|c| c.1.legacy_id.as_str()).collect();
    let known = known(conn, ctx.source(), &ids)?;
    let mut fresh = Vec::new();
    let mut changed = Vec::new();
    for (line, candidate, record) in candidates {
        // Met earlier in this run: in the shadow (a dry run), or written by this run.
        let seen = shadow
            .as_deref()
            .is_some_and(|s| s.legacy_ids.contains(&candidate.legacy_id))
            || known
                .get(&candidate.legacy_id)
                .is_some_and(|k| k.run_id == ctx.run.id);
        match known.get(&candidate.legacy_id) {
            _ if seen => batch.report(
                line,
                &record,
                Outcome::Skipped,
                Problem::new(Reason::DuplicateLegacyId, candidate.legacy_id.clone()),
            ),
            Some(k) if k.digest == candidate.digest => batch.add(Outcome::Unchanged),
            Some(_) => changed.push((line, candidate, record)),
            None => fresh.push((line, candidate, record)),
        }
    }
    let created = create(conn, ctx, fresh, &mut batch, shadow.as_deref_mut())?;
    let mut linked = created;
    for (line, candidate, record) in changed {
        let Some(k) = known.get(&candidate.legacy_id) else {
            continue;
        };
        match update(conn, ctx, k, &candidate)? {
            Ok(user_id) => {
                batch.add(Outcome::Updated);
                linked.push((line, candidate, record, user_id));
            }
            Err(problem) => batch.report(line, &record, Outcome::Conflict, problem),
        }
    }
    link_guardians(conn, ctx, linked, shadow)?;
    batch.reported.sort_by_key(|r| r.line);
    Ok(batch)
}

/// Validates each row and drops the second of two rows with one legacy id.
fn validate(
    directory: &Directory,
    rows: Vec<(u64, LegacyRecord)>,
    batch: &mut Batch,
) -> Vec<(u64, Candidate, LegacyRecord)> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(rows.len());
    for (line, record) in rows {
        match directory.validate(&record) {
            Ok(c) if !seen.insert(c.legacy_id.clone()) => {
                let problem = Problem::new(Reason::DuplicateLegacyId, c.legacy_id.clone());
                batch.report(line, &record, Outcome::Skipped, problem);
            }
            Ok(candidate) => out.push((line, candidate, record)),
            Err(problem) => batch.report(line, &record, Outcome::Skipped, problem),
        }
    }
    out
}

/// What the store has of these legacy ids of this source.
fn known(
    conn: &mut DbConn,
    source: &SourceName,
    ids: &[&str],
) -> DomainResult<HashMap<String, Known>> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(INSERT_CHUNK) {
        let rows: Vec<(String, String, String, NaiveDateTime, String)> = migrated_accounts::table
            .filter(migrated_accounts::source.eq(source.as_str()))
            .filter(migrated_accounts::legacy_id.eq_any(chunk))
            .select((
                migrated_accounts::legacy_id,
                migrated_accounts::user_id,
                migrated_accounts::row_digest,
                migrated_accounts::synced_at,
                migrated_accounts::run_id,
            ))
            .load(conn)?;
        for (legacy_id, user_id, digest, synced_at, run_id) in rows {
            out.insert(
                legacy_id,
                Known {
                    user_id,
                    digest,
                    synced_at,
                    run_id,
                },
            );
        }
    }
    Ok(out)
}

/// Who holds an identifier already, to name them in the report.
fn holders(
    conn: &mut DbConn,
    source: &SourceName,
    normalized: &[String],
) -> DomainResult<HashMap<String, (String, String)>> {
    let mut out = HashMap::new();
    for chunk in normalized.chunks(INSERT_CHUNK) {
        let taken: Vec<(String, String, String)> = users::table
            .filter(users::username_normalized.eq_any(chunk))
            .select((users::username_normalized, users::id, users::username))
            .load(conn)?;
        if taken.is_empty() {
            continue;
        }
        let ids: Vec<&String> = taken.iter().map(|t| &t.1).collect();
        let legacy: HashMap<String, String> = migrated_accounts::table
            .filter(migrated_accounts::source.eq(source.as_str()))
            .filter(migrated_accounts::user_id.eq_any(ids))
            .select((migrated_accounts::user_id, migrated_accounts::legacy_id))
            .load::<(String, String)>(conn)?
            .into_iter()
            .collect();
        for (normalized, id, username) in taken {
            // The legacy id when a row of this source holds it; empty for anyone else.
            let by = legacy.get(&id).cloned().unwrap_or_default();
            out.insert(normalized, (by, username));
        }
    }
    Ok(out)
}

/// Why `candidate` cannot have its identifier: held by `holder` (legacy id, identifier).
fn taken_problem(candidate: &Candidate, holder: &(String, String)) -> Problem {
    let (legacy_id, identifier) = holder;
    if legacy_id.is_empty() {
        Problem::new(Reason::IdentifierTaken, candidate.username.as_str())
    } else if identifier.as_str() != candidate.username.as_str() {
        Problem::new(
            Reason::IdentifierCaseDuplicate,
            format!(
                "{} and legacy row {legacy_id}: {identifier}",
                candidate.username.as_str()
            ),
        )
    } else {
        Problem::new(
            Reason::IdentifierTaken,
            format!("{} by legacy row {legacy_id}", candidate.username.as_str()),
        )
    }
}

type Linkable = (u64, Candidate, LegacyRecord, String);

/// Inserts the accounts new to the store, with their schools and their migration record.
fn create(
    conn: &mut DbConn,
    ctx: &Context<'_>,
    fresh: Vec<(u64, Candidate, LegacyRecord)>,
    batch: &mut Batch,
    mut shadow: Option<&mut Shadow>,
) -> DomainResult<Vec<Linkable>> {
    let normalized: Vec<String> = fresh.iter().map(|c| c.1.username.normalized()).collect();
    let mut taken = holders(conn, ctx.source(), &normalized)?;
    let now = to_db(ctx.now);
    let mut user_rows = Vec::with_capacity(fresh.len());
    let mut migrated_rows = Vec::with_capacity(fresh.len());
    let mut member_rows = Vec::new();
    let mut created = Vec::with_capacity(fresh.len());
    for ((line, candidate, record), key) in fresh.into_iter().zip(normalized) {
        let holder = taken.get(&key).cloned().or_else(|| {
            shadow
                .as_deref()
                .and_then(|s| s.identifiers.get(&key).cloned())
        });
        if let Some(holder) = holder {
            batch.report(
                line,
                &record,
                Outcome::Skipped,
                taken_problem(&candidate, &holder),
            );
            continue;
        }
        let user_id = UserId::new().to_string();
        taken.insert(
            key.clone(),
            (
                candidate.legacy_id.clone(),
                candidate.username.as_str().to_owned(),
            ),
        );
        if let Some(s) = shadow.as_deref_mut() {
            s.legacy_ids.insert(candidate.legacy_id.clone());
            s.identifiers.insert(
                key,
                (
                    candidate.legacy_id.clone(),
                    candidate.username.as_str().to_owned(),
                ),
            );
        }
        user_rows.push(user_row(&candidate, &user_id, now));
        migrated_rows.push((
            migrated_accounts::source.eq(ctx.source().as_str().to_owned()),
            migrated_accounts::legacy_id.eq(candidate.legacy_id.clone()),
            migrated_accounts::user_id.eq(user_id.clone()),
            migrated_accounts::legacy_username.eq(candidate.legacy_username.as_str().to_owned()),
            migrated_accounts::legacy_username_normalized
                .eq(candidate.legacy_username.normalized()),
            migrated_accounts::row_digest.eq(candidate.digest.clone()),
            migrated_accounts::synced_at.eq(now),
            migrated_accounts::migrated_at.eq(now),
            migrated_accounts::run_id.eq(ctx.run.id.clone()),
        ));
        for school in &candidate.schools {
            member_rows.push((
                school_members::user_id.eq(user_id.clone()),
                school_members::school_id.eq(school.to_string()),
                school_members::created_at.eq(now),
            ));
        }
        batch.add(Outcome::Created);
        created.push((line, candidate, record, user_id));
    }
    for chunk in user_rows.chunks(INSERT_CHUNK) {
        crate::on_backend!(conn, diesel::insert_into(users::table).values(chunk))?;
    }
    for chunk in migrated_rows.chunks(INSERT_CHUNK) {
        crate::on_backend!(
            conn,
            diesel::insert_into(migrated_accounts::table).values(chunk)
        )?;
    }
    for chunk in member_rows.chunks(INSERT_CHUNK) {
        crate::on_backend!(
            conn,
            diesel::insert_into(school_members::table)
                .values(chunk)
                .on_conflict_do_nothing()
        )?;
    }
    Ok(created)
}

/// The account a candidate becomes: disabled when the legacy one was inactive, with its
/// legacy hash and no password here.
fn user_row(candidate: &Candidate, id: &str, now: NaiveDateTime) -> UserRow {
    let new = NewUser {
        username: candidate.username.clone(),
        kind: candidate.kind,
        email: candidate.email.clone(),
        email_verified: false,
        given_name: candidate.given_name.clone(),
        family_name: candidate.family_name.clone(),
        phone_number: None,
        locale: candidate.locale.clone(),
        password: None,
    };
    UserRow {
        disabled: !candidate.active,
        legacy_password_hash: candidate.legacy_hash.clone(),
        ..new_row(new, id, None, now)
    }
}

/// Brings an account in line with its changed legacy row, unless it changed here since the
/// import last wrote it: then the row is a conflict and the account stays as it is.
fn update(
    conn: &mut DbConn,
    ctx: &Context<'_>,
    known: &Known,
    candidate: &Candidate,
) -> DomainResult<Result<String, Problem>> {
    let current: Option<(NaiveDateTime, Option<String>, String)> = users::table
        .find(&known.user_id)
        .select((
            users::updated_at,
            users::password_hash,
            users::username_normalized,
        ))
        .first(conn)
        .optional()?;
    let Some((updated_at, password_hash, username_normalized)) = current else {
        return Ok(Err(Problem::new(
            Reason::ChangedOnSts,
            "the account was deleted",
        )));
    };
    if updated_at != known.synced_at && !ctx.overwrite {
        return Ok(Err(Problem::new(Reason::ChangedOnSts, "")));
    }
    let normalized = candidate.username.normalized();
    if normalized != username_normalized {
        let holder = holders(conn, ctx.source(), std::slice::from_ref(&normalized))?;
        if let Some(holder) = holder.get(&normalized) {
            return Ok(Err(taken_problem(candidate, holder)));
        }
    }
    let now = to_db(ctx.now);
    let email_normalized = candidate.email.as_ref().map(|e| e.normalized());
    let search_text = crate::domain::users::search_text(
        &normalized,
        email_normalized.as_deref(),
        candidate.given_name.as_deref(),
        candidate.family_name.as_deref(),
    );
    diesel::update(users::table.find(&known.user_id))
        .set((
            users::username.eq(candidate.username.as_str()),
            users::username_normalized.eq(&normalized),
            users::email.eq(candidate.email.as_ref().map(|e| e.as_str())),
            users::email_normalized.eq(&email_normalized),
            users::given_name.eq(&candidate.given_name),
            users::family_name.eq(&candidate.family_name),
            users::search_text.eq(search_text),
            users::kind.eq(candidate.kind.as_str()),
            users::locale.eq(&candidate.locale),
            users::disabled.eq(!candidate.active),
            users::updated_at.eq(now),
        ))
        .execute(conn)?;
    // A password chosen here is never replaced by a legacy one.
    if password_hash.is_none() {
        diesel::update(users::table.find(&known.user_id))
            .set(users::legacy_password_hash.eq(&candidate.legacy_hash))
            .execute(conn)?;
    }
    for school in &candidate.schools {
        join_school(conn, &known.user_id, *school, now)?;
    }
    diesel::update(
        migrated_accounts::table.find((ctx.source().as_str(), candidate.legacy_id.as_str())),
    )
    .set((
        migrated_accounts::row_digest.eq(&candidate.digest),
        migrated_accounts::legacy_username.eq(candidate.legacy_username.as_str()),
        migrated_accounts::legacy_username_normalized.eq(candidate.legacy_username.normalized()),
        migrated_accounts::synced_at.eq(now),
        migrated_accounts::run_id.eq(&ctx.run.id),
    ))
    .execute(conn)?;
    Ok(Ok(known.user_id.clone()))
}

/// Records that the legacy row `record` is the existing account `user_id`, a person the
/// STS knows already whom the row duplicates (a teacher in two schools, an account made by
/// hand before the migration). The account keeps its identifier, profile and password; it
/// joins the row's schools and guardians and takes the legacy password only when it has
/// none. Later runs keep it in line with the row like any migrated account: from now on,
/// changes on either side are seen.
pub fn attach(
    conn: &mut DbConn,
    ctx: &Context<'_>,
    line: u64,
    record: LegacyRecord,
    user_id: UserId,
) -> DomainResult<Batch> {
    let mut batch = Batch::default();
    let candidate = match ctx.directory.validate(&record) {
        Ok(candidate) => candidate,
        Err(problem) => {
            batch.report(line, &record, Outcome::Skipped, problem);
            return Ok(batch);
        }
    };
    store::transaction(conn, |conn| {
        let legacy_id = candidate.legacy_id.as_str();
        if let Some(known) = known(conn, ctx.source(), &[legacy_id])?.get(legacy_id) {
            let problem = Problem::new(Reason::AlreadyMigrated, known.user_id.clone());
            batch.report(line, &record, Outcome::Skipped, problem);
            return Ok(());
        }
        let user_id = user_id.to_string();
        let (updated_at, password, legacy): (NaiveDateTime, Option<String>, Option<String>) =
            users::table
                .find(&user_id)
                .select((
                    users::updated_at,
                    users::password_hash,
                    users::legacy_password_hash,
                ))
                .first(conn)?;
        let now = to_db(ctx.now);
        diesel::insert_into(migrated_accounts::table)
            .values((
                migrated_accounts::source.eq(ctx.source().as_str()),
                migrated_accounts::legacy_id.eq(legacy_id),
                migrated_accounts::user_id.eq(&user_id),
                migrated_accounts::legacy_username.eq(candidate.legacy_username.as_str()),
                migrated_accounts::legacy_username_normalized
                    .eq(candidate.legacy_username.normalized()),
                migrated_accounts::row_digest.eq(&candidate.digest),
                // In line with the row as of now: what the STS had stays until either
                // side changes.
                migrated_accounts::synced_at.eq(updated_at),
                migrated_accounts::migrated_at.eq(now),
                migrated_accounts::run_id.eq(&ctx.run.id),
            ))
            .execute(conn)?;
        if password.is_none() && legacy.is_none() && candidate.legacy_hash.is_some() {
            diesel::update(users::table.find(&user_id))
                .set(users::legacy_password_hash.eq(&candidate.legacy_hash))
                .execute(conn)?;
        }
        for school in &candidate.schools {
            join_school(conn, &user_id, *school, now)?;
        }
        batch.add(Outcome::Updated);
        let linked = vec![(line, candidate.clone(), record.clone(), user_id)];
        link_guardians(conn, ctx, linked, None)
    })?;
    Ok(batch)
}

fn join_school(
    conn: &mut DbConn,
    user_id: &str,
    school: SchoolId,
    now: NaiveDateTime,
) -> DomainResult<()> {
    crate::on_backend!(
        conn,
        diesel::insert_into(school_members::table)
            .values((
                school_members::user_id.eq(user_id),
                school_members::school_id.eq(school.to_string()),
                school_members::created_at.eq(now),
            ))
            .on_conflict_do_nothing()
    )?;
    Ok(())
}

/// The user ids of the given legacy ids of this source.
fn migrated_ids(
    conn: &mut DbConn,
    source: &SourceName,
    legacy_ids: &[&str],
) -> DomainResult<HashMap<String, String>> {
    Ok(known(conn, source, legacy_ids)?
        .into_iter()
        .map(|(legacy_id, k)| (legacy_id, k.user_id))
        .collect())
}

/// Links each account to the guardians it names that are here already; the others wait,
/// noted on the account's migration record, for the end of the run.
fn link_guardians(
    conn: &mut DbConn,
    ctx: &Context<'_>,
    accounts: Vec<Linkable>,
    mut shadow: Option<&mut Shadow>,
) -> DomainResult<()> {
    let wanted: Vec<&str> = accounts
        .iter()
        .flat_map(|a| a.1.guardians.iter().map(|g| g.0.as_str()))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let found = migrated_ids(conn, ctx.source(), &wanted)?;
    let now = to_db(ctx.now);
    let mut links = Vec::new();
    for (line, candidate, record, user_id) in accounts {
        let mut pending = Vec::new();
        for (guardian, relation) in &candidate.guardians {
            match found.get(guardian) {
                Some(guardian_id) if *guardian_id != user_id => links.push((
                    account_links::account_id.eq(user_id.clone()),
                    account_links::co_account_id.eq(guardian_id.clone()),
                    account_links::relation.eq(relation.as_str().to_owned()),
                    account_links::created_at.eq(now),
                )),
                Some(_) => {}
                None => pending.push((guardian.clone(), relation.as_str().to_owned())),
            }
        }
        if pending.is_empty() {
            continue;
        }
        let pending = Pending {
            line,
            legacy_id: candidate.legacy_id.clone(),
            guardians: pending,
            record,
        };
        match shadow.as_deref_mut() {
            Some(s) => s.pending.push(pending),
            None => {
                diesel::update(
                    migrated_accounts::table
                        .find((ctx.source().as_str(), candidate.legacy_id.as_str())),
                )
                .set(migrated_accounts::pending_links.eq(Some(to_json(&pending)?)))
                .execute(conn)?;
            }
        }
    }
    for chunk in links.chunks(INSERT_CHUNK) {
        crate::on_backend!(
            conn,
            diesel::insert_into(account_links::table)
                .values(chunk)
                .on_conflict_do_nothing()
        )?;
    }
    Ok(())
}

fn to_json(value: &impl Serialize) -> DomainResult<String> {
    serde_json::to_string(value).map_err(|e| DomainError::Internal(e.to_string()))
}

/// At the end of a run: links the guardians that arrived in later batches, and reports the
/// accounts whose guardian never came as incomplete; `only`: just these legacy ids' (rows
/// taken up again on the screens).
pub fn finish_links(
    conn: &mut DbConn,
    ctx: &Context<'_>,
    shadow: Option<&mut Shadow>,
    only: Option<&[String]>,
) -> DomainResult<Batch> {
    let mut batch = Batch::default();
    let pending: Vec<Pending> = match shadow {
        Some(s) => std::mem::take(&mut s.pending)
            .into_iter()
            .map(|mut p| {
                p.guardians.retain(|(g, _)| !s.legacy_ids.contains(g));
                p
            })
            .collect(),
        None => {
            let mut query = migrated_accounts::table
                .filter(migrated_accounts::source.eq(ctx.source().as_str()))
                .filter(migrated_accounts::pending_links.is_not_null())
                .into_boxed();
            if let Some(only) = only {
                query = query.filter(migrated_accounts::legacy_id.eq_any(only.to_vec()));
            }
            let rows: Vec<Option<String>> =
                query.select(migrated_accounts::pending_links).load(conn)?;
            rows.into_iter()
                .flatten()
                .map(|text| {
                    serde_json::from_str(&text).map_err(|e| DomainError::Corrupt(e.to_string()))
                })
                .collect::<DomainResult<_>>()?
        }
    };
    let now = to_db(ctx.now);
    for p in pending {
        let wanted: Vec<&str> = p.guardians.iter().map(|g| g.0.as_str()).collect();
        let found = migrated_ids(conn, ctx.source(), &wanted)?;
        let account = migrated_ids(conn, ctx.source(), &[p.legacy_id.as_str()])?;
        let mut missing = Vec::new();
        for (guardian, relation) in &p.guardians {
            match (found.get(guardian), account.get(&p.legacy_id)) {
                (Some(guardian_id), Some(user_id)) => {
                    crate::on_backend!(
                        conn,
                        diesel::insert_into(account_links::table)
                            .values((
                                account_links::account_id.eq(user_id),
                                account_links::co_account_id.eq(guardian_id),
                                account_links::relation.eq(relation),
                                account_links::created_at.eq(now),
                            ))
                            .on_conflict_do_nothing()
                    )?;
                }
                (Some(_), None) => {} // a dry run: the account itself was rolled back
                (None, _) => missing.push(guardian.as_str()),
            }
        }
        // Guardians still missing stay noted: a later run that brings them links them.
        let still = (!missing.is_empty())
            .then(|| {
                to_json(&Pending {
                    guardians: p
                        .guardians
                        .iter()
                        .filter(|(g, _)| missing.contains(&g.as_str()))
                        .cloned()
                        .collect(),
                    ..p.clone()
                })
            })
            .transpose()?;
        diesel::update(
            migrated_accounts::table.find((ctx.source().as_str(), p.legacy_id.as_str())),
        )
        .set(migrated_accounts::pending_links.eq(still))
        .execute(conn)?;
        if !missing.is_empty() {
            let problem = Problem::new(Reason::GuardianNotFound, missing.join(", "));
            batch.reported.push(ReportedRow::new(
                p.line,
                p.record.clone(),
                Outcome::Incomplete,
                problem,
            ));
            batch.counts.add(Outcome::Incomplete);
        }
    }
    Ok(batch)
}
