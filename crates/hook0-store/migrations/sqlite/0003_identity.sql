-- Identity and access: users, their membership of organizations with a role, and the tokens
-- issued to user sessions and to organizations (service tokens).

-- Emails are stored lowercased, so the unique constraint is case-insensitive.
CREATE TABLE user_account (
    id BLOB PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    email_verified_at INTEGER,
    created_at INTEGER NOT NULL
);

-- role: editor | viewer. Deleting an organization or a user removes the membership.
CREATE TABLE organization_member (
    organization_id BLOB NOT NULL REFERENCES organization(id) ON DELETE CASCADE,
    user_id BLOB NOT NULL REFERENCES user_account(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('editor', 'viewer')),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (organization_id, user_id)
) WITHOUT ROWID;
CREATE INDEX organization_member_user ON organization_member(user_id);

-- kind: user_access | refresh | service_access. A Biscuit is accepted while the row of its root
-- revocation id exists and has not expired; revoking sets expired_at.
CREATE TABLE token (
    id BLOB PRIMARY KEY,
    kind TEXT NOT NULL,
    user_id BLOB REFERENCES user_account(id) ON DELETE CASCADE,
    organization_id BLOB REFERENCES organization(id) ON DELETE CASCADE,
    session_id BLOB,
    name TEXT,
    biscuit TEXT,
    revocation_id BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expired_at INTEGER
);
CREATE INDEX token_session ON token(session_id) WHERE session_id IS NOT NULL;
CREATE INDEX token_user ON token(user_id) WHERE user_id IS NOT NULL;
CREATE INDEX token_organization ON token(organization_id, created_at)
    WHERE organization_id IS NOT NULL;
