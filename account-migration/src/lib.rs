//! Moves accounts from legacy school systems into the STS identity store.
//!
//! This crate will read CSV, JSONL and legacy SQL sources, keep legacy password hashes
//! (ASP.NET Identity V2/V3, bcrypt) to be verified at the first login and re-hashed with
//! argon2id, and run idempotently with a report per run. It writes through the `idp`
//! crate's store and domain (`idp::store`, `idp::domain::users`), so migrated accounts obey
//! the same rules (unique identifiers without regard to case, shared family addresses) as
//! accounts created any other way.

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
