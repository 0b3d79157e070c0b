-- The language a mail is written in, for its Content-Language header (RFC 3282). Rows
-- queued before this column existed have none and are sent without the header.
ALTER TABLE mail_outbox ADD COLUMN language TEXT;
