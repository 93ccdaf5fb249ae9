-- Delivery protection: circuit breakers and fair claims, dead letters, auto-disable with
-- operational events, Standard Webhooks signing.

-- The claim walks due attempts in due order and needs each one's subscription and retry count to
-- apply the per-subscription cap, the circuit and the priority classes: covering and partial, so
-- it reads neither finished attempts nor table rows.
DROP INDEX request_attempt_due;
CREATE INDEX request_attempt_due ON request_attempt(due_at, subscription_id, retry_count)
    WHERE due_at IS NOT NULL;

-- A subscription's pending attempts in due order: holding them when its circuit opens and
-- releasing them when it closes reads only that subscription's live rows.
DROP INDEX request_attempt_subscription_pending;
CREATE INDEX request_attempt_subscription_pending ON request_attempt(subscription_id, due_at)
    WHERE due_at IS NOT NULL;

-- Attempts under lease (picked and unfinished): the in-flight count per subscription. Released
-- and circuit-held attempts have picked_at cleared, finished ones due_at, so this stays as small
-- as the number of deliveries in flight.
CREATE INDEX request_attempt_leased ON request_attempt(subscription_id, due_at)
    WHERE picked_at IS NOT NULL AND due_at IS NOT NULL;

-- Dead letters: failed attempts with no retry left, until redelivered.
ALTER TABLE request_attempt ADD COLUMN dead_lettered_at INTEGER;
ALTER TABLE request_attempt ADD COLUMN redelivered_at INTEGER;
CREATE INDEX request_attempt_dead_letter ON request_attempt(application_id, dead_lettered_at, id)
    WHERE dead_lettered_at IS NOT NULL AND redelivered_at IS NULL;
CREATE INDEX request_attempt_dead_letter_subscription ON request_attempt(subscription_id, dead_lettered_at)
    WHERE dead_lettered_at IS NOT NULL AND redelivered_at IS NULL;

-- One row per subscription that ever failed: its circuit breaker (closed | open | half_open),
-- the start of its current run of failures, and when it was auto-disabled. No row = closed.
-- Kept apart from `subscription` so the per-outcome update touches a narrow row.
CREATE TABLE subscription_health (
    subscription_id BLOB PRIMARY KEY REFERENCES subscription(id),
    circuit_state TEXT NOT NULL,
    circuit_since INTEGER,
    consecutive_failures INTEGER NOT NULL,
    open_until INTEGER,
    trips INTEGER NOT NULL,
    failing_since INTEGER,
    auto_disabled_at INTEGER
) WITHOUT ROWID;

-- Standard Webhooks: opt-in per subscription, and its signing secrets (live until expires_at).
ALTER TABLE subscription ADD COLUMN standard_webhooks INTEGER NOT NULL DEFAULT 0;
CREATE TABLE standard_webhooks_secret (
    id BLOB PRIMARY KEY,
    subscription_id BLOB NOT NULL REFERENCES subscription(id),
    secret TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER
);
CREATE INDEX standard_webhooks_secret_subscription ON standard_webhooks_secret(subscription_id, created_at);

-- What Hook0 tells application owners (e.g. api.subscription.disabled); notified_at is set once
-- the worker has sent it to OPERATIONAL_WEBHOOK_URL.
CREATE TABLE operational_event (
    id BLOB PRIMARY KEY,
    organization_id BLOB NOT NULL,
    application_id BLOB NOT NULL,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    notified_at INTEGER
);
CREATE INDEX operational_event_application ON operational_event(application_id, created_at);
CREATE INDEX operational_event_to_notify ON operational_event(created_at) WHERE notified_at IS NULL;
