-- Notification channels' secrets join the sealed secrets (SQLite cannot change a CHECK), and
-- each notification's latest state (one row per job key) for Settings → Notifications.
CREATE TABLE shop_secrets_new (
    shop_uid  TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    name      TEXT NOT NULL CHECK (name IN ('stripe_webhook_secret', 'whatsapp_app_secret',
                                            'stripe_api_key', 'whatsapp_access_token',
                                            'llm_api_key', 'telegram_bot_token',
                                            'slack_webhook_url', 'smtp_password')),
    sealed    BLOB NOT NULL,
    PRIMARY KEY (shop_uid, name)
);
INSERT INTO shop_secrets_new (shop_uid, name, sealed) SELECT shop_uid, name, sealed FROM shop_secrets;
DROP TABLE shop_secrets;
ALTER TABLE shop_secrets_new RENAME TO shop_secrets;

CREATE TABLE notifications (
    shop_uid  TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    key       TEXT NOT NULL,
    channel   TEXT NOT NULL,
    text      TEXT NOT NULL,
    phone     TEXT,
    state     TEXT NOT NULL CHECK (state IN ('sent', 'retrying', 'failed')),
    attempts  INTEGER NOT NULL,
    answer    TEXT NOT NULL,
    at        INTEGER NOT NULL,
    PRIMARY KEY (shop_uid, key)
);
CREATE INDEX notifications_recent ON notifications (shop_uid, at);
