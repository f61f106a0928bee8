/*
 * Fuzz target: ZIP archives fed to the reconciler.
 *
 * Input: one byte of options (bit 0: the archive is the ERP side, else the
 * external side; bit 1: the other side's lines out of key order, so that
 * the reconciler hashes its keys), then the archive.  The archive is read
 * twice, from memory and through read/seek callbacks handing it over in
 * small pieces; both reconciliations must end the same way with the same
 * summary and discrepancies.  Memory follows what is read: whatever sizes
 * the archive declares, the reconciler's peak heap stays within a bound
 * set by what the input can inflate to, and nothing is left allocated.
 */
#include "fuzz.h"
#include "../testutil.h" /* TU_HEADER_V1 */

#include <onhandpub.h>

#define LINE(item, sub, serial_flag, serial, qty, uom)                                             \
    "0|7|FULL|2026/11/01 06:00:00|204|M1|1|" item "||" sub "|||||" serial_flag "|" serial "|" qty \
    "|" uom "|||N||||Active|2026/11/20 14:03:11\n"

static const char *const in_order =
    TU_HEADER_V1 LINE("A", "FGI", "N", "", "10", "Ea") LINE("B", "FGI", "N", "", "2.5", "Ea")
        LINE("S", "FGI", "Y", "SN1", "1", "Ea") LINE("S", "STG", "Y", "SN2", "1", "Ea");
static const char *const scrambled =
    TU_HEADER_V1 LINE("S", "STG", "Y", "SN2", "1", "Ea") LINE("B", "FGI", "N", "", "2.5", "Ea")
        LINE("A", "FGI", "N", "", "10", "Ea") LINE("S", "FGI", "Y", "SN1", "1", "Ea");

/* ---- a counting allocator ---- */

typedef struct counter {
    ohp_allocator pub;
    size_t live, peak;
} counter;

static void *c_malloc(void *opaque, size_t n)
{
    counter *c = opaque;
    size_t *p = malloc(n + sizeof(size_t) * 2);
    if (p == NULL)
        return NULL;
    p[0] = n;
    c->live += n;
    if (c->live > c->peak)
        c->peak = c->live;
    return p + 2;
}

static void c_free(void *opaque, void *ptr)
{
    if (ptr == NULL)
        return;
    counter *c = opaque;
    size_t *p = (size_t *)ptr - 2;
    c->live -= p[0];
    free(p);
}

static void *c_realloc(void *opaque, void *ptr, size_t n)
{
    if (ptr == NULL)
        return c_malloc(opaque, n);
    size_t old = ((size_t *)ptr)[-2];
    void *q = c_malloc(opaque, n);
    if (q == NULL)
        return NULL;
    memcpy(q, ptr, old < n ? old : n);
    c_free(opaque, ptr);
    return q;
}

/* ---- the archive through callbacks ---- */

typedef struct seekable {
    const uint8_t *data;
    size_t size, pos, chunk;
} seekable;

static int s_read(void *ud, void *buf, size_t cap, size_t *got)
{
    seekable *s = ud;
    size_t n = s->size - s->pos;
    if (n > cap)
        n = cap;
    if (n > s->chunk)
        n = s->chunk;
    if (n)
        memcpy(buf, s->data + s->pos, n);
    s->pos += n;
    *got = n;
    return 0;
}

static int s_seek(void *ud, uint64_t off)
{
    seekable *s = ud;
    if (off > s->size)
        return -1;
    s->pos = (size_t)off;
    return 0;
}

/* ---- one reconciliation ---- */

typedef struct outcome {
    int rc;
    ohp_reconcile_summary sum;
    uint64_t hash, count;
    size_t peak;
} outcome;

static uint64_t fold(uint64_t h, const char *s)
{
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return (h ^ 0xff) * 0x100000001b3ull;
}

static int on_disc(void *ud, const ohp_discrepancy *d)
{
    outcome *o = ud;
    const char *f[] = {d->organization_code, d->item_number,      d->subinventory_code,
                       d->lot_number,        d->erp_quantity,     d->external_quantity,
                       d->difference,        d->serial_number,    d->erp_uom_code,
                       d->external_uom_code, d->external_locator, d->external_subinventory_code};
    o->hash = (o->hash ^ (uint64_t)d->kind) * 0x100000001b3ull;
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        o->hash = fold(o->hash, f[i]);
    o->count++;
    return 0;
}

static void run(const uint8_t *zip, size_t len, int opts, int through_callbacks, outcome *o)
{
    memset(o, 0, sizeof *o);
    o->hash = 0xcbf29ce484222325ull;
    counter c;
    memset(&c, 0, sizeof c);
    c.pub.version = OHP_ALLOCATOR_VERSION;
    c.pub.malloc_fn = c_malloc;
    c.pub.realloc_fn = c_realloc;
    c.pub.free_fn = c_free;
    c.pub.opaque = &c;
    ohp_reconcile *rc;
    FUZZ_CHECK(ohp_reconcile_new(&rc, NULL, &c.pub) == OHP_OK);
    const char *other = (opts & 2) ? scrambled : in_order;
    chunked oc = {(const uint8_t *)other, strlen(other), 65536};
    seekable sk = {zip, len, 0, 1 + len % 13};
    ohp_snapshot_reader *other_r, *zip_r;
    FUZZ_CHECK(ohp_snapshot_reader_open_psv(&other_r, chunk_read, &oc, &c.pub) == OHP_OK);
    if (through_callbacks)
        FUZZ_CHECK(ohp_snapshot_reader_open_zip(&zip_r, s_read, s_seek, &sk, len, &c.pub) ==
                   OHP_OK);
    else
        FUZZ_CHECK(ohp_snapshot_reader_open_memory(&zip_r, zip, len, &c.pub) == OHP_OK);
    if (opts & 1) {
        o->rc = ohp_reconcile_load_erp(rc, &zip_r, 1);
        if (o->rc == OHP_OK)
            o->rc = ohp_reconcile_load_external(rc, &other_r, 1);
    } else {
        FUZZ_CHECK(ohp_reconcile_load_erp(rc, &other_r, 1) == OHP_OK);
        o->rc = ohp_reconcile_load_external(rc, &zip_r, 1);
    }
    if (o->rc == OHP_OK)
        o->rc = ohp_reconcile_run(rc, on_disc, o);
    else
        FUZZ_CHECK(ohp_reconcile_errmsg(rc)[0] != '\0');
    o->sum = *ohp_reconcile_get_summary(rc);
    if (o->rc == OHP_OK)
        FUZZ_CHECK(o->sum.discrepancies == o->count);
    ohp_snapshot_reader_free(zip_r);
    ohp_snapshot_reader_free(other_r);
    ohp_reconcile_free(rc);
    FUZZ_CHECK(c.live == 0);
    o->peak = c.peak;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    int opts = data[0];
    outcome m, cb;
    run(data + 1, size - 1, opts, 0, &m);
    run(data + 1, size - 1, opts, 1, &cb);
    FUZZ_CHECK(m.rc == cb.rc);
    FUZZ_CHECK(m.hash == cb.hash && m.count == cb.count);
    FUZZ_CHECK(m.sum.erp_lines == cb.sum.erp_lines &&
               m.sum.external_lines == cb.sum.external_lines &&
               m.sum.keys_compared == cb.sum.keys_compared &&
               m.sum.discrepancies == cb.sum.discrepancies && m.sum.matched == cb.sum.matched);
    /*
     * Memory follows what is read.  The archive's data inflate to at most
     * 1032 bytes per input byte, and the reconciler keeps less than that
     * per line of at least 60 bytes; a declared size adds nothing.
     */
    size_t bound = ((size_t)4 << 20) + 1032u * 4 * size;
    FUZZ_CHECK(m.peak <= bound);
    FUZZ_CHECK(cb.peak <= bound);
    return 0;
}
