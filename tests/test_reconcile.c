/* Reading snapshots back and reconciling them against an external side. */
#include <check.h>
#include <onhandpub.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define HEADER TU_HEADER_V1

#define EXT_HEADER                                                                                 \
    "ORGANIZATION_CODE|ITEM_NUMBER|REVISION|SUBINVENTORY_CODE|LOCATOR_NAME|LOT_NUMBER|"            \
    "SERIAL_CONTROLLED|SERIAL_NUMBERS|PRIMARY_QUANTITY|PRIMARY_UOM_CODE|LAST_UPDATE_DATE\n"

/* ---- building snapshot text ---- */

typedef struct text {
    char *s;
    size_t len, cap;
} text;

static void add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(text *t, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (t->s && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        t->cap = (t->cap + (size_t)n + 1) * 2;
        t->s = realloc(t->s, t->cap);
        ck_assert_ptr_nonnull(t->s);
    }
}

/* A snapshot: header plus lines added with sline(). */
static text snap(void)
{
    text t = {NULL, 0, 0};
    add(&t, "%s", HEADER);
    return t;
}

/* One data line.  serial "" for non-serial lines; "-" for a serial-controlled zero line. */
static void sline(text *t, const char *mode, const char *date, const char *item, const char *rev,
                  const char *sub, const char *loc, const char *lot, const char *serial,
                  const char *qty, const char *uom)
{
    int ser = serial[0] != '\0';
    add(t, "0|7|%s|%s|204|M1|1|%s|%s|%s||%s|%s||%s|%s|%s|%s|||N||||Active|2026/11/20 14:03:11\n",
        mode, date, item, rev, sub, loc, lot, ser ? "Y" : "N",
        strcmp(serial, "-") == 0 ? "" : serial, qty, uom);
}

#define D1 "2026/11/01 06:00:00"
#define D2 "2026/11/02 06:00:00"
#define D3 "2026/11/03 06:00:00"

/* ---- memory input ---- */

typedef struct mem_in {
    const char *p;
    size_t len, pos;
} mem_in;

static int mem_read_fn(void *ud, void *buf, size_t cap, size_t *got)
{
    mem_in *m = ud;
    size_t n = m->len - m->pos < cap ? m->len - m->pos : cap;
    if (n > 7)
        n = n / 2 + 1; /* odd chunk sizes */
    memcpy(buf, m->p + m->pos, n);
    m->pos += n;
    *got = n;
    return 0;
}

static int mem_seek_fn(void *ud, uint64_t off)
{
    mem_in *m = ud;
    if (off > m->len)
        return -1;
    m->pos = (size_t)off;
    return 0;
}

/* ---- collecting discrepancies ---- */

typedef struct disc {
    int kind;
    char item[32], rev[16], sub[16], loc[16], lot[16], owner[16];
    char erp_q[112], ext_q[112], diff[112], erp_uom[8], ext_uom[8], serial[32], to_sub[16];
    int side;
    unsigned long long count;
} disc;

typedef struct result {
    int rc;
    disc d[64];
    size_t n;
    ohp_reconcile_summary sum;
    char err[512];
    char uoms[8][3][112];
    size_t nuoms;
} result;

static int collect(void *ud, const ohp_discrepancy *d)
{
    result *r = ud;
    ck_assert_uint_lt(r->n, 64);
    disc *x = &r->d[r->n++];
    x->kind = d->kind;
    snprintf(x->item, sizeof x->item, "%s", d->item_number);
    snprintf(x->rev, sizeof x->rev, "%s", d->revision);
    snprintf(x->sub, sizeof x->sub, "%s", d->subinventory_code);
    snprintf(x->loc, sizeof x->loc, "%s", d->locator);
    snprintf(x->lot, sizeof x->lot, "%s", d->lot_number);
    snprintf(x->owner, sizeof x->owner, "%s", d->owning_party_id);
    snprintf(x->erp_q, sizeof x->erp_q, "%s", d->erp_quantity);
    snprintf(x->ext_q, sizeof x->ext_q, "%s", d->external_quantity);
    snprintf(x->diff, sizeof x->diff, "%s", d->difference);
    snprintf(x->erp_uom, sizeof x->erp_uom, "%s", d->erp_uom_code);
    snprintf(x->ext_uom, sizeof x->ext_uom, "%s", d->external_uom_code);
    snprintf(x->serial, sizeof x->serial, "%s", d->serial_number);
    snprintf(x->to_sub, sizeof x->to_sub, "%s", d->external_subinventory_code);
    x->side = d->side;
    x->count = d->count;
    return 0;
}

/* Load the external side before the ERP side. */
static int external_first;

/* Reconcile ERP snapshots (bare PSV texts) against an external PSV text. */
static result *reconcile(const text *erp, size_t n, const char *ext, int ignore, const char *abs,
                         const char *rel)
{
    result *res = calloc(1, sizeof *res);
    ck_assert_ptr_nonnull(res);
    ohp_reconcile_options o = OHP_RECONCILE_OPTIONS_INIT;
    o.ignore = ignore;
    o.tolerance_absolute = abs;
    o.tolerance_relative = rel;
    ohp_reconcile *rc;
    ck_assert_int_eq(ohp_reconcile_new(&rc, &o, NULL), OHP_OK);
    mem_in in[8];
    ohp_snapshot_reader *rd[8];
    ck_assert_uint_le(n, 8);
    for (size_t i = 0; i < n; i++) {
        in[i] = (mem_in){erp[i].s, erp[i].len, 0};
        ck_assert_int_eq(ohp_snapshot_reader_open_psv(&rd[i], mem_read_fn, &in[i], NULL), OHP_OK);
    }
    mem_in x = {ext, strlen(ext), 0};
    if (external_first) {
        res->rc = ohp_reconcile_load_external_psv(rc, mem_read_fn, &x);
        if (res->rc == OHP_OK)
            res->rc = ohp_reconcile_load_erp(rc, rd, n);
    } else {
        res->rc = ohp_reconcile_load_erp(rc, rd, n);
        if (res->rc == OHP_OK)
            res->rc = ohp_reconcile_load_external_psv(rc, mem_read_fn, &x);
    }
    if (res->rc == OHP_OK)
        res->rc = ohp_reconcile_run(rc, collect, res);
    res->sum = *ohp_reconcile_get_summary(rc);
    snprintf(res->err, sizeof res->err, "%s", ohp_reconcile_errmsg(rc));
    if (res->rc == OHP_OK) {
        res->nuoms = res->sum.uom_total_count;
        for (size_t i = 0; i < res->nuoms && i < 8; i++) {
            const char *u, *a, *b;
            ck_assert_int_eq(ohp_reconcile_uom_total(rc, i, &u, &a, &b), OHP_OK);
            snprintf(res->uoms[i][0], sizeof res->uoms[i][0], "%s", u);
            snprintf(res->uoms[i][1], sizeof res->uoms[i][1], "%s", a);
            snprintf(res->uoms[i][2], sizeof res->uoms[i][2], "%s", b);
        }
    }
    for (size_t i = 0; i < n; i++)
        ohp_snapshot_reader_free(rd[i]);
    ohp_reconcile_free(rc);
    return res;
}

static void free_texts(text *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(t[i].s);
}

/* ---- the reader ---- */

START_TEST(t_reader_fields)
{
    text s = snap();
    sline(&s, "FULL", D1, "A1", "B", "FGI", "L1", "LOT7", "", "120.5", "Ea");
    sline(&s, "FULL", D1, "S1", "", "FGI", "", "", "SN1", "1", "Ea");
    mem_in in = {s.s, s.len, 0};
    ohp_snapshot_reader *r;
    ck_assert_int_eq(ohp_snapshot_reader_open_psv(&r, mem_read_fn, &in, NULL), OHP_OK);
    ohp_snapshot_info info = {OHP_SNAPSHOT_INFO_VERSION, NULL, NULL, 0, 0, 0, NULL};
    ck_assert_int_eq(ohp_snapshot_reader_info(r, &info), OHP_OK);
    ck_assert_int_eq(info.mode, OHP_MODE_FULL);
    ck_assert_str_eq(info.organization_code, "M1");
    ck_assert_str_eq(info.external_system_code, "0");
    ck_assert_uint_eq(info.publish_run_id, 7);
    ck_assert(info.snapshot_date == tu_date(D1));
    const ohp_snapshot_record *rec;
    ck_assert_int_eq(ohp_snapshot_reader_next(r, &rec), 1);
    ck_assert_uint_eq(rec->line, 2);
    ck_assert_str_eq(rec->item_number, "A1");
    ck_assert_str_eq(rec->revision, "B");
    ck_assert_str_eq(rec->locator_name, "L1");
    ck_assert_str_eq(rec->primary_quantity, "120.5");
    ck_assert_str_eq(rec->secondary_quantity, "");
    ck_assert_int_eq(rec->serial_controlled, 0);
    ck_assert(rec->lot_expiration_date == OHP_TIME_NONE);
    ck_assert_int_eq(ohp_snapshot_reader_next(r, &rec), 1);
    ck_assert_str_eq(rec->serial_number, "SN1");
    ck_assert_int_eq(rec->serial_controlled, 1);
    ck_assert_int_eq(ohp_snapshot_reader_next(r, &rec), 0);
    ck_assert_int_eq(ohp_snapshot_reader_next(r, &rec), 0);
    ohp_snapshot_reader_free(r);
    free(s.s);
}
END_TEST

/* Each malformed line fails with its line and column in the message. */
static const struct {
    const char *line;
    const char *expect;
} bad_lines[] = {
    {"0|7|FULL|" D1 "|204|M1|1|A||FGI|||||N||12.50|Ea|||N||||x|" D1 "\n", "line 3, column 17"},
    {"0|7|FULL|" D1 "|204|M1|1|A||FGI|||||N||012|Ea|||N||||x|" D1 "\n", "line 3, column 17"},
    {"0|7|FULL|" D1 "|204|M1|1|A|||||||N||1|Ea|||N||||x|" D1 "\n", "line 3, column 10"},
    {"0|7|FULL|" D1 "|204|M1|1|A||FGI|||||Y|SN1|2|Ea|||N||||x|" D1 "\n", "line 3, column 17"},
    {"0|7|FULL|" D1 "|204|M1|1|A||FGI|||||N|SN1|2|Ea|||N||||x|" D1 "\n", "line 3, column 16"},
    {"0|7|FULL|" D1 "|204|M1|1|A||FGI|||||X||2|Ea|||N||||x|" D1 "\n", "line 3, column 15"},
    {"0|7|FULL|" D1 "|204|M1|1|A||FGI|||||N||2|Ea|||Q||||x|" D1 "\n", "line 3, column 21"},
    {"0|7|FULL|" D1 "|20x|M1|1|A||FGI|||||N||2|Ea|||N||||x|" D1 "\n", "line 3, column 5"},
    {"0|7|FULL|" D1 "|204|M1|1|A||FGI||||2026-01-01|N||2|Ea|||N||||x|" D1 "\n",
     "line 3, column 14"},
    {"0|7|FULL|" D1 "|204|M1|1|A||FGI|||||N||2|Ea|||N||||x|2026/02/30 00:00:00\n",
     "line 3, column 26"},
    {"0|7|FULL|" D1 "|204|M1|1|A||FGI|||||N||2|Ea|1.5||N||||x|" D1 "\n", "line 3, column 20"},
    {"0|7|INCREMENTAL|" D1 "|204|M1|1|A||FGI|||||N||2|Ea|||N||||x|" D1 "\n", "line 3, column 3"},
    {"0|7|FULL|" D1 "|204|M2|1|A||FGI|||||N||2|Ea|||N||||x|" D1 "\n", "line 3, column 6"},
    {"0|8|FULL|" D1 "|204|M1|1|A||FGI|||||N||2|Ea|||N||||x|" D1 "\n", "line 3, column 2"},
    {"5|7|FULL|" D1 "|204|M1|1|A||FGI|||||N||2|Ea|||N||||x|" D1 "\n", "line 3, column 1"},
    {"0|7|FULL|" D2 "|204|M1|1|A||FGI|||||N||2|Ea|||N||||x|" D1 "\n", "line 3, column 4"},
    {"0|7|FULL|2026/11/01 6:00:00|204|M1|1|A||FGI|||||N||2|Ea|||N||||x|" D1 "\n",
     "line 3, column 4"},
    {"0|07|FULL|" D1 "|204|M1|1|A||FGI|||||N||2|Ea|||N||||x|" D1 "\n", "line 3, column 2"},
    {"0|7|FULL|" D1 "|204|M1|1|A||FGI|||||N||2|Ea|||N||||x\n", "line 3, column 26"},
    {"0|7|FULL|" D1 "|204|M1|1|A||FGI|||||N||2|\n", "line 3, column 19"},
    {"0|7|FULL|" D1 "|204|M1|1|A||FGI|||||Y||1|Ea|||N||||x|" D1 "\n", "line 3, column 16"},
    {"0|7|FULL|" D1 "|204|M1|1|A||FGI|||||Y|S9|1|Ea|3|Kg|N||||x|" D1 "\n", "line 3, column 19"},
    {"0|7|FULL|" D1 "|204|M1|1|A||FGI|||||N||\xff|Ea|||N||||x|" D1 "\n", "line 3, column 17"},
};

START_TEST(t_reader_malformed)
{
    text s = snap();
    sline(&s, "FULL", D1, "OK", "", "FGI", "", "", "", "1", "Ea");
    add(&s, "%s", bad_lines[_i].line);
    mem_in in = {s.s, s.len, 0};
    ohp_snapshot_reader *r;
    ck_assert_int_eq(ohp_snapshot_reader_open_psv(&r, mem_read_fn, &in, NULL), OHP_OK);
    const ohp_snapshot_record *rec;
    ck_assert_int_eq(ohp_snapshot_reader_next(r, &rec), 1);
    int rc = ohp_snapshot_reader_next(r, &rec);
    ck_assert_int_eq(rc, OHP_EPARSE);
    ck_assert_msg(strstr(ohp_snapshot_reader_errmsg(r), bad_lines[_i].expect) != NULL,
                  "case %d: '%s' lacks '%s'", _i, ohp_snapshot_reader_errmsg(r),
                  bad_lines[_i].expect);
    /* sticky */
    ck_assert_int_eq(ohp_snapshot_reader_next(r, &rec), OHP_EPARSE);
    ohp_snapshot_reader_free(r);
    free(s.s);
}
END_TEST

START_TEST(t_reader_bad_header)
{
    const char *in_text = "EXTERNAL_SYSTEM_CODE|PUBLISH_RUN_ID|MODE\n";
    mem_in in = {in_text, strlen(in_text), 0};
    ohp_snapshot_reader *r;
    ck_assert_int_eq(ohp_snapshot_reader_open_psv(&r, mem_read_fn, &in, NULL), OHP_OK);
    const ohp_snapshot_record *rec;
    ck_assert_int_eq(ohp_snapshot_reader_next(r, &rec), OHP_EPARSE);
    ck_assert_ptr_nonnull(strstr(ohp_snapshot_reader_errmsg(r), "line 1, column 3"));
    ohp_snapshot_reader_free(r);
    /* not a ZIP */
    ck_assert_int_eq(ohp_snapshot_reader_open_memory(&r, "hello", 5, NULL), OHP_OK);
    ck_assert_int_eq(ohp_snapshot_reader_next(r, &rec), OHP_EPARSE);
    ck_assert_ptr_nonnull(strstr(ohp_snapshot_reader_errmsg(r), "not a ZIP"));
    ohp_snapshot_reader_free(r);
    ck_assert_int_eq(ohp_snapshot_reader_open_psv(NULL, mem_read_fn, &in, NULL), OHP_EINVAL);
    ck_assert_int_eq(ohp_snapshot_reader_open_psv(&r, NULL, &in, NULL), OHP_EINVAL);
    ck_assert_ptr_null(r);
    ohp_snapshot_reader_free(NULL);
}
END_TEST

/* ---- publishing a source into a ZIP ---- */

typedef struct zsrc {
    size_t n, next;
    char item[32], qty[32], lot[32], serials[64];
} zsrc;

/* Record i: every 7th serial-controlled with 3 serials, others with a lot. */
static int zsrc_next(void *ud, ohp_record *rec)
{
    zsrc *g = ud;
    if (g->next >= g->n)
        return 0;
    size_t i = g->next++;
    snprintf(g->item, sizeof g->item, "ITEM-%04zu", i);
    rec->organization_code = "M1";
    rec->item_number = g->item;
    rec->subinventory_code = i % 3 ? "FGI" : "RAW|MAT";
    rec->primary_uom_code = i % 5 ? "Ea" : "Kg";
    rec->last_update_date = "2026/11/01 08:00:00";
    if (i % 7 == 6) {
        rec->serial_controlled = 1;
        snprintf(g->serials, sizeof g->serials, "S%zu-01..S%zu-03", i, i);
        rec->serial_list = g->serials;
        rec->primary_quantity = "3";
    } else {
        snprintf(g->qty, sizeof g->qty, "%zu.%02zu0", i + 1, i % 100);
        rec->primary_quantity = g->qty;
        snprintf(g->lot, sizeof g->lot, "LOT%zu", i % 13);
        rec->lot_number = g->lot;
    }
    return 1;
}

/* The same source in the balances input layout. */
static text zsrc_balances(size_t n)
{
    text t = {NULL, 0, 0};
    add(&t, "%s", EXT_HEADER);
    zsrc g = {n, 0, "", "", "", ""};
    ohp_record rec;
    for (;;) {
        memset(&rec, 0, sizeof rec);
        if (zsrc_next(&g, &rec) == 0)
            break;
        int quote = strchr(rec.subinventory_code, '|') != NULL;
        add(&t, "M1|%s||%s%s%s||%s|%s|%s|%s|%s|%s\n", rec.item_number, quote ? "\"" : "",
            rec.subinventory_code, quote ? "\"" : "", rec.lot_number ? rec.lot_number : "",
            rec.serial_controlled ? "Y" : "N", rec.serial_list ? rec.serial_list : "",
            rec.primary_quantity, rec.primary_uom_code, rec.last_update_date);
    }
    return t;
}

static unsigned char *publish(size_t n, int level, size_t *len)
{
    ohp_job *job;
    ck_assert_int_eq(ohp_job_new(&job, NULL), OHP_OK);
    zsrc g = {n, 0, "", "", "", ""};
    ck_assert_int_eq(ohp_job_set_source(job, NULL, zsrc_next, NULL, &g), OHP_OK);
    ohp_memsink *ms;
    ck_assert_int_eq(ohp_memsink_new(&ms, NULL), OHP_OK);
    ck_assert_int_eq(ohp_job_set_memsink(job, ms), OHP_OK);
    ohp_params p;
    ck_assert_int_eq(ohp_params_init(&p, OHP_PARAMS_VERSION), OHP_OK);
    p.organization_code = "M1";
    p.snapshot_date = tu_date("2026/11/02 06:07:08");
    p.run_id = 42;
    p.user = "tester";
    p.caller_authorized = 1;
    p.full_publish = 1;
    p.compression_level = level;
    ck_assert_int_eq(ohp_job_run(job, &p), OHP_OK);
    size_t l;
    const void *d = ohp_memsink_data(ms, &l);
    unsigned char *copy = malloc(l);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, d, l);
    *len = l;
    ohp_memsink_free(ms);
    ohp_job_free(job);
    return copy;
}

static size_t small_n(size_t n)
{
    return getenv("OHP_UNDER_VALGRIND") ? n / 10 + 10 : n;
}

/* Publish a source, reconcile the ZIP against that same source: nothing differs. */
START_TEST(t_round_trip)
{
    size_t n = small_n(700);
    size_t len;
    unsigned char *zip = publish(n, _i == 0 ? 6 : 0, &len);
    text ext = zsrc_balances(n);
    ohp_reconcile *rc;
    ck_assert_int_eq(ohp_reconcile_new(&rc, NULL, NULL), OHP_OK);
    ohp_snapshot_reader *r;
    ck_assert_int_eq(ohp_snapshot_reader_open_memory(&r, zip, len, NULL), OHP_OK);
    ohp_snapshot_info info = {OHP_SNAPSHOT_INFO_VERSION, NULL, NULL, 0, 0, 0, NULL};
    ck_assert_int_eq(ohp_snapshot_reader_info(r, &info), OHP_OK);
    ck_assert_str_eq(info.entry_name, "ONHAND_0_M1_42_20261102060708.psv");
    ck_assert_int_eq(ohp_reconcile_load_erp(rc, &r, 1), OHP_OK);
    mem_in x = {ext.s, ext.len, 0};
    ck_assert_int_eq(ohp_reconcile_load_external_psv(rc, mem_read_fn, &x), OHP_OK);
    result *res = calloc(1, sizeof *res);
    ck_assert_int_eq(ohp_reconcile_run(rc, collect, res), OHP_OK);
    const ohp_reconcile_summary *s = ohp_reconcile_get_summary(rc);
    ck_assert_uint_eq(res->n, 0);
    ck_assert_uint_eq(s->discrepancies, 0);
    ck_assert_uint_eq(s->keys_compared, n);
    ck_assert_uint_eq(s->matched, n);
    ck_assert_uint_eq(s->external_lines, n);
    ck_assert_uint_eq(s->erp_lines, n + 2 * (n / 7)); /* 3 lines per serial record */
    ck_assert_uint_eq(s->erp_serials, 3 * (n / 7));
    ck_assert_uint_eq(s->external_serials, 3 * (n / 7));
    ck_assert_uint_eq(s->uom_total_count, 2);
    const char *u, *a, *b;
    for (size_t i = 0; i < 2; i++) {
        ck_assert_int_eq(ohp_reconcile_uom_total(rc, i, &u, &a, &b), OHP_OK);
        ck_assert_str_eq(a, b);
    }
    ck_assert_int_eq(ohp_reconcile_uom_total(rc, 2, &u, &a, &b), OHP_EINVAL);
    ck_assert_int_eq(ohp_reconcile_run(rc, collect, res), OHP_ESTATE);
    free(res);
    ohp_snapshot_reader_free(r);
    ohp_reconcile_free(rc);
    free(ext.s);
    free(zip);
}
END_TEST

/* Reading through read/seek callbacks gives the same records as from memory. */
START_TEST(t_zip_callbacks)
{
    size_t len;
    unsigned char *zip = publish(small_n(100), 6, &len);
    mem_in in = {(const char *)zip, len, 0};
    ohp_snapshot_reader *a, *b;
    ck_assert_int_eq(ohp_snapshot_reader_open_zip(&a, mem_read_fn, mem_seek_fn, &in, len, NULL),
                     OHP_OK);
    ck_assert_int_eq(ohp_snapshot_reader_open_memory(&b, zip, len, NULL), OHP_OK);
    const ohp_snapshot_record *ra, *rb;
    size_t lines = 0;
    for (;;) {
        int x = ohp_snapshot_reader_next(a, &ra);
        char item[32] = "";
        if (x == 1)
            snprintf(item, sizeof item, "%s", ra->item_number);
        int y = ohp_snapshot_reader_next(b, &rb);
        ck_assert_int_eq(x, y);
        if (x != 1)
            break;
        ck_assert_str_eq(item, rb->item_number);
        lines++;
    }
    ck_assert_uint_gt(lines, 0);
    ohp_snapshot_reader_free(a);
    ohp_snapshot_reader_free(b);
    free(zip);
}
END_TEST

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/*
 * Read the whole snapshot from memory, or with callbacks through read/seek
 * callbacks (the entry's data then goes through the reader's buffer);
 * returns the final code.
 */
static int read_snapshot(const unsigned char *zip, size_t len, int callbacks, char *msg,
                         size_t msize)
{
    mem_in in = {(const char *)zip, len, 0};
    ohp_snapshot_reader *r;
    if (callbacks)
        ck_assert_int_eq(ohp_snapshot_reader_open_zip(&r, mem_read_fn, mem_seek_fn, &in, len, NULL),
                         OHP_OK);
    else
        ck_assert_int_eq(ohp_snapshot_reader_open_memory(&r, zip, len, NULL), OHP_OK);
    const ohp_snapshot_record *rec;
    int rc;
    while ((rc = ohp_snapshot_reader_next(r, &rec)) == 1)
        ;
    snprintf(msg, msize, "%s", ohp_snapshot_reader_errmsg(r));
    ohp_snapshot_reader_free(r);
    return rc;
}

static int read_all(const unsigned char *zip, size_t len, char *msg, size_t msize)
{
    return read_snapshot(zip, len, 0, msg, msize);
}

static int read_all_cb(const unsigned char *zip, size_t len, char *msg, size_t msize)
{
    return read_snapshot(zip, len, 1, msg, msize);
}

/* A flipped byte anywhere that matters is an error, never different data. */
START_TEST(t_corrupt_zip)
{
    size_t len;
    int level = _i == 0 ? 6 : 0;
    unsigned char *zip = publish(small_n(200), level, &len);
    char msg[512];
    ck_assert_int_eq(read_all(zip, len, msg, sizeof msg), 0);
    /* locate the pieces: local header, data, descriptor, central directory */
    ck_assert_uint_eq(rd32(zip), 0x04034b50u);
    size_t name_len = (size_t)(zip[26] | zip[27] << 8),
           extra_len = (size_t)(zip[28] | zip[29] << 8);
    size_t data = 30 + name_len + extra_len;
    size_t cd = len;
    for (size_t i = len - 22; i > 0; i--)
        if (rd32(zip + i) == 0x02014b50u) {
            cd = i;
            break;
        }
    ck_assert_uint_lt(cd, len);
    size_t desc = cd - 24;
    ck_assert_uint_eq(rd32(zip + desc), 0x08074b50u);
    size_t targets[4] = {data + (desc - data) / 2, data + 5, desc + 5, cd + 17};
    for (size_t t = 0; t < 4; t++) {
        for (int bit = 0; bit < 8; bit += 3) {
            unsigned char *c = malloc(len);
            memcpy(c, zip, len);
            c[targets[t]] ^= (unsigned char)(1u << bit);
            int rc = read_all(c, len, msg, sizeof msg);
            ck_assert_msg(rc < 0, "flip at %zu bit %d read back without error", targets[t], bit);
            ck_assert_msg(rc == OHP_EPARSE, "rc %d: %s", rc, msg);
            rc = read_all_cb(c, len, msg, sizeof msg);
            ck_assert_msg(rc == OHP_EPARSE, "callbacks, flip at %zu bit %d: rc %d: %s", targets[t],
                          bit, rc, msg);
            free(c);
        }
    }
    /* the CRC in the central directory and in the data descriptor name themselves */
    zip[cd + 16] ^= 1;
    ck_assert_int_eq(read_all(zip, len, msg, sizeof msg), OHP_EPARSE);
    ck_assert_ptr_nonnull(strstr(msg, "CRC-32"));
    zip[cd + 16] ^= 1;
    zip[desc + 4] ^= 1;
    ck_assert_int_eq(read_all(zip, len, msg, sizeof msg), OHP_EPARSE);
    ck_assert_ptr_nonnull(strstr(msg, "data descriptor"));
    zip[desc + 4] ^= 1;
    /* truncated */
    ck_assert_int_eq(read_all(zip, len - 10, msg, sizeof msg), OHP_EPARSE);
    /* a central directory that gives the data fewer bytes than it has */
    uint32_t csize = rd32(zip + cd + 20);
    for (int cb = 0; cb < 2; cb++) {
        unsigned char *c = malloc(len);
        memcpy(c, zip, len);
        uint32_t half = csize / 2;
        for (int i = 0; i < 4; i++)
            c[cd + 20 + i] = (unsigned char)(half >> (8 * i));
        int rc = cb ? read_all_cb(c, len, msg, sizeof msg) : read_all(c, len, msg, sizeof msg);
        ck_assert_msg(rc == OHP_EPARSE, "short entry, callbacks %d: rc %d: %s", cb, rc, msg);
        ck_assert_msg(strstr(msg, level ? "ends early" : "its size is") != NULL, "message: %s",
                      msg);
        free(c);
    }
    /* the reconciler refuses the damaged side */
    zip[data + (desc - data) / 2] ^= 0x10;
    ohp_reconcile *rc;
    ck_assert_int_eq(ohp_reconcile_new(&rc, NULL, NULL), OHP_OK);
    ohp_snapshot_reader *r;
    ck_assert_int_eq(ohp_snapshot_reader_open_memory(&r, zip, len, NULL), OHP_OK);
    ck_assert_int_eq(ohp_reconcile_load_erp(rc, &r, 1), OHP_EPARSE);
    ck_assert_ptr_nonnull(strstr(ohp_reconcile_errmsg(rc), "ERP side, snapshot 1"));
    ohp_snapshot_reader_free(r);
    ohp_reconcile_free(rc);
    free(zip);
}
END_TEST

/* ---- the classes ---- */

START_TEST(t_classes)
{
    text s = snap();
    sline(&s, "FULL", D1, "A", "", "FGI", "", "", "", "10.5", "Ea"); /* quantity */
    sline(&s, "FULL", D1, "B", "", "FGI", "", "", "", "4", "Ea");    /* matched */
    sline(&s, "FULL", D1, "C", "", "FGI", "", "", "", "2", "Ea");    /* missing external */
    sline(&s, "FULL", D1, "E", "", "FGI", "", "", "", "3", "Ea");    /* uom */
    sline(&s, "FULL", D1, "B", "", "RAW", "", "", "", "1.25", "Ea"); /* summed: 2.5 */
    sline(&s, "FULL", D1, "B", "", "RAW", "", "", "", "1.25", "Ea");
    const char *ext = EXT_HEADER "M1|A||FGI|||N||10.25|Ea|x\n"
                                 "M1|B||FGI|||N||4.000|Ea|x\n"
                                 "M1|D||FGI|||N||7|Ea|x\n"
                                 "M1|E||FGI|||N||3|Kg|x\n"
                                 "M1|B||RAW|||N||2|Ea|x\n"
                                 "M1|B||RAW|||N||0.5|Ea|x\n"
                                 "M1|F||FGI|||N||0|Ea|x\n";
    result *r = reconcile(&s, 1, ext, 0, NULL, NULL);
    ck_assert_msg(r->rc == OHP_OK, "%s", r->err);
    ck_assert_uint_eq(r->n, 4);
    ck_assert_int_eq(r->d[0].kind, OHP_DISC_QUANTITY);
    ck_assert_str_eq(r->d[0].item, "A");
    ck_assert_str_eq(r->d[0].erp_q, "10.5");
    ck_assert_str_eq(r->d[0].ext_q, "10.25");
    ck_assert_str_eq(r->d[0].diff, "-0.25");
    ck_assert_int_eq(r->d[1].kind, OHP_DISC_MISSING_EXTERNAL);
    ck_assert_str_eq(r->d[1].item, "C");
    ck_assert_str_eq(r->d[1].erp_q, "2");
    ck_assert_str_eq(r->d[1].ext_q, "");
    ck_assert_int_eq(r->d[2].kind, OHP_DISC_MISSING_ERP);
    ck_assert_str_eq(r->d[2].item, "D");
    ck_assert_str_eq(r->d[2].ext_q, "7");
    ck_assert_int_eq(r->d[3].kind, OHP_DISC_UOM);
    ck_assert_str_eq(r->d[3].erp_uom, "Ea");
    ck_assert_str_eq(r->d[3].ext_uom, "Kg");
    ck_assert_str_eq(r->d[3].diff, "");
    const ohp_reconcile_summary *m = &r->sum;
    ck_assert_uint_eq(m->erp_lines, 6);
    ck_assert_uint_eq(m->external_lines, 7);
    ck_assert_uint_eq(m->erp_keys, 5);
    ck_assert_uint_eq(m->external_keys, 5);
    ck_assert_uint_eq(m->keys_compared, 6);
    ck_assert_uint_eq(m->matched, 2);
    ck_assert_uint_eq(m->quantity_mismatch, 1);
    ck_assert_uint_eq(m->missing_external, 1);
    ck_assert_uint_eq(m->missing_erp, 1);
    ck_assert_uint_eq(m->uom_mismatch, 1);
    ck_assert_uint_eq(m->discrepancies, 4);
    ck_assert_uint_eq(r->nuoms, 2);
    ck_assert_str_eq(r->uoms[0][0], "Ea");
    ck_assert_str_eq(r->uoms[0][1], "22");
    ck_assert_str_eq(r->uoms[0][2], "23.75");
    ck_assert_str_eq(r->uoms[1][0], "Kg");
    ck_assert_str_eq(r->uoms[1][1], "0");
    ck_assert_str_eq(r->uoms[1][2], "3");
    free(r);
    free(s.s);
}
END_TEST

START_TEST(t_serials)
{
    text s = snap();
    sline(&s, "FULL", D1, "SRV", "", "FGI", "", "", "S1", "1", "Ea");
    sline(&s, "FULL", D1, "SRV", "", "FGI", "", "", "S2", "1", "Ea");
    sline(&s, "FULL", D1, "SRV", "", "FGI", "", "", "S3", "1", "Ea");
    sline(&s, "FULL", D1, "SRV", "", "FGI", "", "", "S6", "1", "Ea");
    sline(&s, "FULL", D1, "SRV", "", "RAW", "", "", "S6", "1", "Ea"); /* duplicate on ERP */
    const char *ext = EXT_HEADER "M1|SRV||FGI|||Y|S1, S4,S6|3|Ea|x\n"
                                 "M1|SRV||RAW|||Y|S2,S5 .. S5|2|Ea|x\n"
                                 "M1|SRV||RAW|||Y|S5|1|Ea|x\n";
    result *r = reconcile(&s, 1, ext, 0, NULL, NULL);
    ck_assert_msg(r->rc == OHP_OK, "%s", r->err);
    /* FGI: ERP S1 S2 S3 S6 (4), ext S1 S4 S6 (3); S2 moved to RAW, S3 missing ext, S4 missing ERP.
     * RAW: ERP S6 (1), ext S2 S5 S5 (3). */
    ck_assert_uint_eq(r->sum.serial_moved, 1);
    ck_assert_uint_eq(r->sum.serial_missing_external, 1);
    ck_assert_uint_eq(r->sum.serial_missing_erp, 2);
    ck_assert_uint_eq(r->sum.serial_duplicate, 2);
    ck_assert_uint_eq(r->sum.erp_serials, 4);
    ck_assert_uint_eq(r->sum.external_serials, 5);
    /* key FGI first (net ERP 4-1 moved = 3 = ext 3: no quantity line) */
    size_t k = 0;
    ck_assert_int_eq(r->d[k].kind, OHP_DISC_SERIAL_MOVED);
    ck_assert_str_eq(r->d[k].serial, "S2");
    ck_assert_str_eq(r->d[k].sub, "FGI");
    ck_assert_str_eq(r->d[k].to_sub, "RAW");
    k++;
    ck_assert_int_eq(r->d[k].kind, OHP_DISC_SERIAL_MISSING_EXTERNAL);
    ck_assert_str_eq(r->d[k].serial, "S3");
    k++;
    ck_assert_int_eq(r->d[k].kind, OHP_DISC_SERIAL_MISSING_ERP);
    ck_assert_str_eq(r->d[k].serial, "S4");
    k++;
    ck_assert_int_eq(r->d[k].kind, OHP_DISC_SERIAL_DUPLICATE);
    ck_assert_str_eq(r->d[k].serial, "S6");
    ck_assert_int_eq(r->d[k].side, OHP_SIDE_ERP);
    ck_assert_uint_eq(r->d[k].count, 2);
    k++;
    /* RAW: ERP 1, ext 3 - 1 moved in = 2: a quantity mismatch */
    ck_assert_int_eq(r->d[k].kind, OHP_DISC_QUANTITY);
    ck_assert_str_eq(r->d[k].sub, "RAW");
    ck_assert_str_eq(r->d[k].erp_q, "1");
    ck_assert_str_eq(r->d[k].ext_q, "3");
    ck_assert_str_eq(r->d[k].diff, "1"); /* net of the serial moved in: 2 - 1 */
    k++;
    ck_assert_int_eq(r->d[k].kind, OHP_DISC_SERIAL_MISSING_ERP);
    ck_assert_str_eq(r->d[k].serial, "S5");
    k++;
    ck_assert_int_eq(r->d[k].kind, OHP_DISC_SERIAL_DUPLICATE);
    ck_assert_str_eq(r->d[k].serial, "S5");
    ck_assert_int_eq(r->d[k].side, OHP_SIDE_EXTERNAL);
    ck_assert_uint_eq(r->d[k].count, 2);
    k++;
    ck_assert_uint_eq(r->n, k);
    free(r);
    free(s.s);
}
END_TEST

/* A serial moved between keys, nothing else: one move, no key lines. */
START_TEST(t_serial_move_only)
{
    text s = snap();
    sline(&s, "FULL", D1, "SRV", "", "FGI", "L1", "", "S1", "1", "Ea");
    sline(&s, "FULL", D1, "SRV", "", "FGI", "L1", "", "S2", "1", "Ea");
    const char *ext = EXT_HEADER "M1|SRV||FGI|L1||Y|S1|1|Ea|x\n"
                                 "M1|SRV||FGI|L2||Y|S2|1|Ea|x\n";
    result *r = reconcile(&s, 1, ext, 0, NULL, NULL);
    ck_assert_msg(r->rc == OHP_OK, "%s", r->err);
    ck_assert_uint_eq(r->n, 1);
    ck_assert_int_eq(r->d[0].kind, OHP_DISC_SERIAL_MOVED);
    ck_assert_str_eq(r->d[0].loc, "L1");
    ck_assert_uint_eq(r->sum.discrepancies, 1);
    free(r);
    /* ignoring the locator, it is no move at all */
    r = reconcile(&s, 1, ext, OHP_IGNORE_LOCATOR, NULL, NULL);
    ck_assert_uint_eq(r->n, 0);
    ck_assert_uint_eq(r->sum.matched, 1);
    free(r);
    /* an external side without serials: serials are not compared */
    r = reconcile(&s, 1, EXT_HEADER "M1|SRV||FGI|L1||Y||2|Ea|x\n", 0, NULL, NULL);
    ck_assert_uint_eq(r->n, 0);
    free(r);
    /* ... nor when only another organization's lines carry serials */
    r = reconcile(&s, 1,
                  EXT_HEADER "M1|SRV||FGI|L1||Y||2|Ea|x\n"
                             "M2|SRV||FGI|L1||Y|Z9|1|Ea|x\n",
                  0, NULL, NULL);
    ck_assert_msg(r->rc == OHP_OK, "%s", r->err);
    ck_assert_uint_eq(r->n, 0);
    ck_assert_uint_eq(r->sum.external_serials, 0);
    ck_assert_uint_eq(r->sum.erp_serials, 2);
    ck_assert_uint_eq(r->sum.external_other_organization, 1);
    free(r);
    /* a move and an extra serial at L1: equal quantities, but one more than the move explains */
    r = reconcile(&s, 1,
                  EXT_HEADER "M1|SRV||FGI|L1||Y|S1|1|Ea|x\n"
                             "M1|SRV||FGI|L1||Y|S3|1|Ea|x\n"
                             "M1|SRV||FGI|L2||Y|S2|1|Ea|x\n",
                  0, NULL, NULL);
    ck_assert_msg(r->rc == OHP_OK, "%s", r->err);
    ck_assert_uint_eq(r->n, 3);
    ck_assert_int_eq(r->d[0].kind, OHP_DISC_QUANTITY);
    ck_assert_str_eq(r->d[0].erp_q, "2");
    ck_assert_str_eq(r->d[0].ext_q, "2");
    ck_assert_str_eq(r->d[0].diff, "1"); /* net of the move: 1 on the ERP side, 2 outside */
    ck_assert_int_eq(r->d[1].kind, OHP_DISC_SERIAL_MOVED);
    ck_assert_str_eq(r->d[1].serial, "S2");
    ck_assert_int_eq(r->d[2].kind, OHP_DISC_SERIAL_MISSING_ERP);
    ck_assert_str_eq(r->d[2].serial, "S3");
    free(r);
    /* within an absolute tolerance of 1, the key's net difference is tolerated */
    r = reconcile(&s, 1,
                  EXT_HEADER "M1|SRV||FGI|L1||Y|S1|1|Ea|x\n"
                             "M1|SRV||FGI|L1||Y|S3|1|Ea|x\n"
                             "M1|SRV||FGI|L2||Y|S2|1|Ea|x\n",
                  0, "1", NULL);
    ck_assert_uint_eq(r->n, 2);
    ck_assert_uint_eq(r->sum.within_tolerance, 1);
    free(r);
    free(s.s);
}
END_TEST

/* ---- folding ---- */

START_TEST(t_fold)
{
    text v[3] = {snap(), snap(), snap()};
    sline(&v[0], "FULL", D1, "A", "", "FGI", "", "", "", "10", "Ea");
    sline(&v[0], "FULL", D1, "B", "", "FGI", "", "", "", "5", "Ea");
    sline(&v[0], "FULL", D1, "S", "", "FGI", "", "", "S1", "1", "Ea");
    sline(&v[0], "FULL", D1, "S", "", "FGI", "", "", "S2", "1", "Ea");
    sline(&v[0], "FULL", D1, "C", "", "FGI", "", "", "", "1", "Ea");
    /* D2: A changes, B removed, S replaced by S3 only */
    sline(&v[1], "INCREMENTAL", D2, "A", "", "FGI", "", "", "", "12", "Ea");
    sline(&v[1], "INCREMENTAL", D2, "B", "", "FGI", "", "", "", "0", "Ea");
    sline(&v[1], "INCREMENTAL", D2, "S", "", "FGI", "", "", "S3", "1", "Ea");
    /* D3: A again, C gone through a serial-style zero line, new D */
    sline(&v[2], "INCREMENTAL", D3, "A", "", "FGI", "", "", "", "7", "Ea");
    sline(&v[2], "INCREMENTAL", D3, "A", "", "FGI", "", "", "", "1", "Ea");
    sline(&v[2], "INCREMENTAL", D3, "D", "", "FGI", "", "", "", "4", "Ea");
    const char *ext = EXT_HEADER "M1|A||FGI|||N||8|Ea|x\n"
                                 "M1|S||FGI|||Y|S3|1|Ea|x\n"
                                 "M1|C||FGI|||N||1|Ea|x\n"
                                 "M1|D||FGI|||N||4|Ea|x\n";
    /* given out of order: folded by snapshot date */
    text order[3] = {v[2], v[0], v[1]};
    result *r = reconcile(order, 3, ext, 0, NULL, NULL);
    ck_assert_msg(r->rc == OHP_OK, "%s", r->err);
    ck_assert_uint_eq(r->n, 0);
    ck_assert_uint_eq(r->sum.matched, 4);
    ck_assert_uint_eq(r->sum.erp_lines, 5 + 3 + 3);
    ck_assert_uint_eq(r->sum.erp_serials, 1);
    free(r);
    /* a second FULL replaces everything before it */
    text f2 = snap();
    sline(&f2, "FULL", D3, "Z", "", "FGI", "", "", "", "1", "Ea");
    text order2[3] = {v[0], v[1], f2};
    r = reconcile(order2, 3, EXT_HEADER "M1|Z||FGI|||N||1|Ea|x\n", 0, NULL, NULL);
    ck_assert_msg(r->rc == OHP_OK, "%s", r->err);
    ck_assert_uint_eq(r->n, 0);
    free(r);
    free(f2.s);
    free_texts(v, 3);
}
END_TEST

START_TEST(t_fold_refused)
{
    text a = snap(), b = snap(), c = snap(), d = snap(), e = snap();
    sline(&a, "FULL", D1, "A", "", "FGI", "", "", "", "10", "Ea");
    sline(&b, "INCREMENTAL", D2, "A", "", "FGI", "", "", "", "10", "Ea");
    add(&c, "0|7|FULL|" D3 "|204|M2|1|A||FGI|||||N||2|Ea|||N||||x|" D1 "\n");
    add(&d, "9|7|INCREMENTAL|" D3 "|204|M1|1|A||FGI|||||N||2|Ea|||N||||x|" D1 "\n");
    sline(&e, "INCREMENTAL", D1, "A", "", "FGI", "", "", "", "10", "Ea");
    const char *ext = EXT_HEADER;
    result *r = reconcile(&b, 1, ext, 0, NULL, NULL);
    ck_assert_int_eq(r->rc, OHP_EINVAL);
    ck_assert_ptr_nonnull(strstr(r->err, "no FULL snapshot before it"));
    free(r);
    text x1[2] = {b, a}; /* fine: sorted */
    r = reconcile(x1, 2, ext, 0, NULL, NULL);
    ck_assert_int_eq(r->rc, OHP_OK);
    free(r);
    text x2[2] = {a, c};
    r = reconcile(x2, 2, ext, 0, NULL, NULL);
    ck_assert_int_eq(r->rc, OHP_EINVAL);
    ck_assert_ptr_nonnull(strstr(r->err, "different organizations"));
    free(r);
    text x3[2] = {a, d};
    r = reconcile(x3, 2, ext, 0, NULL, NULL);
    ck_assert_int_eq(r->rc, OHP_EINVAL);
    ck_assert_ptr_nonnull(strstr(r->err, "different external systems"));
    free(r);
    text x4[2] = {a, e};
    r = reconcile(x4, 2, ext, 0, NULL, NULL);
    ck_assert_int_eq(r->rc, OHP_EINVAL);
    ck_assert_ptr_nonnull(strstr(r->err, "same snapshot date"));
    free(r);
    free(a.s);
    free(b.s);
    free(c.s);
    free(d.s);
    free(e.s);
}
END_TEST

/*
 * Sums past 18 digits move to exact accumulators: they still match, differ
 * and total exactly, and a fold that replaces such a key frees it.
 */
START_TEST(t_big_quantities)
{
    text v[2] = {snap(), snap()};
    /* B: 900000000000000000 + 0.5 + 0.05 no longer fits 64 bits at scale 2 */
    sline(&v[0], "FULL", D1, "B", "", "FGI", "", "", "", "900000000000000000", "Ea");
    sline(&v[0], "FULL", D1, "B", "", "FGI", "", "", "", "0.5", "Ea");
    sline(&v[0], "FULL", D1, "B", "", "FGI", "", "", "", "0.05", "Ea");
    /* C: 19 digits from the start */
    sline(&v[0], "FULL", D1, "C", "", "FGI", "", "", "", "9223372036854775807", "Ea");
    /* F: 20 digits, replaced by the incremental */
    sline(&v[0], "FULL", D1, "F", "", "FGI", "", "", "", "99999999999999999999", "Ea");
    sline(&v[1], "INCREMENTAL", D2, "F", "", "FGI", "", "", "", "1", "Ea");
    const char *ext = EXT_HEADER "M1|B||FGI|||N||900000000000000000.55|Ea|x\n"
                                 "M1|C||FGI|||N||9223372036854775806|Ea|x\n"
                                 "M1|F||FGI|||N||1|Ea|x\n";
    for (int chain = 0; chain < 2; chain++) {
        result *r = reconcile(v, chain ? 2 : 1, ext, 0, NULL, NULL);
        ck_assert_int_eq(r->rc, OHP_OK);
        ck_assert_uint_eq(r->n, chain ? 1 : 2);
        ck_assert_int_eq(r->d[0].kind, OHP_DISC_QUANTITY);
        ck_assert_str_eq(r->d[0].item, "C");
        ck_assert_str_eq(r->d[0].erp_q, "9223372036854775807");
        ck_assert_str_eq(r->d[0].ext_q, "9223372036854775806");
        ck_assert_str_eq(r->d[0].diff, "-1");
        if (!chain) {
            ck_assert_str_eq(r->d[1].item, "F");
            ck_assert_str_eq(r->d[1].erp_q, "99999999999999999999");
            ck_assert_str_eq(r->d[1].diff, "-99999999999999999998");
        }
        ck_assert_uint_eq(r->sum.matched, chain ? 2 : 1);
        ck_assert_uint_eq(r->nuoms, 1);
        ck_assert_str_eq(r->uoms[0][1],
                         chain ? "10123372036854775808.55" : "110123372036854775806.55");
        ck_assert_str_eq(r->uoms[0][2], "10123372036854775807.55");
        free(r);
    }
    free_texts(v, 2);
}
END_TEST

/* Sums past the 40 integer digits a single quantity may have. */
#define N40 "9999999999999999999999999999999999999999"   /* N = 10^40 - 1 */
#define N2 "19999999999999999999999999999999999999998"   /* 2N */
#define N3 "29999999999999999999999999999999999999997"   /* 3N */
#define N3P1 "29999999999999999999999999999999999999998" /* 3N + 1 */
START_TEST(t_sums_past_quantity_limit)
{
    text v[2] = {snap(), snap()};
    sline(&v[0], "FULL", D1, "A", "", "FGI", "", "", "", N40, "Ea");
    sline(&v[0], "FULL", D1, "A", "", "FGI", "", "", "", N40, "Ea");
    sline(&v[0], "FULL", D1, "Z", "", "FGI", "", "", "", N40, "Ea");
    /* the incremental keeps A and Z as they were: both sums go through the fold */
    sline(&v[1], "INCREMENTAL", D2, "B", "", "FGI", "", "", "", "1", "Ea");
    const char *ext = EXT_HEADER "M1|A||FGI|||N||" N40 "|Ea|x\n"
                                 "M1|B||FGI|||N||1|Ea|x\n"
                                 "M1|Z||FGI|||N||" N40 "|Ea|x\n"
                                 "M1|Z||FGI|||N||" N40 "|Ea|x\n";
    for (int chain = 0; chain < 2; chain++) {
        result *r = reconcile(v, chain ? 2 : 1, ext, 0, NULL, NULL);
        ck_assert_msg(r->rc == OHP_OK, "%s", r->err);
        ck_assert_uint_eq(r->n, chain ? 2 : 3);
        ck_assert_int_eq(r->d[0].kind, OHP_DISC_QUANTITY);
        ck_assert_str_eq(r->d[0].item, "A");
        ck_assert_str_eq(r->d[0].erp_q, "1"
                                        "999999999999999999999999999999999999999"
                                        "8");
        ck_assert_str_eq(r->d[0].ext_q, N40);
        ck_assert_str_eq(r->d[0].diff, "-" N40);
        size_t z = chain ? 1 : 2;
        ck_assert_str_eq(r->d[z].item, "Z");
        ck_assert_str_eq(r->d[z].diff, N40);
        ck_assert_uint_eq(r->nuoms, 1);
        ck_assert_str_eq(r->uoms[0][1], chain ? N3P1 : N3);
        ck_assert_str_eq(r->uoms[0][2], N3P1);
        free(r);
        /* |difference| * 100 = 50% of twice the value exactly: within a 50% tolerance */
        r = reconcile(v, chain ? 2 : 1, ext, 0, NULL, "50");
        ck_assert_msg(r->rc == OHP_OK, "%s", r->err);
        ck_assert_uint_eq(r->sum.within_tolerance, 1);
        ck_assert_uint_eq(r->n, chain ? 1 : 2); /* Z: the difference is all of the ERP's */
        free(r);
    }
    free_texts(v, 2);
}
END_TEST

/* Mixed units at one key on one side: a UOM line, and every unit's total exact. */
START_TEST(t_mixed_units)
{
    text v[2] = {snap(), snap()};
    sline(&v[0], "FULL", D1, "PAINT", "", "FGI", "", "", "", "7", "GAL");
    sline(&v[0], "FULL", D1, "PAINT", "", "FGI", "", "", "", "3", "L");
    sline(&v[0], "FULL", D1, "PAINT", "", "FGI", "", "", "", "2.5", "L");
    sline(&v[0], "FULL", D1, "X", "", "FGI", "", "", "", "1", "Ea");
    sline(&v[0], "FULL", D1, "X", "", "FGI", "", "", "", "4", "Bx");
    sline(&v[1], "INCREMENTAL", D2, "Y", "", "FGI", "", "", "", "1", "Ea");
    const char *ext = EXT_HEADER "M1|PAINT||FGI|||N||10|GAL|x\n"
                                 "M1|Y||FGI|||N||1|Ea|x\n"
                                 "M1|Z||FGI|||N||2|Ea|x\n"
                                 "M1|Z||FGI|||N||6|Kg|x\n";
    for (int chain = 0; chain < 2; chain++) {
        result *r = reconcile(v, chain ? 2 : 1, ext, 0, NULL, NULL);
        ck_assert_msg(r->rc == OHP_OK, "%s", r->err);
        /* each unit of a key is compared on its own, units in code order */
        static const struct {
            int kind;
            const char *item, *erp_q, *erp_uom, *ext_q, *ext_uom, *diff;
        } want[] = {{OHP_DISC_QUANTITY, "PAINT", "7", "GAL", "10", "GAL", "3"},
                    {OHP_DISC_MISSING_EXTERNAL, "PAINT", "5.5", "L", "", "", ""},
                    {OHP_DISC_MISSING_EXTERNAL, "X", "4", "Bx", "", "", ""},
                    {OHP_DISC_MISSING_EXTERNAL, "X", "1", "Ea", "", "", ""},
                    {OHP_DISC_MISSING_ERP, "Y", "", "", "1", "Ea", ""},
                    {OHP_DISC_MISSING_ERP, "Z", "", "", "2", "Ea", ""},
                    {OHP_DISC_MISSING_ERP, "Z", "", "", "6", "Kg", ""}};
        size_t k = 0;
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
            if (chain && strcmp(want[i].item, "Y") == 0)
                continue; /* chained, Y is on both sides */
            ck_assert_uint_lt(k, r->n);
            const disc *d = &r->d[k++];
            ck_assert_int_eq(d->kind, want[i].kind);
            ck_assert_str_eq(d->item, want[i].item);
            ck_assert_str_eq(d->erp_q, want[i].erp_q);
            ck_assert_str_eq(d->erp_uom, want[i].erp_uom);
            ck_assert_str_eq(d->ext_q, want[i].ext_q);
            ck_assert_str_eq(d->ext_uom, want[i].ext_uom);
            ck_assert_str_eq(d->diff, want[i].diff);
        }
        ck_assert_uint_eq(r->n, k);
        ck_assert_uint_eq(r->sum.uom_mismatch, 0);
        /* totals, by UOM code */
        ck_assert_uint_eq(r->nuoms, 5);
        static const char *totals[2][5][3] = {{{"Bx", "4", "0"},
                                               {"Ea", "1", "3"},
                                               {"GAL", "7", "10"},
                                               {"Kg", "0", "6"},
                                               {"L", "5.5", "0"}},
                                              {{"Bx", "4", "0"},
                                               {"Ea", "2", "3"},
                                               {"GAL", "7", "10"},
                                               {"Kg", "0", "6"},
                                               {"L", "5.5", "0"}}};
        for (size_t i = 0; i < 5; i++)
            for (size_t j = 0; j < 3; j++)
                ck_assert_str_eq(r->uoms[i][j], totals[chain][i][j]);
        free(r);
    }
    free_texts(v, 2);
}
END_TEST

/*
 * Per key and unit: the same units on both sides match, whatever the
 * order; a unit only one side has is missing on the other; zero lines hide
 * nothing; UOM only when the sides hold the key in units they do not share.
 */
START_TEST(t_units_per_key)
{
    text s = snap();
    sline(&s, "FULL", D1, "A", "", "FGI", "", "", "", "7", "GAL");
    sline(&s, "FULL", D1, "A", "", "FGI", "", "", "", "3", "L");
    sline(&s, "FULL", D1, "B", "", "FGI", "", "", "", "7", "GAL");
    sline(&s, "FULL", D1, "B", "", "FGI", "", "", "", "3", "L");
    sline(&s, "FULL", D1, "D", "", "FGI", "", "", "", "0", "KG");
    sline(&s, "FULL", D1, "D", "", "FGI", "", "", "", "0", "BX");
    sline(&s, "FULL", D1, "E", "", "FGI", "", "", "", "7", "GAL");
    sline(&s, "FULL", D1, "F", "", "FGI", "", "", "", "1", "Ea");
    const char *ext = EXT_HEADER "M1|A||FGI|||N||3|L|x\n"
                                 "M1|A||FGI|||N||7|GAL|x\n"
                                 "M1|B||FGI|||N||10|GAL|x\n"
                                 "M1|C||FGI|||N||0|KG|x\n"
                                 "M1|C||FGI|||N||3|BX|x\n"
                                 "M1|D||FGI|||N||0|KG|x\n"
                                 "M1|D||FGI|||N||0|BX|x\n"
                                 "M1|E||FGI|||N||26.5|L|x\n"
                                 "M1|F||FGI|||N||2|Bx|x\n"
                                 "M1|F||FGI|||N||3|Kg|x\n";
    for (external_first = 0; external_first < 2; external_first++) {
        result *r = reconcile(&s, 1, ext, 0, NULL, NULL);
        ck_assert_msg(r->rc == OHP_OK, "%s", r->err);
        static const struct {
            int kind;
            const char *item, *erp_q, *erp_uom, *ext_q, *ext_uom, *diff;
        } want[] = {{OHP_DISC_QUANTITY, "B", "7", "GAL", "10", "GAL", "3"},
                    {OHP_DISC_MISSING_EXTERNAL, "B", "3", "L", "", "", ""},
                    {OHP_DISC_MISSING_ERP, "C", "", "", "3", "BX", ""},
                    {OHP_DISC_UOM, "E", "7", "GAL", "26.5", "L", ""},
                    {OHP_DISC_UOM, "F", "1", "Ea", "2", "Bx", ""},
                    {OHP_DISC_UOM, "F", "", "", "3", "Kg", ""}};
        ck_assert_uint_eq(r->n, sizeof want / sizeof want[0]);
        for (size_t i = 0; i < r->n; i++) {
            const disc *d = &r->d[i];
            ck_assert_int_eq(d->kind, want[i].kind);
            ck_assert_str_eq(d->item, want[i].item);
            ck_assert_str_eq(d->erp_q, want[i].erp_q);
            ck_assert_str_eq(d->erp_uom, want[i].erp_uom);
            ck_assert_str_eq(d->ext_q, want[i].ext_q);
            ck_assert_str_eq(d->ext_uom, want[i].ext_uom);
            ck_assert_str_eq(d->diff, want[i].diff);
        }
        ck_assert_uint_eq(r->sum.matched, 1); /* A */
        ck_assert_uint_eq(r->sum.quantity_mismatch, 1);
        ck_assert_uint_eq(r->sum.missing_external, 1);
        ck_assert_uint_eq(r->sum.missing_erp, 1);
        ck_assert_uint_eq(r->sum.uom_mismatch, 3);
        ck_assert_uint_eq(r->sum.keys_compared, 5); /* not D: zero on both sides */
        free(r);
    }
    external_first = 0;
    /* the same data on both sides, zero lines and two units at one key included */
    const char *same = EXT_HEADER "M1|D||FGI|||N||0|BX|x\n"
                                  "M1|B||FGI|||N||3|L|x\n"
                                  "M1|A||FGI|||N||3|L|x\n"
                                  "M1|F||FGI|||N||1|Ea|x\n"
                                  "M1|A||FGI|||N||7|GAL|x\n"
                                  "M1|E||FGI|||N||7|GAL|x\n"
                                  "M1|D||FGI|||N||0|KG|x\n"
                                  "M1|B||FGI|||N||7|GAL|x\n";
    result *r = reconcile(&s, 1, same, 0, NULL, NULL);
    ck_assert_msg(r->rc == OHP_OK, "%s", r->err);
    ck_assert_uint_eq(r->n, 0);
    ck_assert_uint_eq(r->sum.matched, 4);
    free(r);
    free(s.s);
}
END_TEST

/*
 * Absence is decided on the quantities net of moved serials: a key whose
 * lines sum to zero (-3 beside three serials), one serial of which moved,
 * gives one SERIAL_MOVED line and nothing else.
 */
START_TEST(t_net_absence)
{
    text s = snap();
    sline(&s, "FULL", D1, "K", "", "FGI", "A1", "", "", "-3", "Ea");
    sline(&s, "FULL", D1, "K", "", "FGI", "A1", "", "S1", "1", "Ea");
    sline(&s, "FULL", D1, "K", "", "FGI", "A1", "", "S2", "1", "Ea");
    sline(&s, "FULL", D1, "K", "", "FGI", "A1", "", "S3", "1", "Ea");
    const char *ext = EXT_HEADER "M1|K||FGI|A1||N||-3|Ea|x\n"
                                 "M1|K||FGI|A1||Y|S1,S2|2|Ea|x\n"
                                 "M1|K||FGI|A2||Y|S3|1|Ea|x\n";
    result *r = reconcile(&s, 1, ext, 0, NULL, NULL);
    ck_assert_msg(r->rc == OHP_OK, "%s", r->err);
    ck_assert_uint_eq(r->n, 1);
    ck_assert_int_eq(r->d[0].kind, OHP_DISC_SERIAL_MOVED);
    ck_assert_str_eq(r->d[0].serial, "S3");
    ck_assert_str_eq(r->d[0].loc, "A1");
    ck_assert_uint_eq(r->sum.discrepancies, 1);
    free(r);
    free(s.s);
}
END_TEST

/*
 * A serial more than once on a side: the same places on both sides are no
 * discrepancy; a key holding it on both sides means it did not move.
 */
START_TEST(t_serial_duplicates)
{
    text s = snap();
    sline(&s, "FULL", D1, "P", "", "FGI", "K1", "", "S", "1", "Ea");
    sline(&s, "FULL", D1, "P", "", "FGI", "K2", "", "S", "1", "Ea");
    sline(&s, "FULL", D1, "Q", "", "FGI", "K1", "", "T", "1", "Ea");
    sline(&s, "FULL", D1, "R", "", "FGI", "K1", "", "U", "1", "Ea");
    /* P: the same duplicates; Q: at K1 on both sides, again at K2 outside; R: at K1, outside at
     * K2 and K3 */
    const char *ext = EXT_HEADER "M1|P||FGI|K2||Y|S|1|Ea|x\n"
                                 "M1|P||FGI|K1||Y|S|1|Ea|x\n"
                                 "M1|Q||FGI|K2||Y|T|1|Ea|x\n"
                                 "M1|Q||FGI|K1||Y|T|1|Ea|x\n"
                                 "M1|R||FGI|K2||Y|U|1|Ea|x\n"
                                 "M1|R||FGI|K3||Y|U|1|Ea|x\n";
    result *r = reconcile(&s, 1, ext, 0, NULL, NULL);
    ck_assert_msg(r->rc == OHP_OK, "%s", r->err);
    static const struct {
        int kind;
        const char *item, *loc, *serial;
        int side;
    } want[] = {{OHP_DISC_MISSING_ERP, "Q", "K2", "", 0},
                {OHP_DISC_SERIAL_DUPLICATE, "Q", "K2", "T", OHP_SIDE_EXTERNAL},
                {OHP_DISC_SERIAL_MOVED, "R", "K1", "U", 0},
                {OHP_DISC_SERIAL_DUPLICATE, "R", "K2", "U", OHP_SIDE_EXTERNAL},
                {OHP_DISC_MISSING_ERP, "R", "K3", "", 0}};
    ck_assert_uint_eq(r->n, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < r->n; i++) {
        ck_assert_int_eq(r->d[i].kind, want[i].kind);
        ck_assert_str_eq(r->d[i].item, want[i].item);
        ck_assert_str_eq(r->d[i].loc, want[i].loc);
        ck_assert_str_eq(r->d[i].serial, want[i].serial);
        if (want[i].kind == OHP_DISC_SERIAL_DUPLICATE) {
            ck_assert_int_eq(r->d[i].side, want[i].side);
            ck_assert_uint_eq(r->d[i].count, 2);
        }
    }
    ck_assert_str_eq(r->d[2].to_sub, "FGI");
    free(r);
    free(s.s);
}
END_TEST

/* A FULL line with an owner (consigned) and a revision, at locator L1. */
static void sline_owner(text *t, const char *item, const char *rev, const char *serial,
                        const char *qty, const char *owner)
{
    add(t,
        "0|7|FULL|" D1 "|204|M1|1|%s|%s|FGI||L1|||%s|%s|%s|Ea|||%s|%s|||Active|2026/11/20 "
        "14:03:11\n",
        item, rev, serial[0] ? "Y" : "N", serial, serial[0] ? "1" : qty, owner[0] ? "Y" : "N",
        owner);
}

/*
 * Key parts the external file has no column for are left out on both
 * sides, whichever side is loaded first, and the summary says which.
 */
START_TEST(t_missing_key_columns)
{
    text s = snap();
    sline_owner(&s, "A", "", "", "3", "");
    sline_owner(&s, "A", "", "", "4", "77");
    sline_owner(&s, "C", "", "S1", "1", "77");
    sline_owner(&s, "C", "", "S2", "1", "");
    sline_owner(&s, "D", "R1", "", "5", "");
    sline_owner(&s, "D", "R2", "", "1", "88");
    const char *no_owner = "ORGANIZATION_CODE|ITEM_NUMBER|REVISION|SUBINVENTORY_CODE|LOCATOR_NAME|"
                           "SERIAL_NUMBERS|PRIMARY_QUANTITY|PRIMARY_UOM_CODE\n"
                           "M1|D|R2|FGI|L1||1|Ea\n"
                           "M1|A||FGI|L1||7|Ea\n"
                           "M1|C||FGI|L1|S2,S1|2|Ea\n"
                           "M1|D|R1|FGI|L1||6|Ea\n";
    const char *no_rev_owner = "ORGANIZATION_CODE|ITEM_NUMBER|SUBINVENTORY_CODE|LOCATOR_ID|"
                               "SERIAL_NUMBERS|PRIMARY_QUANTITY|PRIMARY_UOM_CODE\n"
                               "M1|A|FGI|L1||7|Ea\n"
                               "M1|C|FGI|L1|S1,S2|2|Ea\n"
                               "M1|D|FGI|L1||6|Ea\n";
    for (external_first = 0; external_first < 2; external_first++) {
        result *r = reconcile(&s, 1, no_owner, 0, NULL, NULL);
        ck_assert_msg(r->rc == OHP_OK, "%s", r->err);
        ck_assert_int_eq(r->sum.external_missing_key_parts, OHP_IGNORE_LOT | OHP_IGNORE_OWNER);
        /* D R1: 5 against 6, compared without the owner */
        ck_assert_uint_eq(r->n, 1);
        ck_assert_int_eq(r->d[0].kind, OHP_DISC_QUANTITY);
        ck_assert_str_eq(r->d[0].item, "D");
        ck_assert_str_eq(r->d[0].rev, "R1");
        ck_assert_str_eq(r->d[0].owner, "");
        ck_assert_str_eq(r->d[0].diff, "1");
        ck_assert_uint_eq(r->sum.matched, 3);
        ck_assert_uint_eq(r->sum.erp_keys, 4);
        ck_assert_uint_eq(r->sum.erp_serials, 2);
        free(r);
        r = reconcile(&s, 1, no_rev_owner, 0, NULL, NULL);
        ck_assert_msg(r->rc == OHP_OK, "%s", r->err);
        ck_assert_int_eq(r->sum.external_missing_key_parts,
                         OHP_IGNORE_REVISION | OHP_IGNORE_LOT | OHP_IGNORE_OWNER);
        ck_assert_uint_eq(r->n, 0);
        ck_assert_uint_eq(r->sum.matched, 3);
        free(r);
    }
    external_first = 0;
    /* with the column, owners are compared; OHP_IGNORE_OWNER leaves them out */
    const char *with_owner = "ORGANIZATION_CODE|ITEM_NUMBER|REVISION|SUBINVENTORY_CODE|"
                             "LOCATOR_NAME|LOT_NUMBER|OWNING_PARTY_ID|SERIAL_NUMBERS|"
                             "PRIMARY_QUANTITY|PRIMARY_UOM_CODE\n"
                             "M1|A||FGI|L1||99|S9|7|Ea\n";
    result *r = reconcile(&s, 1, with_owner, 0, NULL, NULL);
    ck_assert_msg(r->rc == OHP_OK, "%s", r->err);
    ck_assert_int_eq(r->sum.external_missing_key_parts, 0);
    ck_assert_uint_eq(r->sum.missing_external, 6);
    ck_assert_uint_eq(r->sum.missing_erp, 1);
    free(r);
    const char *owner_ignored = "ORGANIZATION_CODE|ITEM_NUMBER|REVISION|SUBINVENTORY_CODE|"
                                "LOCATOR_NAME|LOT_NUMBER|OWNING_PARTY_ID|SERIAL_NUMBERS|"
                                "PRIMARY_QUANTITY|PRIMARY_UOM_CODE\n"
                                "M1|A||FGI|L1||99||7|Ea\n"
                                "M1|C||FGI|L1||99|S1,S2|2|Ea\n"
                                "M1|D|R1|FGI|L1||99||5|Ea\n"
                                "M1|D|R2|FGI|L1||1||1|Ea\n";
    r = reconcile(&s, 1, owner_ignored, OHP_IGNORE_OWNER, NULL, NULL);
    ck_assert_msg(r->rc == OHP_OK, "%s", r->err);
    ck_assert_uint_eq(r->n, 0);
    ck_assert_uint_eq(r->sum.matched, 4);
    free(r);
    free(s.s);
}
END_TEST

/* An external file that is no PSV is described: what it looks like and what is expected. */
START_TEST(t_external_format)
{
    text s = snap();
    sline(&s, "FULL", D1, "A", "", "FGI", "", "", "", "1", "Ea");
    static const struct {
        const char *ext, *says;
    } bad[] = {
        {"ORGANIZATION_CODE,ITEM_NUMBER,SUBINVENTORY_CODE,PRIMARY_QUANTITY,PRIMARY_UOM_CODE\n"
         "M1,A,FGI,1,Ea\n",
         "looks comma-separated (CSV): its header has no '|' and splits on ',' into 5 columns"},
        {"ORGANIZATION_CODE;ITEM_NUMBER;SUBINVENTORY_CODE;PRIMARY_QUANTITY;PRIMARY_UOM_CODE\n"
         "M1;A;FGI;1;Ea\n",
         "looks semicolon-separated: its header has no '|' and splits on ';' into 5 columns"},
        {"ORGANIZATION_CODE\tITEM_NUMBER\tSUBINVENTORY_CODE\tPRIMARY_QUANTITY\n", "tab-separated"},
        {"\xff\xfeO", "looks UTF-16 encoded"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        result *r = reconcile(&s, 1, bad[i].ext, 0, NULL, NULL);
        ck_assert_int_eq(r->rc, OHP_EPARSE);
        ck_assert_msg(strstr(r->err, bad[i].says) != NULL, "%s", r->err);
        ck_assert_msg(strstr(r->err, "expected a PSV: UTF-8 text with '|' between the columns") !=
                          NULL,
                      "%s", r->err);
        free(r);
    }
    /* a header that is a PSV still names the missing column */
    result *r = reconcile(&s, 1, "ORGANIZATION_CODE|ITEM_NUMBER\n", 0, NULL, NULL);
    ck_assert_int_eq(r->rc, OHP_EPARSE);
    ck_assert_str_eq(r->err, "external side: line 1: required column SUBINVENTORY_CODE is missing");
    free(r);
    /* a UTF-8 byte order mark is no part of the first column's name */
    r = reconcile(&s, 1, "\xef\xbb\xbf" EXT_HEADER "M1|A||FGI|||N||1|Ea|x\n", 0, NULL, NULL);
    ck_assert_msg(r->rc == OHP_OK, "%s", r->err);
    ck_assert_uint_eq(r->n, 0);
    ck_assert_uint_eq(r->sum.matched, 1);
    free(r);
    free(s.s);
}
END_TEST

/* ---- tolerance ---- */

static const struct {
    const char *erp, *ext, *abs, *rel;
    int within; /* 1 within, 0 mismatch */
} tol_cases[] = {
    {"10", "10.5", "0.5", NULL, 1},
    {"10", "10.51", "0.5", NULL, 0},
    {"10", "9.5", "0.5", NULL, 1},
    {"10", "9.49", "0.5", NULL, 0},
    {"100", "101", NULL, "1", 1},
    {"100", "101.01", NULL, "1", 0},
    {"100", "99", NULL, "1", 1},
    {"200", "197", "1", "1.5", 1},
    {"200", "196.99", "1", "1.5", 0},
    {"0.3", "0.30000000000000000001", "0", "0", 0},
    {"0.3", "0.30000000000000000001", "0.00000000000000000001", NULL, 1},
    {"-5", "-5.05", NULL, "1", 1},
    {"5", "5.0500001", NULL, "1", 0},
};

START_TEST(t_tolerance)
{
    text s = snap();
    sline(&s, "FULL", D1, "A", "", "FGI", "", "", "", tol_cases[_i].erp, "Ea");
    char ext[512];
    snprintf(ext, sizeof ext, EXT_HEADER "M1|A||FGI|||N||%s|Ea|x\n", tol_cases[_i].ext);
    result *r = reconcile(&s, 1, ext, 0, tol_cases[_i].abs, tol_cases[_i].rel);
    ck_assert_msg(r->rc == OHP_OK, "%s", r->err);
    ck_assert_uint_eq(r->sum.within_tolerance, (uint64_t)tol_cases[_i].within);
    ck_assert_uint_eq(r->sum.quantity_mismatch, (uint64_t)!tol_cases[_i].within);
    ck_assert_uint_eq(r->n, (size_t)!tol_cases[_i].within);
    free(r);
    free(s.s);
}
END_TEST

START_TEST(t_options)
{
    ohp_reconcile_options o;
    ck_assert_int_eq(ohp_reconcile_options_init(&o, OHP_RECONCILE_OPTIONS_VERSION), OHP_OK);
    ck_assert_int_eq(ohp_reconcile_options_init(&o, 99), OHP_EVERSION);
    ohp_reconcile *rc;
    o.tolerance_absolute = "-1";
    ck_assert_int_eq(ohp_reconcile_new(&rc, &o, NULL), OHP_EINVAL);
    o.tolerance_absolute = "abc";
    ck_assert_int_eq(ohp_reconcile_new(&rc, &o, NULL), OHP_EINVAL);
    o.tolerance_absolute = NULL;
    o.ignore = 16;
    ck_assert_int_eq(ohp_reconcile_new(&rc, &o, NULL), OHP_EINVAL);
    o.ignore = OHP_IGNORE_OWNER;
    ck_assert_int_eq(ohp_reconcile_new(&rc, &o, NULL), OHP_OK);
    ohp_reconcile_free(rc);
    o.ignore = 0;
    o.version = 2;
    ck_assert_int_eq(ohp_reconcile_new(&rc, &o, NULL), OHP_EVERSION);
    ck_assert_int_eq(ohp_reconcile_new(&rc, NULL, NULL), OHP_OK);
    ck_assert_int_eq(ohp_reconcile_run(rc, NULL, NULL), OHP_ESTATE);
    ohp_reconcile_free(rc);
    ohp_reconcile_free(NULL);
}
END_TEST

/* ---- granularity ---- */

START_TEST(t_ignore)
{
    static const int flags[3] = {OHP_IGNORE_REVISION, OHP_IGNORE_LOCATOR, OHP_IGNORE_LOT};
    text s = snap();
    sline(&s, "FULL", D1, "A", "R1", "FGI", "L1", "LOT1", "", "3", "Ea");
    sline(&s, "FULL", D1, "A", "R2", "FGI", "L2", "LOT2", "", "4", "Ea");
    const char *ext_by[3] = {
        EXT_HEADER "M1|A||FGI|L1|LOT1|N||3|Ea|x\nM1|A||FGI|L2|LOT2|N||4|Ea|x\n",
        EXT_HEADER "M1|A|R1|FGI||LOT1|N||3|Ea|x\nM1|A|R2|FGI||LOT2|N||4|Ea|x\n",
        EXT_HEADER "M1|A|R1|FGI|L1||N||3|Ea|x\nM1|A|R2|FGI|L2||N||4|Ea|x\n",
    };
    int f = flags[_i];
    result *r = reconcile(&s, 1, ext_by[_i], f, NULL, NULL);
    ck_assert_msg(r->rc == OHP_OK, "%s", r->err);
    ck_assert_uint_eq(r->n, 0);
    ck_assert_uint_eq(r->sum.matched, 2);
    free(r);
    /* without the option, every key differs */
    r = reconcile(&s, 1, ext_by[_i], 0, NULL, NULL);
    ck_assert_uint_eq(r->sum.missing_erp, 2);
    ck_assert_uint_eq(r->sum.missing_external, 2);
    free(r);
    /* all three: one key, quantities summed */
    r = reconcile(&s, 1, EXT_HEADER "M1|A||FGI|||N||7|Ea|x\n",
                  OHP_IGNORE_REVISION | OHP_IGNORE_LOCATOR | OHP_IGNORE_LOT, NULL, NULL);
    ck_assert_uint_eq(r->n, 0);
    ck_assert_uint_eq(r->sum.erp_keys, 1);
    ck_assert_uint_eq(r->sum.matched, 1);
    free(r);
    free(s.s);
}
END_TEST

/* Keys come out in byte order whatever the input order. */
START_TEST(t_order)
{
    text s = snap();
    sline(&s, "FULL", D1, "Z", "", "FGI", "", "", "", "1", "Ea");
    sline(&s, "FULL", D1, "B", "", "RAW", "", "", "", "1", "Ea");
    sline(&s, "FULL", D1, "B", "", "FGI", "", "", "", "1", "Ea");
    sline(&s, "FULL", D1, "AA", "", "FGI", "", "", "", "1", "Ea");
    result *r = reconcile(&s, 1, EXT_HEADER "M1|A||FGI|||N||1|Ea|x\n", 0, NULL, NULL);
    ck_assert_uint_eq(r->n, 5);
    const char *want[5][2] = {
        {"A", "FGI"}, {"AA", "FGI"}, {"B", "FGI"}, {"B", "RAW"}, {"Z", "FGI"}};
    for (size_t i = 0; i < 5; i++) {
        ck_assert_str_eq(r->d[i].item, want[i][0]);
        ck_assert_str_eq(r->d[i].sub, want[i][1]);
    }
    free(r);
    free(s.s);
}
END_TEST

/* Discrepancies must come out in strictly increasing item order. */
typedef struct order_check {
    char last[64];
    size_t n;
} order_check;

static int check_order(void *ud, const ohp_discrepancy *d)
{
    order_check *o = ud;
    if (o->n > 0)
        ck_assert_msg(strcmp(o->last, d->item_number) < 0, "%s after %s", d->item_number, o->last);
    snprintf(o->last, sizeof o->last, "%s", d->item_number);
    o->n++;
    return 0;
}

/* Positions 0..n-1 in one of four orders: ascending, descending, scattered, two interleaved runs.
 */
static size_t order_at(int order, size_t i, size_t n)
{
    if (order == 3)
        return i;
    if (order == 0)
        return n - 1 - i;
    if (order == 1)
        return (i * 7919) % n;
    return i < n / 2 ? 2 * i : 2 * (i - n / 2) + 1;
}

/*
 * Many keys, the ERP side in ascending, descending, scattered or interleaved order,
 * the external side in the same order or ascending, with keys missing on
 * either side and differing quantities: the report comes in key order and
 * the counts are exact whichever way the keys are found (merged in order
 * or hashed).
 */
START_TEST(t_order_many)
{
    size_t n = small_n(3000);
    int erp_order = _i % 4, ext_sorted = _i >= 4;
    text s = snap();
    text ext = {NULL, 0, 0};
    add(&ext, "%s", EXT_HEADER);
    size_t want_missing = 0, want_qty = 0, want_extra = 0;
    for (size_t i = 0; i < n; i++) {
        char item[16];
        snprintf(item, sizeof item, "I%06zu", order_at(erp_order, i, n));
        sline(&s, "FULL", D1, item, "", "FGI", "", "", "", "1", "Ea");
    }
    for (size_t i = 0; i < n; i++) {
        size_t k = ext_sorted ? i : order_at(erp_order, i, n);
        want_missing += k % 5 == 0;
        if (k % 5 != 0) {
            want_qty += k % 3 == 0;
            add(&ext, "M1|I%06zu||FGI|||N||%s|Ea|x\n", k, k % 3 == 0 ? "2" : "1");
        }
        if (k % 7 == 3) { /* only on the external side, between ERP keys */
            want_extra++;
            add(&ext, "M1|I%06zu-X||FGI|||N||1|Ea|x\n", k);
        }
    }
    ohp_reconcile *rc;
    ck_assert_int_eq(ohp_reconcile_new(&rc, NULL, NULL), OHP_OK);
    ohp_snapshot_reader *r;
    mem_in a = {s.s, s.len, 0}, b = {ext.s, ext.len, 0};
    ck_assert_int_eq(ohp_snapshot_reader_open_psv(&r, mem_read_fn, &a, NULL), OHP_OK);
    ck_assert_int_eq(ohp_reconcile_load_erp(rc, &r, 1), OHP_OK);
    ck_assert_int_eq(ohp_reconcile_load_external_psv(rc, mem_read_fn, &b), OHP_OK);
    order_check o = {"", 0};
    ck_assert_int_eq(ohp_reconcile_run(rc, check_order, &o), OHP_OK);
    const ohp_reconcile_summary *sum = ohp_reconcile_get_summary(rc);
    ck_assert_uint_eq(o.n, want_missing + want_qty + want_extra);
    ck_assert_uint_eq(sum->missing_external, want_missing);
    ck_assert_uint_eq(sum->missing_erp, want_extra);
    ck_assert_uint_eq(sum->quantity_mismatch, want_qty);
    ck_assert_uint_eq(sum->matched, n - want_missing - want_qty);
    ck_assert_uint_eq(sum->keys_compared, n + want_extra);
    ohp_snapshot_reader_free(r);
    ohp_reconcile_free(rc);
    free(s.s);
    free(ext.s);
}
END_TEST

/* Item, then locator, strictly increasing. */
static int check_order_loc(void *ud, const ohp_discrepancy *d)
{
    order_check *o = ud;
    char now[sizeof o->last];
    snprintf(now, sizeof now, "%s|%s", d->item_number, d->locator ? d->locator : "");
    if (o->n > 0)
        ck_assert_msg(strcmp(o->last, now) < 0, "%s after %s", now, o->last);
    snprintf(o->last, sizeof o->last, "%s", now);
    o->n++;
    return 0;
}

/*
 * Keys that share far more than 8 bytes (long item numbers that differ at
 * their end, many locators each), scattered on both sides: still reported
 * in key order, each once.
 */
START_TEST(t_order_long_prefixes)
{
    size_t items = small_n(3000) / 40 + 2, locs = 40, n = items * locs;
    text s = snap();
    text ext = {NULL, 0, 0};
    add(&ext, "%s", EXT_HEADER);
    for (size_t pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++) {
            size_t k = (i * 7919 + pass * 13) % n; /* scattered, differently per side */
            char item[48], loc[16];
            snprintf(item, sizeof item, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%03zu", k / locs);
            snprintf(loc, sizeof loc, "L%02zu", k % locs);
            if (pass == 0)
                sline(&s, "FULL", D1, item, "", "FGI", loc, "", "", "1", "Ea");
            else
                add(&ext, "M1|%s||FGI|%s||N||2|Ea|x\n", item, loc);
        }
    }
    ohp_reconcile *rc;
    ck_assert_int_eq(ohp_reconcile_new(&rc, NULL, NULL), OHP_OK);
    ohp_snapshot_reader *r;
    mem_in a = {s.s, s.len, 0}, b = {ext.s, ext.len, 0};
    ck_assert_int_eq(ohp_snapshot_reader_open_psv(&r, mem_read_fn, &a, NULL), OHP_OK);
    ck_assert_int_eq(ohp_reconcile_load_erp(rc, &r, 1), OHP_OK);
    ck_assert_int_eq(ohp_reconcile_load_external_psv(rc, mem_read_fn, &b), OHP_OK);
    order_check o = {"", 0};
    ck_assert_int_eq(ohp_reconcile_run(rc, check_order_loc, &o), OHP_OK);
    const ohp_reconcile_summary *sum = ohp_reconcile_get_summary(rc);
    ck_assert_uint_eq(o.n, n);
    ck_assert_uint_eq(sum->quantity_mismatch, n);
    ck_assert_uint_eq(sum->keys_compared, n);
    ohp_snapshot_reader_free(r);
    ohp_reconcile_free(rc);
    free(s.s);
    free(ext.s);
}
END_TEST

/* Both sides in key order (merged without hashing), with repeats and gaps. */
START_TEST(t_order_merged)
{
    text s = snap();
    /* A twice (two lot-less lines sum), B, D; serial item S with two serials */
    sline(&s, "FULL", D1, "A", "", "FGI", "", "", "", "1", "Ea");
    sline(&s, "FULL", D1, "A", "", "FGI", "", "", "", "2", "Ea");
    sline(&s, "FULL", D1, "B", "", "FGI", "", "", "", "5", "Ea");
    sline(&s, "FULL", D1, "D", "", "FGI", "", "", "", "4", "Ea");
    sline(&s, "FULL", D1, "S", "", "FGI", "", "", "S1", "1", "Ea");
    sline(&s, "FULL", D1, "S", "", "FGI", "", "", "S2", "1", "Ea");
    /* external: A (3, in two lines), C (new, between B and D), D, E (new, after all); no B */
    result *r = reconcile(&s, 1,
                          EXT_HEADER "M1|A||FGI|||N||1|Ea|x\nM1|A||FGI|||N||2|Ea|x\n"
                                     "M1|C||FGI|||N||7|Ea|x\nM1|D||FGI|||N||4|Ea|x\n"
                                     "M1|E||FGI|||N||1|Ea|x\nM1|S||FGI|||Y|S1,S2|2|Ea|x\n",
                          0, NULL, NULL);
    ck_assert_int_eq(r->rc, OHP_OK);
    ck_assert_uint_eq(r->n, 3);
    ck_assert_str_eq(r->d[0].item, "B");
    ck_assert_int_eq(r->d[0].kind, OHP_DISC_MISSING_EXTERNAL);
    ck_assert_str_eq(r->d[1].item, "C");
    ck_assert_int_eq(r->d[1].kind, OHP_DISC_MISSING_ERP);
    ck_assert_str_eq(r->d[2].item, "E");
    ck_assert_int_eq(r->d[2].kind, OHP_DISC_MISSING_ERP);
    ck_assert_uint_eq(r->sum.matched, 3); /* A, D, S */
    ck_assert_uint_eq(r->sum.erp_serials, 2);
    ck_assert_uint_eq(r->sum.external_serials, 2);
    free(r);
    free(s.s);
}
END_TEST

/* External-side PSV errors name the line and the column. */
START_TEST(t_external_malformed)
{
    text s = snap();
    sline(&s, "FULL", D1, "A", "", "FGI", "", "", "", "1", "Ea");
    static const struct {
        const char *ext, *expect;
    } cases[] = {
        {EXT_HEADER "M1|A||FGI|||N||1,5|Ea|x\n", "line 2, column 9 (PRIMARY_QUANTITY)"},
        {EXT_HEADER "M1|A||FGI|||N||1|Ea|x\nM1|A|||||N||1|Ea|x\n",
         "line 3, column 4 (SUBINVENTORY_CODE)"},
        {EXT_HEADER "M1|A||FGI|||N||1|Ea\n", "line 2, column 11"},
        {EXT_HEADER "M1|A||FGI|||Y|S1..T3|1|Ea|x\n", "line 2, column 8 (SERIAL_NUMBERS)"},
        {"ORGANIZATION_CODE|ITEM_NUMBER\n", "required column SUBINVENTORY_CODE"},
        {"", "empty input"},
        {EXT_HEADER "M1|\"A||FGI|||N||1|Ea|x\n", "line 2"},
        /* invalid UTF-8, on a plain line and on one with quotes */
        {EXT_HEADER "M1|A||FGI|||N||1|Ea|x\nM1|A\xff||FGI|||N||1|Ea|x\n",
         "line 3, column 2 (ITEM_NUMBER): not valid UTF-8"},
        {EXT_HEADER "M1|\"B\xc3\"||FGI|||N||1|Ea|x\n",
         "line 2, column 2 (ITEM_NUMBER): not valid UTF-8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        result *r = reconcile(&s, 1, cases[i].ext, 0, NULL, NULL);
        ck_assert_msg(r->rc < 0, "case %zu", i);
        ck_assert_msg(strstr(r->err, cases[i].expect) != NULL, "case %zu: '%s'", i, r->err);
        free(r);
    }
    free(s.s);
}
END_TEST

/* UTF-8 in the external side's fields is accepted and matched byte for byte. */
START_TEST(t_external_utf8)
{
    text s = snap();
    sline(&s, "FULL", D1, "\xc3\xa9t\xc3\xa9", "", "FGI", "", "", "", "1", "Ea");
    result *r =
        reconcile(&s, 1, EXT_HEADER "M1|\xc3\xa9t\xc3\xa9||FGI|||N||1|Ea|x\n", 0, NULL, NULL);
    ck_assert_int_eq(r->rc, OHP_OK);
    ck_assert_uint_eq(r->n, 0);
    ck_assert_uint_eq(r->sum.matched, 1);
    free(r);
    free(s.s);
}
END_TEST

/* The external side as layout v1: by PSV column names, and as snapshots. */
START_TEST(t_external_v1)
{
    text s = snap();
    sline(&s, "FULL", D1, "A", "", "FGI", "L1", "", "", "2", "Ea");
    sline(&s, "FULL", D1, "S", "", "FGI", "", "", "S1", "1", "Ea");
    text x = snap();
    sline(&x, "FULL", D1, "A", "", "FGI", "L1", "", "", "2", "Ea");
    sline(&x, "FULL", D1, "S", "", "FGI", "", "", "S2", "1", "Ea");
    add(&x, "%c", '\0');
    result *r = reconcile(&s, 1, x.s, 0, NULL, NULL);
    ck_assert_msg(r->rc == OHP_OK, "%s", r->err);
    ck_assert_uint_eq(r->sum.serial_missing_erp, 1);
    ck_assert_uint_eq(r->sum.serial_missing_external, 1);
    ck_assert_uint_eq(r->sum.matched, 2);
    free(r);
    /* as a snapshot */
    ohp_reconcile *rc;
    ck_assert_int_eq(ohp_reconcile_new(&rc, NULL, NULL), OHP_OK);
    mem_in a = {s.s, s.len, 0}, b = {x.s, x.len - 1, 0};
    ohp_snapshot_reader *ra, *rb;
    ck_assert_int_eq(ohp_snapshot_reader_open_psv(&ra, mem_read_fn, &a, NULL), OHP_OK);
    ck_assert_int_eq(ohp_snapshot_reader_open_psv(&rb, mem_read_fn, &b, NULL), OHP_OK);
    ck_assert_int_eq(ohp_reconcile_load_external(rc, &rb, 1), OHP_OK);
    ck_assert_int_eq(ohp_reconcile_load_external(rc, &rb, 1), OHP_ESTATE);
    ck_assert_int_eq(ohp_reconcile_run(rc, NULL, NULL), OHP_ESTATE);
    ck_assert_int_eq(ohp_reconcile_load_erp(rc, &ra, 1), OHP_OK);
    ck_assert_int_eq(ohp_reconcile_run(rc, NULL, NULL), OHP_OK);
    ck_assert_uint_eq(ohp_reconcile_get_summary(rc)->discrepancies, 2);
    ohp_snapshot_reader_free(ra);
    ohp_snapshot_reader_free(rb);
    ohp_reconcile_free(rc);
    free(s.s);
    free(x.s);
}
END_TEST

/* A snapshot without data lines: identity from the entry name, no mode. */
START_TEST(t_empty_snapshot)
{
    size_t len;
    unsigned char *zip = publish(0, 6, &len);
    ohp_snapshot_reader *r;
    ck_assert_int_eq(ohp_snapshot_reader_open_memory(&r, zip, len, NULL), OHP_OK);
    ohp_snapshot_info info = {0, NULL, NULL, 0, 0, 0, NULL};
    ck_assert_int_eq(ohp_snapshot_reader_info(r, &info), OHP_OK);
    ck_assert_int_eq(info.mode, -1);
    ck_assert_str_eq(info.external_system_code, "0");
    ck_assert_uint_eq(info.publish_run_id, 42);
    ck_assert(info.snapshot_date == tu_date("2026/11/02 06:07:08"));
    ck_assert_str_eq(info.organization_code, "");
    const ohp_snapshot_record *rec;
    ck_assert_int_eq(ohp_snapshot_reader_next(r, &rec), 0);
    ohp_snapshot_reader_free(r);
    /* as an ERP side it is an empty state: everything external is missing on the ERP side */
    ohp_reconcile *rc;
    ck_assert_int_eq(ohp_reconcile_new(&rc, NULL, NULL), OHP_OK);
    ck_assert_int_eq(ohp_snapshot_reader_open_memory(&r, zip, len, NULL), OHP_OK);
    ck_assert_int_eq(ohp_reconcile_load_erp(rc, &r, 1), OHP_OK);
    const char *ext = EXT_HEADER "M1|A||FGI|||N||1|Ea|x\nM2|B||FGI|||N||1|Ea|x\n";
    mem_in x = {ext, strlen(ext), 0};
    ck_assert_int_eq(ohp_reconcile_load_external_psv(rc, mem_read_fn, &x), OHP_OK);
    ck_assert_int_eq(ohp_reconcile_run(rc, NULL, NULL), OHP_OK);
    const ohp_reconcile_summary *s = ohp_reconcile_get_summary(rc);
    ck_assert_uint_eq(s->missing_erp, 2); /* no organization known: both compared */
    ck_assert_uint_eq(s->external_other_organization, 0);
    ohp_snapshot_reader_free(r);
    ohp_reconcile_free(rc);
    free(zip);
}
END_TEST

/* External keys of other organizations are counted, not compared. */
START_TEST(t_other_organization)
{
    text s = snap();
    sline(&s, "FULL", D1, "A", "", "FGI", "", "", "", "1", "Ea");
    result *r = reconcile(&s, 1,
                          EXT_HEADER "M1|A||FGI|||N||1|Ea|x\nM2|A||FGI|||N||5|Ea|x\n"
                                     "M2|S||FGI|||Y|Z1|1|Ea|x\nM2|B||FGI|||N||5|KG|x\n",
                          0, NULL, NULL);
    ck_assert_msg(r->rc == OHP_OK, "%s", r->err);
    ck_assert_uint_eq(r->n, 0);
    ck_assert_uint_eq(r->sum.matched, 1);
    ck_assert_uint_eq(r->sum.external_other_organization, 3);
    ck_assert_uint_eq(r->sum.external_keys, 1);
    /* other organizations' units have no totals (no "KG ERP 0, external 0") */
    ck_assert_uint_eq(r->nuoms, 1);
    ck_assert_str_eq(r->uoms[0][0], "Ea");
    ck_assert_str_eq(r->uoms[0][2], "1");
    free(r);
    /* other organizations' lines are not read past their organization (publishing skips them) */
    r = reconcile(&s, 1,
                  EXT_HEADER "M1|A||FGI|||N||1|Ea|x\nM2|A||FGI|||N||5.|Ea|x\n"
                             "M2|S||FGI|||Y|Z9..Z1|x|Ea|x\nM2|||FGI|||N||\xff|Ea|x\n",
                  0, NULL, NULL);
    ck_assert_msg(r->rc == OHP_OK, "%s", r->err);
    ck_assert_uint_eq(r->n, 0);
    ck_assert_uint_eq(r->sum.external_lines, 4);
    ck_assert_uint_eq(r->sum.external_other_organization, 3);
    ck_assert_uint_eq(r->sum.external_serials, 0);
    free(r);
    free(s.s);
}
END_TEST

/* Once a side failed to load, nothing is compared. */
START_TEST(t_failed_side)
{
    text s = snap();
    sline(&s, "FULL", D1, "A", "", "FGI", "", "", "", "1", "Ea");
    add(&s, "garbage\n");
    ohp_reconcile *rc;
    ck_assert_int_eq(ohp_reconcile_new(&rc, NULL, NULL), OHP_OK);
    mem_in a = {s.s, s.len, 0};
    ohp_snapshot_reader *ra;
    ck_assert_int_eq(ohp_snapshot_reader_open_psv(&ra, mem_read_fn, &a, NULL), OHP_OK);
    ck_assert_int_eq(ohp_reconcile_load_erp(rc, &ra, 1), OHP_EPARSE);
    ck_assert_ptr_nonnull(strstr(ohp_reconcile_errmsg(rc), "line 3, column 2"));
    const char *ext = EXT_HEADER;
    mem_in x = {ext, strlen(ext), 0};
    ck_assert_int_eq(ohp_reconcile_load_external_psv(rc, mem_read_fn, &x), OHP_OK);
    ck_assert_int_eq(ohp_reconcile_run(rc, NULL, NULL), OHP_ESTATE);
    ohp_snapshot_reader_free(ra);
    ohp_reconcile_free(rc);
    free(s.s);
}
END_TEST

static int stop_at_first(void *ud, const ohp_discrepancy *d)
{
    (void)d;
    ++*(int *)ud;
    return 77;
}

START_TEST(t_callback_stops)
{
    text s = snap();
    sline(&s, "FULL", D1, "A", "", "FGI", "", "", "", "1", "Ea");
    sline(&s, "FULL", D1, "B", "", "FGI", "", "", "", "1", "Ea");
    ohp_reconcile *rc;
    ck_assert_int_eq(ohp_reconcile_new(&rc, NULL, NULL), OHP_OK);
    mem_in a = {s.s, s.len, 0};
    const char *ext = EXT_HEADER;
    mem_in b = {ext, strlen(ext), 0};
    ohp_snapshot_reader *ra;
    ck_assert_int_eq(ohp_snapshot_reader_open_psv(&ra, mem_read_fn, &a, NULL), OHP_OK);
    ck_assert_int_eq(ohp_reconcile_load_erp(rc, &ra, 1), OHP_OK);
    ck_assert_int_eq(ohp_reconcile_load_external_psv(rc, mem_read_fn, &b), OHP_OK);
    int calls = 0;
    ck_assert_int_eq(ohp_reconcile_run(rc, stop_at_first, &calls), 77);
    ck_assert_int_eq(calls, 1);
    ohp_snapshot_reader_free(ra);
    ohp_reconcile_free(rc);
    free(s.s);
}
END_TEST

/* Allocation failures anywhere fail cleanly (ASan/valgrind check for leaks). */
START_TEST(t_alloc_failures)
{
    text s = snap();
    for (int i = 0; i < 30; i++) {
        char item[16];
        snprintf(item, sizeof item, "I%02d", i);
        sline(&s, "FULL", D1, item, "", "FGI", "", "", i % 3 ? "" : item, i % 3 ? "2.5" : "1",
              "Ea");
    }
    const char *ext = EXT_HEADER "M1|I01||FGI|||N||2|Ea|x\nM1|I00||FGI|||Y|I00|1|Ea|x\n";
    for (long k = 1; k < 400; k++) {
        tu_alloc ta;
        tu_alloc_init(&ta);
        ta.fail_at = k;
        ohp_reconcile *rc = NULL;
        int r = ohp_reconcile_new(&rc, NULL, &ta.pub);
        ohp_snapshot_reader *ra = NULL;
        mem_in a = {s.s, s.len, 0}, b = {ext, strlen(ext), 0};
        if (r == OHP_OK)
            r = ohp_snapshot_reader_open_psv(&ra, mem_read_fn, &a, &ta.pub);
        if (r == OHP_OK)
            r = ohp_reconcile_load_erp(rc, &ra, 1);
        if (r == OHP_OK)
            r = ohp_reconcile_load_external_psv(rc, mem_read_fn, &b);
        if (r == OHP_OK)
            r = ohp_reconcile_run(rc, NULL, NULL);
        ohp_snapshot_reader_free(ra);
        ohp_reconcile_free(rc);
        ck_assert_int_eq(ta.blocks, 0);
        if (r == OHP_OK)
            break;
        ck_assert_msg(r == OHP_ENOMEM, "k=%ld r=%d", k, r);
    }
    free(s.s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("reconcile");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_reader_fields);
    tcase_add_loop_test(tc, t_reader_malformed, 0, (int)(sizeof bad_lines / sizeof bad_lines[0]));
    tcase_add_test(tc, t_reader_bad_header);
    tcase_add_loop_test(tc, t_round_trip, 0, 2);
    tcase_add_test(tc, t_zip_callbacks);
    tcase_add_loop_test(tc, t_corrupt_zip, 0, 2);
    tcase_add_test(tc, t_classes);
    tcase_add_test(tc, t_serials);
    tcase_add_test(tc, t_serial_move_only);
    tcase_add_test(tc, t_fold);
    tcase_add_test(tc, t_big_quantities);
    tcase_add_test(tc, t_sums_past_quantity_limit);
    tcase_add_test(tc, t_mixed_units);
    tcase_add_test(tc, t_units_per_key);
    tcase_add_test(tc, t_net_absence);
    tcase_add_test(tc, t_serial_duplicates);
    tcase_add_test(tc, t_missing_key_columns);
    tcase_add_test(tc, t_external_format);
    tcase_add_test(tc, t_fold_refused);
    tcase_add_loop_test(tc, t_tolerance, 0, (int)(sizeof tol_cases / sizeof tol_cases[0]));
    tcase_add_test(tc, t_options);
    tcase_add_loop_test(tc, t_ignore, 0, 3);
    tcase_add_test(tc, t_order);
    tcase_add_loop_test(tc, t_order_many, 0, 8);
    tcase_add_test(tc, t_order_long_prefixes);
    tcase_add_test(tc, t_order_merged);
    tcase_add_test(tc, t_external_malformed);
    tcase_add_test(tc, t_external_utf8);
    tcase_add_test(tc, t_external_v1);
    tcase_add_test(tc, t_callback_stops);
    tcase_add_test(tc, t_empty_snapshot);
    tcase_add_test(tc, t_other_organization);
    tcase_add_test(tc, t_failed_side);
    tcase_add_test(tc, t_alloc_failures);
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
