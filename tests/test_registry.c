/* The external-system registry: seeded value, refusals, loading, usable values. */
#include <check.h>
#include <onhandpub.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

static ohp_registry *reg;

static void setup(void)
{
    ck_assert_int_eq(ohp_registry_new(&reg, NULL), OHP_OK);
    ck_assert_ptr_nonnull(reg);
}

static void teardown(void)
{
    ohp_registry_free(reg);
    reg = NULL;
}

static ohp_lookup_value value(const char *code, const char *meaning)
{
    ohp_lookup_value v = OHP_LOOKUP_VALUE_INIT;
    v.code = code;
    v.meaning = meaning;
    return v;
}

/* Add v and expect a refusal with want_rc whose message contains want_text. */
static void refuse(const ohp_lookup_value *v, int want_rc, const char *want_text)
{
    size_t before = ohp_registry_count(reg);
    int rc = ohp_registry_add(reg, v);
    ck_assert_msg(rc == want_rc, "code '%s': got %d, want %d", v->code ? v->code : "(null)", rc,
                  want_rc);
    const char *msg = ohp_registry_errmsg(reg);
    ck_assert_msg(strstr(msg, want_text) != NULL, "message '%s' lacks '%s'", msg, want_text);
    ck_assert_uint_eq(ohp_registry_count(reg), before);
}

static void refuse_code(const char *code, int want_rc, const char *want_text)
{
    ohp_lookup_value v = value(code, "Some WMS");
    refuse(&v, want_rc, want_text);
}

static char *repeat(const char *unit, size_t n)
{
    size_t u = strlen(unit);
    char *s = malloc(u * n + 1);
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * u, unit, u);
    s[u * n] = '\0';
    return s;
}

START_TEST(seeded_value)
{
    ck_assert_uint_eq(ohp_registry_count(reg), 1);
    ohp_lookup_value v;
    ck_assert_int_eq(ohp_registry_find(reg, "0", &v), OHP_OK);
    ck_assert_str_eq(v.code, "0");
    ck_assert_str_eq(v.meaning, "Oracle WMS");
    ck_assert_int_ne(v.enabled, 0);
    ck_assert(v.start_date == OHP_TIME_NONE);
    ck_assert(v.end_date == OHP_TIME_NONE);
    ck_assert_int_eq(ohp_registry_check(reg, "0", tu_date("2026/11/01")), OHP_OK);
    ck_assert_int_eq(ohp_registry_find(reg, "1", &v), OHP_ENOTFOUND);
    ck_assert_str_eq(OHP_SYSTEM_ORACLE_WMS, "0");
    ck_assert_str_eq(OHP_LOOKUP_TYPE, "ORA_INV_BALANCES_INV_EXTERNAL");
}
END_TEST

START_TEST(add_and_find)
{
    ohp_lookup_value v = value("1", "Acme 3PL");
    v.description = "Third-party warehouse";
    v.tag = "EU";
    v.has_display_sequence = 1;
    v.display_sequence = 5;
    v.start_date = tu_date("2026/01/01");
    v.end_date = tu_date("2026/12/31");
    ck_assert_int_eq(ohp_registry_add(reg, &v), OHP_OK);
    ck_assert_uint_eq(ohp_registry_count(reg), 2);
    ohp_lookup_value got;
    ck_assert_int_eq(ohp_registry_find(reg, "1", &got), OHP_OK);
    ck_assert_str_eq(got.code, "1");
    ck_assert_str_eq(got.meaning, "Acme 3PL");
    ck_assert_str_eq(got.description, "Third-party warehouse");
    ck_assert_str_eq(got.tag, "EU");
    ck_assert_int_ne(got.enabled, 0);
    ck_assert_int_eq(got.has_display_sequence, 1);
    ck_assert(got.display_sequence == 5);
    ck_assert(got.start_date == tu_date("2026/01/01"));
    ck_assert(got.end_date == tu_date("2026/12/31"));
    /* The largest code: 18 digits. */
    v = value("999999999999999999", "Big");
    ck_assert_int_eq(ohp_registry_add(reg, &v), OHP_OK);
    ck_assert_uint_eq(ohp_registry_count(reg), 3);
}
END_TEST

START_TEST(strings_are_copied)
{
    char code[8] = "42", meaning[16] = "Copied";
    ohp_lookup_value v = value(code, meaning);
    ck_assert_int_eq(ohp_registry_add(reg, &v), OHP_OK);
    strcpy(code, "43");
    strcpy(meaning, "Changed");
    ohp_lookup_value got;
    ck_assert_int_eq(ohp_registry_find(reg, "42", &got), OHP_OK);
    ck_assert_str_eq(got.meaning, "Copied");
}
END_TEST

START_TEST(refuse_code_zero_again)
{
    refuse_code("0", OHP_EEXISTS, "reserved for Oracle WMS");
}
END_TEST

START_TEST(refuse_negative)
{
    refuse_code("-1", OHP_EINVAL, "positive whole numbers");
}
END_TEST

START_TEST(refuse_leading_zero)
{
    refuse_code("01", OHP_EINVAL, "leading zeros");
}
END_TEST

START_TEST(refuse_letters)
{
    refuse_code("A1", OHP_EINVAL, "positive whole numbers");
}
END_TEST

START_TEST(refuse_decimal_point)
{
    refuse_code("1.5", OHP_EINVAL, "decimal point");
}
END_TEST

START_TEST(refuse_empty)
{
    refuse_code("", OHP_EINVAL, "empty");
    refuse_code(NULL, OHP_EINVAL, "empty");
}
END_TEST

START_TEST(refuse_19_digits)
{
    refuse_code("1234567890123456789", OHP_EINVAL, "longer than 18 digits");
}
END_TEST

START_TEST(refuse_spaces)
{
    refuse_code(" 1", OHP_EINVAL, "spaces");
    refuse_code("1 ", OHP_EINVAL, "spaces");
}
END_TEST

START_TEST(refuse_plus_sign)
{
    refuse_code("+1", OHP_EINVAL, "sign");
}
END_TEST

START_TEST(refuse_duplicate)
{
    ohp_lookup_value v = value("7", "First");
    ck_assert_int_eq(ohp_registry_add(reg, &v), OHP_OK);
    v.meaning = "Second";
    refuse(&v, OHP_EEXISTS, "already present");
    ohp_lookup_value got;
    ck_assert_int_eq(ohp_registry_find(reg, "7", &got), OHP_OK);
    ck_assert_str_eq(got.meaning, "First");
}
END_TEST

START_TEST(refuse_meaning_missing)
{
    ohp_lookup_value v = value("3", NULL);
    refuse(&v, OHP_EINVAL, "meaning is required");
    v.meaning = "";
    refuse(&v, OHP_EINVAL, "meaning is required");
}
END_TEST

START_TEST(refuse_meaning_81)
{
    char *m = repeat("m", 81);
    ohp_lookup_value v = value("3", m);
    refuse(&v, OHP_EINVAL, "meaning is longer than 80");
    free(m);
    /* 80 characters pass, also when they take two bytes each. */
    m = repeat("\xc3\xa9", 80);
    v.meaning = m;
    ck_assert_int_eq(ohp_registry_add(reg, &v), OHP_OK);
    free(m);
}
END_TEST

START_TEST(refuse_description_241)
{
    char *d = repeat("d", 241);
    ohp_lookup_value v = value("3", "Desc");
    v.description = d;
    refuse(&v, OHP_EINVAL, "description is longer than 240");
    d[240] = '\0';
    ck_assert_int_eq(ohp_registry_add(reg, &v), OHP_OK);
    free(d);
}
END_TEST

START_TEST(refuse_tag_151)
{
    char *t = repeat("t", 151);
    ohp_lookup_value v = value("3", "Tag");
    v.tag = t;
    refuse(&v, OHP_EINVAL, "tag is longer than 150");
    t[150] = '\0';
    ck_assert_int_eq(ohp_registry_add(reg, &v), OHP_OK);
    free(t);
}
END_TEST

START_TEST(refuse_start_after_end)
{
    ohp_lookup_value v = value("3", "Window");
    v.start_date = tu_date("2026/11/02");
    v.end_date = tu_date("2026/11/01");
    refuse(&v, OHP_EINVAL, "start date active is after end date active");
    /* A one-day window is fine. */
    v.end_date = v.start_date;
    ck_assert_int_eq(ohp_registry_add(reg, &v), OHP_OK);
}
END_TEST

START_TEST(seeded_cannot_be_removed)
{
    ck_assert_int_eq(ohp_registry_remove(reg, "0"), OHP_EINVAL);
    ck_assert_ptr_nonnull(strstr(ohp_registry_errmsg(reg), "cannot be removed"));
    ck_assert_uint_eq(ohp_registry_count(reg), 1);
}
END_TEST

START_TEST(seeded_cannot_be_disabled)
{
    ohp_lookup_value v = value("0", "Oracle WMS");
    v.enabled = 0;
    ck_assert_int_eq(ohp_registry_update(reg, &v), OHP_EINVAL);
    ck_assert_ptr_nonnull(strstr(ohp_registry_errmsg(reg), "cannot be disabled"));
    ohp_lookup_value got;
    ck_assert_int_eq(ohp_registry_find(reg, "0", &got), OHP_OK);
    ck_assert_int_ne(got.enabled, 0);
}
END_TEST

START_TEST(seeded_cannot_be_end_dated)
{
    ohp_lookup_value v = value("0", "Oracle WMS");
    v.end_date = tu_date("2030/01/01");
    ck_assert_int_eq(ohp_registry_update(reg, &v), OHP_EINVAL);
    ck_assert_ptr_nonnull(strstr(ohp_registry_errmsg(reg), "cannot be end-dated"));
    v.end_date = OHP_TIME_NONE;
    v.start_date = tu_date("2030/01/01");
    ck_assert_int_eq(ohp_registry_update(reg, &v), OHP_EINVAL);
    ohp_lookup_value got;
    ck_assert_int_eq(ohp_registry_find(reg, "0", &got), OHP_OK);
    ck_assert(got.end_date == OHP_TIME_NONE);
    ck_assert(got.start_date == OHP_TIME_NONE);
}
END_TEST

START_TEST(seeded_meaning_may_change)
{
    ohp_lookup_value v = value("0", "Oracle WMS (Main)");
    v.description = "Main warehouse system";
    v.has_display_sequence = 1;
    v.display_sequence = 9;
    v.tag = "HQ";
    ck_assert_int_eq(ohp_registry_update(reg, &v), OHP_OK);
    ohp_lookup_value got;
    ck_assert_int_eq(ohp_registry_find(reg, "0", &got), OHP_OK);
    ck_assert_str_eq(got.meaning, "Oracle WMS (Main)");
    ck_assert_str_eq(got.description, "Main warehouse system");
    ck_assert_str_eq(got.tag, "HQ");
    ck_assert(got.display_sequence == 9);
    ck_assert_uint_eq(ohp_registry_count(reg), 1);
}
END_TEST

START_TEST(update_and_remove_others)
{
    ohp_lookup_value v = value("5", "Five");
    ck_assert_int_eq(ohp_registry_add(reg, &v), OHP_OK);
    v.enabled = 0;
    v.end_date = tu_date("2026/12/31");
    v.meaning = "Five (old)";
    ck_assert_int_eq(ohp_registry_update(reg, &v), OHP_OK);
    ohp_lookup_value got;
    ck_assert_int_eq(ohp_registry_find(reg, "5", &got), OHP_OK);
    ck_assert_int_eq(got.enabled, 0);
    ck_assert_str_eq(got.meaning, "Five (old)");
    /* Update keeps the add rules. */
    v.meaning = NULL;
    ck_assert_int_eq(ohp_registry_update(reg, &v), OHP_EINVAL);
    v = value("6", "Six");
    ck_assert_int_eq(ohp_registry_update(reg, &v), OHP_ENOTFOUND);
    ck_assert_int_eq(ohp_registry_remove(reg, "6"), OHP_ENOTFOUND);
    ck_assert_int_eq(ohp_registry_remove(reg, "5"), OHP_OK);
    ck_assert_int_eq(ohp_registry_find(reg, "5", &got), OHP_ENOTFOUND);
    ck_assert_uint_eq(ohp_registry_count(reg), 1);
}
END_TEST

/* ---- loading ---- */

#define LOOKUP_HEADER                                                                              \
    "LOOKUP_CODE|MEANING|DESCRIPTION|ENABLED_FLAG|START_DATE_ACTIVE|END_DATE_ACTIVE|"              \
    "DISPLAY_SEQUENCE|TAG\n"

static int load(const char *text)
{
    return ohp_registry_load_psv(reg, text, strlen(text));
}

START_TEST(load_values)
{
    const char *text = LOOKUP_HEADER "0|Oracle WMS Cloud|Seeded|Y|||1|\n"
                                     "1|Acme 3PL|\"Pipes | and \"\"quotes\"\"\"|Y|2026/01/01|"
                                     "2026-12-31|2|EU\r\n"
                                     "\n"
                                     "22|Old WMS||N||||\n"
                                     "3|Later||Y|2027-01-01T00:00:00Z|||\n";
    int rc = load(text);
    ck_assert_msg(rc == OHP_OK, "load: %d %s", rc, ohp_registry_errmsg(reg));
    ck_assert_str_eq(ohp_registry_errmsg(reg), "");
    ck_assert_uint_eq(ohp_registry_count(reg), 4);
    ohp_lookup_value v;
    ck_assert_int_eq(ohp_registry_find(reg, "0", &v), OHP_OK);
    ck_assert_str_eq(v.meaning, "Oracle WMS Cloud");
    ck_assert_str_eq(v.description, "Seeded");
    ck_assert(v.display_sequence == 1);
    ck_assert_int_ne(v.enabled, 0);
    ck_assert_int_eq(ohp_registry_find(reg, "1", &v), OHP_OK);
    ck_assert_str_eq(v.meaning, "Acme 3PL");
    ck_assert_str_eq(v.description, "Pipes | and \"quotes\"");
    ck_assert_str_eq(v.tag, "EU");
    ck_assert(v.start_date == tu_date("2026/01/01"));
    ck_assert(v.end_date == tu_date("2026/12/31"));
    ck_assert_int_eq(v.has_display_sequence, 1);
    ck_assert(v.display_sequence == 2);
    ck_assert_int_eq(ohp_registry_find(reg, "22", &v), OHP_OK);
    ck_assert_int_eq(v.enabled, 0);
    ck_assert_int_eq(v.has_display_sequence, 0);
    ck_assert_int_eq(ohp_registry_find(reg, "3", &v), OHP_OK);
    ck_assert(v.start_date == tu_date("2027/01/01"));
    ck_assert(v.end_date == OHP_TIME_NONE);
}
END_TEST

/* A failing load names the line and leaves the registry as it was. */
static void load_fails(const char *text, int want_rc, const char *want_text)
{
    ohp_lookup_value v = value("9", "Existing");
    ck_assert_int_eq(ohp_registry_add(reg, &v), OHP_OK);
    ck_assert_uint_eq(ohp_registry_count(reg), 2);
    int rc = load(text);
    ck_assert_msg(rc == want_rc, "got %d, want %d (%s)", rc, want_rc, ohp_registry_errmsg(reg));
    const char *msg = ohp_registry_errmsg(reg);
    ck_assert_msg(strstr(msg, want_text) != NULL, "message '%s' lacks '%s'", msg, want_text);
    ck_assert_uint_eq(ohp_registry_count(reg), 2);
    ohp_lookup_value got;
    ck_assert_int_eq(ohp_registry_find(reg, "0", &got), OHP_OK);
    ck_assert_str_eq(got.meaning, "Oracle WMS");
    ck_assert_int_eq(ohp_registry_find(reg, "9", &got), OHP_OK);
    ck_assert_str_eq(got.meaning, "Existing");
    ck_assert_int_eq(ohp_registry_find(reg, "1", &got), OHP_ENOTFOUND);
    ck_assert_int_eq(ohp_registry_find(reg, "2", &got), OHP_ENOTFOUND);
}

START_TEST(load_bad_code_names_line)
{
    load_fails(LOOKUP_HEADER "0|Renamed||Y||||\n"
                             "1|One||Y||||\n"
                             "01|Bad||Y||||\n"
                             "2|Two||Y||||\n",
               OHP_EINVAL, "line 4");
    ck_assert_ptr_nonnull(strstr(ohp_registry_errmsg(reg), "leading zeros"));
}
END_TEST

START_TEST(load_duplicate_in_file)
{
    load_fails(LOOKUP_HEADER "1|One||Y||||\n"
                             "2|Two||Y||||\n"
                             "1|Again||Y||||\n",
               OHP_EEXISTS, "line 4");
}
END_TEST

START_TEST(load_duplicate_of_existing)
{
    load_fails(LOOKUP_HEADER "1|One||Y||||\n"
                             "9|Nine||Y||||\n",
               OHP_EEXISTS, "line 3");
}
END_TEST

START_TEST(load_bad_header)
{
    load_fails("CODE|MEANING\n1|One\n", OHP_EPARSE, "line 1");
}
END_TEST

START_TEST(load_empty)
{
    load_fails("", OHP_EPARSE, "line 1");
}
END_TEST

START_TEST(load_bad_flag)
{
    load_fails(LOOKUP_HEADER "1|One||Y||||\n"
                             "2|Two||yes||||\n",
               OHP_EPARSE, "line 3");
}
END_TEST

START_TEST(load_bad_date)
{
    load_fails(LOOKUP_HEADER "1|One||Y|2026/02/30|||\n", OHP_EPARSE, "line 2");
}
END_TEST

/* Code 0 updates the seeded value once; two rows for it are a duplicate like any other. */
START_TEST(load_code_zero_twice)
{
    load_fails(LOOKUP_HEADER "0|First||Y||||\n"
                             "1|One||Y||||\n"
                             "0|Second||Y||||\n",
               OHP_EEXISTS, "line 4");
    ck_assert_ptr_nonnull(strstr(ohp_registry_errmsg(reg), "first on line 2"));
}
END_TEST

/* A date error names the column and the accepted forms; YYYY-MM-DD HH:MM:SS is one of them. */
START_TEST(load_date_forms)
{
    load_fails(LOOKUP_HEADER "1|One||Y||31/12/2026||\n", OHP_EPARSE,
               "line 2, column 6 (END_DATE_ACTIVE): '31/12/2026' is not a date "
               "(accepted: " OHP_DATE_FORMATS ")");
    ck_assert_int_eq(load(LOOKUP_HEADER "5|Five||Y|2026-01-15 18:00:00|||\n"), OHP_OK);
    ohp_lookup_value v;
    ck_assert_int_eq(ohp_registry_find(reg, "5", &v), OHP_OK);
    ck_assert(v.start_date == tu_date("2026/01/15"));
}
END_TEST

/*
 * Many values load in linear time (a duplicate search per row made 40,000
 * rows take seconds and a 16 MiB file minutes), and every code is still
 * found, also after removals.
 */
START_TEST(load_many_values)
{
    enum { N = 200000 };
    size_t cap = (size_t)N * 40 + 200, len = 0;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    len += (size_t)snprintf(text, cap, "%s", LOOKUP_HEADER);
    /* codes 2..N in a scattered order, and one above 2^32 instead of 1 */
    for (unsigned i = 1; i <= N; i++) {
        unsigned long long code = (unsigned long long)((i * 7919u) % N) + 1;
        if (i == N)
            code = 123456789012345678ULL;
        len += (size_t)snprintf(text + len, cap - len, "%llu|S%u||Y||||\n", code, i);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = ohp_registry_load_psv(reg, text, len);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ck_assert_msg(rc == OHP_OK, "%d %s", rc, ohp_registry_errmsg(reg));
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    /* quadratic loading took minutes here; linear takes well under a second (not timed
     * under valgrind, which slows everything down fifty times) */
    if (getenv("OHP_UNDER_VALGRIND") == NULL)
        ck_assert_msg(secs < 10.0, "loading %d values took %.1f s", N, secs);
    ck_assert_uint_eq(ohp_registry_count(reg), (size_t)N + 1); /* and code 0 */
    ohp_lookup_value v;
    ck_assert_int_eq(ohp_registry_find(reg, "123456789012345678", &v), OHP_OK);
    ck_assert_int_eq(ohp_registry_find(reg, "7920", &v), OHP_OK);
    ck_assert_str_eq(v.meaning, "S1");
    ck_assert_int_eq(ohp_registry_find(reg, "0", &v), OHP_OK);
    ck_assert_int_eq(ohp_registry_find(reg, "00", &v), OHP_ENOTFOUND);
    ck_assert_int_eq(ohp_registry_find(reg, "7920 ", &v), OHP_ENOTFOUND);
    /* a second load of the same file: every code is a duplicate */
    ck_assert_int_eq(ohp_registry_load_psv(reg, text, len), OHP_EEXISTS);
    ck_assert_ptr_nonnull(strstr(ohp_registry_errmsg(reg), "line 2"));
    free(text);
    ck_assert_int_eq(ohp_registry_remove(reg, "7920"), OHP_OK);
    ck_assert_int_eq(ohp_registry_find(reg, "7920", &v), OHP_ENOTFOUND);
    char code[32];
    for (unsigned c = 1; c <= 2000; c++) {
        snprintf(code, sizeof code, "%u", c);
        ck_assert_int_eq(ohp_registry_find(reg, code, &v),
                         c == 1 || c == 7920 ? OHP_ENOTFOUND : OHP_OK);
    }
    ohp_lookup_value again = value("7920", "Back");
    ck_assert_int_eq(ohp_registry_add(reg, &again), OHP_OK);
    ck_assert_int_eq(ohp_registry_find(reg, "7920", &v), OHP_OK);
    ck_assert_str_eq(v.meaning, "Back");
}
END_TEST

START_TEST(load_bad_sequence)
{
    load_fails(LOOKUP_HEADER "1|One||Y|||x|\n", OHP_EPARSE, "line 2");
}
END_TEST

START_TEST(load_wrong_field_count)
{
    load_fails(LOOKUP_HEADER "1|One||Y||||\n"
                             "2|Two||Y|||\n",
               OHP_EPARSE, "line 3");
}
END_TEST

START_TEST(load_seeded_disabled)
{
    load_fails(LOOKUP_HEADER "1|One||Y||||\n"
                             "0|Oracle WMS||N||||\n",
               OHP_EINVAL, "line 3");
    ck_assert_ptr_nonnull(strstr(ohp_registry_errmsg(reg), "cannot be disabled"));
}
END_TEST

START_TEST(load_start_after_end)
{
    load_fails(LOOKUP_HEADER "1|One||Y|2026/12/01|2026/11/01||\n", OHP_EINVAL, "line 2");
}
END_TEST

START_TEST(load_unterminated_quote)
{
    load_fails(LOOKUP_HEADER "1|One||Y||||\n"
                             "2|\"Two||Y||||\n",
               OHP_EPARSE, "line 3");
}
END_TEST

/* ---- listing ---- */

typedef struct listing {
    char codes[16][24];
    size_t n;
    int stop_after;
} listing;

static int collect(void *ud, const ohp_lookup_value *v)
{
    listing *l = ud;
    ck_assert_uint_lt(l->n, 16);
    snprintf(l->codes[l->n++], sizeof l->codes[0], "%s", v->code);
    if (l->stop_after && (int)l->n == l->stop_after)
        return 77;
    return 0;
}

static void add_seq(const char *code, int has_seq, int64_t seq, int enabled)
{
    ohp_lookup_value v = value(code, "System");
    v.has_display_sequence = has_seq;
    v.display_sequence = seq;
    v.enabled = enabled;
    ck_assert_int_eq(ohp_registry_add(reg, &v), OHP_OK);
}

static void expect_listing(const listing *l, const char *const *want, size_t n)
{
    ck_assert_uint_eq(l->n, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_str_eq(l->codes[i], want[i]);
}

START_TEST(usable_order)
{
    add_seq("5", 1, 20, 1);
    add_seq("12", 1, 10, 1);
    add_seq("100", 1, 10, 1);
    add_seq("3", 1, 10, 1);
    add_seq("10", 0, 0, 1);
    add_seq("2", 0, 0, 1);
    add_seq("4", 1, 15, 0); /* disabled */
    listing l = {0};
    ck_assert_int_eq(ohp_registry_foreach_usable(reg, tu_date("2026/11/01"), collect, &l), OHP_OK);
    /* By display sequence, then numerically by code; no sequence last. */
    const char *want[] = {"3", "12", "100", "5", "0", "2", "10"};
    expect_listing(&l, want, 7);
    /* foreach lists the disabled value too. */
    listing all = {0};
    ck_assert_int_eq(ohp_registry_foreach(reg, collect, &all), OHP_OK);
    const char *want_all[] = {"3", "12", "100", "4", "5", "0", "2", "10"};
    expect_listing(&all, want_all, 8);
}
END_TEST

START_TEST(usable_window)
{
    ohp_lookup_value v = value("7", "November only");
    /* Day granularity: the time of day of the window dates does not matter. */
    v.start_date = tu_date("2026/11/01 15:00:00");
    v.end_date = tu_date("2026/11/30 06:00:00");
    ck_assert_int_eq(ohp_registry_add(reg, &v), OHP_OK);
    struct {
        const char *date;
        int usable;
    } cases[] = {{"2026/10/31 23:59:59", 0},
                 {"2026/11/01 00:00:00", 1},
                 {"2026/11/15 12:00:00", 1},
                 {"2026/11/30 23:59:59", 1},
                 {"2026/12/01 00:00:00", 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        listing l = {0};
        ck_assert_int_eq(ohp_registry_foreach_usable(reg, tu_date(cases[i].date), collect, &l),
                         OHP_OK);
        bool found = false;
        for (size_t k = 0; k < l.n; k++)
            found = found || strcmp(l.codes[k], "7") == 0;
        ck_assert_msg(found == (cases[i].usable != 0), "%s: usable %d", cases[i].date, found);
        ck_assert_int_eq(ohp_registry_check(reg, "7", tu_date(cases[i].date)),
                         cases[i].usable ? OHP_OK : OHP_EINACTIVE);
    }
}
END_TEST

START_TEST(visitor_stops)
{
    add_seq("1", 0, 0, 1);
    add_seq("2", 0, 0, 1);
    listing l = {0};
    l.stop_after = 2;
    ck_assert_int_eq(ohp_registry_foreach(reg, collect, &l), 77);
    ck_assert_uint_eq(l.n, 2);
}
END_TEST

START_TEST(check_results)
{
    add_seq("1", 0, 0, 1);
    add_seq("2", 0, 0, 0);
    int64_t d = tu_date("2026/11/01");
    ck_assert_int_eq(ohp_registry_check(reg, "1", d), OHP_OK);
    ck_assert_int_eq(ohp_registry_check(reg, "0", d), OHP_OK);
    ck_assert_int_eq(ohp_registry_check(reg, "3", d), OHP_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(ohp_registry_errmsg(reg), "3"));
    ck_assert_int_eq(ohp_registry_check(reg, "2", d), OHP_EINACTIVE);
    ck_assert_ptr_nonnull(strstr(ohp_registry_errmsg(reg), "disabled"));
}
END_TEST

/* ---- publishing against the registry ---- */

static void publish_refused(const char *system, int want_rc)
{
    ohp_lookup_value v = value("4", "Disabled");
    v.enabled = 0;
    ck_assert_int_eq(ohp_registry_add(reg, &v), OHP_OK);
    v = value("5", "2027 only");
    v.start_date = tu_date("2027/01/01");
    v.end_date = tu_date("2027/12/31");
    ck_assert_int_eq(ohp_registry_add(reg, &v), OHP_OK);

    ohp_job *job;
    ck_assert_int_eq(ohp_job_new(&job, NULL), OHP_OK);
    ck_assert_int_eq(ohp_job_set_registry(job, reg), OHP_OK);
    ohp_record rec = tu_record("M1", "ITEM1", "1");
    tu_source src = {.records = &rec, .count = 1};
    tu_sink sink = {0};
    tu_use_source(job, &src);
    tu_use_sink(job, &sink);
    ohp_params p = OHP_PARAMS_INIT;
    p.system_code = system;
    p.organization_code = "M1";
    p.snapshot_date = tu_date("2026/11/02 06:00:00");
    p.run_id = 1;
    p.user = "tester";
    p.caller_authorized = 1;
    ck_assert_int_eq(ohp_job_run(job, &p), want_rc);
    ck_assert_int_eq(sink.opened, 0);
    ck_assert_int_eq(sink.writes, 0);
    ck_assert_int_eq(sink.closes, 0);
    ck_assert_int_eq(src.opened, 0);
    const ohp_summary *s = ohp_job_summary(job);
    ck_assert_int_eq(s->status, OHP_STATUS_REFUSED);
    ck_assert_int_eq(s->error, want_rc);
    ck_assert_ptr_nonnull(strstr(ohp_job_errmsg(job), system));
    ohp_job_free(job);
    tu_sink_free(&sink);
}

START_TEST(publish_unknown_system)
{
    publish_refused("8", OHP_ENOTFOUND);
}
END_TEST

START_TEST(publish_disabled_system)
{
    publish_refused("4", OHP_EINACTIVE);
}
END_TEST

START_TEST(publish_out_of_window)
{
    publish_refused("5", OHP_EINACTIVE);
}
END_TEST

START_TEST(publish_usable_system)
{
    ohp_lookup_value v = value("5", "November");
    v.start_date = tu_date("2026/11/02");
    v.end_date = tu_date("2026/11/02");
    ck_assert_int_eq(ohp_registry_add(reg, &v), OHP_OK);
    ohp_job *job;
    ck_assert_int_eq(ohp_job_new(&job, NULL), OHP_OK);
    ck_assert_int_eq(ohp_job_set_registry(job, reg), OHP_OK);
    ohp_record rec = tu_record("M1", "ITEM1", "1");
    tu_source src = {.records = &rec, .count = 1};
    tu_sink sink = {0};
    tu_use_source(job, &src);
    tu_use_sink(job, &sink);
    ohp_params p = OHP_PARAMS_INIT;
    p.system_code = "5";
    p.organization_code = "M1";
    p.snapshot_date = tu_date("2026/11/02 23:59:59");
    p.run_id = 1;
    p.user = "tester";
    p.caller_authorized = 1;
    ck_assert_int_eq(ohp_job_run(job, &p), OHP_OK);
    ck_assert_int_eq(sink.committed, 1);
    ck_assert_str_eq(sink.name, "ONHAND_5_M1_1_20261102235959.zip");
    ohp_job_free(job);
    tu_sink_free(&sink);
}
END_TEST

static Suite *registry_suite(void)
{
    Suite *s = suite_create("registry");
    TCase *tc = tcase_create("values");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, seeded_value);
    tcase_add_test(tc, add_and_find);
    tcase_add_test(tc, strings_are_copied);
    tcase_add_test(tc, refuse_code_zero_again);
    tcase_add_test(tc, refuse_negative);
    tcase_add_test(tc, refuse_leading_zero);
    tcase_add_test(tc, refuse_letters);
    tcase_add_test(tc, refuse_decimal_point);
    tcase_add_test(tc, refuse_empty);
    tcase_add_test(tc, refuse_19_digits);
    tcase_add_test(tc, refuse_spaces);
    tcase_add_test(tc, refuse_plus_sign);
    tcase_add_test(tc, refuse_duplicate);
    tcase_add_test(tc, refuse_meaning_missing);
    tcase_add_test(tc, refuse_meaning_81);
    tcase_add_test(tc, refuse_description_241);
    tcase_add_test(tc, refuse_tag_151);
    tcase_add_test(tc, refuse_start_after_end);
    tcase_add_test(tc, seeded_cannot_be_removed);
    tcase_add_test(tc, seeded_cannot_be_disabled);
    tcase_add_test(tc, seeded_cannot_be_end_dated);
    tcase_add_test(tc, seeded_meaning_may_change);
    tcase_add_test(tc, update_and_remove_others);
    suite_add_tcase(s, tc);

    TCase *tl = tcase_create("load");
    tcase_add_checked_fixture(tl, setup, teardown);
    tcase_add_test(tl, load_values);
    tcase_add_test(tl, load_bad_code_names_line);
    tcase_add_test(tl, load_duplicate_in_file);
    tcase_add_test(tl, load_duplicate_of_existing);
    tcase_add_test(tl, load_bad_header);
    tcase_add_test(tl, load_empty);
    tcase_add_test(tl, load_bad_flag);
    tcase_add_test(tl, load_bad_date);
    tcase_add_test(tl, load_code_zero_twice);
    tcase_add_test(tl, load_date_forms);
    tcase_add_test(tl, load_many_values);
    tcase_add_test(tl, load_bad_sequence);
    tcase_add_test(tl, load_wrong_field_count);
    tcase_add_test(tl, load_seeded_disabled);
    tcase_add_test(tl, load_start_after_end);
    tcase_add_test(tl, load_unterminated_quote);
    suite_add_tcase(s, tl);

    TCase *tu = tcase_create("usable");
    tcase_add_checked_fixture(tu, setup, teardown);
    tcase_add_test(tu, usable_order);
    tcase_add_test(tu, usable_window);
    tcase_add_test(tu, visitor_stops);
    tcase_add_test(tu, check_results);
    tcase_add_test(tu, publish_unknown_system);
    tcase_add_test(tu, publish_disabled_system);
    tcase_add_test(tu, publish_out_of_window);
    tcase_add_test(tu, publish_usable_system);
    suite_add_tcase(s, tu);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(registry_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
