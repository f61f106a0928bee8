-- On-hand balances from Odoo's stock tables (Odoo 16 and later: stock_lot,
-- translatable names as jsonb) for
--   onhandpub publish --source postgresql://.../odoo --query odoo_stock_quant_postgresql.sql
--
-- The mapping:
--   organization  a warehouse (stock_warehouse.code; --org WH)
--   item          a product variant (product_product.default_code, else product-<id>)
--   subinventory  the first location under the warehouse ("Stock" of WH/Stock/...)
--   locator       the quant's location (its complete_name)
--   lot           the lot of a lot-tracked product; the serial numbers of a
--                 serial-tracked one are listed in SERIAL_NUMBERS instead
--   owner         the quant's owner (consigned stock: CONSIGNED_FLAG Y)
--   quantity      the sum of the quants of the key, in the product's unit
--   last update   the latest write_date of the key's quants (Odoo keeps UTC)
-- One row per balance key, so a key whose quants changed in the window comes
-- whole: the window is a HAVING on the key's latest change.  Only internal
-- locations hold on-hand stock.
SELECT
    w.id                                            AS ORGANIZATION_ID,
    w.code                                          AS ORGANIZATION_CODE,
    p.id                                            AS INVENTORY_ITEM_ID,
    coalesce(p.default_code, 'product-' || p.id)    AS ITEM_NUMBER,
    split_part(l.complete_name, '/', 2)             AS SUBINVENTORY_CODE,
    l.id                                            AS LOCATOR_ID,
    l.complete_name                                 AS LOCATOR_NAME,
    CASE WHEN t.tracking = 'lot' THEN lot.name END  AS LOT_NUMBER,
    CASE WHEN t.tracking = 'lot' THEN lot.expiration_date::date END
                                                    AS LOT_EXPIRATION_DATE,
    t.tracking = 'serial'                           AS SERIAL_CONTROLLED,
    CASE WHEN t.tracking = 'serial'
         THEN string_agg(lot.name, ',' ORDER BY lot.name) FILTER (WHERE q.quantity > 0)
    END                                             AS SERIAL_NUMBERS,
    CASE WHEN t.tracking = 'serial'
         THEN count(*) FILTER (WHERE q.quantity > 0)::numeric
         ELSE sum(q.quantity)
    END                                             AS PRIMARY_QUANTITY,
    u.name ->> 'en_US'                              AS PRIMARY_UOM_CODE,
    q.owner_id IS NOT NULL                          AS CONSIGNED_FLAG,
    q.owner_id                                      AS OWNING_PARTY_ID,
    max(q.write_date)                               AS LAST_UPDATE_DATE
FROM stock_quant q
JOIN stock_location l      ON l.id = q.location_id AND l.usage = 'internal'
JOIN stock_warehouse w     ON w.id = l.warehouse_id
JOIN product_product p     ON p.id = q.product_id
JOIN product_template t    ON t.id = p.product_tmpl_id
JOIN uom_uom u             ON u.id = t.uom_id
LEFT JOIN stock_lot lot    ON lot.id = q.lot_id
WHERE w.code = :organization_code
  AND (:items = 'both' OR (:items = 'serial') = (t.tracking = 'serial'))
GROUP BY w.id, w.code, p.id, p.default_code, l.id, l.complete_name, t.tracking, u.name,
         q.owner_id, CASE WHEN t.tracking = 'lot' THEN lot.name END,
         CASE WHEN t.tracking = 'lot' THEN lot.expiration_date::date END
HAVING :window_start IS NULL OR max(q.write_date) >= :window_start
ORDER BY ITEM_NUMBER, LOCATOR_NAME, LOT_NUMBER, OWNING_PARTY_ID;
