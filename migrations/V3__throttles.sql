-- Brute-force protection and rate limits (origin/src/throttle.rs holds the rules): one counter
-- per key, e.g. `login-user:alice`, `login-ip:203.0.113.7`, `signup-ip:...`, `refresh-ip:...`.
-- Kept here rather than in memory so they hold across restarts and across origin instances.
-- Times are the origin's clock in seconds since the epoch.

CREATE TABLE throttles (
    key           TEXT PRIMARY KEY CHECK (char_length(key) <= 200),
    window_start  BIGINT NOT NULL DEFAULT 0,
    count         INTEGER NOT NULL DEFAULT 0,
    blocked_until BIGINT NOT NULL DEFAULT 0,
    strikes       INTEGER NOT NULL DEFAULT 0,
    -- When nothing about the row matters any more: purged after.
    expires_at    BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX throttles_expiry ON throttles (expires_at);
