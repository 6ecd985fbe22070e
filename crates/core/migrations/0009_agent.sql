-- The sales agent's memory of each conversation (relay only; desks never run the bot), and
-- invoices whose message goes to the customer once their pay link exists.
CREATE TABLE agent_states (
    shop_uid        TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    customer_phone  TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (json_valid(state)),
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (shop_uid, customer_phone)
);
ALTER TABLE invoices ADD COLUMN notify_customer INTEGER NOT NULL DEFAULT 0 CHECK (notify_customer IN (0, 1));
ALTER TABLE conversations ADD COLUMN handoff_reason TEXT;
