-- account-migration: what moved from which legacy system, each run with its report, and
-- each organising body's migration period (the login page's notice, whom to contact).

-- One run of the `account-migration` command (also a dry run, which writes only this).
CREATE TABLE migration_runs (
    id TEXT PRIMARY KEY NOT NULL,
    -- The legacy system's name as the command was given it: with the legacy id, the key
    -- that makes runs idempotent.
    source TEXT NOT NULL,
    -- What was read: a file name, or a table of a legacy database (never its password).
    input TEXT NOT NULL,
    dry_run BOOLEAN NOT NULL,
    -- running, finished, interrupted (a later run found it unfinished: killed, crashed).
    status TEXT NOT NULL,
    -- JSON: rows read, created, updated, unchanged, skipped, conflicts, invited.
    counts TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP
);
CREATE INDEX migration_runs_source ON migration_runs (source, started_at);

-- One account per (source, legacy id): a re-run finds it here and changes nothing, or
-- updates it when the legacy row changed and the account did not change here since.
CREATE TABLE migrated_accounts (
    source TEXT NOT NULL,
    legacy_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- What the person typed on the old platform; it keeps working for a while.
    legacy_username TEXT NOT NULL,
    legacy_username_normalized TEXT NOT NULL,
    -- SHA-256 of the legacy row as read: unchanged rows are skipped without a write.
    row_digest TEXT NOT NULL,
    -- users.updated_at as the import left it: a later value means changed here since.
    synced_at TIMESTAMP NOT NULL,
    migrated_at TIMESTAMP NOT NULL,
    run_id TEXT NOT NULL,
    -- Guardians named by legacy id, linked once they are migrated too (JSON).
    pending_links TEXT,
    invited_at TIMESTAMP,
    PRIMARY KEY (source, legacy_id)
);
CREATE INDEX migrated_accounts_user ON migrated_accounts (user_id);
CREATE INDEX migrated_accounts_legacy_username ON migrated_accounts (legacy_username_normalized);
CREATE INDEX migrated_accounts_run ON migrated_accounts (run_id);

-- The rows a run skipped or found in conflict, with the reason and the row as read, so
-- they can be fixed and migrated later.
CREATE TABLE migration_problems (
    run_id TEXT NOT NULL REFERENCES migration_runs (id) ON DELETE CASCADE,
    line INTEGER NOT NULL,
    legacy_id TEXT,
    identifier TEXT,
    -- skipped or conflict
    outcome TEXT NOT NULL,
    -- A stable code (invalid_email, identifier_taken…); the words come with it.
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (run_id, line)
);

-- While an organising body moves its people, the login page says so and the forgot-password
-- confirmation names whom to contact.
CREATE TABLE migration_periods (
    organising_body_id TEXT PRIMARY KEY NOT NULL REFERENCES organising_bodies (id) ON DELETE CASCADE,
    starts_on DATE NOT NULL,
    ends_on DATE NOT NULL,
    -- JSON: language -> the notice's text (the built-in text where none is set).
    notices TEXT NOT NULL,
    contact TEXT
);
