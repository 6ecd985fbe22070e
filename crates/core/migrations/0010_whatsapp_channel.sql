-- The WhatsApp Cloud API channel: each outbound message knows the log event that recorded it
-- and the provider's id (wamid) once sent; statuses arrive by wamid in any order and are kept
-- apart so one that comes before the send is recorded still counts. Conversations remember
-- when the customer last wrote (the 24-hour window) and whether they opted out.
ALTER TABLE messages ADD COLUMN event_id INTEGER;
ALTER TABLE messages ADD COLUMN wamid TEXT;
ALTER TABLE messages ADD COLUMN author TEXT;
ALTER TABLE messages ADD COLUMN send_error TEXT;
CREATE UNIQUE INDEX messages_event ON messages (event_id) WHERE event_id IS NOT NULL;
CREATE INDEX messages_wamid ON messages (wamid) WHERE wamid IS NOT NULL;

CREATE TABLE message_statuses (
    shop_uid   TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    wamid      TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('accepted', 'sent', 'delivered', 'read', 'failed')),
    at         INTEGER NOT NULL,
    error      TEXT,
    PRIMARY KEY (shop_uid, wamid, status)
);

ALTER TABLE conversations ADD COLUMN last_inbound_at INTEGER;
ALTER TABLE conversations ADD COLUMN opted_out INTEGER NOT NULL DEFAULT 0 CHECK (opted_out IN (0, 1));

-- Search across every message (Inbox, Ctrl+K).
CREATE VIRTUAL TABLE messages_fts USING fts5 (body, content = 'messages', content_rowid = 'id',
                                              tokenize = 'unicode61 remove_diacritics 2');
INSERT INTO messages_fts (rowid, body) SELECT id, body FROM messages;
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, body) VALUES (new.id, new.body);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
END;

-- The WhatsApp access token joins the sealed secrets (SQLite cannot change a CHECK).
CREATE TABLE shop_secrets_new (
    shop_uid  TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    name      TEXT NOT NULL CHECK (name IN ('stripe_webhook_secret', 'whatsapp_app_secret',
                                            'stripe_api_key', 'whatsapp_access_token')),
    sealed    BLOB NOT NULL,
    PRIMARY KEY (shop_uid, name)
);
INSERT INTO shop_secrets_new (shop_uid, name, sealed) SELECT shop_uid, name, sealed FROM shop_secrets;
DROP TABLE shop_secrets;
ALTER TABLE shop_secrets_new RENAME TO shop_secrets;
