-- Password reset grants: a link token (256 bits) and a short code for people whose mail
-- client breaks links, both stored only as SHA-256. Single use; a new request or a
-- successful reset revokes the older ones of the account.
CREATE TABLE password_resets (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash BLOB NOT NULL UNIQUE,
    code_hash BLOB NOT NULL,
    resume_request TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP,
    revoked_at TIMESTAMP
);
CREATE INDEX password_resets_user ON password_resets (user_id);
