-- A reported row fixed on the screens stays, marked with the run that migrated it: the
-- report lists only the rows still to fix, and the run keeps belonging to the bodies it
-- reported about (its screen does not vanish once every row is fixed).
ALTER TABLE migration_problems ADD COLUMN resolved_in TEXT;
