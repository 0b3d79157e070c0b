ALTER TABLE clients DROP COLUMN withheld_claims;
