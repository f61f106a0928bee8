/*
 * Parallel compression: identical output for any thread count, clean
 * failures; the same for the ISA-L engine where the library has it.
 */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include <zlib.h>

/* A generator source: n records, some serial-controlled, text varied enough
 * that blocks compress differently. */
typedef struct genctx {
    long n, i;
    int noisy; /* item numbers of 240 random hex digits: blocks that barely compress */
    char item[256], qty[32], lot[32], sn_from[32], sn_to[32];
    ohp_serial range;
    unsigned seed;
    uint64_t noise; /* xorshift64 state for the noisy digits */
} genctx;

static unsigned next_rand(genctx *g)
{
    g->seed = g->seed * 1103515245u + 12345u;
    return g->seed >> 8;
}

static int gen_next(void *ud, ohp_record *r)
{
    genctx *g = ud;
    if (g->i >= g->n)
        return 0;
    g->i++;
    snprintf(g->item, sizeof g->item, "IT%06u-%c", next_rand(g) % 100000, (int)('A' + g->i % 26));
    for (int k = 0; g->noisy && k < 240; k++) {
        g->noise ^= g->noise << 13;
        g->noise ^= g->noise >> 7;
        g->noise ^= g->noise << 17;
        g->item[k] = "0123456789ABCDEF"[g->noise >> 60];
    }
    if (g->noisy)
        g->item[240] = '\0';
    snprintf(g->lot, sizeof g->lot, "L%u", next_rand(g) % 99991);
    r->organization_code = "M1";
    r->item_number = g->item;
    r->subinventory_code = g->i % 7 ? "FGI" : "STORES";
    r->lot_number = g->lot;
    r->primary_uom_code = "Ea";
    r->last_update_date = "2026/11/01 08:00:00";
    if (g->i % 9 == 0) {
        unsigned k = 1 + next_rand(g) % 12, base = next_rand(g) % 900000;
        snprintf(g->sn_from, sizeof g->sn_from, "SN%07u", base);
        snprintf(g->sn_to, sizeof g->sn_to, "SN%07u", base + k - 1);
        g->range.from = g->sn_from;
        g->range.to = g->sn_to;
        r->serial_controlled = 1;
        r->serials = &g->range;
        r->serial_count = 1;
        snprintf(g->qty, sizeof g->qty, "%u", k);
    } else {
        snprintf(g->qty, sizeof g->qty, "%u.%u", next_rand(g) % 10000, next_rand(g) % 10);
    }
    r->primary_quantity = g->qty;
    return 1;
}

typedef struct outcome {
    int rc;
    unsigned char *zip;
    size_t len;
    ohp_summary sum;
    int aborted, closes;
    long writes;
} outcome;

/* The engine of the runs below, and whether their items are noise. */
static int g_engine = OHP_ENGINE_ZLIB;
static int g_noisy;

static outcome run(long records, int level, unsigned threads, long fail_write, tu_alloc *al)
{
    outcome o;
    memset(&o, 0, sizeof o);
    ohp_job *job = NULL;
    o.rc = ohp_job_new(&job, al ? &al->pub : NULL);
    if (o.rc != OHP_OK) {
        ck_assert_int_eq(o.rc, OHP_ENOMEM);
        return o;
    }
    genctx g;
    memset(&g, 0, sizeof g);
    g.n = records;
    g.seed = 7;
    g.noisy = g_noisy;
    g.noise = 88172645463325252ull;
    ohp_job_set_source(job, NULL, gen_next, NULL, &g);
    tu_sink sink;
    memset(&sink, 0, sizeof sink);
    sink.fail_write = fail_write;
    tu_use_sink(job, &sink);
    ohp_params p;
    ohp_params_init(&p, OHP_PARAMS_VERSION);
    p.organization_code = "M1";
    p.user = "TEST";
    p.caller_authorized = 1;
    p.full_publish = 1;
    p.snapshot_date = tu_date("2026/11/27 06:00:00");
    p.compression_level = level;
    p.threads = threads;
    p.engine = g_engine;
    o.rc = ohp_job_run(job, &p);
    o.sum = *ohp_job_summary(job);
    o.aborted = sink.aborted;
    o.closes = sink.closes;
    o.writes = sink.writes;
    if (o.rc == OHP_OK) {
        o.zip = malloc(sink.len);
        memcpy(o.zip, sink.data, sink.len);
        o.len = sink.len;
    }
    tu_sink_free(&sink);
    ohp_job_free(job);
    return o;
}

START_TEST(identical_for_any_thread_count)
{
    long records = getenv("OHP_UNDER_VALGRIND") ? 4000 : 40000;
    static const int levels[] = {1, 6, 9};
    for (size_t li = 0; li < 3; li++) {
        outcome one = run(records, levels[li], 1, 0, NULL);
        ck_assert_int_eq(one.rc, OHP_OK);
        ck_assert_uint_gt(one.sum.psv_bytes, 4u * 128 * 1024); /* several blocks */
        static const unsigned counts[] = {0, 2, 3, 4, 8};
        for (size_t ti = 0; ti < 5; ti++) {
            outcome many = run(records, levels[li], counts[ti], 0, NULL);
            ck_assert_int_eq(many.rc, OHP_OK);
            ck_assert_uint_eq(many.len, one.len);
            ck_assert_int_eq(memcmp(many.zip, one.zip, one.len), 0);
            ck_assert_uint_eq(many.sum.crc32, one.sum.crc32);
            free(many.zip);
        }
        /* It reads back, and the CRC is the PSV's. */
        char *psv = NULL, name[256];
        size_t psv_len = 0;
        ck_assert_int_eq(tu_unzip_single(one.zip, one.len, &psv, &psv_len, name, sizeof name), 0);
        ck_assert_uint_eq(psv_len, one.sum.psv_bytes);
        ck_assert_uint_eq(crc32(0, (const unsigned char *)psv, (uInt)psv_len), one.sum.crc32);
        free(psv);
        free(one.zip);
    }
}
END_TEST

START_TEST(block_size_costs_little)
{
    /* The blocked stream is within 0.5% of one plain deflate stream. */
    long records = getenv("OHP_UNDER_VALGRIND") ? 4000 : 40000;
    outcome o = run(records, 6, 2, 0, NULL);
    ck_assert_int_eq(o.rc, OHP_OK);
    char *psv = NULL, name[256];
    size_t psv_len = 0;
    ck_assert_int_eq(tu_unzip_single(o.zip, o.len, &psv, &psv_len, name, sizeof name), 0);
    z_stream s;
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(deflateInit2(&s, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    uLong cap = deflateBound(&s, psv_len);
    unsigned char *out = malloc(cap);
    s.next_in = (unsigned char *)psv;
    s.avail_in = (uInt)psv_len;
    s.next_out = out;
    s.avail_out = (uInt)cap;
    ck_assert_int_eq(deflate(&s, Z_FINISH), Z_STREAM_END);
    double plain = (double)s.total_out;
    deflateEnd(&s);
    printf("blocked %llu bytes, plain %.0f bytes, ratio %.5f\n",
           (unsigned long long)o.sum.compressed_bytes, plain,
           (double)o.sum.compressed_bytes / plain);
    ck_assert((double)o.sum.compressed_bytes <= plain * 1.005);
    free(out);
    free(psv);
    free(o.zip);
}
END_TEST

START_TEST(sink_failure_with_workers)
{
    long records = getenv("OHP_UNDER_VALGRIND") ? 8000 : 20000;
    outcome ok = run(records, 1, 1, 0, NULL);
    ck_assert_int_eq(ok.rc, OHP_OK);
    ck_assert_int_ge(ok.writes, 2);
    free(ok.zip);
    /* Each of the first writes (as many as the archive takes, at most 6). */
    for (long n = 1; n <= 6 && n <= ok.writes; n++) {
        outcome o = run(records, 1, 4, n, NULL);
        ck_assert_int_eq(o.rc, OHP_ESINK);
        ck_assert_int_eq(o.sum.status, OHP_STATUS_FAILED);
        ck_assert_int_eq(o.closes, 1);
        ck_assert_int_eq(o.aborted, 1);
    }
}
END_TEST

START_TEST(allocation_failure_with_workers)
{
    long records = 2000;
    for (long n = 1;; n++) {
        tu_alloc al;
        tu_alloc_init(&al);
        al.fail_at = n;
        outcome o = run(records, 6, 3, 0, &al);
        ck_assert_int_eq(al.blocks, 0);
        if (o.rc == OHP_OK) {
            free(o.zip);
            ck_assert_int_gt(n, 5);
            break;
        }
        ck_assert_int_lt(o.rc, 0);
        ck_assert_int_le(o.aborted, 1);
        ck_assert_int_lt(n, 100000);
    }
}
END_TEST

START_TEST(too_many_threads_refused)
{
    outcome o = run(10, 6, 65, 0, NULL);
    ck_assert_int_eq(o.rc, OHP_EINVAL);
    ck_assert_int_eq(o.sum.status, OHP_STATUS_REFUSED);
}
END_TEST

START_TEST(memory_per_worker)
{
    long records = getenv("OHP_UNDER_VALGRIND") ? 3000 : 30000;
    size_t peak1 = 0;
    for (unsigned t = 1; t <= 4; t++) {
        tu_alloc al;
        tu_alloc_init(&al);
        outcome o = run(records, 6, t, 0, &al);
        ck_assert_int_eq(o.rc, OHP_OK);
        free(o.zip);
        printf("threads %u: peak heap %zu bytes\n", t, al.peak);
        if (t == 1) {
            peak1 = al.peak;
            ck_assert_uint_le(al.peak, 1024 * 1024);
        } else {
            ck_assert_uint_le(al.peak, 1024 * 1024 + (size_t)(t - 1) * 512 * 1024 + 64 * 1024);
        }
    }
    ck_assert_uint_gt(peak1, 0);
}
END_TEST

/* ---- the ISA-L engine ---- */

static char *entry_of(const outcome *o, size_t *len)
{
    char *psv = NULL, name[256];
    ck_assert_int_eq(tu_unzip_single(o->zip, o->len, &psv, len, name, sizeof name), 0);
    return psv;
}

START_TEST(engine_choice)
{
    ck_assert_int_eq(ohp_engine_available(OHP_ENGINE_ZLIB), 1);
    ck_assert_int_eq(ohp_engine_available(OHP_ENGINE_BEST), 1);
    ck_assert_int_eq(ohp_engine_available(3), 0);
    ck_assert_int_eq(ohp_engine_available(-1), 0);
    int have = ohp_engine_available(OHP_ENGINE_ISAL);
#ifdef OHP_TEST_EXPECT_ISAL
    ck_assert_int_eq(have, OHP_TEST_EXPECT_ISAL);
#endif
    g_engine = OHP_ENGINE_BEST;
    outcome best = run(100, 6, 1, 0, NULL);
    ck_assert_int_eq(best.rc, OHP_OK);
    ck_assert_int_eq(best.sum.engine, have ? OHP_ENGINE_ISAL : OHP_ENGINE_ZLIB);
    free(best.zip);

    g_engine = OHP_ENGINE_ISAL;
    outcome isal = run(100, 6, 1, 0, NULL);
    if (have) {
        ck_assert_int_eq(isal.rc, OHP_OK);
        ck_assert_int_eq(isal.sum.engine, OHP_ENGINE_ISAL);
        free(isal.zip);
    } else {
        /* Never a silent fallback: refused before the sink is opened. */
        ck_assert_int_eq(isal.rc, OHP_EUNSUPPORTED);
        ck_assert_int_eq(isal.sum.status, OHP_STATUS_REFUSED);
        ck_assert_int_eq(isal.closes, 0);
        ck_assert_int_eq(isal.writes, 0);
    }
    g_engine = 7;
    outcome bad = run(100, 6, 1, 0, NULL);
    ck_assert_int_eq(bad.rc, OHP_EINVAL);
    ck_assert_int_eq(bad.sum.status, OHP_STATUS_REFUSED);
    g_engine = OHP_ENGINE_ZLIB;
    outcome z = run(100, 6, 1, 0, NULL);
    ck_assert_int_eq(z.sum.engine, OHP_ENGINE_ZLIB);
    free(z.zip);
}
END_TEST

/* The same entry as zlib's, and the same archive for any thread count. */
static void isal_matches_zlib(int noisy)
{
    if (!ohp_engine_available(OHP_ENGINE_ISAL))
        return;
    long records = getenv("OHP_UNDER_VALGRIND") ? 4000 : 40000;
    g_noisy = noisy;
    g_engine = OHP_ENGINE_ZLIB;
    outcome z = run(records, 6, 1, 0, NULL);
    ck_assert_int_eq(z.rc, OHP_OK);
    size_t zlen = 0;
    char *zpsv = entry_of(&z, &zlen);
    ck_assert_uint_gt(zlen, 4u * 128 * 1024); /* several blocks */
    static const int levels[] = {1, 2, 3, 6, 9};
    static const unsigned counts[] = {0, 2, 3, 4};
    size_t prev_len = 0;
    for (size_t li = 0; li < 5; li++) {
        g_engine = OHP_ENGINE_ISAL;
        outcome one = run(records, levels[li], 1, 0, NULL);
        ck_assert_int_eq(one.rc, OHP_OK);
        ck_assert_int_eq(one.sum.engine, OHP_ENGINE_ISAL);
        size_t len = 0;
        char *psv = entry_of(&one, &len); /* minizip and zlib inflate it */
        ck_assert_uint_eq(len, zlen);
        ck_assert_int_eq(memcmp(psv, zpsv, zlen), 0);
        ck_assert_uint_eq(one.sum.crc32, z.sum.crc32);
        ck_assert_uint_eq(crc32(0, (const unsigned char *)psv, (uInt)len), one.sum.crc32);
        free(psv);
        /* ISA-L is a deflate engine, not a store: it compresses. */
        ck_assert_uint_lt(one.sum.compressed_bytes, one.sum.psv_bytes * (noisy ? 8 : 4) / 10);
        /* Levels 3 to 9 are ISA-L level 3: one archive. */
        if (levels[li] > 3)
            ck_assert_uint_eq(one.len, prev_len);
        prev_len = one.len;
        printf("isal level %d%s: %llu of %llu bytes (zlib 6: %llu)\n", levels[li],
               noisy ? " (noisy)" : "", (unsigned long long)one.sum.compressed_bytes,
               (unsigned long long)one.sum.psv_bytes, (unsigned long long)z.sum.compressed_bytes);
        for (size_t ti = 0; ti < 4; ti++) {
            outcome many = run(records, levels[li], counts[ti], 0, NULL);
            ck_assert_int_eq(many.rc, OHP_OK);
            ck_assert_uint_eq(many.len, one.len);
            ck_assert_int_eq(memcmp(many.zip, one.zip, one.len), 0);
            free(many.zip);
        }
        free(one.zip);
    }
    free(zpsv);
    free(z.zip);
    g_engine = OHP_ENGINE_ZLIB;
    g_noisy = 0;
}

START_TEST(isal_same_entry_any_thread_count)
{
    isal_matches_zlib(0);
}
END_TEST

START_TEST(isal_noisy_blocks)
{
    /* Blocks that compress to more than a worker's first output buffer. */
    isal_matches_zlib(1);
}
END_TEST

START_TEST(isal_failures_clean)
{
    if (!ohp_engine_available(OHP_ENGINE_ISAL))
        return;
    g_engine = OHP_ENGINE_ISAL;
    long records = getenv("OHP_UNDER_VALGRIND") ? 8000 : 20000;
    outcome ok = run(records, 1, 1, 0, NULL);
    ck_assert_int_eq(ok.rc, OHP_OK);
    free(ok.zip);
    for (long n = 1; n <= 6 && n <= ok.writes; n++) {
        static const unsigned counts[] = {1, 4};
        for (size_t ti = 0; ti < 2; ti++) {
            outcome o = run(records, 1, counts[ti], n, NULL);
            ck_assert_int_eq(o.rc, OHP_ESINK);
            ck_assert_int_eq(o.sum.status, OHP_STATUS_FAILED);
            ck_assert_int_eq(o.closes, 1);
            ck_assert_int_eq(o.aborted, 1);
        }
    }
    static const unsigned counts[] = {1, 3};
    for (size_t ti = 0; ti < 2; ti++) {
        for (long n = 1;; n++) {
            tu_alloc al;
            tu_alloc_init(&al);
            al.fail_at = n;
            outcome o = run(2000, 3, counts[ti], 0, &al);
            ck_assert_int_eq(al.blocks, 0);
            if (o.rc == OHP_OK) {
                free(o.zip);
                ck_assert_int_gt(n, 5);
                break;
            }
            ck_assert_int_eq(o.rc, OHP_ENOMEM);
            ck_assert_int_le(o.aborted, 1);
            ck_assert_int_lt(n, 100000);
        }
    }
    g_engine = OHP_ENGINE_ZLIB;
}
END_TEST

START_TEST(isal_memory)
{
    if (!ohp_engine_available(OHP_ENGINE_ISAL))
        return;
    g_engine = OHP_ENGINE_ISAL;
    long records = getenv("OHP_UNDER_VALGRIND") ? 3000 : 30000;
    static const int levels[] = {1, 2, 3};
    for (size_t li = 0; li < 3; li++) {
        tu_alloc al;
        tu_alloc_init(&al);
        outcome o = run(records, levels[li], 1, 0, &al);
        ck_assert_int_eq(o.rc, OHP_OK);
        free(o.zip);
        printf("isal level %d, 1 thread: peak heap %zu bytes\n", levels[li], al.peak);
        ck_assert_uint_le(al.peak, 1024 * 1024);
    }
    g_engine = OHP_ENGINE_ZLIB;
}
END_TEST

int main(void)
{
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, identical_for_any_thread_count);
    tcase_add_test(tc, block_size_costs_little);
    tcase_add_test(tc, sink_failure_with_workers);
    tcase_add_test(tc, allocation_failure_with_workers);
    tcase_add_test(tc, too_many_threads_refused);
    tcase_add_test(tc, memory_per_worker);
    tcase_add_test(tc, engine_choice);
    tcase_add_test(tc, isal_same_entry_any_thread_count);
    tcase_add_test(tc, isal_noisy_blocks);
    tcase_add_test(tc, isal_failures_clean);
    tcase_add_test(tc, isal_memory);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
