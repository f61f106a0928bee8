/*
 * Randomized reconciliations: identical balances, in any order on either
 * side, with any values the publisher accepts, reconcile clean; planted
 * differences are found, each exactly once and nothing else.
 */
#include <check.h>
#include <onhandpub.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ---- a small deterministic generator ---- */

static uint64_t rng_state;

static void rng_seed(uint64_t s)
{
    rng_state = s * 0x9E3779B97F4A7C15ull + 0x1234567ull;
}

static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return x;
}

static size_t pick(size_t n)
{
    return (size_t)(rng() % n);
}

static void shuffle(size_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t j = pick(i), t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

/* ---- growing text ---- */

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

/* One PSV field, quoted when it holds '|', '"', CR or LF; last ends the line. */
static void field(text *t, const char *v, int last)
{
    if (strpbrk(v, "|\"\r\n") != NULL) {
        add(t, "\"");
        for (const char *p = v; *p; p++)
            add(t, *p == '"' ? "\"\"" : "%c", *p);
        add(t, "\"");
    } else {
        add(t, "%s", v);
    }
    add(t, last ? "\n" : "|");
}

/* ---- reading from memory ---- */

typedef struct mem_in {
    const char *p;
    size_t len, pos, chunk;
} mem_in;

static int mem_read_fn(void *ud, void *buf, size_t cap, size_t *got)
{
    mem_in *m = ud;
    size_t n = m->len - m->pos < cap ? m->len - m->pos : cap;
    if (m->chunk && n > m->chunk)
        n = m->chunk; /* odd read sizes */
    memcpy(buf, m->p + m->pos, n);
    m->pos += n;
    *got = n;
    return 0;
}

/* ---- reconciling and collecting ---- */

typedef struct found {
    int kind;
    char item[96], loc[96], serial[96], uom[32], diff[64];
} found;

typedef struct result {
    int rc;
    found *d;
    size_t n, cap;
    ohp_reconcile_summary sum;
    char err[512];
} result;

static int collect(void *ud, const ohp_discrepancy *d)
{
    result *r = ud;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->d = realloc(r->d, r->cap * sizeof *r->d);
        ck_assert_ptr_nonnull(r->d);
    }
    found *f = &r->d[r->n++];
    f->kind = d->kind;
    snprintf(f->item, sizeof f->item, "%s", d->item_number);
    snprintf(f->loc, sizeof f->loc, "%s", d->locator);
    snprintf(f->serial, sizeof f->serial, "%s", d->serial_number);
    snprintf(f->uom, sizeof f->uom, "%s",
             d->kind == OHP_DISC_MISSING_ERP || d->kind == OHP_DISC_SERIAL_MISSING_ERP
                 ? d->external_uom_code
                 : d->erp_uom_code);
    snprintf(f->diff, sizeof f->diff, "%s", d->difference);
    return 0;
}

/* A side: a ZIP, bare layout v1 PSV texts (a chain), or an external PSV. */
typedef struct side {
    const void *zip;
    size_t zip_len;
    const text *v1;
    size_t nv1;
    const text *psv;
} side;

static int load_side(ohp_reconcile *rc, int which, const side *s, size_t chunk)
{
    int r;
    if (s->psv != NULL) {
        mem_in in = {s->psv->s, s->psv->len, 0, chunk};
        return ohp_reconcile_load_external_psv(rc, mem_read_fn, &in);
    }
    ohp_snapshot_reader *rd[8];
    mem_in in[8];
    size_t n = s->zip ? 1 : s->nv1;
    ck_assert_uint_le(n, 8);
    for (size_t i = 0; i < n; i++) {
        if (s->zip) {
            ck_assert_int_eq(ohp_snapshot_reader_open_memory(&rd[i], s->zip, s->zip_len, NULL),
                             OHP_OK);
        } else {
            in[i] = (mem_in){s->v1[i].s, s->v1[i].len, 0, chunk};
            ck_assert_int_eq(ohp_snapshot_reader_open_psv(&rd[i], mem_read_fn, &in[i], NULL),
                             OHP_OK);
        }
    }
    r = which == OHP_SIDE_ERP ? ohp_reconcile_load_erp(rc, rd, n)
                              : ohp_reconcile_load_external(rc, rd, n);
    for (size_t i = 0; i < n; i++)
        ohp_snapshot_reader_free(rd[i]);
    return r;
}

/* Reconcile; external_first loads the external side before the ERP side. */
static void run(result *res, const side *erp, const side *ext, int external_first, int ignore)
{
    memset(res, 0, sizeof *res);
    ohp_reconcile_options o = OHP_RECONCILE_OPTIONS_INIT;
    o.ignore = ignore;
    ohp_reconcile *rc;
    ck_assert_int_eq(ohp_reconcile_new(&rc, &o, NULL), OHP_OK);
    size_t chunk = 1 + pick(4000);
    if (external_first) {
        res->rc = load_side(rc, OHP_SIDE_EXTERNAL, ext, chunk);
        if (res->rc == OHP_OK)
            res->rc = load_side(rc, OHP_SIDE_ERP, erp, chunk);
    } else {
        res->rc = load_side(rc, OHP_SIDE_ERP, erp, chunk);
        if (res->rc == OHP_OK)
            res->rc = load_side(rc, OHP_SIDE_EXTERNAL, ext, chunk);
    }
    if (res->rc == OHP_OK)
        res->rc = ohp_reconcile_run(rc, collect, res);
    res->sum = *ohp_reconcile_get_summary(rc);
    snprintf(res->err, sizeof res->err, "%s", ohp_reconcile_errmsg(rc));
    ohp_reconcile_free(rc);
}

static void assert_clean(const result *r, unsigned seed, const char *what)
{
    ck_assert_msg(r->rc == OHP_OK, "seed %u, %s: %s", seed, what, r->err);
    if (r->n > 0)
        ck_abort_msg("seed %u, %s: %zu discrepancies, the first of class %d at item '%s' "
                     "locator '%s' serial '%s' uom '%s' difference '%s'",
                     seed, what, r->n, r->d[0].kind, r->d[0].item, r->d[0].loc, r->d[0].serial,
                     r->d[0].uom, r->d[0].diff);
    ck_assert_uint_eq(r->sum.discrepancies, 0);
}

/* ================================================================== */
/* Identical balances through the publisher                           */
/* ================================================================== */

/* Values the publisher takes, hostile ones among them. */
static const char *const items[] = {
    "A", "BOLT-3/2\"", "PIPE|1", "\xc3\x9cml\xc3\xa4ut-\xc3\xa9", " lead", "x y", "Z\"|\"Z"};
static const char *const revs[] = {"", "", "A", "B|2"};
static const char *const subs[] = {"FGI", "RAW|MAT", "S\"Q"};
static const char *const locnames[] = {"", "", "L1", "L|2", "\"Q\""};
static const char *const locids[] = {"", "17", "1234567890"};
static const char *const lots[] = {"", "", "LOT1", "L\"2", "l\xc3\xb3|t"};
static const char *const owners[] = {"", "", "555", "90210"};
static const char *const uoms[] = {"Ea", "KG", "Bx", "L|T"};
/* quantities: exact decimals in any spelling the publisher may take (it refuses the others) */
static const char *const qtys[] = {"0",
                                   "-3",
                                   "4.000",
                                   "12.5",
                                   "0.001",
                                   "-0.50",
                                   "7",
                                   "123456789012345678901234.5",
                                   "1",
                                   "2",
                                   "99999999999999999.99",
                                   "+5",
                                   "-0",
                                   "0.000",
                                   ".5",
                                   "5.",
                                   " 5 ",
                                   "1e3",
                                   "0012.50"};
static const char *const serial_pool[] = {"S1", "S2", "P|1", "Q\"2", "\xc3\xa9-ser", "S3",
                                          "S4", "S5", "S6",  "T1",   "T2",           "T3"};

typedef struct rrec {
    const char *org, *item, *rev, *sub, *locname, *locid, *lot, *owner, *qty, *uom;
    char qbuf[24];
    char *serials; /* serial list (malloc), or NULL */
    int serial_controlled;
    int rejected;
} rrec;

static char *longserial(size_t i)
{
    char *s = malloc(700);
    ck_assert_ptr_nonnull(s);
    memset(s, 'x', 600);
    snprintf(s + 600, 100, "-%zu", i);
    return s;
}

/* A serial list of n serials (a range counts its members); returns how many. */
static size_t make_serials(rrec *r, size_t idx)
{
    text t = {NULL, 0, 0};
    size_t count = 0, items_n = 1 + pick(4);
    for (size_t k = 0; k < items_n; k++) {
        if (k)
            add(&t, pick(2) ? "," : " , ");
        size_t c = pick(10);
        if (c == 0) {
            unsigned lo = (unsigned)pick(5);
            unsigned hi = lo + (unsigned)pick(4);
            add(&t, "R%03u..R%03u", lo, hi);
            count += hi - lo + 1;
        } else if (c == 1) {
            char *l = longserial(idx % 3);
            add(&t, "%s", l);
            free(l);
            count++;
        } else {
            add(&t, "%s", serial_pool[pick(sizeof serial_pool / sizeof serial_pool[0])]);
            count++;
        }
    }
    r->serials = t.s;
    return count;
}

#define PICK(a) a[pick(sizeof a / sizeof a[0])]

static void gen_records(rrec *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        rrec *r = &v[i];
        memset(r, 0, sizeof *r);
        r->org = pick(12) ? "M1" : "M2";
        r->item = PICK(items);
        r->rev = PICK(revs);
        r->sub = PICK(subs);
        r->locname = PICK(locnames);
        r->locid = PICK(locids);
        r->lot = PICK(lots);
        r->owner = PICK(owners);
        r->uom = PICK(uoms);
        if (pick(3) == 0) {
            r->serial_controlled = 1;
            size_t c = make_serials(r, i);
            snprintf(r->qbuf, sizeof r->qbuf, "%zu", c);
            r->qty = r->qbuf;
        } else {
            r->qty = PICK(qtys);
        }
    }
}

static void free_records(rrec *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].serials);
}

typedef struct rsrc {
    rrec *v;
    const size_t *order;
    size_t n, next;
} rsrc;

static int rsrc_next(void *ud, ohp_record *rec)
{
    rsrc *s = ud;
    if (s->next >= s->n)
        return 0;
    const rrec *r = &s->v[s->order[s->next++]];
    rec->organization_code = r->org;
    rec->item_number = r->item;
    rec->revision = r->rev;
    rec->subinventory_code = r->sub;
    rec->locator_name = r->locname;
    rec->locator_id = r->locid;
    rec->lot_number = r->lot;
    rec->owning_party_id = r->owner;
    rec->consigned = r->owner[0] != '\0';
    rec->primary_quantity = r->qty;
    rec->primary_uom_code = r->uom;
    rec->serial_controlled = r->serial_controlled;
    rec->serial_list = r->serials;
    rec->last_update_date = "2026/11/01 08:00:00";
    return 1;
}

static int on_reject(void *ud, const ohp_rejection *rj)
{
    rsrc *s = ud;
    s->v[s->order[rj->ordinal - 1]].rejected = 1;
    return 0;
}

static unsigned char *publish_records(rrec *v, const size_t *order, size_t n, size_t *len)
{
    ohp_job *job;
    ck_assert_int_eq(ohp_job_new(&job, NULL), OHP_OK);
    rsrc s = {v, order, n, 0};
    ck_assert_int_eq(ohp_job_set_source(job, NULL, rsrc_next, NULL, &s), OHP_OK);
    ck_assert_int_eq(ohp_job_set_reject_callback(job, on_reject, &s), OHP_OK);
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
    p.on_error = OHP_ON_ERROR_REJECT;
    p.max_reject_percent = 100; /* hostile values: many records may be refused */
    p.allow_empty = 1;          /* and all of them */
    int rc = ohp_job_run(job, &p);
    ck_assert_msg(rc == OHP_OK, "publish: %s", ohp_job_errmsg(job));
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

/*
 * The accepted records in the balances layout, in the given order; those
 * of other organizations (which publishing skips unchecked) unless
 * only_m1.
 */
static text balances_psv(const rrec *v, const size_t *order, size_t n, int only_m1)
{
    text t = {NULL, 0, 0};
    add(&t, "ORGANIZATION_CODE|ITEM_NUMBER|REVISION|SUBINVENTORY_CODE|LOCATOR_ID|LOCATOR_NAME|"
            "LOT_NUMBER|OWNING_PARTY_ID|SERIAL_CONTROLLED|SERIAL_NUMBERS|PRIMARY_QUANTITY|"
            "PRIMARY_UOM_CODE\n");
    for (size_t i = 0; i < n; i++) {
        const rrec *r = &v[order[i]];
        if (r->rejected || (only_m1 && strcmp(r->org, "M1") != 0))
            continue;
        field(&t, r->org, 0);
        field(&t, r->item, 0);
        field(&t, r->rev, 0);
        field(&t, r->sub, 0);
        field(&t, r->locid, 0);
        field(&t, r->locname, 0);
        field(&t, r->lot, 0);
        field(&t, r->owner, 0);
        field(&t, r->serial_controlled ? "Y" : "N", 0);
        field(&t, r->serials ? r->serials : "", 0);
        field(&t, r->qty, 0);
        field(&t, r->uom, 1);
    }
    return t;
}

/*
 * Publish random records, then reconcile the snapshot against the same
 * balances (every record the publisher accepted) in another order, as a PSV
 * and as a second snapshot, loading either side first.
 */
START_TEST(t_identical_published)
{
    unsigned seed = 1000u + (unsigned)_i;
    rng_seed(seed);
    size_t n = 1 + pick(_i % 4 == 0 ? 300 : 60);
    rrec *v = calloc(n, sizeof *v);
    size_t *o1 = calloc(n, sizeof *o1), *o2 = calloc(n, sizeof *o2);
    ck_assert_ptr_nonnull(v);
    ck_assert_ptr_nonnull(o1);
    ck_assert_ptr_nonnull(o2);
    gen_records(v, n);
    shuffle(o1, n);
    shuffle(o2, n);
    size_t l1, l2;
    unsigned char *z1 = publish_records(v, o1, n, &l1);
    unsigned char *z2 = publish_records(v, o2, n, &l2);
    text psv = balances_psv(v, o2, n, 0), psv_m1 = balances_psv(v, o2, n, 1);
    side erp = {z1, l1, NULL, 0, NULL}, ext_all = {NULL, 0, NULL, 0, &psv},
         ext_m1 = {NULL, 0, NULL, 0, &psv_m1}, ext_zip = {z2, l2, NULL, 0, NULL};
    result r;
    for (int first = 0; first < 2; first++) {
        /*
         * Lines of other organizations are read unchecked once the ERP
         * side's organization is known; loaded first, the external side is
         * checked whole, so it holds the ERP side's organization only.
         */
        const side *ext_psv = first ? &ext_m1 : &ext_all;
        run(&r, &erp, ext_psv, first, 0);
        assert_clean(&r, seed, first ? "PSV loaded first" : "PSV");
        ck_assert_uint_gt(r.sum.erp_lines + r.sum.external_lines, 0);
        free(r.d);
        run(&r, &erp, &ext_zip, first, 0);
        assert_clean(&r, seed, first ? "snapshot loaded first" : "snapshot");
        free(r.d);
        /* any granularity */
        int ig = (int)pick(16);
        run(&r, &erp, ext_psv, first, ig);
        assert_clean(&r, seed, "PSV, some key parts ignored");
        free(r.d);
    }
    free(psv.s);
    free(psv_m1.s);
    free(z1);
    free(z2);
    free_records(v, n);
    free(v);
    free(o1);
    free(o2);
}
END_TEST

/* ================================================================== */
/* A model of balances as snapshot lines, for chains and planted      */
/* differences                                                        */
/* ================================================================== */

typedef struct mline {
    char item[32], loc[32], uom[16], qty[48], serial[32];
    int key; /* the key's number: lines of one key share it */
} mline;

typedef struct model {
    mline *v;
    size_t n, cap;
} model;

static mline *model_add(model *m)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 64;
        m->v = realloc(m->v, m->cap * sizeof *m->v);
        ck_assert_ptr_nonnull(m->v);
    }
    mline *l = &m->v[m->n++];
    memset(l, 0, sizeof *l);
    return l;
}

/* A layout v1 data line (bare PSV). */
static void v1_line(text *t, const char *mode, const char *date, const mline *l)
{
    int ser = l->serial[0] != '\0';
    add(t, "0|7|%s|%s|204|M1|1|", mode, date);
    field(t, l->item, 0);
    add(t, "|FGI||");
    field(t, l->loc, 0);
    add(t, "||%s|", ser ? "Y" : "N");
    field(t, l->serial, 0);
    add(t, "%s|", ser ? "1" : l->qty);
    field(t, l->uom, 0);
    add(t, "||N||||Active|2026/11/20 14:03:11\n");
}

static text v1_text(const model *m, const size_t *order, const char *mode, const char *date)
{
    text t = {NULL, 0, 0};
    add(&t, "%s", TU_HEADER_V1);
    for (size_t i = 0; i < m->n; i++)
        v1_line(&t, mode, date, &m->v[order ? order[i] : i]);
    return t;
}

/*
 * The external side: the lines in the given order, one line per serial
 * (SERIAL_NUMBER) or each key's serials of one unit in one list
 * (SERIAL_NUMBERS, the balances layout).
 */
static text ext_text(const model *m, const size_t *order, int lists)
{
    text t = {NULL, 0, 0};
    add(&t,
        "ORGANIZATION_CODE|ITEM_NUMBER|SUBINVENTORY_CODE|LOCATOR_NAME|REVISION|LOT_NUMBER|"
        "OWNING_PARTY_ID|%s|PRIMARY_QUANTITY|PRIMARY_UOM_CODE\n",
        lists ? "SERIAL_NUMBERS" : "SERIAL_NUMBER");
    char *done = calloc(m->n + 1, 1);
    ck_assert_ptr_nonnull(done);
    for (size_t i = 0; i < m->n; i++) {
        size_t a = order[i];
        if (done[a])
            continue;
        const mline *l = &m->v[a];
        add(&t, "M1|");
        field(&t, l->item, 0);
        add(&t, "FGI|");
        field(&t, l->loc, 0);
        add(&t, "|||");
        if (!lists || l->serial[0] == '\0') {
            field(&t, l->serial, 0);
            add(&t, "%s|", l->serial[0] ? "1" : l->qty);
            field(&t, l->uom, 1);
            done[a] = 1;
            continue;
        }
        /* every serial of this key and unit, in the order given */
        text s = {NULL, 0, 0};
        size_t count = 0;
        for (size_t j = i; j < m->n; j++) {
            const mline *x = &m->v[order[j]];
            if (done[order[j]] || x->key != l->key || x->serial[0] == '\0' ||
                strcmp(x->uom, l->uom) != 0)
                continue;
            add(&s, "%s%s", count ? "," : "", x->serial);
            count++;
            done[order[j]] = 1;
        }
        field(&t, s.s, 0);
        add(&t, "%zu|", count);
        field(&t, l->uom, 1);
        free(s.s);
    }
    free(done);
    return t;
}

/*
 * Random keys, each with non-serial lines (possibly in two units, possibly
 * zero or negative) and/or serial lines.  Serials are unique when unique
 * is set, else drawn from a small pool (the same serial at several keys).
 */
static void gen_model(model *m, size_t nkeys, int unique, int first_key)
{
    static const char *const units[] = {"Ea", "KG", "Bx"};
    static const char *const q[] = {"1", "2", "3.5", "-3", "0", "10", "0.25", "1000000"};
    static unsigned serial_no;
    for (size_t k = 0; k < nkeys; k++) {
        int key = first_key + (int)k;
        char item[32], loc[32];
        snprintf(item, sizeof item, "I%02d", key / 3);
        snprintf(loc, sizeof loc, "L|%d", key % 3);
        size_t nl = 1 + pick(5);
        for (size_t j = 0; j < nl; j++) {
            mline *l = model_add(m);
            l->key = key;
            snprintf(l->item, sizeof l->item, "%s", item);
            snprintf(l->loc, sizeof l->loc, "%s", loc);
            snprintf(l->uom, sizeof l->uom, "%s", units[pick(4) == 0 ? pick(3) : (size_t)key % 3]);
            if (pick(2)) {
                if (unique)
                    snprintf(l->serial, sizeof l->serial, "SN%06u", ++serial_no);
                else
                    snprintf(l->serial, sizeof l->serial, "SN%02zu", pick(40));
                snprintf(l->qty, sizeof l->qty, "1");
            } else {
                snprintf(l->qty, sizeof l->qty, "%s", q[pick(8)]);
            }
        }
    }
}

/*
 * A chain: a FULL snapshot of one model, then an INCREMENTAL one that
 * replaces some keys (one of them by a zero line: removed), against the
 * folded state, in random orders, with serials as lists or one per line.
 */
START_TEST(t_identical_chain)
{
    unsigned seed = 5000u + (unsigned)_i;
    rng_seed(seed);
    model full = {NULL, 0, 0}, inc = {NULL, 0, 0}, fin = {NULL, 0, 0};
    size_t nkeys = 1 + pick(_i % 3 == 0 ? 120 : 25);
    gen_model(&full, nkeys, _i % 2, 0);
    /* the incremental replaces a random subset of keys, some new */
    char *touched = calloc(nkeys + 10, 1);
    ck_assert_ptr_nonnull(touched);
    for (size_t k = 0; k < nkeys + 10; k++) {
        if (pick(3) != 0)
            continue;
        touched[k] = 1;
        if (pick(4) == 0) { /* removed: one zero line */
            mline *l = model_add(&inc);
            l->key = (int)k;
            snprintf(l->item, sizeof l->item, "I%02zu", k / 3);
            snprintf(l->loc, sizeof l->loc, "L|%zu", k % 3);
            snprintf(l->uom, sizeof l->uom, "Ea");
            snprintf(l->qty, sizeof l->qty, "0");
        } else {
            model one = {NULL, 0, 0};
            gen_model(&one, 1, _i % 2, (int)k);
            for (size_t j = 0; j < one.n; j++)
                *model_add(&inc) = one.v[j];
            free(one.v);
        }
    }
    /* incremental lines of one key must follow each other in the file only for the first */
    for (size_t i = 0; i < full.n; i++)
        if (!touched[full.v[i].key])
            *model_add(&fin) = full.v[i];
    for (size_t i = 0; i < inc.n; i++)
        if (!(inc.v[i].serial[0] == '\0' && strcmp(inc.v[i].qty, "0") == 0))
            *model_add(&fin) = inc.v[i];
    size_t *of = calloc(full.n + 1, sizeof *of), *oi = calloc(inc.n + 1, sizeof *oi),
           *ox = calloc(fin.n + 1, sizeof *ox);
    ck_assert_ptr_nonnull(of);
    ck_assert_ptr_nonnull(oi);
    ck_assert_ptr_nonnull(ox);
    shuffle(of, full.n);
    shuffle(oi, inc.n);
    shuffle(ox, fin.n);
    text chain[2] = {v1_text(&full, _i % 4 == 1 ? NULL : of, "FULL", "2026/11/01 06:00:00"),
                     v1_text(&inc, oi, "INCREMENTAL", "2026/11/02 06:00:00")};
    text ext = ext_text(&fin, ox, _i % 2);
    /* without incremental lines, the FULL snapshot alone */
    side erp = {NULL, 0, chain, inc.n ? 2 : 1, NULL}, xs = {NULL, 0, NULL, 0, &ext};
    result r;
    run(&r, &erp, &xs, (int)pick(2), 0);
    assert_clean(&r, seed, "chain");
    free(r.d);
    /* the folded state as a snapshot on the external side, in key order */
    text fv = v1_text(&fin, NULL, "FULL", "2026/11/03 06:00:00");
    side xv = {NULL, 0, &fv, 1, NULL};
    run(&r, &erp, &xv, 0, 0);
    assert_clean(&r, seed, "chain against a snapshot");
    free(r.d);
    free(fv.s);
    free(ext.s);
    free(chain[0].s);
    free(chain[1].s);
    free(of);
    free(oi);
    free(ox);
    free(touched);
    free(full.v);
    free(inc.v);
    free(fin.v);
}
END_TEST

/*
 * The example of the report: a FULL snapshot of 8 items with 4 serials
 * each in key order against the same balances in reverse order, the
 * serials as SERIAL_NUMBERS lists (the hashing began in the middle of a
 * key's contributions).
 */
START_TEST(t_reverse_order_serials)
{
    model m = {NULL, 0, 0};
    for (int it = 0; it < 8; it++)
        for (int s = 0; s < 4; s++) {
            mline *l = model_add(&m);
            l->key = it;
            snprintf(l->item, sizeof l->item, "IT%02d", it + 1);
            snprintf(l->loc, sizeof l->loc, "A1");
            snprintf(l->uom, sizeof l->uom, "Ea");
            snprintf(l->qty, sizeof l->qty, "1");
            snprintf(l->serial, sizeof l->serial, "IT%02d-S%d", it + 1, s + 1);
        }
    size_t rev[32];
    for (size_t i = 0; i < 32; i++)
        rev[i] = 31 - i;
    text snapt = v1_text(&m, NULL, "FULL", "2026/11/01 06:00:00");
    for (int lists = 0; lists < 2; lists++) {
        text ext = ext_text(&m, rev, lists);
        side erp = {NULL, 0, &snapt, 1, NULL}, xs = {NULL, 0, NULL, 0, &ext};
        result r;
        run(&r, &erp, &xs, 0, 0);
        assert_clean(&r, 21, lists ? "serial lists" : "serial lines");
        ck_assert_uint_eq(r.sum.matched, 8);
        ck_assert_uint_eq(r.sum.erp_serials, 32);
        ck_assert_uint_eq(r.sum.external_serials, 32);
        free(r.d);
        free(ext.s);
    }
    free(snapt.s);
    free(m.v);
}
END_TEST

/* ================================================================== */
/* Planted differences                                                */
/* ================================================================== */

enum { P_QTY, P_MISS_EXT, P_MISS_ERP, P_UOM, P_MOVED, P_SER_MISS_EXT, P_SER_MISS_ERP, P_KINDS };

typedef struct want {
    int kind;
    char item[32], loc[32], serial[32], diff[48];
    int seen;
} want;

static void expect(want *w, size_t *n, int kind, const char *item, const char *loc,
                   const char *serial, const char *diff)
{
    want *x = &w[(*n)++];
    memset(x, 0, sizeof *x);
    x->kind = kind;
    snprintf(x->item, sizeof x->item, "%s", item);
    snprintf(x->loc, sizeof x->loc, "%s", loc);
    snprintf(x->serial, sizeof x->serial, "%s", serial);
    snprintf(x->diff, sizeof x->diff, "%s", diff);
}

/*
 * Keys of one kind each: non-serial keys (one line, one unit) and serial
 * keys (1-4 serials in Ea).  Differences planted at distinct keys of the
 * external side must come out exactly, whatever the order of either side.
 */
START_TEST(t_planted)
{
    unsigned seed = 9000u + (unsigned)_i;
    rng_seed(seed);
    size_t nkeys = 20 + pick(_i % 3 == 0 ? 300 : 60);
    model erp = {NULL, 0, 0}, ext = {NULL, 0, 0};
    int *serialkey = calloc(nkeys, sizeof *serialkey);
    int *plant = calloc(nkeys, sizeof *plant);
    ck_assert_ptr_nonnull(serialkey);
    ck_assert_ptr_nonnull(plant);
    unsigned sn = 0;
    for (size_t k = 0; k < nkeys; k++) {
        serialkey[k] = (int)pick(2);
        size_t ns = serialkey[k] ? 1 + pick(4) : 1;
        for (size_t j = 0; j < ns; j++) {
            mline *l = model_add(&erp);
            l->key = (int)k;
            snprintf(l->item, sizeof l->item, "K%04zu", k);
            snprintf(l->loc, sizeof l->loc, "L%zu", k % 5);
            snprintf(l->uom, sizeof l->uom, serialkey[k] ? "Ea" : (k % 2 ? "KG" : "Ea"));
            if (serialkey[k]) {
                snprintf(l->serial, sizeof l->serial, "S%05u", ++sn);
                snprintf(l->qty, sizeof l->qty, "1");
            } else {
                size_t tenths = 10 + pick(5000);
                if (tenths % 10)
                    snprintf(l->qty, sizeof l->qty, "%zu.%zu", tenths / 10, tenths % 10);
                else
                    snprintf(l->qty, sizeof l->qty, "%zu", tenths / 10);
            }
        }
    }
    want w[1024];
    size_t nw = 0, nplanted = 0, fresh = 0;
    for (size_t k = 0; k < nkeys; k++)
        plant[k] = pick(3) == 0 && nplanted < 200 ? (int)pick(P_KINDS) : -1;
    for (size_t k = 0; k < nkeys; k++) {
        int p = plant[k];
        if (p >= 0 && serialkey[k] != (p >= P_MOVED))
            p = plant[k] = -1; /* serial kinds at serial keys, the others at the others */
        if (p >= 0)
            nplanted++;
        size_t first = ext.n;
        for (size_t i = 0; i < erp.n; i++)
            if (erp.v[i].key == (int)k)
                *model_add(&ext) = erp.v[i];
        mline *l = &ext.v[first];
        char item[32], loc[32];
        snprintf(item, sizeof item, "%s", l->item);
        snprintf(loc, sizeof loc, "%s", l->loc);
        switch (p) {
        case P_QTY: {
            /* 700 instead of at most 501: the difference in tenths, as the reconciler writes it */
            unsigned long a = strtoul(l->qty, NULL, 10), t = a * 10;
            const char *dot = strchr(l->qty, '.');
            if (dot)
                t += strtoul(dot + 1, NULL, 10);
            unsigned long d = 7000 - t;
            char ds[48];
            if (d % 10)
                snprintf(ds, sizeof ds, "%lu.%lu", d / 10, d % 10);
            else
                snprintf(ds, sizeof ds, "%lu", d / 10);
            snprintf(l->qty, sizeof l->qty, "700");
            expect(w, &nw, OHP_DISC_QUANTITY, item, loc, "", ds);
            break;
        }
        case P_MISS_EXT:
            ext.n = first;
            expect(w, &nw, OHP_DISC_MISSING_EXTERNAL, item, loc, "", "");
            break;
        case P_MISS_ERP: {
            mline *x = model_add(&ext);
            x->key = (int)(nkeys + fresh);
            snprintf(x->item, sizeof x->item, "NEW%04zu", fresh++);
            snprintf(x->loc, sizeof x->loc, "N");
            snprintf(x->uom, sizeof x->uom, "Ea");
            snprintf(x->qty, sizeof x->qty, "3");
            expect(w, &nw, OHP_DISC_MISSING_ERP, x->item, "N", "", "");
            break;
        }
        case P_UOM:
            snprintf(l->uom, sizeof l->uom, "ZZ");
            expect(w, &nw, OHP_DISC_UOM, item, loc, "", "");
            break;
        case P_MOVED: {
            mline *x = &ext.v[first + pick(ext.n - first)];
            snprintf(x->loc, sizeof x->loc, "MOVED");
            x->key = (int)(nkeys + fresh++);
            expect(w, &nw, OHP_DISC_SERIAL_MOVED, item, loc, x->serial, "");
            break;
        }
        case P_SER_MISS_EXT: {
            size_t ns = ext.n - first, j = first + pick(ns);
            expect(w, &nw, OHP_DISC_SERIAL_MISSING_EXTERNAL, item, loc, ext.v[j].serial, "");
            ext.v[j] = ext.v[ext.n - 1];
            ext.n--;
            if (ns == 1)
                expect(w, &nw, OHP_DISC_MISSING_EXTERNAL, item, loc, "", "");
            else
                expect(w, &nw, OHP_DISC_QUANTITY, item, loc, "", "-1");
            break;
        }
        case P_SER_MISS_ERP: {
            mline *x = model_add(&ext);
            *x = ext.v[first];
            snprintf(x->serial, sizeof x->serial, "X%05zu", k);
            expect(w, &nw, OHP_DISC_SERIAL_MISSING_ERP, item, loc, x->serial, "");
            expect(w, &nw, OHP_DISC_QUANTITY, item, loc, "", "1");
            break;
        }
        default:
            break;
        }
    }
    size_t *oe = calloc(erp.n, sizeof *oe), *ox = calloc(ext.n + 1, sizeof *ox);
    ck_assert_ptr_nonnull(oe);
    ck_assert_ptr_nonnull(ox);
    shuffle(oe, erp.n);
    shuffle(ox, ext.n);
    text et = v1_text(&erp, _i % 2 ? oe : NULL, "FULL", "2026/11/01 06:00:00");
    text xt = ext_text(&ext, ox, _i % 3 == 1);
    side es = {NULL, 0, &et, 1, NULL}, xs = {NULL, 0, NULL, 0, &xt};
    result r;
    run(&r, &es, &xs, (int)pick(2), 0);
    ck_assert_msg(r.rc == OHP_OK, "seed %u: %s", seed, r.err);
    for (size_t i = 0; i < r.n; i++) {
        const found *f = &r.d[i];
        size_t j = 0;
        for (; j < nw; j++)
            if (!w[j].seen && w[j].kind == f->kind && strcmp(w[j].item, f->item) == 0 &&
                strcmp(w[j].loc, f->loc) == 0 && strcmp(w[j].serial, f->serial) == 0 &&
                (w[j].diff[0] == '\0' || strcmp(w[j].diff, f->diff) == 0))
                break;
        ck_assert_msg(j < nw,
                      "seed %u: unexpected discrepancy of class %d at %s/%s serial '%s' "
                      "difference '%s'",
                      seed, f->kind, f->item, f->loc, f->serial, f->diff);
        w[j].seen = 1;
    }
    for (size_t j = 0; j < nw; j++)
        ck_assert_msg(w[j].seen, "seed %u: planted class %d at %s/%s serial '%s' not reported",
                      seed, w[j].kind, w[j].item, w[j].loc, w[j].serial);
    ck_assert_uint_eq(r.sum.discrepancies, nw);
    free(r.d);
    free(et.s);
    free(xt.s);
    free(oe);
    free(ox);
    free(erp.v);
    free(ext.v);
    free(serialkey);
    free(plant);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("reconcile_random");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    int rounds = getenv("OHP_UNDER_VALGRIND") ? 4 : 60;
    tcase_add_loop_test(tc, t_identical_published, 0, rounds);
    tcase_add_loop_test(tc, t_identical_chain, 0, rounds * 3);
    tcase_add_test(tc, t_reverse_order_serials);
    tcase_add_loop_test(tc, t_planted, 0, rounds * 2);
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
