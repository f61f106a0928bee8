/* Layout v1's tables, generated from the one column list in layout.h. */
#include "layout.h"

#define NAME_(name, kind) #name,
const char *const ohp_v1_names[OHP_V1_NCOLS] = {OHP_LAYOUT_V1(NAME_, NAME_, NAME_)};

#define KIND_(name, kind) kind,
const unsigned char ohp_v1_kinds[OHP_V1_NCOLS] = {OHP_LAYOUT_V1(KIND_, KIND_, KIND_)};

#define HEAD_FIRST_(name, kind) #name
#define HEAD_NEXT_(name, kind) "|" #name
const char ohp_psv_header_v1[] = OHP_LAYOUT_V1(HEAD_FIRST_, HEAD_NEXT_, HEAD_NEXT_) "\n";

#define INPUT_(name, kind)                                                                         \
    [OHP_COL_##name - OHP_IN_FIRST] =                                                              \
        OHP_COL_##name == OHP_COL_SERIAL_NUMBER ? "SERIAL_NUMBERS" : #name,
#define SKIP_(name, kind)

const char *const ohp_input_names[OHP_IN_NCOLS] = {OHP_LAYOUT_V1(SKIP_, SKIP_, INPUT_)};

bool ohp_input_required(int i)
{
    switch (i + OHP_IN_FIRST) {
    case OHP_COL_ORGANIZATION_CODE:
    case OHP_COL_ITEM_NUMBER:
    case OHP_COL_SUBINVENTORY_CODE:
    case OHP_COL_SERIAL_CONTROLLED:
    case OHP_COL_PRIMARY_QUANTITY:
    case OHP_COL_PRIMARY_UOM_CODE:
    case OHP_COL_LAST_UPDATE_DATE:
        return true;
    default:
        return false;
    }
}

#define IN_(name) (OHP_COL_##name - OHP_IN_FIRST)
#define MEMBER_(name, member) [IN_(name)] = offsetof(ohp_record, member)
const size_t ohp_input_member[OHP_IN_NCOLS] = {
    MEMBER_(ORGANIZATION_ID, organization_id),
    MEMBER_(ORGANIZATION_CODE, organization_code),
    MEMBER_(INVENTORY_ITEM_ID, inventory_item_id),
    MEMBER_(ITEM_NUMBER, item_number),
    MEMBER_(REVISION, revision),
    MEMBER_(SUBINVENTORY_CODE, subinventory_code),
    MEMBER_(LOCATOR_ID, locator_id),
    MEMBER_(LOCATOR_NAME, locator_name),
    MEMBER_(LOT_NUMBER, lot_number),
    MEMBER_(LOT_EXPIRATION_DATE, lot_expiration_date),
    [IN_(SERIAL_CONTROLLED)] = OHP_NO_MEMBER,
    MEMBER_(SERIAL_NUMBER, serial_list), /* the input's SERIAL_NUMBERS */
    MEMBER_(PRIMARY_QUANTITY, primary_quantity),
    MEMBER_(PRIMARY_UOM_CODE, primary_uom_code),
    MEMBER_(SECONDARY_QUANTITY, secondary_quantity),
    MEMBER_(SECONDARY_UOM_CODE, secondary_uom_code),
    [IN_(CONSIGNED_FLAG)] = OHP_NO_MEMBER,
    MEMBER_(OWNING_PARTY_ID, owning_party_id),
    MEMBER_(PROJECT_ID, project_id),
    MEMBER_(TASK_ID, task_id),
    MEMBER_(MATERIAL_STATUS_CODE, material_status_code),
    MEMBER_(LAST_UPDATE_DATE, last_update_date),
};
