/*
 * The external side as a PSV with named columns: the header, the serial
 * lists and ranges, each line's contributions.
 */
#include "reconcile_internal.h"
#include "serial_list.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the external side as a PSV with named columns ---- */

enum xcol {
    X_ORG,
    X_ITEM,
    X_REV,
    X_SUB,
    X_LOC_NAME,
    X_LOC_ID,
    X_LOT,
    X_OWNER,
    X_QTY,
    X_UOM,
    X_SERIAL,
    X_SERIALS,
    X_COUNT
};

/* The columns the external side is read by, as layout v1 and the balances input name them. */
static const char *xcol_name(int c)
{
    static const unsigned char col[X_COUNT] = {
        OHP_COL_ORGANIZATION_CODE, OHP_COL_ITEM_NUMBER,     OHP_COL_REVISION,
        OHP_COL_SUBINVENTORY_CODE, OHP_COL_LOCATOR_NAME,    OHP_COL_LOCATOR_ID,
        OHP_COL_LOT_NUMBER,        OHP_COL_OWNING_PARTY_ID, OHP_COL_PRIMARY_QUANTITY,
        OHP_COL_PRIMARY_UOM_CODE,  OHP_COL_SERIAL_NUMBER,   OHP_COL_SERIAL_NUMBER};
    if (c == X_SERIALS) /* the input's list in SERIAL_NUMBER's place */
        return ohp_input_names[OHP_COL_SERIAL_NUMBER - OHP_IN_FIRST];
    return ohp_v1_names[col[c]];
}

/*
 * A name that is no column but a column of layout v1 or of the balances
 * input (the other columns are known, and ignored) misspelt by blanks or
 * case: the name meant, or NULL.
 */
static const char *column_near_miss(const char *name)
{
    const char *near = ohp_column_near_miss(name, ohp_v1_names, OHP_V1_NCOLS);
    return near ? near : ohp_column_near_miss(name, ohp_input_names, OHP_IN_NCOLS);
}

/* Serial list "A,B,P001..P005": one contribution per serial at the current key. */
static int add_serial_list(ohp_reconcile *rc, uint16_t uom_ix, const char *list, uint64_t line,
                           long colno)
{
    /* cut in place in a copy; a serial as long as the field (the publisher takes them up to its
     * field limit) */
    size_t len = strlen(list);
    rc->scratch.len = 0;
    if (ohp_buf_reserve(&rc->scratch, &rc->alloc, len + 1) != 0)
        return rc_fail(rc, OHP_ENOMEM, "out of memory");
    memcpy(rc->scratch.data, list, len + 1);
    char *cur = rc->scratch.data, *from, *to;
    int r;
    while (ohp_serial_list_next(&cur, &from, &to)) {
        size_t fl = strlen(from);
        if (to == NULL) {
            if (fl > 0 && (r = rc_push(rc, OHP_SIDE_EXTERNAL, NULL, uom_ix, from, fl)) != OHP_OK)
                return r;
            continue;
        }
        size_t prefix;
        uint64_t lo, hi;
        int check = ohp_serial_range(from, fl, to, strlen(to), &prefix, &lo, &hi);
        if (check == OHP_RANGE_SHAPE || check == OHP_RANGE_WIDE)
            return rc_fail(rc, OHP_EPARSE,
                           "external side: line %llu, column %ld (SERIAL_NUMBERS): invalid range "
                           "'%.40s..%.40s'",
                           (unsigned long long)line, colno, from, to);
        if (check == OHP_RANGE_REVERSED || hi - lo >= OHP_SERIALS_MAX_DEFAULT)
            return rc_fail(rc, OHP_EPARSE,
                           "external side: line %llu, column %ld (SERIAL_NUMBERS): range "
                           "'%.40s..%.40s' is empty or longer than %u",
                           (unsigned long long)line, colno, from, to, OHP_SERIALS_MAX_DEFAULT);
        /* count from's digits after the prefix up to to, in place */
        for (uint64_t x = lo;; x++) {
            if ((r = rc_push(rc, OHP_SIDE_EXTERNAL, NULL, uom_ix, from, fl)) != OHP_OK)
                return r;
            if (x == hi)
                break;
            for (size_t k = fl; k-- > prefix;) {
                if (from[k] != '9') {
                    from[k]++;
                    break;
                }
                from[k] = '0';
            }
        }
    }
    return OHP_OK;
}

/* The first bytes of the external PSV, kept to explain a header that is not one. */
typedef struct sniff {
    ohp_read_fn read;
    void *user_data;
    unsigned char head[4];
    size_t nhead;
} sniff;

static int sniff_read(void *ud, void *buf, size_t cap, size_t *got)
{
    sniff *sn = ud;
    int r = sn->read(sn->user_data, buf, cap, got);
    if (r == 0) {
        size_t n = *got < cap ? *got : cap;
        for (size_t i = 0; i < n && sn->nhead < sizeof sn->head; i++)
            sn->head[sn->nhead++] = ((const unsigned char *)buf)[i];
    }
    return r;
}

static bool utf16_bom(const sniff *sn)
{
    return sn->nhead >= 2 && ((sn->head[0] == 0xff && sn->head[1] == 0xfe) ||
                              (sn->head[0] == 0xfe && sn->head[1] == 0xff));
}

#define UTF8_BOM "\xEF\xBB\xBF"

#define EXPECTED_HEADER                                                                            \
    "expected a PSV: UTF-8 text with '|' between the columns, its header naming them, such as "    \
    "ORGANIZATION_CODE|ITEM_NUMBER|SUBINVENTORY_CODE|PRIMARY_QUANTITY|PRIMARY_UOM_CODE"

/*
 * A header line of one field that is no column name: what the file looks
 * like, when it can be told (another separator), as an error.
 */
static int header_not_psv(ohp_reconcile *rc, const char *h)
{
    static const struct {
        char c;
        const char *name;
    } seps[] = {
        {',', "comma-separated (CSV)"}, {';', "semicolon-separated"}, {'\t', "tab-separated"}};
    size_t best = 0, nbest = 0;
    for (size_t k = 0; k < sizeof seps / sizeof seps[0]; k++) {
        size_t n = 1;
        for (const char *p = h; *p; p++)
            n += *p == seps[k].c;
        if (n > nbest) {
            nbest = n;
            best = k;
        }
    }
    if (nbest < 2)
        return 0;
    char sep[8];
    if (seps[best].c == '\t')
        strcpy(sep, "tab");
    else
        snprintf(sep, sizeof sep, "'%c'", seps[best].c);
    return rc_fail(
        rc, OHP_EPARSE,
        "external side: line 1: the file looks %s: its header has no '|' and splits on %s "
        "into %zu columns; " EXPECTED_HEADER,
        seps[best].name, sep, nbest);
}

/* The required columns: a line without them cannot be placed. */
static const int req[] = {X_ORG, X_ITEM, X_SUB, X_QTY, X_UOM};
#define NREQ (sizeof req / sizeof req[0])

/* Where the header names each column (idx[c], -1: absent), checking each name. */
static int match_columns(ohp_reconcile *rc, const char *const *f, size_t nf, long idx[X_COUNT])
{
    for (int c = 0; c < X_COUNT; c++)
        idx[c] = -1;
    for (size_t i = 0; i < nf; i++) {
        /* a UTF-8 byte order mark before the first column name is skipped */
        const char *name = f[i] + (i == 0 && strncmp(f[i], UTF8_BOM, 3) == 0 ? 3 : 0);
        for (int c = 0; c < X_COUNT; c++)
            if (strcmp(name, xcol_name(c)) == 0) {
                if (idx[c] >= 0)
                    return rc_fail(rc, OHP_EPARSE,
                                   "external side: line 1, column %zu: column %s appears twice",
                                   i + 1, xcol_name(c));
                idx[c] = (long)i;
            }
        /* A column meant but misspelt by blanks or case would be lost without a word. */
        const char *near = column_near_miss(f[i]);
        if (near != NULL)
            return rc_fail(rc, OHP_EPARSE,
                           "external side: line 1, column %zu: '%.60s' is not a column name; did "
                           "you mean %s? (names are upper case, without blanks)",
                           i + 1, f[i], near);
    }
    return OHP_OK;
}

/*
 * The header line: the columns' places into idx, their count into *ncols;
 * key parts without a column are left out of the comparison on both sides.
 */
static int read_header(ohp_reconcile *rc, ohp_psv_reader *psv, const sniff *sn, long idx[X_COUNT],
                       size_t *ncols)
{
    const char *const *f;
    size_t nf;
    int got = ohp_psv_reader_next(psv, &f, &nf);
    if (got != 1 && utf16_bom(sn))
        return rc_fail(rc, OHP_EPARSE,
                       "external side: line 1: the file looks UTF-16 encoded (it starts with a "
                       "UTF-16 byte order mark); " EXPECTED_HEADER);
    if (got < 0)
        return rc_fail(rc, got, "external side: %s", ohp_psv_reader_errmsg(psv));
    if (got == 0)
        return rc_fail(rc, OHP_EPARSE,
                       "external side: line 1: empty input, a header line is required");
    int r = match_columns(rc, f, nf, idx);
    if (r != OHP_OK)
        return r;
    for (size_t k = 0; k < NREQ; k++)
        if (idx[req[k]] < 0) {
            if (utf16_bom(sn))
                return rc_fail(rc, OHP_EPARSE,
                               "external side: line 1: the file looks UTF-16 encoded (it starts "
                               "with a UTF-16 byte order mark); " EXPECTED_HEADER);
            if (nf != 1 || (r = header_not_psv(rc, f[0])) == 0)
                r = rc_fail(rc, OHP_EPARSE, "external side: line 1: required column %s is missing",
                            xcol_name(req[k]));
            return r;
        }
    /* Key parts the file has no column for: both sides are compared without them. */
    int missing = (idx[X_REV] < 0 ? OHP_IGNORE_REVISION : 0) |
                  (idx[X_LOC_NAME] < 0 && idx[X_LOC_ID] < 0 ? OHP_IGNORE_LOCATOR : 0) |
                  (idx[X_LOT] < 0 ? OHP_IGNORE_LOT : 0) | (idx[X_OWNER] < 0 ? OHP_IGNORE_OWNER : 0);
    rc->sum.external_missing_key_parts = missing;
    if (missing & ~rc->ignore) {
        /* entries whose keys hold a value in those parts are shortened before comparing */
        if (missing & ~rc->ignore & rc->used)
            rc->rekey = true;
        rc->ignore |= missing;
    }
    *ncols = nf;
    return OHP_OK;
}

/* One data line (its fields by column in v): checked, then its contributions. */
static int add_line(ohp_reconcile *rc, const char *const v[X_COUNT], const long idx[X_COUNT],
                    uint64_t line, bool ascii)
{
    /*
     * Another organization than the ERP side's (once known): never
     * compared, and read no further than its key (publishing skips
     * such lines unchecked too); it counts as a key of another
     * organization.
     */
    bool other = rc->erp_org != NULL && v[X_ORG][0] != '\0' && strcmp(v[X_ORG], rc->erp_org) != 0;
    for (int c = 0; c < X_COUNT && !ascii && !other; c++)
        if (!ohp_utf8_valid(v[c], strlen(v[c])))
            return rc_fail(rc, OHP_EPARSE,
                           "external side: line %llu, column %ld (%s): not valid UTF-8",
                           (unsigned long long)line, idx[c] + 1, xcol_name(c));
    for (size_t k = 0; k < NREQ && !other; k++)
        if (v[req[k]][0] == '\0')
            return rc_fail(rc, OHP_EPARSE, "external side: line %llu, column %ld (%s): required",
                           (unsigned long long)line, idx[req[k]] + 1, xcol_name(req[k]));
    const char *kf[NKEY];
    ohp_key_fields(kf, v[X_ORG], v[X_ITEM], v[X_REV], v[X_SUB], v[X_LOC_NAME], v[X_LOC_ID],
                   v[X_LOT], v[X_OWNER]);
    uint16_t u;
    int r;
    if (other) {
        rc->sum.external_lines++;
        if ((r = rc_uom_index(rc, v[X_UOM], &u)) != OHP_OK || (r = rc_cmp_key(rc, kf, u)) != OHP_OK)
            return r;
        return rc_push(rc, OHP_SIDE_EXTERNAL, NULL, u, NULL, 0);
    }
    qin q;
    if (rc_qin_parse(v[X_QTY], &q) != OHP_OK)
        return rc_fail(rc, OHP_EPARSE,
                       "external side: line %llu, column %ld (PRIMARY_QUANTITY): expected an "
                       "exact decimal, found '%.40s'",
                       (unsigned long long)line, idx[X_QTY] + 1, v[X_QTY]);
    rc->sum.external_lines++;
    if ((r = rc_uom_index(rc, v[X_UOM], &u)) != OHP_OK || (r = rc_cmp_key(rc, kf, u)) != OHP_OK ||
        (r = rc_push(rc, OHP_SIDE_EXTERNAL, &q, u, v[X_SERIAL], strlen(v[X_SERIAL]))) != OHP_OK)
        return r;
    if (v[X_SERIALS][0])
        return add_serial_list(rc, u, v[X_SERIALS], line, idx[X_SERIALS] + 1);
    return OHP_OK;
}

static int read_lines(ohp_reconcile *rc, ohp_psv_reader *psv, const long idx[X_COUNT], size_t ncols)
{
    const char *const *f;
    size_t nf;
    int got;
    while ((got = ohp_psv_reader_next(psv, &f, &nf)) == 1) {
        uint64_t line = ohp_psv_reader_line(psv);
        if (nf == 1 && f[0][0] == '\0')
            continue;
        if (nf != ncols)
            return rc_fail(rc, OHP_EPARSE,
                           "external side: line %llu, column %zu: expected %zu fields, found %zu",
                           (unsigned long long)line, nf < ncols ? nf + 1 : ncols + 1, ncols, nf);
        const char *v[X_COUNT];
        for (int c = 0; c < X_COUNT; c++)
            v[c] = idx[c] >= 0 ? f[idx[c]] : "";
        int r = add_line(rc, v, idx, line, ohp_psv_reader_row_ascii(psv));
        if (r != OHP_OK)
            return r;
    }
    if (got < 0)
        return rc_fail(rc, got, "external side: %s", ohp_psv_reader_errmsg(psv));
    return rc_flush(rc);
}

int rc_load_external_psv(ohp_reconcile *rc, ohp_read_fn read, void *user_data)
{
    rc_stream_begin(rc);
    sniff sn = {read, user_data, {0}, 0};
    ohp_psv_reader *psv;
    ohp_allocator pa;
    int r = ohp_psv_reader_new(&psv, sniff_read, &sn, 0, ohp_alloc_public(&rc->alloc, &pa));
    if (r)
        return rc_fail(rc, r, "out of memory");
    long idx[X_COUNT];
    size_t ncols = 0;
    r = read_header(rc, psv, &sn, idx, &ncols);
    if (r == OHP_OK)
        r = read_lines(rc, psv, idx, ncols);
    ohp_psv_reader_free(psv);
    if (r != OHP_OK) {
        rc->failed = true;
        rc->npending = 0;
    }
    return r;
}
