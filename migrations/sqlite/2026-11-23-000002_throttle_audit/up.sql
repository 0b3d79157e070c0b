-- Rate limits shared by every instance: one fixed-window counter per key
-- (e.g. "login-failure:account:jean.dupont", "login-failure:address:203.0.113.7").
CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY NOT NULL,
    window_start TIMESTAMP NOT NULL,
    hits INTEGER NOT NULL
);

-- Who did what, when and from where; never a secret.
CREATE TABLE audit_events (
    id TEXT PRIMARY KEY NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    kind TEXT NOT NULL,
    user_id TEXT,
    client_id TEXT,
    address TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX audit_events_user ON audit_events (user_id, occurred_at);
CREATE INDEX audit_events_time ON audit_events (occurred_at);
