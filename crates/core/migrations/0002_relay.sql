-- The relay's own tables: devices that may sync a shop, the shop's provider secrets
-- (sealed with the operator's master key), and remembered command results.

ALTER TABLE shops ADD COLUMN whatsapp_verify_token TEXT;

CREATE TABLE devices (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_uid    TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    name        TEXT NOT NULL CHECK (length(trim(name)) > 0),
    role        TEXT NOT NULL CHECK (role IN ('owner', 'rep')),
    -- Hex SHA-256 of the bearer token. The token itself is shown once and never stored.
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX devices_shop ON devices (shop_uid);

CREATE TABLE shop_secrets (
    shop_uid  TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    name      TEXT NOT NULL CHECK (name IN ('stripe_webhook_secret', 'whatsapp_app_secret')),
    -- nonce (24 bytes) || XChaCha20-Poly1305 ciphertext, bound to shop and name.
    sealed    BLOB NOT NULL,
    PRIMARY KEY (shop_uid, name)
);

CREATE TABLE command_results (
    shop_uid         TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    idempotency_key  TEXT NOT NULL,
    status           INTEGER NOT NULL,
    body             TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (shop_uid, idempotency_key)
);
