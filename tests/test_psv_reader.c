/* The PSV reader (memory and chunked callbacks) and the balances-PSV source. */
#include <check.h>
#include <onhandpub.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ---- a read callback handing out at most `chunk` bytes per call ---- */

typedef struct chunked {
    const char *p;
    size_t len;
    size_t chunk;
    int fail_at_call; /* 1-based call that fails; 0 never */
    int calls;
} chunked;

static int chunked_read(void *ud, void *buf, size_t cap, size_t *got)
{
    chunked *c = ud;
    c->calls++;
    if (c->fail_at_call && c->calls == c->fail_at_call)
        return -1;
    size_t n = c->len < c->chunk ? c->len : c->chunk;
    if (n > cap)
        n = cap;
    memcpy(buf, c->p, n);
    c->p += n;
    c->len -= n;
    *got = n;
    return 0;
}

/* Reader variants: 0 memory, then chunks of 1, 2, 3 and 7 bytes. */
#define VARIANTS 5
static const size_t chunk_sizes[VARIANTS] = {0, 1, 2, 3, 7};

typedef struct reader {
    ohp_psv_reader *r;
    chunked ch;
} reader;

static void reader_open(reader *rd, const char *text, int variant, size_t max_line)
{
    memset(rd, 0, sizeof *rd);
    if (chunk_sizes[variant] == 0 && max_line == 0) {
        ck_assert_int_eq(ohp_psv_reader_new_memory(&rd->r, text, strlen(text), NULL), OHP_OK);
    } else {
        rd->ch.p = text;
        rd->ch.len = strlen(text);
        rd->ch.chunk = chunk_sizes[variant] ? chunk_sizes[variant] : 65536;
        ck_assert_int_eq(ohp_psv_reader_new(&rd->r, chunked_read, &rd->ch, max_line, NULL), OHP_OK);
    }
    ck_assert_ptr_nonnull(rd->r);
}

/*
 * Read every row as "[f1][f2]...\n" plus "@line" for each row's start line.
 * Returns the final code (0 at the end, negative on error).
 */
static int read_all(ohp_psv_reader *r, char *out, size_t size, char *lines, size_t lsize)
{
    out[0] = '\0';
    if (lines)
        lines[0] = '\0';
    const char *const *f;
    size_t n;
    int rc;
    while ((rc = ohp_psv_reader_next(r, &f, &n)) == 1) {
        for (size_t i = 0; i < n; i++) {
            size_t len = strlen(out);
            snprintf(out + len, size - len, "[%s]", f[i]);
        }
        size_t len = strlen(out);
        snprintf(out + len, size - len, "\n");
        if (lines) {
            len = strlen(lines);
            snprintf(lines + len, lsize - len, "@%llu", (unsigned long long)ohp_psv_reader_line(r));
        }
    }
    return rc;
}

static void expect_rows(const char *text, const char *want)
{
    for (int v = 0; v < VARIANTS; v++) {
        reader rd;
        reader_open(&rd, text, v, 0);
        char got[4096];
        int rc = read_all(rd.r, got, sizeof got, NULL, 0);
        ck_assert_msg(rc == 0, "variant %d: %d %s", v, rc, ohp_psv_reader_errmsg(rd.r));
        ck_assert_msg(strcmp(got, want) == 0, "variant %d: got\n%s\nwant\n%s", v, got, want);
        ohp_psv_reader_free(rd.r);
    }
}

static void expect_error(const char *text, size_t max_line, int want_rc, const char *want_rows,
                         const char *want_text)
{
    for (int v = 0; v < VARIANTS; v++) {
        reader rd;
        reader_open(&rd, text, v, max_line);
        char got[4096];
        int rc = read_all(rd.r, got, sizeof got, NULL, 0);
        ck_assert_msg(rc == want_rc, "variant %d: %d, want %d", v, rc, want_rc);
        ck_assert_str_eq(got, want_rows);
        const char *msg = ohp_psv_reader_errmsg(rd.r);
        ck_assert_msg(strstr(msg, want_text) != NULL, "variant %d: '%s' lacks '%s'", v, msg,
                      want_text);
        ohp_psv_reader_free(rd.r);
    }
}

START_TEST(plain_rows)
{
    expect_rows("a|b|c\nd|e|f\n", "[a][b][c]\n[d][e][f]\n");
    expect_rows("single\n", "[single]\n");
    expect_rows("", "");
}
END_TEST

START_TEST(quoted_fields)
{
    expect_rows("\"x|y\"|\"he said \"\"hi\"\"\"|\"l1\nl2\"|\"c\r\nd\"|\"\"\"\"\n",
                "[x|y][he said \"hi\"][l1\nl2][c\r\nd][\"]\n");
    expect_rows("\"\"|x|\"\"\n", "[][x][]\n");
    expect_rows("\"a\"\r\n\"b\"\n\"c\"", "[a]\n[b]\n[c]\n");
}
END_TEST

START_TEST(crlf_line_ends)
{
    expect_rows("a|b\r\nc|d\r\n", "[a][b]\n[c][d]\n");
    expect_rows("a|b\r\nc|d", "[a][b]\n[c][d]\n");
}
END_TEST

START_TEST(last_line_without_lf)
{
    expect_rows("a|b\nc|d", "[a][b]\n[c][d]\n");
    expect_rows("a|b\nc|", "[a][b]\n[c][]\n");
}
END_TEST

START_TEST(empty_fields_and_lines)
{
    expect_rows("|a||\n", "[][a][][]\n");
    expect_rows("\n", "[]\n");
    expect_rows("a\n\nb\n", "[a]\n[]\n[b]\n");
    expect_rows("||\n", "[][][]\n");
}
END_TEST

START_TEST(line_numbers)
{
    for (int v = 0; v < VARIANTS; v++) {
        reader rd;
        reader_open(&rd, "h1|h2\n\"a\nb\"|c\nd|\"e\r\nf\ng\"\nlast\n", v, 0);
        char got[512], lines[128];
        ck_assert_int_eq(read_all(rd.r, got, sizeof got, lines, sizeof lines), 0);
        ck_assert_str_eq(got, "[h1][h2]\n[a\nb][c]\n[d][e\r\nf\ng]\n[last]\n");
        ck_assert_str_eq(lines, "@1@2@4@7");
        ohp_psv_reader_free(rd.r);
    }
}
END_TEST

START_TEST(unterminated_quote)
{
    expect_error("a|b\nc|\"unterminated\nmore\n", 0, OHP_EPARSE, "[a][b]\n", "line 2");
    expect_error("\"open", 0, OHP_EPARSE, "", "line 1");
}
END_TEST

START_TEST(junk_after_closing_quote)
{
    expect_error("ok\n\"a\"b|c\n", 0, OHP_EPARSE, "[ok]\n", "line 2");
}
END_TEST

START_TEST(max_line)
{
    /* A line of exactly max_line bytes passes; one more byte does not. */
    for (int v = 0; v < VARIANTS; v++) {
        reader rd;
        reader_open(&rd, "0123456789\nabc\n", v, 10);
        char got[256];
        ck_assert_int_eq(read_all(rd.r, got, sizeof got, NULL, 0), 0);
        ck_assert_str_eq(got, "[0123456789]\n[abc]\n");
        ohp_psv_reader_free(rd.r);
    }
    expect_error("ok\n0123456789A\n", 10, OHP_ELIMIT, "[ok]\n", "line 2");
    expect_error("0123|456789A\n", 10, OHP_ELIMIT, "", "line 1");
    expect_error("\"0123456789A\"\n", 10, OHP_ELIMIT, "", "line 1");
}
END_TEST

START_TEST(read_error)
{
    reader rd;
    reader_open(&rd, "a|b\nc|d\n", 1, 0);
    rd.ch.fail_at_call = 3;
    char got[256];
    ck_assert_int_eq(read_all(rd.r, got, sizeof got, NULL, 0), OHP_EIO);
    ohp_psv_reader_free(rd.r);
}
END_TEST

/*
 * Random texts over the characters that matter (separators, quotes, CR, LF,
 * UTF-8): a memory reader, where whole lines are usually in the buffer and
 * take the one-step path, and one-byte reads, where every byte goes through
 * the state machine, give the same rows, line numbers, errors and messages,
 * also with a line limit.
 */
START_TEST(random_texts_agree)
{
    static const char *const alphabet[] = {"a",  "b",  "7",  " ",  "|",       "|",
                                           "\"", "\r", "\n", "\n", "\xc3\xa9"};
    uint32_t x = 12345u + (uint32_t)_i;
    char text[1200];
    static char got[2][64 * 1024], lines[2][16 * 1024];
    for (int round = 0; round < 300; round++) {
        size_t len = 0, target = 20 + (size_t)(round * 3 % 1000);
        while (len < target) {
            x = x * 1103515245u + 12345u;
            const char *a = alphabet[(x >> 16) % (sizeof alphabet / sizeof alphabet[0])];
            memcpy(text + len, a, strlen(a));
            len += strlen(a);
        }
        text[len] = '\0';
        size_t limit = round % 3 == 0 ? 16 : 0;
        int rc[2];
        char msg[2][512];
        for (int v = 0; v < 2; v++) {
            reader rd;
            memset(&rd, 0, sizeof rd);
            rd.ch.p = text;
            rd.ch.len = len;
            rd.ch.chunk = v == 0 ? 65536 : 1;
            ck_assert_int_eq(ohp_psv_reader_new(&rd.r, chunked_read, &rd.ch, limit, NULL), OHP_OK);
            rc[v] = read_all(rd.r, got[v], sizeof got[v], lines[v], sizeof lines[v]);
            snprintf(msg[v], sizeof msg[v], "%s", ohp_psv_reader_errmsg(rd.r));
            ohp_psv_reader_free(rd.r);
        }
        ck_assert_msg(rc[0] == rc[1], "round %d: %d vs %d", round, rc[0], rc[1]);
        ck_assert_msg(strcmp(got[0], got[1]) == 0, "round %d: rows differ:\n%s\n--\n%s", round,
                      got[0], got[1]);
        ck_assert_msg(strcmp(lines[0], lines[1]) == 0, "round %d: lines %s vs %s", round, lines[0],
                      lines[1]);
        ck_assert_str_eq(msg[0], msg[1]);
    }
}
END_TEST

START_TEST(bad_arguments)
{
    ohp_psv_reader *r = NULL;
    ck_assert_int_eq(ohp_psv_reader_new(&r, NULL, NULL, 0, NULL), OHP_EINVAL);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(ohp_psv_reader_new(NULL, chunked_read, NULL, 0, NULL), OHP_EINVAL);
    ck_assert_int_eq(ohp_psv_reader_new_memory(&r, NULL, 3, NULL), OHP_EINVAL);
    ohp_psv_reader_free(NULL);
    ck_assert_int_eq(ohp_psv_reader_new_memory(&r, "", 0, NULL), OHP_OK);
    const char *const *f;
    size_t n;
    ck_assert_int_eq(ohp_psv_reader_next(r, &f, &n), 0);
    ck_assert_int_eq(ohp_psv_reader_next(r, NULL, &n), OHP_EINVAL);
    ohp_psv_reader_free(r);
}
END_TEST

/* ---- the balance reader as a job's source ---- */

#define HEADER TU_HEADER_V1
#define P "0|3|FULL|2026/11/02 06:00:00|"

typedef struct brun {
    int rc;
    char errmsg[600];
    char *psv;
    size_t psv_len;
    tu_sink sink;
    int rules[8];
    char msgs[8][1200];
    size_t nrej;
    uint64_t read, published, rejected;
    /* where each rejected record (and the record failing the run) came from */
    ohp_balance_reader *br;
    uint64_t lines[8];
    size_t cols[8];
    char colnames[8][64];
    int has_org[8];
    uint64_t error_line;
    size_t error_col;
    char error_colname[64];
} brun;

static int on_reject(void *ud, const ohp_rejection *rj)
{
    brun *b = ud;
    ck_assert_uint_lt(b->nrej, 8);
    b->rules[b->nrej] = rj->rule;
    snprintf(b->msgs[b->nrej], sizeof b->msgs[0], "%s", rj->message);
    const char *name = NULL;
    ck_assert_int_eq(
        ohp_balance_reader_locate(b->br, rj->ordinal, &b->lines[b->nrej], &b->cols[b->nrej], &name),
        OHP_OK);
    snprintf(b->colnames[b->nrej], sizeof b->colnames[0], "%s", name ? name : "");
    b->has_org[b->nrej] = rj->record->organization_code != NULL;
    /* only the record at hand is known */
    uint64_t line = 99;
    ck_assert_int_eq(ohp_balance_reader_locate(b->br, rj->ordinal + 1, &line, NULL, NULL),
                     OHP_ENOTFOUND);
    ck_assert_uint_eq(line, 0);
    b->nrej++;
    return 0;
}

static void balance_run_n(brun *b, const char *text, size_t len, size_t chunk, int on_error)
{
    memset(b, 0, sizeof *b);
    chunked ch = {text, len, chunk, 0, 0};
    ohp_balance_reader *br = NULL;
    ck_assert_int_eq(ohp_balance_reader_new(&br, chunked_read, &ch, NULL), OHP_OK);
    b->br = br;
    ohp_job *job;
    ck_assert_int_eq(ohp_job_new(&job, NULL), OHP_OK);
    ck_assert_int_eq(ohp_job_set_balance_reader(job, br), OHP_OK);
    tu_use_sink(job, &b->sink);
    ck_assert_int_eq(ohp_job_set_reject_callback(job, on_reject, b), OHP_OK);
    ohp_params p = OHP_PARAMS_INIT;
    p.organization_code = "M1";
    p.snapshot_date = tu_date("2026/11/02 06:00:00");
    p.run_id = 3;
    p.user = "tester";
    p.caller_authorized = 1;
    p.on_error = on_error;
    p.max_reject_percent = 100; /* rejection mechanics on a few rows, not the threshold */
    b->rc = ohp_job_run(job, &p);
    snprintf(b->errmsg, sizeof b->errmsg, "%s", ohp_job_errmsg(job));
    const ohp_summary *s = ohp_job_summary(job);
    b->read = s->records_read;
    b->published = s->records_published;
    b->rejected = s->records_rejected;
    if (s->error_ordinal != 0) {
        const char *name = NULL;
        ck_assert_int_eq(
            ohp_balance_reader_locate(br, s->error_ordinal, &b->error_line, &b->error_col, &name),
            OHP_OK);
        snprintf(b->error_colname, sizeof b->error_colname, "%s", name ? name : "");
    }
    ohp_job_free(job);
    ohp_balance_reader_free(br);
    if (b->rc == OHP_OK)
        ck_assert_int_eq(tu_unzip_single(b->sink.data, b->sink.len, &b->psv, &b->psv_len, NULL, 0),
                         0);
}

static void balance_run(brun *b, const char *text, size_t chunk, int on_error)
{
    balance_run_n(b, text, strlen(text), chunk, on_error);
}

static void brun_free(brun *b)
{
    free(b->psv);
    tu_sink_free(&b->sink);
}

/* Read `len` bytes of text (NUL bytes allowed) in every variant. */
static void reader_open_n(reader *rd, const char *text, size_t len, int variant)
{
    memset(rd, 0, sizeof *rd);
    if (chunk_sizes[variant] == 0) {
        ck_assert_int_eq(ohp_psv_reader_new_memory(&rd->r, text, len, NULL), OHP_OK);
    } else {
        rd->ch.p = text;
        rd->ch.len = len;
        rd->ch.chunk = chunk_sizes[variant];
        ck_assert_int_eq(ohp_psv_reader_new(&rd->r, chunked_read, &rd->ch, 0, NULL), OHP_OK);
    }
}

/*
 * A NUL byte inside a field fails the row (never a value cut short at the
 * NUL), with the line and column named; the reader goes on with the next row.
 */
static void expect_nul(const char *text, size_t len, const char *want_msg, const char *want_after)
{
    for (int v = 0; v < VARIANTS; v++) {
        reader rd;
        reader_open_n(&rd, text, len, v);
        const char *const *f;
        size_t n;
        int rc;
        while ((rc = ohp_psv_reader_next(rd.r, &f, &n)) == 1 && strcmp(f[0], "ok") == 0)
            ;
        ck_assert_msg(rc == OHP_EPARSE, "variant %d: %d", v, rc);
        const char *msg = ohp_psv_reader_errmsg(rd.r);
        ck_assert_msg(strstr(msg, want_msg) != NULL && strstr(msg, "NUL") != NULL,
                      "variant %d: '%s' lacks '%s'", v, msg, want_msg);
        char got[256];
        ck_assert_int_eq(read_all(rd.r, got, sizeof got, NULL, 0), 0);
        ck_assert_str_eq(got, want_after);
        ohp_psv_reader_free(rd.r);
    }
}

#define NUL_CASE(lit, msg, after) expect_nul(lit, sizeof lit - 1, msg, after)

START_TEST(nul_byte_is_an_error)
{
    NUL_CASE("ok\nM1\0X|AB|c\nx|y\n", "line 2, column 1", "[x][y]\n");
    NUL_CASE("ok\na|AB\0CD|c\nx|y\n", "line 2, column 2", "[x][y]\n");
    NUL_CASE("a|b|\0\nx\n", "line 1, column 3", "[x]\n");
    NUL_CASE("a|\"q\0\"|c\nx\n", "line 1, column 2", "[x]\n");
    NUL_CASE("a|\"multi\nline\0\"|c\nx\n", "line 1, column 2", "[x]\n");
    NUL_CASE("ok\nlast|fi\0eld", "line 2, column 2", "");
    /* past the first 16 bytes (the vector path) and in the tail */
    NUL_CASE("0123456789|0123456789|01234\0|x\nz\n", "line 1, column 3", "[z]\n");
}
END_TEST

START_TEST(byte_order_mark_skipped)
{
    expect_rows("\xEF\xBB\xBF"
                "a|b\nc\n",
                "[a][b]\n[c]\n");
    expect_rows("\xEF\xBB\xBF", "");
    expect_rows("\xEF\xBB\xBF\"q|r\"\n", "[q|r]\n");
    /* not a mark: kept as they are */
    expect_rows("\xEF\xBBx\n", "[\xEF\xBBx]\n");
    expect_rows("\xEF\n", "[\xEF]\n");
    /* only at the very start */
    expect_rows("a\n\xEF\xBB\xBF"
                "b\n",
                "[a]\n[\xEF\xBB\xBF"
                "b]\n");
    for (int v = 0; v < VARIANTS; v++) {
        reader rd;
        reader_open(&rd, "\xEF\xBB\xBFh\nx\n", v, 0);
        char got[64], lines[64];
        ck_assert_int_eq(read_all(rd.r, got, sizeof got, lines, sizeof lines), 0);
        ck_assert_str_eq(lines, "@1@2");
        ohp_psv_reader_free(rd.r);
    }
}
END_TEST

/* The readers built on the PSV reader: a NUL byte is a parse error naming line and column. */
START_TEST(nul_byte_in_other_readers)
{
    /* lookups */
    static const char lookups[] = "LOOKUP_CODE|MEANING|DESCRIPTION|ENABLED_FLAG|START_DATE_ACTIVE|"
                                  "END_DATE_ACTIVE|DISPLAY_SEQUENCE|TAG\n"
                                  "7|W\0X||Y||||\n";
    ohp_registry *reg;
    ck_assert_int_eq(ohp_registry_new(&reg, NULL), OHP_OK);
    ck_assert_int_eq(ohp_registry_load_psv(reg, lookups, sizeof lookups - 1), OHP_EPARSE);
    ck_assert_ptr_nonnull(strstr(ohp_registry_errmsg(reg), "line 2, column 2"));
    ck_assert_int_eq(ohp_registry_count(reg), 1);
    /* with a byte-order mark and no NUL it loads */
    static const char bom[] = "\xEF\xBB\xBFLOOKUP_CODE|MEANING|DESCRIPTION|ENABLED_FLAG|"
                              "START_DATE_ACTIVE|END_DATE_ACTIVE|DISPLAY_SEQUENCE|TAG\n"
                              "7|W||Y||||\n";
    ck_assert_int_eq(ohp_registry_load_psv(reg, bom, sizeof bom - 1), OHP_OK);
    ck_assert_int_eq(ohp_registry_count(reg), 2);
    ohp_registry_free(reg);

    /* a bare snapshot */
    static const char snap[] = TU_HEADER_V1 P "|M\0"
                                              "1||A||FGI|||||N||1|Ea|||N|||||"
                                              "2026/11/01 00:00:00\n";
    chunked ch = {snap, sizeof snap - 1, 7, 0, 0};
    ohp_snapshot_reader *sr;
    ck_assert_int_eq(ohp_snapshot_reader_open_psv(&sr, chunked_read, &ch, NULL), OHP_OK);
    const ohp_snapshot_record *rec;
    ck_assert_int_eq(ohp_snapshot_reader_next(sr, &rec), OHP_EPARSE);
    ck_assert_ptr_nonnull(strstr(ohp_snapshot_reader_errmsg(sr), "line 2, column 6"));
    ohp_snapshot_reader_free(sr);

    /* the external side of a reconciliation */
    static const char ext[] = "ORGANIZATION_CODE|ITEM_NUMBER|SUBINVENTORY_CODE|PRIMARY_QUANTITY|"
                              "PRIMARY_UOM_CODE\nM1|A\0B|FGI|1|Ea\n";
    chunked ce = {ext, sizeof ext - 1, 65536, 0, 0};
    ohp_reconcile *rc;
    ck_assert_int_eq(ohp_reconcile_new(&rc, NULL, NULL), OHP_OK);
    ck_assert_int_eq(ohp_reconcile_load_external_psv(rc, chunked_read, &ce), OHP_EPARSE);
    ck_assert_ptr_nonnull(strstr(ohp_reconcile_errmsg(rc), "line 2, column 2"));
    ohp_reconcile_free(rc);
}
END_TEST

/* A header name that is a known column but for blanks or case is refused, not ignored. */
START_TEST(external_header_near_miss)
{
    static const char *const heads[] = {
        "ORGANIZATION_CODE|item_number|SUBINVENTORY_CODE|PRIMARY_QUANTITY|PRIMARY_UOM_CODE\n",
        "ORGANIZATION_CODE|ITEM_NUMBER|SUBINVENTORY_CODE|PRIMARY_QUANTITY|PRIMARY_UOM_CODE| "
        "LOT_NUMBER\n",
        "ORGANIZATION_CODE|ITEM_NUMBER|SUBINVENTORY_CODE|PRIMARY_QUANTITY|PRIMARY_UOM_CODE|"
        "Last_Update_Date\n"};
    static const char *const want[] = {"column 2: 'item_number'", "column 6: ' LOT_NUMBER'",
                                       "column 6: 'Last_Update_Date'"};
    static const char *const meant[] = {"ITEM_NUMBER", "LOT_NUMBER", "LAST_UPDATE_DATE"};
    for (size_t i = 0; i < 3; i++) {
        chunked ce = {heads[i], strlen(heads[i]), 65536, 0, 0};
        ohp_reconcile *rc;
        ck_assert_int_eq(ohp_reconcile_new(&rc, NULL, NULL), OHP_OK);
        ck_assert_int_eq(ohp_reconcile_load_external_psv(rc, chunked_read, &ce), OHP_EPARSE);
        const char *msg = ohp_reconcile_errmsg(rc);
        ck_assert_msg(strstr(msg, want[i]) != NULL && strstr(msg, meant[i]) != NULL, "'%s'", msg);
        ohp_reconcile_free(rc);
    }
}
END_TEST

START_TEST(balances_any_column_order)
{
    const char *in =
        "ITEM_NUMBER|EXTRA_COLUMN|LAST_UPDATE_DATE|PRIMARY_UOM_CODE|PRIMARY_QUANTITY|"
        "SERIAL_CONTROLLED|SUBINVENTORY_CODE|ORGANIZATION_CODE|SERIAL_NUMBERS|LOCATOR_NAME|"
        "CONSIGNED_FLAG|SECONDARY_QUANTITY|SECONDARY_UOM_CODE|LOT_EXPIRATION_DATE\r\n"
        "AS54888|ignored|2026/11/01 08:00:00|Ea|0012.50|N|FGI|M1||\"A|1\"||1.50|KG|2027-01-31\r\n"
        "SER1|x|2026-11-01T10:00:00+02:00|Ea|3|Y|FGI|M1|SN0098..SN0099, Z1||Y|||\r\n"
        "\r\n"
        "OTHER|x|2026/11/01|Ea|1|N|FGI|M2||||||\r\n"
        "LAST|\"multi\nline\"|2026/11/01|Ea|1|N|FGI|M1||L\"Q||||";
    for (size_t chunk = 1; chunk <= 65536; chunk *= 16) {
        brun b;
        balance_run(&b, in, chunk, OHP_ON_ERROR_FAIL);
        ck_assert_msg(b.rc == OHP_OK, "%d %s", b.rc, b.errmsg);
        ck_assert_str_eq(b.psv,
                         HEADER P "|M1||AS54888||FGI||\"A|1\"||2027/01/31|N||12.5|Ea|1.5|KG|N|||||"
                                  "2026/11/01 08:00:00\n" P
                                  "|M1||SER1||FGI|||||Y|SN0098|1|Ea|||Y|||||2026/11/01 08:00:00\n" P
                                  "|M1||SER1||FGI|||||Y|SN0099|1|Ea|||Y|||||2026/11/01 08:00:00\n" P
                                  "|M1||SER1||FGI|||||Y|Z1|1|Ea|||Y|||||2026/11/01 08:00:00\n" P
                                  "|M1||LAST||FGI||\"L\"\"Q\"|||N||1|Ea|||N|||||"
                                  "2026/11/01 00:00:00\n");
        ck_assert_uint_eq(b.read, 4);
        ck_assert_uint_eq(b.published, 3);
        brun_free(&b);
    }
}
END_TEST

START_TEST(balances_missing_columns)
{
    brun b;
    balance_run(&b,
                "ORGANIZATION_CODE|SUBINVENTORY_CODE|SERIAL_CONTROLLED|PRIMARY_QUANTITY|"
                "LAST_UPDATE_DATE\nM1|FGI|N|1|2026/11/01\n",
                1, OHP_ON_ERROR_FAIL);
    ck_assert_int_eq(b.rc, OHP_ESOURCE);
    ck_assert_msg(strstr(b.errmsg, "ITEM_NUMBER") && strstr(b.errmsg, "PRIMARY_UOM_CODE"),
                  "message '%s' does not name the missing columns", b.errmsg);
    ck_assert_ptr_null(strstr(b.errmsg, "SUBINVENTORY_CODE"));
    ck_assert_int_eq(b.sink.opened, 0);
    brun_free(&b);
}
END_TEST

START_TEST(balances_empty_input)
{
    brun b;
    balance_run(&b, "", 1, OHP_ON_ERROR_FAIL);
    ck_assert_int_eq(b.rc, OHP_ESOURCE);
    ck_assert_ptr_nonnull(strstr(b.errmsg, "header"));
    brun_free(&b);
}
END_TEST

#define BAL_HEADER                                                                                 \
    "ORGANIZATION_CODE|ITEM_NUMBER|SUBINVENTORY_CODE|SERIAL_CONTROLLED|PRIMARY_QUANTITY|"          \
    "PRIMARY_UOM_CODE|LAST_UPDATE_DATE|CONSIGNED_FLAG\n"

/* What the rejection callback sees of the current row through ohp_balance_reader_field. */
typedef struct echo {
    ohp_balance_reader *br;
    size_t n;
    char cf[4][64], sc[4][64], item[4][64], uom[4][64];
    int lot_null[4], bogus_null[4];
} echo;

static void copy_field(char *dst, const char *v)
{
    snprintf(dst, 64, "%s", v ? v : "(null)");
}

static int on_reject_echo(void *ud, const ohp_rejection *rj)
{
    (void)rj;
    echo *e = ud;
    ck_assert_uint_lt(e->n, 4);
    copy_field(e->cf[e->n], ohp_balance_reader_field(e->br, "CONSIGNED_FLAG"));
    copy_field(e->sc[e->n], ohp_balance_reader_field(e->br, "SERIAL_CONTROLLED"));
    copy_field(e->item[e->n], ohp_balance_reader_field(e->br, "ITEM_NUMBER"));
    copy_field(e->uom[e->n], ohp_balance_reader_field(e->br, "PRIMARY_UOM_CODE"));
    e->lot_null[e->n] = ohp_balance_reader_field(e->br, "LOT_NUMBER") == NULL;
    e->bogus_null[e->n] = ohp_balance_reader_field(e->br, "NOT_A_COLUMN") == NULL;
    e->n++;
    return 0;
}

START_TEST(balance_reader_field_echoes_the_row)
{
    /* Rejected rows, as read: an empty flag stays empty, a bad flag and blanks stay as
     * they are, quotes are removed, a short row has only its own fields. */
    const char *in = "ORGANIZATION_CODE|ITEM_NUMBER|SUBINVENTORY_CODE|SERIAL_CONTROLLED|"
                     "PRIMARY_QUANTITY|PRIMARY_UOM_CODE|LAST_UPDATE_DATE|CONSIGNED_FLAG\n"
                     "M1|\" A|\"\"B \"|FGI|N|x|Ea|2026/11/01|\n"
                     "M1|I2|FGI| Y |1|Ea|2026/11/01|N\n"
                     "M1|I3|FGI|N|1|Ea|2026/11/01|maybe\n"
                     "M1|I4|FGI|N\n"
                     "M1|I5|FGI|N|1|Ea|2026/11/01|Y\n"
                     "M1|I6|FGI|N|1|Ea|2026/11/01|\n"
                     "M1|I7|FGI|N|1|Ea|2026/11/01|\n"
                     "M1|I8|FGI|N|1|Ea|2026/11/01|\n"; /* rejects under the default 50% */
    chunked ch = {in, strlen(in), 7, 0, 0};
    echo e;
    memset(&e, 0, sizeof e);
    ck_assert_int_eq(ohp_balance_reader_new(&e.br, chunked_read, &ch, NULL), OHP_OK);
    ck_assert_ptr_null(ohp_balance_reader_field(e.br, "ITEM_NUMBER")); /* no row yet */
    ck_assert_ptr_null(ohp_balance_reader_field(NULL, "ITEM_NUMBER"));
    ohp_job *job;
    tu_sink sink;
    memset(&sink, 0, sizeof sink);
    ck_assert_int_eq(ohp_job_new(&job, NULL), OHP_OK);
    ck_assert_int_eq(ohp_job_set_balance_reader(job, e.br), OHP_OK);
    tu_use_sink(job, &sink);
    ck_assert_int_eq(ohp_job_set_reject_callback(job, on_reject_echo, &e), OHP_OK);
    ohp_params p = OHP_PARAMS_INIT;
    p.organization_code = "M1";
    p.snapshot_date = tu_date("2026/11/02 06:00:00");
    p.run_id = 3;
    p.user = "tester";
    p.caller_authorized = 1;
    p.on_error = OHP_ON_ERROR_REJECT;
    int rc = ohp_job_run(job, &p);
    ck_assert_msg(rc == OHP_OK, "%d %s", rc, ohp_job_errmsg(job));
    ck_assert_uint_eq(e.n, 4);
    ck_assert_str_eq(e.item[0], " A|\"B ");
    ck_assert_str_eq(e.cf[0], "");
    ck_assert_str_eq(e.sc[0], "N");
    ck_assert_str_eq(e.sc[1], " Y ");
    ck_assert_str_eq(e.cf[1], "N");
    ck_assert_str_eq(e.cf[2], "maybe");
    ck_assert_str_eq(e.item[3], "I4");
    ck_assert_str_eq(e.sc[3], "N");
    ck_assert_str_eq(e.uom[3], "(null)"); /* beyond the short row */
    for (size_t i = 0; i < 4; i++) {
        ck_assert(e.lot_null[i]);
        ck_assert(e.bogus_null[i]);
    }
    ohp_job_free(job);
    ck_assert_ptr_null(ohp_balance_reader_field(e.br, "ITEM_NUMBER")); /* the run is over */
    ohp_balance_reader_free(e.br);
    tu_sink_free(&sink);
}
END_TEST

START_TEST(balances_bad_rows_rejected)
{
    const char *in = BAL_HEADER "M1|I1|FGI|N|1|Ea|2026/11/01|\n"
                                "M1|I2|FGI|yes|1|Ea|2026/11/01|\n"
                                "M1|I3|FGI|N|1|Ea\n"
                                "M1|I4|FGI|N|1|Ea|2026/11/01|maybe\n"
                                "M1|I5|FGI|N|1|Ea|2026/11/01|Y\n";
    brun b;
    balance_run(&b, in, 1, OHP_ON_ERROR_REJECT);
    ck_assert_msg(b.rc == OHP_OK, "%d %s", b.rc, b.errmsg);
    ck_assert_str_eq(b.psv, HEADER P "|M1||I1||FGI|||||N||1|Ea|||N|||||2026/11/01 00:00:00\n" P
                                     "|M1||I5||FGI|||||N||1|Ea|||Y|||||2026/11/01 00:00:00\n");
    ck_assert_uint_eq(b.nrej, 3);
    for (size_t i = 0; i < 3; i++)
        ck_assert_int_eq(b.rules[i], OHP_RULE_SOURCE);
    ck_assert_ptr_nonnull(strstr(b.msgs[0], "line 3"));
    ck_assert_ptr_nonnull(strstr(b.msgs[0], "SERIAL_CONTROLLED"));
    ck_assert_ptr_nonnull(strstr(b.msgs[1], "line 4"));
    ck_assert_ptr_nonnull(strstr(b.msgs[1], "expected 8 fields, found 6"));
    ck_assert_ptr_nonnull(strstr(b.msgs[2], "line 5"));
    ck_assert_ptr_nonnull(strstr(b.msgs[2], "CONSIGNED_FLAG"));
    ck_assert_uint_eq(b.read, 5);
    ck_assert_uint_eq(b.rejected, 3);
    brun_free(&b);
}
END_TEST

START_TEST(balances_bad_row_fails_run)
{
    brun b;
    balance_run(&b, BAL_HEADER "M1|I1|FGI|N|1|Ea|2026/11/01|\nM1|I2|FGI|X|1|Ea|2026/11/01|\n", 1,
                OHP_ON_ERROR_FAIL);
    ck_assert_int_eq(b.rc, OHP_ERECORD);
    ck_assert_ptr_nonnull(strstr(b.errmsg, "record 2"));
    ck_assert_ptr_nonnull(strstr(b.errmsg, "line 3"));
    ck_assert_int_eq(b.sink.aborted, 1);
    ck_assert_int_eq(b.sink.committed, 0);
    brun_free(&b);
}
END_TEST

START_TEST(balances_quoting_error_fails_run)
{
    brun b;
    balance_run(&b, BAL_HEADER "M1|I1|FGI|N|1|Ea|2026/11/01|\nM1|\"I2|FGI|N|1|Ea|2026/11/01|\n", 1,
                OHP_ON_ERROR_REJECT);
    ck_assert_int_eq(b.rc, OHP_ESOURCE);
    ck_assert_ptr_nonnull(strstr(b.errmsg, "line 3"));
    ck_assert_int_eq(b.sink.aborted, 1);
    ck_assert_uint_eq(b.nrej, 0);
    brun_free(&b);
}
END_TEST

/* A NUL byte in a balances field: a record error (rule SOURCE), never a value cut short. */
START_TEST(balances_nul_is_record_error)
{
    static const char in[] = BAL_HEADER "M1\0X|AB\0CD|FGI|N|1|Ea|2026/11/01|\n"
                                        "M1|AB|FGI|N|2|Ea|2026/11/01|\n"
                                        "M2|I2|FGI|N|1|Ea|2026/11\0/01|\n"
                                        "M1|I3|FGI|N|3|Ea|2026/11/01|\0\n";
    for (size_t chunk = 1; chunk <= 65536; chunk *= 64) {
        brun b;
        balance_run_n(&b, in, sizeof in - 1, chunk, OHP_ON_ERROR_REJECT);
        ck_assert_msg(b.rc == OHP_OK, "%d %s", b.rc, b.errmsg);
        /* only the clean row of M1: no item AB from "AB\0CD" */
        ck_assert_str_eq(b.psv, HEADER P "|M1||AB||FGI|||||N||2|Ea|||N|||||2026/11/01 00:00:00\n");
        ck_assert_uint_eq(b.nrej, 2); /* M2's row is another organization's */
        ck_assert_int_eq(b.rules[0], OHP_RULE_SOURCE);
        ck_assert_ptr_nonnull(strstr(b.msgs[0], "record 1 "));
        ck_assert_ptr_nonnull(strstr(b.msgs[0], "line 2, column 1 (ORGANIZATION_CODE)"));
        ck_assert_ptr_nonnull(strstr(b.msgs[0], "NUL"));
        ck_assert_int_eq(b.has_org[0], 0); /* not "M1" */
        ck_assert_uint_eq(b.lines[0], 2);
        ck_assert_uint_eq(b.cols[0], 1);
        ck_assert_str_eq(b.colnames[0], "ORGANIZATION_CODE");
        ck_assert_ptr_nonnull(strstr(b.msgs[1], "line 5, column 8 (CONSIGNED_FLAG)"));
        ck_assert_uint_eq(b.lines[1], 5);
        ck_assert_str_eq(b.colnames[1], "CONSIGNED_FLAG");
        brun_free(&b);
    }
    brun b;
    balance_run_n(&b, in, sizeof in - 1, 3, OHP_ON_ERROR_FAIL);
    ck_assert_int_eq(b.rc, OHP_ERECORD);
    ck_assert_ptr_nonnull(strstr(b.errmsg, "line 2, column 1 (ORGANIZATION_CODE)"));
    ck_assert_uint_eq(b.error_line, 2);
    ck_assert_int_eq(b.sink.committed, 0);
    brun_free(&b);
}
END_TEST

START_TEST(balances_byte_order_mark)
{
    brun b;
    balance_run(&b, "\xEF\xBB\xBF" BAL_HEADER "M1|I1|FGI|N|1|Ea|2026/11/01|\n", 1,
                OHP_ON_ERROR_FAIL);
    ck_assert_msg(b.rc == OHP_OK, "%d %s", b.rc, b.errmsg);
    ck_assert_str_eq(b.psv, HEADER P "|M1||I1||FGI|||||N||1|Ea|||N|||||2026/11/01 00:00:00\n");
    brun_free(&b);
    /* the first column is read: ORGANIZATION_ID is no "unknown column" */
    balance_run(&b, "\xEF\xBB\xBFORGANIZATION_ID|" BAL_HEADER "204|M1|I1|FGI|N|1|Ea|2026/11/01|\n",
                65536, OHP_ON_ERROR_FAIL);
    ck_assert_msg(b.rc == OHP_OK, "%d %s", b.rc, b.errmsg);
    ck_assert_str_eq(b.psv, HEADER P "204|M1||I1||FGI|||||N||1|Ea|||N|||||2026/11/01 00:00:00\n");
    brun_free(&b);
}
END_TEST

START_TEST(balances_header_near_miss)
{
    static const char *const heads[] = {
        "ORGANIZATION_CODE|item_number|SUBINVENTORY_CODE|SERIAL_CONTROLLED|PRIMARY_QUANTITY|"
        "PRIMARY_UOM_CODE|LAST_UPDATE_DATE\n",
        "ORGANIZATION_CODE|ITEM_NUMBER|SUBINVENTORY_CODE|SERIAL_CONTROLLED|PRIMARY_QUANTITY|"
        "PRIMARY_UOM_CODE|LAST_UPDATE_DATE|LOT_NUMBER \n",
        "ORGANIZATION_CODE|ITEM_NUMBER|SUBINVENTORY_CODE|SERIAL_CONTROLLED|PRIMARY_QUANTITY|"
        "PRIMARY_UOM_CODE|LAST_UPDATE_DATE|\tOrganization_Id\n"};
    static const char *const want[] = {"column 2: 'item_number'", "column 8: 'LOT_NUMBER '",
                                       "column 8: '\\tOrganization_Id'"};
    static const char *const meant[] = {"ITEM_NUMBER?", "LOT_NUMBER?", "ORGANIZATION_ID?"};
    for (size_t i = 0; i < 3; i++) {
        brun b;
        balance_run(&b, heads[i], 65536, OHP_ON_ERROR_REJECT);
        ck_assert_int_eq(b.rc, OHP_ESOURCE);
        ck_assert_msg(strstr(b.errmsg, want[i]) != NULL && strstr(b.errmsg, meant[i]) != NULL,
                      "'%s'", b.errmsg);
        ck_assert_int_eq(b.sink.opened, 0);
        brun_free(&b);
    }
    /* an unknown name unlike any column is still ignored */
    brun b;
    balance_run(&b, "NOTES|" BAL_HEADER "x|M1|I1|FGI|N|1|Ea|2026/11/01|\n", 65536,
                OHP_ON_ERROR_FAIL);
    ck_assert_msg(b.rc == OHP_OK, "%d %s", b.rc, b.errmsg);
    brun_free(&b);
}
END_TEST

/* ohp_balance_reader_locate: the line of a record (quoted line breaks and blank lines counted)
 * and the column its record error concerns. */
START_TEST(balances_locate)
{
    const char *in = BAL_HEADER "M1|\"I\n1\"|FGI|N|1|Ea|2026/11/01|\n"
                                "\n"
                                "M1|I2|FGI|N|x|Ea|2026/11/01|\n"
                                "M1|I3|FGI|N|1|Ea|2026-13-01|\n"
                                "M1|I4|FGI|N|1|Ea\n"
                                "M1|I5|FGI|N|1.5|Ea|2026/11/01|maybe\n"
                                "M1|I6|FGI|Y|2|Ea|2026/11/01|\n"
                                "M1|I7|FGI|N|1|Ea|2026/11/01|\n";
    static const uint64_t lines[] = {5, 6, 7, 8, 9};
    static const size_t cols[] = {5, 7, 0, 8, 0};
    static const char *const names[] = {"PRIMARY_QUANTITY", "LAST_UPDATE_DATE", "",
                                        "CONSIGNED_FLAG", ""};
    for (size_t chunk = 1; chunk <= 65536; chunk *= 16) {
        brun b;
        balance_run(&b, in, chunk, OHP_ON_ERROR_REJECT);
        ck_assert_msg(b.rc == OHP_OK, "%d %s", b.rc, b.errmsg);
        ck_assert_uint_eq(b.nrej, 5);
        for (size_t i = 0; i < 5; i++) {
            ck_assert_msg(b.lines[i] == lines[i], "rejection %zu: line %llu", i,
                          (unsigned long long)b.lines[i]);
            ck_assert_uint_eq(b.cols[i], cols[i]);
            ck_assert_str_eq(b.colnames[i], names[i]);
        }
        /* the serial record I6 without serials: SERIAL_NUMBERS is not in the header */
        brun_free(&b);
    }
    brun b;
    balance_run(&b, in, 5, OHP_ON_ERROR_FAIL);
    ck_assert_int_eq(b.rc, OHP_ERECORD);
    ck_assert_uint_eq(b.error_line, 5);
    ck_assert_uint_eq(b.error_col, 5);
    ck_assert_str_eq(b.error_colname, "PRIMARY_QUANTITY");
    brun_free(&b);

    uint64_t line = 1;
    ck_assert_int_eq(ohp_balance_reader_locate(NULL, 1, &line, NULL, NULL), OHP_EINVAL);
}
END_TEST

static Suite *psv_reader_suite(void)
{
    Suite *s = suite_create("psv_reader");
    TCase *tc = tcase_create("reader");
    tcase_add_test(tc, plain_rows);
    tcase_add_test(tc, quoted_fields);
    tcase_add_test(tc, crlf_line_ends);
    tcase_add_test(tc, last_line_without_lf);
    tcase_add_test(tc, empty_fields_and_lines);
    tcase_add_test(tc, line_numbers);
    tcase_add_test(tc, unterminated_quote);
    tcase_add_test(tc, junk_after_closing_quote);
    tcase_add_test(tc, max_line);
    tcase_add_test(tc, read_error);
    tcase_add_test(tc, bad_arguments);
    tcase_add_loop_test(tc, random_texts_agree, 0, 4);
    tcase_add_test(tc, nul_byte_is_an_error);
    tcase_add_test(tc, byte_order_mark_skipped);
    tcase_add_test(tc, nul_byte_in_other_readers);
    tcase_add_test(tc, external_header_near_miss);
    suite_add_tcase(s, tc);
    TCase *tb = tcase_create("balances");
    tcase_add_test(tb, balances_any_column_order);
    tcase_add_test(tb, balances_missing_columns);
    tcase_add_test(tb, balances_empty_input);
    tcase_add_test(tb, balances_bad_rows_rejected);
    tcase_add_test(tb, balance_reader_field_echoes_the_row);
    tcase_add_test(tb, balances_bad_row_fails_run);
    tcase_add_test(tb, balances_quoting_error_fails_run);
    tcase_add_test(tb, balances_nul_is_record_error);
    tcase_add_test(tb, balances_byte_order_mark);
    tcase_add_test(tb, balances_header_near_miss);
    tcase_add_test(tb, balances_locate);
    suite_add_tcase(s, tb);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(psv_reader_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
