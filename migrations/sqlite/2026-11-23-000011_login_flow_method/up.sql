-- How the person of a login flow authenticated (RFC 8176 amr values, as JSON, and the
-- method's name), so the session opened at the wizard's end says the same.
ALTER TABLE login_flows ADD COLUMN amr TEXT NOT NULL DEFAULT '["pwd"]';
ALTER TABLE login_flows ADD COLUMN method TEXT NOT NULL DEFAULT 'password';
