-- request_attempt works as a queue: every lease and every outcome rewrites a row and leaves a
-- dead version behind in each of its indexes. With the default thresholds (20 % of the table)
-- a backlog of 100,000 attempts accumulates tens of thousands of dead entries at the head of
-- the due index before a vacuum runs, and every claim walks through them. Vacuum it after 1 %.
ALTER TABLE request_attempt SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.02
);
