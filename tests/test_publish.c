/* Publish round trips: names, compression levels, determinism, summary, memory sink. */
#include <check.h>
#include <onhandpub.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <unzip.h>
#include <zlib.h>

#include "testutil.h"

#define HEADER TU_HEADER_V1

static ohp_params params(void)
{
    ohp_params p;
    ck_assert_int_eq(ohp_params_init(&p, OHP_PARAMS_VERSION), OHP_OK);
    p.organization_code = "M1";
    p.snapshot_date = tu_date("2026/11/02 06:07:08");
    p.run_id = 42;
    p.user = "tester";
    p.caller_authorized = 1;
    return p;
}

/* ---- a generated source: n records, some serial-controlled ---- */

typedef struct gen {
    size_t n, next;
    char item[32], qty[32], lot[32], serials[64];
} gen;

static int gen_next(void *ud, ohp_record *rec)
{
    gen *g = ud;
    if (g->next >= g->n)
        return 0;
    size_t i = g->next++;
    snprintf(g->item, sizeof g->item, "ITEM-%06zu", i);
    rec->organization_code = "M1";
    rec->item_number = g->item;
    rec->subinventory_code = i % 3 ? "FGI" : "RAW|MAT";
    rec->primary_uom_code = "Ea";
    rec->last_update_date = "2026/11/01 08:00:00";
    if (i % 10 == 9) {
        rec->serial_controlled = 1;
        snprintf(g->serials, sizeof g->serials, "S%zu-01..S%zu-03", i, i);
        rec->serial_list = g->serials;
        rec->primary_quantity = "3";
    } else {
        snprintf(g->qty, sizeof g->qty, "%zu.%03zu", i, i % 1000);
        rec->primary_quantity = g->qty;
        snprintf(g->lot, sizeof g->lot, "LOT%zu", i % 97);
        rec->lot_number = g->lot;
    }
    return 1;
}

/* The PSV gen_next's records must produce, canonical quantities and all. */
static char *gen_expected(size_t n, const char *prefix, size_t *len)
{
    size_t cap = 1024 + n * 400, used = 0;
    char *s = malloc(cap);
    ck_assert_ptr_nonnull(s);
    used += (size_t)snprintf(s, cap, "%s", HEADER);
    for (size_t i = 0; i < n; i++) {
        const char *sub = i % 3 ? "FGI" : "\"RAW|MAT\"";
        if (i % 10 == 9) {
            for (int k = 1; k <= 3; k++)
                used += (size_t)snprintf(s + used, cap - used,
                                         "%s|M1||ITEM-%06zu||%s|||||Y|S%zu-%02d|1|Ea|||N|||||"
                                         "2026/11/01 08:00:00\n",
                                         prefix, i, sub, i, k);
            continue;
        }
        char qty[32];
        size_t frac = i % 1000;
        if (frac == 0)
            snprintf(qty, sizeof qty, "%zu", i);
        else {
            snprintf(qty, sizeof qty, "%zu.%03zu", i, frac);
            size_t l = strlen(qty);
            while (qty[l - 1] == '0')
                qty[--l] = '\0';
        }
        if (i == 0)
            continue; /* quantity 0: skipped in full mode */
        used += (size_t)snprintf(s + used, cap - used,
                                 "%s|M1||ITEM-%06zu||%s|||LOT%zu||N||%s|Ea|||N|||||"
                                 "2026/11/01 08:00:00\n",
                                 prefix, i, sub, i % 97, qty);
    }
    *len = used;
    return s;
}

typedef struct result {
    int rc;
    char errmsg[600];
    ohp_summary sum;
    char file_name[256];
    char entry_name[256];
    tu_sink sink;
    char *psv;
    size_t psv_len;
    char unzipped_name[256];
} result;

static void publish_gen(result *r, size_t n, const ohp_params *p)
{
    memset(r, 0, sizeof *r);
    gen g = {.n = n};
    ohp_job *job;
    ck_assert_int_eq(ohp_job_new(&job, NULL), OHP_OK);
    ck_assert_int_eq(ohp_job_set_source(job, NULL, gen_next, NULL, &g), OHP_OK);
    tu_use_sink(job, &r->sink);
    r->rc = ohp_job_run(job, p);
    snprintf(r->errmsg, sizeof r->errmsg, "%s", ohp_job_errmsg(job));
    r->sum = *ohp_job_summary(job);
    snprintf(r->file_name, sizeof r->file_name, "%s", r->sum.file_name);
    snprintf(r->entry_name, sizeof r->entry_name, "%s", r->sum.entry_name);
    r->sum.system_code = r->sum.organization_code = r->sum.file_name = r->sum.entry_name = NULL;
    ohp_job_free(job);
    if (r->rc == OHP_OK)
        ck_assert_int_eq(tu_unzip_single(r->sink.data, r->sink.len, &r->psv, &r->psv_len,
                                         r->unzipped_name, sizeof r->unzipped_name),
                         0);
}

static void result_free(result *r)
{
    free(r->psv);
    tu_sink_free(&r->sink);
}

#define PREFIX "0|42|FULL|2026/11/02 06:07:08|"

/* ---- ZIP details read with minizip ---- */

typedef struct zinfo {
    unsigned long method, flag, version_needed;
    unsigned year, mon, mday, hour, min, sec;
    uint64_t usize, csize;
    unsigned long crc;
} zinfo;

static void zip_info(const void *buf, size_t len, zinfo *zi)
{
    char *path = tu_write_temp(buf, len, ".zip");
    ck_assert_ptr_nonnull(path);
    unzFile uf = unzOpen64(path);
    ck_assert_ptr_nonnull(uf);
    ck_assert_int_eq(unzGoToFirstFile(uf), UNZ_OK);
    unz_file_info64 fi;
    ck_assert_int_eq(unzGetCurrentFileInfo64(uf, &fi, NULL, 0, NULL, 0, NULL, 0), UNZ_OK);
    zi->method = fi.compression_method;
    zi->flag = fi.flag;
    zi->version_needed = fi.version_needed;
    zi->year = fi.tmu_date.tm_year;
    zi->mon = fi.tmu_date.tm_mon + 1;
    zi->mday = fi.tmu_date.tm_mday;
    zi->hour = fi.tmu_date.tm_hour;
    zi->min = fi.tmu_date.tm_min;
    zi->sec = fi.tmu_date.tm_sec;
    zi->usize = fi.uncompressed_size;
    zi->csize = fi.compressed_size;
    zi->crc = fi.crc;
    unzClose(uf);
    unlink(path);
    free(path);
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- tests ---- */

START_TEST(names)
{
    ohp_registry *reg;
    ck_assert_int_eq(ohp_registry_new(&reg, NULL), OHP_OK);
    ohp_lookup_value v = OHP_LOOKUP_VALUE_INIT;
    v.code = "12";
    v.meaning = "Acme";
    ck_assert_int_eq(ohp_registry_add(reg, &v), OHP_OK);
    ohp_job *job;
    ck_assert_int_eq(ohp_job_new(&job, NULL), OHP_OK);
    ck_assert_int_eq(ohp_job_set_registry(job, reg), OHP_OK);
    const char *org = "M1/Ost \xc3\xbc.x-y_z";
    ohp_record rec = tu_record(org, "I1", "1");
    tu_source src = {.records = &rec, .count = 1};
    tu_sink sink = {0};
    tu_use_source(job, &src);
    tu_use_sink(job, &sink);
    ohp_params p = params();
    p.system_code = "12";
    p.organization_code = org;
    ck_assert_int_eq(ohp_job_run(job, &p), OHP_OK);
    const char *base = "ONHAND_12_M1_Ost___x-y_z_42_20261102060708";
    char want[128];
    snprintf(want, sizeof want, "%s.zip", base);
    ck_assert_str_eq(sink.name, want);
    ck_assert_str_eq(ohp_job_summary(job)->file_name, want);
    snprintf(want, sizeof want, "%s.psv", base);
    ck_assert_str_eq(ohp_job_summary(job)->entry_name, want);
    char *psv;
    size_t len;
    char entry[256];
    ck_assert_int_eq(tu_unzip_single(sink.data, sink.len, &psv, &len, entry, sizeof entry), 0);
    ck_assert_str_eq(entry, want);
    ck_assert_str_eq(psv, HEADER "12|42|FULL|2026/11/02 06:07:08||M1/Ost \xc3\xbc.x-y_z||I1||FGI|||"
                                 "||N||1|Ea|||N|||||2026/11/01 08:00:00\n");
    free(psv);
    ohp_job_free(job);
    ohp_registry_free(reg);
    tu_sink_free(&sink);
}
END_TEST

START_TEST(default_system_is_oracle_wms)
{
    ohp_params p = params();
    result r;
    publish_gen(&r, 2, &p);
    ck_assert_int_eq(r.rc, OHP_OK);
    ck_assert_str_eq(r.file_name, "ONHAND_0_M1_42_20261102060708.zip");
    ck_assert_str_eq(r.unzipped_name, "ONHAND_0_M1_42_20261102060708.psv");
    ck_assert_str_eq(r.psv, HEADER PREFIX "|M1||ITEM-000001||FGI|||LOT1||N||1.001|Ea|||N|||||"
                                          "2026/11/01 08:00:00\n");
    result_free(&r);
}
END_TEST

static void check_level(int level, size_t n)
{
    ohp_params p = params();
    p.compression_level = level;
    result r;
    publish_gen(&r, n, &p);
    ck_assert_msg(r.rc == OHP_OK, "level %d: %d %s", level, r.rc, r.errmsg);
    size_t want_len;
    char *want = gen_expected(n, PREFIX, &want_len);
    ck_assert_uint_eq(r.psv_len, want_len);
    ck_assert_msg(memcmp(r.psv, want, want_len) == 0, "level %d: content differs", level);
    /* The summary agrees with the archive. */
    ck_assert_uint_eq(r.sum.psv_bytes, want_len);
    ck_assert_uint_eq(r.sum.crc32, (uint32_t)crc32(0, (const Bytef *)want, (uInt)want_len));
    ck_assert_uint_eq(r.sum.zip_bytes, r.sink.len);
    zinfo zi;
    zip_info(r.sink.data, r.sink.len, &zi);
    ck_assert_uint_eq(zi.method, level == 0 ? 0 : 8);
    ck_assert_uint_eq(zi.usize, want_len);
    ck_assert_uint_eq(zi.csize, r.sum.compressed_bytes);
    ck_assert_uint_eq(zi.crc, r.sum.crc32);
    if (level == 0)
        ck_assert_uint_eq(r.sum.compressed_bytes, want_len);
    else if (n > 100)
        ck_assert_uint_lt(r.sum.compressed_bytes, want_len / 2);
    /* Streamed: the local header defers sizes and CRC to a data descriptor. */
    ck_assert_uint_eq(zi.flag & 8, 8);
    ck_assert_uint_eq(le32(r.sink.data), 0x04034b50u);
    /* Entry time is the snapshot time. */
    ck_assert_uint_eq(zi.year, 2026);
    ck_assert_uint_eq(zi.mon, 11);
    ck_assert_uint_eq(zi.mday, 2);
    ck_assert_uint_eq(zi.hour, 6);
    ck_assert_uint_eq(zi.min, 7);
    ck_assert_uint_eq(zi.sec, 8);
    free(want);
    result_free(&r);
}

START_TEST(level_0_stored)
{
    check_level(0, 3000);
}
END_TEST

START_TEST(level_1)
{
    check_level(1, 3000);
}
END_TEST

START_TEST(level_6)
{
    check_level(6, 3000);
}
END_TEST

START_TEST(level_9)
{
    check_level(9, 3000);
}
END_TEST

START_TEST(level_default)
{
    check_level(-1, 50);
    ohp_params p = params();
    result a, b;
    publish_gen(&a, 500, &p);
    p.compression_level = 6;
    publish_gen(&b, 500, &p);
    ck_assert_int_eq(a.rc, OHP_OK);
    ck_assert_int_eq(b.rc, OHP_OK);
    ck_assert_uint_eq(a.sink.len, b.sink.len);
    ck_assert_int_eq(memcmp(a.sink.data, b.sink.data, a.sink.len), 0);
    result_free(&a);
    result_free(&b);
}
END_TEST

START_TEST(level_refused)
{
    ohp_params p = params();
    p.compression_level = 10;
    result r;
    publish_gen(&r, 1, &p);
    ck_assert_int_eq(r.rc, OHP_EINVAL);
    ck_assert_int_eq(r.sink.opened, 0);
    result_free(&r);
}
END_TEST

START_TEST(many_records_cross_buffers)
{
    /* Several megabytes: many flushes of every internal buffer. */
    check_level(1, 60000);
    check_level(0, 60000);
}
END_TEST

START_TEST(byte_identical)
{
    ohp_params p = params();
    result a, b;
    publish_gen(&a, 2000, &p);
    publish_gen(&b, 2000, &p);
    ck_assert_int_eq(a.rc, OHP_OK);
    ck_assert_int_eq(b.rc, OHP_OK);
    ck_assert_uint_eq(a.sink.len, b.sink.len);
    ck_assert_int_eq(memcmp(a.sink.data, b.sink.data, a.sink.len), 0);
    /* A different run id changes the bytes. */
    p.run_id = 43;
    result c;
    publish_gen(&c, 2000, &p);
    ck_assert_int_eq(c.rc, OHP_OK);
    ck_assert(c.sink.len != a.sink.len || memcmp(a.sink.data, c.sink.data, a.sink.len) != 0);
    result_free(&a);
    result_free(&b);
    result_free(&c);
}
END_TEST

START_TEST(byte_identical_same_job)
{
    ohp_record recs[2] = {tu_record("M1", "I1", "1.50"), tu_record("M1", "I2", "2")};
    ohp_job *job;
    ck_assert_int_eq(ohp_job_new(&job, NULL), OHP_OK);
    tu_source src = {.records = recs, .count = 2};
    tu_use_source(job, &src);
    tu_sink s1 = {0}, s2 = {0};
    ohp_params p = params();
    tu_use_sink(job, &s1);
    ck_assert_int_eq(ohp_job_run(job, &p), OHP_OK);
    tu_use_sink(job, &s2);
    ck_assert_int_eq(ohp_job_run(job, &p), OHP_OK);
    ck_assert_uint_eq(s1.len, s2.len);
    ck_assert_int_eq(memcmp(s1.data, s2.data, s1.len), 0);
    ohp_job_free(job);
    tu_sink_free(&s1);
    tu_sink_free(&s2);
}
END_TEST

START_TEST(summary_counts)
{
    ohp_params p = params();
    result r;
    publish_gen(&r, 100, &p);
    ck_assert_int_eq(r.rc, OHP_OK);
    ck_assert_int_eq(r.sum.status, OHP_STATUS_SUCCEEDED);
    ck_assert_int_eq(r.sum.error, OHP_OK);
    ck_assert_uint_eq(r.sum.records_read, 100);
    ck_assert_uint_eq(r.sum.skipped_zero, 1);
    ck_assert_uint_eq(r.sum.records_published, 99);
    ck_assert_uint_eq(r.sum.serial_lines, 30);
    ck_assert_uint_eq(r.sum.lines_written, 89 + 30);
    ck_assert_int_eq(r.sum.mode, OHP_MODE_FULL);
    ck_assert(r.sum.run_id == 42);
    ck_assert(r.sum.snapshot_date == tu_date("2026/11/02 06:07:08"));
    size_t lines = 0;
    for (size_t i = 0; i < r.psv_len; i++)
        lines += r.psv[i] == '\n';
    ck_assert_uint_eq(lines, 1 + 89 + 30);
    result_free(&r);
}
END_TEST

START_TEST(memsink_round_trip)
{
    ohp_memsink *ms;
    ck_assert_int_eq(ohp_memsink_new(&ms, NULL), OHP_OK);
    ck_assert_int_eq(ohp_memsink_committed(ms), 0);
    size_t len = 1;
    ck_assert_ptr_null(ohp_memsink_data(ms, &len));
    ck_assert_uint_eq(len, 0);
    ohp_job *job;
    ck_assert_int_eq(ohp_job_new(&job, NULL), OHP_OK);
    ck_assert_int_eq(ohp_job_set_memsink(job, ms), OHP_OK);
    ohp_record recs[2] = {tu_record("M1", "I1", "2.50"), tu_record("M1", "I2", "x")};
    tu_source src = {.records = recs, .count = 1};
    tu_use_source(job, &src);
    ohp_params p = params();
    ck_assert_int_eq(ohp_job_run(job, &p), OHP_OK);
    ck_assert_int_ne(ohp_memsink_committed(ms), 0);
    ck_assert_str_eq(ohp_memsink_file_name(ms), "ONHAND_0_M1_42_20261102060708.zip");
    const void *data = ohp_memsink_data(ms, &len);
    ck_assert_ptr_nonnull(data);
    ck_assert_uint_eq(len, ohp_job_summary(job)->zip_bytes);
    char *psv;
    size_t plen;
    ck_assert_int_eq(tu_unzip_single(data, len, &psv, &plen, NULL, 0), 0);
    ck_assert_str_eq(psv, HEADER PREFIX "|M1||I1||FGI|||||N||2.5|Ea|||N|||||2026/11/01 08:00:00\n");
    free(psv);
    /* A failed run leaves nothing committed. */
    src.count = 2;
    ck_assert_int_eq(ohp_job_run(job, &p), OHP_ERECORD);
    ck_assert_int_eq(ohp_memsink_committed(ms), 0);
    ck_assert_ptr_null(ohp_memsink_data(ms, &len));
    ck_assert_ptr_null(ohp_memsink_file_name(ms));
    ohp_job_free(job);
    ohp_memsink_free(ms);
}
END_TEST

START_TEST(empty_snapshot)
{
    ohp_params p = params();
    result r;
    publish_gen(&r, 0, &p);
    ck_assert_int_eq(r.rc, OHP_OK);
    ck_assert_str_eq(r.psv, HEADER);
    ck_assert_uint_eq(r.sum.lines_written, 0);
    ck_assert_uint_eq(r.sum.psv_bytes, strlen(HEADER));
    result_free(&r);
}
END_TEST

static Suite *publish_suite(void)
{
    Suite *s = suite_create("publish");
    TCase *tc = tcase_create("round trip");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, names);
    tcase_add_test(tc, default_system_is_oracle_wms);
    tcase_add_test(tc, level_0_stored);
    tcase_add_test(tc, level_1);
    tcase_add_test(tc, level_6);
    tcase_add_test(tc, level_9);
    tcase_add_test(tc, level_default);
    tcase_add_test(tc, level_refused);
    tcase_add_test(tc, many_records_cross_buffers);
    tcase_add_test(tc, byte_identical);
    tcase_add_test(tc, byte_identical_same_job);
    tcase_add_test(tc, summary_counts);
    tcase_add_test(tc, memsink_round_trip);
    tcase_add_test(tc, empty_snapshot);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(publish_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
