/*
 * Fuzz target: the lookups loader (ohp_registry_load_psv).  All or
 * nothing: a failed load leaves the registry exactly as it was; a
 * successful one leaves a registry whose values can all be found, visited
 * in order and checked.
 */
#include "fuzz.h"

#include <onhandpub.h>

typedef struct visit {
    size_t n;
    int64_t last_seq;
    int seen_unsequenced;
} visit;

static int visit_cb(void *ud, const ohp_lookup_value *v)
{
    visit *vs = ud;
    FUZZ_CHECK(v->code != NULL && v->code[0] != '\0');
    FUZZ_CHECK(v->meaning != NULL && v->meaning[0] != '\0');
    FUZZ_CHECK(strlen(v->meaning) <= 80 * 4);
    if (v->has_display_sequence) {
        FUZZ_CHECK(!vs->seen_unsequenced);
        FUZZ_CHECK(vs->n == 0 || v->display_sequence >= vs->last_seq);
        vs->last_seq = v->display_sequence;
    } else {
        vs->seen_unsequenced = 1;
    }
    if (v->start_date != OHP_TIME_NONE && v->end_date != OHP_TIME_NONE)
        FUZZ_CHECK(v->start_date <= v->end_date);
    vs->n++;
    return 0;
}

static int check_cb(void *ud, const ohp_lookup_value *v)
{
    ohp_registry *reg = ud;
    ohp_lookup_value got;
    memset(&got, 0, sizeof got);
    got.version = OHP_LOOKUP_VALUE_VERSION;
    FUZZ_CHECK(ohp_registry_find(reg, v->code, &got) == OHP_OK);
    FUZZ_CHECK(strcmp(got.meaning, v->meaning) == 0);
    int rc = ohp_registry_check(reg, v->code, 1793600000);
    FUZZ_CHECK(rc == OHP_OK || rc == OHP_EINACTIVE);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ohp_registry *reg = NULL;
    FUZZ_CHECK(ohp_registry_new(&reg, NULL) == OHP_OK);
    ohp_lookup_value v = OHP_LOOKUP_VALUE_INIT;
    v.code = "5";
    v.meaning = "Existing";
    v.tag = "keep";
    FUZZ_CHECK(ohp_registry_add(reg, &v) == OHP_OK);

    int rc = ohp_registry_load_psv(reg, (const char *)data, size);
    FUZZ_CHECK(rc == OHP_OK || rc == OHP_EPARSE || rc == OHP_EINVAL || rc == OHP_EEXISTS);
    ohp_lookup_value got;
    memset(&got, 0, sizeof got);
    got.version = OHP_LOOKUP_VALUE_VERSION;
    if (rc != OHP_OK) {
        FUZZ_CHECK(ohp_registry_errmsg(reg)[0] != '\0');
        FUZZ_CHECK(ohp_registry_count(reg) == 2);
        FUZZ_CHECK(ohp_registry_find(reg, "0", &got) == OHP_OK);
        FUZZ_CHECK(strcmp(got.meaning, "Oracle WMS") == 0);
        FUZZ_CHECK(ohp_registry_find(reg, "5", &got) == OHP_OK);
        FUZZ_CHECK(strcmp(got.tag, "keep") == 0);
    } else {
        FUZZ_CHECK(ohp_registry_count(reg) >= 2);
        FUZZ_CHECK(ohp_registry_find(reg, "0", &got) == OHP_OK);
        FUZZ_CHECK(got.enabled && got.start_date == OHP_TIME_NONE && got.end_date == OHP_TIME_NONE);
    }
    visit vs = {0, 0, 0};
    FUZZ_CHECK(ohp_registry_foreach(reg, visit_cb, &vs) == OHP_OK);
    FUZZ_CHECK(vs.n == ohp_registry_count(reg));
    FUZZ_CHECK(ohp_registry_foreach(reg, check_cb, reg) == OHP_OK);
    ohp_registry_free(reg);
    return 0;
}
