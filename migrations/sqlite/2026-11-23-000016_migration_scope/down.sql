DROP INDEX migration_problems_body;
ALTER TABLE migration_problems DROP COLUMN organising_body_id;
