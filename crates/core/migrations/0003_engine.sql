-- How far the relay's engine has applied the event log. Projections run after the intake's
-- commit, from the log; the cursor moves in the same transaction as the projections, so each
-- event is applied exactly once across crashes and restarts.
CREATE TABLE engine_cursor (
    name     TEXT PRIMARY KEY,
    last_id  INTEGER NOT NULL CHECK (last_id >= 0)
);

-- Logs written before this migration were projected as they were appended.
INSERT INTO engine_cursor (name, last_id)
SELECT 'projection', COALESCE(MAX(id), 0) FROM events;
