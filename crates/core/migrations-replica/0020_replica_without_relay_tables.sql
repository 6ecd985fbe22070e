-- A desktop replica keeps only what it shows: the projections of the shop's event log. The
-- tables below belong to the relay alone (device tokens, sealed secrets, answers to device
-- commands, the engine's cursor, the job queue, quarantined events); the shared history
-- (migrations/0001-0019) created them on replicas too, and this removes them.
--
-- Guard: a database that holds relay state (a device, a secret or a job) is a relay's, not a
-- replica's; the CHECK fails and the whole migration rolls back, dropping nothing.
CREATE TEMP TABLE replica_guard (
    relay_rows INTEGER NOT NULL CHECK (relay_rows = 0)
);
INSERT INTO replica_guard (relay_rows)
SELECT (SELECT COUNT(*) FROM devices) + (SELECT COUNT(*) FROM shop_secrets)
     + (SELECT COUNT(*) FROM jobs);
DROP TABLE replica_guard;

DROP TABLE command_results;
DROP TABLE devices;
DROP TABLE engine_cursor;
DROP TABLE jobs;
DROP TABLE quarantined_events;
DROP TABLE shop_secrets;
