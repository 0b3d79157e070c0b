-- Pushed Authorization Requests (RFC 9126): an authorization request a client sent on
-- the back channel, until the browser brings its request_uri (once, within a minute and
-- a half). The id is stored as its SHA-256.
CREATE TABLE pushed_requests (
    id_hash BLOB PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL,
    params TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

-- A client whose authorization requests must all be pushed first (RFC 9126 §6).
ALTER TABLE clients ADD COLUMN require_pushed_authorization_requests BOOLEAN NOT NULL DEFAULT FALSE;
