-- OpenID Connect Back-Channel Logout 1.0: where a client hears that a session ended.
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT;

-- The logout tokens to send, a durable outbox like the mail's: one row per client of an
-- ended session, claimed by one instance at a time (claimed_until), retried with a back-off
-- until delivered or given up a day later, never blocking the person's page.
CREATE TABLE logout_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL,
    uri TEXT NOT NULL,
    sub TEXT NOT NULL,
    sid TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    claimed_until TIMESTAMP,
    delivered_at TIMESTAMP,
    given_up_at TIMESTAMP,
    last_error TEXT
);
CREATE INDEX logout_deliveries_due ON logout_deliveries (next_attempt_at);
