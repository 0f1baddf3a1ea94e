-- Events waiting to be fanned out to endpoints, as a queue of their own (see the Postgres
-- migration of the same version: marking the event row rewrote it and its indexes).
CREATE TABLE webhook_fanout (
    event_id TEXT PRIMARY KEY
);
INSERT INTO webhook_fanout (event_id) SELECT id FROM webhook_events WHERE NOT fanned_out;
DROP INDEX webhook_events_unfanned;
ALTER TABLE webhook_events DROP COLUMN fanned_out;

-- Every event enters the queue in the transaction that writes it.
CREATE TRIGGER webhook_events_enqueue_fanout AFTER INSERT ON webhook_events
BEGIN
    INSERT INTO webhook_fanout (event_id) VALUES (NEW.id);
END;
