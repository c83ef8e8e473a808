-- The account lifecycle (origin/src/auth/recovery.rs, verification.rs; origin/src/mail): whether
-- an address is confirmed, an address change waiting for its confirmation, the one-time tokens
-- that travel in mails, and the mails to send.

ALTER TABLE users
    ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    -- The address the user asked to change to, taking effect when it confirms a verify token.
    -- Not unique: the unique index on `email` decides when it applies.
    ADD COLUMN pending_email  TEXT CHECK (char_length(pending_email) BETWEEN 3 AND 254);

-- A reset or verify token is 256 random bits that exist only in the mail sent; this table holds
-- their SHA-256 digest, so no value here works as a token. Spent by one UPDATE ... WHERE used_at IS
-- NULL; times by the origin's clock in seconds since the epoch.
CREATE TABLE account_tokens (
    digest     BYTEA PRIMARY KEY CHECK (octet_length(digest) = 32),
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL CHECK (purpose IN ('reset_password', 'verify_email')),
    -- The address the mail went to: a verify token confirms only this address.
    address    TEXT NOT NULL CHECK (char_length(address) BETWEEN 3 AND 254),
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);

CREATE INDEX account_tokens_by_user ON account_tokens (user_id, purpose);
CREATE INDEX account_tokens_expiry ON account_tokens (expires_at);

-- Mails to send: the intent only (whom, what, to which address), never a token or a link. The
-- delivery worker mints a token when it sends, and retries with backoff until the mail is sent or
-- too old (MAIL_MAX_AGE_SECS), which the audit log records. A request for a link to an address
-- no account has writes a row too, without a user (and with no address but 'nobody'): the same
-- work as a real one, so the answer's time tells nothing; the worker drops it. For the same
-- reason user_id has no foreign key (its check would lock the user's row for a known address
-- only): the worker drops the rows of users deleted meanwhile.
CREATE TABLE mail_outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         BIGINT,
    kind            TEXT NOT NULL CHECK (kind IN ('reset_password', 'verify_email', 'password_changed',
                                                  'email_change_requested', 'email_changed')),
    address         TEXT NOT NULL CHECK (char_length(address) BETWEEN 3 AND 254),
    -- What a notice names besides the user (the new address of an email change).
    detail          TEXT NOT NULL DEFAULT '' CHECK (char_length(detail) <= 254),
    created_at      BIGINT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT NOT NULL DEFAULT ''
);

CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at);
