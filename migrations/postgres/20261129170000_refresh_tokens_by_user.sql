-- Revoking every refresh token of a user (logout everywhere, account disabled) looks them up by user.
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
