/* PSV encoding, layout v1. */
#include "ohp_internal.h"

#include <string.h>

const char ohp_psv_header_v1[] =
    "EXTERNAL_SYSTEM_CODE|PUBLISH_RUN_ID|PUBLISH_MODE|SNAPSHOT_DATE|ORGANIZATION_ID|"
    "ORGANIZATION_CODE|INVENTORY_ITEM_ID|ITEM_NUMBER|REVISION|SUBINVENTORY_CODE|LOCATOR_ID|"
    "LOCATOR_NAME|LOT_NUMBER|LOT_EXPIRATION_DATE|SERIAL_CONTROLLED|SERIAL_NUMBER|"
    "PRIMARY_QUANTITY|PRIMARY_UOM_CODE|SECONDARY_QUANTITY|SECONDARY_UOM_CODE|CONSIGNED_FLAG|"
    "OWNING_PARTY_ID|PROJECT_ID|TASK_ID|MATERIAL_STATUS_CODE|LAST_UPDATE_DATE\n";

int ohp_psv_append_field(ohp_buf *b, const ohp_alloc *a, const char *s, size_t len)
{
    bool quote = ohp_psv_needs_quote(s, len);
    /* Worst case every byte is a quote. */
    int rc = ohp_buf_reserve(b, a, OHP_PSV_FIELD_ROOM(len, quote));
    if (rc)
        return rc;
    b->len = (size_t)(ohp_psv_put_field(b->data + b->len, s, len, quote) - b->data);
    return OHP_OK;
}
