-- The balances of one organization for `onhandpub publish --source
-- sqlite:DB --query balances_query.sql` (schema: balances_schema.sql).
--
-- Columns are named like the balances input (docs/job.md); the library
-- checks every rule itself, so the filters below only spare it rows:
--   :organization_code  the run's organization
--   :items              'both', 'serial' or 'nonserial'
--   :window_start       NULL in a full run; else the start of the window,
--                       'YYYY-MM-DD HH:MM:SS' UTC
--
-- An incremental run must get whole keys: every row of a balance key any
-- of whose rows changed in the window, not just the changed rows (the
-- receiver replaces a key with what the snapshot holds for it).  So the
-- window is a key-level EXISTS over the key's columns (NULL-safe: IS), not
-- a filter on the row's own date.
SELECT
    b.organization_id      AS ORGANIZATION_ID,
    b.organization_code    AS ORGANIZATION_CODE,
    b.inventory_item_id    AS INVENTORY_ITEM_ID,
    b.item_number          AS ITEM_NUMBER,
    b.revision             AS REVISION,
    b.subinventory_code    AS SUBINVENTORY_CODE,
    b.locator_id           AS LOCATOR_ID,
    b.locator_name         AS LOCATOR_NAME,
    b.lot_number           AS LOT_NUMBER,
    b.lot_expiration_date  AS LOT_EXPIRATION_DATE,
    b.serial_controlled    AS SERIAL_CONTROLLED,
    (SELECT group_concat(serial, ',')
       FROM (SELECT s.serial FROM balance_serials s
              WHERE s.balance_id = b.id ORDER BY s.seq)) AS SERIAL_NUMBERS,
    b.primary_quantity     AS PRIMARY_QUANTITY,
    b.primary_uom_code     AS PRIMARY_UOM_CODE,
    b.secondary_quantity   AS SECONDARY_QUANTITY,
    b.secondary_uom_code   AS SECONDARY_UOM_CODE,
    b.consigned_flag       AS CONSIGNED_FLAG,
    b.owning_party_id      AS OWNING_PARTY_ID,
    b.project_id           AS PROJECT_ID,
    b.task_id              AS TASK_ID,
    b.material_status_code AS MATERIAL_STATUS_CODE,
    b.last_update_date     AS LAST_UPDATE_DATE
FROM balances b
WHERE b.organization_code = :organization_code
  AND (:items = 'both' OR (:items = 'serial') = (b.serial_controlled = 'Y'))
  AND (:window_start IS NULL OR EXISTS (
        SELECT 1 FROM balances c
         WHERE c.organization_code = b.organization_code
           AND c.item_number = b.item_number
           AND c.revision IS b.revision
           AND c.subinventory_code = b.subinventory_code
           AND c.locator_id IS b.locator_id
           AND c.locator_name IS b.locator_name
           AND c.lot_number IS b.lot_number
           AND c.owning_party_id IS b.owning_party_id
           AND c.last_update_date >= :window_start))
ORDER BY b.id;
