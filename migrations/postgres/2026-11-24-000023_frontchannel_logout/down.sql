ALTER TABLE clients DROP COLUMN frontchannel_logout_uri;
