-- Request limits live in the process's memory on SQLite (one process owns the file): no table.
-- Upload quotas count a pending credential at the size its request declared.
ALTER TABLE uploads ADD COLUMN declared_size INTEGER;
-- The quota check at issuance: one user's uploads of one profile, today's by issue time.
CREATE INDEX uploads_user_quota ON uploads (user_id, profile, issued_at);
