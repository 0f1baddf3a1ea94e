CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);

-- SQLite compares TEXT bytewise (BINARY) already.
CREATE INDEX uploads_bucket_key_c ON uploads (bucket, object_key);
CREATE INDEX uploads_key_c ON uploads (object_key);
CREATE INDEX uploads_mime_completed ON uploads (mime_type, completed_at DESC);
