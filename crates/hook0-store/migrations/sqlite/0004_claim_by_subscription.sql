-- The claim reads each subscription's oldest due attempts per priority class (retry_count below
-- or above the cut-off): with retry_count in the index, that filter reads no table row.
DROP INDEX request_attempt_subscription_pending;
CREATE INDEX request_attempt_subscription_pending
    ON request_attempt(subscription_id, due_at, retry_count)
    WHERE due_at IS NOT NULL;
