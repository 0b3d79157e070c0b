-- Upstream OpenID providers ("Log in with Microsoft"). An upstream identity is its
-- issuer and subject, never an e-mail address; it is linked to one account (by an
-- administrator, by the person after a password login, or by a verified e-mail address
-- that exactly one account holds), and an identity belongs to one account at most.
CREATE TABLE upstream_links (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- the configured provider's id, to name it on the pages
    provider TEXT NOT NULL,
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    -- the address the provider gave at the last login, to show to the person
    email TEXT,
    -- administrator, person, email
    linked_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_login_at TIMESTAMP,
    UNIQUE (issuer, subject)
);
CREATE INDEX upstream_links_user ON upstream_links (user_id);

-- A round trip to an upstream provider, bound to the browser that started it (the SHA-256
-- of a cookie's secret): its state (as SHA-256), nonce and PKCE verifier, and what it was
-- for (a pending authorization request, or linking the signed-in account). After an
-- unlinked login the same row, under a new token, holds the upstream identity until the
-- person logs in with their password to link it.
CREATE TABLE upstream_logins (
    token_hash BYTEA PRIMARY KEY NOT NULL,
    provider TEXT NOT NULL,
    browser_hash BYTEA NOT NULL,
    nonce TEXT,
    pkce_verifier TEXT,
    request_id TEXT,
    link_user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    identity TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX upstream_logins_expiry ON upstream_logins (expires_at);

-- Accounts that log in only through an upstream provider (no password on the STS): of
-- an organising body's schools, of one kind ('pupil', 'guardian', 'staff',
-- 'administrator') or of every kind ('*').
CREATE TABLE upstream_only (
    organising_body_id TEXT NOT NULL REFERENCES organising_bodies (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    PRIMARY KEY (organising_body_id, kind)
);

-- Which upstream provider a login went through (the ID token's `idp`), kept with its
-- `amr` on the session, the grant and a login flow.
ALTER TABLE sso_sessions ADD COLUMN idp TEXT;
ALTER TABLE grants ADD COLUMN idp TEXT;
ALTER TABLE login_flows ADD COLUMN idp TEXT;
