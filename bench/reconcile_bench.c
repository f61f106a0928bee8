/*
 * reconcile_bench - time and memory of a reconciliation against the time of
 * just reading and parsing both sides.
 *
 *   reconcile_bench [--scrambled] [--warm] [--reps R] [LINES]
 *
 * LINES defaults to 1,000,000 lines on each side, R to 5.  The ERP side is a
 * published ZIP (deflate level 1) of LINES lines, one in ten items
 * serial-controlled; the external side is the same balances in the
 * connector's balances layout with one line in a hundred changed.  Items
 * come in key order, as an ERP extract ordered by item writes them; with
 * --scrambled their numbers are scattered so that neither side is in key
 * order.
 *
 * Each repetition times reading and checking both sides without comparing
 * (the snapshot reader over the ZIP, the PSV reader over the external file
 * with its quantities parsed) and then a whole reconciliation; the program
 * prints the medians (CPU time of the process), their ratio, the
 * reconciler's peak heap (counted through the allocator) and the bytes per
 * key.
 *
 * With --warm the allocator keeps the large blocks (64 KiB and more) a
 * reconciliation frees and hands them to the next one, as a caching
 * allocator in a long-running host would, after one untimed warm-up run.
 * The difference from the default is what first mapping the reconciler's
 * memory costs on the machine.
 */
#include <onhandpub.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* ---- counting allocator ---- */

typedef struct counter {
    size_t live, peak;
} counter;

typedef struct hdr {
    size_t size;
    size_t pad;
} hdr;

/* --warm: freed large blocks, kept for reuse */
#define WARM_MIN ((size_t)64 * 1024)
static int warm;
static hdr *cache[4096];
static size_t ncache;

static hdr *cache_take(size_t n)
{
    for (size_t i = 0; i < ncache; i++) {
        if (cache[i]->size == n) {
            hdr *h = cache[i];
            cache[i] = cache[--ncache];
            return h;
        }
    }
    return NULL;
}

static void *c_malloc(void *op, size_t n)
{
    counter *c = op;
    hdr *h = warm && n >= WARM_MIN ? cache_take(n) : NULL;
    if (h == NULL)
        h = malloc(sizeof *h + n);
    if (h == NULL)
        return NULL;
    h->size = n;
    c->live += n;
    if (c->live > c->peak)
        c->peak = c->live;
    return h + 1;
}

static void c_free(void *op, void *p)
{
    if (p == NULL)
        return;
    counter *c = op;
    hdr *h = (hdr *)p - 1;
    c->live -= h->size;
    if (warm && h->size >= WARM_MIN && ncache < sizeof cache / sizeof cache[0])
        cache[ncache++] = h;
    else
        free(h);
}

static void *c_realloc(void *op, void *p, size_t n)
{
    if (p == NULL || (warm && n >= WARM_MIN)) {
        void *q = c_malloc(op, n);
        if (q != NULL && p != NULL) {
            size_t old = ((hdr *)p - 1)->size;
            memcpy(q, p, old < n ? old : n);
            c_free(op, p);
        }
        return q;
    }
    counter *c = op;
    hdr *h = (hdr *)p - 1;
    size_t old = h->size;
    hdr *nh = realloc(h, sizeof *nh + n);
    if (nh == NULL)
        return NULL;
    nh->size = n;
    c->live = c->live - old + n;
    if (c->live > c->peak)
        c->peak = c->live;
    return nh + 1;
}

/* ---- the data ---- */

static int scrambled;

typedef struct gen {
    size_t lines, emitted, rec;
    char item[32], qty[32], lot[32], serials[64];
} gen;

/* Record i: one in ten serial-controlled with 2 serials, others with a lot and a locator. */
static int gen_next(void *ud, ohp_record *r)
{
    gen *g = ud;
    if (g->emitted >= g->lines)
        return 0;
    size_t i = g->rec++;
    /* an odd multiplier prime to 5 permutes the item numbers below 10^8 */
    size_t item = scrambled ? (size_t)((i / 3) * 2654435761ull % 100000000ull) : i / 3;
    snprintf(g->item, sizeof g->item, "ITEM-%08zu", item);
    r->organization_code = "M1";
    r->item_number = g->item;
    r->subinventory_code = i % 3 == 0 ? "FGI" : i % 3 == 1 ? "RAW" : "STORES";
    r->locator_name = i % 2 ? "A1.01.02" : "B7.10.01";
    r->primary_uom_code = "Ea";
    r->last_update_date = "2026/11/01 08:00:00";
    if (i % 10 == 9 && g->lines - g->emitted >= 2) {
        r->serial_controlled = 1;
        snprintf(g->serials, sizeof g->serials, "SN%08zu..SN%08zu", i * 2, i * 2 + 1);
        r->serial_list = g->serials;
        r->primary_quantity = "2";
        g->emitted += 2;
    } else {
        snprintf(g->qty, sizeof g->qty, "%zu.%zu", i % 997 + 1, i % 4 * 25);
        r->primary_quantity = g->qty;
        snprintf(g->lot, sizeof g->lot, "LOT%zu", i % 31);
        r->lot_number = g->lot;
        g->emitted++;
    }
    return 1;
}

typedef struct sink {
    unsigned char *data;
    size_t len, cap;
} sink;

static int s_write(void *ud, const void *buf, size_t len)
{
    sink *s = ud;
    if (s->len + len > s->cap) {
        size_t cap = (s->len + len) * 2;
        unsigned char *p = realloc(s->data, cap);
        if (p == NULL)
            return -1;
        s->data = p;
        s->cap = cap;
    }
    memcpy(s->data + s->len, buf, len);
    s->len += len;
    return 0;
}

static int s_close(void *ud, int commit)
{
    (void)ud;
    (void)commit;
    return 0;
}

static char *external_text(size_t lines, size_t *len)
{
    size_t cap = lines * 120 + 4096, used = 0;
    char *t = malloc(cap);
    if (t == NULL)
        return NULL;
    used += (size_t)snprintf(t, cap,
                             "ORGANIZATION_CODE|ITEM_NUMBER|SUBINVENTORY_CODE|LOCATOR_NAME|"
                             "LOT_NUMBER|SERIAL_NUMBERS|PRIMARY_QUANTITY|PRIMARY_UOM_CODE\n");
    gen g = {lines, 0, 0, "", "", "", ""};
    ohp_record r;
    size_t n = 0;
    for (;;) {
        memset(&r, 0, sizeof r);
        if (gen_next(&g, &r) == 0)
            break;
        const char *q = r.primary_quantity;
        char changed[32];
        if (++n % 100 == 1 && !r.serial_controlled) {
            snprintf(changed, sizeof changed, "%s1", q);
            q = changed;
        }
        used +=
            (size_t)snprintf(t + used, cap - used, "M1|%s|%s|%s|%s|%s|%s|Ea\n", r.item_number,
                             r.subinventory_code, r.locator_name, r.lot_number ? r.lot_number : "",
                             r.serial_list ? r.serial_list : "", q);
    }
    *len = used;
    return t;
}

typedef struct mem_in {
    const char *p;
    size_t len, pos;
} mem_in;

static int mem_read(void *ud, void *buf, size_t cap, size_t *got)
{
    mem_in *m = ud;
    size_t n = m->len - m->pos < cap ? m->len - m->pos : cap;
    memcpy(buf, m->p + m->pos, n);
    m->pos += n;
    *got = n;
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int count_disc(void *ud, const ohp_discrepancy *d)
{
    (void)d;
    ++*(uint64_t *)ud;
    return 0;
}

typedef struct times {
    double read_erp, read_ext, erp, ext, cmp;
    size_t peak;
    long faults; /* minor page faults while reconciling */
} times;

static long minor_faults(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const times *t, size_t n, size_t off)
{
    double v[64] = {0};
    for (size_t i = 0; i < n; i++)
        memcpy(&v[i], (const char *)&t[i] + off, sizeof v[i]);
    qsort(v, n, sizeof v[0], by_value);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * Read one byte of every page of the inputs before a clock starts: on
 * virtual machines that shadow the guest's page tables, the first access to
 * a large buffer after the process has used other memory costs microseconds
 * per page, which belongs to neither measurement.
 */
static void touch(const void *p, size_t len)
{
    const volatile unsigned char *b = p;
    unsigned char x = 0;
    for (size_t i = 0; i < len; i += 4096)
        x ^= b[i];
    (void)x;
}

/* One repetition: read both sides, then reconcile them. */
static int measure(const sink *zip, const char *ext, size_t ext_len, times *t,
                   ohp_reconcile_summary *out, uint64_t *found, uint64_t *n1, uint64_t *n2)
{
    touch(zip->data, zip->len);
    touch(ext, ext_len);
    double t0 = now();
    ohp_snapshot_reader *r;
    ohp_snapshot_reader_open_memory(&r, zip->data, zip->len, NULL);
    const ohp_snapshot_record *rec;
    int rc;
    *n1 = *n2 = 0;
    while ((rc = ohp_snapshot_reader_next(r, &rec)) == 1)
        ++*n1;
    if (rc < 0) {
        fprintf(stderr, "read: %s\n", ohp_snapshot_reader_errmsg(r));
        return -1;
    }
    ohp_snapshot_reader_free(r);
    t->read_erp = now() - t0;
    mem_in in = {ext, ext_len, 0};
    ohp_psv_reader *pr;
    ohp_psv_reader_new(&pr, mem_read, &in, 0, NULL);
    const char *const *f;
    size_t nf;
    char canon[128];
    while (ohp_psv_reader_next(pr, &f, &nf) == 1) {
        if (++*n2 > 1 && ohp_quantity_canonical(f[6], canon, sizeof canon) != OHP_OK)
            return -1;
    }
    --*n2; /* the header */
    ohp_psv_reader_free(pr);
    t->read_ext = now() - t0 - t->read_erp;

    counter c = {0, 0};
    ohp_allocator a = {OHP_ALLOCATOR_VERSION, c_malloc, c_realloc, c_free, &c};
    touch(zip->data, zip->len);
    touch(ext, ext_len);
    long f0 = minor_faults();
    t0 = now();
    ohp_reconcile *rcn;
    ohp_reconcile_new(&rcn, NULL, &a);
    ohp_snapshot_reader_open_memory(&r, zip->data, zip->len, &a);
    if (ohp_reconcile_load_erp(rcn, &r, 1) != OHP_OK) {
        fprintf(stderr, "%s\n", ohp_reconcile_errmsg(rcn));
        return -1;
    }
    ohp_snapshot_reader_free(r);
    t->erp = now() - t0;
    in.pos = 0;
    if (ohp_reconcile_load_external_psv(rcn, mem_read, &in) != OHP_OK) {
        fprintf(stderr, "%s\n", ohp_reconcile_errmsg(rcn));
        return -1;
    }
    t->ext = now() - t0 - t->erp;
    *found = 0;
    if (ohp_reconcile_run(rcn, count_disc, found) != OHP_OK) {
        fprintf(stderr, "%s\n", ohp_reconcile_errmsg(rcn));
        return -1;
    }
    t->cmp = now() - t0 - t->erp - t->ext;
    t->faults = minor_faults() - f0;
    *out = *ohp_reconcile_get_summary(rcn);
    ohp_reconcile_free(rcn);
    t->peak = c.peak;
    return 0;
}

int main(int argc, char **argv)
{
    size_t lines = 1000000, reps = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--scrambled") == 0)
            scrambled = 1;
        else if (strcmp(argv[i], "--warm") == 0)
            warm = 1;
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = (size_t)strtoull(argv[++i], NULL, 10);
        else if (argv[i][0] >= '1' && argv[i][0] <= '9')
            lines = (size_t)strtoull(argv[i], NULL, 10);
        else {
            fprintf(stderr, "usage: reconcile_bench [--scrambled] [--warm] [--reps R] [LINES]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > 64 || lines == 0) {
        fprintf(stderr, "reconcile_bench: --reps is 1 to 64, LINES at least 1\n");
        return 2;
    }
    /* ERP side: publish the ZIP */
    ohp_job *job;
    if (ohp_job_new(&job, NULL) != OHP_OK)
        return 1;
    gen g = {lines, 0, 0, "", "", "", ""};
    sink zip = {NULL, 0, 0};
    ohp_job_set_source(job, NULL, gen_next, NULL, &g);
    ohp_job_set_sink(job, NULL, s_write, s_close, &zip);
    ohp_params p;
    ohp_params_init(&p, OHP_PARAMS_VERSION);
    p.organization_code = "M1";
    p.user = "bench";
    p.caller_authorized = 1;
    p.full_publish = 1;
    p.run_id = 1;
    p.compression_level = 1;
    p.snapshot_date = 1795000000;
    if (ohp_job_run(job, &p) != OHP_OK) {
        fprintf(stderr, "publish: %s\n", ohp_job_errmsg(job));
        return 1;
    }
    uint64_t erp_lines = ohp_job_summary(job)->lines_written;
    ohp_job_free(job);
    size_t ext_len;
    char *ext = external_text(lines, &ext_len);
    if (ext == NULL)
        return 1;
    printf("ERP side: %llu lines%s, ZIP %zu bytes; external side: %zu bytes; %zu repetitions%s\n",
           (unsigned long long)erp_lines, scrambled ? " (items scrambled)" : "", zip.len, ext_len,
           reps, warm ? ", memory reused (--warm)" : "");

    times t[64];
    ohp_reconcile_summary s;
    uint64_t found = 0, n1 = 0, n2 = 0;
    if (warm && measure(&zip, ext, ext_len, &t[0], &s, &found, &n1, &n2) != 0)
        return 1; /* untimed: fills the block cache */
    for (size_t i = 0; i < reps; i++) {
        if (measure(&zip, ext, ext_len, &t[i], &s, &found, &n1, &n2) != 0)
            return 1;
        printf("  repetition %zu: read %.3f + %.3f s, reconcile %.3f + %.3f + %.3f s, %ld page "
               "faults\n",
               i + 1, t[i].read_erp, t[i].read_ext, t[i].erp, t[i].ext, t[i].cmp, t[i].faults);
    }
    double read_erp = median(t, reps, offsetof(times, read_erp));
    double read_ext = median(t, reps, offsetof(times, read_ext));
    double erp = median(t, reps, offsetof(times, erp));
    double extt = median(t, reps, offsetof(times, ext));
    double cmp = median(t, reps, offsetof(times, cmp));
    double ratio[64] = {0};
    for (size_t i = 0; i < reps; i++)
        ratio[i] = (t[i].erp + t[i].ext + t[i].cmp) / (t[i].read_erp + t[i].read_ext);
    qsort(ratio, reps, sizeof ratio[0], by_value);
    uint64_t keys = s.keys_compared, serials = s.erp_serials;
    printf("keys %llu, serials %llu, matched %llu, discrepancies %llu\n", (unsigned long long)keys,
           (unsigned long long)serials, (unsigned long long)s.matched, (unsigned long long)found);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("read+parse both sides: %.3f s (%llu + %llu lines): ERP side %.3f s, external side "
           "%.3f s\n",
           read_erp + read_ext, (unsigned long long)n1, (unsigned long long)n2, read_erp, read_ext);
    printf("reconcile:             %.3f s (%.2fx): ERP side %.3f s, external side %.3f s, "
           "compare %.3f s\n",
           erp + extt + cmp, (erp + extt + cmp) / (read_erp + read_ext), erp, extt, cmp);
    printf("ratio per repetition:  min %.2fx, median %.2fx, max %.2fx\n", ratio[0],
           reps % 2 ? ratio[reps / 2] : (ratio[reps / 2 - 1] + ratio[reps / 2]) / 2,
           ratio[reps - 1]);
    printf("reconciler peak heap:  %.1f MiB (%.0f bytes per key and serial)\n",
           (double)t[0].peak / 1048576.0, (double)t[0].peak / (double)(keys + serials));
    printf("process max RSS:       %.1f MiB (includes both inputs in memory)\n",
           (double)ru.ru_maxrss / 1024.0);
    free(zip.data);
    free(ext);
    while (ncache)
        free(cache[--ncache]);
    return 0;
}
