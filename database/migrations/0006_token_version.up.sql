-- Per-user token version (issue 12, item 11). Every API token and Bull Board session carries the
-- version current at sign-in; the API refuses a token whose version is not the user's current one.
-- `costwatch user set-password` and `costwatch user disable` bump it, so every outstanding token of
-- that user stops working at once.
ALTER TABLE users ADD COLUMN token_version integer NOT NULL DEFAULT 0 CHECK (token_version >= 0);
