/*
 * Messages are one line of visible text: every value a message quotes (record errors,
 * rejections, registry and lookups errors, balances reader errors) shows its control
 * characters and its bytes that are not UTF-8 as escapes (\n, \x1b, \xff, \u009b).
 */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A field forging a second message line and clearing the screen. */
#define FORGED "A\nonhandpub: published FAKE.zip (succeeded)\x1b[2J"
#define FORGED_SEEN "A\\nonhandpub: published FAKE.zip (succeeded)\\x1b[2J"

/* msg is non-empty, valid UTF-8 without C0, DEL or C1 control characters. */
static void assert_visible(const char *msg)
{
    ck_assert_ptr_nonnull(msg);
    ck_assert_msg(msg[0] != '\0', "empty message");
    const unsigned char *p = (const unsigned char *)msg;
    for (size_t i = 0; p[i];) {
        unsigned c = p[i];
        ck_assert_msg(c >= 0x20 && c != 0x7F, "control byte %02x at %zu in '%s'", c, i, msg);
        size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        ck_assert_msg(c < 0x80 || (c >= 0xC2 && c <= 0xF4), "bad lead byte at %zu", i);
        for (size_t k = 1; k < n; k++)
            ck_assert_msg((p[i + k] & 0xC0) == 0x80, "bad UTF-8 at %zu in '%s'", i, msg);
        ck_assert_msg(!(c == 0xC2 && p[i + 1] < 0xA0), "C1 control at %zu in '%s'", i, msg);
        i += n;
    }
}

static void assert_contains(const char *msg, const char *want)
{
    ck_assert_msg(strstr(msg, want) != NULL, "message '%s' lacks '%s'", msg, want);
}

typedef struct fx {
    ohp_job *job;
    tu_source src;
    tu_sink sink;
    ohp_params p;
} fx;

static void fx_init(fx *f, const ohp_record *recs, size_t n)
{
    memset(f, 0, sizeof *f);
    ck_assert_int_eq(ohp_job_new(&f->job, NULL), OHP_OK);
    f->src.records = recs;
    f->src.count = n;
    tu_use_source(f->job, &f->src);
    tu_use_sink(f->job, &f->sink);
    ck_assert_int_eq(ohp_params_init(&f->p, OHP_PARAMS_VERSION), OHP_OK);
    f->p.organization_code = "M1";
    f->p.user = "ALICE";
    f->p.caller_authorized = 1;
    f->p.full_publish = 1;
    f->p.snapshot_date = tu_date("2026/11/02 06:30:00");
}

static void fx_free(fx *f)
{
    ohp_job_free(f->job);
    tu_sink_free(&f->sink);
}

START_TEST(record_error_escapes_fields)
{
    ohp_record r = tu_record("M1", FORGED, "x1\x1b[31m");
    fx f;
    fx_init(&f, &r, 1);
    ck_assert_int_eq(ohp_job_run(f.job, &f.p), OHP_ERECORD);
    const char *msg = ohp_job_errmsg(f.job);
    assert_visible(msg);
    assert_contains(msg, "record 1 (organization M1, item " FORGED_SEEN ", subinventory FGI");
    assert_contains(msg, "PRIMARY_QUANTITY 'x1\\x1b[31m' is not a decimal number");
    ck_assert_int_eq(f.sink.committed, 0);
    fx_free(&f);
}
END_TEST

START_TEST(invalid_utf8_and_c1_are_escaped)
{
    /* Text that is fine stays as it is (é, a backslash); \xff and U+009B (CSI) do not. */
    ohp_record r[2];
    r[0] = tu_record("M1", "Caf\xc3\xa9\\\xff", "1");
    r[1] = tu_record("M1",
                     "B\xc2\x9b"
                     "6n",
                     "bad");
    for (int i = 0; i < 2; i++) {
        fx f;
        fx_init(&f, &r[i], 1);
        ck_assert_int_eq(ohp_job_run(f.job, &f.p), OHP_ERECORD);
        const char *msg = ohp_job_errmsg(f.job);
        assert_visible(msg);
        if (i == 0) {
            assert_contains(msg, "item Caf\xc3\xa9\\\\xff,");
            assert_contains(msg, "ITEM_NUMBER is not valid UTF-8");
        } else {
            assert_contains(msg, "item B\\u009b6n,");
        }
        fx_free(&f);
    }
}
END_TEST

typedef struct seen {
    int count;
    char message[2048];
    int rule;
} seen;

static int keep_rejection(void *ud, const ohp_rejection *rj)
{
    seen *s = ud;
    s->count++;
    s->rule = rj->rule;
    snprintf(s->message, sizeof s->message, "%s", rj->message);
    return 0;
}

START_TEST(rejection_message_escapes_fields)
{
    ohp_record r[2];
    r[0] = tu_record("M1", FORGED, "x1\x1b[31m");
    r[1] = tu_record("M1", "GOOD", "1");
    fx f;
    fx_init(&f, r, 2);
    seen s;
    memset(&s, 0, sizeof s);
    f.p.on_error = OHP_ON_ERROR_REJECT;
    ck_assert_int_eq(ohp_job_set_reject_callback(f.job, keep_rejection, &s), OHP_OK);
    ck_assert_int_eq(ohp_job_run(f.job, &f.p), OHP_OK);
    ck_assert_int_eq(s.count, 1);
    ck_assert_int_eq(s.rule, OHP_RULE_QUANTITY);
    assert_visible(s.message);
    assert_contains(s.message, "item " FORGED_SEEN ", subinventory FGI");
    assert_contains(s.message, "'x1\\x1b[31m'");
    ck_assert_int_eq(ohp_job_summary(f.job)->records_published, 1);
    fx_free(&f);
}
END_TEST

START_TEST(registry_messages_escape_values)
{
    ohp_registry *reg;
    ck_assert_int_eq(ohp_registry_new(&reg, NULL), OHP_OK);
    /* A lookups file whose code forges a line. */
    const char *bad = "LOOKUP_CODE|MEANING|DESCRIPTION|ENABLED_FLAG|START_DATE_ACTIVE|"
                      "END_DATE_ACTIVE|DISPLAY_SEQUENCE|TAG\n"
                      "\"1\nonhandpub: published FAKE.zip\x1b[2J\"|X||Y||||\n";
    int rc = ohp_registry_load_psv(reg, bad, strlen(bad));
    ck_assert(rc == OHP_EINVAL || rc == OHP_EPARSE);
    const char *msg = ohp_registry_errmsg(reg);
    assert_visible(msg);
    assert_contains(msg, "'1\\nonhandpub: published FAKE.zip\\x1b[2J'");

    /* A disabled system whose meaning holds control characters, quoted by the job. */
    ohp_lookup_value v = OHP_LOOKUP_VALUE_INIT;
    v.code = "5";
    v.meaning = "Evil\x1b]0;owned\x07WMS\r\nok";
    v.enabled = 0;
    ck_assert_int_eq(ohp_registry_add(reg, &v), OHP_OK);
    ohp_record r = tu_record("M1", "A", "1");
    fx f;
    fx_init(&f, &r, 1);
    ck_assert_int_eq(ohp_job_set_registry(f.job, reg), OHP_OK);
    f.p.system_code = "5";
    ck_assert_int_eq(ohp_job_run(f.job, &f.p), OHP_EINACTIVE);
    msg = ohp_job_errmsg(f.job);
    assert_visible(msg);
    assert_contains(msg, "external system 5 (Evil\\x1b]0;owned\\x07WMS\\r\\nok) is disabled");
    ck_assert_int_eq(f.sink.opened, 0);
    fx_free(&f);
    ohp_registry_free(reg);
}
END_TEST

typedef struct mem_in {
    const char *p;
    size_t left;
} mem_in;

static int mem_read(void *ud, void *buf, size_t cap, size_t *got)
{
    mem_in *m = ud;
    size_t n = m->left < cap ? m->left : cap;
    memcpy(buf, m->p, n);
    m->p += n;
    m->left -= n;
    *got = n;
    return 0;
}

/* The balances reader's record errors (SOURCE rule) quote the field as visible text. */
START_TEST(balance_reader_errors_escape_values)
{
    const char *psv = "ORGANIZATION_CODE|ITEM_NUMBER|SUBINVENTORY_CODE|SERIAL_CONTROLLED|"
                      "PRIMARY_QUANTITY|PRIMARY_UOM_CODE|LAST_UPDATE_DATE\n"
                      "M1|A|S|\"Y\nonhandpub: published FAKE.zip\x1b[2J\"|1|Ea|2026/11/01\n";
    ohp_balance_reader *br;
    mem_in in = {psv, strlen(psv)};
    ck_assert_int_eq(ohp_balance_reader_new(&br, mem_read, &in, NULL), OHP_OK);
    fx f;
    fx_init(&f, NULL, 0);
    ck_assert_int_eq(ohp_job_set_balance_reader(f.job, br), OHP_OK);
    ck_assert_int_eq(ohp_job_run(f.job, &f.p), OHP_ERECORD);
    const char *msg = ohp_job_errmsg(f.job);
    assert_visible(msg);
    assert_contains(msg, "SERIAL_CONTROLLED must be Y or N, found 'Y\\nonhandpub: published "
                         "FAKE.zip\\x1b[2J'");
    fx_free(&f);
    ohp_balance_reader_free(br);
}
END_TEST

/* A long value named in a record error is shortened on a whole character, never shown with
 * a stray byte of a split one. */
START_TEST(long_value_is_cut_on_a_character)
{
    char item[256] = "x"; /* "x" then é: the 60-byte cut falls inside an é */
    for (int i = 0; i < 100; i++)
        strcat(item, "\xc3\xa9");
    char want[256] = "item x";
    for (int i = 0; i < 29; i++)
        strcat(want, "\xc3\xa9");
    strcat(want, ", subinventory");
    ohp_record r = tu_record("M1", item, "bad");
    fx f;
    fx_init(&f, &r, 1);
    ck_assert_int_eq(ohp_job_run(f.job, &f.p), OHP_ERECORD);
    const char *msg = ohp_job_errmsg(f.job);
    assert_visible(msg);
    assert_contains(msg, want);
    ck_assert_ptr_null(strstr(msg, "\\x"));
    fx_free(&f);
}
END_TEST

static Suite *messages_suite(void)
{
    Suite *s = suite_create("messages");
    TCase *t = tcase_create("escaping");
    tcase_add_test(t, record_error_escapes_fields);
    tcase_add_test(t, invalid_utf8_and_c1_are_escaped);
    tcase_add_test(t, rejection_message_escapes_fields);
    tcase_add_test(t, registry_messages_escape_values);
    tcase_add_test(t, balance_reader_errors_escape_values);
    tcase_add_test(t, long_value_is_cut_on_a_character);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(messages_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
