-- Claims an organising body keeps back from one application although its scopes would
-- give them (a birth date a timetable app has no need of): a JSON list of claim names.
-- Kept apart from the columns a configuration-file client rewrites at every start.
ALTER TABLE clients ADD COLUMN withheld_claims TEXT NOT NULL DEFAULT '[]';
