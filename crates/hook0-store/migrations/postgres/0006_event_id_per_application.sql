-- An event id is unique within its application, not across tenants: another tenant's id must
-- neither answer 409 (an existence oracle) nor be taken before its owner uses it.
ALTER TABLE request_attempt DROP CONSTRAINT request_attempt_event_id_fkey;
ALTER TABLE event DROP CONSTRAINT event_pkey;
ALTER TABLE event ADD PRIMARY KEY (application_id, id);
ALTER TABLE request_attempt ADD CONSTRAINT request_attempt_event_fkey
    FOREIGN KEY (application_id, event_id) REFERENCES event(application_id, id) ON DELETE CASCADE;
DROP INDEX request_attempt_event;
CREATE INDEX request_attempt_event ON request_attempt(application_id, event_id);
