ALTER TABLE password_resets DROP COLUMN purpose;
DROP TABLE account_links;
ALTER TABLE users DROP COLUMN password_expires_at;
ALTER TABLE users DROP COLUMN password_change_required;
