-- Payments: invoice kinds (one-time, subscription), the facts an invoice's status is computed
-- from (so provider events reach the same state in any order), the provider's ids for the
-- link and the payment, durable outbound jobs, and the Stripe API key among the secrets.

ALTER TABLE invoices ADD COLUMN kind TEXT NOT NULL DEFAULT 'one_time'
    CHECK (kind IN ('one_time', 'subscription'));
-- Subscriptions: the cadence ('day' | 'week' | 'month') times `every`, and the first charge.
ALTER TABLE invoices ADD COLUMN every_unit TEXT CHECK (every_unit IN ('day', 'week', 'month'));
ALTER TABLE invoices ADD COLUMN every_count INTEGER CHECK (every_count > 0);
ALTER TABLE invoices ADD COLUMN first_charge_at INTEGER;
-- The provider's id of the pay link (a Stripe payment link `plink_…`), to deactivate it.
ALTER TABLE invoices ADD COLUMN link_ref TEXT;
-- The provider's id of the payment (`pi_…`), to refund it.
ALTER TABLE invoices ADD COLUMN payment_ref TEXT;
-- Facts; `status` is derived from them (see storage::invoices::settle).
ALTER TABLE invoices ADD COLUMN failed_at INTEGER;
ALTER TABLE invoices ADD COLUMN expired_at INTEGER;
ALTER TABLE invoices ADD COLUMN refunded_minor INTEGER NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0);

-- Outbound work (create a pay link, deactivate it when it expires, refund): one row per
-- step, committed with what caused it. `idempotency_key` is also the key sent to the
-- provider, so a retry after a crash or a timeout never does the work twice.
CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_uid         TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    kind             TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL UNIQUE,
    payload          TEXT NOT NULL CHECK (json_valid(payload)),
    run_at           INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    state            TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    finished_at      INTEGER
);
CREATE INDEX jobs_due ON jobs (state, run_at);

-- SQLite cannot change a CHECK: the secrets table is rebuilt with the Stripe API key allowed.
CREATE TABLE shop_secrets_new (
    shop_uid  TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    name      TEXT NOT NULL CHECK (name IN ('stripe_webhook_secret', 'whatsapp_app_secret', 'stripe_api_key')),
    sealed    BLOB NOT NULL,
    PRIMARY KEY (shop_uid, name)
);
INSERT INTO shop_secrets_new (shop_uid, name, sealed) SELECT shop_uid, name, sealed FROM shop_secrets;
DROP TABLE shop_secrets;
ALTER TABLE shop_secrets_new RENAME TO shop_secrets;
