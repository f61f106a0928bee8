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
