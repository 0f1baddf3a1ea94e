-- The dashboard's usual page (one profile, one content type, a time window) read up to four
-- times the rows it returned through uploads_profile_completed, each a scattered heap fetch.
-- Pending rows never enter this index (partial); content types compare bytewise, as in ranges.
CREATE INDEX uploads_profile_mime_completed
    ON uploads (profile, (mime_type COLLATE "C"), completed_at DESC, upload_id DESC)
    WHERE status = 'completed';
-- No query looks uploads up by (bucket, object_key) under the default collation; the bytewise
-- uploads_bucket_key_c serves bucket filters and key prefixes. One index less on every write.
DROP INDEX uploads_object;
