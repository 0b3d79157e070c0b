-- Which organising body a reported migration row belongs to (the body it names, or the
-- run's default), so the body's administrators see its rows on the screens and nobody
-- else's. None when the row names no body the STS knows: the platform's administrators.
ALTER TABLE migration_problems ADD COLUMN organising_body_id TEXT;
CREATE INDEX migration_problems_body ON migration_problems (organising_body_id, run_id);
