-- Every issued credential writes a pending row; the indexes ordered by completed_at held a NULL
-- entry for each. Partial now (queries for settled statuses say `completed_at IS NOT NULL`), so
-- a pending row costs two index insertions fewer; its own user index orders unsettled rows the
-- way their queries do, by issue time.
DROP INDEX uploads_user_completed;
CREATE INDEX uploads_user_completed ON uploads (user_id, completed_at DESC, upload_id DESC)
    WHERE completed_at IS NOT NULL;
DROP INDEX uploads_profile_completed;
CREATE INDEX uploads_profile_completed ON uploads (profile, completed_at DESC, upload_id DESC)
    WHERE completed_at IS NOT NULL;
DROP INDEX uploads_mime_completed;
CREATE INDEX uploads_mime_completed ON uploads ((mime_type COLLATE "C"), completed_at DESC)
    WHERE completed_at IS NOT NULL;
CREATE INDEX uploads_user_unsettled ON uploads (user_id, issued_at DESC, upload_id DESC)
    WHERE completed_at IS NULL;
