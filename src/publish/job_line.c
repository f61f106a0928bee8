/*
 * Line encoding: a checked record as its PSV lines (one per serial number) with
 * their control totals, handed to the ZIP writer in blocks.
 */
#include "job_internal.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- control totals ---- */

/* Add qty, or when it is NULL the count of serial lines, to the UOM's total. */
static int uom_add(ohp_job *job, const char *uom, const ohp_decimal *qty, uint64_t count)
{
    uom_total *u = NULL;
    if (job->nuoms && ohp_short_eq(job->uoms[job->last_uom].code, uom)) {
        u = &job->uoms[job->last_uom];
    } else {
        for (size_t i = 0; i < job->nuoms; i++) {
            if (strcmp(job->uoms[i].code, uom) == 0) {
                u = &job->uoms[i];
                job->last_uom = i;
                break;
            }
        }
    }
    if (u == NULL) {
        if (job->nuoms >= MAX_UOMS)
            return job_err(job, OHP_ELIMIT, "more than %d distinct units of measure", MAX_UOMS);
        if (job->nuoms == job->uoms_cap) {
            size_t cap = job->uoms_cap ? job->uoms_cap * 2 : 8;
            uom_total *n = ohp_realloc(&job->alloc, job->uoms, cap * sizeof *n);
            if (n == NULL)
                return job_err(job, OHP_ENOMEM, "out of memory");
            job->uoms = n;
            job->uoms_cap = cap;
        }
        u = &job->uoms[job->nuoms];
        memset(u, 0, sizeof *u);
        u->code = ohp_strdup(&job->alloc, uom);
        if (u->code == NULL)
            return job_err(job, OHP_ENOMEM, "out of memory");
        job->last_uom = job->nuoms++;
        job->sum.uom_total_count = job->nuoms;
    }
    if (qty)
        ohp_acc_add(&u->acc, qty);
    else
        ohp_acc_add_count(&u->acc, count);
    return OHP_OK;
}

/* ---- output ---- */

int job_flush_out(ohp_job *job)
{
    if (job->out.len == 0)
        return OHP_OK;
    int rc = ohp_zipwriter_write(job->zw, job->out.data, job->out.len);
    job->out.len = 0;
    return rc;
}

int job_out_append(ohp_job *job, const char *p, size_t n)
{
    int rc = ohp_buf_append(&job->out, &job->alloc, p, n);
    if (rc)
        return job_err(job, rc, "out of memory");
    return OHP_OK;
}

/* The columns below are written in layout v1's order (layout.h); these keep them so. */
#define NEXT(a, b) (OHP_COL_##b == OHP_COL_##a + 1)
_Static_assert(NEXT(ORGANIZATION_ID, ORGANIZATION_CODE) &&
                   NEXT(ORGANIZATION_CODE, INVENTORY_ITEM_ID) &&
                   NEXT(INVENTORY_ITEM_ID, ITEM_NUMBER) && NEXT(ITEM_NUMBER, REVISION) &&
                   NEXT(REVISION, SUBINVENTORY_CODE) && NEXT(SUBINVENTORY_CODE, LOCATOR_ID) &&
                   NEXT(LOCATOR_ID, LOCATOR_NAME) && NEXT(LOCATOR_NAME, LOT_NUMBER) &&
                   NEXT(LOT_NUMBER, LOT_EXPIRATION_DATE) &&
                   NEXT(LOT_EXPIRATION_DATE, SERIAL_CONTROLLED) &&
                   NEXT(SERIAL_CONTROLLED, SERIAL_NUMBER),
               "the key part of a line is layout v1's columns 5 to 16");
_Static_assert(NEXT(SERIAL_NUMBER, PRIMARY_QUANTITY) && NEXT(PRIMARY_QUANTITY, PRIMARY_UOM_CODE) &&
                   NEXT(PRIMARY_UOM_CODE, SECONDARY_QUANTITY) &&
                   NEXT(SECONDARY_QUANTITY, SECONDARY_UOM_CODE) &&
                   NEXT(SECONDARY_UOM_CODE, CONSIGNED_FLAG) &&
                   NEXT(CONSIGNED_FLAG, OWNING_PARTY_ID) && NEXT(OWNING_PARTY_ID, PROJECT_ID) &&
                   NEXT(PROJECT_ID, TASK_ID) && NEXT(TASK_ID, MATERIAL_STATUS_CODE) &&
                   NEXT(MATERIAL_STATUS_CODE, LAST_UPDATE_DATE) &&
                   OHP_COL_LAST_UPDATE_DATE == OHP_V1_NCOLS - 1,
               "the quantity part of a line is layout v1's columns 17 to 26");
#undef NEXT

/*
 * A field at o: most fields are short and need no quotes, so they are
 * copied here, without a call; the rest go to the field writer.
 */
static inline char *put_field(char *o, const char *s, size_t len, bool quote)
{
    if (quote || len > 16)
        return ohp_psv_put_field(o, s, len, quote);
    for (size_t i = 0; i < len; i++)
        o[i] = s[i];
    return o + len;
}

#define T(idx, s) (o = put_field(o, (s), c->len[idx], c->quote[idx]))

/* ORGANIZATION_ID .. SERIAL_CONTROLLED and the '|' before SERIAL_NUMBER, at o; the new end. */
static char *encode_key_part(char *o, const ohp_record *r, const ohp_checked *c)
{
    T(OHP_TF_ORGANIZATION_ID, r->organization_id);
    *o++ = '|';
    T(OHP_TF_ORGANIZATION_CODE, r->organization_code);
    *o++ = '|';
    T(OHP_TF_INVENTORY_ITEM_ID, r->inventory_item_id);
    *o++ = '|';
    T(OHP_TF_ITEM_NUMBER, r->item_number);
    *o++ = '|';
    T(OHP_TF_REVISION, r->revision);
    *o++ = '|';
    T(OHP_TF_SUBINVENTORY_CODE, r->subinventory_code);
    *o++ = '|';
    T(OHP_TF_LOCATOR_ID, r->locator_id);
    *o++ = '|';
    T(OHP_TF_LOCATOR_NAME, r->locator_name);
    *o++ = '|';
    T(OHP_TF_LOT_NUMBER, r->lot_number);
    *o++ = '|';
    if (c->lot_expiration != OHP_TIME_NONE) {
        /* a valid date in a '/' form carries no zone: its first 10 bytes are the date */
        if (r->lot_expiration_date[4] == '/')
            memcpy(o, r->lot_expiration_date, 10);
        else
            ohp_date_format(c->lot_expiration, 1, o);
        o += 10;
    }
    *o++ = '|';
    *o++ = r->serial_controlled ? 'Y' : 'N';
    *o++ = '|';
    return o;
}

/*
 * '|' PRIMARY_QUANTITY .. LAST_UPDATE_DATE '\n' at o: the record's
 * quantities, or (serial lines) quantity 1 and no secondary quantity;
 * date: LAST_UPDATE_DATE's 19 bytes.
 */
static char *encode_quantity_part(char *o, const ohp_record *r, const ohp_checked *c,
                                  const char *date, bool serial_line)
{
    *o++ = '|';
    if (!serial_line) {
        size_t plen = strlen(c->primary.text);
        memcpy(o, c->primary.text, plen);
        o += plen;
    } else {
        *o++ = '1';
    }
    *o++ = '|';
    T(OHP_TF_PRIMARY_UOM_CODE, r->primary_uom_code);
    *o++ = '|';
    if (!serial_line && c->has_secondary) {
        size_t slen = strlen(c->secondary.text);
        memcpy(o, c->secondary.text, slen);
        o += slen;
    }
    *o++ = '|';
    T(OHP_TF_SECONDARY_UOM_CODE, r->secondary_uom_code);
    *o++ = '|';
    *o++ = r->consigned ? 'Y' : 'N';
    *o++ = '|';
    T(OHP_TF_OWNING_PARTY_ID, r->owning_party_id);
    *o++ = '|';
    T(OHP_TF_PROJECT_ID, r->project_id);
    *o++ = '|';
    T(OHP_TF_TASK_ID, r->task_id);
    *o++ = '|';
    T(OHP_TF_MATERIAL_STATUS_CODE, r->material_status_code);
    *o++ = '|';
    memcpy(o, date, 19);
    o += 19;
    *o++ = '\n';
    return o;
}

#undef T

/*
 * Encode the record's common parts into job->line:
 *   [0, p)       fields 5..15 and the '|' before SERIAL_NUMBER
 *   [p, q)       '|' PRIMARY_QUANTITY ... LAST_UPDATE_DATE '\n' (record's quantities)
 *   [q, len)     the same with quantity 1 and no secondary quantity (serial lines)
 */
static int encode_record(ohp_job *job, const ohp_record *r, ohp_checked *c, size_t *p, size_t *q)
{
    /* Every field at most doubles when quoted; dates and flags are short. */
    size_t bound = 256 + 2 * c->text_total + 2 * (size_t)OHP_TF_COUNT;
    bound += 2 * bound; /* the suffix appears twice */
    ohp_buf *b = &job->line;
    b->len = 0;
    if (ohp_buf_reserve(b, &job->alloc, bound))
        return OHP_ENOMEM;
    char *o = encode_key_part(b->data, r, c);
    *p = (size_t)(o - b->data);
    const char *date = ohp_checked_last_update_text(c);
    o = encode_quantity_part(o, r, c, date, false);
    *q = (size_t)(o - b->data);
    if (r->serial_controlled)
        o = encode_quantity_part(o, r, c, date, true);
    b->len = (size_t)(o - b->data);
    return OHP_OK;
}

static int emit_line(ohp_job *job, size_t prefix_len, const char *serial, size_t serial_len,
                     bool quote, const char *suffix, size_t suffix_len)
{
    ohp_buf *o = &job->out;
    size_t need = job->prefix.len + prefix_len + 2 * serial_len + 2 + suffix_len;
    if (o->len + need >= o->cap && ohp_buf_reserve(o, &job->alloc, need))
        return job_err(job, OHP_ENOMEM, "out of memory");
    char *w = o->data + o->len;
    memcpy(w, job->prefix.data, job->prefix.len);
    w += job->prefix.len;
    memcpy(w, job->line.data, prefix_len);
    w += prefix_len;
    if (serial_len)
        w = ohp_psv_put_field(w, serial, serial_len, quote);
    memcpy(w, suffix, suffix_len);
    w += suffix_len;
    o->len = (size_t)(w - o->data);
    job->sum.lines_written++;
    if (o->len >= FLUSH_AT)
        return job_flush_out(job);
    return OHP_OK;
}

int job_publish_record(ohp_job *job, const ohp_record *r, ohp_checked *c)
{
    size_t p = 0, q = 0;
    int rc = encode_record(job, r, c, &p, &q);
    if (rc)
        return job_err(job, rc, "out of memory");
    const char *line = job->line.data;
    if (!r->serial_controlled || job->plan.total == 0) {
        /* One line: a non-serial balance, or a serial item at zero (a removal). */
        if ((rc = emit_line(job, p, NULL, 0, false, line + p, q - p)) != 0)
            return rc;
        if ((rc = uom_add(job, r->primary_uom_code, &c->primary, 0)) != 0)
            return rc;
        return OHP_OK;
    }
    const ohp_serial_plan *plan = &job->plan;
    char small[256];
    for (size_t i = 0; i < plan->count; i++) {
        const ohp_serial_item *it = &plan->items[i];
        if (!it->range) {
            rc = emit_line(job, p, it->from, it->from_len, it->quote, line + q, job->line.len - q);
            if (rc)
                return rc;
            job->sum.serial_lines++;
            continue;
        }
        char *buf = small;
        if (it->from_len + 1 > sizeof small) {
            buf = ohp_malloc(&job->alloc, it->from_len + 1);
            if (buf == NULL)
                return job_err(job, OHP_ENOMEM, "out of memory");
        }
        for (uint64_t v = it->lo;; v++) {
            ohp_serial_item_format(it, v, buf);
            rc = emit_line(job, p, buf, it->from_len, it->quote, line + q, job->line.len - q);
            if (rc == OHP_OK)
                job->sum.serial_lines++;
            if (rc || v == it->hi)
                break;
        }
        if (buf != small)
            ohp_free(&job->alloc, buf);
        if (rc)
            return rc;
    }
    /* one line of quantity 1 per serial number */
    return uom_add(job, r->primary_uom_code, NULL, plan->total);
}
