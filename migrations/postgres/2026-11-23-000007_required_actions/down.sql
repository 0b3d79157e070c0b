DROP TABLE login_flows;
DROP TABLE terms_acceptances;
DROP TABLE terms;
