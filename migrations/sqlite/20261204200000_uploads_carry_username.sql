-- Each upload row carries its uploader's username, copied from `users` when the row is written.
-- Usernames never change and accounts are never deleted, so the copy cannot go stale; records
-- pages, exports and webhook events read it with the row instead of probing `users` once per row.
-- External identities have no account: NULL.
ALTER TABLE uploads ADD COLUMN username TEXT;

UPDATE uploads SET username = (SELECT username FROM users WHERE users.id = uploads.user_id);
