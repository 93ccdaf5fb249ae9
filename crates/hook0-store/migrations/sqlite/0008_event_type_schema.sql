-- An event type may carry a JSON Schema (draft 2020-12, as JSON text) its JSON payloads must match.
ALTER TABLE event_type ADD COLUMN schema TEXT;
