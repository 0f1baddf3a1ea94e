-- uploads_bucket_key_c (bucket, object_key) duplicated uploads_key_c (object_key) for every query
-- that used it: a key prefix narrows to a few rows whatever the bucket (checked on the benchmark's
-- million rows: the bucket becomes a filter on uploads_key_c's range), and a bucket alone, one of
-- a handful, is no narrower than the time order pages already follow. Every upload row entered
-- both, at issuance and again when it settled: one index insertion less on each.
DROP INDEX uploads_bucket_key_c;
