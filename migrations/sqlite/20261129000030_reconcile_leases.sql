ALTER TABLE uploads ADD COLUMN lease_until TEXT;
ALTER TABLE uploads ADD COLUMN lease_owner TEXT;
