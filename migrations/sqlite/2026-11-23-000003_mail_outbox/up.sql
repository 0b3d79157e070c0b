-- Mail waiting to be sent. Written in the same transaction as what caused it; sent by
-- whichever instance claims it first; retried with back-off until it is delivered.
CREATE TABLE mail_outbox (
    id TEXT PRIMARY KEY NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT,
    claimed_until TIMESTAMP,
    sent_at TIMESTAMP
);
CREATE INDEX mail_outbox_due ON mail_outbox (sent_at, next_attempt_at);
