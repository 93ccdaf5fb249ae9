-- Identity and access: users, their membership of organizations with a role, and the tokens
-- issued to user sessions and to organizations (service tokens). The SQLite schema's tables and
-- columns in native types.

-- Emails are stored lowercased, so the unique constraint is case-insensitive.
CREATE TABLE user_account (
    id uuid PRIMARY KEY,
    email text NOT NULL UNIQUE,
    password_hash text NOT NULL,
    first_name text NOT NULL,
    last_name text NOT NULL,
    email_verified_at timestamptz,
    created_at timestamptz NOT NULL
);

-- role: editor | viewer. Deleting an organization or a user removes the membership.
CREATE TABLE organization_member (
    organization_id uuid NOT NULL REFERENCES organization(id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES user_account(id) ON DELETE CASCADE,
    role text NOT NULL CHECK (role IN ('editor', 'viewer')),
    created_at timestamptz NOT NULL,
    PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX organization_member_user ON organization_member(user_id);

-- kind: user_access | refresh | service_access. A Biscuit is accepted while the row of its root
-- revocation id exists and has not expired; revoking sets expired_at.
CREATE TABLE token (
    id uuid PRIMARY KEY,
    kind text NOT NULL,
    user_id uuid REFERENCES user_account(id) ON DELETE CASCADE,
    organization_id uuid REFERENCES organization(id) ON DELETE CASCADE,
    session_id uuid,
    name text,
    biscuit text,
    revocation_id bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    expired_at timestamptz
);
CREATE INDEX token_session ON token(session_id) WHERE session_id IS NOT NULL;
CREATE INDEX token_user ON token(user_id) WHERE user_id IS NOT NULL;
CREATE INDEX token_organization ON token(organization_id, created_at)
    WHERE organization_id IS NOT NULL;
