-- Identity store and OIDC state. Every id is TEXT (UUIDs or client ids chosen by an
-- administrator); every time is a UTC TIMESTAMP; every secret is stored as a SHA-256 hash.
CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL,
    username_normalized TEXT NOT NULL UNIQUE,
    email TEXT,
    email_normalized TEXT,
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    given_name TEXT,
    family_name TEXT,
    phone_number TEXT,
    locale TEXT,
    password_hash TEXT,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
-- Not unique: families share one address.
CREATE INDEX users_email_normalized ON users (email_normalized);

CREATE TABLE clients (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    secret_hash BYTEA,
    token_endpoint_auth_method TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    grant_types TEXT NOT NULL,
    scopes TEXT NOT NULL,
    id_token_signed_response_alg TEXT NOT NULL,
    jwks TEXT,
    from_config BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE signing_keys (
    id TEXT PRIMARY KEY NOT NULL,
    alg TEXT NOT NULL,
    private_key BYTEA NOT NULL,
    encrypted BOOLEAN NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    activates_at TIMESTAMP NOT NULL,
    retires_at TIMESTAMP,
    removed_at TIMESTAMP
);

CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY NOT NULL,
    value BYTEA NOT NULL,
    encrypted BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE sso_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    cookie_hash BYTEA NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time TIMESTAMP NOT NULL,
    amr TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP
);
CREATE INDEX sso_sessions_user ON sso_sessions (user_id);

CREATE TABLE auth_requests (
    id_hash BYTEA PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    params TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

CREATE TABLE grants (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sso_session_id TEXT,
    scope TEXT NOT NULL,
    nonce TEXT,
    auth_time TIMESTAMP NOT NULL,
    amr TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX grants_session ON grants (sso_session_id);
CREATE INDEX grants_user ON grants (user_id);

CREATE TABLE authorization_codes (
    code_hash BYTEA PRIMARY KEY NOT NULL,
    grant_id TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);

CREATE TABLE refresh_tokens (
    token_hash BYTEA PRIMARY KEY NOT NULL,
    grant_id TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);

-- Access tokens are self-contained JWTs; this lists the ones revoked before they expire.
CREATE TABLE revoked_access_tokens (
    jti TEXT PRIMARY KEY NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
