-- balances_query.sql for PostgreSQL (schema: balances_schema_postgresql.sql):
--   onhandpub publish --source postgresql://... --query balances_query_postgresql.sql
-- The parameters are typed: :organization_code, :system_code, :items and
-- :mode text, :window_start and :snapshot_date timestamptz (the window start
-- NULL in a full run).  The window is a key-level EXISTS, so that an
-- incremental run gets every row of a key any of whose rows changed.
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
    (SELECT string_agg(s.serial, ',' ORDER BY s.seq)
       FROM balance_serials s WHERE s.balance_id = b.id) AS SERIAL_NUMBERS,
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
  AND (:items = 'both' OR (:items = 'serial') = b.serial_controlled)
  AND (:window_start IS NULL OR EXISTS (
        SELECT 1 FROM balances c
         WHERE c.organization_code = b.organization_code
           AND c.item_number = b.item_number
           AND c.revision IS NOT DISTINCT FROM b.revision
           AND c.subinventory_code = b.subinventory_code
           AND c.locator_id IS NOT DISTINCT FROM b.locator_id
           AND c.locator_name IS NOT DISTINCT FROM b.locator_name
           AND c.lot_number IS NOT DISTINCT FROM b.lot_number
           AND c.owning_party_id IS NOT DISTINCT FROM b.owning_party_id
           AND c.last_update_date >= :window_start))
ORDER BY b.id;
