-- Provider events kept in the feed but not applied: a payment whose amount or currency differ
-- from its invoice (`mismatch`), an event from a provider that did not make the invoice's link
-- (`wrong_provider`), a test-mode event for a live shop (`test_mode`). SQLite cannot change a
-- CHECK, so the table is rebuilt with the same rows.
CREATE TABLE payments_new (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_uid       TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    invoice_id     INTEGER REFERENCES invoices(id) ON DELETE SET NULL,
    provider       TEXT NOT NULL,
    outcome        TEXT NOT NULL CHECK (outcome IN ('succeeded', 'failed', 'refunded',
                                                    'mismatch', 'wrong_provider', 'test_mode')),
    amount_minor   INTEGER NOT NULL,
    currency       TEXT NOT NULL CHECK (length(currency) = 3),
    occurred_at    INTEGER NOT NULL,
    source_event   INTEGER
);
INSERT INTO payments_new (id, shop_uid, invoice_id, provider, outcome, amount_minor, currency,
                          occurred_at, source_event)
    SELECT id, shop_uid, invoice_id, provider, outcome, amount_minor, currency, occurred_at,
           source_event
    FROM payments;
DROP TABLE payments;
ALTER TABLE payments_new RENAME TO payments;
CREATE INDEX payments_shop_time ON payments (shop_uid, occurred_at);
CREATE INDEX payments_source_event ON payments (source_event) WHERE source_event IS NOT NULL;
