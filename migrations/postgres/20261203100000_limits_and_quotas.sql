-- Request limits shared by every instance (login, registration, issuance): one row per limit name
-- and key. Unlogged: written on every limited request, and losing them in a crash only forgets
-- some counts. Expired rows are purged in the background.
CREATE UNLOGGED TABLE rate_limits (
    name       TEXT NOT NULL,
    key        TEXT NOT NULL,
    count      BIGINT NOT NULL,
    at_us      BIGINT NOT NULL,
    expires_us BIGINT NOT NULL,
    PRIMARY KEY (name, key)
);
-- Upload quotas count a pending credential at the size its request declared.
ALTER TABLE uploads ADD COLUMN declared_size BIGINT;
-- The quota check at issuance: one user's uploads of one profile, today's by issue time.
CREATE INDEX uploads_user_quota ON uploads (user_id, profile, issued_at);
