-- Events received per application and UTC day, counted in the ingest transaction: exact at any
-- moment (quotas read it), and kept when the retention cleanup deletes the events themselves,
-- like upstream's `all_time_events_per_day`. Each of the concurrent ingest writers adds to its
-- own `slot`, so batches of one application do not queue behind one row lock; readers sum.
CREATE TABLE events_per_day (
    application_id uuid NOT NULL,
    day date NOT NULL,
    slot smallint NOT NULL DEFAULT 0,
    amount bigint NOT NULL,
    PRIMARY KEY (application_id, day, slot)
);

INSERT INTO events_per_day (application_id, day, slot, amount)
SELECT application_id, (received_at AT TIME ZONE 'UTC')::date, 0, COUNT(*)
FROM event GROUP BY 1, 2;
