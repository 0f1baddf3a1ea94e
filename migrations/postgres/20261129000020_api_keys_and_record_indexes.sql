-- API keys for backend teams; only a SHA-256 hash of the secret is stored.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);

-- Record queries: key-prefix and content-type ranges compare bytewise (COLLATE "C").
CREATE INDEX uploads_bucket_key_c ON uploads (bucket, (object_key COLLATE "C"));
CREATE INDEX uploads_key_c ON uploads ((object_key COLLATE "C"));
CREATE INDEX uploads_mime_completed ON uploads ((mime_type COLLATE "C"), completed_at DESC);
