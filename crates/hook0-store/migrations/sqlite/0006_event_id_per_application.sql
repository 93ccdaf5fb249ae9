-- An event id is unique within its application, not across tenants: another tenant's id must
-- neither answer 409 (an existence oracle) nor be taken before its owner uses it.
-- SQLite cannot change a primary key in place, so both tables are rebuilt. The child is dropped
-- first: dropping `event` while `request_attempt` still referenced it would cascade-delete every
-- attempt. Renaming `event_v6` rewrites the reference held by `request_attempt_v6`.
CREATE TABLE event_v6 (
    id BLOB NOT NULL,
    application_id BLOB NOT NULL REFERENCES application(id),
    event_type_name TEXT NOT NULL,
    payload BLOB NOT NULL,
    payload_content_type TEXT NOT NULL,
    ip TEXT,
    metadata TEXT NOT NULL,
    labels TEXT NOT NULL,
    occurred_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (application_id, id)
);
INSERT INTO event_v6 (id, application_id, event_type_name, payload, payload_content_type, ip,
                      metadata, labels, occurred_at, received_at)
SELECT id, application_id, event_type_name, payload, payload_content_type, ip, metadata, labels,
       occurred_at, received_at
FROM event;

CREATE TABLE request_attempt_v6 (
    id BLOB PRIMARY KEY,
    application_id BLOB NOT NULL,
    event_id BLOB NOT NULL,
    subscription_id BLOB NOT NULL REFERENCES subscription(id),
    created_at INTEGER NOT NULL,
    picked_at INTEGER,
    failed_at INTEGER,
    succeeded_at INTEGER,
    delay_until INTEGER,
    due_at INTEGER,
    worker_name TEXT,
    response_id BLOB,
    retry_count INTEGER NOT NULL,
    dead_lettered_at INTEGER,
    redelivered_at INTEGER,
    FOREIGN KEY (application_id, event_id) REFERENCES event_v6(application_id, id) ON DELETE CASCADE
);
INSERT INTO request_attempt_v6 (id, application_id, event_id, subscription_id, created_at,
                                picked_at, failed_at, succeeded_at, delay_until, due_at,
                                worker_name, response_id, retry_count, dead_lettered_at,
                                redelivered_at)
SELECT id, application_id, event_id, subscription_id, created_at, picked_at, failed_at,
       succeeded_at, delay_until, due_at, worker_name, response_id, retry_count,
       dead_lettered_at, redelivered_at
FROM request_attempt;

DROP TABLE request_attempt;
DROP TABLE event;
ALTER TABLE event_v6 RENAME TO event;
ALTER TABLE request_attempt_v6 RENAME TO request_attempt;

CREATE INDEX event_application_received ON event(application_id, received_at);
CREATE INDEX request_attempt_application_created ON request_attempt(application_id, created_at, id);
CREATE INDEX request_attempt_event ON request_attempt(application_id, event_id);
CREATE INDEX request_attempt_due ON request_attempt(due_at, subscription_id, retry_count)
    WHERE due_at IS NOT NULL;
CREATE INDEX request_attempt_leased ON request_attempt(subscription_id, due_at)
    WHERE picked_at IS NOT NULL AND due_at IS NOT NULL;
CREATE INDEX request_attempt_dead_letter ON request_attempt(application_id, dead_lettered_at, id)
    WHERE dead_lettered_at IS NOT NULL AND redelivered_at IS NULL;
CREATE INDEX request_attempt_dead_letter_subscription ON request_attempt(subscription_id, dead_lettered_at)
    WHERE dead_lettered_at IS NOT NULL AND redelivered_at IS NULL;
CREATE INDEX request_attempt_subscription_pending
    ON request_attempt(subscription_id, due_at, retry_count)
    WHERE due_at IS NOT NULL;
