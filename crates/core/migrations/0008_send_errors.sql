-- Why an invoice's pay link could not be made (the provider refused, or gave up after its
-- retries), until a later attempt succeeds. Desks show it on the invoice.
ALTER TABLE invoices ADD COLUMN send_error TEXT;
