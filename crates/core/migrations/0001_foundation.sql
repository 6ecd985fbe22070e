-- The foundation schema: shops, the append-only event log, and the first projections the
-- desktop screens read. Never edit this file once released; add a new migration instead.

CREATE TABLE shops (
    uid         TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL CHECK (length(trim(name)) > 0),
    currency    TEXT NOT NULL CHECK (length(currency) = 3),
    timezone    TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

-- Every fact is an event. `id` is the sync cursor: AUTOINCREMENT guarantees ids are never
-- reused, so a device's cursor only ever moves forward.
CREATE TABLE events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_uid     TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL CHECK (json_valid(payload)),
    -- The provider's own id (Stripe event id, WhatsApp wamid): a redelivery is stored once.
    provider_id  TEXT,
    created_at   INTEGER NOT NULL
);
CREATE UNIQUE INDEX events_provider_id ON events (shop_uid, provider_id)
    WHERE provider_id IS NOT NULL;
CREATE INDEX events_shop_cursor ON events (shop_uid, id);

CREATE TABLE conversations (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_uid        TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    customer_phone  TEXT NOT NULL,
    customer_name   TEXT,
    bot_enabled     INTEGER NOT NULL DEFAULT 1 CHECK (bot_enabled IN (0, 1)),
    unread          INTEGER NOT NULL DEFAULT 0 CHECK (unread >= 0),
    UNIQUE (shop_uid, customer_phone)
);

CREATE TABLE messages (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id  INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    direction        TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    body             TEXT NOT NULL,
    sent_at          INTEGER NOT NULL
);
CREATE INDEX messages_conversation ON messages (conversation_id, sent_at);

CREATE TABLE invoices (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_uid          TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    number            INTEGER NOT NULL,
    customer_phone    TEXT NOT NULL,
    currency          TEXT NOT NULL CHECK (length(currency) = 3),
    shipping_minor    INTEGER NOT NULL DEFAULT 0 CHECK (shipping_minor >= 0),
    total_minor       INTEGER NOT NULL CHECK (total_minor >= 0),
    address           TEXT,
    status            TEXT NOT NULL DEFAULT 'draft' CHECK (status IN
                        ('draft', 'sent', 'paid', 'expired', 'refunded', 'partially_refunded', 'failed')),
    -- 'webhook' when a provider event marked it paid, 'manual' when a person did.
    paid_via          TEXT CHECK (paid_via IN ('webhook', 'manual')),
    fulfilment_stage  TEXT CHECK (fulfilment_stage IN ('ready_to_ship', 'shipped', 'delivered')),
    created_at        INTEGER NOT NULL,
    sent_at           INTEGER,
    paid_at           INTEGER,
    UNIQUE (shop_uid, number)
);
CREATE INDEX invoices_shop_created ON invoices (shop_uid, created_at);

CREATE TABLE invoice_items (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    invoice_id   INTEGER NOT NULL REFERENCES invoices(id) ON DELETE CASCADE,
    sku          TEXT NOT NULL,
    name         TEXT NOT NULL,
    variant      TEXT,
    qty          INTEGER NOT NULL CHECK (qty > 0),
    unit_minor   INTEGER NOT NULL CHECK (unit_minor >= 0)
);

CREATE TABLE payments (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_uid       TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    invoice_id     INTEGER REFERENCES invoices(id) ON DELETE SET NULL,
    provider       TEXT NOT NULL,
    outcome        TEXT NOT NULL CHECK (outcome IN ('succeeded', 'failed', 'refunded')),
    amount_minor   INTEGER NOT NULL,
    currency       TEXT NOT NULL CHECK (length(currency) = 3),
    occurred_at    INTEGER NOT NULL
);
CREATE INDEX payments_shop_time ON payments (shop_uid, occurred_at);

CREATE TABLE settings (
    shop_uid  TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (shop_uid, key)
);
