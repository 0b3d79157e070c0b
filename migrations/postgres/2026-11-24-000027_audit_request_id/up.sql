-- The HTTP request an event came from (its log lines carry the same id).
ALTER TABLE audit_events ADD COLUMN request_id TEXT;
