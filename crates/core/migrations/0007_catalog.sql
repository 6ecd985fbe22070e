-- The shop's catalog and shipping zones, as the invoice composer and (later) the agent read
-- them. Replaced as a whole by a `catalog.replaced` event, so relay and desks agree.
CREATE TABLE products (
    shop_uid       TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    sku            TEXT NOT NULL CHECK (length(trim(sku)) > 0),
    name           TEXT NOT NULL CHECK (length(trim(name)) > 0),
    aliases        TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(aliases)),
    price_minor    INTEGER NOT NULL CHECK (price_minor >= 0),
    variants       TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(variants)),
    deposit_minor  INTEGER CHECK (deposit_minor >= 0),
    service        INTEGER NOT NULL DEFAULT 0 CHECK (service IN (0, 1)),
    position       INTEGER NOT NULL,
    PRIMARY KEY (shop_uid, sku)
);

CREATE TABLE shipping_zones (
    shop_uid      TEXT NOT NULL REFERENCES shops(uid) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    name          TEXT NOT NULL CHECK (length(trim(name)) > 0),
    price_minor   INTEGER NOT NULL CHECK (price_minor >= 0),
    cities        TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(cities)),
    states        TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(states)),
    zip_prefixes  TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(zip_prefixes)),
    is_default    INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
    PRIMARY KEY (shop_uid, position)
);
