//! Moves accounts from legacy school systems into the STS identity store.
//!
//! Sources ([`source`]: CSV, JSON Lines, a legacy database through a mapping) stream the
//! canonical legacy record; a run ([`run`]) imports them in short batched transactions
//! through the `idp` crate's domain (`idp::domain::migration`), so a migrated account obeys
//! the same rules as any other (identifiers unique without regard to case, shared family
//! addresses, co-accounts, schools, kinds). Legacy password hashes are stored as they came
//! and replaced by argon2id at each person's first login. Every run is idempotent (keyed by
//! source and legacy id) and keeps its report in the store and as files ([`report`]).

pub mod cli;
pub mod progress;
pub mod report;
pub mod run;
pub mod source;

pub use idp::store::{Backend, DbConn, DbPool};

/// Opens the identity store a migration writes to (the STS's own database URL), applying
/// pending schema migrations first.
pub fn open_store(database_url: &str) -> Result<DbPool, idp::store::StoreError> {
    let pool = idp::store::connect(database_url, 2)?;
    let mut conn = pool.get()?;
    idp::store::migrate(&mut conn)?;
    Ok(pool)
}

#[cfg(test)]
mod tests {
    #[test]
    fn opens_a_fresh_sqlite_store() {
        let dir = std::env::temp_dir().join(format!("acct-mig-{}", std::process::id()));
        let url = format!("sqlite://{}/idp.db", dir.display());
        let pool = super::open_store(&url).unwrap();
        let mut conn = pool.get().unwrap();
        assert!(idp::domain::users::list(&mut conn).unwrap().is_empty());
        let _ = std::fs::remove_dir_all(dir);
    }
}
