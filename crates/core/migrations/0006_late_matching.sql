-- Provider events that name no invoice directly (a subscription's invoices on some Stripe
-- versions, and localstripe's) are matched once an event links their subscription to an
-- invoice; the payment rows they caused are matched then.
ALTER TABLE invoices ADD COLUMN subscription_ref TEXT;
ALTER TABLE payments ADD COLUMN source_event INTEGER;
CREATE INDEX payments_source_event ON payments (source_event) WHERE source_event IS NOT NULL;
