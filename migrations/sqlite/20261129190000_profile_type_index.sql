-- The dashboard's usual page: one profile, one content type, a time window (see the Postgres
-- migration of the same name).
CREATE INDEX uploads_profile_mime_completed
    ON uploads (profile, mime_type, completed_at DESC, upload_id DESC)
    WHERE status = 'completed';
-- The same columns as uploads_bucket_key_c.
DROP INDEX uploads_object;
