-- Terms of use, versioned per organising body, with a text per language. The newest
-- version of a body is the current one; everyone must accept it at their next login.
CREATE TABLE terms (
    id TEXT PRIMARY KEY NOT NULL,
    organising_body_id TEXT NOT NULL REFERENCES organising_bodies (id) ON DELETE CASCADE,
    version TEXT NOT NULL,
    texts TEXT NOT NULL,
    published_at TIMESTAMP NOT NULL,
    UNIQUE (organising_body_id, version)
);

CREATE TABLE terms_acceptances (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    terms_id TEXT NOT NULL REFERENCES terms (id) ON DELETE CASCADE,
    accepted_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, terms_id)
);

-- A login whose password was right but whose account still owes required actions (the
-- first-login wizard, new terms, a temporary password). The browser holds the id in a
-- cookie; the steps and where it stands are here, so any instance can go on with it.
CREATE TABLE login_flows (
    id_hash BLOB PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    request_id TEXT,
    steps TEXT NOT NULL,
    position INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX login_flows_user ON login_flows (user_id);
