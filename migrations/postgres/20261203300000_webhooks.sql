-- Webhooks: endpoints backend services register, the outbox of upload events (written in the
-- transaction that changes the record), one delivery per event and endpoint, and every attempt.
CREATE TABLE webhook_endpoints (
    id                    TEXT PRIMARY KEY,
    url                   TEXT NOT NULL,
    description           TEXT NOT NULL DEFAULT '',
    -- Comma-separated; empty: every event type / every profile.
    event_types           TEXT NOT NULL DEFAULT '',
    profiles              TEXT NOT NULL DEFAULT '',
    -- `whsec_...`: HMAC needs the secret itself, so it is kept (never logged, shown once).
    secret                TEXT NOT NULL,
    previous_secret       TEXT,
    previous_secret_until TIMESTAMPTZ,
    enabled               BOOLEAN NOT NULL DEFAULT TRUE,
    disabled_reason       TEXT,
    -- Set at the first failure after a success: an endpoint failing through a whole retry
    -- schedule is disabled.
    failing_since         TIMESTAMPTZ,
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL
);

CREATE TABLE webhook_events (
    id          TEXT PRIMARY KEY,
    event_type  TEXT NOT NULL,
    upload_id   TEXT NOT NULL,
    profile     TEXT NOT NULL,
    -- The exact body sent (text, not jsonb: the signature covers these bytes).
    payload     TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    -- Deliveries created for the endpoints subscribed when it was written.
    fanned_out  BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX webhook_events_unfanned ON webhook_events (created_at) WHERE NOT fanned_out;
CREATE INDEX webhook_events_created ON webhook_events (created_at);

CREATE TABLE webhook_deliveries (
    event_id        TEXT NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    -- pending | delivered | failed
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    lease_until     TIMESTAMPTZ,
    lease_owner     TEXT,
    updated_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, status);

CREATE TABLE webhook_attempts (
    id           BIGSERIAL PRIMARY KEY,
    endpoint_id  TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id     TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    attempted_at TIMESTAMPTZ NOT NULL,
    status_code  INTEGER,
    latency_ms   BIGINT NOT NULL,
    -- delivered | retrying | failed
    outcome      TEXT NOT NULL,
    error        TEXT
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, id DESC);
