//! Storage: one diesel code path for SQLite (embedded default) and PostgreSQL (production),
//! the backend picked from the scheme of the database URL.

pub mod models;
pub mod schema;

use std::time::Duration;

use diesel::connection::{
    AnsiTransactionManager, Connection, SimpleConnection, TransactionManager,
};
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

/// Arbitrary but fixed key of the PostgreSQL advisory lock that guards migrations.
const MIGRATION_LOCK_ID: i64 = 0x1d9_0001;

/// A connection to whichever backend the URL named.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Sqlite(diesel::SqliteConnection),
    Postgres(diesel::PgConnection),
}

/// Runs `$query` on the backend's own connection, for what diesel's multi-backend
/// connection cannot express: multi-row inserts and `ON CONFLICT DO NOTHING`, which both
/// SQLite and PostgreSQL understand alike. Inside a transaction of the `DbConn` too.
#[macro_export]
macro_rules! on_backend {
    ($conn:expr, $query:expr) => {
        match $conn {
            $crate::store::DbConn::Sqlite(c) => diesel::RunQueryDsl::execute($query, c),
            $crate::store::DbConn::Postgres(c) => diesel::RunQueryDsl::execute($query, c),
        }
    };
}

/// SQLite lets one connection write at a time, and a writer that finds the database
/// locked sleeps in SQLite's busy handler (1, 2, 5, 10… ms) before it looks again: under
/// a whole school's logins the STS's writers slept hundreds of times a second, each
/// holding its connection and its thread while the lock was long free. So this process's
/// transactions on SQLite queue here, and each is woken the moment the one before it
/// ends. One queue for every SQLite database of the process (only tests open several); a
/// writer waits at most `WRITER_WAIT` for its turn, then goes on to SQLite's own queue, so
/// nothing can wait here for ever.
static SQLITE_WRITER: parking_lot::Mutex<()> = parking_lot::const_mutex(());

/// How long a SQLite writer waits for its turn, here and then as each connection's busy
/// timeout (`ConnectionSetup`).
const WRITER_WAIT: Duration = Duration::from_secs(5);

/// Whether `sqlite` is inside a transaction already (a nested one is a savepoint, and the
/// writer's turn is the outermost one's).
fn in_transaction(sqlite: &mut diesel::SqliteConnection) -> diesel::QueryResult<bool> {
    Ok(
        AnsiTransactionManager::transaction_manager_status_mut(sqlite)
            .transaction_depth()?
            .is_some(),
    )
}

/// Runs `work`, writes that stand alone (each statement its own transaction), in this
/// process's queue of SQLite writers (`SQLITE_WRITER`): a statement that found the
/// database locked would sleep in SQLite's busy handler instead. Inside a transaction, or
/// on PostgreSQL, it just runs `work`.
pub fn write<T, E, F>(conn: &mut DbConn, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    let DbConn::Sqlite(sqlite) = conn else {
        return work(conn);
    };
    let _turn = (!in_transaction(sqlite)?).then(|| SQLITE_WRITER.try_lock_for(WRITER_WAIT));
    work(conn)
}

/// Runs `work` in a transaction (a savepoint when nested). Every transaction of the STS
/// writes, and on SQLite the outermost one takes its turn among the process's writers
/// (`SQLITE_WRITER`), then begins `IMMEDIATE`, taking the write lock at once: a deferred
/// transaction that reads first asks for it only at its first write, and then fails at
/// once with `SQLITE_BUSY` (no busy wait: its snapshot is stale) if another connection
/// wrote meanwhile, as an import does all the time while the STS serves. Immediate ones
/// queue on the busy timeout instead. PostgreSQL locks rows, not the database: a plain
/// transaction there.
pub fn transaction<T, E, F>(conn: &mut DbConn, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    type Manager = <DbConn as Connection>::TransactionManager;
    let DbConn::Sqlite(sqlite) = conn else {
        #[allow(clippy::disallowed_methods)] // this is the one place that may
        return conn.transaction(work);
    };
    if in_transaction(sqlite)? {
        #[allow(clippy::disallowed_methods)]
        return conn.transaction(work);
    }
    let _turn = SQLITE_WRITER.try_lock_for(WRITER_WAIT);
    AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?;
    match work(conn) {
        Ok(value) => {
            Manager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(failure) => match Manager::rollback_transaction(conn) {
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(failure),
            Err(rollback) => Err(rollback.into()),
        },
    }
}

pub type DbPool = Pool<ConnectionManager<DbConn>>;
pub type PooledDb = PooledConnection<ConnectionManager<DbConn>>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database URL {0:?} names no supported backend (use sqlite://PATH or postgres://…)")]
    UnsupportedUrl(String),
    #[error("cannot create the directory for the SQLite file {path}: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "the SQLite database {path} cannot be written ({source}): it needs a file system mounted read-write, and a file and folder this user may write (SQLite writes {path}-wal and {path}-shm beside it)"
    )]
    NotWritable {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot open the database pool: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("cannot apply migrations: {0}")]
    Migration(String),
    #[error("database error: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("{0}")]
    Backup(String),
}

/// Which backend a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else if url.starts_with("sqlite://") || url.starts_with("file:") || url == ":memory:" {
            Ok(Self::Sqlite)
        } else {
            Err(StoreError::UnsupportedUrl(url.to_owned()))
        }
    }
}

/// The form diesel's SQLite connection wants: a path, without our `sqlite://` prefix.
fn connection_string(url: &str) -> String {
    match url.strip_prefix("sqlite://") {
        Some(path) => path.to_owned(),
        None => url.to_owned(),
    }
}

/// SQLite needs its pragmas on every new connection: WAL so readers never wait on the
/// writer, foreign keys (off by default in SQLite) and a busy timeout so concurrent writers
/// queue instead of failing with `SQLITE_BUSY`. PostgreSQL's JIT compiler is turned off for
/// the STS's short queries: a search over 100,000 accounts that ran in 34 ms spent another
/// 137 ms compiling itself, because the planner's cost estimate crossed `jit_above_cost`.
#[derive(Debug)]
struct ConnectionSetup;

impl CustomizeConnection<DbConn, diesel::r2d2::Error> for ConnectionSetup {
    fn on_acquire(&self, conn: &mut DbConn) -> Result<(), diesel::r2d2::Error> {
        if let DbConn::Sqlite(conn) = conn {
            let busy_millis = WRITER_WAIT.as_millis();
            conn.batch_execute(&format!(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {busy_millis};"
            ))
            .map_err(diesel::r2d2::Error::QueryError)?;
        }
        if let DbConn::Postgres(conn) = conn {
            conn.batch_execute("SET jit = off")
                .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

/// Refreshes PostgreSQL's planner statistics of the account tables. A bulk import into
/// tables the planner still believes empty gets sequential scans for its lookups, which
/// grow with every batch (an import of 100,000 accounts took a minute instead of seconds);
/// `account-migration` calls this as its tables double. SQLite's planner needs no
/// statistics to use an index: nothing to do there.
pub fn refresh_planner_statistics(conn: &mut DbConn) -> Result<(), StoreError> {
    if let DbConn::Postgres(conn) = conn {
        conn.batch_execute("ANALYZE users, migrated_accounts, school_members, account_links")?;
    }
    Ok(())
}

/// A number that changes whenever another connection commits to the SQLite database
/// (`PRAGMA data_version`; this connection's own commits leave it be): how a long writer
/// such as an import learns that the STS is writing too. None on PostgreSQL.
pub fn others_wrote_version(conn: &mut DbConn) -> Result<Option<i64>, StoreError> {
    #[derive(diesel::QueryableByName)]
    struct DataVersion {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        data_version: i64,
    }
    let DbConn::Sqlite(sqlite) = conn else {
        return Ok(None);
    };
    let row: DataVersion =
        diesel::RunQueryDsl::get_result(diesel::sql_query("PRAGMA data_version"), sqlite)?;
    Ok(Some(row.data_version))
}

/// Opens a pool of `size` connections, creating the SQLite file's directory if needed (the
/// command line's: waits up to 10 s for a connection).
pub fn connect(url: &str, size: u32) -> Result<DbPool, StoreError> {
    connect_waiting(url, size, Duration::from_secs(10))
}

/// The same, a request waiting at most `wait` for a connection: with the database out of
/// reach (a restart, a failover) requests fail fast with "try again" rather than hang, and
/// the pool reconnects by itself once it is back (each connection is checked as it is
/// taken, so a dead one is replaced, not used).
pub fn connect_waiting(url: &str, size: u32, wait: Duration) -> Result<DbPool, StoreError> {
    let backend = Backend::of_url(url)?;
    let target = connection_string(url);
    if backend == Backend::Sqlite
        && target != ":memory:"
        && let Some(dir) = std::path::Path::new(&target).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: target.clone(),
            source,
        })?;
    }
    if backend == Backend::Sqlite && target != ":memory:" && !target.starts_with("file:") {
        writable(&target)?;
    }
    let manager = ConnectionManager::<DbConn>::new(target);
    // Connections open as the load needs them and close after idling: an idle instance
    // holds one (memory, and the connection budget of a PostgreSQL many instances share).
    // A PostgreSQL connection is checked as it is taken (a server restart or failover
    // leaves dead ones in the pool); a SQLite one is a file this process holds open, which
    // nothing can take away, so it is not (a query less on every request).
    let pool = Pool::builder()
        .max_size(size)
        .min_idle(Some(1))
        .connection_timeout(wait)
        .test_on_check_out(backend == Backend::Postgres)
        .connection_customizer(Box::new(ConnectionSetup))
        .build(manager)?;
    Ok(pool)
}

/// SQLite opens a database it may not write, and in WAL mode then fails every connection
/// with "unable to open database file" after the pool's whole wait: so the file is opened
/// for writing first (created empty if new, which SQLite takes as an empty database), and
/// a read-only file system or a file this user may not write is named at once.
fn writable(path: &str) -> Result<(), StoreError> {
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map(drop)
        .map_err(|source| StoreError::NotWritable {
            path: path.to_owned(),
            source,
        })
}

/// A consistent copy of a SQLite store taken while it serves (`VACUUM INTO`: one read
/// transaction, so writers go on); a new file, never over an existing one. PostgreSQL is
/// backed up with `pg_dump` (docs/operations.md).
pub fn backup(conn: &mut DbConn, file: &std::path::Path) -> Result<(), StoreError> {
    let DbConn::Sqlite(sqlite) = conn else {
        return Err(StoreError::Backup(
            "PostgreSQL is backed up with pg_dump (docs/operations.md)".into(),
        ));
    };
    if file.exists() {
        return Err(StoreError::Backup(format!(
            "{} exists already",
            file.display()
        )));
    }
    let path = file
        .to_str()
        .ok_or_else(|| StoreError::Backup("the file name is not UTF-8".into()))?;
    sqlite.batch_execute(&format!("VACUUM INTO '{}'", path.replace('\'', "''")))?;
    Ok(())
}

/// What `idp db check` reports: the backend, whether the schema is current, and how many
/// rows the main tables hold.
#[derive(Debug, serde::Serialize)]
pub struct Check {
    pub backend: &'static str,
    pub schema_current: bool,
    pub counts: Vec<(&'static str, i64)>,
}

pub fn check(conn: &mut DbConn) -> Result<Check, StoreError> {
    use diesel::dsl::count_star;
    use diesel::prelude::*;
    use schema::{audit_events, clients, grants, mail_outbox, sso_sessions, users};
    let backend = match conn {
        DbConn::Sqlite(_) => "sqlite",
        DbConn::Postgres(_) => "postgresql",
    };
    let schema_current = schema_current(conn)?;
    let mut counts = Vec::new();
    if schema_current {
        counts.push(("users", users::table.select(count_star()).first(conn)?));
        counts.push(("clients", clients::table.select(count_star()).first(conn)?));
        counts.push((
            "sso_sessions",
            sso_sessions::table.select(count_star()).first(conn)?,
        ));
        counts.push(("grants", grants::table.select(count_star()).first(conn)?));
        let unsent = mail_outbox::table.filter(mail_outbox::sent_at.is_null());
        counts.push((
            "mail_outbox (unsent)",
            unsent.select(count_star()).first(conn)?,
        ));
        counts.push((
            "audit_events",
            audit_events::table.select(count_star()).first(conn)?,
        ));
    }
    Ok(Check {
        backend,
        schema_current,
        counts,
    })
}

/// Whether the schema is current: no migration this binary carries is left to run.
pub fn schema_current(conn: &mut DbConn) -> Result<bool, StoreError> {
    let pending = match conn {
        DbConn::Sqlite(c) => c.has_pending_migration(SQLITE_MIGRATIONS),
        DbConn::Postgres(c) => c.has_pending_migration(POSTGRES_MIGRATIONS),
    };
    pending
        .map(|p| !p)
        .map_err(|e| StoreError::Migration(e.to_string()))
}

/// Applies the pending migrations of the connection's backend; returns how many ran.
pub fn migrate(conn: &mut DbConn) -> Result<usize, StoreError> {
    let applied = match conn {
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
        DbConn::Postgres(c) => {
            // Instances starting together on one PostgreSQL take turns: an advisory lock
            // held for the session serialises their migration runs.
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_ID})"))?;
            let applied = c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|v| v.len());
            c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_ID})"))?;
            applied
        }
    };
    applied.map_err(|e| StoreError::Migration(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::RunQueryDsl;

    fn scratch_sqlite(name: &str) -> (DbPool, std::path::PathBuf) {
        let path = std::env::temp_dir().join(format!(
            "idp-store-{name}-{}-{}.db",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        let pool = connect(&format!("sqlite://{}", path.display()), 2).unwrap();
        (pool, path)
    }

    #[derive(diesel::QueryableByName)]
    struct CompileOption {
        #[diesel(sql_type = diesel::sql_types::Text)]
        compile_options: String,
    }

    /// `.cargo/config.toml` builds the bundled SQLite without memory statistics, whose
    /// process-wide mutex cost a third of the CPU under load, and with the query planner's
    /// stability guarantee, without which every query with `LIMIT ?` was parsed again on
    /// each run; a build that lost a flag shows here.
    #[test]
    fn sqlite_is_built_with_the_flags_the_sts_relies_on() {
        let (pool, path) = scratch_sqlite("options");
        let mut conn = pool.get().unwrap();
        let DbConn::Sqlite(sqlite) = &mut *conn else {
            panic!("a SQLite URL gives a SQLite connection");
        };
        let options: Vec<String> = diesel::sql_query("PRAGMA compile_options")
            .load::<CompileOption>(sqlite)
            .unwrap()
            .into_iter()
            .map(|o| o.compile_options)
            .collect();
        for flag in ["DEFAULT_MEMSTATUS=0", "ENABLE_QPSG"] {
            assert!(options.iter().any(|o| o == flag), "{flag}: {options:?}");
        }
        drop(conn);
        let _ = std::fs::remove_file(path);
    }

    /// A write inside a transaction already holds the process's writer turn: it must not
    /// wait for it again (that would stall for `WRITER_WAIT`), and writers on two
    /// connections of one database each get their turn.
    #[test]
    fn writes_take_the_writer_turn_once_and_in_turn() {
        let (pool, path) = scratch_sqlite("writer");
        let mut conn = pool.get().unwrap();
        conn.batch_execute("CREATE TABLE t (n INTEGER NOT NULL)")
            .unwrap();
        let started = std::time::Instant::now();
        transaction::<_, diesel::result::Error, _>(&mut conn, |conn| {
            write(conn, |conn| {
                diesel::sql_query("INSERT INTO t (n) VALUES (1)").execute(conn)
            })
        })
        .unwrap();
        assert!(
            started.elapsed() < WRITER_WAIT / 5,
            "the nested write did not queue behind its own transaction"
        );
        let writers: Vec<_> = (0..4)
            .map(|i| {
                let pool = pool.clone();
                std::thread::spawn(move || {
                    let mut conn = pool.get().unwrap();
                    for _ in 0..25 {
                        write(&mut conn, |conn| {
                            diesel::sql_query(format!("INSERT INTO t (n) VALUES ({i})"))
                                .execute(conn)
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let count: Count = diesel::sql_query("SELECT COUNT(*) AS n FROM t")
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(count.n, 101);
        drop(conn);
        let _ = std::fs::remove_file(path);
    }
}
