-- Who may administer whom on the organising bodies' screens (`/admin`). A role is held by
-- an account and given only by an explicit grant: on the command line, or on the screens by
-- an administrator above. `scope_id` is what the role covers: '' for the platform, the
-- organising body's id, or the school's id (the key of the grant; the two foreign keys
-- below make a grant go when its body or school goes).
CREATE TABLE roles (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- platform_admin, body_admin, school_admin, teacher
    role TEXT NOT NULL,
    scope_id TEXT NOT NULL,
    organising_body_id TEXT REFERENCES organising_bodies (id) ON DELETE CASCADE,
    school_id TEXT REFERENCES schools (id) ON DELETE CASCADE,
    -- None: granted on the command line.
    granted_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    granted_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, role, scope_id)
);
CREATE INDEX roles_scope ON roles (scope_id);

-- What the screens' account search looks in, in one lower-case text: the identifier, the
-- e-mail address, the given and family names (kept by every write of those). One LIKE per
-- account instead of four: a search of 100,000 accounts reads one column.
ALTER TABLE users ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
UPDATE users SET search_text = lower(username_normalized || ' ' || coalesce(email_normalized, '')
    || ' ' || coalesce(given_name, '') || ' ' || coalesce(family_name, ''));
