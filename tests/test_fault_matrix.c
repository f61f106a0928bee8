/*
 * Fault-injection matrix.  One representative use of the library (a
 * registry loaded from PSV, a job with serial and non-serial records,
 * reject policy with bad records, state store, authorizer, rejection and
 * progress callbacks) is repeated while exactly one thing fails in turn:
 *
 *   - every allocation, N = 1, 2, 3, ... until the run no longer reaches N
 *   - the sink's open, every write, its close(commit)
 *   - the source's open and every call of next
 *   - every state-store call (get, next_run_id, commit)
 *   - the authorizer (failing, and denying)
 *   - the rejection callback at each call, the progress callback at each call
 *
 * For each fault point: the run returns that fault's code, the sink got
 * close(abort) exactly once if it was opened (never a close if open
 * failed), the state store is untouched (a failing commit records
 * nothing), and after freeing everything the counting allocator has no
 * live block (the suite also runs under ASan/LSan and valgrind).  The
 * matrix runs for several shapes (stored and deflated, the test sink and
 * the library's memory sink, one and two compression threads) and prints
 * how many fault points it covered.
 */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ORG "M1"
#define USER "ALICE"
#define SYSTEM "3"
#define SNAP "2026/11/02 06:30:00"
#define W0 "2026/09/30 00:00:00"
#define LAST_RUN 41
#define N_BAD 4

static int under_valgrind(void)
{
    const char *v = getenv("OHP_UNDER_VALGRIND");
    return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

static long fault_points;

/* ---- the representative input ---- */

static const char LOOKUPS[] = "LOOKUP_CODE|MEANING|DESCRIPTION|ENABLED_FLAG|START_DATE_ACTIVE|"
                              "END_DATE_ACTIVE|DISPLAY_SEQUENCE|TAG\n"
                              "0|Oracle WMS (EU)|Warehouse management|Y||||\n"
                              "3|3PL North|Northern 3PL|Y|2026/01/01||10|north\n"
                              "4|3PL South||N||||\n";

static const ohp_serial arr_serials[] = {{"Q-1", NULL}, {"R00998", "R01002"}, {"Q-2", NULL}};
static char many_text[16][32];
static char noisy_text[128][4001];
static char range_text[2][32];
static ohp_record recs[200];
static size_t nrecs;

/*
 * plain_many small records, noisy records with 4000 bytes of random text
 * (so that even deflated output takes several sink writes), and a range
 * of `serials` serial numbers.
 */
static void make_records(size_t plain_many, size_t noisy, unsigned serials)
{
    size_t n = 0;
    recs[n++] = tu_record(ORG, "PLAIN-1", "10.5");
    recs[n] = tu_record(ORG, "SER-LIST", "3");
    recs[n].serial_controlled = 1;
    recs[n++].serial_list = "S-9,S-1,S-5";
    recs[n] = tu_record(ORG, "SER-ARRAY", "7");
    recs[n].serial_controlled = 1;
    recs[n].serials = arr_serials;
    recs[n++].serial_count = 3;
    recs[n] = tu_record(ORG, "BAD-QTY", "12,5");
    recs[n++].lot_number = "L1";
    snprintf(range_text[0], sizeof range_text[0], "%u", serials);
    snprintf(range_text[1], sizeof range_text[1], "M000001..M%06u", serials);
    recs[n] = tu_record(ORG, "SER-RANGE", range_text[0]);
    recs[n].serial_controlled = 1;
    recs[n++].serial_list = range_text[1];
    recs[n] = tu_record(ORG, "DUAL", "12");
    recs[n].secondary_quantity = "3.25";
    recs[n++].secondary_uom_code = "KG";
    recs[n] = tu_record(ORG, "BAD-SER", "2");
    recs[n].serial_controlled = 1;
    recs[n++].serial_list = "D-1,D-1";
    recs[n++] = tu_record("OTHER", "ELSEWHERE", "5");
    recs[n] = tu_record(ORG, "QUOTED|\"ITEM\"", "1");
    recs[n++].locator_name = "A.01\n02";
    recs[n] = tu_record(ORG, "BAD-DATE", "2");
    recs[n++].last_update_date = "2026/02/30";
    for (size_t i = 0; i < plain_many && i < 16; i++) {
        snprintf(many_text[i], sizeof many_text[i], "MANY-%02zu", i);
        recs[n] = tu_record(ORG, many_text[i], "1.25");
        recs[n++].primary_uom_code = (i & 1) ? "KG" : "Ea";
    }
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < noisy && i < 128; i++) {
        for (size_t k = 0; k < 4000; k++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            noisy_text[i][k] = "0123456789ABCDEF"[x & 15];
        }
        noisy_text[i][4000] = '\0';
        recs[n] = tu_record(ORG, "NOISY", "1");
        recs[n++].locator_name = noisy_text[i];
    }
    recs[n] = tu_record(ORG, "BAD-SRC", "2");
    recs[n++].source_error = "line 7: SERIAL_CONTROLLED must be Y or N";
    recs[n++] = tu_record(ORG, "PLAIN-LAST", "-2");
    nrecs = n;
}

/* ---- what to break, and what happened ---- */

typedef struct faults {
    long alloc_at;                  /* allocation N */
    int sink_open, sink_commit;     /* fail that call */
    long sink_write_at;             /* write call N */
    int src_open;                   /* fail open */
    long src_next_at;               /* next call N */
    int st_get, st_next, st_commit; /* fail that call */
    int auth_fail, auth_deny;       /* authorizer fails / denies */
    long reject_at, progress_at;    /* callback call N fails */
} faults;

typedef struct shape {
    int level;
    int memsink;
    unsigned threads;
    size_t plain_many;
    size_t noisy;
    unsigned serials;
} shape;

typedef struct outcome {
    int rc;
    int status;
    char *psv; /* success: the published entry */
    size_t psv_len;
    long allocs;
    long sink_writes;
    long src_nexts;
    long rejects, progress;
    long auth_calls;
    int sink_opened, sink_closes, sink_aborted, sink_committed;
    int src_opened, src_closed;
    int state_commits;
    int state_untouched;
} outcome;

typedef struct cbctx {
    long calls, fail_at;
    int fail, deny;
} cbctx;

static int authz_cb(void *ud, const char *user, const char *privilege, int *granted)
{
    cbctx *c = ud;
    c->calls++;
    ck_assert_str_eq(user, USER);
    ck_assert_str_eq(privilege, OHP_PRIVILEGE);
    if (c->fail)
        return -1;
    *granted = !c->deny;
    return 0;
}

static int reject_cb(void *ud, const ohp_rejection *rj)
{
    cbctx *c = ud;
    c->calls++;
    ck_assert_int_ne(rj->rule, OHP_RULE_NONE);
    ck_assert_ptr_nonnull(rj->record);
    return c->fail_at == c->calls ? -1 : 0;
}

static int progress_cb(void *ud, uint64_t n)
{
    cbctx *c = ud;
    c->calls++;
    (void)n;
    return c->fail_at == c->calls ? 1 : 0;
}

/* A source counting every next call (tu_source counts records only). */
typedef struct csrc {
    tu_source t;
    long nexts;
} csrc;

static int csrc_next(void *ud, ohp_record *rec)
{
    csrc *s = ud;
    s->nexts++;
    if (s->t.fail_at && s->nexts == s->t.fail_at)
        return -1;
    return tu_source_next(&s->t, rec);
}

/*
 * One complete use of the library on a fresh counting allocator: registry,
 * job, (memory sink), run, checks, free.  Fills *o; nothing is left live.
 */
static void scenario(const shape *sh, const faults *fx, outcome *o)
{
    memset(o, 0, sizeof *o);
    tu_alloc a;
    tu_alloc_init(&a);
    a.fail_at = fx->alloc_at;
    ohp_registry *reg = NULL;
    ohp_job *job = NULL;
    ohp_memsink *ms = NULL;
    tu_sink sink;
    memset(&sink, 0, sizeof sink);
    sink.fail_open = fx->sink_open;
    sink.fail_write = fx->sink_write_at;
    sink.fail_commit = fx->sink_commit;
    tu_state st;
    tu_state_init(&st);
    st.watermark = tu_date(W0);
    st.last_run_id = LAST_RUN;
    st.fail_get = fx->st_get;
    st.fail_next = fx->st_next;
    st.fail_commit = fx->st_commit;
    csrc src;
    memset(&src, 0, sizeof src);
    src.t.records = recs;
    src.t.count = nrecs;
    src.t.fail_open = fx->src_open;
    src.t.fail_at = fx->src_next_at;
    cbctx az = {0, 0, fx->auth_fail, fx->auth_deny};
    cbctx rj = {0, fx->reject_at, 0, 0};
    cbctx pg = {0, fx->progress_at, 0, 0};

    int rc = ohp_registry_new(&reg, &a.pub);
    if (rc) {
        ck_assert_ptr_null(reg);
        goto done;
    }
    rc = ohp_registry_load_psv(reg, LOOKUPS, strlen(LOOKUPS));
    if (rc) {
        ck_assert_uint_eq(ohp_registry_count(reg), 1);
        goto done;
    }
    rc = ohp_job_new(&job, &a.pub);
    if (rc) {
        ck_assert_ptr_null(job);
        goto done;
    }
    if (sh->memsink) {
        rc = ohp_memsink_new(&ms, &a.pub);
        if (rc) {
            ck_assert_ptr_null(ms);
            goto done;
        }
        ck_assert_int_eq(ohp_job_set_memsink(job, ms), OHP_OK);
    } else {
        tu_use_sink(job, &sink);
    }
    ck_assert_int_eq(ohp_job_set_registry(job, reg), OHP_OK);
    ck_assert_int_eq(ohp_job_set_source(job, tu_source_open, csrc_next, tu_source_close, &src.t),
                     OHP_OK);
    tu_use_state(job, &st);
    ck_assert_int_eq(ohp_job_set_authorizer(job, authz_cb, &az), OHP_OK);
    ck_assert_int_eq(ohp_job_set_reject_callback(job, reject_cb, &rj), OHP_OK);
    ck_assert_int_eq(ohp_job_set_progress_callback(job, progress_cb, &pg), OHP_OK);
    ohp_params p;
    ck_assert_int_eq(ohp_params_init(&p, OHP_PARAMS_VERSION), OHP_OK);
    p.system_code = SYSTEM;
    p.organization_code = ORG;
    p.user = USER;
    p.snapshot_date = tu_date(SNAP);
    p.on_error = OHP_ON_ERROR_REJECT;
    p.progress_interval = 4;
    p.compression_level = sh->level;
    p.threads = sh->threads;
    /* Incremental: the watermark is read, run ids come from the store. */
    rc = ohp_job_run(job, &p);
    const ohp_summary *s = ohp_job_summary(job);
    ck_assert_int_eq(s->error, rc);
    o->status = s->status;
    if (rc == OHP_OK) {
        const void *data = sink.data;
        size_t len = sink.len;
        if (ms) {
            ck_assert(ohp_memsink_committed(ms));
            data = ohp_memsink_data(ms, &len);
        }
        ck_assert_ptr_nonnull(data);
        ck_assert_int_eq(tu_unzip_single(data, len, &o->psv, &o->psv_len, NULL, 0), 0);
        ck_assert_uint_eq(s->psv_bytes, o->psv_len);
        ck_assert_uint_eq(s->records_rejected, N_BAD);
    } else {
        ck_assert_str_ne(ohp_job_errmsg(job), "");
        if (ms && !fx->st_commit) { /* a failing state commit comes after the sink's */
            ck_assert_int_eq(ohp_memsink_committed(ms), 0);
            size_t len = 1;
            ck_assert_ptr_null(ohp_memsink_data(ms, &len));
            ck_assert_uint_eq(len, 0);
        }
    }
done:
    o->rc = rc;
    o->sink_writes = sink.writes;
    o->sink_opened = sink.opened;
    o->sink_closes = sink.closes;
    o->sink_aborted = sink.aborted;
    o->sink_committed = sink.committed;
    o->src_opened = src.t.opened;
    o->src_closed = src.t.closed;
    o->src_nexts = src.nexts;
    o->rejects = rj.calls;
    o->progress = pg.calls;
    o->auth_calls = az.calls;
    o->state_commits = st.commits;
    o->state_untouched =
        st.commits == 0 && st.watermark == tu_date(W0) && st.last_run_id == LAST_RUN;
    ohp_job_free(job);
    ohp_memsink_free(ms);
    ohp_registry_free(reg);
    tu_sink_free(&sink);
    o->allocs = a.calls;
    ck_assert_msg(a.blocks == 0 && a.live == 0, "%ld blocks (%zu bytes) leaked", a.blocks, a.live);
}

/* The guarantees of every failed run. */
static void assert_failed(const shape *sh, const outcome *o, int want, const char *what, long n)
{
    ck_assert_msg(o->rc == want, "%s %ld: run returned %d (%s), expected %d (%s)", what, n, o->rc,
                  ohp_strerror(o->rc), want, ohp_strerror(want));
    if (o->status != OHP_STATUS_NOT_RUN)
        ck_assert_int_eq(o->status, want == OHP_EDENIED ? OHP_STATUS_REFUSED : OHP_STATUS_FAILED);
    if (!sh->memsink) {
        ck_assert_int_le(o->sink_opened, 1);
        ck_assert_msg(o->sink_closes <= o->sink_opened, "%s %ld: sink opened %d, closed %d times",
                      what, n, o->sink_opened, o->sink_closes);
        ck_assert_int_eq(o->sink_committed, 0);
    }
    /* The source is closed exactly when its open succeeded (two passes: incremental). */
    ck_assert_int_le(o->src_opened, 2);
    ck_assert_int_le(o->src_closed, o->src_opened);
    ck_assert_msg(o->state_untouched, "%s %ld: the state store was written", what, n);
    fault_points++;
}

/* Aborted exactly once (the sink was opened and its open succeeded). */
static void assert_aborted_once(const shape *sh, const outcome *o)
{
    if (sh->memsink)
        return;
    ck_assert_int_eq(o->sink_opened, 1);
    ck_assert_int_eq(o->sink_closes, 1);
    ck_assert_int_eq(o->sink_aborted, 1);
}

static void reference(const shape *sh, outcome *ref)
{
    faults fx;
    memset(&fx, 0, sizeof fx);
    scenario(sh, &fx, ref);
    ck_assert_msg(ref->rc == OHP_OK, "reference run failed: %s", ohp_strerror(ref->rc));
    ck_assert_int_eq(ref->state_commits, 1);
    ck_assert_int_eq(ref->rejects, N_BAD);
    ck_assert_int_ge(ref->progress, 3);
    /* incremental: one pass finds the changed keys, the second publishes them */
    ck_assert_int_eq(ref->src_opened, 2);
    ck_assert_int_eq(ref->src_closed, 2);
    ck_assert_int_eq(ref->src_nexts, 2 * ((long)nrecs + 1));
    if (!sh->memsink)
        ck_assert_int_ge(ref->sink_writes, 2);
}

static void matrix_allocations(const shape *sh, const outcome *ref)
{
    long failing = 0, absorbed = 0;
    for (long n = 1;; n++) {
        faults fx;
        memset(&fx, 0, sizeof fx);
        fx.alloc_at = n;
        outcome o;
        scenario(sh, &fx, &o);
        if (o.rc == OHP_OK) {
            /* Not reached (the end), or absorbed: then the output is the same. */
            ck_assert_uint_eq(o.psv_len, ref->psv_len);
            ck_assert_int_eq(memcmp(o.psv, ref->psv, ref->psv_len), 0);
            ck_assert_int_eq(o.state_commits, 1);
            free(o.psv);
            if (o.allocs < n)
                break;
            absorbed++;
            continue;
        }
        /* The memory sink's own allocations fail its write: a sink failure. */
        assert_failed(sh, &o, sh->memsink && o.rc == OHP_ESINK ? OHP_ESINK : OHP_ENOMEM,
                      "allocation", n);
        if (o.sink_opened) /* the test sink's open never fails here */
            assert_aborted_once(sh, &o);
        failing++;
        ck_assert_int_le(n, ref->allocs * 2 + 16);
    }
    printf("  allocations: %ld failing runs, %ld absorbed (reference run: %ld allocations)\n",
           failing, absorbed, ref->allocs);
    ck_assert_int_gt(failing, 10);
}

static void matrix_sink(const shape *sh, const outcome *ref)
{
    faults fx;
    outcome o;
    if (sh->memsink)
        return; /* the memory sink cannot be made to fail */
    memset(&fx, 0, sizeof fx);
    fx.sink_open = 1;
    scenario(sh, &fx, &o);
    assert_failed(sh, &o, OHP_ESINK, "sink open", 1);
    ck_assert_int_eq(o.sink_opened, 1);
    ck_assert_int_eq(o.sink_closes, 0);
    ck_assert_int_eq(o.sink_writes, 0);
    ck_assert_int_eq(o.src_closed, o.src_opened);

    for (long n = 1; n <= ref->sink_writes; n++) {
        memset(&fx, 0, sizeof fx);
        fx.sink_write_at = n;
        scenario(sh, &fx, &o);
        assert_failed(sh, &o, OHP_ESINK, "sink write", n);
        assert_aborted_once(sh, &o);
        ck_assert_int_eq(o.sink_writes, n); /* nothing after the failure */
    }

    memset(&fx, 0, sizeof fx);
    fx.sink_commit = 1;
    scenario(sh, &fx, &o);
    assert_failed(sh, &o, OHP_ESINK, "sink close(commit)", 1);
    ck_assert_int_eq(o.sink_closes, 1); /* the failed commit was its one close */
    ck_assert_int_eq(o.sink_aborted, 0);
    ck_assert_int_eq(o.sink_writes, ref->sink_writes);
    printf("  sink: open, %ld writes, close(commit)\n", ref->sink_writes);
}

static void matrix_source(const shape *sh, const outcome *ref)
{
    faults fx;
    outcome o;
    memset(&fx, 0, sizeof fx);
    fx.src_open = 1;
    scenario(sh, &fx, &o);
    assert_failed(sh, &o, OHP_ESOURCE, "source open", 1);
    ck_assert_int_eq(o.src_opened, 1);
    ck_assert_int_eq(o.src_closed, 0);
    ck_assert_int_eq(o.sink_opened, 0);

    for (long n = 1; n <= ref->src_nexts; n++) {
        memset(&fx, 0, sizeof fx);
        fx.src_next_at = n;
        scenario(sh, &fx, &o);
        assert_failed(sh, &o, OHP_ESOURCE, "source next", n);
        ck_assert_int_eq(o.src_nexts, n);
        if (n <= (long)nrecs + 1) {
            /* the first pass: nothing was opened for writing yet */
            ck_assert_int_eq(o.sink_opened, 0);
            ck_assert_int_eq(o.src_closed, 1);
        } else {
            assert_aborted_once(sh, &o);
            ck_assert_int_eq(o.src_closed, 2);
        }
    }
    printf("  source: open, %ld next calls\n", ref->src_nexts);
}

static void matrix_state(const shape *sh)
{
    faults fx;
    outcome o;
    memset(&fx, 0, sizeof fx);
    fx.st_get = 1;
    scenario(sh, &fx, &o);
    assert_failed(sh, &o, OHP_ESTORE, "state get", 1);
    ck_assert_int_eq(o.src_opened, 0);
    ck_assert_int_eq(o.sink_opened, 0);

    memset(&fx, 0, sizeof fx);
    fx.st_next = 1;
    scenario(sh, &fx, &o);
    assert_failed(sh, &o, OHP_ESTORE, "state next_run_id", 1);
    ck_assert_int_eq(o.src_opened, 0);
    ck_assert_int_eq(o.sink_opened, 0);

    /* A failing commit: the file went out, nothing was recorded. */
    memset(&fx, 0, sizeof fx);
    fx.st_commit = 1;
    scenario(sh, &fx, &o);
    ck_assert_int_eq(o.rc, OHP_ESTORE);
    ck_assert_int_eq(o.status, OHP_STATUS_FAILED);
    ck_assert(o.state_untouched);
    if (!sh->memsink) {
        ck_assert_int_eq(o.sink_closes, 1);
        ck_assert_int_eq(o.sink_aborted, 0);
        ck_assert_int_eq(o.sink_committed, 1);
    }
    fault_points++;
    free(o.psv);
}

static void matrix_authorizer(const shape *sh)
{
    faults fx;
    outcome o;
    memset(&fx, 0, sizeof fx);
    fx.auth_fail = 1;
    scenario(sh, &fx, &o);
    assert_failed(sh, &o, OHP_EAUTH, "authorizer failure", 1);
    ck_assert_int_eq(o.auth_calls, 1);
    ck_assert_int_eq(o.src_opened, 0);
    ck_assert_int_eq(o.sink_opened, 0);

    memset(&fx, 0, sizeof fx);
    fx.auth_deny = 1;
    scenario(sh, &fx, &o);
    assert_failed(sh, &o, OHP_EDENIED, "authorizer denial", 1);
    ck_assert_int_eq(o.src_opened, 0);
    ck_assert_int_eq(o.sink_opened, 0);
}

static void matrix_callbacks(const shape *sh, const outcome *ref)
{
    for (long n = 1; n <= ref->rejects; n++) {
        faults fx;
        memset(&fx, 0, sizeof fx);
        fx.reject_at = n;
        outcome o;
        scenario(sh, &fx, &o);
        assert_failed(sh, &o, OHP_EREJECT, "rejection callback", n);
        assert_aborted_once(sh, &o);
        ck_assert_int_eq(o.rejects, n);
    }
    for (long n = 1; n <= ref->progress; n++) {
        faults fx;
        memset(&fx, 0, sizeof fx);
        fx.progress_at = n;
        outcome o;
        scenario(sh, &fx, &o);
        assert_failed(sh, &o, OHP_ECANCELED, "progress callback", n);
        if (o.sink_opened || sh->memsink)
            assert_aborted_once(sh, &o);
        else /* cancelled in the first pass, before anything was opened for writing */
            ck_assert_int_eq(o.sink_closes, 0);
        ck_assert_int_eq(o.progress, n);
    }
    printf("  callbacks: %ld rejection calls, %ld progress calls\n", ref->rejects, ref->progress);
}

static void run_matrix(const shape *sh, int with_allocations)
{
    make_records(sh->plain_many, sh->noisy, sh->serials);
    long before = fault_points;
    outcome ref;
    reference(sh, &ref);
    printf("matrix: level %d, %s, %u thread(s), %zu records\n", sh->level,
           sh->memsink ? "memory sink" : "test sink", sh->threads, nrecs);
    if (with_allocations)
        matrix_allocations(sh, &ref);
    matrix_sink(sh, &ref);
    matrix_source(sh, &ref);
    matrix_state(sh);
    matrix_authorizer(sh);
    matrix_callbacks(sh, &ref);
    free(ref.psv);
    printf("  %ld fault points in this shape\n", fault_points - before);
}

START_TEST(test_matrix_deflated)
{
    int vg = under_valgrind();
    shape sh = {6, 0, 1, vg ? 4 : 16, vg ? 30 : 80, 400};
    run_matrix(&sh, 1);
}
END_TEST

START_TEST(test_matrix_stored)
{
    int vg = under_valgrind();
    shape sh = {0, 0, 1, vg ? 4 : 12, 0, vg ? 1500 : 3000};
    run_matrix(&sh, 1);
}
END_TEST

START_TEST(test_matrix_memsink)
{
    shape sh = {1, 1, 1, 8, 4, 300};
    run_matrix(&sh, 1);
}
END_TEST

START_TEST(test_matrix_threads)
{
    /* Two compression threads: worker allocations are interleaved with the
     * calling thread's (the job serialises the host allocator), so N walks
     * whatever order this run takes; every N must still fail cleanly. */
    int vg = under_valgrind();
    shape sh = {6, 0, 2, 16, vg ? 30 : 80, 400};
    run_matrix(&sh, 1);
}
END_TEST

static Suite *fault_matrix_suite(void)
{
    Suite *s = suite_create("fault_matrix");
    TCase *tc = tcase_create("matrix");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_matrix_deflated);
    tcase_add_test(tc, test_matrix_stored);
    tcase_add_test(tc, test_matrix_memsink);
    tcase_add_test(tc, test_matrix_threads);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(fault_matrix_suite());
    /* Count the fault points across the cases in this process. */
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    printf("fault matrix: %ld fault points covered\n", fault_points);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
