-- Sessions (token families) and the audit log of security events.
--
-- A session's clock values (issued_at) are the origin's injected clock in seconds since the
-- epoch: they decide the grace window and are signed into tokens as `iat`, so they must be the
-- very value the tokens carry.

CREATE TABLE sessions (
    -- The tokens' `sid`: 128 random bits, hex.
    id           TEXT PRIMARY KEY CHECK (char_length(id) BETWEEN 1 AND 64),
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The live generation: its refresh token is the only one that rotates.
    generation   INTEGER NOT NULL DEFAULT 0 CHECK (generation >= 0),
    -- When the live generation was issued (its tokens' `iat`).
    issued_at    BIGINT NOT NULL,
    -- When the live generation's refresh token expires: the session is over then.
    expires_at   BIGINT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP NOT NULL,
    user_agent   TEXT NOT NULL DEFAULT '' CHECK (char_length(user_agent) <= 512),
    client_ip    TEXT,
    ended_at     TIMESTAMP,
    end_reason   TEXT CHECK (end_reason IN ('logout', 'logout_all', 'reuse', 'admin', 'password_change'))
);

CREATE INDEX sessions_live_by_user ON sessions (user_id) WHERE ended_at IS NULL;

CREATE TABLE audit_events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         TIMESTAMP NOT NULL DEFAULT (clock_timestamp() AT TIME ZONE 'utc'),
    event      TEXT NOT NULL,
    -- Whom it concerns, and who did it (an admin, or the user themself). No foreign keys: the
    -- record outlives a deleted user.
    user_id    BIGINT,
    actor_id   BIGINT,
    -- The username tried, for failed logins of names that may not exist.
    username   TEXT,
    session_id TEXT,
    client_ip  TEXT,
    detail     TEXT NOT NULL DEFAULT ''
);

CREATE INDEX audit_events_by_user ON audit_events (user_id, id);
