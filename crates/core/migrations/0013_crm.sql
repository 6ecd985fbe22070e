-- The CRM: one lead per customer phone, with a stage, tags and custom fields, all derived from
-- the event log by the automation rules (so relay and desks hold the same leads), a history of
-- what happened to each lead, and which rule ran for which event (each exactly once).
CREATE TABLE leads (
    shop_uid    TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    phone       TEXT NOT NULL,
    stage       TEXT NOT NULL DEFAULT 'New',
    tags        TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(tags)),
    fields      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(fields)),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (shop_uid, phone)
);

CREATE TABLE lead_history (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_uid  TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    phone     TEXT NOT NULL,
    event_id  INTEGER NOT NULL,
    rule      TEXT,
    what      TEXT NOT NULL,
    at        INTEGER NOT NULL
);
CREATE INDEX lead_history_lead ON lead_history (shop_uid, phone, id);

CREATE TABLE automation_runs (
    shop_uid  TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    rule      TEXT NOT NULL,
    event_id  INTEGER NOT NULL,
    PRIMARY KEY (shop_uid, rule, event_id)
);
