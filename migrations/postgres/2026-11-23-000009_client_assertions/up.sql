-- private_key_jwt assertions already used (client and jti, hashed), kept until they
-- expire, so a replayed assertion is refused on every instance (OIDC Core §9, RFC 7523 §3).
CREATE TABLE used_client_assertions (
    id_hash BYTEA PRIMARY KEY NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
