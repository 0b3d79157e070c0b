-- A change request is accepted or refused on the organising bodies' screens, by someone.
ALTER TABLE change_requests ADD COLUMN outcome TEXT;
ALTER TABLE change_requests ADD COLUMN handled_by TEXT REFERENCES users (id) ON DELETE SET NULL;
