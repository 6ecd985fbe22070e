-- The WhatsApp per-number rate for the whole cluster: the time (microseconds, the database's
-- clock) from which the number's next message may go. Relays on SQLite keep it in memory.
CREATE TABLE send_slots (
    number   TEXT PRIMARY KEY,
    next_us  BIGINT NOT NULL
);
