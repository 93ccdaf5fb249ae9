-- Events received per application and UTC day, counted in the ingest transaction: exact at any
-- moment (quotas read it), and kept when the retention cleanup deletes the events themselves,
-- like upstream's `all_time_events_per_day`. `slot` spreads one day's count over several rows
-- on backends with concurrent writers; SQLite has one writer and uses slot 0.
CREATE TABLE events_per_day (
    application_id BLOB NOT NULL,
    day TEXT NOT NULL,
    slot INTEGER NOT NULL DEFAULT 0,
    amount INTEGER NOT NULL,
    PRIMARY KEY (application_id, day, slot)
) WITHOUT ROWID;

INSERT INTO events_per_day (application_id, day, slot, amount)
SELECT application_id, date(received_at / 1000000, 'unixepoch'), 0, COUNT(*)
FROM event GROUP BY 1, 2;
