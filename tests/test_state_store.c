/*
 * The state store of 1.1 (ohp_state_store): a watermark per item class,
 * snapshots strictly later than the last, run ids reserved before anything
 * is written, rejected records retried; and the run-level checks that go
 * with them: an empty FULL snapshot, the reject thresholds, run ids of at
 * most 18 digits, organization codes of at most 18 characters.
 */
#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a 1.1 store in memory ---- */

typedef struct store {
    ohp_class_state cls[2];
    uint64_t last_id;   /* highest reserved */
    uint64_t committed; /* run id of the last commit */
    int gets, reserves, commits;
    int commit_items;
    int fail_commit, fail_reserve;
    uint64_t hand_out; /* non-zero: reserve returns this */
    int order;         /* call counter, to see the order of events */
    int reserved_at, source_opened_at;
} store;

static int st_get(void *ud, const char *sys, const char *org, ohp_class_state state[2])
{
    (void)sys;
    (void)org;
    store *s = ud;
    s->gets++;
    state[0] = s->cls[0];
    state[1] = s->cls[1];
    return 0;
}

static int st_reserve(void *ud, uint64_t requested, uint64_t *id)
{
    store *s = ud;
    s->reserves++;
    s->reserved_at = ++s->order;
    if (s->fail_reserve)
        return -1;
    if (s->hand_out) {
        *id = s->hand_out;
        return 0;
    }
    if (requested) {
        if (requested > s->last_id)
            s->last_id = requested;
        *id = requested;
        return 0;
    }
    *id = ++s->last_id;
    return 0;
}

static int st_commit(void *ud, const char *sys, const char *org, int items,
                     const ohp_class_state state[2], uint64_t id)
{
    (void)sys;
    (void)org;
    store *s = ud;
    s->commits++;
    s->commit_items = items;
    if (s->fail_commit)
        return -1;
    s->cls[0] = state[0];
    s->cls[1] = state[1];
    s->committed = id;
    return 0;
}

static void store_init(store *s)
{
    memset(s, 0, sizeof *s);
    for (int k = 0; k < 2; k++)
        s->cls[k].watermark = s->cls[k].last_snapshot = OHP_TIME_NONE;
}

typedef struct src {
    tu_source t;
    store *st;
} src;

static int src_open(void *ud, const ohp_source_query *q)
{
    src *s = ud;
    if (s->st->source_opened_at == 0)
        s->st->source_opened_at = ++s->st->order;
    return tu_source_open(&s->t, q);
}

typedef struct fx {
    ohp_job *job;
    src src;
    tu_sink sink;
    store st;
    ohp_params p;
    char *psv;
    size_t psv_len;
} fx;

static void fx_init(fx *f, const ohp_record *recs, size_t n)
{
    memset(f, 0, sizeof *f);
    ck_assert_int_eq(ohp_job_new(&f->job, NULL), OHP_OK);
    f->src.t.records = recs;
    f->src.t.count = n;
    f->src.st = &f->st;
    ck_assert_int_eq(ohp_job_set_source(f->job, src_open, tu_source_next, tu_source_close, &f->src),
                     OHP_OK);
    tu_use_sink(f->job, &f->sink);
    store_init(&f->st);
    const ohp_state_store def = {OHP_STATE_STORE_VERSION, st_get, st_reserve, st_commit};
    ck_assert_int_eq(ohp_job_set_state_store2(f->job, &def, &f->st), OHP_OK);
    ohp_params_init(&f->p, OHP_PARAMS_VERSION);
    f->p.organization_code = "M1";
    f->p.user = "TEST";
    f->p.caller_authorized = 1;
}

/* Run at the given snapshot date; on success the PSV is in f->psv. */
static int fx_run(fx *f, const char *snap)
{
    free(f->psv);
    f->psv = NULL;
    f->p.snapshot_date = tu_date(snap);
    f->sink.len = 0;
    f->sink.committed = f->sink.opened = f->sink.closes = f->sink.aborted = 0;
    f->src.t.opened = f->src.t.closed = 0;
    f->st.order = f->st.reserved_at = f->st.source_opened_at = 0;
    int rc = ohp_job_run(f->job, &f->p);
    if (rc == OHP_OK) {
        char name[256];
        ck_assert_int_eq(
            tu_unzip_single(f->sink.data, f->sink.len, &f->psv, &f->psv_len, name, sizeof name), 0);
    }
    return rc;
}

static void fx_free(fx *f)
{
    free(f->psv);
    tu_sink_free(&f->sink);
    ohp_job_free(f->job);
}

/* The item numbers of the published lines, comma-separated. */
static void items_of(const fx *f, char *out, size_t size)
{
    out[0] = '\0';
    const char *line = strchr(f->psv, '\n') + 1;
    while (*line) {
        const char *p = line;
        for (int i = 0; i < 7; i++)
            p = strchr(p, '|') + 1;
        size_t n = (size_t)(strchr(p, '|') - p), used = strlen(out);
        snprintf(out + used, size - used, "%s%.*s", used ? "," : "", (int)n, p);
        line = strchr(line, '\n') + 1;
    }
}

static ohp_record rec(const char *item, int serial, const char *qty, const char *date)
{
    ohp_record r = tu_record("M1", item, qty);
    r.serial_controlled = serial;
    r.last_update_date = date;
    if (serial && strcmp(qty, "1") == 0)
        r.serial_list = "SN1";
    return r;
}

/* ---- case 3: a watermark per item class ---- */

START_TEST(test_class_watermarks)
{
    ohp_record recs[] = {
        rec("SER", 1, "1", "2026/01/01 00:00:00"),
        rec("NON", 0, "5", "2026/01/01 00:00:00"),
    };
    fx f;
    fx_init(&f, recs, 2);
    ck_assert_int_eq(fx_run(&f, "2026/01/02"), OHP_OK); /* FULL, both classes */
    ck_assert_int_eq(f.st.commit_items, OHP_ITEMS_BOTH);
    ck_assert(f.st.cls[OHP_CLASS_SERIAL].watermark == tu_date("2026/01/02"));
    ck_assert(f.st.cls[OHP_CLASS_NONSERIAL].watermark == tu_date("2026/01/02"));

    /* A serial-only run on the 4th moves the serial class only. */
    recs[1].last_update_date = "2026/01/03 00:00:00"; /* a change of the other class */
    f.p.items = OHP_ITEMS_SERIAL;
    ck_assert_int_eq(fx_run(&f, "2026/01/04"), OHP_OK);
    ck_assert_int_eq(f.st.commit_items, OHP_ITEMS_SERIAL);
    ck_assert(f.st.cls[OHP_CLASS_SERIAL].watermark == tu_date("2026/01/04"));
    ck_assert(f.st.cls[OHP_CLASS_NONSERIAL].watermark == tu_date("2026/01/02"));

    /* The non-serial run starts at its own watermark: the change of the 3rd is published. */
    f.p.items = OHP_ITEMS_NONSERIAL;
    ck_assert_int_eq(fx_run(&f, "2026/01/05"), OHP_OK);
    ck_assert(ohp_job_summary(f.job)->window_start == tu_date("2026/01/02"));
    char got[256];
    items_of(&f, got, sizeof got);
    ck_assert_str_eq(got, "NON");

    /* A run of both starts at the older of the two. */
    f.st.cls[OHP_CLASS_SERIAL].watermark = tu_date("2026/01/01 12:00:00");
    f.p.items = OHP_ITEMS_BOTH;
    ck_assert_int_eq(fx_run(&f, "2026/01/06"), OHP_OK);
    ck_assert(ohp_job_summary(f.job)->window_start == tu_date("2026/01/01 12:00:00"));
    ck_assert(f.st.cls[OHP_CLASS_SERIAL].watermark == tu_date("2026/01/06"));
    ck_assert(f.st.cls[OHP_CLASS_NONSERIAL].watermark == tu_date("2026/01/06"));

    /* A class never published makes a run covering it a full one. */
    f.st.cls[OHP_CLASS_SERIAL].watermark = f.st.cls[OHP_CLASS_SERIAL].last_snapshot = OHP_TIME_NONE;
    ck_assert_int_eq(fx_run(&f, "2026/01/07"), OHP_OK);
    ck_assert_int_eq(ohp_job_summary(f.job)->mode, OHP_MODE_FULL);
    fx_free(&f);
}
END_TEST

/* ---- case 4: a snapshot not later than the last is refused ---- */

START_TEST(test_snapshot_not_later_refused)
{
    ohp_record recs[] = {rec("A", 0, "1", "2026/01/01 00:00:00")};
    fx f;
    fx_init(&f, recs, 1);
    ck_assert_int_eq(fx_run(&f, "2026/08/15"), OHP_OK);
    int reserves = f.st.reserves;
    const char *dates[] = {"2026/06/30", "2026/08/15"}; /* earlier, equal */
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(fx_run(&f, dates[i]), OHP_EINVAL);
        ck_assert_int_eq(ohp_job_summary(f.job)->status, OHP_STATUS_REFUSED);
        const char *m = ohp_job_errmsg(f.job);
        ck_assert_ptr_nonnull(strstr(m, "not later than 2026/08/15 00:00:00"));
        ck_assert_ptr_nonnull(strstr(m, dates[i]));
        ck_assert_int_eq(f.src.t.opened, 0);
        ck_assert_int_eq(f.sink.opened, 0);
        ck_assert_int_eq(f.st.reserves, reserves); /* no run id taken */
        ck_assert_int_eq(f.st.commits, 1);
    }
    /* A full publish is ordered the same way; a class not covered does not count. */
    f.p.full_publish = 1;
    ck_assert_int_eq(fx_run(&f, "2026/08/01"), OHP_EINVAL);
    f.st.cls[OHP_CLASS_SERIAL].last_snapshot = tu_date("2026/09/01");
    f.st.cls[OHP_CLASS_SERIAL].watermark = tu_date("2026/09/01");
    f.p.items = OHP_ITEMS_NONSERIAL;
    ck_assert_int_eq(fx_run(&f, "2026/08/20"), OHP_OK);
    fx_free(&f);
}
END_TEST

START_TEST(test_one_zero_store_snapshot_not_later_refused)
{
    /* 1.0's store: the one watermark orders the snapshots. */
    ohp_record recs[] = {rec("A", 0, "1", "2026/01/01 00:00:00")};
    ohp_job *job;
    ck_assert_int_eq(ohp_job_new(&job, NULL), OHP_OK);
    tu_source s;
    memset(&s, 0, sizeof s);
    s.records = recs;
    s.count = 1;
    tu_use_source(job, &s);
    ohp_memsink *ms;
    ck_assert_int_eq(ohp_memsink_new(&ms, NULL), OHP_OK);
    ohp_job_set_memsink(job, ms);
    tu_state st;
    tu_state_init(&st);
    st.watermark = tu_date("2026/08/15");
    tu_use_state(job, &st);
    ohp_params p = OHP_PARAMS_INIT;
    p.organization_code = "M1";
    p.user = "TEST";
    p.caller_authorized = 1;
    p.snapshot_date = tu_date("2026/06/30");
    ck_assert_int_eq(ohp_job_run(job, &p), OHP_EINVAL);
    ck_assert_int_eq(st.commits, 0);
    p.snapshot_date = tu_date("2026/08/16");
    ck_assert_int_eq(ohp_job_run(job, &p), OHP_OK);
    ohp_memsink_free(ms);
    ohp_job_free(job);
}
END_TEST

/* ---- case 7: run ids reserved before anything is written ---- */

START_TEST(test_run_id_reserved_first)
{
    ohp_record recs[] = {rec("A", 0, "1", "2026/01/01 00:00:00")};
    fx f;
    fx_init(&f, recs, 1);
    f.st.fail_commit = 1;
    ck_assert_int_eq(fx_run(&f, "2026/01/02"), OHP_ESTORE);
    ck_assert_int_eq(f.sink.committed, 1); /* the file was published */
    ck_assert_uint_eq(ohp_job_summary(f.job)->run_id, 1);
    ck_assert_int_lt(f.st.reserved_at, f.st.source_opened_at);
    /* The next run never takes id 1 again. */
    f.st.fail_commit = 0;
    ck_assert_int_eq(fx_run(&f, "2026/01/03"), OHP_OK);
    ck_assert_uint_eq(ohp_job_summary(f.job)->run_id, 2);
    /* A failing run consumes its id too. */
    recs[0].primary_quantity = "bad";
    recs[0].last_update_date = "2026/01/03 12:00:00";
    ck_assert_int_eq(fx_run(&f, "2026/01/04"), OHP_ERECORD);
    recs[0].primary_quantity = "1";
    recs[0].last_update_date = "2026/01/04 12:00:00";
    ck_assert_int_eq(fx_run(&f, "2026/01/05"), OHP_OK);
    ck_assert_uint_eq(ohp_job_summary(f.job)->run_id, 4);
    /* A given id is recorded as taken. */
    f.p.run_id = 40;
    ck_assert_int_eq(fx_run(&f, "2026/01/06"), OHP_OK);
    ck_assert_uint_eq(f.st.last_id, 40);
    f.p.run_id = 0;
    ck_assert_int_eq(fx_run(&f, "2026/01/07"), OHP_OK);
    ck_assert_uint_eq(ohp_job_summary(f.job)->run_id, 41);
    /* A store that cannot reserve fails the run before anything is opened. */
    f.st.fail_reserve = 1;
    ck_assert_int_eq(fx_run(&f, "2026/01/08"), OHP_ESTORE);
    ck_assert_int_eq(f.src.t.opened, 0);
    ck_assert_int_eq(f.sink.opened, 0);
    fx_free(&f);
}
END_TEST

/* ---- case 14: run ids of at most 18 digits ---- */

START_TEST(test_run_id_digits)
{
    ohp_record recs[] = {rec("A", 0, "1", "2026/01/01 00:00:00")};
    fx f;
    fx_init(&f, recs, 1);
    f.p.run_id = 1000000000000000000ull;
    ck_assert_int_eq(fx_run(&f, "2026/01/02"), OHP_EINVAL);
    ck_assert_ptr_nonnull(strstr(ohp_job_errmsg(f.job), "more than 18 digits"));
    ck_assert_int_eq(f.st.reserves, 0);
    f.p.run_id = 999999999999999999ull;
    ck_assert_int_eq(fx_run(&f, "2026/01/02"), OHP_OK);
    ck_assert_ptr_nonnull(strstr(f.psv, "|999999999999999999|"));
    /* A store whose counter passes the limit fails the run clearly. */
    f.p.run_id = 0;
    f.st.hand_out = 1000000000000000000ull;
    ck_assert_int_eq(fx_run(&f, "2026/01/03"), OHP_ESTORE);
    ck_assert_ptr_nonnull(strstr(ohp_job_errmsg(f.job), "used up"));
    ck_assert_int_eq(f.src.t.opened, 0);
    fx_free(&f);
}
END_TEST

/* ---- case 11: an empty FULL snapshot, the reject thresholds ---- */

START_TEST(test_empty_full_refused)
{
    ohp_record recs[] = {rec("A", 0, "1", "2026/01/01 00:00:00"),
                         rec("B", 0, "2", "2026/01/01 00:00:00")};
    recs[0].organization_code = recs[1].organization_code = "M1";
    fx f;
    fx_init(&f, recs, 2);
    f.p.organization_code = "m1";
    f.p.full_publish = 1;
    ck_assert_int_eq(fx_run(&f, "2026/01/02"), OHP_EEMPTY);
    const ohp_summary *s = ohp_job_summary(f.job);
    ck_assert_int_eq(s->status, OHP_STATUS_REFUSED);
    ck_assert_ptr_nonnull(strstr(ohp_job_errmsg(f.job), "closest organization code seen is 'M1'"));
    ck_assert_int_eq(f.sink.aborted, 1);
    ck_assert_int_eq(f.sink.committed, 0);
    ck_assert_int_eq(f.st.commits, 0);
    f.p.allow_empty = 1;
    ck_assert_int_eq(fx_run(&f, "2026/01/02"), OHP_OK);
    ck_assert_uint_eq(ohp_job_summary(f.job)->lines_written, 0);
    ck_assert_int_eq(f.st.commits, 1);
    /* An empty source: nothing says the organization has stock; allowed. */
    f.p.allow_empty = 0;
    f.src.t.count = 0;
    ck_assert_int_eq(fx_run(&f, "2026/01/03"), OHP_OK);
    /* An incremental run may be empty. */
    f.src.t.count = 2;
    f.p.full_publish = 0;
    ck_assert_int_eq(fx_run(&f, "2026/01/04"), OHP_OK);
    ck_assert_int_eq(ohp_job_summary(f.job)->mode, OHP_MODE_INCREMENTAL);
    fx_free(&f);
}
END_TEST

START_TEST(test_reject_thresholds)
{
    enum { N = 20 };
    ohp_record recs[N];
    for (int i = 0; i < N; i++)
        recs[i] = rec("A", 0, i < 15 ? "bad" : "1", "2026/01/01 00:00:00");
    fx f;
    fx_init(&f, recs, N);
    f.p.full_publish = 1;
    f.p.on_error = OHP_ON_ERROR_REJECT;
    /* 15 of 20 rejected: over the default share of 50%. */
    ck_assert_int_eq(fx_run(&f, "2026/01/02"), OHP_ELIMIT);
    ck_assert_ptr_nonnull(strstr(ohp_job_errmsg(f.job), "15 of the 20 records checked"));
    ck_assert_int_eq(f.sink.committed, 0);
    ck_assert_int_eq(f.st.commits, 0);
    f.p.max_reject_percent = 75;
    ck_assert_int_eq(fx_run(&f, "2026/01/02"), OHP_OK);
    ck_assert_int_eq(ohp_job_summary(f.job)->status, OHP_STATUS_WARNINGS);
    /* A count: the 11th rejection fails at once. */
    f.p.max_reject_percent = 100;
    f.p.max_rejects = 10;
    ck_assert_int_eq(fx_run(&f, "2026/01/03"), OHP_ELIMIT);
    ck_assert_uint_eq(ohp_job_summary(f.job)->records_rejected, 11);
    ck_assert_uint_eq(ohp_job_summary(f.job)->records_read, 11);
    /* Everything rejected never passes by default. */
    for (int i = 0; i < N; i++)
        recs[i].primary_quantity = "bad";
    f.p.max_rejects = 0;
    f.p.max_reject_percent = 0;
    ck_assert_int_eq(fx_run(&f, "2026/01/04"), OHP_ELIMIT);
    f.p.max_reject_percent = 101;
    ck_assert_int_eq(fx_run(&f, "2026/01/04"), OHP_EINVAL);
    fx_free(&f);
}
END_TEST

/* ---- case 12: a rejected record is published again ---- */

START_TEST(test_rejected_record_retried)
{
    ohp_record recs[] = {rec("A", 0, "1", "2026/01/01 00:00:00"),
                         rec("B", 0, "2", "2026/01/01 00:00:00"),
                         rec("C", 1, "1", "2026/01/01 00:00:00")};
    fx f;
    fx_init(&f, recs, 3);
    ck_assert_int_eq(fx_run(&f, "2026/01/02"), OHP_OK);
    f.p.on_error = OHP_ON_ERROR_REJECT;
    f.p.max_reject_percent = 100;
    /* On the 3rd, B changes to a bad quantity; A changes fine. */
    recs[0].last_update_date = "2026/01/03 09:00:00";
    recs[1].primary_quantity = "2,5";
    recs[1].last_update_date = "2026/01/03 08:00:00";
    ck_assert_int_eq(fx_run(&f, "2026/01/04"), OHP_OK);
    const ohp_summary *s = ohp_job_summary(f.job);
    ck_assert_uint_eq(s->records_rejected, 1);
    ck_assert_uint_ge(s->warning_count, 1);
    ck_assert_ptr_nonnull(strstr(ohp_job_warning(f.job, 0), "non-serial"));
    ck_assert_ptr_nonnull(strstr(ohp_job_warning(f.job, 0), "2026/01/03 08:00:00"));
    /* The non-serial class stops at B's change; the serial class moves on. */
    ck_assert(f.st.cls[OHP_CLASS_NONSERIAL].watermark == tu_date("2026/01/03 08:00:00"));
    ck_assert(f.st.cls[OHP_CLASS_NONSERIAL].last_snapshot == tu_date("2026/01/04"));
    ck_assert(f.st.cls[OHP_CLASS_SERIAL].watermark == tu_date("2026/01/04"));
    /* Fixed in the ERP without touching its date: the next run publishes it. */
    recs[1].primary_quantity = "2.5";
    ck_assert_int_eq(fx_run(&f, "2026/01/05"), OHP_OK);
    char got[256];
    items_of(&f, got, sizeof got);
    ck_assert_str_eq(got, "A,B");
    ck_assert(f.st.cls[OHP_CLASS_NONSERIAL].watermark == tu_date("2026/01/05"));
    /* A rejected record without a readable date keeps the class where it was. */
    recs[2].last_update_date = "not a date";
    ck_assert_int_eq(fx_run(&f, "2026/01/06"), OHP_OK);
    ck_assert(f.st.cls[OHP_CLASS_SERIAL].watermark == tu_date("2026/01/05"));
    ck_assert(f.st.cls[OHP_CLASS_SERIAL].last_snapshot == tu_date("2026/01/06"));
    fx_free(&f);
}
END_TEST

/* ---- case 15: organization codes ---- */

START_TEST(test_organization_code_length)
{
    ohp_record recs[] = {rec("A", 0, "1", "2026/01/01 00:00:00")};
    fx f;
    fx_init(&f, recs, 1);
    char longest[64] = "ABCDEFGHIJKLMNOPQR"; /* 18 */
    recs[0].organization_code = longest;
    f.p.organization_code = longest;
    ck_assert_int_eq(fx_run(&f, "2026/01/02"), OHP_OK);
    ck_assert_str_eq(ohp_job_summary(f.job)->file_name,
                     "ONHAND_0_ABCDEFGHIJKLMNOPQR_1_20260102000000.zip");
    /* 18 characters of two bytes each: fine. */
    char wide[64] = "";
    for (int i = 0; i < 18; i++)
        strcat(wide, "\xc3\xa9");
    recs[0].organization_code = f.p.organization_code = wide;
    ck_assert_int_eq(fx_run(&f, "2026/01/03"), OHP_OK);
    const char *bad[] = {"ABCDEFGHIJKLMNOPQRS", "A\nB", "A\x1b[2J"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        f.p.organization_code = bad[i];
        ck_assert_int_eq(fx_run(&f, "2026/01/04"), OHP_EINVAL);
        const char *m = ohp_job_errmsg(f.job);
        ck_assert_ptr_nonnull(strstr(m, "at most 18 characters"));
        ck_assert_ptr_null(strchr(m, '\n'));
        ck_assert_ptr_null(strchr(m, '\x1b'));
        ck_assert_int_eq(f.st.reserves, 2);
    }
    fx_free(&f);
}
END_TEST

START_TEST(test_store2_arguments)
{
    ohp_job *job;
    ck_assert_int_eq(ohp_job_new(&job, NULL), OHP_OK);
    ohp_state_store s = {OHP_STATE_STORE_VERSION, st_get, st_reserve, NULL};
    ck_assert_int_eq(ohp_job_set_state_store2(job, &s, NULL), OHP_EINVAL);
    s.commit = st_commit;
    s.version = 99;
    ck_assert_int_eq(ohp_job_set_state_store2(job, &s, NULL), OHP_EVERSION);
    s.version = OHP_STATE_STORE_VERSION;
    s.reserve_run_id = NULL;
    ck_assert_int_eq(ohp_job_set_state_store2(job, &s, NULL), OHP_OK);
    ck_assert_int_eq(ohp_job_set_state_store2(job, NULL, NULL), OHP_OK);
    ck_assert_int_eq(ohp_job_set_state_store2(NULL, &s, NULL), OHP_EINVAL);
    ohp_job_free(job);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("state_store");
    TCase *tc = tcase_create("rules");
    tcase_add_test(tc, test_class_watermarks);
    tcase_add_test(tc, test_snapshot_not_later_refused);
    tcase_add_test(tc, test_one_zero_store_snapshot_not_later_refused);
    tcase_add_test(tc, test_run_id_reserved_first);
    tcase_add_test(tc, test_run_id_digits);
    tcase_add_test(tc, test_empty_full_refused);
    tcase_add_test(tc, test_reject_thresholds);
    tcase_add_test(tc, test_rejected_record_retried);
    tcase_add_test(tc, test_organization_code_length);
    tcase_add_test(tc, test_store2_arguments);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
