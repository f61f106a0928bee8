/* The manifest in the archive comment: written by the job, checked by the snapshot reader. */
#include <check.h>
#include <onhandpub.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "testutil.h"

/* Three records: a serial item of two serials, and two units of measure. */
static ohp_record recs[3];

static void make_records(void)
{
    recs[0] = tu_record("M1", "BOLT", "12.50");
    recs[1] = tu_record("M1", "ROPE", "3");
    recs[1].primary_uom_code = "M\"x";
    recs[2] = tu_record("M1", "LAPTOP", "2");
    recs[2].serial_controlled = 1;
    recs[2].serial_list = "SN1,SN2";
}

static ohp_params params(int items, int omit)
{
    ohp_params p;
    ck_assert_int_eq(ohp_params_init(&p, OHP_PARAMS_VERSION), OHP_OK);
    p.organization_code = "M1";
    p.full_publish = 1;
    p.items = items;
    p.snapshot_date = tu_date("2026/06/30 12:00:00");
    p.run_id = 7;
    p.user = "tester";
    p.caller_authorized = 1;
    p.omit_manifest = omit;
    return p;
}

/* Publish recs[0..n) into sink; returns the summary's CRC and PSV size. */
static void publish(tu_sink *sink, const ohp_record *r, size_t n, int items, int omit,
                    uint32_t *crc, uint64_t *psv)
{
    ohp_job *job;
    ck_assert_int_eq(ohp_job_new(&job, NULL), OHP_OK);
    tu_source src = {r, n, 0, 0, 0, 0, 0, 0, {0}};
    tu_use_source(job, &src);
    tu_use_sink(job, sink);
    ohp_params p = params(items, omit);
    ck_assert_msg(ohp_job_run(job, &p) == OHP_OK, "%s", ohp_job_errmsg(job));
    if (crc)
        *crc = ohp_job_summary(job)->crc32;
    if (psv)
        *psv = ohp_job_summary(job)->psv_bytes;
    ohp_job_free(job);
}

/* The archive comment of a ZIP in memory (NUL-terminated copy), or NULL when it has none. */
static char *comment_of(const unsigned char *z, size_t len)
{
    for (size_t i = len - 22 + 1; i-- > 0;) {
        if (z[i] == 'P' && z[i + 1] == 'K' && z[i + 2] == 5 && z[i + 3] == 6) {
            size_t clen = (size_t)z[i + 20] | (size_t)z[i + 21] << 8;
            if (i + 22 + clen != len)
                continue;
            if (clen == 0)
                return NULL;
            char *c = malloc(clen + 1);
            memcpy(c, z + i + 22, clen);
            c[clen] = '\0';
            return c;
        }
    }
    ck_abort_msg("no end record");
    return NULL;
}

START_TEST(test_manifest_written)
{
    make_records();
    tu_sink sink = {0};
    uint32_t crc;
    uint64_t psv;
    publish(&sink, recs, 3, OHP_ITEMS_BOTH, 0, &crc, &psv);
    char *c = comment_of(sink.data, sink.len);
    ck_assert_ptr_nonnull(c);
    char want[1024];
    snprintf(want, sizeof want,
             "{\"onhandpub_manifest\":\"1.0\",\"layout\":1,\"external_system\":\"0\","
             "\"organization\":\"M1\",\"run_id\":7,\"mode\":\"FULL\",\"items\":\"both\","
             "\"window_start\":null,\"snapshot_date\":\"2026/06/30 12:00:00\",\"data_lines\":4,"
             "\"serial_lines\":2,\"psv_bytes\":%llu,\"crc32\":\"%08lx\",\"totals\":{\"Ea\":"
             "\"14.5\",\"M\\\"x\":\"3\"},\"library\":\"%s\"}",
             (unsigned long long)psv, (unsigned long)crc, ohp_version());
    ck_assert_str_eq(c, want);
    /* the entry is still the only one, and whole */
    char *data, name[256];
    size_t dlen;
    ck_assert_int_eq(tu_unzip_single(sink.data, sink.len, &data, &dlen, name, sizeof name), 0);
    ck_assert_uint_eq(dlen, psv);
    free(data);
    free(c);
    tu_sink_free(&sink);
}
END_TEST

START_TEST(test_manifest_deterministic_and_omitted)
{
    make_records();
    tu_sink a = {0}, b = {0}, c = {0};
    publish(&a, recs, 3, OHP_ITEMS_BOTH, 0, NULL, NULL);
    publish(&b, recs, 3, OHP_ITEMS_BOTH, 0, NULL, NULL);
    ck_assert_uint_eq(a.len, b.len);
    ck_assert_int_eq(memcmp(a.data, b.data, a.len), 0);
    publish(&c, recs, 3, OHP_ITEMS_BOTH, 1, NULL, NULL);
    ck_assert_ptr_null(comment_of(c.data, c.len));
    ck_assert_uint_lt(c.len, a.len);
    tu_sink_free(&a);
    tu_sink_free(&b);
    tu_sink_free(&c);
}
END_TEST

START_TEST(test_manifest_items_serial)
{
    make_records();
    tu_sink sink = {0};
    publish(&sink, recs, 3, OHP_ITEMS_SERIAL, 0, NULL, NULL);
    char *c = comment_of(sink.data, sink.len);
    ck_assert_ptr_nonnull(strstr(c, "\"items\":\"serial\""));
    ck_assert_ptr_nonnull(strstr(c, "\"data_lines\":2,\"serial_lines\":2,"));
    ck_assert_ptr_nonnull(strstr(c, "\"totals\":{\"Ea\":\"2\"}"));
    free(c);
    tu_sink_free(&sink);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("manifest");
    TCase *tc = tcase_create("writer");
    tcase_add_test(tc, test_manifest_written);
    tcase_add_test(tc, test_manifest_deterministic_and_omitted);
    tcase_add_test(tc, test_manifest_items_serial);
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
