/* The manifest in the archive comment: written by the job, checked by the snapshot reader. */
#include <check.h>
#include <onhandpub.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <zip.h>
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

START_TEST(test_manifest_too_large_fails_clearly)
{
    /* 3000 units of 24-character codes: the totals alone pass the comment's 65535 bytes */
    enum { N = 3000 };
    ohp_record *r = calloc(N, sizeof *r);
    char(*codes)[32] = calloc(N, sizeof *codes);
    for (size_t i = 0; i < N; i++) {
        snprintf(codes[i], sizeof codes[i], "UNIT-OF-MEASURE-%08zu", i);
        r[i] = tu_record("M1", "ITEM", "1");
        r[i].primary_uom_code = codes[i];
    }
    ohp_job *job;
    ck_assert_int_eq(ohp_job_new(&job, NULL), OHP_OK);
    tu_source src = {r, N, 0, 0, 0, 0, 0, 0, {0}};
    tu_use_source(job, &src);
    tu_sink sink = {0};
    tu_use_sink(job, &sink);
    ohp_params p = params(OHP_ITEMS_BOTH, 0);
    ck_assert_int_eq(ohp_job_run(job, &p), OHP_ELIMIT);
    ck_assert_ptr_nonnull(strstr(ohp_job_errmsg(job), "the manifest would not fit"));
    ck_assert_int_eq(sink.committed, 0);
    /* without the manifest the same run publishes */
    p.omit_manifest = 1;
    src.next = 0;
    ck_assert_int_eq(ohp_job_run(job, &p), OHP_OK);
    ck_assert_int_eq(sink.committed, 1);
    ohp_job_free(job);
    tu_sink_free(&sink);
    free(codes);
    free(r);
}
END_TEST

/* ---- the reader ---- */

/* A one-entry ZIP of psv (len bytes) named name, with comment (NULL: none), written by minizip. */
static unsigned char *make_zip(const char *psv, size_t len, const char *name, const char *comment,
                               size_t *zlen)
{
    char *path = tu_write_temp("", 0, ".zip");
    zipFile zf = zipOpen64(path, APPEND_STATUS_CREATE);
    ck_assert_ptr_nonnull(zf);
    zip_fileinfo fi;
    memset(&fi, 0, sizeof fi);
    ck_assert_int_eq(zipOpenNewFileInZip64(zf, name, &fi, NULL, 0, NULL, 0, NULL, Z_DEFLATED, 6, 0),
                     ZIP_OK);
    ck_assert_int_eq(zipWriteInFileInZip(zf, psv, (unsigned)len), ZIP_OK);
    ck_assert_int_eq(zipCloseFileInZip(zf), ZIP_OK);
    ck_assert_int_eq(zipClose(zf, comment), ZIP_OK);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    unlink(path);
    free(path);
    *zlen = (size_t)n;
    return buf;
}

/* Read every line of a ZIP in memory; the final return code (0 at a clean end), message in msg. */
static int read_all(const unsigned char *z, size_t len, uint64_t *lines, char *msg, size_t size)
{
    ohp_snapshot_reader *r;
    ck_assert_int_eq(ohp_snapshot_reader_open_memory(&r, z, len, NULL), OHP_OK);
    const ohp_snapshot_record *rec;
    int rc;
    uint64_t n = 0;
    while ((rc = ohp_snapshot_reader_next(r, &rec)) == 1)
        n++;
    snprintf(msg, size, "%s", ohp_snapshot_reader_errmsg(r));
    ohp_snapshot_reader_free(r);
    if (lines)
        *lines = n;
    return rc;
}

/* The published sample: ZIP, its entry (malloc'd), the entry's name and the manifest. */
typedef struct sample {
    tu_sink sink;
    char *psv;
    size_t psv_len;
    char name[256];
    char *manifest;
} sample;

static void sample_publish(sample *s)
{
    make_records();
    memset(s, 0, sizeof *s);
    publish(&s->sink, recs, 3, OHP_ITEMS_BOTH, 0, NULL, NULL);
    ck_assert_int_eq(
        tu_unzip_single(s->sink.data, s->sink.len, &s->psv, &s->psv_len, s->name, sizeof s->name),
        0);
    s->manifest = comment_of(s->sink.data, s->sink.len);
}

static void sample_free(sample *s)
{
    free(s->psv);
    free(s->manifest);
    tu_sink_free(&s->sink);
}

/* The manifest with one field's text replaced (from -> to). */
static char *edited(const char *m, const char *from, const char *to)
{
    const char *at = strstr(m, from);
    ck_assert_ptr_nonnull(at);
    char *out = malloc(strlen(m) + strlen(to) + 1);
    size_t pre = (size_t)(at - m);
    memcpy(out, m, pre);
    strcpy(out + pre, to);
    strcat(out, at + strlen(from));
    return out;
}

START_TEST(test_reader_round_trip)
{
    sample s;
    sample_publish(&s);
    ohp_snapshot_reader *r;
    ck_assert_int_eq(ohp_snapshot_reader_open_memory(&r, s.sink.data, s.sink.len, NULL), OHP_OK);
    ohp_manifest m;
    memset(&m, 0, sizeof m);
    m.version = OHP_MANIFEST_STRUCT_VERSION;
    ck_assert_int_eq(ohp_snapshot_reader_manifest(r, &m), OHP_OK);
    ck_assert_int_eq(m.present, 1);
    ck_assert_uint_eq(m.format_major, 1);
    ck_assert_str_eq(m.organization_code, "M1");
    ck_assert_str_eq(m.external_system_code, "0");
    ck_assert_uint_eq(m.run_id, 7);
    ck_assert_int_eq(m.mode, OHP_MODE_FULL);
    ck_assert_int_eq(m.items, OHP_ITEMS_BOTH);
    ck_assert_int_eq(m.window_start, OHP_TIME_NONE);
    ck_assert_uint_eq(m.data_lines, 4);
    ck_assert_uint_eq(m.serial_lines, 2);
    ck_assert_uint_eq(m.psv_bytes, s.psv_len);
    ck_assert_uint_eq(m.uom_total_count, 2);
    ck_assert_str_eq(m.text, s.manifest);
    const char *u, *tot;
    ck_assert_int_eq(ohp_snapshot_reader_manifest_total(r, 1, &u, &tot), OHP_OK);
    ck_assert_str_eq(u, "M\"x");
    ck_assert_str_eq(tot, "3");
    ck_assert_int_eq(ohp_snapshot_reader_manifest_total(r, 2, &u, &tot), OHP_EINVAL);
    const ohp_snapshot_record *rec;
    int n = 0, rc;
    while ((rc = ohp_snapshot_reader_next(r, &rec)) == 1)
        n++;
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(n, 4);
    ohp_snapshot_reader_free(r);
    sample_free(&s);
}
END_TEST

START_TEST(test_reader_catches_a_removed_line)
{
    sample s;
    sample_publish(&s);
    /* the last line removed; the ZIP's own CRC-32 is right for what remains */
    size_t len = s.psv_len - 1;
    while (len > 0 && s.psv[len - 1] != '\n')
        len--;
    size_t zlen;
    unsigned char *z = make_zip(s.psv, len, s.name, s.manifest, &zlen);
    char msg[512];
    uint64_t lines;
    ck_assert_int_eq(read_all(z, zlen, &lines, msg, sizeof msg), OHP_EPARSE);
    ck_assert_uint_eq(lines, 3);
    ck_assert_msg(strstr(msg, "the manifest says 4 data lines, the entry has 3") != NULL, "%s",
                  msg);
    /* the same content without the manifest: nothing to check against */
    free(z);
    z = make_zip(s.psv, len, s.name, NULL, &zlen);
    ck_assert_int_eq(read_all(z, zlen, &lines, msg, sizeof msg), 0);
    ck_assert_uint_eq(lines, 3);
    free(z);
    sample_free(&s);
}
END_TEST

START_TEST(test_reader_checks_each_field)
{
    sample s;
    sample_publish(&s);
    static const struct {
        const char *from, *to, *says;
        int code;
    } cases[] = {
        {"\"serial_lines\":2", "\"serial_lines\":1", "the manifest says 1 serial lines",
         OHP_EPARSE},
        {"\"Ea\":\"14.5\"", "\"Ea\":\"14.50001\"", "is 14.50001, the entry's lines sum to 14.5",
         OHP_EPARSE},
        {"\"organization\":\"M1\"", "\"organization\":\"M2\"",
         "ORGANIZATION_CODE is 'M1', the manifest says 'M2'", OHP_EPARSE},
        {"\"run_id\":7", "\"run_id\":8", "PUBLISH_RUN_ID is 7, the manifest says 8", OHP_EPARSE},
        {"\"totals\":{\"Ea\":\"14.5\",", "\"totals\":{", "'Ea' has no total in the manifest",
         OHP_EPARSE},
        {"\"onhandpub_manifest\":\"1.0\"", "\"onhandpub_manifest\":\"2.0\"", "version 2.0",
         OHP_EVERSION},
        {"\"onhandpub_manifest\":\"1.0\"",
         "\"onhandpub_manifest\":\"1.7\",\"later\":[1,-2.5e+3,{\"a\":null,\"b\":true}]", NULL, 0},
        {"\"mode\":\"FULL\"", "\"mode\":\"SOME\"", "mode 'SOME'", OHP_EPARSE},
        {"\"layout\":1,", "", "field layout is missing", OHP_EPARSE},
        {"}", "", "malformed manifest", OHP_EPARSE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *m = edited(s.manifest, cases[i].from, cases[i].to);
        size_t zlen;
        unsigned char *z = make_zip(s.psv, s.psv_len, s.name, m, &zlen);
        char msg[512];
        int rc = read_all(z, zlen, NULL, msg, sizeof msg);
        ck_assert_msg(rc == cases[i].code, "case %zu: %d (%s)", i, rc, msg);
        if (cases[i].says)
            ck_assert_msg(strstr(msg, cases[i].says) != NULL, "case %zu: %s", i, msg);
        free(z);
        free(m);
    }
    sample_free(&s);
}
END_TEST

/* ---- the fold ---- */

static void publish_params(tu_sink *sink, const ohp_record *r, size_t n, const ohp_params *p)
{
    ohp_job *job;
    ck_assert_int_eq(ohp_job_new(&job, NULL), OHP_OK);
    tu_source src = {r, n, 0, 0, 0, 0, 0, 0, {0}};
    tu_use_source(job, &src);
    tu_use_sink(job, sink);
    ck_assert_msg(ohp_job_run(job, p) == OHP_OK, "%s", ohp_job_errmsg(job));
    ohp_job_free(job);
}

static int count_disc(void *ud, const ohp_discrepancy *d)
{
    (void)d;
    (*(int *)ud)++;
    return 0;
}

/* Discrepancies of the chain (n archives) against the external archive. */
static int reconcile_chain(tu_sink *chain, size_t n, tu_sink *ext)
{
    ohp_reconcile *rc;
    ck_assert_int_eq(ohp_reconcile_new(&rc, NULL, NULL), OHP_OK);
    ohp_snapshot_reader *readers[4], *x;
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(
            ohp_snapshot_reader_open_memory(&readers[i], chain[i].data, chain[i].len, NULL),
            OHP_OK);
    ck_assert_int_eq(ohp_snapshot_reader_open_memory(&x, ext->data, ext->len, NULL), OHP_OK);
    ck_assert_msg(ohp_reconcile_load_erp(rc, readers, n) == OHP_OK, "%s", ohp_reconcile_errmsg(rc));
    ck_assert_int_eq(ohp_reconcile_load_external(rc, &x, 1), OHP_OK);
    int found = 0;
    ck_assert_int_eq(ohp_reconcile_run(rc, count_disc, &found), OHP_OK);
    ck_assert_int_eq((int)ohp_reconcile_get_summary(rc)->discrepancies, found);
    for (size_t i = 0; i < n; i++)
        ohp_snapshot_reader_free(readers[i]);
    ohp_snapshot_reader_free(x);
    ohp_reconcile_free(rc);
    return found;
}

START_TEST(test_fold_by_item_class)
{
    const char *t1 = "2026/06/01 12:00:00", *t2 = "2026/06/02 12:00:00",
               *t3 = "2026/06/03 12:00:00";
    /* day 1: A 10, B 5, S with SN1 and SN2 */
    ohp_record day1[3] = {tu_record("M1", "A", "10"), tu_record("M1", "B", "5"),
                          tu_record("M1", "S", "2")};
    day1[2].serial_controlled = 1;
    day1[2].serial_list = "SN1,SN2";
    for (int i = 0; i < 3; i++)
        day1[i].last_update_date = "2026/05/30 00:00:00";
    /* day 3: A became 12 after day 2, S holds SN1 and SN3 since day 2, B unchanged */
    ohp_record day3[3] = {day1[0], day1[1], day1[2]};
    day3[0].primary_quantity = "12";
    day3[0].last_update_date = "2026/06/02 18:00:00";
    day3[2].serial_list = "SN1,SN3";
    day3[2].last_update_date = "2026/06/01 18:00:00";
    for (int omit = 0; omit < 2; omit++) {
        tu_sink chain[3], final;
        memset(chain, 0, sizeof chain);
        memset(&final, 0, sizeof final);
        ohp_params p = params(OHP_ITEMS_BOTH, omit);
        p.snapshot_date = tu_date(t1);
        p.run_id = 1;
        publish_params(&chain[0], day1, 3, &p); /* FULL both */
        p.items = OHP_ITEMS_SERIAL;
        p.snapshot_date = tu_date(t2);
        p.run_id = 2;
        publish_params(&chain[1], day3, 3, &p); /* FULL serial */
        p.items = OHP_ITEMS_NONSERIAL;
        p.full_publish = 0;
        p.publish_from = tu_date(t2);
        p.snapshot_date = tu_date(t3);
        p.run_id = 3;
        publish_params(&chain[2], day3, 3, &p); /* INCREMENTAL nonserial */
        ohp_params q = params(OHP_ITEMS_BOTH, 0);
        q.snapshot_date = tu_date(t3);
        q.run_id = 4;
        publish_params(&final, day3, 3, &q); /* FULL both at the end */
        int found = reconcile_chain(chain, 3, &final);
        if (omit == 0)
            ck_assert_int_eq(found, 0);
        else
            ck_assert_int_gt(found, 0); /* without manifests B is lost at the FULL serial */
        for (int i = 0; i < 3; i++)
            tu_sink_free(&chain[i]);
        tu_sink_free(&final);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("manifest");
    TCase *tc = tcase_create("writer");
    tcase_add_test(tc, test_manifest_written);
    tcase_add_test(tc, test_manifest_deterministic_and_omitted);
    tcase_add_test(tc, test_manifest_items_serial);
    tcase_add_test(tc, test_manifest_too_large_fails_clearly);
    suite_add_tcase(s, tc);
    TCase *rd = tcase_create("reader");
    tcase_add_test(rd, test_reader_round_trip);
    tcase_add_test(rd, test_reader_catches_a_removed_line);
    tcase_add_test(rd, test_reader_checks_each_field);
    suite_add_tcase(s, rd);
    TCase *fd = tcase_create("fold");
    tcase_add_test(fd, test_fold_by_item_class);
    suite_add_tcase(s, fd);
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
