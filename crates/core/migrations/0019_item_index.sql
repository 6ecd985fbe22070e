-- The invoice list and the board read every invoice's line items in one query; without this
-- index each lookup by invoice scanned the whole table.
CREATE INDEX IF NOT EXISTS invoice_items_invoice ON invoice_items (invoice_id);
