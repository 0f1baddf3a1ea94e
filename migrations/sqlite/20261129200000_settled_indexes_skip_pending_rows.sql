-- Pending rows stay out of the indexes ordered by completed_at (see the Postgres migration of
-- the same name).
DROP INDEX uploads_user_completed;
CREATE INDEX uploads_user_completed ON uploads (user_id, completed_at DESC, upload_id DESC)
    WHERE completed_at IS NOT NULL;
DROP INDEX uploads_profile_completed;
CREATE INDEX uploads_profile_completed ON uploads (profile, completed_at DESC, upload_id DESC)
    WHERE completed_at IS NOT NULL;
DROP INDEX uploads_mime_completed;
CREATE INDEX uploads_mime_completed ON uploads (mime_type, completed_at DESC)
    WHERE completed_at IS NOT NULL;
CREATE INDEX uploads_user_unsettled ON uploads (user_id, issued_at DESC, upload_id DESC)
    WHERE completed_at IS NULL;
