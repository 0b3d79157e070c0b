-- Resource indicators (RFC 8707): the APIs an access token may be issued for (its `aud`),
-- each with the scopes it accepts and the clients that may ask for it (JSON lists).
CREATE TABLE resources (
    uri TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    clients TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
