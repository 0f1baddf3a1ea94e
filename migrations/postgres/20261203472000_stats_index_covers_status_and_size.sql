-- Statistics over one profile and a time window (the dashboard's per-day question) read the heap
-- for every matching row only for its status and size: with both in the index (INCLUDE, not in
-- the key, so the order and the page queries' use are unchanged) the count is an index-only scan.
DROP INDEX uploads_profile_completed;
CREATE INDEX uploads_profile_completed ON uploads (profile, completed_at DESC, upload_id DESC)
    INCLUDE (status, size) WHERE completed_at IS NOT NULL;
