-- A balances schema as an ERP keeps it: one row per balance, the serial
-- numbers of a serial-controlled balance in a child table, one row per
-- serial number or range ("FROM..TO"), in the order they are listed.
-- Quantities are TEXT: exact decimals, never floating point.  Times are
-- UTC, as "YYYY-MM-DD HH:MM:SS" (SQLite's own form).
CREATE TABLE balances (
    id                   INTEGER PRIMARY KEY,
    organization_id      INTEGER,
    organization_code    TEXT NOT NULL,
    inventory_item_id    INTEGER,
    item_number          TEXT NOT NULL,
    revision             TEXT,
    subinventory_code    TEXT NOT NULL,
    locator_id           INTEGER,
    locator_name         TEXT,
    lot_number           TEXT,
    lot_expiration_date  TEXT,
    serial_controlled    TEXT NOT NULL CHECK (serial_controlled IN ('Y', 'N')),
    primary_quantity     TEXT NOT NULL,
    primary_uom_code     TEXT NOT NULL,
    secondary_quantity   TEXT,
    secondary_uom_code   TEXT,
    consigned_flag       TEXT NOT NULL DEFAULT 'N' CHECK (consigned_flag IN ('Y', 'N')),
    owning_party_id      INTEGER,
    project_id           INTEGER,
    task_id              INTEGER,
    material_status_code TEXT,
    last_update_date     TEXT NOT NULL
);

CREATE TABLE balance_serials (
    balance_id INTEGER NOT NULL REFERENCES balances (id),
    seq        INTEGER NOT NULL,
    serial     TEXT NOT NULL,
    PRIMARY KEY (balance_id, seq)
);

-- The incremental query looks up the rows of a key by these columns.
CREATE INDEX balances_key ON balances (organization_code, item_number, subinventory_code);
CREATE INDEX balances_changed ON balances (organization_code, last_update_date);
