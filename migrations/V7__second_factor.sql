-- A second factor (origin/src/auth/mfa.rs): TOTP with recovery codes, the step-up of a login,
-- and the assurance each session carries into its tokens (shared/src/assurance.rs).

-- Which second factor lifted the session ('' none, 'totp', 'recovery_code') and when the user
-- authenticated (the second factor's time, or the login's): its tokens' aal, amr and auth_time.
ALTER TABLE sessions
    ADD COLUMN second_factor TEXT NOT NULL DEFAULT '' CHECK (second_factor IN ('', 'totp', 'recovery_code')),
    ADD COLUMN auth_time     BIGINT NOT NULL DEFAULT 0;
UPDATE sessions SET auth_time = extract(epoch FROM created_at)::bigint;
ALTER TABLE sessions DROP CONSTRAINT sessions_end_reason_check;
ALTER TABLE sessions ADD CONSTRAINT sessions_end_reason_check
    CHECK (end_reason IN ('logout', 'logout_all', 'reuse', 'admin', 'password_change', 'second_factor'));

-- A user's TOTP factor: at most one confirmed; an unconfirmed one (enrolment in progress) dies
-- after 10 minutes. The secret is sealed with an AEAD under MFA_ENCRYPTION_KEYS (`kid` names the
-- key), the user and factor ids its associated data: the row alone reveals nothing.
CREATE TABLE mfa_factors (
    id             TEXT PRIMARY KEY CHECK (char_length(id) = 32),
    user_id        BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kid            TEXT NOT NULL CHECK (char_length(kid) BETWEEN 1 AND 64),
    sealed_secret  BYTEA NOT NULL,
    created_at     BIGINT NOT NULL,
    confirmed_at   BIGINT,
    -- The last TOTP time step accepted: a step is accepted once (RFC 6238 5.2), by one UPDATE.
    last_used_step BIGINT NOT NULL DEFAULT -1
);

CREATE UNIQUE INDEX mfa_factors_one_confirmed ON mfa_factors (user_id) WHERE confirmed_at IS NOT NULL;
CREATE INDEX mfa_factors_by_user ON mfa_factors (user_id);

-- Recovery codes: 115 random bits each, shown once; only their SHA-256 here, spent once.
CREATE TABLE mfa_recovery_codes (
    digest    BYTEA PRIMARY KEY CHECK (octet_length(digest) = 32),
    user_id   BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    factor_id TEXT NOT NULL REFERENCES mfa_factors (id) ON DELETE CASCADE,
    used_at   BIGINT
);

CREATE INDEX mfa_recovery_codes_by_user ON mfa_recovery_codes (user_id);

-- A login waiting for its second factor: the mfa_token's SHA-256, whom it is for and what the
-- login brought (its device), 5 minutes, 5 wrong codes, spent once.
CREATE TABLE mfa_challenges (
    digest        BYTEA PRIMARY KEY CHECK (octet_length(digest) = 32),
    user_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at    BIGINT NOT NULL,
    failures      INTEGER NOT NULL DEFAULT 0,
    used_at       BIGINT,
    -- The known device the login came with, if any, and its address as the limits count it:
    -- remembered when the second factor completes the login.
    device_id     BIGINT,
    source        TEXT CHECK (char_length(source) <= 64)
);

CREATE INDEX mfa_challenges_expiry ON mfa_challenges (expires_at);
CREATE INDEX mfa_challenges_by_user ON mfa_challenges (user_id);

-- Notices of the second factor: turned on, turned off (by the user or an admin), a recovery code
-- used, a right password followed by wrong codes.
ALTER TABLE mail_outbox DROP CONSTRAINT mail_outbox_kind_check;
ALTER TABLE mail_outbox ADD CONSTRAINT mail_outbox_kind_check CHECK (kind IN (
    'reset_password', 'verify_email', 'password_changed', 'email_change_requested', 'email_changed',
    'mfa_enabled', 'mfa_disabled', 'recovery_code_used', 'mfa_failures'));
