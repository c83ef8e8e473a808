-- Login throttling in tiers (origin/src/throttle.rs, origin/src/auth/limits.rs): attempts in
-- flight hold slots of their counters, and an account knows the devices and the addresses it
-- logged in from, which get through locks that strangers' failures put on it.

ALTER TABLE throttles
    ADD COLUMN in_flight       INTEGER NOT NULL DEFAULT 0,
    -- When the slots in flight are given up for lost (their origin died mid-attempt).
    ADD COLUMN in_flight_until BIGINT NOT NULL DEFAULT 0;

-- A device token is 256 random bits the client keeps; only its SHA-256 digest is stored, so no
-- value here works as a token. Times by the origin's clock (expires_at in seconds since the epoch).
CREATE TABLE devices (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_digest BYTEA NOT NULL UNIQUE CHECK (octet_length(token_digest) = 32),
    created_at   TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP NOT NULL,
    -- Forgotten after this (DEVICE_TOKEN_TTL_SECS after its last login).
    expires_at   BIGINT NOT NULL,
    user_agent   TEXT NOT NULL DEFAULT '' CHECK (char_length(user_agent) <= 512),
    client_ip    TEXT
);

CREATE INDEX devices_by_user ON devices (user_id, last_used_at DESC);
CREATE INDEX devices_expiry ON devices (expires_at);

-- The addresses (an IPv6 host as its /64, as the limits count it) an account logged in from.
CREATE TABLE known_sources (
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    source     TEXT NOT NULL CHECK (char_length(source) <= 64),
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, source)
);

CREATE INDEX known_sources_expiry ON known_sources (expires_at);
