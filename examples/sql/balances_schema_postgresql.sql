-- balances_schema.sql for PostgreSQL: the same tables, with PostgreSQL's
-- types.  Quantities are numeric (exact), times timestamptz, the flags
-- boolean; onhandpub reads each of them exactly (docs/cli.md, "Databases").
CREATE TABLE balances (
    id                   bigserial PRIMARY KEY,
    organization_id      bigint,
    organization_code    text NOT NULL,
    inventory_item_id    bigint,
    item_number          text NOT NULL,
    revision             text,
    subinventory_code    text NOT NULL,
    locator_id           bigint,
    locator_name         text,
    lot_number           text,
    lot_expiration_date  date,
    serial_controlled    boolean NOT NULL,
    primary_quantity     numeric NOT NULL,
    primary_uom_code     text NOT NULL,
    secondary_quantity   numeric,
    secondary_uom_code   text,
    consigned_flag       boolean NOT NULL DEFAULT false,
    owning_party_id      bigint,
    project_id           bigint,
    task_id              bigint,
    material_status_code text,
    last_update_date     timestamptz NOT NULL
);

CREATE TABLE balance_serials (
    balance_id bigint NOT NULL REFERENCES balances (id),
    seq        integer NOT NULL,
    serial     text NOT NULL,
    PRIMARY KEY (balance_id, seq)
);

CREATE INDEX balances_key ON balances (organization_code, item_number, subinventory_code);
CREATE INDEX balances_changed ON balances (organization_code, last_update_date);
