-- Owner-run bot tests (AI Agent → Bot tests): a conversation the owner marked as a test and
-- the ending it must have. Projected from `agent_test.saved` (its event id is the test's id)
-- and `agent_test.deleted`, on the relay and in every replica.
CREATE TABLE agent_tests (
    id          INTEGER PRIMARY KEY,
    shop_uid    TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    messages    TEXT NOT NULL CHECK (json_valid(messages)),
    expect      TEXT NOT NULL CHECK (json_valid(expect)),
    created_at  INTEGER NOT NULL
);
CREATE INDEX agent_tests_shop ON agent_tests (shop_uid, id);
