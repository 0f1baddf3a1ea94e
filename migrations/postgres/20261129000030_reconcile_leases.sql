-- Reconciler leases: several instances may run the reconciler; a leased row is skipped by others
-- until the lease ends.
ALTER TABLE uploads ADD COLUMN lease_until TIMESTAMPTZ;
ALTER TABLE uploads ADD COLUMN lease_owner TEXT;
