-- The optional phrasing model's API key joins the sealed secrets (SQLite cannot change a CHECK).
CREATE TABLE shop_secrets_new (
    shop_uid  TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    name      TEXT NOT NULL CHECK (name IN ('stripe_webhook_secret', 'whatsapp_app_secret',
                                            'stripe_api_key', 'whatsapp_access_token',
                                            'llm_api_key')),
    sealed    BLOB NOT NULL,
    PRIMARY KEY (shop_uid, name)
);
INSERT INTO shop_secrets_new (shop_uid, name, sealed) SELECT shop_uid, name, sealed FROM shop_secrets;
DROP TABLE shop_secrets;
ALTER TABLE shop_secrets_new RENAME TO shop_secrets;
