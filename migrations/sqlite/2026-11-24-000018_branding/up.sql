-- An organising body's look on the pages: its colour and logo, shown on the login pages
-- of its applications and to its accounts. `version` changes with either, so the
-- stylesheet and the logo are served under it with a long cache.
CREATE TABLE brands (
    organising_body_id TEXT PRIMARY KEY NOT NULL REFERENCES organising_bodies (id) ON DELETE CASCADE,
    -- '#rrggbb'
    colour TEXT,
    logo BLOB,
    -- image/png, image/jpeg, image/svg+xml
    logo_type TEXT,
    version TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- The organising body a relying application belongs to: its login page wears the body's
-- brand. None: the neutral look.
ALTER TABLE clients ADD COLUMN organising_body_id TEXT REFERENCES organising_bodies (id) ON DELETE SET NULL;
