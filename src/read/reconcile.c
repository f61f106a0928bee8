/*
 * The reconciler's public entry points: options, the handle, the state guard of
 * each call; the stages they call are in reconcile_*.c (reconcile_internal.h).
 */
#include "reconcile_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rc_fail(ohp_reconcile *rc, int code, const char *fmt, ...) OHP_PRINTF(3, 4);

int rc_fail(ohp_reconcile *rc, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ohp_errmsg_vset(rc->errmsg, fmt, ap);
    va_end(ap);
    return code;
}

OHP_EXPORT int ohp_reconcile_options_init(ohp_reconcile_options *o, unsigned int version)
{
    if (o == NULL)
        return OHP_EINVAL;
    if (version == 0 || version > OHP_RECONCILE_OPTIONS_VERSION)
        return OHP_EVERSION;
    o->version = version;
    o->ignore = 0;
    o->tolerance_absolute = NULL;
    o->tolerance_relative = NULL;
    return OHP_OK;
}

static int parse_tolerance(const char *text, char *out, const char *what, char *msg)
{
    if (text == NULL || text[0] == '\0') {
        memcpy(out, "0", 2);
        return OHP_OK;
    }
    ohp_decimal d;
    if (ohp_decimal_parse(text, &d) != OHP_OK || d.negative) {
        ohp_errmsg_set(msg, "%s tolerance: expected a decimal >= 0, found '%.40s'", what, text);
        return OHP_EINVAL;
    }
    memcpy(out, d.text, strlen(d.text) + 1);
    return OHP_OK;
}

OHP_EXPORT int ohp_reconcile_new(ohp_reconcile **out, const ohp_reconcile_options *opt,
                                 const ohp_allocator *alloc)
{
    if (out == NULL)
        return OHP_EINVAL;
    *out = NULL;
    if (opt != NULL && (opt->version == 0 || opt->version > OHP_RECONCILE_OPTIONS_VERSION))
        return OHP_EVERSION;
    ohp_alloc a;
    int rc = ohp_alloc_init(&a, alloc);
    if (rc)
        return rc;
    char msg[OHP_ERRMSG_SIZE];
    char abs_t[OHP_QTY_BUFSIZE], rel_t[OHP_QTY_BUFSIZE];
    if (opt != NULL && (opt->ignore & ~(OHP_IGNORE_REVISION | OHP_IGNORE_LOCATOR | OHP_IGNORE_LOT |
                                        OHP_IGNORE_OWNER)))
        return OHP_EINVAL;
    if (parse_tolerance(opt ? opt->tolerance_absolute : NULL, abs_t, "absolute", msg) ||
        parse_tolerance(opt ? opt->tolerance_relative : NULL, rel_t, "relative", msg))
        return OHP_EINVAL;
    ohp_reconcile *r = ohp_calloc(&a, 1, sizeof *r);
    if (r == NULL)
        return OHP_ENOMEM;
    r->alloc = a;
    r->ignore = opt ? opt->ignore : 0;
    memcpy(r->tol_abs, abs_t, strlen(abs_t) + 1);
    memcpy(r->tol_rel, rel_t, strlen(rel_t) + 1);
    r->cmp.hdr = offsetof(entry, key);
    r->merging = true;
    r->cursor = r->stream_last = NONE;
    r->ser.hdr = offsetof(serial, key);
    r->sum.version = OHP_RECONCILE_SUMMARY_VERSION;
    *out = r;
    return OHP_OK;
}

OHP_EXPORT void ohp_reconcile_free(ohp_reconcile *rc)
{
    if (rc == NULL)
        return;
    ohp_alloc a = rc->alloc;
    rc_tab_free(&rc->cmp, &a);
    rc_tab_free(&rc->ser, &a);
    rc_bigs_free(&rc->big, &a);
    for (size_t i = 0; i < rc->nuoms; i++)
        ohp_free(&a, rc->uoms[i].code);
    ohp_free(&a, rc->uoms);
    ohp_free(&a, rc->occs);
    if (rc->uom_text != NULL) {
        for (size_t i = 0; i < rc->nuoms * 2; i++)
            ohp_free(&a, rc->uom_text[i]);
        ohp_free(&a, rc->uom_text);
    }
    ohp_buf_free(&rc->scratch, &a);
    ohp_buf_free(&rc->text, &a);
    ohp_free(&a, rc->erp_org);
    ohp_free(&a, rc);
}

OHP_EXPORT const char *ohp_reconcile_errmsg(const ohp_reconcile *rc)
{
    return rc ? rc->errmsg : "";
}

OHP_EXPORT const ohp_reconcile_summary *ohp_reconcile_get_summary(const ohp_reconcile *rc)
{
    static const ohp_reconcile_summary empty = {.version = OHP_RECONCILE_SUMMARY_VERSION};
    return rc ? &rc->sum : &empty;
}

const char *rc_side_name(int side)
{
    return side == OHP_SIDE_ERP ? "ERP side" : "external side";
}

/* The state guard of the loading entries: each side is loaded once, before the run. */
static int begin_load(ohp_reconcile *rc, int side)
{
    if (rc->loaded[side] || rc->ran)
        return rc_fail(rc, OHP_ESTATE, "the %s is already loaded", rc_side_name(side));
    rc->loaded[side] = true;
    rc->errmsg[0] = '\0';
    return OHP_OK;
}

static int load_side(ohp_reconcile *rc, int side, ohp_snapshot_reader *const *readers, size_t n)
{
    if (rc == NULL || readers == NULL || n == 0)
        return OHP_EINVAL;
    int r = begin_load(rc, side);
    return r != OHP_OK ? r : rc_load_snapshots(rc, side, readers, n);
}

OHP_EXPORT int ohp_reconcile_load_erp(ohp_reconcile *rc, ohp_snapshot_reader *const *readers,
                                      size_t n)
{
    return load_side(rc, OHP_SIDE_ERP, readers, n);
}

OHP_EXPORT int ohp_reconcile_load_external(ohp_reconcile *rc, ohp_snapshot_reader *const *readers,
                                           size_t n)
{
    return load_side(rc, OHP_SIDE_EXTERNAL, readers, n);
}

OHP_EXPORT int ohp_reconcile_load_external_psv(ohp_reconcile *rc, ohp_read_fn read, void *user_data)
{
    if (rc == NULL || read == NULL)
        return OHP_EINVAL;
    int r = begin_load(rc, OHP_SIDE_EXTERNAL);
    return r != OHP_OK ? r : rc_load_external_psv(rc, read, user_data);
}

OHP_EXPORT int ohp_reconcile_run(ohp_reconcile *rc, ohp_discrepancy_fn report, void *user_data)
{
    if (rc == NULL)
        return OHP_EINVAL;
    if (rc->ran)
        return rc_fail(rc, OHP_ESTATE, "the reconciliation has already run");
    if (rc->failed)
        return rc_fail(rc, OHP_ESTATE, "a side failed to load; nothing to compare");
    if (!rc->loaded[0] || !rc->loaded[1])
        return rc_fail(rc, OHP_ESTATE, "the %s is not loaded",
                       rc->loaded[0] ? rc_side_name(1) : rc_side_name(0));
    rc->ran = true;
    return rc_compare(rc, report, user_data);
}

OHP_EXPORT int ohp_reconcile_uom_total(const ohp_reconcile *rc, size_t i, const char **uom_code,
                                       const char **erp_total, const char **external_total)
{
    if (rc == NULL || rc->uom_text == NULL || i >= rc->nuoms)
        return OHP_EINVAL;
    if (uom_code)
        *uom_code = rc->uoms[i].code;
    if (erp_total)
        *erp_total = rc->uom_text[i * 2];
    if (external_total)
        *external_total = rc->uom_text[i * 2 + 1];
    return OHP_OK;
}
