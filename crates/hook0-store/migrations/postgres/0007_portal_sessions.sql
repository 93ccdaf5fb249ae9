-- Consumer portal sessions. Only the SHA-256 of a session's secret is kept; the secret itself is
-- in the URL handed to the customer. A revoked session keeps its row (revoked_at) until it would
-- have expired anyway.
CREATE TABLE portal_session (
    id uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organization(id) ON DELETE CASCADE,
    application_id uuid NOT NULL REFERENCES application(id) ON DELETE CASCADE,
    secret_hash bytea NOT NULL UNIQUE,
    labels jsonb NOT NULL,
    capabilities jsonb NOT NULL,
    allowed_origins jsonb NOT NULL,
    theme jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX portal_session_application ON portal_session(application_id, expires_at);
