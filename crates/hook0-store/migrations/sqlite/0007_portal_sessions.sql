-- Consumer portal sessions. Only the SHA-256 of a session's secret is kept; the secret itself is
-- in the URL handed to the customer. labels, capabilities, allowed_origins and theme are JSON.
-- A revoked session keeps its row (revoked_at) until it would have expired anyway.
CREATE TABLE portal_session (
    id BLOB PRIMARY KEY,
    organization_id BLOB NOT NULL REFERENCES organization(id) ON DELETE CASCADE,
    application_id BLOB NOT NULL REFERENCES application(id) ON DELETE CASCADE,
    secret_hash BLOB NOT NULL UNIQUE,
    labels TEXT NOT NULL,
    capabilities TEXT NOT NULL,
    allowed_origins TEXT NOT NULL,
    theme TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX portal_session_application ON portal_session(application_id, expires_at);
