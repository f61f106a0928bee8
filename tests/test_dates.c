/* Dates: every accepted format, every rejection, formatting. */
#define _DEFAULT_SOURCE 1
#include <check.h>
#include <onhandpub.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

static void expect_date(const char *text, int64_t want)
{
    int64_t t = 12345;
    int rc = ohp_date_parse(text, &t);
    ck_assert_msg(rc == OHP_OK, "'%s' refused (%d)", text, rc);
    ck_assert_msg(t == want, "'%s' parsed to %lld, want %lld", text, (long long)t, (long long)want);
}

static void expect_refused(const char *text)
{
    int64_t t = 0;
    int rc = ohp_date_parse(text, &t);
    ck_assert_msg(rc == OHP_EPARSE, "'%s' gave %d, want OHP_EPARSE", text, rc);
}

START_TEST(slash_date)
{
    expect_date("2026/11/01", 1793491200);
    expect_date("1970/01/01", 0);
}
END_TEST

START_TEST(slash_datetime)
{
    expect_date("2026/11/01 08:30:15", 1793521815);
    expect_date("2026/11/01 00:00:00", 1793491200);
    expect_date("2026/11/01 23:59:59", 1793491200 + 86399);
    expect_date("1969/12/31 23:59:59", -1);
}
END_TEST

START_TEST(iso_date)
{
    expect_date("2026-11-01", 1793491200);
}
END_TEST

START_TEST(dash_space_datetime)
{
    /* SQLite's datetime() and Python's str(datetime): UTC, like its '/' twin */
    expect_date("2026-11-01 08:30:15", 1793521815);
    expect_date("2026-01-15 18:00:00", 1768500000);
    expect_date("1969-12-31 23:59:59", -1);
    expect_refused("2026-11-01 08:30:15Z");
    expect_refused("2026-11-01 08:30:15+01:00");
    expect_refused("2026-11-01 08:30");
    expect_refused("2026-11-01 24:00:00");
    expect_refused("2026-02-30 08:00:00");
    expect_refused("2026-11-01  08:30:15");
}
END_TEST

/* OHP_DATE_FORMATS names every form the parser takes, and only those. */
START_TEST(formats_named)
{
    static const struct {
        const char *form, *example;
    } forms[] = {
        {"YYYY/MM/DD HH:MM:SS", "2026/11/01 08:30:15"},
        {"YYYY-MM-DD HH:MM:SS", "2026-11-01 08:30:15"},
        {"YYYY-MM-DDTHH:MM:SSZ", "2026-11-01T08:30:15Z"},
        {"YYYY-MM-DDTHH:MM:SS+HH:MM", "2026-11-01T08:30:15+01:00"},
        {"YYYY/MM/DD", "2026/11/01"},
        {"YYYY-MM-DD", "2026-11-01"},
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        ck_assert_msg(strstr(OHP_DATE_FORMATS, forms[i].form) != NULL, "%s not named",
                      forms[i].form);
        int64_t t;
        ck_assert_int_eq(ohp_date_parse(forms[i].example, &t), OHP_OK);
    }
    ck_assert_ptr_nonnull(strstr(OHP_DATE_FORMATS, "UTC"));
}
END_TEST

START_TEST(iso_datetime_z)
{
    expect_date("2026-11-01T08:30:15Z", 1793521815);
}
END_TEST

START_TEST(iso_offsets)
{
    /* 08:30:15 at +05:30 is 03:00:15 UTC. */
    expect_date("2026-11-01T08:30:15+05:30", 1793502015);
    expect_date("2026-11-01T08:30:15+00:00", 1793521815);
    expect_date("2026-11-01T08:30:15-00:00", 1793521815);
    /* 20:00 at -08:00 is 04:00 UTC the next day. */
    expect_date("2026-11-01T20:00:00-08:00", 1793592000);
    /* 01:00 on New Year's Day at +02:00 is 23:00 UTC on 2026-12-31. */
    expect_date("2027-01-01T01:00:00+02:00", 1798758000);
    /* 22:30 on New Year's Eve at -03:00 is 01:30 UTC on 2027-01-01. */
    expect_date("2026-12-31T22:30:00-03:00", 1798767000);
    /* Crossing into March in a leap year. */
    expect_date("2024-03-01T00:30:00+01:00", 1709164800 + 86400 - 1800);
}
END_TEST

START_TEST(leap_years)
{
    expect_date("2024/02/29", 1709164800);
    expect_date("2000/02/29", 951782400);
    expect_refused("2025/02/29");
    expect_refused("1900/02/29");
    expect_refused("2026/02/30");
    expect_refused("2026/04/31");
    expect_refused("2026-02-30");
}
END_TEST

START_TEST(year_limits)
{
    expect_date("0001/01/01", -62135596800LL);
    expect_date("9999/12/31 23:59:59", 253402300799LL);
    expect_refused("0000/01/01");
    expect_refused("0000-06-15");
    /* Converted to UTC it falls before year 1 or after year 9999. */
    expect_refused("0001-01-01T00:30:00+01:00");
    expect_refused("9999-12-31T23:30:00-01:00");
}
END_TEST

START_TEST(impossible_times)
{
    expect_refused("2026/11/01 24:00:00");
    expect_refused("2026/11/01 23:60:00");
    expect_refused("2026/11/01 23:59:60");
    expect_refused("2026-11-01T24:00:00Z");
    expect_refused("2026-11-01T12:60:00Z");
    expect_refused("2026/13/01");
    expect_refused("2026/00/10");
    expect_refused("2026/11/00");
    expect_refused("2026/11/32");
}
END_TEST

START_TEST(malformed)
{
    expect_refused("");
    expect_refused("2026/11/01x");
    expect_refused("2026/11/01 ");
    expect_refused(" 2026/11/01");
    expect_refused("2026/11/01 08:00:00 ");
    expect_refused("2026/11/01 08:00:00Z");
    expect_refused("2026/11/01 08:00");
    expect_refused("2026/11/1");
    expect_refused("26/11/01");
    expect_refused("2026/11-01");
    expect_refused("2026.11.01");
    expect_refused("2026/11/01T08:00:00");
    expect_refused("2026-11-01T08:00:00Zjunk");
    expect_refused("2026-11-01T08:00:00+0530");
    expect_refused("2026-11-01T08:00:00+05");
    expect_refused("2026-11-01T08:00:00+05:3x");
    expect_refused("2026-11-01T08:00:00+24:00");
    expect_refused("2026-11-01T08:00:00-05:60");
    expect_refused("2026-11-01T08:00:00 +05:30");
    expect_refused("2026-1a-01");
}
END_TEST

START_TEST(iso_needs_zone)
{
    expect_refused("2026-11-01T08:00:00");
    expect_refused("2026-11-01T08:00:00z");
}
END_TEST

START_TEST(null_arguments)
{
    int64_t t;
    ck_assert_int_eq(ohp_date_parse(NULL, &t), OHP_EINVAL);
    ck_assert_int_eq(ohp_date_parse("2026/11/01", NULL), OHP_EINVAL);
}
END_TEST

START_TEST(format_modes)
{
    char buf[OHP_DATE_BUFSIZE];
    ck_assert_int_eq(ohp_date_format(1793521815, 0, buf), OHP_OK);
    ck_assert_str_eq(buf, "2026/11/01 08:30:15");
    ck_assert_int_eq(ohp_date_format(1793521815, 1, buf), OHP_OK);
    ck_assert_str_eq(buf, "2026/11/01");
    ck_assert_int_eq(ohp_date_format(0, 0, buf), OHP_OK);
    ck_assert_str_eq(buf, "1970/01/01 00:00:00");
    ck_assert_int_eq(ohp_date_format(-1, 0, buf), OHP_OK);
    ck_assert_str_eq(buf, "1969/12/31 23:59:59");
    ck_assert_int_eq(ohp_date_format(-1, 1, buf), OHP_OK);
    ck_assert_str_eq(buf, "1969/12/31");
    ck_assert_int_eq(ohp_date_format(-62135596800LL, 0, buf), OHP_OK);
    ck_assert_str_eq(buf, "0001/01/01 00:00:00");
    ck_assert_int_eq(ohp_date_format(253402300799LL, 0, buf), OHP_OK);
    ck_assert_str_eq(buf, "9999/12/31 23:59:59");
    ck_assert_int_eq(ohp_date_format(1709164800, 1, buf), OHP_OK);
    ck_assert_str_eq(buf, "2024/02/29");
}
END_TEST

START_TEST(format_refusals)
{
    char buf[OHP_DATE_BUFSIZE];
    ck_assert_int_eq(ohp_date_format(0, 0, NULL), OHP_EINVAL);
    ck_assert_int_eq(ohp_date_format(-62135596801LL, 0, buf), OHP_EINVAL);
    ck_assert_int_eq(ohp_date_format(253402300800LL, 1, buf), OHP_EINVAL);
    ck_assert_int_eq(ohp_date_format(OHP_TIME_NONE, 0, buf), OHP_EINVAL);
    ck_assert_int_eq(ohp_date_format(INT64_MAX, 0, buf), OHP_EINVAL);
}
END_TEST

/* Format and parse agree with the C library's UTC calendar over centuries. */
START_TEST(round_trip_against_gmtime)
{
    const int64_t step = 86400 * 7 + 3601 * 5 + 17;
    for (int64_t t = -2208988800LL; t < 4102444800LL; t += step) {
        time_t tt = (time_t)t;
        struct tm tm;
        ck_assert_ptr_nonnull(gmtime_r(&tt, &tm));
        char want[64], got[OHP_DATE_BUFSIZE];
        snprintf(want, sizeof want, "%04d/%02d/%02d %02d:%02d:%02d", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        ck_assert_int_eq(ohp_date_format(t, 0, got), OHP_OK);
        ck_assert_str_eq(got, want);
        int64_t back = 0;
        ck_assert_int_eq(ohp_date_parse(got, &back), OHP_OK);
        ck_assert(back == t);
        char iso[64];
        snprintf(iso, sizeof iso, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        ck_assert_int_eq(ohp_date_parse(iso, &back), OHP_OK);
        ck_assert(back == t);
    }
}
END_TEST

/* ---- dates inside records: the job's fast path decides as ohp_date_parse does ---- */

static const char *const record_dates[] = {
    "2026/11/01 08:00:00",
    "2026/11/01 08:00:01",
    "2026/11/01 23:59:59",
    "2026/11/02 00:00:00",
    "2026/11/01",
    "2026-11-01",
    "2026-11-01 08:00:00",
    "2024/02/29 12:00:00",
    "2024/02/29",
    "2000/02/29 00:00:00",
    "1900/02/29 00:00:00",
    "2023/02/29",
    "2023/02/28 23:59:59",
    "0001/01/01 00:00:00",
    "9999/12/31 23:59:59",
    "0000/01/01",
    "2026/13/01",
    "2026/00/10",
    "2026/01/00",
    "2026/01/32",
    "2026/04/31",
    "2026/11/01 24:00:00",
    "2026/11/01 23:60:00",
    "2026/11/01 23:59:60",
    "2026/11/0a 00:00:00",
    "2026/11-01",
    "2026-11/01",
    "2026/11/01 08:00",
    "2026/11/01 08:00:00 ",
    "2026/11/01T08:00:00",
    "2026-11-01T08:00:00Z",
    "2026-11-01T08:00:00+02:00",
    "2026/1/01",
    "202/11/01",
    "2026/11/01 8:00:00",
    "2026/11/01 08:00:00x",
    "2026/11/01x",
    "2026/11/01 08-00-00",
    "+026/11/01",
    "2026/11/01 08:00:00",
    "2026/11/01 08:00:00",
};
#define N_DATES (sizeof record_dates / sizeof record_dates[0])

typedef struct rejected {
    int seen[2 * N_DATES + 1];
} rejected;

static int on_reject(void *ud, const ohp_rejection *r)
{
    rejected *rj = ud;
    ck_assert_uint_le(r->ordinal, 2 * N_DATES);
    rj->seen[r->ordinal] = 1;
    return 0;
}

START_TEST(record_dates_as_the_parser_reads_them)
{
    /* Each text once as LAST_UPDATE_DATE, once as LOT_EXPIRATION_DATE. */
    static ohp_record recs[2 * N_DATES];
    static char items[2 * N_DATES][16];
    for (size_t i = 0; i < 2 * N_DATES; i++) {
        snprintf(items[i], sizeof items[i], "I%zu", i);
        recs[i] = tu_record("M1", items[i], "1");
        if (i < N_DATES)
            recs[i].last_update_date = record_dates[i];
        else
            recs[i].lot_expiration_date = record_dates[i - N_DATES];
    }
    ohp_job *job = NULL;
    ck_assert_int_eq(ohp_job_new(&job, NULL), OHP_OK);
    tu_source src = {recs, 2 * N_DATES, 0, 0, 0, 0, 0, 0, {0}};
    tu_use_source(job, &src);
    tu_sink sink;
    memset(&sink, 0, sizeof sink);
    tu_use_sink(job, &sink);
    rejected rj;
    memset(&rj, 0, sizeof rj);
    ohp_job_set_reject_callback(job, on_reject, &rj);
    ohp_params p;
    ohp_params_init(&p, OHP_PARAMS_VERSION);
    p.organization_code = "M1";
    p.user = "TEST";
    p.caller_authorized = 1;
    p.full_publish = 1;
    p.on_error = OHP_ON_ERROR_REJECT;
    p.max_reject_percent = 100;
    p.snapshot_date = tu_date("2026/11/27 06:00:00");
    ck_assert_int_eq(ohp_job_run(job, &p), OHP_OK);
    char *psv = NULL, name[256];
    size_t psv_len = 0;
    ck_assert_int_eq(tu_unzip_single(sink.data, sink.len, &psv, &psv_len, name, sizeof name), 0);
    size_t accepted = 0, published = 0;
    for (size_t i = 0; i < 2 * N_DATES; i++) {
        const char *text = record_dates[i % N_DATES];
        int64_t t = 0;
        int ok = ohp_date_parse(text, &t) == OHP_OK;
        ck_assert_msg(ok == !rj.seen[i + 1], "%s '%s': parser %s, job %s",
                      i < N_DATES ? "LAST_UPDATE_DATE" : "LOT_EXPIRATION_DATE", text,
                      ok ? "accepts" : "refuses", rj.seen[i + 1] ? "rejected" : "accepted");
        if (!ok)
            continue;
        accepted++;
        /* its line (ITEM_NUMBER is field 8); the date as layout v1 writes it */
        char key[32], want[OHP_DATE_BUFSIZE];
        snprintf(key, sizeof key, "|%s|", items[i]);
        const char *line = strstr(psv, key);
        ck_assert_msg(line != NULL, "no line for '%s'", text);
        while (line > psv && line[-1] != '\n')
            line--;
        const char *f = line;
        int col = i < N_DATES ? 25 : 13; /* LAST_UPDATE_DATE, LOT_EXPIRATION_DATE (0-based) */
        for (int k = 0; k < col; k++)
            f = strchr(f, '|') + 1;
        size_t flen = strcspn(f, "|\n");
        ohp_date_format(t, i >= N_DATES, want);
        ck_assert_msg(flen == strlen(want) && memcmp(f, want, flen) == 0,
                      "'%s' published as '%.*s', want '%s'", text, (int)flen, f, want);
        published++;
    }
    ck_assert_uint_eq(published, accepted);
    ck_assert_uint_gt(accepted, 20);
    ck_assert_uint_gt(2 * N_DATES - accepted, 30);
    free(psv);
    tu_sink_free(&sink);
    ohp_job_free(job);
}
END_TEST

static Suite *dates_suite(void)
{
    Suite *s = suite_create("dates");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, slash_date);
    tcase_add_test(tc, record_dates_as_the_parser_reads_them);
    tcase_add_test(tc, slash_datetime);
    tcase_add_test(tc, iso_date);
    tcase_add_test(tc, iso_datetime_z);
    tcase_add_test(tc, dash_space_datetime);
    tcase_add_test(tc, formats_named);
    tcase_add_test(tc, iso_offsets);
    tcase_add_test(tc, leap_years);
    tcase_add_test(tc, year_limits);
    tcase_add_test(tc, impossible_times);
    tcase_add_test(tc, malformed);
    tcase_add_test(tc, iso_needs_zone);
    tcase_add_test(tc, null_arguments);
    suite_add_tcase(s, tc);
    TCase *tf = tcase_create("format");
    tcase_add_test(tf, format_modes);
    tcase_add_test(tf, format_refusals);
    tcase_add_test(tf, round_trip_against_gmtime);
    suite_add_tcase(s, tf);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(dates_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
