-- A password hash of a legacy system, as account-migration brought it: checked at the first
-- login, then replaced by an argon2id hash in `password_hash` and cleared.
ALTER TABLE users ADD COLUMN legacy_password_hash TEXT;
