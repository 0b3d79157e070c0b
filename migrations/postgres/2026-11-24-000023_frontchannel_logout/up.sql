-- OpenID Connect Front-Channel Logout 1.0: the page a client's iframe loads on the STS's
-- logout page, to clear what the browser holds of the person.
ALTER TABLE clients ADD COLUMN frontchannel_logout_uri TEXT;
