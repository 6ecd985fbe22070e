-- The pay link an invoice was sent with: one per invoice, never a second one.
ALTER TABLE invoices ADD COLUMN pay_provider TEXT;
ALTER TABLE invoices ADD COLUMN pay_link TEXT;
-- The sandbox pay page's address (`/sandbox/pay/{token}`); provider links have their own ids.
ALTER TABLE invoices ADD COLUMN pay_token TEXT;
ALTER TABLE invoices ADD COLUMN link_expires_at INTEGER;
CREATE UNIQUE INDEX invoices_pay_token ON invoices (pay_token) WHERE pay_token IS NOT NULL;
