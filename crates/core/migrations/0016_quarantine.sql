-- Events the relay's engine set aside: applying them failed the same way several times (a
-- constraint they break, a panic). Their effects are not applied; the events stay in the log.
CREATE TABLE quarantined_events (
    event_id       INTEGER PRIMARY KEY,
    shop_uid       TEXT NOT NULL,
    kind           TEXT NOT NULL,
    reason         TEXT NOT NULL,
    tries          INTEGER NOT NULL,
    quarantined_at INTEGER NOT NULL
);
CREATE INDEX quarantined_events_shop ON quarantined_events (shop_uid);
