/*
 * Records: every column, quoting, canonical values, serial expansion and
 * every record-error rule, through full publish runs read back from the ZIP.
 */
#include <check.h>
#include <onhandpub.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define HEADER TU_HEADER_V1

/* Run prefixes for the default parameters below. */
#define PFULL "0|7|FULL|2026/11/02 06:00:00|"
#define PINC "0|7|INCREMENTAL|2026/11/02 06:00:00|"
#define LUD "2026/11/01 08:00:00"

/* A tu_record line: item, quantity, serial-controlled flag, serial number. */
#define BASIC(p, item, qty) p "|M1||" item "||FGI|||||N||" qty "|Ea|||N|||||" LUD "\n"
#define SERIAL(p, item, sn) p "|M1||" item "||FGI|||||Y|" sn "|1|Ea|||N|||||" LUD "\n"

typedef struct rejected {
    int rule;
    uint64_t ordinal;
    char msg[1200];
} rejected;

typedef struct run {
    int rc;
    char *psv;
    size_t psv_len;
    char entry[512];
    char errmsg[600];
    ohp_summary sum; /* counts only: the strings belong to the freed job */
    tu_sink sink;
    tu_source src;
    rejected rej[16];
    size_t nrej;
} run;

static int on_reject(void *ud, const ohp_rejection *rj)
{
    run *r = ud;
    ck_assert_uint_lt(r->nrej, 16);
    ck_assert_ptr_nonnull(rj->record);
    rejected *x = &r->rej[r->nrej++];
    x->rule = rj->rule;
    x->ordinal = rj->ordinal;
    snprintf(x->msg, sizeof x->msg, "%s", rj->message);
    return 0;
}

static ohp_params params(void)
{
    ohp_params p;
    ck_assert_int_eq(ohp_params_init(&p, OHP_PARAMS_VERSION), OHP_OK);
    p.organization_code = "M1";
    p.snapshot_date = tu_date("2026/11/02 06:00:00");
    p.run_id = 7;
    p.user = "tester";
    p.caller_authorized = 1;
    return p;
}

static ohp_params params_incremental(void)
{
    ohp_params p = params();
    p.publish_from = tu_date("2026/10/01");
    return p;
}

static void do_run(run *r, const ohp_record *recs, size_t n, const ohp_params *p)
{
    memset(r, 0, sizeof *r);
    ohp_job *job;
    ck_assert_int_eq(ohp_job_new(&job, NULL), OHP_OK);
    r->src.records = recs;
    r->src.count = n;
    tu_use_source(job, &r->src);
    tu_use_sink(job, &r->sink);
    ck_assert_int_eq(ohp_job_set_reject_callback(job, on_reject, r), OHP_OK);
    r->rc = ohp_job_run(job, p);
    snprintf(r->errmsg, sizeof r->errmsg, "%s", ohp_job_errmsg(job));
    r->sum = *ohp_job_summary(job);
    r->sum.system_code = r->sum.organization_code = r->sum.file_name = r->sum.entry_name = NULL;
    ohp_job_free(job);
    if (r->rc == OHP_OK) {
        ck_assert_int_eq(r->sink.committed, 1);
        ck_assert_int_eq(tu_unzip_single(r->sink.data, r->sink.len, &r->psv, &r->psv_len, r->entry,
                                         sizeof r->entry),
                         0);
        ck_assert_uint_eq(r->psv_len, strlen(r->psv));
    }
}

static void run_free(run *r)
{
    free(r->psv);
    tu_sink_free(&r->sink);
}

/* Publish and compare the whole PSV. */
static void expect_psv(const ohp_record *recs, size_t n, const ohp_params *p, const char *want)
{
    run r;
    do_run(&r, recs, n, p);
    ck_assert_msg(r.rc == OHP_OK, "run failed: %d %s", r.rc, r.errmsg);
    ck_assert_str_eq(r.psv, want);
    run_free(&r);
}

/* ---- columns and encoding ---- */

static ohp_record full_record(void)
{
    ohp_record r;
    memset(&r, 0, sizeof r);
    r.organization_id = "204";
    r.organization_code = "M1";
    r.inventory_item_id = "1001";
    r.item_number = "AS54888";
    r.revision = "B";
    r.subinventory_code = "FGI";
    r.locator_id = "3001";
    r.locator_name = "A.01.02";
    r.lot_number = "LOT-7";
    r.lot_expiration_date = "2027-03-31T22:00:00-05:00";
    r.serial_controlled = 0;
    r.primary_quantity = "0012.500";
    r.primary_uom_code = "Ea";
    r.secondary_quantity = "3.0";
    r.secondary_uom_code = "KG";
    r.consigned = 1;
    r.owning_party_id = "5005";
    r.project_id = "6006";
    r.task_id = "7007";
    r.material_status_code = "HOLD";
    r.last_update_date = "2026-10-31T23:30:00-02:00";
    return r;
}

START_TEST(every_column)
{
    ohp_record rec = full_record();
    ohp_params p = params();
    expect_psv(&rec, 1, &p,
               HEADER PFULL
               "204|M1|1001|AS54888|B|FGI|3001|A.01.02|LOT-7|2027/04/01|N||12.5|Ea|3|KG|"
               "Y|5005|6006|7007|HOLD|2026/11/01 01:30:00\n");
}
END_TEST

START_TEST(header_has_26_columns)
{
    ohp_params p = params();
    run r;
    do_run(&r, NULL, 0, &p);
    ck_assert_int_eq(r.rc, OHP_OK);
    ck_assert_str_eq(r.psv, HEADER);
    size_t pipes = 0;
    for (const char *c = r.psv; *c; c++)
        pipes += *c == '|';
    ck_assert_uint_eq(pipes, 25);
    ck_assert_uint_eq(r.sum.lines_written, 0);
    run_free(&r);
}
END_TEST

START_TEST(absent_values_and_defaults)
{
    ohp_record rec = tu_record("M1", "ITEM1", "5");
    /* "" and NULL both mean absent; CONSIGNED_FLAG defaults to N. */
    rec.revision = "";
    rec.lot_expiration_date = "";
    rec.secondary_uom_code = "";
    ohp_params p = params();
    expect_psv(&rec, 1, &p, HEADER BASIC(PFULL, "ITEM1", "5"));
}
END_TEST

START_TEST(quoting)
{
    ohp_record rec = tu_record("M1", "A|B", "1");
    rec.locator_name = "say \"hi\"";
    rec.lot_number = "L\r1";
    rec.material_status_code = "x\ny";
    rec.revision = "a,b; c'd\te";
    rec.subinventory_code = "B\xc3\xbc"
                            "cher";
    rec.primary_uom_code = "\"";
    ohp_params p = params();
    expect_psv(&rec, 1, &p,
               HEADER PFULL "|M1||\"A|B\"|a,b; c'd\te|B\xc3\xbc"
                            "cher||\"say \"\"hi\"\"\"|\"L\r1\"||N||1|\"\"\"\"|||N||||\"x\ny\"|" LUD
                            "\n");
}
END_TEST

START_TEST(quoting_serials)
{
    ohp_record rec = tu_record("M1", "SER1", "5");
    rec.serial_controlled = 1;
    /* singles, and a range whose every member is quoted for its prefix */
    ohp_serial sn[] = {{"S|1", NULL}, {"S\"2", NULL}, {"S 3", NULL}, {"R|08", "R|09"}};
    rec.serials = sn;
    rec.serial_count = 4;
    ohp_params p = params();
    expect_psv(&rec, 1, &p,
               HEADER SERIAL(PFULL, "SER1", "\"S|1\"") SERIAL(PFULL, "SER1", "\"S\"\"2\"")
                   SERIAL(PFULL, "SER1", "S 3") SERIAL(PFULL, "SER1", "\"R|08\"")
                       SERIAL(PFULL, "SER1", "\"R|09\""));
}
END_TEST

START_TEST(canonical_quantities)
{
    ohp_record recs[4];
    recs[0] = tu_record("M1", "I1", "007.500");
    recs[1] = tu_record("M1", "I2", "-0012.0100");
    recs[2] = tu_record("M1", "I3", "-0.000");
    recs[3] = tu_record("M1", "I4", "1");
    recs[3].secondary_quantity = "000.50";
    recs[3].secondary_uom_code = "KG";
    ohp_params p = params_incremental();
    expect_psv(recs, 4, &p,
               HEADER BASIC(PINC, "I1", "7.5") BASIC(PINC, "I2", "-12.01") BASIC(PINC, "I3", "0")
                   PINC "|M1||I4||FGI|||||N||1|Ea|0.5|KG|N|||||" LUD "\n");
}
END_TEST

START_TEST(dates_in_utc)
{
    ohp_record recs[3];
    recs[0] = tu_record("M1", "I1", "1");
    recs[0].last_update_date = "2026-11-01";
    recs[0].lot_expiration_date = "2027/01/01 23:59:59";
    recs[1] = tu_record("M1", "I2", "1");
    recs[1].last_update_date = "2026-12-31T21:00:00-03:30";
    recs[1].lot_expiration_date = "2027-01-01T01:00:00+02:00";
    recs[2] = tu_record("M1", "I3", "1");
    recs[2].last_update_date = "2026-11-01T08:00:00Z";
    ohp_params p = params();
    p.snapshot_date = tu_date("2026-11-02T08:00:00+02:00");
    expect_psv(recs, 3, &p,
               HEADER "0|7|FULL|2026/11/02 06:00:00||M1||I1||FGI||||2027/01/01|N||1|Ea|||N|||||"
                      "2026/11/01 00:00:00\n"
                      "0|7|FULL|2026/11/02 06:00:00||M1||I2||FGI||||2026/12/31|N||1|Ea|||N|||||"
                      "2027/01/01 00:30:00\n"
                      "0|7|FULL|2026/11/02 06:00:00||M1||I3||FGI|||||N||1|Ea|||N|||||"
                      "2026/11/01 08:00:00\n");
}
END_TEST

/* Dates in layout v1's own form go out as given; others are converted. */
START_TEST(dates_in_layout_form)
{
    ohp_record recs[4];
    recs[0] = tu_record("M1", "I1", "1");
    recs[0].last_update_date = "2026/03/04 05:06:07";
    recs[0].lot_expiration_date = "2028/02/29";
    recs[1] = tu_record("M1", "I2", "1");
    recs[1].last_update_date = "2026/03/04 05:06:07";
    recs[1].lot_expiration_date = "2028-02-29";
    recs[2] = tu_record("M1", "I3", "1");
    recs[2].last_update_date = "2026-03-04T05:06:07Z";
    recs[2].lot_expiration_date = "2028/02/29 00:00:00";
    recs[3] = tu_record("M1", "I4", "1");
    recs[3].last_update_date = "2026/03/04";
    recs[3].lot_expiration_date = "2028/02/30";
    ohp_params p = params();
    p.on_error = OHP_ON_ERROR_REJECT;
    expect_psv(recs, 4, &p,
               HEADER PFULL "|M1||I1||FGI||||2028/02/29|N||1|Ea|||N|||||2026/03/04 05:06:07\n" PFULL
                            "|M1||I2||FGI||||2028/02/29|N||1|Ea|||N|||||2026/03/04 05:06:07\n" PFULL
                            "|M1||I3||FGI||||2028/02/29|N||1|Ea|||N|||||2026/03/04 05:06:07\n");
}
END_TEST

START_TEST(source_order_kept)
{
    ohp_record recs[3] = {tu_record("M1", "Z9", "1"), tu_record("M1", "A1", "2"),
                          tu_record("M1", "M5", "3")};
    ohp_params p = params();
    expect_psv(recs, 3, &p,
               HEADER BASIC(PFULL, "Z9", "1") BASIC(PFULL, "A1", "2") BASIC(PFULL, "M5", "3"));
}
END_TEST

/* ---- serial expansion ---- */

static ohp_record serial_record(const char *item, const char *qty, const char *list)
{
    ohp_record r = tu_record("M1", item, qty);
    r.serial_controlled = 1;
    r.serial_list = list;
    return r;
}

START_TEST(range_keeps_width)
{
    ohp_record rec = serial_record("SER1", "4", "SN0098..SN0101");
    ohp_params p = params();
    run r;
    do_run(&r, &rec, 1, &p);
    ck_assert_int_eq(r.rc, OHP_OK);
    ck_assert_str_eq(r.psv, HEADER SERIAL(PFULL, "SER1", "SN0098") SERIAL(PFULL, "SER1", "SN0099")
                                SERIAL(PFULL, "SER1", "SN0100") SERIAL(PFULL, "SER1", "SN0101"));
    ck_assert_uint_eq(r.sum.serial_lines, 4);
    ck_assert_uint_eq(r.sum.lines_written, 4);
    ck_assert_uint_eq(r.sum.records_published, 1);
    run_free(&r);
}
END_TEST

START_TEST(list_order_as_given)
{
    ohp_record rec = serial_record("SER1", "7", "B2, A1..A3 ,C,9, 0..0");
    ohp_params p = params();
    expect_psv(&rec, 1, &p,
               HEADER SERIAL(PFULL, "SER1", "B2") SERIAL(PFULL, "SER1", "A1")
                   SERIAL(PFULL, "SER1", "A2") SERIAL(PFULL, "SER1", "A3")
                       SERIAL(PFULL, "SER1", "C") SERIAL(PFULL, "SER1", "9")
                           SERIAL(PFULL, "SER1", "0"));
}
END_TEST

START_TEST(array_form)
{
    ohp_record rec = tu_record("M1", "SER2", "5");
    rec.serial_controlled = 1;
    ohp_serial sn[] = {{"X9", NULL}, {"X01", "X03"}, {"LOT-A-7", "LOT-A-7"}};
    rec.serials = sn;
    rec.serial_count = 3;
    ohp_params p = params();
    expect_psv(&rec, 1, &p,
               HEADER SERIAL(PFULL, "SER2", "X9") SERIAL(PFULL, "SER2", "X01")
                   SERIAL(PFULL, "SER2", "X02") SERIAL(PFULL, "SER2", "X03")
                       SERIAL(PFULL, "SER2", "LOT-A-7"));
}
END_TEST

START_TEST(range_carries_digits)
{
    ohp_record rec = serial_record("SER1", "3", "A-0999..A-1001");
    ohp_params p = params();
    expect_psv(&rec, 1, &p,
               HEADER SERIAL(PFULL, "SER1", "A-0999") SERIAL(PFULL, "SER1", "A-1000")
                   SERIAL(PFULL, "SER1", "A-1001"));
}
END_TEST

START_TEST(serial_lines_drop_secondary_quantity)
{
    ohp_record rec = serial_record("SER3", "2.000", "A1,A2");
    rec.secondary_quantity = "4.4";
    rec.secondary_uom_code = "KG";
    rec.consigned = 1;
    rec.owning_party_id = "55";
    ohp_params p = params();
    expect_psv(&rec, 1, &p,
               HEADER PFULL "|M1||SER3||FGI|||||Y|A1|1|Ea||KG|Y|55||||" LUD "\n" PFULL
                            "|M1||SER3||FGI|||||Y|A2|1|Ea||KG|Y|55||||" LUD "\n");
}
END_TEST

START_TEST(serial_zero_incremental)
{
    ohp_record recs[2] = {serial_record("SER0", "0", NULL), serial_record("SER9", "0.00", "")};
    ohp_params p = params_incremental();
    run r;
    do_run(&r, recs, 2, &p);
    ck_assert_int_eq(r.rc, OHP_OK);
    ck_assert_str_eq(r.psv, HEADER PINC "|M1||SER0||FGI|||||Y||0|Ea|||N|||||" LUD "\n" PINC
                                        "|M1||SER9||FGI|||||Y||0|Ea|||N|||||" LUD "\n");
    ck_assert_uint_eq(r.sum.serial_lines, 0);
    ck_assert_uint_eq(r.sum.lines_written, 2);
    ck_assert_uint_eq(r.sum.records_published, 2);
    run_free(&r);
}
END_TEST

START_TEST(zero_rows_skipped_in_full_mode)
{
    ohp_record recs[3] = {serial_record("SER0", "0", NULL), tu_record("M1", "I0", "0.000"),
                          tu_record("M1", "I1", "-1")};
    ohp_params p = params();
    run r;
    do_run(&r, recs, 3, &p);
    ck_assert_int_eq(r.rc, OHP_OK);
    ck_assert_str_eq(r.psv, HEADER BASIC(PFULL, "I1", "-1"));
    ck_assert_uint_eq(r.sum.skipped_zero, 2);
    ck_assert_uint_eq(r.sum.records_published, 1);
    ck_assert_uint_eq(r.sum.records_read, 3);
    run_free(&r);
}
END_TEST

/* ---- record errors ---- */

/*
 * Publish good, bad, good under OHP_ON_ERROR_REJECT: the bad record is
 * rejected with `rule` and a message containing `text`, and publishes nothing.
 */
static void expect_rule(ohp_record bad, const ohp_params *pin, int rule, const char *text)
{
    ohp_record recs[3] = {tu_record("M1", "GOOD1", "1"), bad, tu_record("M1", "GOOD2", "2")};
    ohp_params p = pin ? *pin : params();
    p.on_error = OHP_ON_ERROR_REJECT;
    run r;
    do_run(&r, recs, 3, &p);
    ck_assert_msg(r.rc == OHP_OK, "run failed: %d %s", r.rc, r.errmsg);
    ck_assert_uint_eq(r.nrej, 1);
    ck_assert_msg(r.rej[0].rule == rule, "rule %d, want %d (%s)", r.rej[0].rule, rule,
                  r.rej[0].msg);
    ck_assert(r.rej[0].ordinal == 2);
    ck_assert_msg(strstr(r.rej[0].msg, text) != NULL, "message '%s' lacks '%s'", r.rej[0].msg,
                  text);
    ck_assert_msg(strstr(r.rej[0].msg, "record 2") != NULL, "message '%s' lacks the ordinal",
                  r.rej[0].msg);
    const char *prefix = p.publish_from == OHP_TIME_NONE ? PFULL : PINC;
    char want[1024];
    snprintf(
        want, sizeof want,
        "%s%s|M1||GOOD1||FGI|||||N||1|Ea|||N|||||%s\n%s|M1||GOOD2||FGI|||||N||2|Ea|||N|||||%s\n",
        HEADER, prefix, LUD, prefix, LUD);
    ck_assert_str_eq(r.psv, want);
    ck_assert_uint_eq(r.sum.records_rejected, 1);
    ck_assert_uint_eq(r.sum.records_published, 2);
    ck_assert_uint_eq(r.sum.records_read, 3);
    ck_assert_int_eq(r.sum.status, OHP_STATUS_WARNINGS);
    run_free(&r);
}

START_TEST(rule_serial_count)
{
    expect_rule(serial_record("SER1", "4", "A1,A2,A3"), NULL, OHP_RULE_SERIAL_COUNT,
                "serial count 3 does not match quantity 4");
    expect_rule(serial_record("SER1", "2", "A1..A3"), NULL, OHP_RULE_SERIAL_COUNT,
                "serial count 3 does not match quantity 2");
    expect_rule(serial_record("SER1", "1", NULL), NULL, OHP_RULE_SERIAL_COUNT,
                "serial count 0 does not match quantity 1");
}
END_TEST

START_TEST(rule_serial_duplicate)
{
    expect_rule(serial_record("SER1", "3", "A1,B2,A1"), NULL, OHP_RULE_SERIAL_DUPLICATE, "A1");
    expect_rule(serial_record("SER1", "5", "SN0098..SN0101,SN0099"), NULL,
                OHP_RULE_SERIAL_DUPLICATE, "SN0099");
    expect_rule(serial_record("SER1", "6", "SN01..SN03,SN03..SN05"), NULL,
                OHP_RULE_SERIAL_DUPLICATE, "SN03");
    expect_rule(serial_record("SER1", "2", "ABC,ABC"), NULL, OHP_RULE_SERIAL_DUPLICATE, "ABC");
    ohp_record rec = tu_record("M1", "SER2", "2");
    rec.serial_controlled = 1;
    ohp_serial sn[] = {{"X1", NULL}, {"X1", NULL}};
    rec.serials = sn;
    rec.serial_count = 2;
    expect_rule(rec, NULL, OHP_RULE_SERIAL_DUPLICATE, "X1");
    /* Longer lists, out of order (sorted apart) and in order (checked in place). */
    char down[512] = "", up[512] = "";
    for (int i = 40; i >= 1; i--)
        snprintf(down + strlen(down), sizeof down - strlen(down), "S%02d,", i);
    strcat(down, "S17");
    expect_rule(serial_record("SER3", "41", down), NULL, OHP_RULE_SERIAL_DUPLICATE, "S17");
    for (int i = 1; i <= 40; i++)
        snprintf(up + strlen(up), sizeof up - strlen(up), "%sS%02d", i > 1 ? "," : "", i);
    strcat(up, ",S40");
    expect_rule(serial_record("SER3", "41", up), NULL, OHP_RULE_SERIAL_DUPLICATE, "S40");
    up[strlen(up) - 4] = '\0'; /* drop the repeated S40 */
    ohp_record ok = serial_record("SER3", "40", up);
    ohp_params p = params();
    run r;
    do_run(&r, &ok, 1, &p);
    ck_assert_int_eq(r.rc, OHP_OK);
    ck_assert_uint_eq(r.sum.serial_lines, 40);
    run_free(&r);
}
END_TEST

START_TEST(serials_that_only_look_alike)
{
    /* Different widths or prefixes are different serials. */
    ohp_record rec = serial_record("SER1", "4", "SN099,SN0099,sn0099,SN0099X");
    ohp_params p = params();
    expect_psv(&rec, 1, &p,
               HEADER SERIAL(PFULL, "SER1", "SN099") SERIAL(PFULL, "SER1", "SN0099")
                   SERIAL(PFULL, "SER1", "sn0099") SERIAL(PFULL, "SER1", "SN0099X"));
}
END_TEST

START_TEST(rule_serial_not_allowed)
{
    ohp_record rec = tu_record("M1", "NS1", "1");
    rec.serial_list = "A1";
    expect_rule(rec, NULL, OHP_RULE_SERIAL_NOT_ALLOWED, "not serial-controlled");
    ohp_serial sn[] = {{"A1", NULL}};
    rec.serial_list = NULL;
    rec.serials = sn;
    rec.serial_count = 1;
    expect_rule(rec, NULL, OHP_RULE_SERIAL_NOT_ALLOWED, "not serial-controlled");
}
END_TEST

START_TEST(rule_serial_range)
{
    expect_rule(serial_record("SER1", "4", "SN098..SN0101"), NULL, OHP_RULE_SERIAL_RANGE,
                "SN098..SN0101");
    expect_rule(serial_record("SER1", "2", "AB01..AC02"), NULL, OHP_RULE_SERIAL_RANGE,
                "same prefix");
    expect_rule(serial_record("SER1", "2", "ABC..ABD"), NULL, OHP_RULE_SERIAL_RANGE,
                "numeric suffix");
    expect_rule(serial_record("SER1", "4", "SN0101..SN0098"), NULL, OHP_RULE_SERIAL_RANGE,
                "FROM is greater than TO");
    ohp_record rec = tu_record("M1", "SER2", "2");
    rec.serial_controlled = 1;
    ohp_serial sn[] = {{"X01", "Y02"}};
    rec.serials = sn;
    rec.serial_count = 1;
    expect_rule(rec, NULL, OHP_RULE_SERIAL_RANGE, "X01..Y02");
}
END_TEST

START_TEST(rule_serial_quantity)
{
    expect_rule(serial_record("SER1", "2.5", "A1,A2"), NULL, OHP_RULE_SERIAL_QUANTITY,
                "not a whole number");
    expect_rule(serial_record("SER1", "-1", NULL), NULL, OHP_RULE_SERIAL_QUANTITY,
                "not a whole number");
}
END_TEST

START_TEST(rule_required)
{
    static const size_t offs[] = {
        offsetof(ohp_record, organization_code), offsetof(ohp_record, item_number),
        offsetof(ohp_record, subinventory_code), offsetof(ohp_record, primary_quantity),
        offsetof(ohp_record, primary_uom_code),  offsetof(ohp_record, last_update_date)};
    static const char *const names[] = {"ORGANIZATION_CODE", "ITEM_NUMBER",
                                        "SUBINVENTORY_CODE", "PRIMARY_QUANTITY",
                                        "PRIMARY_UOM_CODE",  "LAST_UPDATE_DATE"};
    for (size_t i = 0; i < 6; i++) {
        for (int empty = 0; empty < 2; empty++) {
            ohp_record rec = tu_record("M1", "BAD", "1");
            *(const char **)((char *)&rec + offs[i]) = empty ? "" : NULL;
            expect_rule(rec, NULL, OHP_RULE_REQUIRED, names[i]);
        }
    }
}
END_TEST

START_TEST(rule_quantity)
{
    ohp_record rec = tu_record("M1", "BAD", "1,5");
    expect_rule(rec, NULL, OHP_RULE_QUANTITY, "PRIMARY_QUANTITY '1,5'");
    rec = tu_record("M1", "BAD", "1e3");
    expect_rule(rec, NULL, OHP_RULE_QUANTITY, "PRIMARY_QUANTITY");
    rec = tu_record("M1", "BAD", "1");
    rec.secondary_quantity = "abc";
    rec.secondary_uom_code = "KG";
    expect_rule(rec, NULL, OHP_RULE_QUANTITY, "SECONDARY_QUANTITY 'abc'");
}
END_TEST

START_TEST(rule_date)
{
    ohp_record rec = tu_record("M1", "BAD", "1");
    rec.last_update_date = "2026/02/30";
    expect_rule(rec, NULL, OHP_RULE_DATE, "LAST_UPDATE_DATE '2026/02/30'");
    rec = tu_record("M1", "BAD", "1");
    rec.lot_expiration_date = "2026/13/01";
    expect_rule(rec, NULL, OHP_RULE_DATE, "LOT_EXPIRATION_DATE '2026/13/01'");
    rec = tu_record("M1", "BAD", "1");
    rec.last_update_date = "2026-11-01T08:00:00";
    expect_rule(rec, NULL, OHP_RULE_DATE, "LAST_UPDATE_DATE");
}
END_TEST

START_TEST(rule_id)
{
    static const size_t offs[] = {
        offsetof(ohp_record, organization_id), offsetof(ohp_record, inventory_item_id),
        offsetof(ohp_record, locator_id),      offsetof(ohp_record, owning_party_id),
        offsetof(ohp_record, project_id),      offsetof(ohp_record, task_id)};
    static const char *const names[] = {"ORGANIZATION_ID", "INVENTORY_ITEM_ID", "LOCATOR_ID",
                                        "OWNING_PARTY_ID", "PROJECT_ID",        "TASK_ID"};
    static const char *const bad[] = {"12a", "-1", "1234567890123456789", " 1", "1.0"};
    for (size_t i = 0; i < 6; i++) {
        for (size_t k = 0; k < 5; k++) {
            ohp_record rec = tu_record("M1", "BAD", "1");
            *(const char **)((char *)&rec + offs[i]) = bad[k];
            expect_rule(rec, NULL, OHP_RULE_ID, names[i]);
        }
    }
    /* 18 digits are fine. */
    ohp_record rec = tu_record("M1", "I1", "1");
    rec.organization_id = "123456789012345678";
    ohp_params p = params();
    expect_psv(&rec, 1, &p,
               HEADER PFULL "123456789012345678|M1||I1||FGI|||||N||1|Ea|||N|||||" LUD "\n");
}
END_TEST

START_TEST(rule_utf8)
{
    ohp_record rec = tu_record("M1", "BAD\xff", "1");
    expect_rule(rec, NULL, OHP_RULE_UTF8, "ITEM_NUMBER");
    rec = tu_record("M1", "BAD", "1");
    rec.locator_name = "\xc3\x28";
    expect_rule(rec, NULL, OHP_RULE_UTF8, "LOCATOR_NAME");
    rec = tu_record("M1", "BAD", "1");
    rec.material_status_code = "\xed\xa0\x80"; /* a UTF-16 surrogate */
    expect_rule(rec, NULL, OHP_RULE_UTF8, "MATERIAL_STATUS_CODE");
    rec = tu_record("M1", "BAD", "1");
    rec.lot_number = "\xc0\xaf"; /* overlong '/' */
    expect_rule(rec, NULL, OHP_RULE_UTF8, "LOT_NUMBER");
    expect_rule(serial_record("SER1", "1", "A\xe2\x82"), NULL, OHP_RULE_UTF8, "SERIAL");
    rec = tu_record("M1", "SER2", "1");
    rec.serial_controlled = 1;
    ohp_serial sn[] = {{"\xfe", NULL}};
    rec.serials = sn;
    rec.serial_count = 1;
    expect_rule(rec, NULL, OHP_RULE_UTF8, "SERIAL_NUMBER");
}
END_TEST

START_TEST(rule_uom)
{
    ohp_record rec = tu_record("M1", "BAD", "1");
    rec.secondary_quantity = "2";
    expect_rule(rec, NULL, OHP_RULE_UOM, "SECONDARY_UOM_CODE");
}
END_TEST

START_TEST(rule_limit)
{
    ohp_params p = params();
    p.max_field_length = 20;
    ohp_record rec = tu_record("M1", "ITEM-1234567890123456", "1");
    expect_rule(rec, &p, OHP_RULE_LIMIT, "ITEM_NUMBER");
    /* ids obey the limit too, even ones short enough to be ids */
    p.max_field_length = 10;
    p.on_error = OHP_ON_ERROR_REJECT;
    ohp_record two[2] = {tu_record("M1", "I1", "1"), tu_record("M1", "I2", "1")};
    two[0].last_update_date = two[1].last_update_date = "2026-11-01";
    two[0].inventory_item_id = "1234567890";
    two[1].inventory_item_id = "12345678901";
    run r;
    do_run(&r, two, 2, &p);
    ck_assert_int_eq(r.rc, OHP_OK);
    ck_assert_uint_eq(r.nrej, 1);
    ck_assert_int_eq(r.rej[0].rule, OHP_RULE_LIMIT);
    ck_assert_uint_eq(r.rej[0].ordinal, 2);
    ck_assert_ptr_nonnull(strstr(r.rej[0].msg, "INVENTORY_ITEM_ID"));
    run_free(&r);
    /* the limit comes before the id rule, which comes after UTF-8 */
    p = params();
    rec = tu_record("M1", "I1", "1");
    rec.locator_id = "12\xff";
    expect_rule(rec, &p, OHP_RULE_UTF8, "LOCATOR_ID");
    rec.locator_id = "12a";
    expect_rule(rec, &p, OHP_RULE_ID, "LOCATOR_ID");
    rec.locator_id = "1234567890123456789";
    expect_rule(rec, &p, OHP_RULE_ID, "LOCATOR_ID");
    p = params();
    p.max_serials_per_record = 3;
    expect_rule(serial_record("SER1", "5", "A1..A5"), &p, OHP_RULE_LIMIT, "3");
    expect_rule(serial_record("SER1", "4", "A1..A2,B1..B2"), &p, OHP_RULE_LIMIT, "3");
}
END_TEST

START_TEST(rule_source)
{
    ohp_record rec = tu_record("M1", "BAD", "1");
    rec.source_error = "line 9: cannot read this row";
    expect_rule(rec, NULL, OHP_RULE_SOURCE, "line 9: cannot read this row");
    rec = serial_record("SER1", "2", "A1,A2");
    ohp_serial sn[] = {{"A1", NULL}, {"A2", NULL}};
    rec.serials = sn;
    rec.serial_count = 2;
    expect_rule(rec, NULL, OHP_RULE_SOURCE, "both");
}
END_TEST

START_TEST(rule_in_incremental_mode)
{
    ohp_params p = params_incremental();
    expect_rule(serial_record("SER1", "4", "A1,A2,A3"), &p, OHP_RULE_SERIAL_COUNT,
                "serial count 3 does not match quantity 4");
}
END_TEST

START_TEST(fail_policy)
{
    ohp_record recs[3] = {tu_record("M1", "GOOD1", "1"), serial_record("SER1", "4", "A1,A2,A3"),
                          tu_record("M1", "GOOD2", "1")};
    recs[1].subinventory_code = "STORES";
    recs[1].locator_name = "L-9";
    recs[1].lot_number = "LOT5";
    ohp_params p = params();
    run r;
    do_run(&r, recs, 3, &p);
    ck_assert_int_eq(r.rc, OHP_ERECORD);
    const char *want[] = {"record 2",
                          "organization M1",
                          "item SER1",
                          "STORES",
                          "L-9",
                          "LOT5",
                          "serial count 3 does not match quantity 4"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(r.errmsg, want[i]) != NULL, "message '%s' lacks '%s'", r.errmsg,
                      want[i]);
    ck_assert_int_eq(r.sink.opened, 1);
    ck_assert_int_eq(r.sink.closes, 1);
    ck_assert_int_eq(r.sink.aborted, 1);
    ck_assert_int_eq(r.sink.committed, 0);
    ck_assert_int_eq(r.src.closed, 1);
    ck_assert_int_eq(r.sum.status, OHP_STATUS_FAILED);
    ck_assert_int_eq(r.sum.error, OHP_ERECORD);
    ck_assert_uint_eq(r.nrej, 0);
    run_free(&r);
}
END_TEST

/* ---- filtering ---- */

static void filter_run(int items, const char *want, uint64_t published, uint64_t skip_org,
                       uint64_t skip_type, uint64_t serial_lines)
{
    ohp_record recs[5] = {tu_record("M1", "N1", "1"), tu_record("M2", "N2", "2"),
                          serial_record("S1", "2", "A1,A2"), serial_record("S2", "1", "B1"),
                          tu_record("M1", "N3", "3")};
    recs[3].organization_code = "M2";
    ohp_params p = params();
    p.items = items;
    run r;
    do_run(&r, recs, 5, &p);
    ck_assert_int_eq(r.rc, OHP_OK);
    ck_assert_str_eq(r.psv, want);
    ck_assert_uint_eq(r.sum.records_read, 5);
    ck_assert_uint_eq(r.sum.records_published, published);
    ck_assert_uint_eq(r.sum.skipped_organization, skip_org);
    ck_assert_uint_eq(r.sum.skipped_item_type, skip_type);
    ck_assert_uint_eq(r.sum.serial_lines, serial_lines);
    ck_assert_int_eq(r.src.query.items, items);
    ck_assert_str_eq(r.src.query.organization_code, "M1");
    run_free(&r);
}

START_TEST(filter_both)
{
    filter_run(OHP_ITEMS_BOTH,
               HEADER BASIC(PFULL, "N1", "1") SERIAL(PFULL, "S1", "A1") SERIAL(PFULL, "S1", "A2")
                   BASIC(PFULL, "N3", "3"),
               3, 2, 0, 2);
}
END_TEST

START_TEST(filter_serial)
{
    filter_run(OHP_ITEMS_SERIAL, HEADER SERIAL(PFULL, "S1", "A1") SERIAL(PFULL, "S1", "A2"), 1, 2,
               2, 2);
}
END_TEST

START_TEST(filter_nonserial)
{
    filter_run(OHP_ITEMS_NONSERIAL, HEADER BASIC(PFULL, "N1", "1") BASIC(PFULL, "N3", "3"), 2, 2, 1,
               0);
}
END_TEST

START_TEST(filtered_records_are_not_checked)
{
    /* A broken record of another organization is skipped, not rejected. */
    ohp_record recs[2] = {serial_record("S1", "4", "A1"), tu_record("M1", "N1", "1")};
    recs[0].organization_code = "M2";
    ohp_params p = params();
    run r;
    do_run(&r, recs, 2, &p);
    ck_assert_int_eq(r.rc, OHP_OK);
    ck_assert_str_eq(r.psv, HEADER BASIC(PFULL, "N1", "1"));
    ck_assert_uint_eq(r.sum.skipped_organization, 1);
    ck_assert_uint_eq(r.sum.records_rejected, 0);
    run_free(&r);
}
END_TEST

static Suite *records_suite(void)
{
    Suite *s = suite_create("records");
    TCase *tc = tcase_create("encoding");
    tcase_add_test(tc, every_column);
    tcase_add_test(tc, header_has_26_columns);
    tcase_add_test(tc, absent_values_and_defaults);
    tcase_add_test(tc, quoting);
    tcase_add_test(tc, quoting_serials);
    tcase_add_test(tc, canonical_quantities);
    tcase_add_test(tc, dates_in_utc);
    tcase_add_test(tc, dates_in_layout_form);
    tcase_add_test(tc, source_order_kept);
    suite_add_tcase(s, tc);

    TCase *ts = tcase_create("serials");
    tcase_add_test(ts, range_keeps_width);
    tcase_add_test(ts, list_order_as_given);
    tcase_add_test(ts, array_form);
    tcase_add_test(ts, range_carries_digits);
    tcase_add_test(ts, serial_lines_drop_secondary_quantity);
    tcase_add_test(ts, serial_zero_incremental);
    tcase_add_test(ts, zero_rows_skipped_in_full_mode);
    tcase_add_test(ts, serials_that_only_look_alike);
    suite_add_tcase(s, ts);

    TCase *tr = tcase_create("rules");
    tcase_add_test(tr, rule_serial_count);
    tcase_add_test(tr, rule_serial_duplicate);
    tcase_add_test(tr, rule_serial_not_allowed);
    tcase_add_test(tr, rule_serial_range);
    tcase_add_test(tr, rule_serial_quantity);
    tcase_add_test(tr, rule_required);
    tcase_add_test(tr, rule_quantity);
    tcase_add_test(tr, rule_date);
    tcase_add_test(tr, rule_id);
    tcase_add_test(tr, rule_utf8);
    tcase_add_test(tr, rule_uom);
    tcase_add_test(tr, rule_limit);
    tcase_add_test(tr, rule_source);
    tcase_add_test(tr, rule_in_incremental_mode);
    tcase_add_test(tr, fail_policy);
    suite_add_tcase(s, tr);

    TCase *tf = tcase_create("filters");
    tcase_add_test(tf, filter_both);
    tcase_add_test(tf, filter_serial);
    tcase_add_test(tf, filter_nonserial);
    tcase_add_test(tf, filtered_records_are_not_checked);
    suite_add_tcase(s, tf);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(records_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
