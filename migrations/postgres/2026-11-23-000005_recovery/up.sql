-- Temporary passwords (issued by an administrator): the next login must choose a new
-- password before any token is issued, and the temporary one stops working at
-- password_expires_at.
ALTER TABLE users ADD COLUMN password_change_required BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN password_expires_at TIMESTAMP;

-- Co-accounts: the people behind an account (a pupil's guardians, a teacher's
-- substitute) have accounts of their own, linked with a relation label. A reset of the
-- account is also mailed to them.
CREATE TABLE account_links (
    account_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    co_account_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    relation TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (account_id, co_account_id)
);
CREATE INDEX account_links_co_account ON account_links (co_account_id);

-- Why a reset grant exists: a mailed reset, or the change a temporary password forces.
ALTER TABLE password_resets ADD COLUMN purpose TEXT NOT NULL DEFAULT 'reset';
