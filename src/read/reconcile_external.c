/*
 * The external side as a PSV with named columns: the header, the serial
 * lists and ranges, each line's contributions.
 */
#include "reconcile_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RANGE 1000000u

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

static const char *const xcol_names[X_COUNT] = {
    "ORGANIZATION_CODE", "ITEM_NUMBER",      "REVISION",      "SUBINVENTORY_CODE",
    "LOCATOR_NAME",      "LOCATOR_ID",       "LOT_NUMBER",    "OWNING_PARTY_ID",
    "PRIMARY_QUANTITY",  "PRIMARY_UOM_CODE", "SERIAL_NUMBER", "SERIAL_NUMBERS"};

/* The other columns of layout v1 and of the balances input: known, and ignored. */
static const char *const xcol_ignored[] = {"EXTERNAL_SYSTEM_CODE",
                                           "PUBLISH_RUN_ID",
                                           "PUBLISH_MODE",
                                           "SNAPSHOT_DATE",
                                           "ORGANIZATION_ID",
                                           "INVENTORY_ITEM_ID",
                                           "LOT_EXPIRATION_DATE",
                                           "SERIAL_CONTROLLED",
                                           "SECONDARY_QUANTITY",
                                           "SECONDARY_UOM_CODE",
                                           "CONSIGNED_FLAG",
                                           "PROJECT_ID",
                                           "TASK_ID",
                                           "MATERIAL_STATUS_CODE",
                                           "LAST_UPDATE_DATE"};

/* Serial list "A,B,P001..P005": one contribution per serial at the current key. */
static int add_serial_list(ohp_reconcile *rc, uint16_t uom_ix, const char *list, uint64_t line,
                           long colno)
{
    const char *p = list;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        while (n > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            n--;
        }
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        /* a serial as long as the field (the publisher takes them up to its field limit) */
        rc->scratch.len = 0;
        if (ohp_buf_reserve(&rc->scratch, &rc->alloc, n + 1) != 0)
            return rc_fail(rc, OHP_ENOMEM, "out of memory");
        char *item = rc->scratch.data;
        memcpy(item, p, n);
        item[n] = '\0';
        p += comma ? (size_t)(comma - p) + 1 : strlen(p);
        if (n == 0)
            continue;
        char *dots = strstr(item, "..");
        int r;
        if (dots == NULL) {
            if ((r = rc_push(rc, OHP_SIDE_EXTERNAL, NULL, uom_ix, item, n)) != OHP_OK)
                return r;
            continue;
        }
        *dots = '\0';
        const char *from = item, *to = dots + 2;
        /* blanks around ".." as publishing takes them: "S1 .. S3" */
        while (*to == ' ' || *to == '\t')
            to++;
        for (char *fe = dots; fe > item && (fe[-1] == ' ' || fe[-1] == '\t');)
            *--fe = '\0';
        size_t fl = strlen(from), tl = strlen(to);
        size_t w = 0;
        while (w < fl && from[fl - 1 - w] >= '0' && from[fl - 1 - w] <= '9')
            w++;
        if (w > 18)
            w = 18;
        if (fl != tl || w == 0 || strncmp(from, to, fl - w) != 0 ||
            strspn(to + fl - w, "0123456789") != w)
            return rc_fail(rc, OHP_EPARSE,
                           "external side: line %llu, column %ld (SERIAL_NUMBERS): invalid range "
                           "'%.40s..%.40s'",
                           (unsigned long long)line, colno, from, to);
        uint64_t lo = strtoull(from + fl - w, NULL, 10), hi = strtoull(to + fl - w, NULL, 10);
        if (hi < lo || hi - lo >= MAX_RANGE)
            return rc_fail(rc, OHP_EPARSE,
                           "external side: line %llu, column %ld (SERIAL_NUMBERS): range "
                           "'%.40s..%.40s' is empty or longer than %u",
                           (unsigned long long)line, colno, from, to, MAX_RANGE);
        /* item holds "from": count its last w digits up to "to", in place */
        for (uint64_t x = lo;; x++) {
            if ((r = rc_push(rc, OHP_SIDE_EXTERNAL, NULL, uom_ix, item, fl)) != OHP_OK)
                return r;
            if (x == hi)
                break;
            for (size_t k = fl; k-- > fl - w;) {
                if (item[k] != '9') {
                    item[k]++;
                    break;
                }
                item[k] = '0';
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

int rc_load_external_psv(ohp_reconcile *rc, ohp_read_fn read, void *user_data)
{
    rc_stream_begin(rc);
    sniff sn = {read, user_data, {0}, 0};
    ohp_psv_reader *psv;
    int r = ohp_psv_reader_new(&psv, sniff_read, &sn, 0,
                               &(ohp_allocator){OHP_ALLOCATOR_VERSION, rc->alloc.malloc_fn,
                                                rc->alloc.realloc_fn, rc->alloc.free_fn,
                                                rc->alloc.opaque});
    if (r)
        return rc_fail(rc, r, "out of memory");
    const char *const *f;
    size_t nf;
    long idx[X_COUNT];
    int got = ohp_psv_reader_next(psv, &f, &nf);
    if (got != 1 && utf16_bom(&sn)) {
        r = rc_fail(rc, OHP_EPARSE,
                    "external side: line 1: the file looks UTF-16 encoded (it starts with a UTF-16 "
                    "byte order mark); " EXPECTED_HEADER);
        goto out;
    }
    if (got <= 0) {
        r = got < 0 ? rc_fail(rc, got, "external side: %s", ohp_psv_reader_errmsg(psv))
                    : rc_fail(rc, OHP_EPARSE,
                              "external side: line 1: empty input, a header line "
                              "is required");
        goto out;
    }
    for (int c = 0; c < X_COUNT; c++)
        idx[c] = -1;
    for (size_t i = 0; i < nf; i++) {
        for (int c = 0; c < X_COUNT; c++)
            /* a UTF-8 byte order mark before the first column name is skipped */
            if (strcmp(f[i] + (i == 0 && strncmp(f[i], UTF8_BOM, 3) == 0 ? 3 : 0), xcol_names[c]) ==
                0) {
                if (idx[c] >= 0) {
                    r = rc_fail(rc, OHP_EPARSE,
                                "external side: line 1, column %zu: column %s "
                                "appears twice",
                                i + 1, xcol_names[c]);
                    goto out;
                }
                idx[c] = (long)i;
            }
        /* A column meant but misspelt by blanks or case would be lost without a word. */
        const char *near = ohp_column_near_miss(f[i], xcol_names, X_COUNT);
        if (near == NULL)
            near = ohp_column_near_miss(f[i], xcol_ignored,
                                        sizeof xcol_ignored / sizeof xcol_ignored[0]);
        if (near != NULL) {
            r = rc_fail(rc, OHP_EPARSE,
                        "external side: line 1, column %zu: '%.60s' is not a column name; did "
                        "you mean %s? (names are upper case, without blanks)",
                        i + 1, f[i], near);
            goto out;
        }
    }
    static const int req[] = {X_ORG, X_ITEM, X_SUB, X_QTY, X_UOM};
    for (size_t k = 0; k < sizeof req / sizeof req[0]; k++)
        if (idx[req[k]] < 0) {
            if (utf16_bom(&sn))
                r = rc_fail(rc, OHP_EPARSE,
                            "external side: line 1: the file looks UTF-16 encoded (it starts with "
                            "a UTF-16 byte order mark); " EXPECTED_HEADER);
            else if (nf != 1 || (r = header_not_psv(rc, f[0])) == 0)
                r = rc_fail(rc, OHP_EPARSE, "external side: line 1: required column %s is missing",
                            xcol_names[req[k]]);
            goto out;
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
    size_t ncols = nf;
    while ((got = ohp_psv_reader_next(psv, &f, &nf)) == 1) {
        uint64_t line = ohp_psv_reader_line(psv);
        if (nf == 1 && f[0][0] == '\0')
            continue;
        if (nf != ncols) {
            r = rc_fail(rc, OHP_EPARSE,
                        "external side: line %llu, column %zu: expected %zu fields, found %zu",
                        (unsigned long long)line, nf < ncols ? nf + 1 : ncols + 1, ncols, nf);
            goto out;
        }
        const char *v[X_COUNT];
        for (int c = 0; c < X_COUNT; c++)
            v[c] = idx[c] >= 0 ? f[idx[c]] : "";
        /*
         * Another organization than the ERP side's (once known): never
         * compared, and read no further than its key (publishing skips
         * such lines unchecked too); it counts as a key of another
         * organization.
         */
        bool other =
            rc->erp_org != NULL && v[X_ORG][0] != '\0' && strcmp(v[X_ORG], rc->erp_org) != 0;
        bool ascii = other || ohp_psv_reader_row_ascii(psv);
        for (int c = 0; c < X_COUNT && !ascii; c++) {
            if (!ohp_utf8_valid(v[c], strlen(v[c]))) {
                r = rc_fail(rc, OHP_EPARSE,
                            "external side: line %llu, column %ld (%s): not valid UTF-8",
                            (unsigned long long)line, idx[c] + 1, xcol_names[c]);
                goto out;
            }
        }
        for (size_t k = 0; k < sizeof req / sizeof req[0] && !other; k++)
            if (v[req[k]][0] == '\0') {
                r = rc_fail(rc, OHP_EPARSE, "external side: line %llu, column %ld (%s): required",
                            (unsigned long long)line, idx[req[k]] + 1, xcol_names[req[k]]);
                goto out;
            }
        const char *kf[NKEY];
        ohp_key_fields(kf, v[X_ORG], v[X_ITEM], v[X_REV], v[X_SUB], v[X_LOC_NAME], v[X_LOC_ID],
                       v[X_LOT], v[X_OWNER]);
        uint16_t u;
        if (other) {
            rc->sum.external_lines++;
            if ((r = rc_uom_index(rc, v[X_UOM], &u)) != OHP_OK ||
                (r = rc_cmp_key(rc, kf, u)) != OHP_OK ||
                (r = rc_push(rc, OHP_SIDE_EXTERNAL, NULL, u, NULL, 0)) != OHP_OK)
                goto out;
            continue;
        }
        qin q;
        if (rc_qin_parse(v[X_QTY], &q) != OHP_OK) {
            r = rc_fail(rc, OHP_EPARSE,
                        "external side: line %llu, column %ld (PRIMARY_QUANTITY): expected an "
                        "exact decimal, found '%.40s'",
                        (unsigned long long)line, idx[X_QTY] + 1, v[X_QTY]);
            goto out;
        }
        rc->sum.external_lines++;
        if ((r = rc_uom_index(rc, v[X_UOM], &u)) != OHP_OK ||
            (r = rc_cmp_key(rc, kf, u)) != OHP_OK ||
            (r = rc_push(rc, OHP_SIDE_EXTERNAL, &q, u, v[X_SERIAL], strlen(v[X_SERIAL]))) != OHP_OK)
            goto out;
        if (v[X_SERIALS][0] &&
            (r = add_serial_list(rc, u, v[X_SERIALS], line, idx[X_SERIALS] + 1)) != OHP_OK)
            goto out;
    }
    if (got < 0)
        r = rc_fail(rc, got, "external side: %s", ohp_psv_reader_errmsg(psv));
    if (r == OHP_OK)
        r = rc_flush(rc);
out:
    ohp_psv_reader_free(psv);
    if (r != OHP_OK) {
        rc->failed = true;
        rc->npending = 0;
    }
    return r;
}
