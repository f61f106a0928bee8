/* Quantities: canonical exact decimals. */
#include <check.h>
#include <onhandpub.h>

#include <stdlib.h>
#include <string.h>

static void expect_canonical(const char *text, const char *want)
{
    char out[128];
    memset(out, 'x', sizeof out);
    int rc = ohp_quantity_canonical(text, out, sizeof out);
    ck_assert_msg(rc == OHP_OK, "'%s' refused (%d)", text, rc);
    ck_assert_msg(strcmp(out, want) == 0, "'%s' gave '%s', want '%s'", text, out, want);
    /* strlen(text) + 1 bytes are always enough. */
    char *tight = malloc(strlen(text) + 1);
    ck_assert_ptr_nonnull(tight);
    ck_assert_int_eq(ohp_quantity_canonical(text, tight, strlen(text) + 1), OHP_OK);
    ck_assert_str_eq(tight, want);
    free(tight);
}

static void expect_rc(const char *text, int want)
{
    char out[256];
    int rc = ohp_quantity_canonical(text, out, sizeof out);
    ck_assert_msg(rc == want, "'%s' gave %d, want %d", text, rc, want);
}

START_TEST(already_canonical)
{
    expect_canonical("0", "0");
    expect_canonical("1", "1");
    expect_canonical("123", "123");
    expect_canonical("-5", "-5");
    expect_canonical("12.5", "12.5");
    expect_canonical("-0.001", "-0.001");
    expect_canonical("10", "10");
    expect_canonical("100.01", "100.01");
}
END_TEST

START_TEST(leading_zeros)
{
    expect_canonical("007", "7");
    expect_canonical("000", "0");
    expect_canonical("00.5", "0.5");
    expect_canonical("-007.25", "-7.25");
    expect_canonical("0100", "100");
}
END_TEST

START_TEST(trailing_fraction_zeros)
{
    expect_canonical("1.500", "1.5");
    expect_canonical("1.0", "1");
    expect_canonical("1.000", "1");
    expect_canonical("10.0", "10");
    expect_canonical("0.10", "0.1");
    expect_canonical("0012.500", "12.5");
    expect_canonical("-3.000", "-3");
}
END_TEST

START_TEST(negative_zero)
{
    expect_canonical("-0", "0");
    expect_canonical("-0.000", "0");
    expect_canonical("-000", "0");
    expect_canonical("-00.0", "0");
    expect_canonical("0.0", "0");
}
END_TEST

START_TEST(not_decimals)
{
    expect_rc("1.", OHP_EPARSE);
    expect_rc(".5", OHP_EPARSE);
    expect_rc("-.5", OHP_EPARSE);
    expect_rc("+1", OHP_EPARSE);
    expect_rc("1e3", OHP_EPARSE);
    expect_rc("1E3", OHP_EPARSE);
    expect_rc(" 1", OHP_EPARSE);
    expect_rc("1 ", OHP_EPARSE);
    expect_rc("", OHP_EPARSE);
    expect_rc("-", OHP_EPARSE);
    expect_rc("--1", OHP_EPARSE);
    expect_rc("1.2.3", OHP_EPARSE);
    expect_rc("1,5", OHP_EPARSE);
    expect_rc("1,000", OHP_EPARSE);
    expect_rc("0x10", OHP_EPARSE);
    expect_rc("inf", OHP_EPARSE);
    expect_rc("nan", OHP_EPARSE);
    expect_rc("1-", OHP_EPARSE);
    expect_rc("\xd9\xa1", OHP_EPARSE); /* ARABIC-INDIC DIGIT ONE */
}
END_TEST

START_TEST(digit_limits)
{
    char buf[128];
    /* 40 integer digits are accepted; 41 are not. */
    memset(buf, '9', 40);
    buf[40] = '\0';
    expect_canonical(buf, buf);
    memset(buf, '9', 41);
    buf[41] = '\0';
    expect_rc(buf, OHP_ELIMIT);
    /* 30 fraction digits are accepted; 31 are not. */
    strcpy(buf, "0.");
    memset(buf + 2, '1', 30);
    buf[32] = '\0';
    expect_canonical(buf, buf);
    strcpy(buf, "0.");
    memset(buf + 2, '1', 31);
    buf[33] = '\0';
    expect_rc(buf, OHP_ELIMIT);
    /* The largest magnitude, both signs. */
    buf[0] = '-';
    memset(buf + 1, '9', 40);
    buf[41] = '.';
    memset(buf + 42, '9', 30);
    buf[72] = '\0';
    expect_canonical(buf, buf);
    expect_canonical(buf + 1, buf + 1);
}
END_TEST

START_TEST(bad_arguments)
{
    char out[8];
    ck_assert_int_eq(ohp_quantity_canonical(NULL, out, sizeof out), OHP_EINVAL);
    ck_assert_int_eq(ohp_quantity_canonical("1", NULL, 8), OHP_EINVAL);
    /* Too small for the result. */
    ck_assert_int_eq(ohp_quantity_canonical("123", out, 3), OHP_EINVAL);
    ck_assert_int_eq(ohp_quantity_canonical("123", out, 0), OHP_EINVAL);
    ck_assert_int_eq(ohp_quantity_canonical("123", out, 4), OHP_OK);
    ck_assert_str_eq(out, "123");
    /* The canonical form is what has to fit, not the input. */
    ck_assert_int_eq(ohp_quantity_canonical("0007.000", out, 2), OHP_OK);
    ck_assert_str_eq(out, "7");
}
END_TEST

static Suite *quantity_suite(void)
{
    Suite *s = suite_create("quantity");
    TCase *tc = tcase_create("canonical");
    tcase_add_test(tc, already_canonical);
    tcase_add_test(tc, leading_zeros);
    tcase_add_test(tc, trailing_fraction_zeros);
    tcase_add_test(tc, negative_zero);
    tcase_add_test(tc, not_decimals);
    tcase_add_test(tc, digit_limits);
    tcase_add_test(tc, bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(quantity_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
