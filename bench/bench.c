/*
 * bench - end-to-end publishing benchmark.
 *
 * Generates a deterministic synthetic workload in memory (several
 * organizations, ~20% serial-controlled items with 1-20 serials as lists and
 * ranges, lots, dual-UOM items, ~1% of fields needing quotes), once, before
 * anything is timed; the source callback replays it.  It measures, in one
 * process and on the very same PSV bytes:
 *
 *   publish   the library end to end, source callback to a discarding sink
 *   raw       zlib's raw deflate of the PSV at the same level (the limit)
 *   nocomp    the library with compression off (level 0): everything but
 *             deflate, the library's own work (records, lines, CRC, framing)
 *
 * With --engine isal the library deflates with ISA-L, "blocks" is ISA-L
 * alone in the library's blocks, and "raw" stays zlib's deflate at level 6:
 * the reference the targets of docs/performance.md are ratios to.
 *
 * Repetitions are interleaved and medians reported, so the ratios hold on a
 * noisy machine.  Usage: bench [--records N] [--level L] [--threads T]
 *                              [--engine zlib|isal] [--reps R] [--seed S]
 */
#define _POSIX_C_SOURCE 200809L
#include <onhandpub.h>

#include "publish.h" /* the block layout, OHP_DF_* */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#ifdef OHP_HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif
#include <time.h>
#include <zlib.h>

/* ---- deterministic generator ---- */

static uint64_t rng_state;
static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}
/* 0..n-1 from the high half of rnd(), by multiplication: no division per pick */
static unsigned pick(unsigned n)
{
    return (unsigned)(((rnd() >> 32) * (uint64_t)n) >> 32);
}

#define NITEMS 5000
#define NLOCS 400
#define NLOTS 2000
/* Three organizations in equal shares; the benchmark publishes M1. */
static const char *orgs[] = {"M1", "M2", "D10"};
static const char *org_ids[] = {"204", "205", "310"};
static const char *subs[] = {"FGI", "STORES", "RIP", "STAGE", "QA"};
static const char *uoms[] = {"Ea", "Kg", "Bx", "Lb", "Cs"};
static const char *statuses[] = {"Active", "Hold", "Quarantine", ""};
static char items[NITEMS][24], item_ids[NITEMS][12], locs[NLOCS][24], loc_ids[NLOCS][12],
    lots[NLOTS][16], dates[64][24], exps[64][16];
static int item_serial[NITEMS], item_dual[NITEMS];

/*
 * The picks are sequenced one statement each (the order in which a
 * function's arguments are evaluated is unspecified), last argument first.
 */
static void gen_pools(uint64_t seed)
{
    rng_state = seed ? seed : 88172645463325252ULL;
    for (int i = 0; i < NITEMS; i++) {
        /* About 1% of item numbers need quoting. */
        if (pick(100) == 0) {
            unsigned q = pick(90);
            snprintf(items[i], sizeof items[i], "AS%05d|\"%u\"", i, q);
        } else {
            unsigned c = pick(26);
            snprintf(items[i], sizeof items[i], "AS%05d-%c", i, (char)('A' + c));
        }
        snprintf(item_ids[i], sizeof item_ids[i], "%d", 100000 + i);
        item_serial[i] = pick(5) == 0;
        item_dual[i] = !item_serial[i] && pick(10) == 0;
    }
    for (int i = 0; i < NLOCS; i++) {
        unsigned d = pick(10), c = pick(60), b = pick(40), a = pick(8);
        snprintf(locs[i], sizeof locs[i], "%c%u.%02u.%02u", (char)('A' + a), b, c, d);
        snprintf(loc_ids[i], sizeof loc_ids[i], "%d", 3000 + i);
    }
    for (int i = 0; i < NLOTS; i++)
        snprintf(lots[i], sizeof lots[i], "L%06u", (unsigned)(rnd() % 1000000));
    for (int i = 0; i < 64; i++) {
        unsigned s = pick(60), mi = pick(60), h = pick(24), d = 1 + pick(28), m = 1 + pick(10);
        snprintf(dates[i], sizeof dates[i], "2026/%02u/%02u %02u:%02u:%02u", m, d, h, mi, s);
        unsigned ed = 1 + pick(28), em = 1 + pick(12);
        snprintf(exps[i], sizeof exps[i], "2027/%02u/%02u", em, ed);
    }
}

/*
 * The workload is generated once, before anything is timed, into compact
 * records (indices into the pools above plus an arena of quantity and serial
 * text), and replayed by the source callback.  Replaying costs a few
 * nanoseconds per record, so the publish time is the library's, not the
 * random number generator's.
 */
enum { W_LOT = 1, W_CONSIGNED = 2, W_SERIAL = 4, W_RANGES = 8, W_DUAL = 16 };
#define SN_LEN 10 /* "SN" and 8 digits */
typedef struct wrec {
    uint32_t text; /* arena offset: quantity, secondary quantity, serials */
    uint16_t item, loc, lot;
    uint8_t org, sub, exp, date, status, flags, nranges, qlen, q2len;
} wrec;
typedef struct workload {
    wrec *recs;
    char *arena;
    size_t count, arena_len, arena_cap;
} workload;

static uint64_t serial_seq;

static char *arena_room(workload *w, size_t n)
{
    if (w->arena_len + n > w->arena_cap) {
        size_t cap = w->arena_cap ? w->arena_cap * 2 : 1 << 20;
        while (cap < w->arena_len + n)
            cap *= 2;
        char *a = realloc(w->arena, cap);
        if (a == NULL) {
            fprintf(stderr, "bench: out of memory\n");
            exit(1);
        }
        w->arena = a;
        w->arena_cap = cap;
    }
    return w->arena + w->arena_len;
}

/* Zero-padded decimal of `width` digits at p; returns the end. */
static char *put_padded(char *p, uint64_t v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + width;
}

/* Decimal of v at p (no terminator); returns the end. */
static char *put_uint(char *p, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* Draw one record: x gets the indices, the arena its text. */
static void gen_one(workload *w, wrec *x)
{
    memset(x, 0, sizeof *x);
    x->org = (uint8_t)pick(3);
    unsigned it = pick(NITEMS);
    x->item = (uint16_t)it;
    x->sub = (uint8_t)pick(5);
    x->loc = (uint16_t)pick(NLOCS);
    if (pick(2)) {
        x->flags |= W_LOT;
        x->lot = (uint16_t)pick(NLOTS);
        x->exp = (uint8_t)pick(64);
    }
    x->status = (uint8_t)pick(4);
    x->date = (uint8_t)pick(64);
    if (pick(50) == 0)
        x->flags |= W_CONSIGNED;
    /* quantity, secondary quantity and serials, each NUL-terminated */
    char *t = arena_room(w, 32 + 32 + 20 * (SN_LEN + 1) * 2);
    x->text = (uint32_t)w->arena_len;
    char *q = t;
    if (item_serial[it]) {
        x->flags |= W_SERIAL;
        unsigned k = 1 + pick(20);
        q = put_uint(q, k);
        x->qlen = (uint8_t)(q - t);
        *q++ = '\0';
        x->q2len = 0;
        *q++ = '\0';
        if (pick(2)) { /* a list */
            for (unsigned i = 0; i < k; i++) {
                if (i)
                    *q++ = ',';
                *q++ = 'S';
                *q++ = 'N';
                q = put_padded(q, ++serial_seq, 8);
            }
            *q++ = '\0';
        } else { /* ranges: "from\0to\0" pairs */
            x->flags |= W_RANGES;
            unsigned parts = k >= 2 ? 1 + pick(2) : 1, left = k;
            x->nranges = (uint8_t)parts;
            for (unsigned i = 0; i < parts; i++) {
                unsigned len = i + 1 == parts ? left : 1 + pick(left - (parts - i - 1));
                left -= len;
                *q++ = 'S';
                *q++ = 'N';
                q = put_padded(q, serial_seq + 1, 8);
                *q++ = '\0';
                *q++ = 'S';
                *q++ = 'N';
                q = put_padded(q, serial_seq + len, 8);
                *q++ = '\0';
                serial_seq += len + pick(3);
            }
        }
    } else {
        uint64_t whole = pick(5000), quarter = pick(4);
        q = put_uint(q, quarter ? whole : whole + 1);
        if (quarter) {
            *q++ = '.';
            q = put_padded(q, quarter * 25, 2);
        }
        x->qlen = (uint8_t)(q - t);
        *q++ = '\0';
        char *q2 = q;
        if (item_dual[it]) {
            x->flags |= W_DUAL;
            q = put_uint(q, whole * 2);
            memcpy(q, ".5", 2);
            q += 2;
        }
        x->q2len = (uint8_t)(q - q2);
        *q++ = '\0';
    }
    w->arena_len += (size_t)(q - t);
}

static void workload_make(workload *w, uint64_t count, uint64_t seed)
{
    memset(w, 0, sizeof *w);
    gen_pools(seed);
    serial_seq = 0;
    w->recs = malloc((count ? count : 1) * sizeof *w->recs);
    if (w->recs == NULL) {
        fprintf(stderr, "bench: out of memory\n");
        exit(1);
    }
    for (uint64_t i = 0; i < count; i++)
        gen_one(w, &w->recs[i]);
    w->count = count;
}

static void workload_free(workload *w)
{
    free(w->recs);
    free(w->arena);
    memset(w, 0, sizeof *w);
}

/* Replay position, and room for one record's serial ranges. */
typedef struct replay {
    const workload *w;
    size_t n;
    ohp_serial ranges[4];
} replay;

static void fill(const workload *w, const wrec *x, ohp_serial *ranges, ohp_record *r)
{
    r->organization_id = org_ids[x->org];
    r->organization_code = orgs[x->org];
    r->inventory_item_id = item_ids[x->item];
    r->item_number = items[x->item];
    r->subinventory_code = subs[x->sub];
    r->locator_id = loc_ids[x->loc];
    r->locator_name = locs[x->loc];
    if (x->flags & W_LOT) {
        r->lot_number = lots[x->lot];
        r->lot_expiration_date = exps[x->exp];
    }
    r->primary_uom_code = uoms[x->item % 5];
    r->material_status_code = statuses[x->status];
    r->last_update_date = dates[x->date];
    if (x->flags & W_CONSIGNED) {
        r->consigned = 1;
        r->owning_party_id = "7001";
    }
    const char *t = w->arena + x->text;
    r->primary_quantity = t;
    t += x->qlen + 1;
    if (x->flags & W_DUAL) {
        r->secondary_quantity = t;
        r->secondary_uom_code = "Kg";
    }
    t += x->q2len + 1;
    if (x->flags & W_SERIAL) {
        r->serial_controlled = 1;
        if (x->flags & W_RANGES) {
            for (unsigned i = 0; i < x->nranges; i++) {
                ranges[i].from = t + (2 * i) * (SN_LEN + 1);
                ranges[i].to = t + (2 * i + 1) * (SN_LEN + 1);
            }
            r->serials = ranges;
            r->serial_count = x->nranges;
        } else {
            r->serial_list = t;
        }
    }
}

static int replay_next(void *ud, ohp_record *r)
{
    replay *p = ud;
    if (p->n >= p->w->count)
        return 0;
    fill(p->w, &p->w->recs[p->n++], p->ranges, r);
    return 1;
}

/* ---- allocator counting the library's peak heap ---- */

typedef struct counting {
    size_t live, peak;
} counting;
#define HDR 16
static void *c_malloc(void *op, size_t n)
{
    counting *c = op;
    unsigned char *p = malloc(n + HDR);
    if (!p)
        return NULL;
    memcpy(p, &n, sizeof n);
    c->live += n;
    if (c->live > c->peak)
        c->peak = c->live;
    return p + HDR;
}
static void c_free(void *op, void *ptr)
{
    counting *c = op;
    if (!ptr)
        return;
    unsigned char *p = (unsigned char *)ptr - HDR;
    size_t n;
    memcpy(&n, p, sizeof n);
    c->live -= n;
    free(p);
}
static void *c_realloc(void *op, void *ptr, size_t n)
{
    if (!ptr)
        return c_malloc(op, n);
    counting *c = op;
    unsigned char *p = (unsigned char *)ptr - HDR;
    size_t old;
    memcpy(&old, p, sizeof old);
    unsigned char *q = realloc(p, n + HDR);
    if (!q)
        return NULL;
    memcpy(q, &n, sizeof n);
    c->live = c->live - old + n;
    if (c->live > c->peak)
        c->peak = c->live;
    return q + HDR;
}

/* ---- sinks ---- */

typedef struct capture {
    unsigned char *data;
    size_t len, cap;
    int keep;
} capture;
static int sink_write(void *ud, const void *buf, size_t len)
{
    capture *c = ud;
    if (c->keep) {
        if (c->len + len > c->cap) {
            c->cap = (c->len + len) * 2;
            c->data = realloc(c->data, c->cap);
            if (!c->data)
                return -1;
        }
        memcpy(c->data + c->len, buf, len);
    }
    c->len += len;
    return 0;
}
static int sink_close(void *ud, int commit)
{
    (void)ud;
    (void)commit;
    return 0;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

typedef struct result {
    double seconds;
    uint64_t lines, psv_bytes, zip_bytes, entry_bytes;
    size_t peak_heap;
} result;

/*
 * Read one byte of every page of buf.  On virtual machines that shadow the
 * guest's page tables, the first access to a large buffer after the process
 * has used other memory costs several microseconds per page (0.1-0.2 s for
 * the PSV of a million records), which would otherwise be charged to
 * whatever reads the buffer first: the limit, not the library.
 */
static void touch(const unsigned char *buf, size_t len)
{
    volatile unsigned char sink = 0;
    for (size_t i = 0; i < len; i += 4096)
        sink ^= buf[i];
    (void)sink;
}

static int g_engine = OHP_ENGINE_ZLIB;

static int publish(const workload *w, int level, unsigned threads, capture *cap, result *res)
{
    counting cnt = {0, 0};
    ohp_allocator al = {OHP_ALLOCATOR_VERSION, c_malloc, c_realloc, c_free, &cnt};
    ohp_job *job = NULL;
    if (ohp_job_new(&job, &al) != OHP_OK)
        return -1;
    replay rp = {w, 0, {{0}}};
    ohp_job_set_source(job, NULL, replay_next, NULL, &rp);
    ohp_job_set_sink(job, NULL, sink_write, sink_close, cap);
    ohp_params p;
    ohp_params_init(&p, OHP_PARAMS_VERSION);
    p.organization_code = "M1";
    p.user = "BENCH";
    p.caller_authorized = 1;
    p.full_publish = 1;
    p.snapshot_date = 1795939200; /* fixed: deterministic output */
    p.compression_level = level;
    p.threads = threads;
    p.engine = g_engine;
    touch((const unsigned char *)w->recs, w->count * sizeof *w->recs);
    touch((const unsigned char *)w->arena, w->arena_len);
    double t0 = now();
    int rc = ohp_job_run(job, &p);
    double t1 = now();
    if (rc != OHP_OK) {
        fprintf(stderr, "bench: %s\n", ohp_job_errmsg(job));
        ohp_job_free(job);
        return -1;
    }
    const ohp_summary *s = ohp_job_summary(job);
    res->seconds = t1 - t0;
    res->lines = s->lines_written;
    res->psv_bytes = s->psv_bytes;
    res->zip_bytes = s->zip_bytes;
    res->entry_bytes = s->compressed_bytes;
    ohp_job_free(job);
    res->peak_heap = cnt.peak;
    return 0;
}

/* Write the workload in the connector's balances input layout. */
static void put_field(FILE *f, const char *s, int last)
{
    if (s && strpbrk(s, "|\"\r\n")) {
        fputc('"', f);
        for (; *s; s++) {
            if (*s == '"')
                fputc('"', f);
            fputc(*s, f);
        }
        fputc('"', f);
    } else if (s) {
        fputs(s, f);
    }
    fputc(last ? '\n' : '|', f);
}

static int write_input(const char *path, uint64_t records, uint64_t seed)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        return 1;
    }
    fputs("ORGANIZATION_ID|ORGANIZATION_CODE|INVENTORY_ITEM_ID|ITEM_NUMBER|REVISION|"
          "SUBINVENTORY_CODE|LOCATOR_ID|LOCATOR_NAME|LOT_NUMBER|LOT_EXPIRATION_DATE|"
          "SERIAL_CONTROLLED|SERIAL_NUMBERS|PRIMARY_QUANTITY|PRIMARY_UOM_CODE|"
          "SECONDARY_QUANTITY|SECONDARY_UOM_CODE|CONSIGNED_FLAG|OWNING_PARTY_ID|PROJECT_ID|"
          "TASK_ID|MATERIAL_STATUS_CODE|LAST_UPDATE_DATE\n",
          f);
    workload w;
    workload_make(&w, records, seed);
    ohp_record r;
    ohp_serial ranges[4];
    char serials[20 * 48];
    for (size_t n = 0; n < w.count; n++) {
        memset(&r, 0, sizeof r);
        fill(&w, &w.recs[n], ranges, &r);
        const char *sl = r.serial_list;
        if (r.serials) {
            char *p = serials;
            for (size_t i = 0; i < r.serial_count; i++)
                p += sprintf(p, "%s%s..%s", i ? "," : "", r.serials[i].from, r.serials[i].to);
            sl = serials;
        }
        put_field(f, r.organization_id, 0);
        put_field(f, r.organization_code, 0);
        put_field(f, r.inventory_item_id, 0);
        put_field(f, r.item_number, 0);
        put_field(f, r.revision, 0);
        put_field(f, r.subinventory_code, 0);
        put_field(f, r.locator_id, 0);
        put_field(f, r.locator_name, 0);
        put_field(f, r.lot_number, 0);
        put_field(f, r.lot_expiration_date, 0);
        put_field(f, r.serial_controlled ? "Y" : "N", 0);
        put_field(f, sl, 0);
        put_field(f, r.primary_quantity, 0);
        put_field(f, r.primary_uom_code, 0);
        put_field(f, r.secondary_quantity, 0);
        put_field(f, r.secondary_uom_code, 0);
        put_field(f, r.consigned ? "Y" : "N", 0);
        put_field(f, r.owning_party_id, 0);
        put_field(f, r.project_id, 0);
        put_field(f, r.task_id, 0);
        put_field(f, r.material_status_code, 0);
        put_field(f, r.last_update_date, 1);
    }
    workload_free(&w);
    return fclose(f) == 0 ? 0 : 1;
}

/* The stored PSV of a level-0 archive: after the local header. */
static const unsigned char *stored_entry(const capture *c, size_t psv_len)
{
    if (c->len < 30)
        return NULL;
    size_t name = c->data[26] | (size_t)c->data[27] << 8;
    size_t extra = c->data[28] | (size_t)c->data[29] << 8;
    size_t off = 30 + name + extra;
    return off + psv_len <= c->len ? c->data + off : NULL;
}

/*
 * zlib's raw deflate of buf in one stream (all input in one call), its
 * output going to a 1 MiB buffer that is reused, as to a discarding sink.
 */
static double raw_deflate(const unsigned char *buf, size_t len, int level, size_t *out_len)
{
    static unsigned char out[1 << 20];
    z_stream s;
    memset(&s, 0, sizeof s);
    if (deflateInit2(&s, level, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    memset(out, 0, sizeof out);
    touch(buf, len);
    double t0 = now();
    s.next_in = (unsigned char *)(uintptr_t)buf;
    s.avail_in = (uInt)len;
    int rc;
    do {
        s.next_out = out;
        s.avail_out = sizeof out;
        rc = deflate(&s, Z_FINISH);
    } while (rc == Z_OK || rc == Z_BUF_ERROR);
    double t1 = now();
    *out_len = s.total_out;
    deflateEnd(&s);
    return rc == Z_STREAM_END ? t1 - t0 : -1;
}

/*
 * The same deflate in the library's blocks (OHP_DF_BLOCK bytes, each primed
 * with the OHP_DF_DICT_SIZE bytes before it and ended by a sync flush): the
 * limit for output that is the same whatever the number of threads.
 */
static double block_deflate(const unsigned char *buf, size_t len, int level, size_t *out_len)
{
    static unsigned char out[1 << 20];
    z_stream s;
    memset(&s, 0, sizeof s);
    if (deflateInit2(&s, level, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    memset(out, 0, sizeof out);
    touch(buf, len);
    size_t dict = OHP_DF_DICT_SIZE(level), total = 0;
    int rc = Z_OK;
    double t0 = now();
    for (size_t off = 0; off < len && rc != Z_STREAM_ERROR; off += OHP_DF_BLOCK) {
        size_t n = len - off < OHP_DF_BLOCK ? len - off : OHP_DF_BLOCK;
        bool last = off + n == len;
        rc = deflateReset(&s);
        if (rc == Z_OK && off > 0)
            rc = deflateSetDictionary(&s, buf + off - dict, (uInt)dict);
        if (rc != Z_OK)
            break;
        s.next_in = (unsigned char *)(uintptr_t)(buf + off);
        s.avail_in = (uInt)n;
        do {
            s.next_out = out;
            s.avail_out = sizeof out;
            rc = deflate(&s, last ? Z_FINISH : Z_SYNC_FLUSH);
            total += sizeof out - s.avail_out;
        } while (rc == Z_OK && (s.avail_out == 0 || (last && s.avail_in == 0)));
    }
    double t1 = now();
    *out_len = total;
    deflateEnd(&s);
    return rc == Z_STREAM_END ? t1 - t0 : -1;
}

#ifdef OHP_HAVE_ISAL
/* ISA-L alone in the library's blocks (OHP_DF_ISAL_LEVEL, 32 KiB dictionaries). */
static double isal_block_deflate(const unsigned char *buf, size_t len, int level, size_t *out_len)
{
    static unsigned char out[1 << 20];
    static unsigned char lvl_buf[ISAL_DEF_LVL3_DEFAULT];
    static struct isal_zstream s;
    touch(buf, len);
    size_t total = 0;
    double t0 = now();
    isal_deflate_init(&s);
    for (size_t off = 0; off < len; off += OHP_DF_BLOCK) {
        size_t n = len - off < OHP_DF_BLOCK ? len - off : OHP_DF_BLOCK;
        bool last = off + n == len;
        isal_deflate_reset(&s);
        s.level = (uint32_t)OHP_DF_ISAL_LEVEL(level);
        s.level_buf = lvl_buf;
        s.level_buf_size = sizeof lvl_buf;
        s.flush = SYNC_FLUSH;
        s.end_of_stream = last;
        if (off > 0 &&
            isal_deflate_set_dict(&s, (unsigned char *)(uintptr_t)(buf + off - OHP_DF_DICT),
                                  (uint32_t)OHP_DF_DICT) != COMP_OK)
            return -1;
        s.next_in = (unsigned char *)(uintptr_t)(buf + off);
        s.avail_in = (uint32_t)n;
        do {
            s.next_out = out;
            s.avail_out = sizeof out;
            if (isal_deflate(&s) != COMP_OK)
                return -1;
            total += sizeof out - s.avail_out;
        } while (s.avail_in != 0 || s.internal_state.state != (last ? ZSTATE_END : ZSTATE_NEW_HDR));
    }
    double t1 = now();
    *out_len = total;
    return t1 - t0;
}
#endif

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    uint64_t records = 100000, seed = 1;
    const char *dump = NULL, *only = NULL, *dump_input = NULL;
    int level = 6, reps = 5;
    unsigned threads = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v && strcmp(a, "--records") == 0)
            records = strtoull(v, NULL, 10), i++;
        else if (v && strcmp(a, "--level") == 0)
            level = atoi(v), i++;
        else if (v && strcmp(a, "--threads") == 0)
            threads = (unsigned)atoi(v), i++;
        else if (v && strcmp(a, "--reps") == 0)
            reps = atoi(v), i++;
        else if (v && strcmp(a, "--only") == 0)
            only = v, i++;
        else if (v && strcmp(a, "--dump-input") == 0)
            dump_input = v, i++;
        else if (v && strcmp(a, "--dump") == 0)
            dump = v, i++;
        else if (v && strcmp(a, "--seed") == 0)
            seed = strtoull(v, NULL, 10), i++;
        else if (v && strcmp(a, "--engine") == 0 &&
                 (strcmp(v, "zlib") == 0 || strcmp(v, "isal") == 0))
            g_engine = strcmp(v, "isal") == 0 ? OHP_ENGINE_ISAL : OHP_ENGINE_ZLIB, i++;
        else {
            fprintf(stderr, "usage: bench [--records N] [--level 1-9] [--threads T] [--reps R] "
                            "[--seed S] [--dump PSV_FILE] [--dump-input BALANCES_PSV] "
                            "[--only publish|nocomp] [--engine zlib|isal]\n");
            return 2;
        }
    }
    if (!ohp_engine_available(g_engine)) {
        fprintf(stderr, "bench: this build of the library has no ISA-L\n");
        return 2;
    }
#ifndef OHP_HAVE_ISAL
    if (g_engine == OHP_ENGINE_ISAL) {
        fprintf(stderr, "bench: built without ISA-L\n");
        return 2;
    }
#endif
    /* ISA-L's figures are ratios to zlib's level 6, whatever ISA-L's level. */
    int raw_level = g_engine == OHP_ENGINE_ISAL ? 6 : level;
    if (reps < 1 || reps > 99 || level < 1 || level > 9) {
        fprintf(stderr, "bench: --reps 1-99, --level 1-9\n");
        return 2;
    }

    if (dump_input)
        return write_input(dump_input, records, seed);
    workload w;
    workload_make(&w, records, seed);
    if (only) { /* one phase alone, for profilers */
        result r;
        capture discard = {NULL, 0, 0, 0};
        int lv = strcmp(only, "nocomp") == 0 ? 0 : level;
        double best = 0;
        for (int i = 0; i < reps; i++) {
            if (publish(&w, lv, threads, &discard, &r))
                return 1;
            if (i == 0 || r.seconds < best)
                best = r.seconds;
        }
        printf("%s: %.3f s (last of %d), fastest %.3f s, %.0f ns per source record\n", only,
               r.seconds, reps, best, best / (double)records * 1e9);
        return 0;
    }

    /* The PSV itself, for the raw-deflate limit. */
    capture cap = {NULL, 0, 0, 1};
    result r0;
    if (publish(&w, 0, 1, &cap, &r0))
        return 1;
    const unsigned char *psv = stored_entry(&cap, r0.psv_bytes);
    if (psv == NULL) {
        fprintf(stderr, "bench: cannot locate the stored entry\n");
        return 1;
    }

    if (dump) {
        FILE *f = fopen(dump, "wb");
        if (f == NULL || fwrite(psv, 1, r0.psv_bytes, f) != r0.psv_bytes || fclose(f) != 0) {
            perror(dump);
            return 1;
        }
    }
    double t_pub[99] = {0}, t_raw[99] = {0}, t_off[99] = {0}, t_blk[99] = {0};
    result rp = {0}, ro = {0};
    size_t raw_len = 0, blk_len = 0;
    for (int i = 0; i < reps; i++) {
        capture discard = {NULL, 0, 0, 0};
        if (publish(&w, level, threads, &discard, &rp))
            return 1;
        t_pub[i] = rp.seconds;
        t_raw[i] = raw_deflate(psv, r0.psv_bytes, raw_level, &raw_len);
#ifdef OHP_HAVE_ISAL
        if (g_engine == OHP_ENGINE_ISAL)
            t_blk[i] = isal_block_deflate(psv, r0.psv_bytes, level, &blk_len);
        else
#endif
            t_blk[i] = block_deflate(psv, r0.psv_bytes, level, &blk_len);
        if (t_raw[i] < 0 || t_blk[i] < 0) {
            fprintf(stderr, "bench: deflate failed\n");
            return 1;
        }
        capture discard0 = {NULL, 0, 0, 0};
        if (publish(&w, 0, 1, &discard0, &ro))
            return 1;
        t_off[i] = ro.seconds;
    }
    /* the same ratios within each repetition (before the medians sort the times): on a
       machine whose speed drifts, the interleaved pairs are the steadier figure */
    double pr[99] = {0}, orr[99] = {0}, br[99] = {0}, pbr[99] = {0};
    for (int i = 0; i < reps; i++) {
        pr[i] = t_pub[i] / t_raw[i];
        br[i] = t_blk[i] / t_raw[i];
        pbr[i] = t_pub[i] / t_blk[i];
        orr[i] = t_off[i] / t_raw[i];
    }
    double pub = median(t_pub, reps), raw = median(t_raw, reps), off = median(t_off, reps),
           blk = median(t_blk, reps);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double mb = (double)rp.psv_bytes / 1e6;
    printf("records            %llu (seed %llu)\n", (unsigned long long)records,
           (unsigned long long)seed);
    printf("output lines       %llu\n", (unsigned long long)rp.lines);
    printf("PSV bytes          %llu (%.1f MB)\n", (unsigned long long)rp.psv_bytes, mb);
    printf("ZIP bytes          %llu (raw deflate %zu, ratio %.4f)\n",
           (unsigned long long)rp.zip_bytes, raw_len, (double)rp.zip_bytes / (double)raw_len);
    printf("level / threads    %d / %u, %d repetitions, medians\n", level, threads, reps);
    printf("engine             %s%s\n", g_engine == OHP_ENGINE_ISAL ? "isal" : "zlib",
           g_engine == OHP_ENGINE_ISAL ? " (raw deflate: zlib level 6)" : "");
    printf("entry size         %.4f of raw deflate's\n", (double)rp.entry_bytes / (double)raw_len);
    printf("publish            %.3f s  %.0f lines/s  %.1f MB/s\n", pub, (double)rp.lines / pub,
           mb / pub);
    printf("raw deflate        %.3f s  %.1f MB/s\n", raw, mb / raw);
    printf("deflate in blocks  %.3f s  %.1f MB/s (raw deflate in the library's blocks: %zu bytes, "
           "%s)\n",
           blk, mb / blk, blk_len,
           blk_len == rp.entry_bytes ? "the entry's size" : "NOT the entry's size");
    printf("compression off    %.3f s  %.1f MB/s\n", off, mb / off);
    printf("publish / raw      %.3f\n", pub / raw);
    printf("blocks / raw       %.3f (per repetition median %.3f)\n", blk / raw, median(br, reps));
    printf("publish / blocks   %.3f (per repetition median %.3f)\n", pub / blk, median(pbr, reps));
    printf("nocomp / raw       %.3f (the library's own work: %.0f ns per source record)\n",
           off / raw, off / (double)records * 1e9);
    double pr_med = median(pr, reps), or_med = median(orr, reps);
    printf("per repetition     publish / raw min %.3f median %.3f max %.3f; nocomp / raw min "
           "%.3f median %.3f max %.3f\n",
           pr[0], pr_med, pr[reps - 1], orr[0], or_med, orr[reps - 1]);
    printf("peak heap          %zu bytes (library, level %d, %u threads)\n", rp.peak_heap, level,
           threads);
    printf("peak RSS           %ld KiB (process, includes the captured PSV)\n", ru.ru_maxrss);
    free(cap.data);
    workload_free(&w);
    return 0;
}
