-- Payment reminders: how many went out per invoice, and when the last one left it abandoned.
ALTER TABLE invoices ADD COLUMN reminders_sent INTEGER NOT NULL DEFAULT 0 CHECK (reminders_sent >= 0);
ALTER TABLE invoices ADD COLUMN abandoned_at INTEGER;
