//! Storage: one diesel code path for SQLite (embedded default) and PostgreSQL (production),
//! the backend picked from the scheme of the database URL.

pub mod models;
pub mod schema;

use std::time::Duration;

use diesel::connection::SimpleConnection;
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
    #[error("cannot open the database pool: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("cannot apply migrations: {0}")]
    Migration(String),
    #[error("database error: {0}")]
    Query(#[from] diesel::result::Error),
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
/// queue instead of failing with `SQLITE_BUSY`.
#[derive(Debug)]
struct ConnectionSetup;

impl CustomizeConnection<DbConn, diesel::r2d2::Error> for ConnectionSetup {
    fn on_acquire(&self, conn: &mut DbConn) -> Result<(), diesel::r2d2::Error> {
        if let DbConn::Sqlite(conn) = conn {
            conn.batch_execute(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
            )
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

/// Opens a pool of `size` connections, creating the SQLite file's directory if needed.
pub fn connect(url: &str, size: u32) -> Result<DbPool, StoreError> {
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
    let manager = ConnectionManager::<DbConn>::new(target);
    // Connections open as the load needs them and close after idling: an idle instance
    // holds one (memory, and the connection budget of a PostgreSQL many instances share).
    let pool = Pool::builder()
        .max_size(size)
        .min_idle(Some(1))
        .connection_timeout(Duration::from_secs(10))
        .connection_customizer(Box::new(ConnectionSetup))
        .build(manager)?;
    Ok(pool)
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
