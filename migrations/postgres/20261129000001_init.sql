-- Accounts of the built-in identity provider.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL
);

-- Refresh tokens, stored only as SHA-256 hashes. A family is one login's chain of rotations.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    family_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issued_at  TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

-- One row per issued credential (the ledger); completed once OSS or the client confirms.
CREATE TABLE uploads (
    upload_id      TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL,
    profile        TEXT NOT NULL,
    bucket         TEXT NOT NULL,
    object_key     TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'completed', 'abandoned', 'rejected')),
    source         TEXT CHECK (source IN ('callback', 'client', 'reconciler')),
    size           BIGINT,
    etag           TEXT,
    mime_type      TEXT,
    image_width    INTEGER,
    image_height   INTEGER,
    image_format   TEXT,
    vars           JSONB NOT NULL DEFAULT '{}'::jsonb,
    client_ip      TEXT,
    oss_request_id TEXT,
    reason         TEXT,
    response       JSONB,
    issued_at      TIMESTAMPTZ NOT NULL,
    expires_at     TIMESTAMPTZ NOT NULL,
    completed_at   TIMESTAMPTZ
);
-- Newest-first keyset pages, overall and per user / profile.
CREATE INDEX uploads_completed ON uploads (completed_at DESC, upload_id DESC) WHERE status = 'completed';
CREATE INDEX uploads_user_completed ON uploads (user_id, completed_at DESC, upload_id DESC);
CREATE INDEX uploads_profile_completed ON uploads (profile, completed_at DESC, upload_id DESC);
CREATE INDEX uploads_object ON uploads (bucket, object_key);
-- The reconciler's work list.
CREATE INDEX uploads_pending_expiry ON uploads (expires_at) WHERE status = 'pending';
