/*
 * Fuzz target: the snapshot reader over a ZIP archive.
 *
 * The input is read twice, from memory (the entry's data inflated straight
 * from the buffer) and through read/seek callbacks handing it over in
 * pieces of a size drawn from the input (through the reader's buffer).
 * Both must give the same records and end the same way, and a read that
 * succeeds must have checked the header and every line.
 */
#include <onhandpub.h>

#include "fuzz.h"

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

/* A digest of what a reader yields: its records folded into a hash, and how it ended. */
typedef struct digest {
    uint64_t hash, records;
    int rc;
} digest;

static uint64_t fold(uint64_t h, const char *s)
{
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return (h ^ 0xff) * 0x100000001b3ull;
}

static void drain(ohp_snapshot_reader *r, digest *d)
{
    const ohp_snapshot_record *rec;
    d->hash = 0xcbf29ce484222325ull;
    d->records = 0;
    while ((d->rc = ohp_snapshot_reader_next(r, &rec)) == 1) {
        d->records++;
        FUZZ_CHECK(rec->organization_code[0] != '\0' && rec->item_number[0] != '\0');
        const char *f[] = {rec->external_system_code, rec->organization_code,
                           rec->item_number,          rec->revision,
                           rec->subinventory_code,    rec->locator_name,
                           rec->lot_number,           rec->serial_number,
                           rec->primary_quantity,     rec->primary_uom_code,
                           rec->secondary_quantity};
        for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
            d->hash = fold(d->hash, f[i]);
        d->hash = (d->hash ^ (uint64_t)rec->last_update_date) * 0x100000001b3ull;
        d->hash = (d->hash ^ (uint64_t)rec->publish_run_id) * 0x100000001b3ull;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    digest m, c;
    ohp_snapshot_reader *r;
    FUZZ_CHECK(ohp_snapshot_reader_open_memory(&r, data, size, NULL) == OHP_OK);
    drain(r, &m);
    FUZZ_CHECK(m.rc <= 0);
    FUZZ_CHECK(m.rc == 0 || ohp_snapshot_reader_errmsg(r)[0] != '\0');
    ohp_snapshot_reader_free(r);

    seekable s = {data, size, 0, 1 + (size % 7 == 0 ? 1 : size % 4093)};
    FUZZ_CHECK(ohp_snapshot_reader_open_zip(&r, s_read, s_seek, &s, size, NULL) == OHP_OK);
    drain(r, &c);
    ohp_snapshot_reader_free(r);

    FUZZ_CHECK(m.rc == c.rc);
    FUZZ_CHECK(m.records == c.records);
    FUZZ_CHECK(m.hash == c.hash);
    return 0;
}
