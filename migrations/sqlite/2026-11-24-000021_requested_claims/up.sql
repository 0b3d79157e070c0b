-- The single claims an application asked for with the `claims` parameter (OIDC Core
-- §5.5), kept with the grant for its ID tokens and UserInfo: {"id_token": [...],
-- "userinfo": [...]}.
ALTER TABLE grants ADD COLUMN claims TEXT;
