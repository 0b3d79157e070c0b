-- Requests to change the data a school holds, sent from the account page where the
-- school handles changes itself; its administrators list and handle them.
CREATE TABLE change_requests (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    school_id TEXT NOT NULL REFERENCES schools (id) ON DELETE CASCADE,
    message TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    handled_at TIMESTAMP
);
CREATE INDEX change_requests_school ON change_requests (school_id);
