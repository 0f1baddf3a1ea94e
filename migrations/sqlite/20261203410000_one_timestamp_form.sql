-- One text form for every time: `YYYY-MM-DDTHH:MM:SS.ffffffZ` (six fraction digits, `Z`), fixed
-- width, so text order is time order (see src/store/sqlite/time.rs). Before, sqlx's chrono
-- encoding wrote 0, 3, 6 or 9 fraction digits and `+00:00` (uploads, versions, API keys,
-- webhooks), and the built-in accounts six digits and `Z` (users, refresh tokens). Every value
-- was a UTC time written by the service, so it ends in `+00:00` or `Z`; it is rewritten as:
--   date 'T' time '.' (its fraction digits, trailing zeros and the suffix trimmed, padded with
--   zeros and cut to six: nanoseconds truncate to microseconds, as chrono and Postgres keep them) 'Z'
-- Values already in that form are left alone.

UPDATE users SET created_at = substr(created_at, 1, 10) || 'T' || substr(created_at, 12, 8) || '.' || substr(
        CASE WHEN substr(created_at, 20, 1) = '.' THEN rtrim(substr(created_at, 21), 'Z+0:') ELSE '' END || '000000', 1, 6) || 'Z'
WHERE created_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';

UPDATE refresh_tokens SET issued_at = substr(issued_at, 1, 10) || 'T' || substr(issued_at, 12, 8) || '.' || substr(
        CASE WHEN substr(issued_at, 20, 1) = '.' THEN rtrim(substr(issued_at, 21), 'Z+0:') ELSE '' END || '000000', 1, 6) || 'Z'
WHERE issued_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';

UPDATE refresh_tokens SET expires_at = substr(expires_at, 1, 10) || 'T' || substr(expires_at, 12, 8) || '.' || substr(
        CASE WHEN substr(expires_at, 20, 1) = '.' THEN rtrim(substr(expires_at, 21), 'Z+0:') ELSE '' END || '000000', 1, 6) || 'Z'
WHERE expires_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';

UPDATE refresh_tokens SET used_at = substr(used_at, 1, 10) || 'T' || substr(used_at, 12, 8) || '.' || substr(
        CASE WHEN substr(used_at, 20, 1) = '.' THEN rtrim(substr(used_at, 21), 'Z+0:') ELSE '' END || '000000', 1, 6) || 'Z'
WHERE used_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';

UPDATE refresh_tokens SET revoked_at = substr(revoked_at, 1, 10) || 'T' || substr(revoked_at, 12, 8) || '.' || substr(
        CASE WHEN substr(revoked_at, 20, 1) = '.' THEN rtrim(substr(revoked_at, 21), 'Z+0:') ELSE '' END || '000000', 1, 6) || 'Z'
WHERE revoked_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';

UPDATE uploads SET issued_at = substr(issued_at, 1, 10) || 'T' || substr(issued_at, 12, 8) || '.' || substr(
        CASE WHEN substr(issued_at, 20, 1) = '.' THEN rtrim(substr(issued_at, 21), 'Z+0:') ELSE '' END || '000000', 1, 6) || 'Z'
WHERE issued_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';

UPDATE uploads SET expires_at = substr(expires_at, 1, 10) || 'T' || substr(expires_at, 12, 8) || '.' || substr(
        CASE WHEN substr(expires_at, 20, 1) = '.' THEN rtrim(substr(expires_at, 21), 'Z+0:') ELSE '' END || '000000', 1, 6) || 'Z'
WHERE expires_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';

UPDATE uploads SET completed_at = substr(completed_at, 1, 10) || 'T' || substr(completed_at, 12, 8) || '.' || substr(
        CASE WHEN substr(completed_at, 20, 1) = '.' THEN rtrim(substr(completed_at, 21), 'Z+0:') ELSE '' END || '000000', 1, 6) || 'Z'
WHERE completed_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';

UPDATE uploads SET lease_until = substr(lease_until, 1, 10) || 'T' || substr(lease_until, 12, 8) || '.' || substr(
        CASE WHEN substr(lease_until, 20, 1) = '.' THEN rtrim(substr(lease_until, 21), 'Z+0:') ELSE '' END || '000000', 1, 6) || 'Z'
WHERE lease_until NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';

UPDATE api_keys SET created_at = substr(created_at, 1, 10) || 'T' || substr(created_at, 12, 8) || '.' || substr(
        CASE WHEN substr(created_at, 20, 1) = '.' THEN rtrim(substr(created_at, 21), 'Z+0:') ELSE '' END || '000000', 1, 6) || 'Z'
WHERE created_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';

UPDATE api_keys SET last_used_at = substr(last_used_at, 1, 10) || 'T' || substr(last_used_at, 12, 8) || '.' || substr(
        CASE WHEN substr(last_used_at, 20, 1) = '.' THEN rtrim(substr(last_used_at, 21), 'Z+0:') ELSE '' END || '000000', 1, 6) || 'Z'
WHERE last_used_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';

UPDATE api_keys SET revoked_at = substr(revoked_at, 1, 10) || 'T' || substr(revoked_at, 12, 8) || '.' || substr(
        CASE WHEN substr(revoked_at, 20, 1) = '.' THEN rtrim(substr(revoked_at, 21), 'Z+0:') ELSE '' END || '000000', 1, 6) || 'Z'
WHERE revoked_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';

UPDATE upload_versions SET completed_at = substr(completed_at, 1, 10) || 'T' || substr(completed_at, 12, 8) || '.' || substr(
        CASE WHEN substr(completed_at, 20, 1) = '.' THEN rtrim(substr(completed_at, 21), 'Z+0:') ELSE '' END || '000000', 1, 6) || 'Z'
WHERE completed_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';

UPDATE upload_versions SET replaced_at = substr(replaced_at, 1, 10) || 'T' || substr(replaced_at, 12, 8) || '.' || substr(
        CASE WHEN substr(replaced_at, 20, 1) = '.' THEN rtrim(substr(replaced_at, 21), 'Z+0:') ELSE '' END || '000000', 1, 6) || 'Z'
WHERE replaced_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';

UPDATE webhook_endpoints SET previous_secret_until = substr(previous_secret_until, 1, 10) || 'T' || substr(previous_secret_until, 12, 8) || '.' || substr(
        CASE WHEN substr(previous_secret_until, 20, 1) = '.' THEN rtrim(substr(previous_secret_until, 21), 'Z+0:') ELSE '' END || '000000', 1, 6) || 'Z'
WHERE previous_secret_until NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';

UPDATE webhook_endpoints SET failing_since = substr(failing_since, 1, 10) || 'T' || substr(failing_since, 12, 8) || '.' || substr(
        CASE WHEN substr(failing_since, 20, 1) = '.' THEN rtrim(substr(failing_since, 21), 'Z+0:') ELSE '' END || '000000', 1, 6) || 'Z'
WHERE failing_since NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';

UPDATE webhook_endpoints SET created_at = substr(created_at, 1, 10) || 'T' || substr(created_at, 12, 8) || '.' || substr(
        CASE WHEN substr(created_at, 20, 1) = '.' THEN rtrim(substr(created_at, 21), 'Z+0:') ELSE '' END || '000000', 1, 6) || 'Z'
WHERE created_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';

UPDATE webhook_endpoints SET updated_at = substr(updated_at, 1, 10) || 'T' || substr(updated_at, 12, 8) || '.' || substr(
        CASE WHEN substr(updated_at, 20, 1) = '.' THEN rtrim(substr(updated_at, 21), 'Z+0:') ELSE '' END || '000000', 1, 6) || 'Z'
WHERE updated_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';

UPDATE webhook_events SET created_at = substr(created_at, 1, 10) || 'T' || substr(created_at, 12, 8) || '.' || substr(
        CASE WHEN substr(created_at, 20, 1) = '.' THEN rtrim(substr(created_at, 21), 'Z+0:') ELSE '' END || '000000', 1, 6) || 'Z'
WHERE created_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';

UPDATE webhook_deliveries SET next_attempt_at = substr(next_attempt_at, 1, 10) || 'T' || substr(next_attempt_at, 12, 8) || '.' || substr(
        CASE WHEN substr(next_attempt_at, 20, 1) = '.' THEN rtrim(substr(next_attempt_at, 21), 'Z+0:') ELSE '' END || '000000', 1, 6) || 'Z'
WHERE next_attempt_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';

UPDATE webhook_deliveries SET lease_until = substr(lease_until, 1, 10) || 'T' || substr(lease_until, 12, 8) || '.' || substr(
        CASE WHEN substr(lease_until, 20, 1) = '.' THEN rtrim(substr(lease_until, 21), 'Z+0:') ELSE '' END || '000000', 1, 6) || 'Z'
WHERE lease_until NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';

UPDATE webhook_deliveries SET updated_at = substr(updated_at, 1, 10) || 'T' || substr(updated_at, 12, 8) || '.' || substr(
        CASE WHEN substr(updated_at, 20, 1) = '.' THEN rtrim(substr(updated_at, 21), 'Z+0:') ELSE '' END || '000000', 1, 6) || 'Z'
WHERE updated_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';

UPDATE webhook_attempts SET attempted_at = substr(attempted_at, 1, 10) || 'T' || substr(attempted_at, 12, 8) || '.' || substr(
        CASE WHEN substr(attempted_at, 20, 1) = '.' THEN rtrim(substr(attempted_at, 21), 'Z+0:') ELSE '' END || '000000', 1, 6) || 'Z'
WHERE attempted_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';
