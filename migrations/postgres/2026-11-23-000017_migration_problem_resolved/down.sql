ALTER TABLE migration_problems DROP COLUMN resolved_in;
