-- Each upload row carries its uploader's username, copied from `users` when the row is written.
-- Usernames never change and accounts are never deleted, so the copy cannot go stale; records
-- pages, exports and webhook events read it with the row instead of probing `users` once per row
-- (a third of Postgres's work for a page of 100). External identities have no account: NULL.
ALTER TABLE uploads ADD COLUMN username text;

UPDATE uploads SET username = users.username
FROM users
WHERE users.id = uploads.user_id;
