-- Events waiting to be fanned out to endpoints, as a queue of their own. Marking the event row
-- instead (`fanned_out`, with a partial index on it) rewrote each ~1 KB event a second time and
-- added three index entries per event: as much work as the insert, on every completed upload.
-- A queue row is a few bytes, and taking it is a delete.
CREATE TABLE webhook_fanout (
    event_id TEXT PRIMARY KEY
);
INSERT INTO webhook_fanout (event_id) SELECT id FROM webhook_events WHERE NOT fanned_out;
DROP INDEX webhook_events_unfanned;
ALTER TABLE webhook_events DROP COLUMN fanned_out;

-- Every event enters the queue in the transaction that writes it, whatever statement writes it;
-- one statement-level trigger per batch.
CREATE FUNCTION webhook_events_enqueue_fanout() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_fanout (event_id) SELECT id FROM inserted_events;
    RETURN NULL;
END
$$;
CREATE TRIGGER webhook_events_enqueue_fanout
    AFTER INSERT ON webhook_events
    REFERENCING NEW TABLE AS inserted_events
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_events_enqueue_fanout();
