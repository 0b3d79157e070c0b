ALTER TABLE login_flows DROP COLUMN method;
ALTER TABLE login_flows DROP COLUMN amr;
