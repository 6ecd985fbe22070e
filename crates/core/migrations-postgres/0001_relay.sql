-- The relay's schema on PostgreSQL: the tables SQLite's migrations 0001–0019 make, in
-- PostgreSQL's types. Every integer is BIGINT (Rust's i64), the flags are BOOLEAN, JSON and
-- payloads stay TEXT (served byte-exact, as stored), sealed secrets are BYTEA. A change to the
-- schema is a new migration in both folders.

CREATE TABLE shops (
    uid                    TEXT PRIMARY KEY,
    name                   TEXT NOT NULL CHECK (length(trim(name)) > 0),
    currency               TEXT NOT NULL CHECK (length(currency) = 3),
    timezone               TEXT NOT NULL,
    created_at             BIGINT NOT NULL,
    whatsapp_verify_token  TEXT
);

-- The log. Ids come from a sequence with CACHE 1, so every relay draws from one counter.
CREATE TABLE events (
    id           BIGSERIAL PRIMARY KEY,
    shop_uid     TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL CHECK (payload::json IS NOT NULL),
    provider_id  TEXT,
    created_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX events_provider_id ON events (shop_uid, provider_id)
    WHERE provider_id IS NOT NULL;
CREATE INDEX events_shop_cursor ON events (shop_uid, id);

CREATE TABLE conversations (
    id               BIGSERIAL PRIMARY KEY,
    shop_uid         TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    customer_phone   TEXT NOT NULL,
    customer_name    TEXT,
    bot_enabled      BOOLEAN NOT NULL DEFAULT TRUE,
    unread           BIGINT NOT NULL DEFAULT 0 CHECK (unread >= 0),
    handoff_reason   TEXT,
    last_inbound_at  BIGINT,
    opted_out        BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (shop_uid, customer_phone)
);

CREATE TABLE messages (
    id               BIGSERIAL PRIMARY KEY,
    conversation_id  BIGINT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    direction        TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    body             TEXT NOT NULL,
    sent_at          BIGINT NOT NULL,
    event_id         BIGINT,
    wamid            TEXT,
    author           TEXT,
    send_error       TEXT
);
CREATE INDEX messages_conversation ON messages (conversation_id, sent_at);
CREATE UNIQUE INDEX messages_event ON messages (event_id) WHERE event_id IS NOT NULL;
CREATE INDEX messages_wamid ON messages (wamid) WHERE wamid IS NOT NULL;
-- Search (SQLite's FTS5 table, `unicode61 remove_diacritics 2`): words without case or
-- accents, every word as a prefix, over a text-search index.
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE TEXT SEARCH CONFIGURATION ziflow_search (COPY = simple);
ALTER TEXT SEARCH CONFIGURATION ziflow_search
    ALTER MAPPING FOR hword, hword_part, word WITH unaccent, simple;
CREATE INDEX messages_search ON messages USING gin (to_tsvector('ziflow_search', body));

CREATE TABLE invoices (
    id                BIGSERIAL PRIMARY KEY,
    shop_uid          TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    number            BIGINT NOT NULL,
    customer_phone    TEXT NOT NULL,
    currency          TEXT NOT NULL CHECK (length(currency) = 3),
    shipping_minor    BIGINT NOT NULL DEFAULT 0 CHECK (shipping_minor >= 0),
    total_minor       BIGINT NOT NULL CHECK (total_minor >= 0),
    address           TEXT,
    status            TEXT NOT NULL DEFAULT 'draft' CHECK (status IN
                        ('draft', 'sent', 'paid', 'expired', 'refunded', 'partially_refunded', 'failed')),
    paid_via          TEXT CHECK (paid_via IN ('webhook', 'manual')),
    fulfilment_stage  TEXT CHECK (fulfilment_stage IN ('ready_to_ship', 'shipped', 'delivered')),
    created_at        BIGINT NOT NULL,
    sent_at           BIGINT,
    paid_at           BIGINT,
    pay_provider      TEXT,
    pay_link          TEXT,
    pay_token         TEXT,
    link_expires_at   BIGINT,
    kind              TEXT NOT NULL DEFAULT 'one_time' CHECK (kind IN ('one_time', 'subscription')),
    every_unit        TEXT CHECK (every_unit IN ('day', 'week', 'month')),
    every_count       BIGINT CHECK (every_count > 0),
    first_charge_at   BIGINT,
    link_ref          TEXT,
    payment_ref       TEXT,
    failed_at         BIGINT,
    expired_at        BIGINT,
    refunded_minor    BIGINT NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0),
    subscription_ref  TEXT,
    send_error        TEXT,
    notify_customer   BOOLEAN NOT NULL DEFAULT FALSE,
    reminders_sent    BIGINT NOT NULL DEFAULT 0 CHECK (reminders_sent >= 0),
    abandoned_at      BIGINT,
    UNIQUE (shop_uid, number)
);
CREATE INDEX invoices_shop_created ON invoices (shop_uid, created_at);
CREATE UNIQUE INDEX invoices_pay_token ON invoices (pay_token) WHERE pay_token IS NOT NULL;

CREATE TABLE invoice_items (
    id          BIGSERIAL PRIMARY KEY,
    invoice_id  BIGINT NOT NULL REFERENCES invoices(id) ON DELETE CASCADE,
    sku         TEXT NOT NULL,
    name        TEXT NOT NULL,
    variant     TEXT,
    qty         BIGINT NOT NULL CHECK (qty > 0),
    unit_minor  BIGINT NOT NULL CHECK (unit_minor >= 0)
);
CREATE INDEX invoice_items_invoice ON invoice_items (invoice_id);

CREATE TABLE settings (
    shop_uid  TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (shop_uid, key)
);

CREATE TABLE devices (
    id          BIGSERIAL PRIMARY KEY,
    shop_uid    TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    name        TEXT NOT NULL CHECK (length(trim(name)) > 0),
    role        TEXT NOT NULL CHECK (role IN ('owner', 'rep')),
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT,
    can         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX devices_shop ON devices (shop_uid);

CREATE TABLE command_results (
    shop_uid         TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    idempotency_key  TEXT NOT NULL,
    status           BIGINT NOT NULL,
    body             TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (shop_uid, idempotency_key)
);

CREATE TABLE engine_cursor (
    name     TEXT PRIMARY KEY,
    last_id  BIGINT NOT NULL CHECK (last_id >= 0)
);

CREATE TABLE jobs (
    id               BIGSERIAL PRIMARY KEY,
    shop_uid         TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    kind             TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL UNIQUE,
    payload          TEXT NOT NULL CHECK (payload::json IS NOT NULL),
    run_at           BIGINT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    state            TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    finished_at      BIGINT
);
CREATE INDEX jobs_due ON jobs (state, run_at);

CREATE TABLE products (
    shop_uid       TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    sku            TEXT NOT NULL CHECK (length(trim(sku)) > 0),
    name           TEXT NOT NULL CHECK (length(trim(name)) > 0),
    aliases        TEXT NOT NULL DEFAULT '[]' CHECK (aliases::json IS NOT NULL),
    price_minor    BIGINT NOT NULL CHECK (price_minor >= 0),
    variants       TEXT NOT NULL DEFAULT '[]' CHECK (variants::json IS NOT NULL),
    deposit_minor  BIGINT CHECK (deposit_minor >= 0),
    service        BOOLEAN NOT NULL DEFAULT FALSE,
    position       BIGINT NOT NULL,
    PRIMARY KEY (shop_uid, sku)
);

CREATE TABLE shipping_zones (
    shop_uid      TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    position      BIGINT NOT NULL,
    name          TEXT NOT NULL CHECK (length(trim(name)) > 0),
    price_minor   BIGINT NOT NULL CHECK (price_minor >= 0),
    cities        TEXT NOT NULL DEFAULT '[]' CHECK (cities::json IS NOT NULL),
    states        TEXT NOT NULL DEFAULT '[]' CHECK (states::json IS NOT NULL),
    zip_prefixes  TEXT NOT NULL DEFAULT '[]' CHECK (zip_prefixes::json IS NOT NULL),
    is_default    BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (shop_uid, position)
);

CREATE TABLE agent_states (
    shop_uid        TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    customer_phone  TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state::json IS NOT NULL),
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (shop_uid, customer_phone)
);

CREATE TABLE message_statuses (
    shop_uid  TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    wamid     TEXT NOT NULL,
    status    TEXT NOT NULL CHECK (status IN ('accepted', 'sent', 'delivered', 'read', 'failed')),
    at        BIGINT NOT NULL,
    error     TEXT,
    PRIMARY KEY (shop_uid, wamid, status)
);

CREATE TABLE leads (
    shop_uid    TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    phone       TEXT NOT NULL,
    stage       TEXT NOT NULL DEFAULT 'New',
    tags        TEXT NOT NULL DEFAULT '[]' CHECK (tags::json IS NOT NULL),
    fields      TEXT NOT NULL DEFAULT '{}' CHECK (fields::json IS NOT NULL),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (shop_uid, phone)
);

CREATE TABLE lead_history (
    id        BIGSERIAL PRIMARY KEY,
    shop_uid  TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    phone     TEXT NOT NULL,
    event_id  BIGINT NOT NULL,
    rule      TEXT,
    what      TEXT NOT NULL,
    at        BIGINT NOT NULL
);
CREATE INDEX lead_history_lead ON lead_history (shop_uid, phone, id);

CREATE TABLE automation_runs (
    shop_uid  TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    rule      TEXT NOT NULL,
    event_id  BIGINT NOT NULL,
    PRIMARY KEY (shop_uid, rule, event_id)
);

CREATE TABLE shop_secrets (
    shop_uid  TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    name      TEXT NOT NULL CHECK (name IN ('stripe_webhook_secret', 'whatsapp_app_secret',
                                            'stripe_api_key', 'whatsapp_access_token',
                                            'llm_api_key', 'telegram_bot_token',
                                            'slack_webhook_url', 'smtp_password')),
    sealed    BYTEA NOT NULL,
    PRIMARY KEY (shop_uid, name)
);

-- `id` orders notifications written in the same second (SQLite's rowid).
CREATE TABLE notifications (
    id        BIGSERIAL UNIQUE,
    shop_uid  TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    key       TEXT NOT NULL,
    channel   TEXT NOT NULL,
    text      TEXT NOT NULL,
    phone     TEXT,
    state     TEXT NOT NULL CHECK (state IN ('sent', 'retrying', 'failed')),
    attempts  BIGINT NOT NULL,
    answer    TEXT NOT NULL,
    at        BIGINT NOT NULL,
    PRIMARY KEY (shop_uid, key)
);
CREATE INDEX notifications_recent ON notifications (shop_uid, at);

CREATE TABLE quarantined_events (
    event_id        BIGINT PRIMARY KEY,
    shop_uid        TEXT NOT NULL,
    kind            TEXT NOT NULL,
    reason          TEXT NOT NULL,
    tries           BIGINT NOT NULL,
    quarantined_at  BIGINT NOT NULL
);
CREATE INDEX quarantined_events_shop ON quarantined_events (shop_uid);

CREATE TABLE payments (
    id            BIGSERIAL PRIMARY KEY,
    shop_uid      TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    invoice_id    BIGINT REFERENCES invoices(id) ON DELETE SET NULL,
    provider      TEXT NOT NULL,
    outcome       TEXT NOT NULL CHECK (outcome IN ('succeeded', 'failed', 'refunded',
                                                   'mismatch', 'wrong_provider', 'test_mode')),
    amount_minor  BIGINT NOT NULL,
    currency      TEXT NOT NULL CHECK (length(currency) = 3),
    occurred_at   BIGINT NOT NULL,
    source_event  BIGINT
);
CREATE INDEX payments_shop_time ON payments (shop_uid, occurred_at);
CREATE INDEX payments_source_event ON payments (source_event) WHERE source_event IS NOT NULL;

CREATE TABLE agent_tests (
    id          BIGSERIAL PRIMARY KEY,
    shop_uid    TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    messages    TEXT NOT NULL CHECK (messages::json IS NOT NULL),
    expect      TEXT NOT NULL CHECK (expect::json IS NOT NULL),
    created_at  BIGINT NOT NULL
);
CREATE INDEX agent_tests_shop ON agent_tests (shop_uid, id);
