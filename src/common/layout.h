/*
 * Layout v1, the one home of its columns (docs/psv-format.md): their names,
 * their order and the kind of value each holds.  The writer's header line,
 * the publisher's record checks, the balances input's column mapping, the
 * snapshot reader's checks and the reconciler's external loader all take the
 * columns from here, so that they cannot drift apart.
 */
#ifndef OHP_LAYOUT_H
#define OHP_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>

#include "onhandpub.h"

/* What a column holds, for the checks of the publisher and of the reader. */
enum ohp_col_kind {
    OHP_CK_IDENTITY, /* the run's identity: the same on every line */
    OHP_CK_ID,       /* a decimal id of 1 to 18 digits, or empty */
    OHP_CK_TEXT,     /* free text */
    OHP_CK_DATE,     /* YYYY/MM/DD, or empty */
    OHP_CK_DATETIME, /* YYYY/MM/DD HH:MM:SS */
    OHP_CK_FLAG,     /* Y or N */
    OHP_CK_QUANTITY  /* an exact decimal */
};

/*
 * The 26 columns of layout v1, in order, each as X(name, kind): FIRST for the
 * first, RUN for the other columns the publisher adds (the run's identity),
 * COL for the columns that come from a balance record.
 */
#define OHP_LAYOUT_V1(FIRST, RUN, COL)                                                             \
    FIRST(EXTERNAL_SYSTEM_CODE, OHP_CK_IDENTITY)                                                   \
    RUN(PUBLISH_RUN_ID, OHP_CK_IDENTITY)                                                           \
    RUN(PUBLISH_MODE, OHP_CK_IDENTITY)                                                             \
    RUN(SNAPSHOT_DATE, OHP_CK_IDENTITY)                                                            \
    COL(ORGANIZATION_ID, OHP_CK_ID)                                                                \
    COL(ORGANIZATION_CODE, OHP_CK_IDENTITY)                                                        \
    COL(INVENTORY_ITEM_ID, OHP_CK_ID)                                                              \
    COL(ITEM_NUMBER, OHP_CK_TEXT)                                                                  \
    COL(REVISION, OHP_CK_TEXT)                                                                     \
    COL(SUBINVENTORY_CODE, OHP_CK_TEXT)                                                            \
    COL(LOCATOR_ID, OHP_CK_ID)                                                                     \
    COL(LOCATOR_NAME, OHP_CK_TEXT)                                                                 \
    COL(LOT_NUMBER, OHP_CK_TEXT)                                                                   \
    COL(LOT_EXPIRATION_DATE, OHP_CK_DATE)                                                          \
    COL(SERIAL_CONTROLLED, OHP_CK_FLAG)                                                            \
    COL(SERIAL_NUMBER, OHP_CK_TEXT)                                                                \
    COL(PRIMARY_QUANTITY, OHP_CK_QUANTITY)                                                         \
    COL(PRIMARY_UOM_CODE, OHP_CK_TEXT)                                                             \
    COL(SECONDARY_QUANTITY, OHP_CK_QUANTITY)                                                       \
    COL(SECONDARY_UOM_CODE, OHP_CK_TEXT)                                                           \
    COL(CONSIGNED_FLAG, OHP_CK_FLAG)                                                               \
    COL(OWNING_PARTY_ID, OHP_CK_ID)                                                                \
    COL(PROJECT_ID, OHP_CK_ID)                                                                     \
    COL(TASK_ID, OHP_CK_ID)                                                                        \
    COL(MATERIAL_STATUS_CODE, OHP_CK_TEXT)                                                         \
    COL(LAST_UPDATE_DATE, OHP_CK_DATETIME)

#define OHP_COL_ENUM_(name, kind) OHP_COL_##name,
enum ohp_col { OHP_LAYOUT_V1(OHP_COL_ENUM_, OHP_COL_ENUM_, OHP_COL_ENUM_) OHP_V1_NCOLS };
#undef OHP_COL_ENUM_

/* The columns' names and kinds, by enum ohp_col. */
extern const char *const ohp_v1_names[OHP_V1_NCOLS];
extern const unsigned char ohp_v1_kinds[OHP_V1_NCOLS];

/* The header line of layout v1: the names joined with '|', ending in LF. */
extern const char ohp_psv_header_v1[];

/*
 * The balances input (docs/job.md) has the COL columns of layout v1, with one difference: a
 * record's serial numbers arrive as one list, SERIAL_NUMBERS, in the place of SERIAL_NUMBER.  Input
 * column i is layout column OHP_IN_FIRST + i.
 */
#define OHP_IN_FIRST OHP_COL_ORGANIZATION_ID
#define OHP_IN_NCOLS (OHP_V1_NCOLS - OHP_IN_FIRST)
extern const char *const ohp_input_names[OHP_IN_NCOLS];
/* Whether the balances input must have column i (it is required of every record). */
bool ohp_input_required(int i);

/*
 * Where input column i lives in an ohp_record: the offset of its text member
 * (const char *), or OHP_NO_MEMBER for the two flags (serial_controlled,
 * consigned), which a record holds as ints.
 */
#define OHP_NO_MEMBER ((size_t)-1)
extern const size_t ohp_input_member[OHP_IN_NCOLS];

/* Input column i of rec, for a column with a text member. */
static inline const char *ohp_input_text(const ohp_record *rec, int i)
{
    return *(const char *const *)((const char *)rec + ohp_input_member[i]);
}

#endif
