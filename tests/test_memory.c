/*
 * Flat memory: the library's heap peak does not grow with the number of
 * records or the number of serials of a range.  Records come from a
 * generator (no array of records) and the ZIP goes to a sink that
 * discards it, so only the library's own allocations are measured.
 */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ORG "M1"
#define KIB ((size_t)1024)
#define MIB (1024 * KIB)

static int under_valgrind(void)
{
    const char *v = getenv("OHP_UNDER_VALGRIND");
    return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

/* ---- a generator source ---- */

typedef struct gen {
    uint64_t count, next;
    uint32_t x;
    char item[32], qty[32], lot[32], loc[32], serials[96];
} gen;

static int gen_next(void *ud, ohp_record *rec)
{
    gen *g = ud;
    if (g->next >= g->count)
        return 0;
    uint64_t i = g->next++;
    g->x ^= g->x << 13;
    g->x ^= g->x >> 17;
    g->x ^= g->x << 5;
    snprintf(g->item, sizeof g->item, "ITEM-%08u", (unsigned)(g->x % 100000000u));
    snprintf(g->lot, sizeof g->lot, "LOT-%010llu", (unsigned long long)i);
    snprintf(g->loc, sizeof g->loc, "R%02u.%02u.%02u", (unsigned)(g->x >> 8) % 40u,
             (unsigned)(g->x >> 16) % 20u, (unsigned)(g->x >> 24) % 10u);
    rec->organization_code = ORG;
    rec->item_number = g->item;
    rec->subinventory_code = (i & 3) ? "FGI" : "RAW";
    rec->locator_name = g->loc;
    rec->lot_number = g->lot;
    rec->primary_uom_code = (i % 7 == 0) ? "KG" : "Ea";
    rec->last_update_date = "2026/11/01 08:00:00";
    if (i % 10 == 0) {
        rec->serial_controlled = 1;
        snprintf(g->serials, sizeof g->serials, "G%010llu-A,G%010llu-B,G%010llu-C",
                 (unsigned long long)i, (unsigned long long)i, (unsigned long long)i);
        rec->serial_list = g->serials;
        rec->primary_quantity = "3";
    } else {
        snprintf(g->qty, sizeof g->qty, "%u.%02u", (unsigned)(g->x % 5000u) + 1,
                 (unsigned)(g->x >> 20) % 100u);
        rec->primary_quantity = g->qty;
    }
    return 1;
}

/* ---- a sink that discards ---- */

typedef struct discard {
    uint64_t bytes;
    long writes;
    int committed;
} discard;

static int discard_write(void *ud, const void *buf, size_t len)
{
    (void)buf;
    discard *d = ud;
    d->bytes += len;
    d->writes++;
    return 0;
}

static int discard_close(void *ud, int commit)
{
    ((discard *)ud)->committed = commit;
    return 0;
}

typedef struct measure {
    size_t peak;
    size_t live_after;
    uint64_t lines, zip_bytes, psv_bytes;
} measure;

/* One run of n generated records at level; the allocator's peak. */
static measure run_generated(uint64_t n, int level)
{
    tu_alloc a;
    tu_alloc_init(&a);
    ohp_job *job;
    ck_assert_int_eq(ohp_job_new(&job, &a.pub), OHP_OK);
    gen g = {n, 0, 2463534242u, "", "", "", "", ""};
    ck_assert_int_eq(ohp_job_set_source(job, NULL, gen_next, NULL, &g), OHP_OK);
    discard d = {0, 0, 0};
    ck_assert_int_eq(ohp_job_set_sink(job, NULL, discard_write, discard_close, &d), OHP_OK);
    ohp_params p;
    ohp_params_init(&p, OHP_PARAMS_VERSION);
    p.organization_code = ORG;
    p.user = "ALICE";
    p.caller_authorized = 1;
    p.full_publish = 1;
    p.snapshot_date = tu_date("2026/11/02 06:30:00");
    p.compression_level = level;
    int rc = ohp_job_run(job, &p);
    ck_assert_msg(rc == OHP_OK, "%s", ohp_job_errmsg(job));
    const ohp_summary *s = ohp_job_summary(job);
    ck_assert_uint_eq(s->records_read, n);
    ck_assert_uint_eq(s->records_published, n);
    ck_assert_uint_eq(s->lines_written, n + 2 * ((n + 9) / 10));
    ck_assert_uint_eq(s->zip_bytes, d.bytes);
    ck_assert_int_eq(d.committed, 1);
    measure m = {a.peak, a.live, s->lines_written, s->zip_bytes, s->psv_bytes};
    ohp_job_free(job);
    ck_assert_int_eq(a.blocks, 0);
    return m;
}

static void flat_at_level(int level, size_t limit)
{
    uint64_t small = 10000, large = under_valgrind() ? 40000 : 200000;
    measure ms = run_generated(small, level);
    measure ml = run_generated(large, level);
    printf("level %d: peak heap %zu bytes for %llu records (%llu PSV bytes), %zu bytes for %llu "
           "records (%llu PSV bytes); difference %lld bytes\n",
           level, ms.peak, (unsigned long long)small, (unsigned long long)ms.psv_bytes, ml.peak,
           (unsigned long long)large, (unsigned long long)ml.psv_bytes,
           (long long)ml.peak - (long long)ms.peak);
    fflush(stdout);
    /* The large run really is larger. */
    ck_assert_uint_gt(ml.psv_bytes, 3 * ms.psv_bytes);
    size_t diff = ml.peak > ms.peak ? ml.peak - ms.peak : ms.peak - ml.peak;
    ck_assert_msg(diff <= 64 * KIB, "peak grew by %zu bytes", diff);
    ck_assert_msg(ml.peak < limit, "peak %zu bytes", ml.peak);
    ck_assert_msg(ms.peak < limit, "peak %zu bytes", ms.peak);
    /* The PSV alone is far bigger than the peak: nothing buffers the file. */
    ck_assert_uint_gt(ml.psv_bytes, 4 * ml.peak);
}

START_TEST(test_flat_level6)
{
    flat_at_level(6, MIB);
}
END_TEST

START_TEST(test_flat_level0)
{
    flat_at_level(0, MIB);
}
END_TEST

START_TEST(test_flat_level9)
{
    flat_at_level(9, MIB);
}
END_TEST

/* ---- one record with many serials ---- */

typedef struct one {
    ohp_record rec;
    int done;
} one;

static int one_next(void *ud, ohp_record *rec)
{
    one *o = ud;
    if (o->done)
        return 0;
    o->done = 1;
    unsigned int v = rec->version;
    *rec = o->rec;
    rec->version = v;
    return 1;
}

/* Peak of a run over the single record r, checking its line count. */
static size_t run_one(const ohp_record *r, uint64_t lines)
{
    tu_alloc a;
    tu_alloc_init(&a);
    ohp_job *job;
    ck_assert_int_eq(ohp_job_new(&job, &a.pub), OHP_OK);
    one o = {*r, 0};
    ck_assert_int_eq(ohp_job_set_source(job, NULL, one_next, NULL, &o), OHP_OK);
    discard d = {0, 0, 0};
    ck_assert_int_eq(ohp_job_set_sink(job, NULL, discard_write, discard_close, &d), OHP_OK);
    ohp_params p;
    ohp_params_init(&p, OHP_PARAMS_VERSION);
    p.organization_code = ORG;
    p.user = "ALICE";
    p.caller_authorized = 1;
    p.snapshot_date = tu_date("2026/11/02 06:30:00");
    int rc = ohp_job_run(job, &p);
    ck_assert_msg(rc == OHP_OK, "%s", ohp_job_errmsg(job));
    const ohp_summary *s = ohp_job_summary(job);
    ck_assert_uint_eq(s->lines_written, lines);
    ck_assert_uint_eq(s->serial_lines, lines);
    const char *uom, *total;
    ck_assert_int_eq(ohp_job_uom_total(job, 0, &uom, &total), OHP_OK);
    char want[32];
    snprintf(want, sizeof want, "%llu", (unsigned long long)lines);
    ck_assert_str_eq(total, want);
    size_t peak = a.peak;
    ohp_job_free(job);
    ck_assert_int_eq(a.blocks, 0);
    return peak;
}

START_TEST(test_serial_range_100k)
{
    ohp_record r = tu_record(ORG, "SER-RANGE", "100000");
    r.serial_controlled = 1;
    r.serial_list = "SN000001..SN100000";
    size_t own = sizeof r + strlen(r.serial_list) + 1;
    size_t peak = run_one(&r, 100000);

    /* A tenth of the serials: the same peak. */
    ohp_record r10 = tu_record(ORG, "SER-RANGE", "10000");
    r10.serial_controlled = 1;
    r10.serial_list = "SN000001..SN010000";
    size_t peak10 = run_one(&r10, 10000);
    printf("one record, 100000 serials as a range: peak heap %zu bytes (10000 serials: %zu "
           "bytes)\n",
           peak, peak10);
    fflush(stdout);
    ck_assert_msg(peak <= MIB + own, "peak %zu bytes", peak);
    ck_assert_msg(peak <= peak10 + 64 * KIB, "peak %zu bytes vs %zu", peak, peak10);
}
END_TEST

START_TEST(test_serial_array_of_ranges)
{
    /* 1000 ranges of 100 serials: the record's own size sets the scale. */
    enum { N = 1000 };
    static char from[N][16], to[N][16];
    static ohp_serial sers[N];
    for (int i = 0; i < N; i++) {
        snprintf(from[i], sizeof from[i], "B%04d-%03d", i, 0);
        snprintf(to[i], sizeof to[i], "B%04d-%03d", i, 99);
        sers[i].from = from[i];
        sers[i].to = to[i];
    }
    ohp_record r = tu_record(ORG, "SER-RANGES", "100000");
    r.serial_controlled = 1;
    r.serials = sers;
    r.serial_count = N;
    size_t own = sizeof r + sizeof sers + sizeof from + sizeof to;
    size_t peak = run_one(&r, 100000);
    printf("one record, 1000 ranges of 100 serials (%zu bytes of record): peak heap %zu bytes\n",
           own, peak);
    fflush(stdout);
    ck_assert_msg(peak <= MIB + 4 * own, "peak %zu bytes", peak);
}
END_TEST

static Suite *memory_suite(void)
{
    Suite *s = suite_create("memory");
    TCase *tc = tcase_create("flat");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_flat_level6);
    tcase_add_test(tc, test_flat_level0);
    tcase_add_test(tc, test_flat_level9);
    tcase_add_test(tc, test_serial_range_100k);
    tcase_add_test(tc, test_serial_array_of_ranges);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(memory_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
