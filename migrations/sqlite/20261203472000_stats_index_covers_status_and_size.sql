-- Statistics by profile read status and size from the index, not the table (see the Postgres
-- migration of the same name; SQLite has no INCLUDE: they trail the key).
DROP INDEX uploads_profile_completed;
CREATE INDEX uploads_profile_completed ON uploads (profile, completed_at DESC, upload_id DESC, status, size)
    WHERE completed_at IS NOT NULL;
