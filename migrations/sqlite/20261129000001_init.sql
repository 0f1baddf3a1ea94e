-- Same tables as migrations/postgres; timestamps are RFC 3339 text (sorts correctly as written
-- by the service), JSON is text, booleans are integers.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL
);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    family_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issued_at  TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT,
    revoked_at TEXT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE uploads (
    upload_id      TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL,
    profile        TEXT NOT NULL,
    bucket         TEXT NOT NULL,
    object_key     TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'completed', 'abandoned', 'rejected')),
    source         TEXT CHECK (source IN ('callback', 'client', 'reconciler')),
    size           INTEGER,
    etag           TEXT,
    mime_type      TEXT,
    image_width    INTEGER,
    image_height   INTEGER,
    image_format   TEXT,
    vars           TEXT NOT NULL DEFAULT '{}',
    client_ip      TEXT,
    oss_request_id TEXT,
    reason         TEXT,
    response       TEXT,
    issued_at      TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    completed_at   TEXT
);
CREATE INDEX uploads_completed ON uploads (completed_at DESC, upload_id DESC) WHERE status = 'completed';
CREATE INDEX uploads_user_completed ON uploads (user_id, completed_at DESC, upload_id DESC);
CREATE INDEX uploads_profile_completed ON uploads (profile, completed_at DESC, upload_id DESC);
CREATE INDEX uploads_object ON uploads (bucket, object_key);
CREATE INDEX uploads_pending_expiry ON uploads (expires_at) WHERE status = 'pending';
