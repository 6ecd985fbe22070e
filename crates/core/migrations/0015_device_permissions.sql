-- What a rep's device may do beyond running the day: a comma-separated list of permissions
-- the owner granted (`refund`, `mark_paid`). Owners' devices may do everything.
ALTER TABLE devices ADD COLUMN can TEXT NOT NULL DEFAULT '';
