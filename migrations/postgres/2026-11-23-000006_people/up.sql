-- The people behind accounts: organising bodies (school boards) and their schools, the
-- kind of each account, the data schools hold about people (shown, never invented), and
-- what a school lets people do about that data.
CREATE TABLE organising_bodies (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE schools (
    id TEXT PRIMARY KEY NOT NULL,
    organising_body_id TEXT NOT NULL REFERENCES organising_bodies (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    -- What a person may do about their data: edit, request (a change request the school
    -- handles) or contact (how to reach the school is shown).
    data_changes TEXT NOT NULL DEFAULT 'contact',
    contact TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX schools_organising_body ON schools (organising_body_id);

CREATE TABLE school_members (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    school_id TEXT NOT NULL REFERENCES schools (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, school_id)
);
CREATE INDEX school_members_school ON school_members (school_id);

ALTER TABLE users ADD COLUMN kind TEXT NOT NULL DEFAULT 'pupil';
ALTER TABLE users ADD COLUMN birth_date DATE;
ALTER TABLE users ADD COLUMN street_address TEXT;
ALTER TABLE users ADD COLUMN postal_code TEXT;
ALTER TABLE users ADD COLUMN locality TEXT;
ALTER TABLE users ADD COLUMN country TEXT;
ALTER TABLE users ADD COLUMN nationality TEXT;
ALTER TABLE users ADD COLUMN sex TEXT;
-- NULL until the first completed login: the welcome step of the wizard.
ALTER TABLE users ADD COLUMN first_login_at TIMESTAMP;
