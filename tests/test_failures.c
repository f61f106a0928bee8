/*
 * Failure paths of the publish job: a failure at every stage returns its
 * code, closes an opened sink with abort exactly once (and never closes a
 * sink whose open failed), leaves the state store exactly as it was, and
 * leaks nothing.  Allocation failures are injected one allocation at a
 * time with the counting allocator.
 */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ORG "M1"
#define USER "ALICE"
#define SNAP "2026/11/02 06:30:00"
#define W0 "2026/10/01 00:00:00"
#define LAST_RUN 41

static int under_valgrind(void)
{
    const char *v = getenv("OHP_UNDER_VALGRIND");
    return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

/* ---- fixture: a job on the counting allocator ---- */

typedef struct authz {
    int calls, grant, fail;
} authz;

static int authz_cb(void *ud, const char *user, const char *privilege, int *granted)
{
    authz *a = ud;
    (void)user;
    (void)privilege;
    a->calls++;
    if (a->fail)
        return -1;
    *granted = a->grant;
    return 0;
}

typedef struct ffx {
    tu_alloc a;
    ohp_job *job;
    tu_source src;
    tu_sink sink;
    tu_state st;
    authz az;
    ohp_params p;
} ffx;

static void ffx_init(ffx *f, const ohp_record *recs, size_t n)
{
    memset(f, 0, sizeof *f);
    tu_alloc_init(&f->a);
    ck_assert_int_eq(ohp_job_new(&f->job, &f->a.pub), OHP_OK);
    f->src.records = recs;
    f->src.count = n;
    tu_use_source(f->job, &f->src);
    tu_use_sink(f->job, &f->sink);
    tu_state_init(&f->st);
    f->st.watermark = tu_date(W0);
    f->st.last_run_id = LAST_RUN;
    tu_use_state(f->job, &f->st);
    f->az.grant = 1;
    ck_assert_int_eq(ohp_job_set_authorizer(f->job, authz_cb, &f->az), OHP_OK);
    ck_assert_int_eq(ohp_params_init(&f->p, OHP_PARAMS_VERSION), OHP_OK);
    f->p.organization_code = ORG;
    f->p.user = USER;
    f->p.snapshot_date = tu_date(SNAP);
    /* Incremental from W: every state callback takes part. */
}

/* Reset the counters of the sink and source for another run. */
static void ffx_rearm(ffx *f)
{
    f->sink.opened = f->sink.closes = f->sink.aborted = f->sink.committed = 0;
    f->sink.writes = 0;
    f->sink.len = 0;
    f->src.opened = f->src.closed = 0;
    f->src.next = 0;
}

static void assert_state_untouched(const tu_state *st)
{
    ck_assert_int_eq(st->commits, 0);
    ck_assert(st->watermark == tu_date(W0));
    ck_assert_uint_eq(st->last_run_id, LAST_RUN);
}

/*
 * Check a failed run: the code, the status, the sink closed with abort
 * exactly once if it was opened (never closed otherwise), the source
 * closed if it was opened, the state untouched.
 */
static void assert_failed(ffx *f, int rc, int want)
{
    ck_assert_msg(rc == want, "run returned %d (%s), expected %d: %s", rc, ohp_strerror(rc), want,
                  ohp_job_errmsg(f->job));
    const ohp_summary *s = ohp_job_summary(f->job);
    ck_assert_int_eq(s->error, want);
    ck_assert_int_eq(s->status, OHP_STATUS_FAILED);
    ck_assert_str_ne(ohp_job_errmsg(f->job), "");
    if (f->sink.opened) {
        ck_assert_int_eq(f->sink.opened, 1);
        if (f->sink.fail_open) {
            ck_assert_int_eq(f->sink.closes, 0);
        } else {
            ck_assert_int_eq(f->sink.closes, 1);
            ck_assert_int_eq(f->sink.aborted, 1);
        }
    } else {
        ck_assert_int_eq(f->sink.closes, 0);
    }
    ck_assert_int_eq(f->sink.committed, 0);
    ck_assert_int_le(f->src.opened, 2); /* an incremental run reads twice */
    ck_assert_int_eq(f->src.closed, f->src.fail_open ? 0 : f->src.opened);
    assert_state_untouched(&f->st);
}

/* Free the job; nothing may be left on the allocator. */
static void ffx_free(ffx *f)
{
    ohp_job_free(f->job);
    f->job = NULL;
    ck_assert_int_eq(f->a.blocks, 0);
    ck_assert_uint_eq(f->a.live, 0);
    tu_sink_free(&f->sink);
}

static ohp_record small_recs[6];

static void small_setup(ffx *f)
{
    small_recs[0] = tu_record(ORG, "A", "1");
    small_recs[1] = tu_record(ORG, "B", "2.5");
    small_recs[2] = tu_record(ORG, "S", "3");
    small_recs[2].serial_controlled = 1;
    small_recs[2].serial_list = "SN01..SN03";
    small_recs[3] = tu_record("OTHER", "C", "1");
    small_recs[4] = tu_record(ORG, "D", "0");
    small_recs[5] = tu_record(ORG, "E", "7");
    small_recs[5].primary_uom_code = "KG";
    ffx_init(f, small_recs, 6);
}

/* ---- a few-MB snapshot ---- */

typedef struct big {
    ohp_record *recs;
    char (*text)[3][24];
    size_t n;
} big;

static void big_make(big *b, size_t n)
{
    b->n = n;
    b->recs = calloc(n, sizeof *b->recs);
    b->text = calloc(n, sizeof *b->text);
    ck_assert(b->recs && b->text);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        snprintf(b->text[i][0], 24, "ITEM-%08u", (unsigned)(x % 100000000u));
        snprintf(b->text[i][1], 24, "%u.%03u", (unsigned)(x % 9973u), (unsigned)(x >> 22) % 1000u);
        snprintf(b->text[i][2], 24, "LOT%06zu-%04X", i, (unsigned)(x >> 16));
        b->recs[i] = tu_record(ORG, b->text[i][0], b->text[i][1]);
        b->recs[i].lot_number = b->text[i][2];
        b->recs[i].locator_name = (i & 1) ? "A.01.02" : "B.17.03";
    }
}

static void big_free(big *b)
{
    free(b->recs);
    free(b->text);
}

/* ------------------------------------------------------------------ */
/* Each stage                                                          */
/* ------------------------------------------------------------------ */

START_TEST(test_fail_authorizer)
{
    ffx f;
    small_setup(&f);
    f.az.fail = 1;
    int rc = ohp_job_run(f.job, &f.p);
    assert_failed(&f, rc, OHP_EAUTH);
    ck_assert_int_eq(f.src.opened, 0);
    ck_assert_int_eq(f.sink.opened, 0);

    /* Denied: a refusal, same guarantees. */
    f.az.fail = 0;
    f.az.grant = 0;
    rc = ohp_job_run(f.job, &f.p);
    ck_assert_int_eq(rc, OHP_EDENIED);
    ck_assert_int_eq(ohp_job_summary(f.job)->status, OHP_STATUS_REFUSED);
    ck_assert_int_eq(f.src.opened, 0);
    ck_assert_int_eq(f.sink.opened, 0);
    assert_state_untouched(&f.st);
    ffx_free(&f);
}
END_TEST

START_TEST(test_fail_state_get)
{
    ffx f;
    small_setup(&f);
    f.st.fail_get = 1;
    int rc = ohp_job_run(f.job, &f.p);
    assert_failed(&f, rc, OHP_ESTORE);
    ck_assert_ptr_nonnull(strstr(ohp_job_errmsg(f.job), "watermark"));
    ck_assert_int_eq(f.src.opened, 0);
    ck_assert_int_eq(f.sink.opened, 0);
    ffx_free(&f);
}
END_TEST

START_TEST(test_fail_next_run_id)
{
    ffx f;
    small_setup(&f);
    f.st.fail_next = 1;
    int rc = ohp_job_run(f.job, &f.p);
    assert_failed(&f, rc, OHP_ESTORE);
    ck_assert_ptr_nonnull(strstr(ohp_job_errmsg(f.job), "run id"));
    ck_assert_int_eq(f.src.opened, 0);
    ck_assert_int_eq(f.sink.opened, 0);
    ffx_free(&f);
}
END_TEST

START_TEST(test_fail_source_open)
{
    ffx f;
    small_setup(&f);
    f.src.fail_open = 1;
    int rc = ohp_job_run(f.job, &f.p);
    assert_failed(&f, rc, OHP_ESOURCE);
    ck_assert_int_eq(f.src.opened, 1);
    ck_assert_int_eq(f.src.closed, 0);
    ck_assert_int_eq(f.sink.opened, 0);
    ffx_free(&f);
}
END_TEST

START_TEST(test_fail_record_mid_stream)
{
    ffx f;
    small_setup(&f);
    small_recs[4].primary_quantity = "1e3";
    int rc = ohp_job_run(f.job, &f.p);
    assert_failed(&f, rc, OHP_ERECORD);
    ck_assert_int_eq(f.sink.opened, 1);
    ck_assert_ptr_nonnull(strstr(ohp_job_errmsg(f.job), "record 5"));
    ck_assert_uint_eq(ohp_job_summary(f.job)->records_read, 5);
    ffx_free(&f);
}
END_TEST

START_TEST(test_fail_source_at_record_n)
{
    ffx f;
    small_setup(&f);
    for (int pass = 1; pass <= 2; pass++) { /* incremental: finding keys, publishing them */
        for (long n = 1; n <= 7; n++) {     /* 7: the call that would report the end */
            ffx_rearm(&f);
            f.src.fail_at = n;
            f.src.fail_pass = pass;
            int rc = ohp_job_run(f.job, &f.p);
            assert_failed(&f, rc, OHP_ESOURCE);
            ck_assert_int_eq(f.src.opened, pass);
            ck_assert_int_eq(f.sink.opened, pass == 2);
            ck_assert_uint_eq(ohp_job_summary(f.job)->records_read,
                              pass == 2 ? (uint64_t)(n - 1) : 0);
            if (pass == 1)
                ck_assert_ptr_nonnull(strstr(ohp_job_errmsg(f.job), "of the first pass"));
        }
    }
    ffx_free(&f);
}
END_TEST

START_TEST(test_fail_source_at_record_n_big)
{
    big b;
    big_make(&b, under_valgrind() ? 2000 : 40000);
    ffx f;
    ffx_init(&f, b.recs, b.n);
    const long at[] = {1, 2, 700, (long)b.n / 2, (long)b.n, (long)b.n + 1};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        ffx_rearm(&f);
        f.src.fail_at = at[i];
        f.src.fail_pass = 2; /* the publishing pass */
        int rc = ohp_job_run(f.job, &f.p);
        assert_failed(&f, rc, OHP_ESOURCE);
        ck_assert_uint_eq(ohp_job_summary(f.job)->records_read, (uint64_t)(at[i] - 1));
    }
    ffx_free(&f);
    big_free(&b);
}
END_TEST

START_TEST(test_fail_sink_open)
{
    ffx f;
    small_setup(&f);
    f.sink.fail_open = 1;
    int rc = ohp_job_run(f.job, &f.p);
    assert_failed(&f, rc, OHP_ESINK);
    ck_assert_int_eq(f.sink.opened, 1);
    ck_assert_int_eq(f.sink.closes, 0); /* never close a sink that did not open */
    ck_assert_int_eq(f.sink.writes, 0);
    ck_assert_int_eq(f.src.opened, 2); /* incremental: the sink opens for the second pass */
    ck_assert_int_eq(f.src.closed, 2);
    ffx_free(&f);
}
END_TEST

/* Fail every write of a successful run in turn. */
static void sink_write_each(int level, size_t nrecs)
{
    big b;
    big_make(&b, nrecs);
    ffx f;
    ffx_init(&f, b.recs, b.n);
    f.p.compression_level = level;

    int rc = ohp_job_run(f.job, &f.p);
    ck_assert_msg(rc == OHP_OK, "%s", ohp_job_errmsg(f.job));
    long writes = f.sink.writes;
    uint64_t zip_bytes = ohp_job_summary(f.job)->zip_bytes;
    uint64_t psv_bytes = ohp_job_summary(f.job)->psv_bytes;
    long ref_blocks = f.a.blocks;
    ck_assert_uint_eq(zip_bytes, f.sink.len);
    printf("level %d: %zu records, %llu PSV bytes, %llu ZIP bytes in %ld writes\n", level, b.n,
           (unsigned long long)psv_bytes, (unsigned long long)zip_bytes, writes);
    ck_assert_int_ge(writes, 2);
    f.st.watermark = tu_date(W0);
    f.st.last_run_id = LAST_RUN;
    f.st.commits = 0;

    for (long n = 1; n <= writes; n++) {
        ffx_rearm(&f);
        f.sink.fail_write = n;
        rc = ohp_job_run(f.job, &f.p);
        assert_failed(&f, rc, OHP_ESINK);
        ck_assert_int_eq(f.sink.writes, n); /* nothing written after the failure */
        ck_assert_uint_eq(f.sink.len, 0);
        ck_assert_ptr_nonnull(strstr(ohp_job_errmsg(f.job), "sink"));
        ck_assert_int_le(f.a.blocks, ref_blocks);
    }
    /* And the job still works afterwards. */
    ffx_rearm(&f);
    f.sink.fail_write = 0;
    ck_assert_int_eq(ohp_job_run(f.job, &f.p), OHP_OK);
    ck_assert_int_eq(f.sink.writes, writes);
    ck_assert_uint_eq(f.sink.len, zip_bytes);
    ffx_free(&f);
    big_free(&b);
}

START_TEST(test_fail_sink_write_each_stored)
{
    sink_write_each(0, under_valgrind() ? 3000 : 30000);
}
END_TEST

START_TEST(test_fail_sink_write_each_deflated)
{
    sink_write_each(6, under_valgrind() ? 15000 : 30000);
}
END_TEST

START_TEST(test_fail_sink_commit)
{
    ffx f;
    small_setup(&f);
    f.sink.fail_commit = 1;
    int rc = ohp_job_run(f.job, &f.p);
    ck_assert_int_eq(rc, OHP_ESINK);
    ck_assert_int_eq(ohp_job_summary(f.job)->status, OHP_STATUS_FAILED);
    ck_assert_int_eq(f.sink.opened, 1);
    ck_assert_int_eq(f.sink.closes, 1); /* the failed commit was its one close */
    ck_assert_int_eq(f.sink.aborted, 0);
    ck_assert_int_eq(f.sink.committed, 0);
    ck_assert_ptr_nonnull(strstr(ohp_job_errmsg(f.job), "commit"));
    assert_state_untouched(&f.st);
    ffx_free(&f);
}
END_TEST

START_TEST(test_fail_state_commit)
{
    ffx f;
    small_setup(&f);
    f.st.fail_commit = 1;
    int rc = ohp_job_run(f.job, &f.p);
    ck_assert_int_eq(rc, OHP_ESTORE);
    const ohp_summary *s = ohp_job_summary(f.job);
    ck_assert_int_eq(s->status, OHP_STATUS_FAILED);
    ck_assert_int_eq(s->error, OHP_ESTORE);
    /* The file went out: the sink committed once and was not aborted. */
    ck_assert_int_eq(f.sink.closes, 1);
    ck_assert_int_eq(f.sink.aborted, 0);
    ck_assert_int_eq(f.sink.committed, 1);
    const char *m = ohp_job_errmsg(f.job);
    ck_assert_ptr_nonnull(strstr(m, "ONHAND_0_M1_42_20261102063000.zip"));
    ck_assert_ptr_nonnull(strstr(m, "published"));
    assert_state_untouched(&f.st);
    ffx_free(&f);
}
END_TEST

static int cancel_cb(void *ud, uint64_t n)
{
    (void)ud;
    return n >= 2;
}

static int reject_fail_cb(void *ud, const ohp_rejection *rj)
{
    (void)ud;
    (void)rj;
    return 1;
}

START_TEST(test_fail_cancel_and_reject)
{
    ffx f;
    small_setup(&f);
    f.p.progress_interval = 2;
    ohp_job_set_progress_callback(f.job, cancel_cb, NULL);
    int rc = ohp_job_run(f.job, &f.p);
    assert_failed(&f, rc, OHP_ECANCELED);

    ohp_job_set_progress_callback(f.job, NULL, NULL);
    ffx_rearm(&f);
    small_recs[1].primary_uom_code = NULL;
    f.p.on_error = OHP_ON_ERROR_REJECT;
    ohp_job_set_reject_callback(f.job, reject_fail_cb, NULL);
    rc = ohp_job_run(f.job, &f.p);
    assert_failed(&f, rc, OHP_EREJECT);
    ffx_free(&f);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Allocation failure                                                  */
/* ------------------------------------------------------------------ */

static const char LOOKUPS[] = "LOOKUP_CODE|MEANING|DESCRIPTION|ENABLED_FLAG|START_DATE_ACTIVE|"
                              "END_DATE_ACTIVE|DISPLAY_SEQUENCE|TAG\n"
                              "0|Oracle WMS (EU)|Warehouse management|Y||||\n"
                              "3|3PL North|Northern 3PL|Y|2026/01/01||10|north\n"
                              "4|3PL South||N||||\n"
                              "12|Cold store|Frozen goods|Y||2099/12/31|5|\n";

static const ohp_serial mix_serials[] = {{"Q-1", NULL}, {"R00998", "R01002"}, {"Q-2", NULL}};
static char long_prefix_from[400], long_prefix_to[400], long_text[1200];
static char uoms[12][8];
static ohp_record mix_recs[32];
static size_t mix_count;

/* Serial and non-serial records, many UOMs, long fields and long serials. */
static void mix_make(int with_bad)
{
    memset(long_prefix_from, 'P', 300);
    snprintf(long_prefix_from + 300, 100, "%s", "0001");
    memset(long_prefix_to, 'P', 300);
    snprintf(long_prefix_to + 300, 100, "%s", "0003");
    memset(long_text, 'x', 1100);
    long_text[1100] = '\0';
    size_t n = 0;
    mix_recs[n++] = tu_record(ORG, "PLAIN-1", "10.5");
    mix_recs[n] = tu_record(ORG, "SER-LIST", "3");
    mix_recs[n].serial_controlled = 1;
    mix_recs[n++].serial_list = "S-9,S-1,S-5";
    mix_recs[n] = tu_record(ORG, "SER-ARRAY", "7");
    mix_recs[n].serial_controlled = 1;
    mix_recs[n].serials = mix_serials;
    mix_recs[n++].serial_count = 3;
    static char long_list[900];
    snprintf(long_list, sizeof long_list, "%s..%s", long_prefix_from, long_prefix_to);
    mix_recs[n] = tu_record(ORG, "SER-LONG", "3");
    mix_recs[n].serial_controlled = 1;
    mix_recs[n++].serial_list = long_list;
    mix_recs[n] = tu_record(ORG, "SER-MANY", "3000");
    mix_recs[n].serial_controlled = 1;
    mix_recs[n++].serial_list = "M000001..M003000";
    mix_recs[n] = tu_record(ORG, "DUAL", "12");
    mix_recs[n].secondary_quantity = "3.25";
    mix_recs[n++].secondary_uom_code = "KG";
    mix_recs[n] = tu_record(ORG, "LONG|\"QUOTED\"", "1");
    mix_recs[n++].locator_name = long_text;
    mix_recs[n++] = tu_record("OTHER", "ELSEWHERE", "5");
    for (int i = 0; i < 10; i++) {
        snprintf(uoms[i], sizeof uoms[i], "U%d", i);
        mix_recs[n] = tu_record(ORG, "MULTI-UOM", "1.25");
        mix_recs[n++].primary_uom_code = uoms[i];
    }
    if (with_bad) {
        mix_recs[n++] = tu_record(ORG, "BAD-QTY", "12,5");
        mix_recs[n] = tu_record(ORG, "BAD-SER", "2");
        mix_recs[n].serial_controlled = 1;
        mix_recs[n++].serial_list = "D-1,D-1";
        mix_recs[n] = tu_record(ORG, "BAD-DATE", "2");
        mix_recs[n++].last_update_date = "2026/02/30";
        mix_recs[n] = tu_record(ORG, "BAD-SRC", "2");
        mix_recs[n++].source_error = "line 7: SERIAL_CONTROLLED must be Y or N";
    }
    mix_recs[n++] = tu_record(ORG, "PLAIN-LAST", "-2");
    mix_count = n;
}

typedef struct scenario_result {
    int rc;
    char *psv; /* on success */
    size_t psv_len;
    uint64_t rejected;
    size_t warnings;
    int sink_opened, sink_closes, sink_aborted, sink_committed;
    int commits;
} scenario_result;

static int count_rejects(void *ud, const ohp_rejection *rj)
{
    (void)rj;
    (*(int *)ud)++;
    return 0;
}

static int progress_ok(void *ud, uint64_t n)
{
    (void)ud;
    (void)n;
    return 0;
}

/*
 * One complete use of the library on allocator a: a registry loaded from
 * PSV, a job, a run.  Everything is freed before returning.  sink_kind 0:
 * the test sink; 1: the library's memory sink on a.
 */
static void scenario(tu_alloc *a, int reject_policy, int use_registry, int sink_kind,
                     scenario_result *out)
{
    memset(out, 0, sizeof *out);
    ohp_registry *reg = NULL;
    ohp_job *job = NULL;
    ohp_memsink *ms = NULL;
    tu_sink sink;
    memset(&sink, 0, sizeof sink);
    tu_state st;
    tu_state_init(&st);
    st.watermark = tu_date("2026/09/30");
    st.last_run_id = LAST_RUN;
    tu_source src;
    memset(&src, 0, sizeof src);
    src.records = mix_recs;
    src.count = mix_count;
    authz az = {0, 1, 0};
    int nrej = 0;

    int rc;
    if (use_registry) {
        rc = ohp_registry_new(&reg, &a->pub);
        if (rc) {
            ck_assert_ptr_null(reg);
            goto done;
        }
        rc = ohp_registry_load_psv(reg, LOOKUPS, strlen(LOOKUPS));
        if (rc) {
            ck_assert_uint_eq(ohp_registry_count(reg), 1);
            goto done;
        }
    }
    rc = ohp_job_new(&job, &a->pub);
    if (rc) {
        ck_assert_ptr_null(job);
        goto done;
    }
    if (sink_kind == 1) {
        rc = ohp_memsink_new(&ms, &a->pub);
        if (rc) {
            ck_assert_ptr_null(ms);
            goto done;
        }
        ck_assert_int_eq(ohp_job_set_memsink(job, ms), OHP_OK);
    } else {
        tu_use_sink(job, &sink);
    }
    if (reg)
        ck_assert_int_eq(ohp_job_set_registry(job, reg), OHP_OK);
    tu_use_source(job, &src);
    tu_use_state(job, &st);
    ohp_job_set_authorizer(job, authz_cb, &az);
    ohp_job_set_reject_callback(job, count_rejects, &nrej);
    ohp_job_set_progress_callback(job, progress_ok, NULL);
    ohp_params p;
    ohp_params_init(&p, OHP_PARAMS_VERSION);
    p.system_code = use_registry ? "3" : "0";
    p.organization_code = ORG;
    p.user = USER;
    p.snapshot_date = tu_date(SNAP);
    p.progress_interval = 3;
    if (reject_policy) {
        p.on_error = OHP_ON_ERROR_REJECT;
        /* F later than W: the run carries a warning. */
        p.publish_from = tu_date("2026/10/15");
    }
    rc = ohp_job_run(job, &p);
    const ohp_summary *s = ohp_job_summary(job);
    ck_assert_int_eq(s->error, rc);
    out->rejected = s->records_rejected;
    out->warnings = s->warning_count;
    if (rc == OHP_OK) {
        const void *data = sink.data;
        size_t len = sink.len;
        if (ms)
            data = ohp_memsink_data(ms, &len);
        ck_assert_ptr_nonnull(data);
        ck_assert_int_eq(tu_unzip_single(data, len, &out->psv, &out->psv_len, NULL, 0), 0);
        ck_assert_uint_eq(s->psv_bytes, out->psv_len);
        ck_assert_int_eq(st.commits, 1);
        ck_assert_uint_eq(st.last_run_id, LAST_RUN + 1);
        if (reject_policy)
            ck_assert_int_eq(nrej, 4);
    } else {
        ck_assert_int_lt(rc, 0);
        ck_assert_int_eq(s->status, OHP_STATUS_FAILED);
        ck_assert_str_ne(ohp_job_errmsg(job), "");
        ck_assert_int_eq(st.commits, 0);
        ck_assert(st.watermark == tu_date("2026/09/30"));
        ck_assert_uint_eq(st.last_run_id, LAST_RUN);
        if (ms) {
            ck_assert_int_eq(ohp_memsink_committed(ms), 0);
            size_t len = 1;
            ck_assert_ptr_null(ohp_memsink_data(ms, &len));
            ck_assert_uint_eq(len, 0);
        }
    }
done:
    out->rc = rc;
    out->sink_opened = sink.opened;
    out->sink_closes = sink.closes;
    out->sink_aborted = sink.aborted;
    out->sink_committed = sink.committed;
    out->commits = st.commits;
    ohp_job_free(job);
    ohp_memsink_free(ms);
    ohp_registry_free(reg);
    tu_sink_free(&sink);
}

/* Fail allocation 1, 2, 3, ... until a run no longer reaches the failure. */
static void alloc_fail_each(int reject_policy, int use_registry, int sink_kind)
{
    mix_make(reject_policy);
    tu_alloc a;
    tu_alloc_init(&a);
    scenario_result ref;
    scenario(&a, reject_policy, use_registry, sink_kind, &ref);
    ck_assert_msg(ref.rc == OHP_OK, "reference run failed: %s", ohp_strerror(ref.rc));
    ck_assert_int_eq(a.blocks, 0);
    long total = a.calls;
    ck_assert_int_gt(total, 10);
    if (reject_policy) {
        ck_assert_uint_eq(ref.rejected, 4);
        ck_assert_uint_eq(ref.warnings, 1);
    }

    long n, failures = 0, enomem = 0;
    for (n = 1;; n++) {
        tu_alloc_init(&a);
        a.fail_at = n;
        scenario_result r;
        scenario(&a, reject_policy, use_registry, sink_kind, &r);
        ck_assert_msg(a.blocks == 0 && a.live == 0,
                      "allocation %ld failed: %ld blocks (%zu bytes) leaked", n, a.blocks, a.live);
        if (r.rc == OHP_OK) {
            /* Either the failure was never reached, or it was absorbed cleanly. */
            ck_assert_uint_eq(r.psv_len, ref.psv_len);
            ck_assert_int_eq(memcmp(r.psv, ref.psv, ref.psv_len), 0);
            ck_assert_int_eq(r.commits, 1);
            free(r.psv);
            if (a.calls < n)
                break;
            continue;
        }
        failures++;
        enomem += r.rc == OHP_ENOMEM;
        ck_assert_msg(r.rc < 0, "allocation %ld failed: run returned %d", n, r.rc);
        ck_assert_int_eq(r.commits, 0);
        if (sink_kind == 0) {
            ck_assert_int_eq(r.sink_committed, 0);
            if (r.sink_opened) {
                ck_assert_int_eq(r.sink_closes, 1);
                ck_assert_int_eq(r.sink_aborted, 1);
            } else {
                ck_assert_int_eq(r.sink_closes, 0);
            }
        }
        ck_assert_int_le(n, total + 1);
    }
    printf("allocation failure (reject %d, registry %d, sink %d): %ld allocations, %ld failing "
           "runs, %ld with OHP_ENOMEM\n",
           reject_policy, use_registry, sink_kind, total, failures, enomem);
    ck_assert_int_ge(failures, total / 2);
    ck_assert_int_gt(enomem, 0);
    free(ref.psv);
}

START_TEST(test_alloc_fail_serial_mix)
{
    alloc_fail_each(0, 1, 0);
}
END_TEST

START_TEST(test_alloc_fail_reject_policy)
{
    alloc_fail_each(1, 1, 0);
}
END_TEST

START_TEST(test_alloc_fail_memsink)
{
    alloc_fail_each(1, 1, 1);
}
END_TEST

START_TEST(test_alloc_fail_builtin_registry)
{
    alloc_fail_each(0, 0, 0);
}
END_TEST

/* Live bytes on the job's allocator after one run, with or without a registry. */
static size_t live_after_run(int with_registry)
{
    tu_alloc a;
    tu_alloc_init(&a);
    ohp_registry *reg = NULL;
    ohp_job *job;
    ck_assert_int_eq(ohp_job_new(&job, &a.pub), OHP_OK);
    if (with_registry) {
        ck_assert_int_eq(ohp_registry_new(&reg, NULL), OHP_OK);
        ohp_job_set_registry(job, reg);
    }
    ohp_record r[] = {tu_record(ORG, "A", "1")};
    tu_source src;
    memset(&src, 0, sizeof src);
    src.records = r;
    src.count = 1;
    tu_use_source(job, &src);
    tu_sink sink;
    memset(&sink, 0, sizeof sink);
    tu_use_sink(job, &sink);
    ohp_params p;
    ohp_params_init(&p, OHP_PARAMS_VERSION);
    p.organization_code = ORG;
    p.user = USER;
    p.caller_authorized = 1;
    ck_assert_int_eq(ohp_job_run(job, &p), OHP_OK);
    size_t live = a.live;
    ohp_job_free(job);
    ohp_registry_free(reg);
    tu_sink_free(&sink);
    ck_assert_int_eq(a.blocks, 0);
    return live;
}

START_TEST(test_builtin_registry_uses_job_allocator)
{
    /* A job without a registry builds its own: on the job's allocator. */
    size_t own = live_after_run(0), borrowed = live_after_run(1);
    ck_assert_uint_gt(own, borrowed);
}
END_TEST

START_TEST(test_alloc_fail_registry_load_psv)
{
    long n;
    int failures = 0;
    for (n = 1;; n++) {
        tu_alloc a;
        tu_alloc_init(&a);
        ohp_registry *reg;
        ck_assert_int_eq(ohp_registry_new(&reg, &a.pub), OHP_OK);
        ohp_lookup_value v = OHP_LOOKUP_VALUE_INIT;
        v.code = "5";
        v.meaning = "Existing 3PL";
        v.tag = "keep";
        ck_assert_int_eq(ohp_registry_add(reg, &v), OHP_OK);
        a.fail_at = a.calls + n;
        int rc = ohp_registry_load_psv(reg, LOOKUPS, strlen(LOOKUPS));
        long reached = a.calls >= a.fail_at;
        a.fail_at = 0;
        ohp_lookup_value got;
        if (rc != OHP_OK) {
            failures++;
            ck_assert_msg(rc == OHP_ENOMEM, "allocation %ld: load returned %d", n, rc);
            ck_assert_str_ne(ohp_registry_errmsg(reg), "");
            /* Nothing changed. */
            ck_assert_uint_eq(ohp_registry_count(reg), 2);
            ck_assert_int_eq(ohp_registry_find(reg, "0", &got), OHP_OK);
            ck_assert_str_eq(got.meaning, "Oracle WMS");
            ck_assert_int_eq(ohp_registry_find(reg, "5", &got), OHP_OK);
            ck_assert_str_eq(got.meaning, "Existing 3PL");
            ck_assert_str_eq(got.tag, "keep");
            ck_assert_int_eq(ohp_registry_find(reg, "3", &got), OHP_ENOTFOUND);
            ck_assert_int_eq(ohp_registry_find(reg, "12", &got), OHP_ENOTFOUND);
            /* The registry still works. */
            v.code = "6";
            ck_assert_int_eq(ohp_registry_add(reg, &v), OHP_OK);
        } else {
            ck_assert_uint_eq(ohp_registry_count(reg), 5);
            ck_assert_int_eq(ohp_registry_find(reg, "0", &got), OHP_OK);
            ck_assert_str_eq(got.meaning, "Oracle WMS (EU)");
            ck_assert_int_eq(ohp_registry_find(reg, "12", &got), OHP_OK);
            ck_assert_str_eq(got.description, "Frozen goods");
        }
        ohp_registry_free(reg);
        ck_assert_msg(a.blocks == 0, "allocation %ld: %ld blocks leaked", n, a.blocks);
        if (!reached) {
            ck_assert_int_eq(rc, OHP_OK);
            break;
        }
    }
    printf("registry load under allocation failure: %d failing loads\n", failures);
    ck_assert_int_gt(failures, 5);
}
END_TEST

START_TEST(test_alloc_fail_new_handles)
{
    tu_alloc a;
    tu_alloc_init(&a);
    a.fail_at = 1;
    ohp_job *job = (ohp_job *)&a;
    ck_assert_int_eq(ohp_job_new(&job, &a.pub), OHP_ENOMEM);
    ck_assert_ptr_null(job);
    a.calls = 0;
    ohp_memsink *ms = (ohp_memsink *)&a;
    ck_assert_int_eq(ohp_memsink_new(&ms, &a.pub), OHP_ENOMEM);
    ck_assert_ptr_null(ms);
    for (long n = 1; n <= 4; n++) {
        tu_alloc_init(&a);
        a.fail_at = n;
        ohp_registry *reg = (ohp_registry *)&a;
        int rc = ohp_registry_new(&reg, &a.pub);
        if (rc == OHP_OK) {
            ck_assert_ptr_nonnull(reg);
            ohp_registry_free(reg);
        } else {
            ck_assert_int_eq(rc, OHP_ENOMEM);
            ck_assert_ptr_null(reg);
        }
        ck_assert_int_eq(a.blocks, 0);
    }
    ck_assert_int_eq(a.blocks, 0);
}
END_TEST

static Suite *failures_suite(void)
{
    Suite *s = suite_create("failures");
    TCase *tc = tcase_create("stages");
    tcase_add_test(tc, test_fail_authorizer);
    tcase_add_test(tc, test_fail_state_get);
    tcase_add_test(tc, test_fail_next_run_id);
    tcase_add_test(tc, test_fail_source_open);
    tcase_add_test(tc, test_fail_record_mid_stream);
    tcase_add_test(tc, test_fail_source_at_record_n);
    tcase_add_test(tc, test_fail_source_at_record_n_big);
    tcase_add_test(tc, test_fail_sink_open);
    tcase_add_test(tc, test_fail_sink_write_each_stored);
    tcase_add_test(tc, test_fail_sink_write_each_deflated);
    tcase_add_test(tc, test_fail_sink_commit);
    tcase_add_test(tc, test_fail_state_commit);
    tcase_add_test(tc, test_fail_cancel_and_reject);
    suite_add_tcase(s, tc);

    tc = tcase_create("allocation");
    tcase_add_test(tc, test_alloc_fail_new_handles);
    tcase_add_test(tc, test_alloc_fail_serial_mix);
    tcase_add_test(tc, test_alloc_fail_reject_policy);
    tcase_add_test(tc, test_alloc_fail_memsink);
    tcase_add_test(tc, test_alloc_fail_builtin_registry);
    tcase_add_test(tc, test_builtin_registry_uses_job_allocator);
    tcase_add_test(tc, test_alloc_fail_registry_load_psv);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(failures_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
