-- Hook0 on PostgreSQL: the tables and columns of the SQLite schema in native types. Ids are uuid;
-- times are timestamptz (microseconds, always written from the application's clock, as on
-- SQLite); string maps and lists are jsonb; payloads and bodies are bytea. Names that lists are
-- sorted by use the "C" collation, so they come back in SQLite's bytewise order.

CREATE TABLE organization (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE application (
    id uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organization(id),
    name text NOT NULL,
    retention_days integer,
    created_at timestamptz NOT NULL,
    deleted_at timestamptz
);
CREATE INDEX application_organization ON application(organization_id);

CREATE TABLE application_secret (
    token uuid PRIMARY KEY,
    application_id uuid NOT NULL REFERENCES application(id),
    name text,
    created_at timestamptz NOT NULL,
    deleted_at timestamptz
);
CREATE INDEX application_secret_application ON application_secret(application_id);

CREATE TABLE event_type (
    application_id uuid NOT NULL REFERENCES application(id),
    name text COLLATE "C" NOT NULL,
    service text NOT NULL,
    resource_type text NOT NULL,
    verb text NOT NULL,
    created_at timestamptz NOT NULL,
    deactivated_at timestamptz,
    PRIMARY KEY (application_id, name)
);

CREATE TABLE subscription (
    id uuid PRIMARY KEY,
    application_id uuid NOT NULL REFERENCES application(id),
    is_enabled boolean NOT NULL,
    event_types jsonb NOT NULL,
    description text,
    secret uuid NOT NULL,
    metadata jsonb NOT NULL,
    labels jsonb NOT NULL,
    target_method text NOT NULL,
    target_url text NOT NULL,
    target_headers jsonb NOT NULL,
    dedicated_workers jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    deleted_at timestamptz
);
CREATE INDEX subscription_application ON subscription(application_id);

CREATE TABLE event (
    id uuid PRIMARY KEY,
    application_id uuid NOT NULL REFERENCES application(id),
    event_type_name text COLLATE "C" NOT NULL,
    payload bytea NOT NULL,
    payload_content_type text NOT NULL,
    ip text,
    metadata jsonb NOT NULL,
    labels jsonb NOT NULL,
    occurred_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL
);
CREATE INDEX event_application_received ON event(application_id, received_at, id);

CREATE TABLE response (
    id uuid PRIMARY KEY,
    application_id uuid NOT NULL,
    error_name text,
    http_code integer,
    headers jsonb,
    body bytea,
    elapsed_time_ms bigint NOT NULL,
    created_at timestamptz NOT NULL
);

-- due_at: when a pending attempt may next be claimed (created_at, its delay, or its lease end);
-- NULL once the attempt succeeded or failed, so the partial index the claim scans holds only
-- live work, however many finished attempts the table keeps.
CREATE TABLE request_attempt (
    id uuid PRIMARY KEY,
    application_id uuid NOT NULL,
    event_id uuid NOT NULL REFERENCES event(id) ON DELETE CASCADE,
    subscription_id uuid NOT NULL REFERENCES subscription(id),
    created_at timestamptz NOT NULL,
    picked_at timestamptz,
    failed_at timestamptz,
    succeeded_at timestamptz,
    delay_until timestamptz,
    due_at timestamptz,
    worker_name text,
    response_id uuid,
    retry_count integer NOT NULL
);
CREATE INDEX request_attempt_due ON request_attempt(due_at) WHERE due_at IS NOT NULL;
CREATE INDEX request_attempt_application_created ON request_attempt(application_id, created_at, id);
CREATE INDEX request_attempt_event ON request_attempt(event_id);
CREATE INDEX request_attempt_subscription_pending ON request_attempt(subscription_id) WHERE due_at IS NOT NULL;
