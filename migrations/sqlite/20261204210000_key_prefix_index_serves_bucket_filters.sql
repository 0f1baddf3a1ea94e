-- uploads_bucket_key_c (bucket, object_key) duplicated uploads_key_c (object_key) for every query
-- that used it: a key prefix narrows to a few rows whatever the bucket, and a bucket alone, one of
-- a handful, is no narrower than the time order pages already follow. One index write less per
-- issued and per settled upload.
DROP INDEX uploads_bucket_key_c;
