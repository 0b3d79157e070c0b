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
