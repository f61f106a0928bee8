/*
 * Fuzz target: the reconciler, with a fuzzed external side (a PSV with
 * named columns) against a small ERP snapshot.
 *
 * Input: one byte of options (bits 0-2: ignore revision, locator, lot;
 * bit 3: a tolerance; bit 4: the ERP side's keys out of key order), then
 * the external PSV.  The external side is read twice, whole and in 1-byte
 * pieces (the PSV reader's whole-line and byte-by-byte paths), and the two
 * reconciliations must agree exactly: the same result, the same summary
 * and the same discrepancies.  When the run succeeds, the discrepancies
 * come in key order and the summary's counts add up (a key gives at most
 * one key class per unit: the keys with one count once).
 */
#include "fuzz.h"
#include "../testutil.h" /* TU_HEADER_V1 */

#include <onhandpub.h>

#define HEADER TU_HEADER_V1
#define LINE(item, rev, sub, loc, lot, ser, serial, qty, uom)                                      \
    "0|7|FULL|2026/11/01 06:00:00|204|M1|1|" item "|" rev "|" sub "||" loc "|" lot "||" ser        \
    "|" serial "|" qty "|" uom "|||N||||Active|2026/11/20 14:03:11\n"

/* The ERP side: keys A to D (two lines for B), a serial item S, dual-UOM item U. */
static const char *const erp_lines[] = {
    LINE("A", "", "FGI", "", "", "N", "", "10", "Ea"),
    LINE("B", "1", "FGI", "L1", "LOT1", "N", "", "2.5", "Ea"),
    LINE("B", "1", "FGI", "L1", "LOT1", "N", "", "0.25", "Ea"),
    LINE("C", "", "RAW", "L2", "", "N", "", "99999999999999999.5", "Kg"),
    LINE("D", "", "FGI", "", "", "N", "", "-3", "Ea"),
    LINE("S", "", "FGI", "", "", "Y", "SN0001", "1", "Ea"),
    LINE("S", "", "FGI", "", "", "Y", "SN0002", "1", "Ea"),
    LINE("S", "", "STG", "", "", "Y", "SN0003", "1", "Ea"),
    LINE("U", "", "FGI", "", "", "N", "", "4", "Ea"),
};
#define NERP (sizeof erp_lines / sizeof erp_lines[0])

typedef struct outcome {
    int rc;
    ohp_reconcile_summary sum;
    char *log; /* the discrepancies, one per line */
    size_t len, cap;
    char last_key[512];
    int have_key;
    char last_disc_key[512]; /* of the last key class */
    size_t last_disc_len;
    uint64_t disc_keys; /* keys with a key class */
} outcome;

static void log_put(outcome *o, const char *s)
{
    size_t n = strlen(s);
    if (o->len + n + 1 > o->cap) {
        size_t cap = (o->len + n + 1) * 2;
        char *p = realloc(o->log, cap);
        if (p == NULL)
            abort();
        o->log = p;
        o->cap = cap;
    }
    memcpy(o->log + o->len, s, n + 1);
    o->len += n;
}

static int on_disc(void *ud, const ohp_discrepancy *d)
{
    outcome *o = ud;
    /* the key fields joined with NUL bytes, as the reconciler orders them */
    char key[512];
    size_t k = 0;
    const char *f[] = {d->organization_code, d->item_number, d->revision,
                       d->subinventory_code, d->locator,     d->lot_number,
                       d->owning_party_id};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        size_t n = strlen(f[i]);
        if (k + n + 1 >= sizeof key)
            n = 0;
        memcpy(key + k, f[i], n);
        k += n;
        key[k++] = '\0';
    }
    if (o->have_key)
        FUZZ_CHECK(memcmp(o->last_key, key, k) <= 0);
    memcpy(o->last_key, key, k);
    o->have_key = 1;
    if (d->kind <= OHP_DISC_UOM &&
        (o->last_disc_len != k || memcmp(o->last_disc_key, key, k) != 0)) {
        memcpy(o->last_disc_key, key, k);
        o->last_disc_len = k;
        o->disc_keys++;
    }
    char line[1024];
    snprintf(line, sizeof line, "%d|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%d|%llu\n", d->kind,
             d->item_number, d->revision, d->subinventory_code, d->locator, d->lot_number,
             d->erp_quantity, d->external_quantity, d->difference, d->serial_number,
             d->external_subinventory_code, d->side, (unsigned long long)d->count);
    log_put(o, line);
    return 0;
}

static void run(const char *erp, const char *ext, size_t ext_len, size_t chunk, int opts,
                outcome *o)
{
    memset(o, 0, sizeof *o);
    log_put(o, "");
    ohp_reconcile_options ro = OHP_RECONCILE_OPTIONS_INIT;
    ro.ignore = opts & 7;
    if (opts & 8) {
        ro.tolerance_absolute = "0.5";
        ro.tolerance_relative = "10";
    }
    ohp_reconcile *rc;
    FUZZ_CHECK(ohp_reconcile_new(&rc, &ro, NULL) == OHP_OK);
    ohp_snapshot_reader *r;
    chunked e = {(const uint8_t *)erp, strlen(erp), 65536};
    FUZZ_CHECK(ohp_snapshot_reader_open_psv(&r, chunk_read, &e, NULL) == OHP_OK);
    o->rc = ohp_reconcile_load_erp(rc, &r, 1);
    FUZZ_CHECK(o->rc == OHP_OK);
    chunked c = {(const uint8_t *)ext, ext_len, chunk};
    o->rc = ohp_reconcile_load_external_psv(rc, chunk_read, &c);
    if (o->rc == OHP_OK)
        o->rc = ohp_reconcile_run(rc, on_disc, o);
    o->sum = *ohp_reconcile_get_summary(rc);
    if (o->rc == OHP_OK) {
        const ohp_reconcile_summary *s = &o->sum;
        FUZZ_CHECK(s->discrepancies == s->quantity_mismatch + s->missing_external + s->missing_erp +
                                           s->uom_mismatch + s->serial_missing_external +
                                           s->serial_missing_erp + s->serial_moved +
                                           s->serial_duplicate);
        FUZZ_CHECK(s->matched + s->within_tolerance + o->disc_keys <= s->keys_compared);
        FUZZ_CHECK(s->erp_lines == NERP);
    }
    ohp_snapshot_reader_free(r);
    ohp_reconcile_free(rc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    int opts = data[0];
    /* the ERP snapshot (a bare PSV), its lines in key order or reversed */
    char erp[4096];
    size_t n = 0;
    memcpy(erp, HEADER, sizeof HEADER - 1);
    n = sizeof HEADER - 1;
    for (size_t i = 0; i < NERP; i++) {
        const char *l = erp_lines[(opts & 16) ? NERP - 1 - i : i];
        size_t k = strlen(l);
        memcpy(erp + n, l, k);
        n += k;
    }
    erp[n] = '\0';
    char *ext = fuzz_cstr(data + 1, size - 1);
    outcome whole, bytes;
    run(erp, ext, size - 1, 65536, opts, &whole);
    run(erp, ext, size - 1, 1, opts, &bytes);
    FUZZ_CHECK(whole.rc == bytes.rc);
    const ohp_reconcile_summary *a = &whole.sum, *b = &bytes.sum;
    FUZZ_CHECK(a->external_lines == b->external_lines && a->erp_keys == b->erp_keys &&
               a->external_keys == b->external_keys && a->erp_serials == b->erp_serials &&
               a->external_serials == b->external_serials && a->keys_compared == b->keys_compared &&
               a->matched == b->matched && a->within_tolerance == b->within_tolerance &&
               a->discrepancies == b->discrepancies &&
               a->external_other_organization == b->external_other_organization);
    FUZZ_CHECK(strcmp(whole.log, bytes.log) == 0);
    free(whole.log);
    free(bytes.log);
    free(ext);
    return 0;
}
