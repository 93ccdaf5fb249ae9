-- Hook0 on SQLite. Ids are 16-byte UUID blobs; times are microseconds since the Unix epoch (UTC);
-- string maps and lists are JSON text.

CREATE TABLE organization (
    id BLOB PRIMARY KEY,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE application (
    id BLOB PRIMARY KEY,
    organization_id BLOB NOT NULL REFERENCES organization(id),
    name TEXT NOT NULL,
    retention_days INTEGER,
    created_at INTEGER NOT NULL,
    deleted_at INTEGER
);
CREATE INDEX application_organization ON application(organization_id);

CREATE TABLE application_secret (
    token BLOB PRIMARY KEY,
    application_id BLOB NOT NULL REFERENCES application(id),
    name TEXT,
    created_at INTEGER NOT NULL,
    deleted_at INTEGER
);
CREATE INDEX application_secret_application ON application_secret(application_id);

CREATE TABLE event_type (
    application_id BLOB NOT NULL REFERENCES application(id),
    name TEXT NOT NULL,
    service TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    verb TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    deactivated_at INTEGER,
    PRIMARY KEY (application_id, name)
) WITHOUT ROWID;

CREATE TABLE subscription (
    id BLOB PRIMARY KEY,
    application_id BLOB NOT NULL REFERENCES application(id),
    is_enabled INTEGER NOT NULL,
    event_types TEXT NOT NULL,
    description TEXT,
    secret BLOB NOT NULL,
    metadata TEXT NOT NULL,
    labels TEXT NOT NULL,
    target_method TEXT NOT NULL,
    target_url TEXT NOT NULL,
    target_headers TEXT NOT NULL,
    dedicated_workers TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    deleted_at INTEGER
);
CREATE INDEX subscription_application ON subscription(application_id);

CREATE TABLE event (
    id BLOB PRIMARY KEY,
    application_id BLOB NOT NULL REFERENCES application(id),
    event_type_name TEXT NOT NULL,
    payload BLOB NOT NULL,
    payload_content_type TEXT NOT NULL,
    ip TEXT,
    metadata TEXT NOT NULL,
    labels TEXT NOT NULL,
    occurred_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE INDEX event_application_received ON event(application_id, received_at);

CREATE TABLE response (
    id BLOB PRIMARY KEY,
    application_id BLOB NOT NULL,
    error_name TEXT,
    http_code INTEGER,
    headers TEXT,
    body BLOB,
    elapsed_time_ms INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

-- due_at: when a pending attempt may next be claimed (created_at, its delay, or its lease end);
-- NULL once the attempt succeeded or failed, so the partial index holds only live work.
CREATE TABLE request_attempt (
    id BLOB PRIMARY KEY,
    application_id BLOB NOT NULL,
    event_id BLOB NOT NULL REFERENCES event(id) ON DELETE CASCADE,
    subscription_id BLOB NOT NULL REFERENCES subscription(id),
    created_at INTEGER NOT NULL,
    picked_at INTEGER,
    failed_at INTEGER,
    succeeded_at INTEGER,
    delay_until INTEGER,
    due_at INTEGER,
    worker_name TEXT,
    response_id BLOB,
    retry_count INTEGER NOT NULL
);
CREATE INDEX request_attempt_due ON request_attempt(due_at) WHERE due_at IS NOT NULL;
CREATE INDEX request_attempt_application_created ON request_attempt(application_id, created_at, id);
CREATE INDEX request_attempt_event ON request_attempt(event_id);
CREATE INDEX request_attempt_subscription_pending ON request_attempt(subscription_id) WHERE due_at IS NOT NULL;
