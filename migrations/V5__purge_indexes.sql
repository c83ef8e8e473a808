-- The retention purge (origin/src/startup.rs) deletes what expired or ended, in bounded batches
-- found through these indexes: a run costs what it deletes, not a scan of the table.

CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX sessions_expiry ON sessions (expires_at);
CREATE INDEX sessions_ended ON sessions (ended_at) WHERE ended_at IS NOT NULL;
