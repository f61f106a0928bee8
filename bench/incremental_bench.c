/*
 * incremental_bench - memory and time of an incremental publish (whole keys).
 *
 * Generates N source records in memory, about two per balance key (detail
 * rows, one row per serial), of which a given share of the keys has a record
 * changed after the watermark, in random positions.  It runs the same
 * records as a full publish and as an incremental one, each through a
 * counting allocator and a discarding sink, and reports the library's peak
 * heap, the changed keys, the bytes per changed key above the full run's
 * peak, and the CPU time of each.
 *
 * Usage: incremental_bench [--records N] [--changed-percent P] [--seed S]
 */
#define _POSIX_C_SOURCE 200809L
#include <onhandpub.h>

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct counter {
    size_t live, peak;
} counter;

/* Each block carries its size in a header of 16 bytes (alignment kept). */
static void *c_malloc(void *ud, size_t n)
{
    counter *c = ud;
    unsigned char *p = malloc(n + 16);
    if (p == NULL)
        return NULL;
    memcpy(p, &n, sizeof n);
    c->live += n;
    if (c->live > c->peak)
        c->peak = c->live;
    return p + 16;
}

static void c_free(void *ud, void *q)
{
    counter *c = ud;
    if (q == NULL)
        return;
    unsigned char *p = (unsigned char *)q - 16;
    size_t n;
    memcpy(&n, p, sizeof n);
    c->live -= n;
    free(p);
}

static void *c_realloc(void *ud, void *q, size_t n)
{
    if (q == NULL)
        return c_malloc(ud, n);
    counter *c = ud;
    unsigned char *p = (unsigned char *)q - 16;
    size_t old;
    memcpy(&old, p, sizeof old);
    unsigned char *np = realloc(p, n + 16);
    if (np == NULL)
        return NULL;
    memcpy(np, &n, sizeof n);
    c->live = c->live - old + n;
    if (c->live > c->peak)
        c->peak = c->live;
    return np + 16;
}

typedef struct gen {
    size_t n, next;
    char (*item)[16];
    char (*serial)[16];
    unsigned char *changed; /* per record: its date is after the watermark */
    unsigned char *serial_controlled;
} gen;

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int src_open(void *ud, const ohp_source_query *q)
{
    (void)q;
    ((gen *)ud)->next = 0;
    return 0;
}

static int src_next(void *ud, ohp_record *r)
{
    gen *g = ud;
    if (g->next == g->n)
        return 0;
    size_t i = g->next++;
    r->organization_code = "M1";
    r->item_number = g->item[i];
    r->subinventory_code = "FGI";
    r->locator_name = "A1.01";
    r->serial_controlled = g->serial_controlled[i];
    r->serial_list = g->serial_controlled[i] ? g->serial[i] : NULL;
    r->primary_quantity = g->serial_controlled[i] ? "1" : "12.5";
    r->primary_uom_code = "Ea";
    r->last_update_date = g->changed[i] ? "2026/06/02 10:00:00" : "2026/05/01 10:00:00";
    return 1;
}

static int sink_write(void *ud, const void *b, size_t n)
{
    (void)b;
    *(uint64_t *)ud += n;
    return 0;
}

static int sink_close(void *ud, int commit)
{
    (void)ud;
    (void)commit;
    return 0;
}

static int64_t when_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int get_w(void *ud, const char *s, const char *o, int64_t *w)
{
    (void)s;
    (void)o;
    *w = *(int64_t *)ud;
    return 0;
}

static void run(gen *g, int full, size_t *peak, uint64_t *changed_keys, uint64_t *lines,
                int64_t *ms)
{
    counter cnt = {0, 0};
    ohp_allocator al = {OHP_ALLOCATOR_VERSION, c_malloc, c_realloc, c_free, &cnt};
    ohp_job *job;
    if (ohp_job_new(&job, &al) != OHP_OK)
        exit(1);
    uint64_t bytes = 0;
    int64_t w;
    ohp_date_parse("2026/06/01", &w);
    ohp_job_set_source(job, src_open, src_next, NULL, g);
    ohp_job_set_sink(job, NULL, sink_write, sink_close, &bytes);
    ohp_job_set_state_store(job, get_w, NULL, NULL, &w);
    ohp_params p;
    ohp_params_init(&p, OHP_PARAMS_VERSION);
    p.organization_code = "M1";
    p.user = "BENCH";
    p.caller_authorized = 1;
    p.full_publish = full;
    ohp_date_parse("2026/06/03", &p.snapshot_date);
    int64_t t0 = when_ms();
    int rc = ohp_job_run(job, &p);
    *ms = when_ms() - t0;
    if (rc != OHP_OK) {
        fprintf(stderr, "run failed: %s\n", ohp_job_errmsg(job));
        exit(1);
    }
    *peak = cnt.peak;
    *changed_keys = ohp_job_summary(job)->changed_keys;
    *lines = ohp_job_summary(job)->lines_written;
    ohp_job_free(job);
}

int main(int argc, char **argv)
{
    size_t n = 1000000;
    double pct = 1.0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--records") == 0)
            n = strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--changed-percent") == 0)
            pct = strtod(argv[i + 1], NULL);
        else if (strcmp(argv[i], "--seed") == 0)
            rng = strtoull(argv[i + 1], NULL, 10) | 1;
    }
    gen g = {n, 0, NULL, NULL, NULL, NULL};
    g.item = calloc(n, sizeof *g.item);
    g.serial = calloc(n, sizeof *g.serial);
    g.changed = calloc(n, 1);
    g.serial_controlled = calloc(n, 1);
    size_t keys = n / 2;
    unsigned char *key_changed = calloc(keys, 1);
    if (!g.item || !g.serial || !g.changed || !g.serial_controlled || !key_changed) {
        free(g.item);
        free(g.serial);
        free(g.changed);
        free(g.serial_controlled);
        free(key_changed);
        return 1;
    }
    size_t want = (size_t)((double)keys * pct / 100.0 + 0.5), marked = 0;
    while (marked < want) {
        size_t k = rnd() % keys;
        if (!key_changed[k]) {
            key_changed[k] = 1;
            marked++;
        }
    }
    /* Two records per key, keys spread over the input in random order. */
    size_t *order = malloc(n * sizeof *order);
    for (size_t i = 0; i < n; i++)
        order[i] = i / 2;
    for (size_t i = n; i > 1; i--) {
        size_t j = rnd() % i, t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    unsigned char *first_seen = calloc(keys, 1);
    for (size_t i = 0; i < n; i++) {
        size_t k = order[i] < keys ? order[i] : keys - 1;
        snprintf(g.item[i], sizeof g.item[i], "IT%08zu", k);
        g.serial_controlled[i] = k % 5 == 0;
        snprintf(g.serial[i], sizeof g.serial[i], "SN%zu", i);
        /* of a changed key, one of its two records changed */
        g.changed[i] = key_changed[k] && !first_seen[k];
        first_seen[k] = 1;
    }
    free(first_seen);
    free(order);
    size_t peak_full, peak_incr;
    uint64_t ck_full, ck_incr, lines_full, lines_incr;
    int64_t ms_full, ms_incr;
    run(&g, 1, &peak_full, &ck_full, &lines_full, &ms_full);
    run(&g, 0, &peak_incr, &ck_incr, &lines_incr, &ms_incr);
    printf("records            %zu (%zu keys, %.2f%% changed)\n", n, keys, pct);
    printf("full publish       %" PRIu64 " lines, peak heap %zu bytes, %lld ms CPU\n", lines_full,
           peak_full, (long long)ms_full);
    printf("incremental        %" PRIu64 " lines, %" PRIu64 " changed keys, peak heap %zu bytes, "
           "%lld ms CPU (two passes)\n",
           lines_incr, ck_incr, peak_incr, (long long)ms_incr);
    if (ck_incr > 0 && peak_incr > peak_full)
        printf("per changed key    %.1f bytes above the full run's peak\n",
               (double)(peak_incr - peak_full) / (double)ck_incr);
    free(g.item);
    free(g.serial);
    free(g.changed);
    free(g.serial_controlled);
    free(key_changed);
    return 0;
}
