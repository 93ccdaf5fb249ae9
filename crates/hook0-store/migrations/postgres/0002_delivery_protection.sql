-- Delivery protection: circuit breakers and fair claims, dead letters, auto-disable with
-- operational events, Standard Webhooks signing. The same tables, columns and indexes as
-- migrations/sqlite/0002_delivery_protection.sql (see the comments there).

-- The claim reads (id, subscription_id, retry_count) of due attempts in due order.
DROP INDEX request_attempt_due;
CREATE INDEX request_attempt_due ON request_attempt(due_at, subscription_id, retry_count) INCLUDE (id)
    WHERE due_at IS NOT NULL;

-- Holding and releasing one subscription's pending attempts.
DROP INDEX request_attempt_subscription_pending;
CREATE INDEX request_attempt_subscription_pending ON request_attempt(subscription_id, due_at)
    WHERE due_at IS NOT NULL;

-- Attempts under lease: the in-flight count per subscription.
CREATE INDEX request_attempt_leased ON request_attempt(subscription_id, due_at)
    WHERE picked_at IS NOT NULL AND due_at IS NOT NULL;

ALTER TABLE request_attempt ADD COLUMN dead_lettered_at timestamptz;
ALTER TABLE request_attempt ADD COLUMN redelivered_at timestamptz;
CREATE INDEX request_attempt_dead_letter ON request_attempt(application_id, dead_lettered_at, id)
    WHERE dead_lettered_at IS NOT NULL AND redelivered_at IS NULL;
CREATE INDEX request_attempt_dead_letter_subscription ON request_attempt(subscription_id, dead_lettered_at)
    WHERE dead_lettered_at IS NOT NULL AND redelivered_at IS NULL;

CREATE TABLE subscription_health (
    subscription_id uuid PRIMARY KEY REFERENCES subscription(id),
    circuit_state text NOT NULL,
    circuit_since timestamptz,
    consecutive_failures integer NOT NULL,
    open_until timestamptz,
    trips integer NOT NULL,
    failing_since timestamptz,
    auto_disabled_at timestamptz
);

ALTER TABLE subscription ADD COLUMN standard_webhooks boolean NOT NULL DEFAULT false;
CREATE TABLE standard_webhooks_secret (
    id uuid PRIMARY KEY,
    subscription_id uuid NOT NULL REFERENCES subscription(id),
    secret text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz
);
CREATE INDEX standard_webhooks_secret_subscription ON standard_webhooks_secret(subscription_id, created_at);

CREATE TABLE operational_event (
    id uuid PRIMARY KEY,
    organization_id uuid NOT NULL,
    application_id uuid NOT NULL,
    event_type text NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    notified_at timestamptz
);
CREATE INDEX operational_event_application ON operational_event(application_id, created_at);
CREATE INDEX operational_event_to_notify ON operational_event(created_at) WHERE notified_at IS NULL;
