/*
 * The publish job's semantics (issue 3): parameters and the publish window,
 * snapshot date and run id, watermark state, the privilege check, the two
 * bad-record policies, progress and cancel, and the run summary.
 */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

#define ORG "M1"
#define USER "ALICE"
#define SNAP "2026/11/02 06:30:00"

/* ---- fixture ---- */

typedef struct authz {
    int calls;
    int grant;
    int fail;
    char user[128];
    char privilege[128];
} authz;

static int authz_cb(void *ud, const char *user, const char *privilege, int *granted)
{
    authz *a = ud;
    a->calls++;
    snprintf(a->user, sizeof a->user, "%s", user);
    snprintf(a->privilege, sizeof a->privilege, "%s", privilege);
    if (a->fail)
        return -1;
    *granted = a->grant;
    return 0;
}

typedef struct fx {
    ohp_job *job;
    tu_source src;
    tu_sink sink;
    tu_state st;
    authz az;
    ohp_params p;
    char *psv;
    size_t psv_len;
    char entry[512];
} fx;

static void fx_init(fx *f, const ohp_record *recs, size_t n)
{
    memset(f, 0, sizeof *f);
    ck_assert_int_eq(ohp_job_new(&f->job, NULL), OHP_OK);
    f->src.records = recs;
    f->src.count = n;
    tu_use_source(f->job, &f->src);
    tu_use_sink(f->job, &f->sink);
    tu_state_init(&f->st);
    tu_use_state(f->job, &f->st);
    f->az.grant = 1;
    ck_assert_int_eq(ohp_job_set_authorizer(f->job, authz_cb, &f->az), OHP_OK);
    ck_assert_int_eq(ohp_params_init(&f->p, OHP_PARAMS_VERSION), OHP_OK);
    f->p.organization_code = ORG;
    f->p.user = USER;
    f->p.snapshot_date = tu_date(SNAP);
}

/* Run; on a committed success, extract the PSV into f->psv. */
static int fx_run(fx *f)
{
    free(f->psv);
    f->psv = NULL;
    f->psv_len = 0;
    int rc = ohp_job_run(f->job, &f->p);
    if (rc == OHP_OK && f->sink.committed) {
        ck_assert_int_eq(tu_unzip_single(f->sink.data, f->sink.len, &f->psv, &f->psv_len, f->entry,
                                         sizeof f->entry),
                         0);
    }
    return rc;
}

static void fx_free(fx *f)
{
    ohp_job_free(f->job);
    tu_sink_free(&f->sink);
    free(f->psv);
}

/* The state store and the sink show a run that changed nothing. */
static void assert_state_untouched(const tu_state *st, int64_t w, uint64_t last)
{
    ck_assert_int_eq(st->commits, 0);
    ck_assert(st->watermark == w);
    ck_assert_uint_eq(st->last_run_id, last);
}

static void assert_aborted_once(const tu_sink *s)
{
    ck_assert_int_eq(s->opened, 1);
    ck_assert_int_eq(s->closes, 1);
    ck_assert_int_eq(s->aborted, 1);
    ck_assert_int_eq(s->committed, 0);
}

/* ---- PSV helpers ---- */

/* Number of lines (LF-terminated). */
static size_t line_count(const char *psv)
{
    size_t n = 0;
    for (const char *p = psv; *p; p++)
        n += *p == '\n';
    return n;
}

/* Copy line k (0 = header) without its LF into buf; 0 on success. */
static int get_line(const char *psv, size_t k, char *buf, size_t size)
{
    const char *p = psv;
    for (size_t i = 0; i < k; i++) {
        p = strchr(p, '\n');
        if (p == NULL)
            return -1;
        p++;
    }
    const char *e = strchr(p, '\n');
    if (e == NULL)
        return -1;
    size_t n = (size_t)(e - p);
    if (n + 1 > size)
        return -1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return 0;
}

/* Field idx (0-based) of an unquoted line; "" when absent. */
static const char *field(const char *line, int idx, char *buf, size_t size)
{
    const char *p = line;
    for (int i = 0; i < idx; i++) {
        p = strchr(p, '|');
        if (p == NULL) {
            buf[0] = '\0';
            return buf;
        }
        p++;
    }
    size_t n = strcspn(p, "|");
    if (n + 1 > size)
        n = size - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

static int field_count(const char *line)
{
    int n = 1;
    for (const char *p = line; *p; p++)
        n += *p == '|';
    return n;
}

static int contains(const void *hay, size_t n, const void *needle, size_t m)
{
    const unsigned char *h = hay;
    for (size_t i = 0; m <= n && i <= n - m; i++)
        if (memcmp(h + i, needle, m) == 0)
            return 1;
    return 0;
}

enum {
    COL_SYSTEM = 0,
    COL_RUN_ID = 1,
    COL_MODE = 2,
    COL_SNAPSHOT = 3,
    COL_ITEM = 7,
    COL_SERIAL = 15,
    COL_QTY = 16,
    COL_UOM = 17,
    COL_LUD = 25
};

/* Field col of data line k (1-based). */
static const char *data_field(const fx *f, size_t k, int col)
{
    static char line[4096], out[512];
    ck_assert_msg(get_line(f->psv, k, line, sizeof line) == 0, "no line %zu", k);
    ck_assert_int_eq(field_count(line), 26);
    return field(line, col, out, sizeof out);
}

static const char HEADER[] = TU_HEADER_V1;

/* The expected line of a tu_record() record. */
static void expect_line(char *buf, size_t size, const char *sys, unsigned long long run,
                        const char *mode, const char *item, const char *qty, const char *lud)
{
    snprintf(buf, size, "%s|%llu|%s|%s||" ORG "||%s||FGI|||||N||%s|Ea|||N|||||%s\n", sys, run, mode,
             SNAP, item, qty, lud);
}

static ohp_record rec_at(const char *item, const char *qty, const char *lud)
{
    ohp_record r = tu_record(ORG, item, qty);
    r.last_update_date = lud;
    return r;
}

/* ------------------------------------------------------------------ */

START_TEST(test_params_init)
{
    ohp_params p;
    memset(&p, 0x5a, sizeof p);
    ck_assert_int_eq(ohp_params_init(&p, OHP_PARAMS_VERSION), OHP_OK);
    ck_assert_uint_eq(p.version, OHP_PARAMS_VERSION);
    ck_assert_ptr_null(p.system_code);
    ck_assert_ptr_null(p.organization_code);
    ck_assert_int_eq(p.items, OHP_ITEMS_BOTH);
    ck_assert_int_eq(p.full_publish, 0);
    ck_assert(p.publish_from == OHP_TIME_NONE);
    ck_assert(p.snapshot_date == OHP_TIME_NONE);
    ck_assert_uint_eq(p.run_id, 0);
    ck_assert_int_eq(p.compression_level, -1);
    ck_assert_int_eq(p.on_error, OHP_ON_ERROR_FAIL);
    ck_assert_ptr_null(p.user);
    ck_assert_int_eq(p.caller_authorized, 0);
    ck_assert_uint_eq(p.progress_interval, 0);
    ck_assert_uint_eq(p.max_field_length, 0);
    ck_assert_uint_eq(p.max_serials_per_record, 0);

    ohp_params m = OHP_PARAMS_INIT;
    ck_assert_int_eq(memcmp(&m.version, &p.version, sizeof p.version), 0);
    ck_assert(m.publish_from == p.publish_from && m.snapshot_date == p.snapshot_date);
    ck_assert_int_eq(m.compression_level, p.compression_level);

    ck_assert_int_eq(ohp_params_init(&p, 0), OHP_EVERSION);
    ck_assert_int_eq(ohp_params_init(&p, 99), OHP_EVERSION);
    ck_assert_int_eq(ohp_params_init(NULL, OHP_PARAMS_VERSION), OHP_EINVAL);
}
END_TEST

START_TEST(test_full_publish_leaves_out_zeros)
{
    ohp_record r[] = {
        rec_at("A", "5", "2026/11/01 08:00:00"),      rec_at("B", "0", "2026/11/01 08:00:00"),
        rec_at("C", "2.50", "2020/01/01 00:00:00"), /* long before any window */
        rec_at("D", "-0.000", "2026/11/01 08:00:00"), tu_record("OTHER", "E", "7"),
    };
    fx f;
    fx_init(&f, r, 5);
    f.p.full_publish = 1;
    f.p.publish_from = tu_date("2026/10/31");
    f.p.run_id = 7;
    f.st.watermark = tu_date("2026/10/30"); /* ignored by a full publish */
    f.st.last_run_id = 6;
    ck_assert_int_eq(fx_run(&f), OHP_OK);

    const ohp_summary *s = ohp_job_summary(f.job);
    ck_assert_int_eq(s->status, OHP_STATUS_SUCCEEDED);
    ck_assert_int_eq(s->error, OHP_OK);
    ck_assert_int_eq(s->mode, OHP_MODE_FULL);
    ck_assert(s->window_start == OHP_TIME_NONE);
    ck_assert_uint_eq(s->records_read, 5);
    ck_assert_uint_eq(s->records_published, 2);
    ck_assert_uint_eq(s->skipped_zero, 2);
    ck_assert_uint_eq(s->skipped_organization, 1);
    ck_assert_uint_eq(s->skipped_window, 0);
    ck_assert_uint_eq(s->lines_written, 2);
    ck_assert_int_eq(f.src.query.mode, OHP_MODE_FULL);
    ck_assert(f.src.query.window_start == OHP_TIME_NONE);

    char l1[512], l2[512], want[2048];
    expect_line(l1, sizeof l1, "0", 7, "FULL", "A", "5", "2026/11/01 08:00:00");
    expect_line(l2, sizeof l2, "0", 7, "FULL", "C", "2.5", "2020/01/01 00:00:00");
    snprintf(want, sizeof want, "%s%s%s", HEADER, l1, l2);
    ck_assert_str_eq(f.psv, want);
    /* The state records the full run. */
    ck_assert_int_eq(f.st.commits, 1);
    ck_assert(f.st.watermark == tu_date(SNAP));
    ck_assert_uint_eq(f.st.last_run_id, 7);
    fx_free(&f);
}
END_TEST

/* ---- the window ---- */

static ohp_record window_recs[4];

static void window_setup(fx *f, const char *w, const char *from)
{
    window_recs[0] = rec_at("R1", "3", "2026/10/01 00:00:00");
    window_recs[1] = rec_at("R2", "0", "2026/10/15 00:00:00");
    window_recs[2] = rec_at("R3", "4", "2026/10/20 12:00:00");
    window_recs[3] = rec_at("R4", "0", "2026/11/01 08:00:00");
    fx_init(f, window_recs, 4);
    f->st.watermark = w ? tu_date(w) : OHP_TIME_NONE;
    f->st.last_run_id = w ? 3 : 0;
    f->p.publish_from = from ? tu_date(from) : OHP_TIME_NONE;
}

/* The items of the data lines, joined by ','; each line's mode must be mode. */
static void assert_items(const fx *f, const char *mode, const char *items)
{
    char got[256] = "";
    size_t n = line_count(f->psv);
    ck_assert_uint_ge(n, 1);
    for (size_t k = 1; k < n; k++) {
        ck_assert_str_eq(data_field(f, k, COL_MODE), mode);
        if (k > 1)
            strcat(got, ",");
        strcat(got, data_field(f, k, COL_ITEM));
    }
    ck_assert_str_eq(got, items);
}

START_TEST(test_window_no_w_no_f_is_full)
{
    fx f;
    window_setup(&f, NULL, NULL);
    ck_assert_int_eq(fx_run(&f), OHP_OK);
    const ohp_summary *s = ohp_job_summary(f.job);
    ck_assert_int_eq(s->status, OHP_STATUS_SUCCEEDED);
    ck_assert_int_eq(s->mode, OHP_MODE_FULL);
    ck_assert(s->window_start == OHP_TIME_NONE);
    ck_assert_int_eq(f.src.query.mode, OHP_MODE_FULL);
    ck_assert(f.src.query.window_start == OHP_TIME_NONE);
    ck_assert_uint_eq(s->skipped_zero, 2);
    ck_assert_uint_eq(s->skipped_window, 0);
    ck_assert_uint_eq(s->records_published, 2);
    assert_items(&f, "FULL", "R1,R3");
    ck_assert_int_eq(f.st.commits, 1);
    ck_assert(f.st.watermark == tu_date(SNAP));
    fx_free(&f);
}
END_TEST

START_TEST(test_window_no_w_with_f)
{
    fx f;
    window_setup(&f, NULL, "2026/10/15 00:00:00");
    ck_assert_int_eq(fx_run(&f), OHP_OK);
    const ohp_summary *s = ohp_job_summary(f.job);
    ck_assert_int_eq(s->status, OHP_STATUS_SUCCEEDED);
    ck_assert_int_eq(s->mode, OHP_MODE_INCREMENTAL);
    ck_assert(s->window_start == tu_date("2026/10/15 00:00:00"));
    ck_assert_int_eq(f.src.query.mode, OHP_MODE_INCREMENTAL);
    ck_assert(f.src.query.window_start == tu_date("2026/10/15 00:00:00"));
    /* R1 is before the window; R2 is exactly at its start; zeros are removals. */
    ck_assert_uint_eq(s->skipped_window, 1);
    ck_assert_uint_eq(s->skipped_zero, 0);
    ck_assert_uint_eq(s->records_published, 3);
    assert_items(&f, "INCREMENTAL", "R2,R3,R4");
    ck_assert_str_eq(data_field(&f, 1, COL_QTY), "0");
    ck_assert_str_eq(data_field(&f, 3, COL_QTY), "0");
    ck_assert_uint_eq(s->warning_count, 0);
    fx_free(&f);
}
END_TEST

START_TEST(test_window_w_no_f)
{
    fx f;
    window_setup(&f, "2026/10/20 12:00:00", NULL);
    ck_assert_int_eq(fx_run(&f), OHP_OK);
    const ohp_summary *s = ohp_job_summary(f.job);
    ck_assert_int_eq(s->status, OHP_STATUS_SUCCEEDED);
    ck_assert_int_eq(s->mode, OHP_MODE_INCREMENTAL);
    ck_assert(s->window_start == tu_date("2026/10/20 12:00:00"));
    ck_assert(f.src.query.window_start == tu_date("2026/10/20 12:00:00"));
    ck_assert_int_eq(f.src.query.mode, OHP_MODE_INCREMENTAL);
    ck_assert_uint_eq(s->skipped_window, 2);
    ck_assert_uint_eq(s->records_published, 2);
    assert_items(&f, "INCREMENTAL", "R3,R4");
    /* W advances to this run's snapshot. */
    ck_assert_int_eq(f.st.commits, 1);
    ck_assert(f.st.watermark == tu_date(SNAP));
    fx_free(&f);
}
END_TEST

START_TEST(test_window_w_and_earlier_f)
{
    fx f;
    window_setup(&f, "2026/10/20 12:00:00", "2026/10/01 00:00:00");
    ck_assert_int_eq(fx_run(&f), OHP_OK);
    const ohp_summary *s = ohp_job_summary(f.job);
    ck_assert_int_eq(s->status, OHP_STATUS_SUCCEEDED);
    ck_assert_int_eq(s->mode, OHP_MODE_INCREMENTAL);
    ck_assert(s->window_start == tu_date("2026/10/01 00:00:00"));
    ck_assert(f.src.query.window_start == tu_date("2026/10/01 00:00:00"));
    ck_assert_uint_eq(s->skipped_window, 0);
    ck_assert_uint_eq(s->records_published, 4);
    assert_items(&f, "INCREMENTAL", "R1,R2,R3,R4");
    ck_assert_uint_eq(s->warning_count, 0);
    fx_free(&f);
}
END_TEST

START_TEST(test_window_f_later_than_w_warns)
{
    fx f;
    window_setup(&f, "2026/10/15 00:00:00", "2026/10/20 12:00:00");
    ck_assert_int_eq(fx_run(&f), OHP_OK);
    const ohp_summary *s = ohp_job_summary(f.job);
    ck_assert_int_eq(s->status, OHP_STATUS_WARNINGS);
    ck_assert_int_eq(s->error, OHP_OK);
    ck_assert_int_eq(s->mode, OHP_MODE_INCREMENTAL);
    ck_assert(s->window_start == tu_date("2026/10/15 00:00:00"));
    ck_assert(f.src.query.window_start == tu_date("2026/10/15 00:00:00"));
    ck_assert_uint_eq(s->skipped_window, 1);
    assert_items(&f, "INCREMENTAL", "R2,R3,R4");
    ck_assert_uint_eq(s->warning_count, 1);
    const char *w = ohp_job_warning(f.job, 0);
    ck_assert_ptr_nonnull(w);
    ck_assert_ptr_nonnull(strstr(w, "2026/10/20 12:00:00"));
    ck_assert_ptr_nonnull(strstr(w, "2026/10/15 00:00:00"));
    ck_assert_ptr_nonnull(strstr(w, "later"));
    ck_assert_ptr_null(ohp_job_warning(f.job, 1));
    /* A run with warnings still succeeded: W advances. */
    ck_assert_int_eq(f.st.commits, 1);
    ck_assert(f.st.watermark == tu_date(SNAP));
    fx_free(&f);
}
END_TEST

START_TEST(test_window_f_equal_to_w)
{
    fx f;
    window_setup(&f, "2026/10/20 12:00:00", "2026/10/20 12:00:00");
    ck_assert_int_eq(fx_run(&f), OHP_OK);
    const ohp_summary *s = ohp_job_summary(f.job);
    ck_assert_int_eq(s->status, OHP_STATUS_SUCCEEDED);
    ck_assert_uint_eq(s->warning_count, 0);
    ck_assert(s->window_start == tu_date("2026/10/20 12:00:00"));
    assert_items(&f, "INCREMENTAL", "R3,R4");
    fx_free(&f);
}
END_TEST

START_TEST(test_window_filters_after_organization_and_items)
{
    /* Skip reasons are counted once each, in the documented order. */
    ohp_record r[] = {
        rec_at("OLD", "1", "2026/01/01 00:00:00"),
        tu_record("OTHER", "X", "1"),
        rec_at("SER", "0", "2026/11/01 00:00:00"),
        rec_at("NEW", "1", "2026/11/01 00:00:00"),
    };
    r[2].serial_controlled = 1;
    fx f;
    fx_init(&f, r, 4);
    f.p.publish_from = tu_date("2026/10/01");
    f.p.items = OHP_ITEMS_NONSERIAL;
    ck_assert_int_eq(fx_run(&f), OHP_OK);
    const ohp_summary *s = ohp_job_summary(f.job);
    ck_assert_uint_eq(s->records_read, 4);
    ck_assert_uint_eq(s->skipped_window, 1);
    ck_assert_uint_eq(s->skipped_organization, 1);
    ck_assert_uint_eq(s->skipped_item_type, 1);
    ck_assert_uint_eq(s->records_published, 1);
    ck_assert_int_eq(s->items, OHP_ITEMS_NONSERIAL);
    ck_assert_int_eq(f.src.query.items, OHP_ITEMS_NONSERIAL);
    assert_items(&f, "INCREMENTAL", "NEW");
    fx_free(&f);
}
END_TEST

/* ---- snapshot date ---- */

START_TEST(test_incremental_serial_removal)
{
    /* A serial item gone from stock: quantity 0, no serials, one line. */
    ohp_record r[] = {rec_at("SER", "0", "2026/10/20 12:00:00")};
    r[0].serial_controlled = 1;
    fx f;
    fx_init(&f, r, 1);
    f.st.watermark = tu_date("2026/10/20");
    ck_assert_int_eq(fx_run(&f), OHP_OK);
    const ohp_summary *s = ohp_job_summary(f.job);
    ck_assert_int_eq(s->mode, OHP_MODE_INCREMENTAL);
    ck_assert_uint_eq(s->lines_written, 1);
    ck_assert_uint_eq(s->records_published, 1);
    ck_assert_str_eq(data_field(&f, 1, COL_SERIAL), "");
    ck_assert_str_eq(data_field(&f, 1, COL_QTY), "0");
    ck_assert_str_eq(data_field(&f, 1, 14), "Y");
    const char *uom, *total;
    ck_assert_int_eq(ohp_job_uom_total(f.job, 0, &uom, &total), OHP_OK);
    ck_assert_str_eq(total, "0");
    /* The same record in a full publish is left out. */
    f.p.full_publish = 1;
    ck_assert_int_eq(fx_run(&f), OHP_OK);
    ck_assert_uint_eq(ohp_job_summary(f.job)->lines_written, 0);
    ck_assert_uint_eq(ohp_job_summary(f.job)->skipped_zero, 1);
    ck_assert_str_eq(f.psv, HEADER);
    fx_free(&f);
}
END_TEST

START_TEST(test_snapshot_date_given)
{
    ohp_record r[] = {tu_record(ORG, "A", "1")};
    fx f;
    fx_init(&f, r, 1);
    f.p.run_id = 12;
    ck_assert_int_eq(fx_run(&f), OHP_OK);
    const ohp_summary *s = ohp_job_summary(f.job);
    ck_assert(s->snapshot_date == tu_date(SNAP));
    ck_assert(f.src.query.snapshot_date == tu_date(SNAP));
    ck_assert_str_eq(data_field(&f, 1, COL_SNAPSHOT), SNAP);
    ck_assert_str_eq(s->file_name, "ONHAND_0_M1_12_20261102063000.zip");
    ck_assert_str_eq(s->entry_name, "ONHAND_0_M1_12_20261102063000.psv");
    ck_assert_str_eq(f.sink.name, s->file_name);
    ck_assert_str_eq(f.entry, s->entry_name);
    ck_assert(f.st.watermark == tu_date(SNAP));
    fx_free(&f);
}
END_TEST

START_TEST(test_snapshot_date_from_clock)
{
    ohp_record r[] = {tu_record(ORG, "A", "1")};
    fx f;
    fx_init(&f, r, 1);
    f.p.snapshot_date = OHP_TIME_NONE;
    int64_t before = (int64_t)time(NULL);
    ck_assert_int_eq(fx_run(&f), OHP_OK);
    int64_t after = (int64_t)time(NULL);
    const ohp_summary *s = ohp_job_summary(f.job);
    ck_assert(s->snapshot_date >= before && s->snapshot_date <= after);
    ck_assert(f.src.query.snapshot_date == s->snapshot_date);
    char date[OHP_DATE_BUFSIZE];
    ck_assert_int_eq(ohp_date_format(s->snapshot_date, 0, date), OHP_OK);
    ck_assert_str_eq(data_field(&f, 1, COL_SNAPSHOT), date);
    /* The file name carries the same instant as YYYYMMDDHHMMSS. */
    char stamp[16];
    snprintf(stamp, sizeof stamp, "%.4s%.2s%.2s%.2s%.2s%.2s", date, date + 5, date + 8, date + 11,
             date + 14, date + 17);
    char want[128];
    snprintf(want, sizeof want, "ONHAND_0_M1_1_%s.zip", stamp);
    ck_assert_str_eq(s->file_name, want);
    ck_assert(f.st.watermark == s->snapshot_date);
    fx_free(&f);
}
END_TEST

/* ---- run id ---- */

START_TEST(test_run_id_given)
{
    ohp_record r[] = {tu_record(ORG, "A", "1")};
    fx f;
    fx_init(&f, r, 1);
    f.st.last_run_id = 5;
    f.p.run_id = 42;
    ck_assert_int_eq(fx_run(&f), OHP_OK);
    ck_assert_uint_eq(ohp_job_summary(f.job)->run_id, 42);
    ck_assert_uint_eq(f.src.query.run_id, 42);
    ck_assert_str_eq(data_field(&f, 1, COL_RUN_ID), "42");
    ck_assert_ptr_nonnull(strstr(f.sink.name, "_42_"));
    ck_assert_uint_eq(f.st.last_run_id, 42);
    fx_free(&f);
}
END_TEST

START_TEST(test_run_id_from_store)
{
    ohp_record r[] = {tu_record(ORG, "A", "1")};
    fx f;
    fx_init(&f, r, 1);
    f.p.full_publish = 1;
    /* First run ever: 1. */
    ck_assert_int_eq(fx_run(&f), OHP_OK);
    ck_assert_uint_eq(ohp_job_summary(f.job)->run_id, 1);
    ck_assert_str_eq(data_field(&f, 1, COL_RUN_ID), "1");
    ck_assert_uint_eq(f.st.last_run_id, 1);
    /* The next one: last + 1. */
    ck_assert_int_eq(fx_run(&f), OHP_OK);
    ck_assert_uint_eq(ohp_job_summary(f.job)->run_id, 2);
    ck_assert_str_eq(data_field(&f, 1, COL_RUN_ID), "2");
    ck_assert_uint_eq(f.st.last_run_id, 2);
    ck_assert_int_eq(f.st.commits, 2);
    /* After a gap. */
    f.st.last_run_id = 99;
    ck_assert_int_eq(fx_run(&f), OHP_OK);
    ck_assert_uint_eq(ohp_job_summary(f.job)->run_id, 100);
    ck_assert_str_eq(ohp_job_summary(f.job)->file_name, "ONHAND_0_M1_100_20261102063000.zip");
    ck_assert_uint_eq(f.st.last_run_id, 100);
    fx_free(&f);
}
END_TEST

START_TEST(test_run_id_without_store)
{
    ohp_record r[] = {tu_record(ORG, "A", "1")};
    fx f;
    fx_init(&f, r, 1);
    ck_assert_int_eq(ohp_job_set_state_store(f.job, NULL, NULL, NULL, NULL), OHP_OK);
    ck_assert_int_eq(fx_run(&f), OHP_OK);
    ck_assert_uint_eq(ohp_job_summary(f.job)->run_id, 1);
    ck_assert_str_eq(data_field(&f, 1, COL_RUN_ID), "1");
    ck_assert_int_eq(ohp_job_summary(f.job)->mode, OHP_MODE_FULL);
    ck_assert_int_eq(f.st.commits, 0);
    fx_free(&f);
}
END_TEST

/* ---- state ---- */

typedef struct commit_probe {
    tu_state *st;
    tu_sink *sink;
    int sink_committed_before;
    int calls;
    char system[64], org[64];
    int64_t snap;
    uint64_t run_id;
} commit_probe;

static int probe_get(void *ud, const char *sys, const char *org, int64_t *w)
{
    return tu_state_get(((commit_probe *)ud)->st, sys, org, w);
}

static int probe_next(void *ud, uint64_t *id)
{
    return tu_state_next(((commit_probe *)ud)->st, id);
}

static int probe_commit(void *ud, const char *sys, const char *org, int64_t snap, uint64_t id)
{
    commit_probe *cp = ud;
    cp->calls++;
    cp->sink_committed_before = cp->sink->committed && cp->sink->closes == 1;
    snprintf(cp->system, sizeof cp->system, "%s", sys);
    snprintf(cp->org, sizeof cp->org, "%s", org);
    cp->snap = snap;
    cp->run_id = id;
    return tu_state_commit(cp->st, sys, org, snap, id);
}

START_TEST(test_state_commit_after_sink_commit)
{
    ohp_registry *reg;
    ck_assert_int_eq(ohp_registry_new(&reg, NULL), OHP_OK);
    ohp_lookup_value v = OHP_LOOKUP_VALUE_INIT;
    v.code = "17";
    v.meaning = "3PL North";
    ck_assert_int_eq(ohp_registry_add(reg, &v), OHP_OK);

    ohp_record r[] = {tu_record(ORG, "A", "1")};
    fx f;
    fx_init(&f, r, 1);
    ck_assert_int_eq(ohp_job_set_registry(f.job, reg), OHP_OK);
    commit_probe cp = {.st = &f.st, .sink = &f.sink};
    f.st.last_run_id = 4;
    f.st.watermark = tu_date("2026/10/01");
    ck_assert_int_eq(ohp_job_set_state_store(f.job, probe_get, probe_next, probe_commit, &cp),
                     OHP_OK);
    f.p.system_code = "17";
    ck_assert_int_eq(fx_run(&f), OHP_OK);
    ck_assert_int_eq(cp.calls, 1);
    ck_assert_int_eq(cp.sink_committed_before, 1);
    ck_assert_str_eq(cp.system, "17");
    ck_assert_str_eq(cp.org, ORG);
    ck_assert(cp.snap == tu_date(SNAP));
    ck_assert_uint_eq(cp.run_id, 5);
    /* The source was told the parameters as applied. */
    ck_assert_uint_eq(f.src.query.version, OHP_SOURCE_QUERY_VERSION);
    ck_assert_str_eq(f.src.query.system_code, "17");
    ck_assert_str_eq(f.src.query.organization_code, ORG);
    ck_assert_int_eq(f.src.query.mode, OHP_MODE_INCREMENTAL);
    ck_assert(f.src.query.window_start == tu_date("2026/10/01"));
    ck_assert_uint_eq(f.src.query.run_id, 5);
    ck_assert_str_eq(data_field(&f, 1, COL_SYSTEM), "17");
    ck_assert_str_eq(ohp_job_summary(f.job)->system_code, "17");
    ck_assert_str_eq(ohp_job_summary(f.job)->file_name, "ONHAND_17_M1_5_20261102063000.zip");

    /* A failing sink commit: the store is not written, W stays. */
    int64_t w = f.st.watermark;
    f.sink.fail_commit = 1;
    f.sink.closes = 0;
    ck_assert_int_eq(fx_run(&f), OHP_ESINK);
    ck_assert_int_eq(cp.calls, 1);
    ck_assert(f.st.watermark == w);
    ck_assert_uint_eq(f.st.last_run_id, 5);
    ck_assert_int_eq(f.sink.closes, 1);
    ck_assert_int_eq(f.sink.aborted, 0);
    ck_assert_int_eq(ohp_job_summary(f.job)->status, OHP_STATUS_FAILED);
    fx_free(&f);
    ohp_registry_free(reg);
}
END_TEST

/* ---- privilege ---- */

static void assert_nothing_opened(const fx *f)
{
    ck_assert_int_eq(f->src.opened, 0);
    ck_assert_int_eq(f->src.closed, 0);
    ck_assert_int_eq(f->sink.opened, 0);
    ck_assert_int_eq(f->sink.closes, 0);
    ck_assert_int_eq(f->sink.writes, 0);
}

START_TEST(test_privilege_no_authorizer)
{
    ohp_record r[] = {tu_record(ORG, "A", "1")};
    fx f;
    fx_init(&f, r, 1);
    ck_assert_int_eq(ohp_job_set_authorizer(f.job, NULL, NULL), OHP_OK);
    f.st.watermark = tu_date("2026/10/01");
    ck_assert_int_eq(fx_run(&f), OHP_EDENIED);
    const ohp_summary *s = ohp_job_summary(f.job);
    ck_assert_int_eq(s->status, OHP_STATUS_REFUSED);
    ck_assert_int_eq(s->error, OHP_EDENIED);
    const char *m = ohp_job_errmsg(f.job);
    ck_assert_ptr_nonnull(strstr(m, USER));
    ck_assert_ptr_nonnull(strstr(m, OHP_PRIVILEGE));
    ck_assert_str_eq(OHP_PRIVILEGE, "INV_PUBLISH_ONHAND_TO_EXT_SYSTEMS_PRIV");
    assert_nothing_opened(&f);
    assert_state_untouched(&f.st, tu_date("2026/10/01"), 0);
    fx_free(&f);
}
END_TEST

START_TEST(test_privilege_denied)
{
    ohp_record r[] = {tu_record(ORG, "A", "1")};
    fx f;
    fx_init(&f, r, 1);
    f.az.grant = 0;
    f.p.user = "MALLORY";
    ck_assert_int_eq(fx_run(&f), OHP_EDENIED);
    ck_assert_int_eq(ohp_job_summary(f.job)->status, OHP_STATUS_REFUSED);
    ck_assert_int_eq(f.az.calls, 1);
    const char *m = ohp_job_errmsg(f.job);
    ck_assert_ptr_nonnull(strstr(m, "MALLORY"));
    ck_assert_ptr_nonnull(strstr(m, OHP_PRIVILEGE));
    assert_nothing_opened(&f);
    assert_state_untouched(&f.st, OHP_TIME_NONE, 0);
    fx_free(&f);
}
END_TEST

START_TEST(test_privilege_granted)
{
    ohp_record r[] = {tu_record(ORG, "A", "1")};
    fx f;
    fx_init(&f, r, 1);
    f.p.user = "BOB";
    ck_assert_int_eq(fx_run(&f), OHP_OK);
    ck_assert_int_eq(f.az.calls, 1);
    ck_assert_str_eq(f.az.user, "BOB");
    ck_assert_str_eq(f.az.privilege, OHP_PRIVILEGE);
    ck_assert_int_eq(ohp_job_summary(f.job)->status, OHP_STATUS_SUCCEEDED);
    ck_assert_int_eq(f.sink.committed, 1);
    ck_assert_uint_eq(line_count(f.psv), 2);
    fx_free(&f);
}
END_TEST

START_TEST(test_privilege_caller_authorized)
{
    ohp_record r[] = {tu_record(ORG, "A", "1")};
    fx f;
    fx_init(&f, r, 1);
    f.az.grant = 0; /* would deny */
    f.p.caller_authorized = 1;
    ck_assert_int_eq(fx_run(&f), OHP_OK);
    ck_assert_int_eq(f.az.calls, 0);
    /* Also with no authorizer at all. */
    ck_assert_int_eq(ohp_job_set_authorizer(f.job, NULL, NULL), OHP_OK);
    ck_assert_int_eq(fx_run(&f), OHP_OK);
    ck_assert_int_eq(ohp_job_summary(f.job)->status, OHP_STATUS_SUCCEEDED);
    ck_assert_int_eq(f.st.commits, 2);
    fx_free(&f);
}
END_TEST

START_TEST(test_privilege_authorizer_fails)
{
    ohp_record r[] = {tu_record(ORG, "A", "1")};
    fx f;
    fx_init(&f, r, 1);
    f.az.fail = 1;
    ck_assert_int_eq(fx_run(&f), OHP_EAUTH);
    ck_assert_int_eq(ohp_job_summary(f.job)->status, OHP_STATUS_FAILED);
    ck_assert_int_eq(ohp_job_summary(f.job)->error, OHP_EAUTH);
    ck_assert_int_eq(f.az.calls, 1);
    ck_assert_ptr_nonnull(strstr(ohp_job_errmsg(f.job), USER));
    assert_nothing_opened(&f);
    assert_state_untouched(&f.st, OHP_TIME_NONE, 0);
    fx_free(&f);
}
END_TEST

/* ---- bad records ---- */

START_TEST(test_bad_record_fail_policy)
{
    ohp_record r[] = {
        tu_record(ORG, "GOOD-1", "1"),
        tu_record(ORG, "BAD-2", "1.2.3"),
        tu_record(ORG, "GOOD-3", "1"),
    };
    r[1].lot_number = "LOT9";
    fx f;
    fx_init(&f, r, 3);
    f.st.watermark = tu_date("2026/10/01");
    f.st.last_run_id = 8;
    f.p.publish_from = tu_date("2026/01/01");
    ck_assert_int_eq(fx_run(&f), OHP_ERECORD);
    const ohp_summary *s = ohp_job_summary(f.job);
    ck_assert_int_eq(s->status, OHP_STATUS_FAILED);
    ck_assert_int_eq(s->error, OHP_ERECORD);
    ck_assert_uint_eq(s->records_read, 2);
    const char *m = ohp_job_errmsg(f.job);
    ck_assert_ptr_nonnull(strstr(m, "record 2"));
    ck_assert_ptr_nonnull(strstr(m, "BAD-2"));
    ck_assert_ptr_nonnull(strstr(m, "LOT9"));
    ck_assert_ptr_nonnull(strstr(m, "PRIMARY_QUANTITY"));
    ck_assert_ptr_nonnull(strstr(m, "1.2.3"));
    assert_aborted_once(&f.sink);
    /* incremental: the first pass found the key, the second failed on its record */
    ck_assert_int_eq(f.src.opened, 2);
    ck_assert_int_eq(f.src.closed, 2);
    ck_assert_int_eq(f.src.query.pass, OHP_PASS_KEYS);
    assert_state_untouched(&f.st, tu_date("2026/10/01"), 8);
    fx_free(&f);
}
END_TEST

typedef struct rejects {
    ohp_job *job;
    int calls;
    int fail_at; /* 1-based call that fails */
    const char *explain;
    uint64_t ordinal[8];
    int rule[8];
    char message[8][600];
    char item[8][64];
    char lot[8][64];
    unsigned int version[8];
} rejects;

static int reject_cb(void *ud, const ohp_rejection *rj)
{
    rejects *r = ud;
    int i = r->calls++;
    if (i < 8) {
        r->version[i] = rj->version;
        r->ordinal[i] = rj->ordinal;
        r->rule[i] = rj->rule;
        snprintf(r->message[i], sizeof r->message[i], "%s", rj->message);
        snprintf(r->item[i], sizeof r->item[i], "%s",
                 rj->record && rj->record->item_number ? rj->record->item_number : "(null)");
        snprintf(r->lot[i], sizeof r->lot[i], "%s",
                 rj->record && rj->record->lot_number ? rj->record->lot_number : "(null)");
    }
    if (r->fail_at && r->calls == r->fail_at) {
        if (r->explain)
            ck_assert_int_eq(ohp_job_set_callback_error(r->job, r->explain), OHP_OK);
        return -1;
    }
    return 0;
}

static ohp_record reject_recs[5];

static void reject_setup(fx *f, rejects *rj)
{
    reject_recs[0] = tu_record(ORG, "GOOD-1", "2");
    reject_recs[1] = tu_record(ORG, "BAD-QTY", "abc");
    reject_recs[1].lot_number = "L-77";
    reject_recs[2] = tu_record(ORG, "SER-OK", "2");
    reject_recs[2].serial_controlled = 1;
    reject_recs[2].serial_list = "S1,S2";
    reject_recs[3] = tu_record(ORG, "BAD-SER", "3");
    reject_recs[3].serial_controlled = 1;
    reject_recs[3].serial_list = "SN0098..SN0101";
    reject_recs[4] = tu_record(ORG, "GOOD-5", "1");
    fx_init(f, reject_recs, 5);
    memset(rj, 0, sizeof *rj);
    rj->job = f->job;
    ck_assert_int_eq(ohp_job_set_reject_callback(f->job, reject_cb, rj), OHP_OK);
    f->p.on_error = OHP_ON_ERROR_REJECT;
}

START_TEST(test_bad_record_reject_policy)
{
    fx f;
    rejects rj;
    reject_setup(&f, &rj);
    ck_assert_int_eq(fx_run(&f), OHP_OK);
    const ohp_summary *s = ohp_job_summary(f.job);
    ck_assert_int_eq(s->status, OHP_STATUS_WARNINGS);
    ck_assert_int_eq(s->error, OHP_OK);
    ck_assert_uint_eq(s->records_read, 5);
    ck_assert_uint_eq(s->records_rejected, 2);
    ck_assert_uint_eq(s->records_published, 3);
    ck_assert_uint_eq(s->lines_written, 4);
    ck_assert_uint_eq(s->serial_lines, 2);
    ck_assert_int_eq(rj.calls, 2);

    ck_assert_uint_eq(rj.version[0], OHP_REJECTION_VERSION);
    ck_assert_uint_eq(rj.ordinal[0], 2);
    ck_assert_int_eq(rj.rule[0], OHP_RULE_QUANTITY);
    ck_assert_str_eq(rj.item[0], "BAD-QTY");
    ck_assert_str_eq(rj.lot[0], "L-77");
    ck_assert_ptr_nonnull(strstr(rj.message[0], "record 2"));
    ck_assert_ptr_nonnull(strstr(rj.message[0], "BAD-QTY"));
    ck_assert_ptr_nonnull(strstr(rj.message[0], "abc"));

    ck_assert_uint_eq(rj.ordinal[1], 4);
    ck_assert_int_eq(rj.rule[1], OHP_RULE_SERIAL_COUNT);
    ck_assert_str_eq(rj.item[1], "BAD-SER");
    ck_assert_ptr_nonnull(strstr(rj.message[1], "record 4"));
    ck_assert_ptr_nonnull(strstr(rj.message[1], "serial count 4 does not match quantity 3"));

    /* No line for a rejected record. */
    assert_items(&f, "FULL", "GOOD-1,SER-OK,SER-OK,GOOD-5");
    ck_assert_ptr_null(strstr(f.psv, "BAD-"));
    ck_assert_ptr_null(strstr(f.psv, "SN0098"));
    ck_assert_int_eq(f.sink.committed, 1);
    ck_assert_int_eq(f.sink.aborted, 0);
    ck_assert_int_eq(f.st.commits, 1);
    fx_free(&f);
}
END_TEST

START_TEST(test_bad_record_reject_callback_fails)
{
    fx f;
    rejects rj;
    reject_setup(&f, &rj);
    f.st.watermark = tu_date("2026/09/09");
    f.st.last_run_id = 3;
    rj.fail_at = 2;
    ck_assert_int_eq(fx_run(&f), OHP_EREJECT);
    const ohp_summary *s = ohp_job_summary(f.job);
    ck_assert_int_eq(s->status, OHP_STATUS_FAILED);
    ck_assert_int_eq(s->error, OHP_EREJECT);
    ck_assert_int_eq(rj.calls, 2);
    ck_assert_ptr_nonnull(strstr(ohp_job_errmsg(f.job), "record 4"));
    assert_aborted_once(&f.sink);
    assert_state_untouched(&f.st, tu_date("2026/09/09"), 3);
    fx_free(&f);
}
END_TEST

/* ---- progress ---- */

typedef struct progress {
    int calls;
    uint64_t seen[32];
    int cancel_at; /* 1-based call that returns non-zero */
} progress;

static int progress_cb(void *ud, uint64_t n)
{
    progress *p = ud;
    if (p->calls < 32)
        p->seen[p->calls] = n;
    p->calls++;
    return p->cancel_at && p->calls == p->cancel_at ? 1 : 0;
}

static ohp_record progress_recs[10];

static void progress_setup(fx *f, progress *pg)
{
    static const char *items[10] = {"I0", "I1", "I2", "I3", "I4", "I5", "I6", "I7", "I8", "I9"};
    for (int i = 0; i < 10; i++)
        progress_recs[i] = tu_record(ORG, items[i], "1");
    fx_init(f, progress_recs, 10);
    memset(pg, 0, sizeof *pg);
    ck_assert_int_eq(ohp_job_set_progress_callback(f->job, progress_cb, pg), OHP_OK);
    f->p.progress_interval = 3;
}

START_TEST(test_progress_calls)
{
    fx f;
    progress pg;
    progress_setup(&f, &pg);
    ck_assert_int_eq(fx_run(&f), OHP_OK);
    ck_assert_int_eq(pg.calls, 4);
    ck_assert_uint_eq(pg.seen[0], 3);
    ck_assert_uint_eq(pg.seen[1], 6);
    ck_assert_uint_eq(pg.seen[2], 9);
    ck_assert_uint_eq(pg.seen[3], 10);

    /* Default interval: 10000, so only the final call of each pass; the
     * second run is incremental (the first set the watermark): two passes,
     * counted together. */
    memset(&pg, 0, sizeof pg);
    f.p.progress_interval = 0;
    ck_assert_int_eq(fx_run(&f), OHP_OK);
    ck_assert_int_eq(ohp_job_summary(f.job)->mode, OHP_MODE_INCREMENTAL);
    ck_assert_int_eq(pg.calls, 2);
    ck_assert_uint_eq(pg.seen[0], 10);
    ck_assert_uint_eq(pg.seen[1], 20);
    fx_free(&f);
}
END_TEST

START_TEST(test_progress_cancel)
{
    fx f;
    progress pg;
    progress_setup(&f, &pg);
    f.st.watermark = tu_date("2026/10/01");
    f.st.last_run_id = 2;
    /* Incremental: calls at 3, 6, 9 and 10 (end) of the first pass, then
     * 12, 15, 18 and 20 (end) of the second. */
    pg.cancel_at = 2;
    ck_assert_int_eq(fx_run(&f), OHP_ECANCELED);
    const ohp_summary *s = ohp_job_summary(f.job);
    ck_assert_int_eq(s->status, OHP_STATUS_FAILED);
    ck_assert_int_eq(s->error, OHP_ECANCELED);
    ck_assert_uint_eq(s->records_read, 0); /* cancelled in the first pass */
    ck_assert_ptr_nonnull(strstr(ohp_job_errmsg(f.job), "after 6 records"));
    ck_assert_int_eq(pg.calls, 2);
    ck_assert_int_eq(f.sink.opened, 0); /* nothing was opened for writing */
    assert_state_untouched(&f.st, tu_date("2026/10/01"), 2);

    memset(&pg, 0, sizeof pg);
    pg.cancel_at = 6;
    ck_assert_int_eq(fx_run(&f), OHP_ECANCELED);
    ck_assert_uint_eq(ohp_job_summary(f.job)->records_read, 5);
    ck_assert_uint_eq(pg.seen[5], 15);
    assert_aborted_once(&f.sink);

    /* Cancelling at the final call still fails the run. */
    memset(&pg, 0, sizeof pg);
    pg.cancel_at = 8;
    f.sink.opened = f.sink.closes = f.sink.aborted = 0;
    ck_assert_int_eq(fx_run(&f), OHP_ECANCELED);
    ck_assert_uint_eq(ohp_job_summary(f.job)->records_read, 10);
    ck_assert_uint_eq(pg.seen[7], 20);
    assert_aborted_once(&f.sink);
    assert_state_untouched(&f.st, tu_date("2026/10/01"), 2);
    fx_free(&f);
}
END_TEST

/* ---- summary ---- */

START_TEST(test_summary_counts_and_totals)
{
    static const ohp_serial sers[] = {{"A-7", NULL}, {"B001", "B003"}};
    ohp_record r[] = {
        tu_record(ORG, "P1", "0.1"), tu_record(ORG, "P2", "0.2"),  tu_record(ORG, "K1", "-1.5"),
        tu_record(ORG, "S1", "4"),   tu_record(ORG, "K2", "0.25"), tu_record("ZZ", "X", "100"),
        tu_record(ORG, "Z0", "0"),
    };
    r[2].primary_uom_code = "KG";
    r[4].primary_uom_code = "KG";
    r[3].primary_uom_code = "SER";
    r[3].serial_controlled = 1;
    r[3].serials = sers;
    r[3].serial_count = 2;
    fx f;
    fx_init(&f, r, 7);
    f.p.run_id = 3;
    f.p.full_publish = 1;
    ck_assert_int_eq(fx_run(&f), OHP_OK);
    const ohp_summary *s = ohp_job_summary(f.job);
    ck_assert_uint_eq(s->version, OHP_SUMMARY_VERSION);
    ck_assert_int_eq(s->status, OHP_STATUS_SUCCEEDED);
    ck_assert_int_eq(s->mode, OHP_MODE_FULL);
    ck_assert_int_eq(s->items, OHP_ITEMS_BOTH);
    ck_assert_str_eq(s->system_code, "0");
    ck_assert_str_eq(s->organization_code, ORG);
    ck_assert_uint_eq(s->run_id, 3);
    ck_assert(s->snapshot_date == tu_date(SNAP));
    ck_assert_uint_eq(s->records_read, 7);
    ck_assert_uint_eq(s->records_published, 5);
    ck_assert_uint_eq(s->skipped_organization, 1);
    ck_assert_uint_eq(s->skipped_zero, 1);
    ck_assert_uint_eq(s->skipped_item_type, 0);
    ck_assert_uint_eq(s->skipped_window, 0);
    ck_assert_uint_eq(s->records_rejected, 0);
    ck_assert_uint_eq(s->serial_lines, 4);
    ck_assert_uint_eq(s->lines_written, 8);
    ck_assert_uint_eq(line_count(f.psv), 9);
    ck_assert_uint_eq(s->warning_count, 0);
    ck_assert_str_eq(s->file_name, "ONHAND_0_M1_3_20261102063000.zip");

    /* Bytes and checksum agree with the archive. */
    ck_assert_uint_eq(s->psv_bytes, f.psv_len);
    ck_assert_uint_eq(s->psv_bytes, strlen(f.psv));
    uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), (const Bytef *)f.psv, (uInt)f.psv_len);
    ck_assert_uint_eq(s->crc32, crc);
    ck_assert_uint_eq(s->zip_bytes, f.sink.len);
    ck_assert_uint_gt(s->compressed_bytes, 0);
    ck_assert_uint_lt(s->compressed_bytes, s->zip_bytes);
    ck_assert_uint_lt(s->compressed_bytes, s->psv_bytes);
    /* Headers, descriptor and directory: more than 100 bytes, less than 1 KiB. */
    ck_assert_uint_gt(s->zip_bytes - s->compressed_bytes, 100);
    ck_assert_uint_lt(s->zip_bytes - s->compressed_bytes, 1024);

    /* Serial lines: quantity 1, the serials in order. */
    ck_assert_str_eq(data_field(&f, 4, COL_SERIAL), "A-7");
    ck_assert_str_eq(data_field(&f, 5, COL_SERIAL), "B001");
    ck_assert_str_eq(data_field(&f, 7, COL_SERIAL), "B003");
    ck_assert_str_eq(data_field(&f, 7, COL_QTY), "1");
    ck_assert_str_eq(data_field(&f, 7, COL_UOM), "SER");

    /* Control totals per UOM in first-seen order, exact. */
    ck_assert_uint_eq(s->uom_total_count, 3);
    const char *uom, *total;
    ck_assert_int_eq(ohp_job_uom_total(f.job, 0, &uom, &total), OHP_OK);
    ck_assert_str_eq(uom, "Ea");
    ck_assert_str_eq(total, "0.3");
    ck_assert_int_eq(ohp_job_uom_total(f.job, 1, &uom, &total), OHP_OK);
    ck_assert_str_eq(uom, "KG");
    ck_assert_str_eq(total, "-1.25");
    ck_assert_int_eq(ohp_job_uom_total(f.job, 2, &uom, &total), OHP_OK);
    ck_assert_str_eq(uom, "SER");
    ck_assert_str_eq(total, "4");
    ck_assert_int_eq(ohp_job_uom_total(f.job, 3, &uom, &total), OHP_EINVAL);
    fx_free(&f);
}
END_TEST

START_TEST(test_summary_totals_large_and_cancelling)
{
    ohp_record r[] = {
        tu_record(ORG, "A", "99999999999999999999.999999999999999999"),
        tu_record(ORG, "B", "0.000000000000000001"),
        tu_record(ORG, "C", "-5"),
        tu_record(ORG, "D", "5"),
    };
    r[2].primary_uom_code = "LB";
    r[3].primary_uom_code = "LB";
    fx f;
    fx_init(&f, r, 4);
    ck_assert_int_eq(fx_run(&f), OHP_OK);
    const char *uom, *total;
    ck_assert_uint_eq(ohp_job_summary(f.job)->uom_total_count, 2);
    ck_assert_int_eq(ohp_job_uom_total(f.job, 0, &uom, &total), OHP_OK);
    ck_assert_str_eq(uom, "Ea");
    ck_assert_str_eq(total, "100000000000000000000");
    ck_assert_int_eq(ohp_job_uom_total(f.job, 1, &uom, &total), OHP_OK);
    ck_assert_str_eq(uom, "LB");
    ck_assert_str_eq(total, "0");
    fx_free(&f);
}
END_TEST

START_TEST(test_summary_level_zero_stores)
{
    ohp_record r[] = {tu_record(ORG, "A", "1"), tu_record(ORG, "B", "2")};
    fx f;
    fx_init(&f, r, 2);
    f.p.compression_level = 0;
    ck_assert_int_eq(fx_run(&f), OHP_OK);
    const ohp_summary *s = ohp_job_summary(f.job);
    ck_assert_uint_eq(s->compressed_bytes, s->psv_bytes);
    ck_assert_uint_eq(s->psv_bytes, f.psv_len);
    ck_assert_uint_eq(s->zip_bytes, f.sink.len);
    /* Stored: the PSV text appears verbatim in the archive. */
    ck_assert(contains(f.sink.data, f.sink.len, f.psv, f.psv_len));
    fx_free(&f);
}
END_TEST

START_TEST(test_summary_after_failure)
{
    ohp_record r[] = {tu_record(ORG, "A", "1"), tu_record(ORG, "B", "2"), tu_record(ORG, "C", "3")};
    fx f;
    fx_init(&f, r, 3);
    f.src.fail_at = 3;
    f.p.run_id = 9;
    f.p.items = OHP_ITEMS_NONSERIAL;
    ck_assert_int_eq(fx_run(&f), OHP_ESOURCE);
    const ohp_summary *s = ohp_job_summary(f.job);
    ck_assert_int_eq(s->status, OHP_STATUS_FAILED);
    ck_assert_int_eq(s->error, OHP_ESOURCE);
    ck_assert_int_eq(s->mode, OHP_MODE_FULL);
    ck_assert_int_eq(s->items, OHP_ITEMS_NONSERIAL);
    ck_assert_uint_eq(s->run_id, 9);
    ck_assert(s->snapshot_date == tu_date(SNAP));
    ck_assert_str_eq(s->system_code, "0");
    ck_assert_str_eq(s->organization_code, ORG);
    ck_assert_str_eq(s->file_name, "ONHAND_0_M1_9_20261102063000.zip");
    ck_assert_uint_eq(s->records_read, 2);
    ck_assert_uint_eq(s->records_published, 2);
    ck_assert_ptr_nonnull(strstr(ohp_job_errmsg(f.job), "2 records"));
    assert_aborted_once(&f.sink);
    /* The control totals of what was processed before the failure. */
    ck_assert_uint_eq(s->uom_total_count, 1);
    const char *uom = NULL, *total = NULL;
    ck_assert_int_eq(ohp_job_uom_total(f.job, 0, &uom, &total), OHP_OK);
    ck_assert_str_eq(uom, "Ea");
    ck_assert_str_eq(total, "3");

    /* After a refusal, too: the parameters that were checked. */
    f.p.organization_code = NULL;
    ck_assert_int_eq(fx_run(&f), OHP_EINVAL);
    s = ohp_job_summary(f.job);
    ck_assert_int_eq(s->status, OHP_STATUS_REFUSED);
    ck_assert_int_eq(s->error, OHP_EINVAL);
    ck_assert_uint_eq(s->records_read, 0);
    ck_assert_uint_eq(s->uom_total_count, 0);
    ck_assert_str_eq(s->file_name, "");
    fx_free(&f);
}
END_TEST

START_TEST(test_summary_before_any_run)
{
    ohp_job *job;
    ck_assert_int_eq(ohp_job_new(&job, NULL), OHP_OK);
    const ohp_summary *s = ohp_job_summary(job);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(s->status, OHP_STATUS_NOT_RUN);
    ck_assert_str_eq(s->file_name, "");
    ck_assert_str_eq(ohp_job_errmsg(job), "");
    ck_assert_ptr_null(ohp_job_warning(job, 0));
    ck_assert_ptr_nonnull(ohp_job_summary(NULL));
    ck_assert_int_eq(ohp_job_summary(NULL)->status, OHP_STATUS_NOT_RUN);
    ohp_job_free(job);
}
END_TEST

/* ---- callbacks and the job ---- */

typedef struct ctx_source {
    tu_source base;
    ohp_job *job;
    const char *explain;
    int reenter_rc;
    int config_rc;
    int reentered;
} ctx_source;

static int ctx_next(void *ud, ohp_record *rec)
{
    ctx_source *c = ud;
    if (c->base.fail_at && (long)c->base.next + 1 == c->base.fail_at) {
        if (c->explain)
            ck_assert_int_eq(ohp_job_set_callback_error(c->job, c->explain), OHP_OK);
        return -1;
    }
    return tu_source_next(&c->base, rec);
}

static int ctx_open(void *ud, const ohp_source_query *q)
{
    return tu_source_open(&((ctx_source *)ud)->base, q);
}

static void ctx_close(void *ud)
{
    tu_source_close(&((ctx_source *)ud)->base);
}

START_TEST(test_callback_error_text)
{
    ohp_record r[] = {tu_record(ORG, "A", "1"), tu_record(ORG, "B", "1")};
    fx f;
    fx_init(&f, r, 2);
    ctx_source cs;
    memset(&cs, 0, sizeof cs);
    cs.base.records = r;
    cs.base.count = 2;
    cs.base.fail_at = 2;
    cs.job = f.job;
    cs.explain = "ORA-03113: end-of-file on communication channel";
    ck_assert_int_eq(ohp_job_set_source(f.job, ctx_open, ctx_next, ctx_close, &cs), OHP_OK);
    ck_assert_int_eq(fx_run(&f), OHP_ESOURCE);
    ck_assert_ptr_nonnull(
        strstr(ohp_job_errmsg(f.job), "ORA-03113: end-of-file on communication channel"));
    assert_aborted_once(&f.sink);

    /* Outside a run there is no failure to explain. */
    ck_assert_int_eq(ohp_job_set_callback_error(f.job, "x"), OHP_ESTATE);
    ck_assert_int_eq(ohp_job_set_callback_error(f.job, NULL), OHP_EINVAL);
    ck_assert_int_eq(ohp_job_set_callback_error(NULL, "x"), OHP_EINVAL);

    /* An explanation does not outlive its run. */
    cs.base.fail_at = 0;
    ck_assert_int_eq(fx_run(&f), OHP_OK);
    f.sink.fail_commit = 1;
    ck_assert_int_eq(fx_run(&f), OHP_ESINK);
    ck_assert_ptr_null(strstr(ohp_job_errmsg(f.job), "ORA-03113"));
    fx_free(&f);
}
END_TEST

/* Every callback can explain its failure; the text reaches the run's message. */
enum stage {
    ST_AUTH,
    ST_GET,
    ST_NEXT_ID,
    ST_COMMIT,
    ST_SRC_OPEN,
    ST_SRC_NEXT,
    ST_SINK_OPEN,
    ST_SINK_WRITE,
    ST_SINK_CLOSE,
    ST_REJECT,
    ST_PROGRESS,
    ST_COUNT
};

static ohp_job *x_job;
static int x_stage;

static int explain(int stage)
{
    if (x_stage != stage)
        return 0;
    char text[64];
    snprintf(text, sizeof text, "because-of-stage-%d", stage);
    ck_assert_int_eq(ohp_job_set_callback_error(x_job, text), OHP_OK);
    return 1;
}

static int x_auth(void *ud, const char *u, const char *p, int *g)
{
    return explain(ST_AUTH) ? -1 : authz_cb(ud, u, p, g);
}
static int x_get(void *ud, const char *sys, const char *org, int64_t *w)
{
    return explain(ST_GET) ? -1 : tu_state_get(ud, sys, org, w);
}
static int x_next_id(void *ud, uint64_t *id)
{
    return explain(ST_NEXT_ID) ? -1 : tu_state_next(ud, id);
}
static int x_commit(void *ud, const char *sys, const char *org, int64_t snap, uint64_t id)
{
    return explain(ST_COMMIT) ? -1 : tu_state_commit(ud, sys, org, snap, id);
}
static int x_src_open(void *ud, const ohp_source_query *q)
{
    return explain(ST_SRC_OPEN) ? -1 : tu_source_open(ud, q);
}
static int x_src_next(void *ud, ohp_record *r)
{
    tu_source *src = ud;
    return src->next == 1 && explain(ST_SRC_NEXT) ? -1 : tu_source_next(ud, r);
}
static int x_sink_open(void *ud, const char *name)
{
    return explain(ST_SINK_OPEN) ? -1 : tu_sink_open(ud, name);
}
static int x_sink_write(void *ud, const void *buf, size_t len)
{
    return explain(ST_SINK_WRITE) ? -1 : tu_sink_write(ud, buf, len);
}
static int x_sink_close(void *ud, int commit)
{
    if (commit && explain(ST_SINK_CLOSE)) {
        ((tu_sink *)ud)->closes++;
        return -1;
    }
    return tu_sink_close(ud, commit);
}
static int x_reject(void *ud, const ohp_rejection *rj)
{
    (void)ud;
    (void)rj;
    return explain(ST_REJECT) ? -1 : 0;
}
static int x_progress(void *ud, uint64_t n)
{
    (void)ud;
    (void)n;
    return explain(ST_PROGRESS) ? -1 : 0;
}

START_TEST(test_callback_error_every_callback)
{
    static const int want[ST_COUNT] = {OHP_EAUTH,   OHP_ESTORE,  OHP_ESTORE,   OHP_ESTORE,
                                       OHP_ESOURCE, OHP_ESOURCE, OHP_ESINK,    OHP_ESINK,
                                       OHP_ESINK,   OHP_EREJECT, OHP_ECANCELED};
    for (int stage = 0; stage < ST_COUNT; stage++) {
        ohp_record r[] = {tu_record(ORG, "A", "1"), tu_record(ORG, "BAD", "x"),
                          tu_record(ORG, "C", "2")};
        fx f;
        fx_init(&f, r, 3);
        x_job = f.job;
        x_stage = stage;
        f.st.watermark = tu_date("2026/10/01");
        f.st.last_run_id = 5;
        f.p.on_error = OHP_ON_ERROR_REJECT;
        ohp_job_set_authorizer(f.job, x_auth, &f.az);
        ohp_job_set_state_store(f.job, x_get, x_next_id, x_commit, &f.st);
        ohp_job_set_source(f.job, x_src_open, x_src_next, tu_source_close, &f.src);
        ohp_job_set_sink(f.job, x_sink_open, x_sink_write, x_sink_close, &f.sink);
        ohp_job_set_reject_callback(f.job, x_reject, NULL);
        ohp_job_set_progress_callback(f.job, x_progress, NULL);
        int rc = ohp_job_run(f.job, &f.p);
        char text[64];
        snprintf(text, sizeof text, "because-of-stage-%d", stage);
        ck_assert_msg(rc == want[stage], "stage %d: %d", stage, rc);
        ck_assert_msg(strstr(ohp_job_errmsg(f.job), text) != NULL, "stage %d: message '%s'", stage,
                      ohp_job_errmsg(f.job));
        ck_assert_int_eq(ohp_job_summary(f.job)->status, OHP_STATUS_FAILED);
        assert_state_untouched(&f.st, tu_date("2026/10/01"), 5);
        if (f.sink.opened && stage != ST_SINK_OPEN) {
            ck_assert_int_eq(f.sink.closes, 1);
            ck_assert_int_eq(f.sink.aborted, stage == ST_SINK_CLOSE || stage == ST_COMMIT ? 0 : 1);
        } else {
            ck_assert_int_eq(f.sink.closes, 0);
        }
        fx_free(&f);
    }
    x_job = NULL;
}
END_TEST

typedef struct reenter_sink {
    tu_sink base;
    ohp_job *job;
    const ohp_params *p;
    int run_rc, set_rc;
    int tried;
} reenter_sink;

static int reenter_write(void *ud, const void *buf, size_t len)
{
    reenter_sink *rs = ud;
    if (!rs->tried) {
        rs->tried = 1;
        rs->run_rc = ohp_job_run(rs->job, rs->p);
        rs->set_rc = ohp_job_set_progress_callback(rs->job, NULL, NULL);
    }
    return tu_sink_write(&rs->base, buf, len);
}

static int reenter_open(void *ud, const char *name)
{
    return tu_sink_open(&((reenter_sink *)ud)->base, name);
}

static int reenter_close(void *ud, int commit)
{
    return tu_sink_close(&((reenter_sink *)ud)->base, commit);
}

START_TEST(test_run_from_callback_is_estate)
{
    ohp_record r[] = {tu_record(ORG, "A", "1")};
    fx f;
    fx_init(&f, r, 1);
    reenter_sink rs;
    memset(&rs, 0, sizeof rs);
    rs.job = f.job;
    rs.p = &f.p;
    ck_assert_int_eq(ohp_job_set_sink(f.job, reenter_open, reenter_write, reenter_close, &rs),
                     OHP_OK);
    int rc = ohp_job_run(f.job, &f.p);
    ck_assert_int_eq(rs.tried, 1);
    ck_assert_int_eq(rs.run_rc, OHP_ESTATE);
    ck_assert_int_eq(rs.set_rc, OHP_ESTATE);
    /* The outer run is unaffected. */
    ck_assert_int_eq(rc, OHP_OK);
    ck_assert_int_eq(rs.base.committed, 1);
    char *psv = NULL;
    size_t n = 0;
    ck_assert_int_eq(tu_unzip_single(rs.base.data, rs.base.len, &psv, &n, NULL, 0), 0);
    ck_assert_uint_eq(n, ohp_job_summary(f.job)->psv_bytes);
    free(psv);
    tu_sink_free(&rs.base);
    fx_free(&f);
}
END_TEST

START_TEST(test_params_version)
{
    ohp_record r[] = {tu_record(ORG, "A", "1")};
    fx f;
    fx_init(&f, r, 1);
    f.p.version = 0;
    ck_assert_int_eq(fx_run(&f), OHP_EVERSION);
    ck_assert_int_eq(ohp_job_summary(f.job)->status, OHP_STATUS_REFUSED);
    ck_assert_int_eq(ohp_job_summary(f.job)->error, OHP_EVERSION);
    ck_assert_str_ne(ohp_job_errmsg(f.job), "");
    f.p.version = 99;
    ck_assert_int_eq(fx_run(&f), OHP_EVERSION);
    ck_assert_int_eq(ohp_job_summary(f.job)->status, OHP_STATUS_REFUSED);
    ck_assert_ptr_nonnull(strstr(ohp_job_errmsg(f.job), "99"));
    ck_assert_int_eq(ohp_job_run(f.job, NULL), OHP_EINVAL);
    ck_assert_int_eq(ohp_job_run(NULL, &f.p), OHP_EINVAL);
    assert_nothing_opened(&f);
    ck_assert_int_eq(f.az.calls, 0);
    assert_state_untouched(&f.st, OHP_TIME_NONE, 0);
    fx_free(&f);
}
END_TEST

START_TEST(test_params_required)
{
    ohp_record r[] = {tu_record(ORG, "A", "1")};
    fx f;
    fx_init(&f, r, 1);
    f.p.organization_code = NULL;
    ck_assert_int_eq(fx_run(&f), OHP_EINVAL);
    ck_assert_int_eq(ohp_job_summary(f.job)->status, OHP_STATUS_REFUSED);
    ck_assert_ptr_nonnull(strstr(ohp_job_errmsg(f.job), "Organization"));
    f.p.organization_code = "";
    ck_assert_int_eq(fx_run(&f), OHP_EINVAL);

    f.p.organization_code = ORG;
    f.p.user = NULL;
    ck_assert_int_eq(fx_run(&f), OHP_EINVAL);
    ck_assert_int_eq(ohp_job_summary(f.job)->status, OHP_STATUS_REFUSED);
    ck_assert_ptr_nonnull(strstr(ohp_job_errmsg(f.job), "user"));
    f.p.user = "";
    ck_assert_int_eq(fx_run(&f), OHP_EINVAL);

    /* Other bad parameters are refusals too. */
    f.p.user = USER;
    f.p.items = 7;
    ck_assert_int_eq(fx_run(&f), OHP_EINVAL);
    f.p.items = OHP_ITEMS_BOTH;
    f.p.compression_level = 10;
    ck_assert_int_eq(fx_run(&f), OHP_EINVAL);
    f.p.compression_level = -1;
    f.p.on_error = 5;
    ck_assert_int_eq(fx_run(&f), OHP_EINVAL);
    f.p.on_error = OHP_ON_ERROR_FAIL;
    f.p.system_code = "5"; /* unknown system */
    ck_assert_int_eq(fx_run(&f), OHP_ENOTFOUND);
    ck_assert_int_eq(ohp_job_summary(f.job)->status, OHP_STATUS_REFUSED);

    assert_nothing_opened(&f);
    ck_assert_int_eq(f.az.calls, 0);
    assert_state_untouched(&f.st, OHP_TIME_NONE, 0);

    /* And with everything right, it runs. */
    f.p.system_code = NULL;
    ck_assert_int_eq(fx_run(&f), OHP_OK);
    fx_free(&f);
}
END_TEST

START_TEST(test_inactive_system_refused)
{
    ohp_registry *reg;
    ck_assert_int_eq(ohp_registry_new(&reg, NULL), OHP_OK);
    ohp_lookup_value v = OHP_LOOKUP_VALUE_INIT;
    v.code = "2";
    v.meaning = "Old 3PL";
    v.enabled = 0;
    ck_assert_int_eq(ohp_registry_add(reg, &v), OHP_OK);
    ohp_record r[] = {tu_record(ORG, "A", "1")};
    fx f;
    fx_init(&f, r, 1);
    ohp_job_set_registry(f.job, reg);
    f.p.system_code = "2";
    ck_assert_int_eq(fx_run(&f), OHP_EINACTIVE);
    ck_assert_int_eq(ohp_job_summary(f.job)->status, OHP_STATUS_REFUSED);
    assert_nothing_opened(&f);
    ck_assert_int_eq(f.az.calls, 0);
    assert_state_untouched(&f.st, OHP_TIME_NONE, 0);
    fx_free(&f);
    ohp_registry_free(reg);
}
END_TEST

static Suite *job_suite(void)
{
    Suite *s = suite_create("job");
    TCase *tc = tcase_create("params");
    tcase_add_test(tc, test_params_init);
    tcase_add_test(tc, test_params_version);
    tcase_add_test(tc, test_params_required);
    tcase_add_test(tc, test_inactive_system_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("window");
    tcase_add_test(tc, test_full_publish_leaves_out_zeros);
    tcase_add_test(tc, test_window_no_w_no_f_is_full);
    tcase_add_test(tc, test_window_no_w_with_f);
    tcase_add_test(tc, test_window_w_no_f);
    tcase_add_test(tc, test_window_w_and_earlier_f);
    tcase_add_test(tc, test_window_f_later_than_w_warns);
    tcase_add_test(tc, test_window_f_equal_to_w);
    tcase_add_test(tc, test_window_filters_after_organization_and_items);
    tcase_add_test(tc, test_incremental_serial_removal);
    suite_add_tcase(s, tc);

    tc = tcase_create("snapshot_runid_state");
    tcase_add_test(tc, test_snapshot_date_given);
    tcase_add_test(tc, test_snapshot_date_from_clock);
    tcase_add_test(tc, test_run_id_given);
    tcase_add_test(tc, test_run_id_from_store);
    tcase_add_test(tc, test_run_id_without_store);
    tcase_add_test(tc, test_state_commit_after_sink_commit);
    suite_add_tcase(s, tc);

    tc = tcase_create("privilege");
    tcase_add_test(tc, test_privilege_no_authorizer);
    tcase_add_test(tc, test_privilege_denied);
    tcase_add_test(tc, test_privilege_granted);
    tcase_add_test(tc, test_privilege_caller_authorized);
    tcase_add_test(tc, test_privilege_authorizer_fails);
    suite_add_tcase(s, tc);

    tc = tcase_create("bad_records");
    tcase_add_test(tc, test_bad_record_fail_policy);
    tcase_add_test(tc, test_bad_record_reject_policy);
    tcase_add_test(tc, test_bad_record_reject_callback_fails);
    suite_add_tcase(s, tc);

    tc = tcase_create("progress");
    tcase_add_test(tc, test_progress_calls);
    tcase_add_test(tc, test_progress_cancel);
    suite_add_tcase(s, tc);

    tc = tcase_create("summary");
    tcase_add_test(tc, test_summary_counts_and_totals);
    tcase_add_test(tc, test_summary_totals_large_and_cancelling);
    tcase_add_test(tc, test_summary_level_zero_stores);
    tcase_add_test(tc, test_summary_after_failure);
    tcase_add_test(tc, test_summary_before_any_run);
    suite_add_tcase(s, tc);

    tc = tcase_create("callbacks");
    tcase_add_test(tc, test_callback_error_text);
    tcase_add_test(tc, test_callback_error_every_callback);
    tcase_add_test(tc, test_run_from_callback_is_estate);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(job_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
