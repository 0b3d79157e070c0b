DROP TABLE migration_periods;
DROP TABLE migration_problems;
DROP TABLE migrated_accounts;
DROP TABLE migration_runs;
