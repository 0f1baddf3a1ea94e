-- An event enters the fan-out queue only while some endpoint is enabled (see the Postgres
-- migration of the same version).
DROP TRIGGER webhook_events_enqueue_fanout;
CREATE TRIGGER webhook_events_enqueue_fanout AFTER INSERT ON webhook_events
WHEN EXISTS (SELECT 1 FROM webhook_endpoints WHERE enabled)
BEGIN
    INSERT INTO webhook_fanout (event_id) VALUES (NEW.id);
END;
