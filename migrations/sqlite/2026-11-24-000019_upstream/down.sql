ALTER TABLE login_flows DROP COLUMN idp;
ALTER TABLE grants DROP COLUMN idp;
ALTER TABLE sso_sessions DROP COLUMN idp;
DROP TABLE upstream_only;
DROP TABLE upstream_logins;
DROP TABLE upstream_links;
