-- Ordered delivery per key, opt-in per subscription: events carrying the label named by
-- `ordering_label` are delivered one at a time per value of that label (the key).
ALTER TABLE subscription ADD COLUMN ordering_label TEXT;
ALTER TABLE subscription ADD COLUMN ordering_on_dead_letter TEXT NOT NULL DEFAULT 'hold';

-- An ordered attempt carries its key and its place in the key's line (`ordering_seq`, given
-- in ingest order, kept by its retries). One waiting its turn is neither due nor finished:
-- `due_at`, `succeeded_at` and `failed_at` all NULL, which no other attempt ever is.
ALTER TABLE request_attempt ADD COLUMN ordering_key TEXT;
ALTER TABLE request_attempt ADD COLUMN ordering_seq INTEGER;
CREATE INDEX request_attempt_ordering_waiting
    ON request_attempt(subscription_id, ordering_key, ordering_seq)
    WHERE due_at IS NULL AND succeeded_at IS NULL AND failed_at IS NULL;

-- One row per key of an ordered subscription with something in play: the next place to give
-- (`next_seq`) and the place now allowed to be delivered (`head_seq`). An idle key has no
-- row: the next event of the key starts a new line.
-- `held_by` is the dead letter a key waits on under the `hold` policy, until redelivered.
-- Ingest and outcomes serialize on this row, so a key's line is decided in one place.
CREATE TABLE ordering_key (
    subscription_id BLOB NOT NULL REFERENCES subscription(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    next_seq INTEGER NOT NULL,
    head_seq INTEGER NOT NULL,
    held_by BLOB,
    held_since INTEGER,
    PRIMARY KEY (subscription_id, key)
) WITHOUT ROWID;
-- Retention keeps the dead letter a key is held on.
CREATE INDEX ordering_key_held_by ON ordering_key(held_by) WHERE held_by IS NOT NULL;
