-- The API (RFC 8707 `resource`) an authorization request named: the grant's access tokens
-- are for it unless the token request names it again or not at all.
ALTER TABLE grants ADD COLUMN resource TEXT;
