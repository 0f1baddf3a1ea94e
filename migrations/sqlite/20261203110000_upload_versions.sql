-- Earlier versions of an upload's object: an overwrite through a path that cannot forbid it (STS
-- credentials, where the app sets the headers) makes the record describe the object now in the
-- bucket; what it described before is kept here.
CREATE TABLE upload_versions (
    upload_id    TEXT NOT NULL REFERENCES uploads (upload_id) ON DELETE CASCADE,
    version      INTEGER NOT NULL,
    status       TEXT NOT NULL,
    source       TEXT,
    size         INTEGER,
    etag         TEXT,
    mime_type    TEXT,
    reason       TEXT,
    completed_at TEXT,
    replaced_at  TEXT NOT NULL,
    PRIMARY KEY (upload_id, version)
);
