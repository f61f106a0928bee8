/*
 * Incremental snapshots carry whole balance keys: when any record of a key
 * changed in the window, every record of the key is published; no record of
 * an unchanged key is.  Checked on the reproduction of the rule (a serial
 * table and detail rows), then on random days of changes folded as a chain,
 * by an independent fold written here and by the library's reconciler.
 */
#include "testutil.h"

#include <check.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- running one publish into memory ---- */

typedef struct pub {
    unsigned char *zip;
    size_t len;
    ohp_summary sum;
    int rc;
    char err[512];
    int opens[3]; /* opens per ohp_source_pass */
} pub;

typedef struct pass_source {
    tu_source t;
    int *opens;
} pass_source;

static int pass_open(void *ud, const ohp_source_query *q)
{
    pass_source *s = ud;
    ck_assert_uint_ge(q->version, 2);
    ck_assert_int_ge(q->pass, OHP_PASS_ONLY);
    ck_assert_int_le(q->pass, OHP_PASS_KEYS);
    s->opens[q->pass]++;
    return tu_source_open(&s->t, q);
}

/* Publish recs (full or incremental from watermark) at snapshot date snap. */
static pub publish(const ohp_record *recs, size_t n, int full, int64_t watermark, int64_t snap,
                   uint64_t run_id, int items, uint64_t max_changed_keys)
{
    pub out;
    memset(&out, 0, sizeof out);
    ohp_job *job;
    ck_assert_int_eq(ohp_job_new(&job, NULL), OHP_OK);
    pass_source src;
    memset(&src, 0, sizeof src);
    src.t.records = recs;
    src.t.count = n;
    src.opens = out.opens;
    ck_assert_int_eq(ohp_job_set_source(job, pass_open, tu_source_next, tu_source_close, &src),
                     OHP_OK);
    tu_sink sink;
    memset(&sink, 0, sizeof sink);
    tu_use_sink(job, &sink);
    tu_state st;
    tu_state_init(&st);
    st.watermark = watermark;
    st.last_run_id = run_id - 1;
    tu_use_state(job, &st);
    ohp_params p = OHP_PARAMS_INIT;
    p.organization_code = "M1";
    p.user = "TEST";
    p.caller_authorized = 1;
    p.full_publish = full;
    p.snapshot_date = snap;
    p.items = items;
    p.max_changed_keys = max_changed_keys;
    out.rc = ohp_job_run(job, &p);
    out.sum = *ohp_job_summary(job);
    snprintf(out.err, sizeof out.err, "%s", ohp_job_errmsg(job));
    if (out.rc == OHP_OK) {
        ck_assert_int_eq(sink.committed, 1);
        out.zip = sink.data;
        out.len = sink.len;
        sink.data = NULL;
    }
    tu_sink_free(&sink);
    ohp_job_free(job);
    ck_assert_int_eq(src.t.opened, src.t.closed);
    return out;
}

/* The PSV entry of a published ZIP (malloc'd). */
static char *entry_of(const pub *p)
{
    char *psv = NULL, name[256];
    size_t len;
    ck_assert_int_eq(tu_unzip_single(p->zip, p->len, &psv, &len, name, sizeof name), 0);
    return psv;
}

/* Columns 8 (item), 16 (serial) and 17 (quantity) of each data line, "item:serial:qty;". */
static void lines_of(const pub *p, char *out, size_t size)
{
    char *psv = entry_of(p);
    out[0] = '\0';
    char *save = NULL;
    int first = 1;
    for (char *line = strtok_r(psv, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (first) {
            first = 0;
            continue;
        }
        const char *f[26];
        int nf = 0;
        for (char *q = line; nf < 26; nf++) {
            f[nf] = q;
            char *bar = strchr(q, '|');
            if (bar == NULL) {
                nf++;
                break;
            }
            *bar = '\0';
            q = bar + 1;
        }
        ck_assert_int_eq(nf, 26);
        size_t used = strlen(out);
        snprintf(out + used, size - used, "%s:%s:%s;", f[7], f[15], f[16]);
    }
    free(psv);
}

/* ---- reconciling a chain ---- */

static int on_disc(void *ud, const ohp_discrepancy *d)
{
    if (getenv("WK_DEBUG"))
        fprintf(stderr, "disc kind %d %s/%s/%s/%s/%s serial %s erp %s ext %s\n", d->kind,
                d->item_number, d->subinventory_code, d->locator, d->lot_number, d->owning_party_id,
                d->serial_number ? d->serial_number : "-", d->erp_quantity ? d->erp_quantity : "-",
                d->external_quantity ? d->external_quantity : "-");
    (*(int *)ud)++;
    return 0;
}

/* Discrepancies between the chain (ERP side) and the truth (external side). */
static uint64_t reconcile_chain(pub *const *chain, size_t n, const pub *truth)
{
    ohp_snapshot_reader *erp[64], *ext;
    ck_assert_uint_le(n, 64);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(
            ohp_snapshot_reader_open_memory(&erp[i], chain[i]->zip, chain[i]->len, NULL), OHP_OK);
    ck_assert_int_eq(ohp_snapshot_reader_open_memory(&ext, truth->zip, truth->len, NULL), OHP_OK);
    ohp_reconcile *rc;
    ck_assert_int_eq(ohp_reconcile_new(&rc, NULL, NULL), OHP_OK);
    ck_assert_msg(ohp_reconcile_load_erp(rc, erp, n) == OHP_OK, "%s", ohp_reconcile_errmsg(rc));
    ck_assert_msg(ohp_reconcile_load_external(rc, &ext, 1) == OHP_OK, "%s",
                  ohp_reconcile_errmsg(rc));
    int reported = 0;
    ck_assert_msg(ohp_reconcile_run(rc, on_disc, &reported) == OHP_OK, "%s",
                  ohp_reconcile_errmsg(rc));
    uint64_t d = ohp_reconcile_get_summary(rc)->discrepancies;
    ck_assert_uint_eq(d, (uint64_t)reported);
    ohp_reconcile_free(rc);
    for (size_t i = 0; i < n; i++)
        ohp_snapshot_reader_free(erp[i]);
    ohp_snapshot_reader_free(ext);
    return d;
}

/* ---- the reproduction ---- */

static ohp_record row(const char *item, int serial, const char *sn, const char *qty,
                      const char *date)
{
    ohp_record r = tu_record("M1", item, qty);
    r.subinventory_code = "FG";
    r.locator_name = "A1";
    r.serial_controlled = serial;
    r.serial_list = sn;
    r.primary_uom_code = "EA";
    r.last_update_date = date;
    return r;
}

#define D1 "2026/01/01 00:00:00"
#define D3 "2026/01/03 00:00:00"

START_TEST(test_reproduction)
{
    ohp_record day1[] = {
        row("LAPTOP", 1, "S1", "1", D1),
        row("LAPTOP", 1, "S2", "1", D1),
        row("BOLT", 0, NULL, "10", D1),
        row("BOLT", 0, NULL, "5", D1),
    };
    ohp_record day2[] = {
        row("LAPTOP", 1, "S1", "1", D1), row("LAPTOP", 1, "S2", "1", D1),
        row("BOLT", 0, NULL, "10", D1),  row("BOLT", 0, NULL, "7", D3),
        row("LAPTOP", 1, "S3", "1", D3),
    };
    int64_t snap1 = tu_date("2026/01/02 00:00:00"), snap2 = tu_date("2026/01/04 00:00:00");
    pub full1 = publish(day1, 4, 1, OHP_TIME_NONE, snap1, 1, OHP_ITEMS_BOTH, 0);
    ck_assert_int_eq(full1.rc, OHP_OK);
    pub incr2 = publish(day2, 5, 0, snap1, snap2, 2, OHP_ITEMS_BOTH, 0);
    ck_assert_msg(incr2.rc == OHP_OK, "%s", incr2.err);
    ck_assert_int_eq(incr2.sum.mode, OHP_MODE_INCREMENTAL);
    /* Two passes: finding the changed keys, then publishing them. */
    ck_assert_int_eq(incr2.opens[OHP_PASS_CHANGES], 1);
    ck_assert_int_eq(incr2.opens[OHP_PASS_KEYS], 1);
    ck_assert_int_eq(incr2.opens[OHP_PASS_ONLY], 0);
    ck_assert_int_eq(full1.opens[OHP_PASS_ONLY], 1);
    ck_assert_int_eq(full1.opens[OHP_PASS_CHANGES] + full1.opens[OHP_PASS_KEYS], 0);
    /* Every record of both changed keys, in the source's order. */
    char got[1024];
    lines_of(&incr2, got, sizeof got);
    ck_assert_str_eq(got, "LAPTOP:S1:1;LAPTOP:S2:1;BOLT::10;BOLT::7;LAPTOP:S3:1;");
    ck_assert_uint_eq(incr2.sum.changed_keys, 2);
    ck_assert_uint_eq(incr2.sum.records_read, 5);
    ck_assert_uint_eq(incr2.sum.records_published, 5);
    ck_assert_uint_eq(incr2.sum.skipped_window, 0);

    /* Folded, the chain is day 2's truth. */
    pub full2 = publish(day2, 5, 1, OHP_TIME_NONE, snap2, 3, OHP_ITEMS_BOTH, 0);
    ck_assert_int_eq(full2.rc, OHP_OK);
    pub *chain[] = {&full1, &incr2};
    ck_assert_uint_eq(reconcile_chain(chain, 2, &full2), 0);
    free(full1.zip);
    free(incr2.zip);
    free(full2.zip);
}
END_TEST

START_TEST(test_unchanged_keys_left_out_whole)
{
    /* A third key that did not change, between and after the changed ones;
     * another organization's changed record does not make M1's key change. */
    ohp_record recs[] = {
        row("NUT", 0, NULL, "4", D1),    row("BOLT", 0, NULL, "10", D1),
        row("NUT", 0, NULL, "6", D1),    row("BOLT", 0, NULL, "7", D3),
        row("WASHER", 0, NULL, "0", D3),
    };
    ohp_record other = row("NUT", 0, NULL, "1", D3);
    other.organization_code = "M2";
    ohp_record all[] = {recs[0], recs[1], other, recs[2], recs[3], recs[4]};
    int64_t w = tu_date("2026/01/02 00:00:00");
    pub p = publish(all, 6, 0, w, tu_date("2026/01/04"), 2, OHP_ITEMS_BOTH, 0);
    ck_assert_msg(p.rc == OHP_OK, "%s", p.err);
    char got[512];
    lines_of(&p, got, sizeof got);
    /* A zero record published (removal), NUT left out whole. */
    ck_assert_str_eq(got, "BOLT::10;BOLT::7;WASHER::0;");
    ck_assert_uint_eq(p.sum.changed_keys, 2);
    ck_assert_uint_eq(p.sum.skipped_window, 2);
    ck_assert_uint_eq(p.sum.skipped_organization, 1);
    ck_assert_uint_eq(p.sum.records_read, 6);
    free(p.zip);
}
END_TEST

START_TEST(test_key_fields)
{
    /* Each key part separates keys; a locator is its name, or its id without one. */
    ohp_record base = row("ITEM", 0, NULL, "1", D1);
    ohp_record changed = row("ITEM", 0, NULL, "2", D3);
    const char *fields[] = {"revision", "subinventory", "locator", "lot", "owner", "locator id"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        ohp_record a = base, b = changed;
        switch (i) {
        case 0:
            b.revision = "B";
            break;
        case 1:
            b.subinventory_code = "OTHER";
            break;
        case 2:
            b.locator_name = "A2";
            break;
        case 3:
            b.lot_number = "L9";
            break;
        case 4:
            b.consigned = 1;
            b.owning_party_id = "77";
            break;
        default:
            a.locator_name = b.locator_name = NULL;
            a.locator_id = "10";
            b.locator_id = "11";
            break;
        }
        ohp_record recs[] = {a, b};
        pub p =
            publish(recs, 2, 0, tu_date("2026/01/02"), tu_date("2026/01/04"), 2, OHP_ITEMS_BOTH, 0);
        ck_assert_msg(p.rc == OHP_OK, "%s", p.err);
        char got[256];
        lines_of(&p, got, sizeof got);
        ck_assert_msg(strcmp(got, "ITEM::2;") == 0, "%s: %s", fields[i], got);
        free(p.zip);
    }
    /* The same locator named on one record and by id only on the other: two
     * keys; by name on both (ids differ): one key. */
    ohp_record a = base, b = changed;
    a.locator_id = "10";
    b.locator_id = "11";
    ohp_record recs[] = {a, b};
    pub p = publish(recs, 2, 0, tu_date("2026/01/02"), tu_date("2026/01/04"), 2, OHP_ITEMS_BOTH, 0);
    char got[256];
    lines_of(&p, got, sizeof got);
    ck_assert_str_eq(got, "ITEM::1;ITEM::2;");
    free(p.zip);
}
END_TEST

START_TEST(test_items_filter_and_bad_records)
{
    /* A changed serial record under --items nonserial does not pull its key
     * in; a record with an unreadable date marks its key, so the policy sees it. */
    ohp_record recs[] = {
        row("MIX", 0, NULL, "3", D1),
        row("MIX", 1, "S1", "1", D3),
        row("BAD", 0, NULL, "2", D1),
        row("BAD", 0, NULL, "1", "yesterday"),
    };
    pub p = publish(recs, 4, 0, tu_date("2026/01/02"), tu_date("2026/01/04"), 2,
                    OHP_ITEMS_NONSERIAL, 0);
    ck_assert_int_eq(p.rc, OHP_ERECORD);
    ck_assert_uint_eq(p.sum.error_ordinal, 4);
    ck_assert_ptr_nonnull(strstr(p.err, "record 4"));
    ck_assert_uint_eq(p.sum.changed_keys, 1);
    /* The first BAD record (unchanged date, same key) was published before it. */
    ck_assert_uint_eq(p.sum.records_published, 1);
}
END_TEST

START_TEST(test_changed_keys_limit)
{
    ohp_record recs[] = {
        row("A", 0, NULL, "1", D3), row("B", 0, NULL, "1", D3), row("A", 0, NULL, "2", D3),
        row("C", 0, NULL, "1", D1), row("D", 0, NULL, "1", D3),
    };
    int64_t w = tu_date("2026/01/02");
    /* Three changed keys: a limit of 3 passes, 2 fails before anything is written. */
    pub ok = publish(recs, 5, 0, w, tu_date("2026/01/04"), 2, OHP_ITEMS_BOTH, 3);
    ck_assert_msg(ok.rc == OHP_OK, "%s", ok.err);
    ck_assert_uint_eq(ok.sum.changed_keys, 3);
    free(ok.zip);
    pub bad = publish(recs, 5, 0, w, tu_date("2026/01/04"), 2, OHP_ITEMS_BOTH, 2);
    ck_assert_int_eq(bad.rc, OHP_ELIMIT);
    ck_assert_int_eq(bad.sum.status, OHP_STATUS_FAILED);
    ck_assert_ptr_nonnull(strstr(bad.err, "more than 2 balance keys changed since 2026/01/02"));
    ck_assert_ptr_nonnull(strstr(bad.err, "max_changed_keys"));
    ck_assert_int_eq(bad.opens[OHP_PASS_KEYS], 0); /* nothing opened for writing */
    ck_assert_uint_eq(bad.sum.zip_bytes, 0);
}
END_TEST

static int no_open_next(void *ud, ohp_record *rec)
{
    (void)ud;
    (void)rec;
    return 0;
}

START_TEST(test_source_without_open_refused_incremental)
{
    ohp_job *job;
    ck_assert_int_eq(ohp_job_new(&job, NULL), OHP_OK);
    ohp_job_set_source(job, NULL, no_open_next, NULL, NULL);
    ohp_memsink *ms;
    ck_assert_int_eq(ohp_memsink_new(&ms, NULL), OHP_OK);
    ohp_job_set_memsink(job, ms);
    ohp_params p = OHP_PARAMS_INIT;
    p.organization_code = "M1";
    p.user = "TEST";
    p.caller_authorized = 1;
    p.publish_from = tu_date("2026/01/01");
    ck_assert_int_eq(ohp_job_run(job, &p), OHP_EINVAL);
    ck_assert_int_eq(ohp_job_summary(job)->status, OHP_STATUS_REFUSED);
    ck_assert_ptr_nonnull(strstr(ohp_job_errmsg(job), "reads the source twice"));
    p.full_publish = 1; /* a full run reads it once: fine */
    ck_assert_int_eq(ohp_job_run(job, &p), OHP_OK);
    ohp_memsink_free(ms);
    ohp_job_free(job);
}
END_TEST

START_TEST(test_params_version_1_caller)
{
    /* A caller built against 1.0 passes a version-1 struct: the fields
     * after it are never read (filled with garbage here). */
    ohp_record recs[] = {row("A", 0, NULL, "1", D3)};
    unsigned char raw[sizeof(ohp_params) + 16];
    memset(raw, 0xA5, sizeof raw);
    ohp_params *p = (ohp_params *)(void *)raw;
    ck_assert_int_eq(ohp_params_init(p, 1), OHP_OK);
    ck_assert_uint_eq(p->max_changed_keys, 0xA5A5A5A5A5A5A5A5ull); /* untouched */
    p->organization_code = "M1";
    p->user = "TEST";
    p->caller_authorized = 1;
    p->publish_from = tu_date("2026/01/02");
    /* Past the version-1 struct: not the caller's to set, never read (a
     * limit of 1 would fail this run of two changed keys). */
    p->max_changed_keys = 1;
    ohp_record more[] = {recs[0], row("B", 0, NULL, "1", D3)};
    ohp_job *job;
    ck_assert_int_eq(ohp_job_new(&job, NULL), OHP_OK);
    tu_source src;
    memset(&src, 0, sizeof src);
    src.records = more;
    src.count = 2;
    tu_use_source(job, &src);
    ohp_memsink *ms;
    ck_assert_int_eq(ohp_memsink_new(&ms, NULL), OHP_OK);
    ohp_job_set_memsink(job, ms);
    ck_assert_msg(ohp_job_run(job, p) == OHP_OK, "%s", ohp_job_errmsg(job));
    ck_assert_uint_eq(ohp_job_summary(job)->changed_keys, 2); /* the default limit applied */
    ohp_memsink_free(ms);
    ohp_job_free(job);
}
END_TEST

/* ---- random days of changes ---- */

#define MAXROWS 600
#define NITEMS 12

typedef struct grow {
    char org[4], item[8], sub[8], loc[8], lot[8], owner[8], serial[12], qty[12], date[24];
    int serial_controlled, consigned, has_lot;
} grow;

typedef struct world {
    grow rows[MAXROWS];
    size_t n;
    uint64_t rng;
    int next_serial;
} world;

static uint32_t rnd(world *w, uint32_t n)
{
    w->rng = w->rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(w->rng >> 33) % n;
}

static void set_date(grow *g, int day)
{
    snprintf(g->date, sizeof g->date, "2026/03/%02d 12:00:00", day);
}

/* A row of a random key; serial items one row per serial. */
static void add_row(world *w, int day)
{
    if (w->n >= MAXROWS)
        return;
    grow *g = &w->rows[w->n++];
    memset(g, 0, sizeof *g);
    int it = (int)rnd(w, NITEMS);
    snprintf(g->org, sizeof g->org, "%s", rnd(w, 8) == 0 ? "M2" : "M1");
    snprintf(g->item, sizeof g->item, "IT%02d", it);
    snprintf(g->sub, sizeof g->sub, "S%u", rnd(w, 4) == 0); /* few keys: many rows each */
    snprintf(g->loc, sizeof g->loc, "L%u", rnd(w, 2));
    g->serial_controlled = it % 3 == 0;
    g->has_lot = it % 4 == 1;
    if (g->has_lot)
        snprintf(g->lot, sizeof g->lot, "LOT%u", rnd(w, 3));
    g->consigned = it % 5 == 2;
    if (g->consigned)
        snprintf(g->owner, sizeof g->owner, "%u", 100 + rnd(w, 2));
    if (g->serial_controlled) {
        snprintf(g->serial, sizeof g->serial, "SN%05d", w->next_serial++);
        snprintf(g->qty, sizeof g->qty, "1");
    } else {
        snprintf(g->qty, sizeof g->qty, "%u", 1 + rnd(w, 20));
    }
    set_date(g, day);
}

/*
 * A row gone: its key gets a zero row with a fresh date (a tombstone), as
 * the source contract asks, so that the key is published whole.
 */
static void remove_row(world *w, size_t i, int day)
{
    grow gone = w->rows[i];
    w->rows[i] = w->rows[--w->n];
    grow *t = &w->rows[w->n++];
    *t = gone;
    t->serial[0] = '\0';
    snprintf(t->qty, sizeof t->qty, "0");
    set_date(t, day);
}

static void mutate(world *w, int day)
{
    int changes = 1 + (int)rnd(w, 12);
    for (int c = 0; c < changes; c++) {
        uint32_t what = rnd(w, 10);
        if (w->n == 0 || what < 3) {
            add_row(w, day);
        } else if (what < 5) {
            remove_row(w, rnd(w, (uint32_t)w->n), day);
        } else if (what < 8) {
            grow *g = &w->rows[rnd(w, (uint32_t)w->n)];
            if (!g->serial_controlled) {
                snprintf(g->qty, sizeof g->qty, "%u", rnd(w, 30));
                set_date(g, day);
            }
        } else if (what < 9 && w->n < MAXROWS) {
            /* a repeated detail row: the same values again */
            grow *g = &w->rows[rnd(w, (uint32_t)w->n)];
            if (!g->serial_controlled) {
                w->rows[w->n] = *g;
                set_date(&w->rows[w->n], day);
                w->n++;
            }
        } else {
            /* a serial moves to another locator: gone here, new there */
            size_t i = rnd(w, (uint32_t)w->n);
            grow *g = &w->rows[i];
            if (g->serial_controlled && g->serial[0] && w->n < MAXROWS) {
                grow moved = *g;
                snprintf(moved.loc, sizeof moved.loc, "%s", strcmp(g->loc, "L0") ? "L0" : "L1");
                set_date(&moved, day);
                remove_row(w, i, day);
                if (w->n < MAXROWS)
                    w->rows[w->n++] = moved;
            }
        }
    }
    /* Shuffle: the source gives no order. */
    for (size_t i = w->n; i > 1; i--) {
        size_t j = rnd(w, (uint32_t)i);
        grow tmp = w->rows[i - 1];
        w->rows[i - 1] = w->rows[j];
        w->rows[j] = tmp;
    }
}

static size_t records_of(const world *w, ohp_record *out)
{
    for (size_t i = 0; i < w->n; i++) {
        const grow *g = &w->rows[i];
        ohp_record r;
        memset(&r, 0, sizeof r);
        r.organization_code = g->org;
        r.item_number = g->item;
        r.subinventory_code = g->sub;
        r.locator_name = g->loc;
        r.lot_number = g->has_lot ? g->lot : NULL;
        r.serial_controlled = g->serial_controlled;
        r.serial_list = g->serial[0] ? g->serial : NULL;
        r.primary_quantity = g->qty;
        r.primary_uom_code = "EA";
        r.consigned = g->consigned;
        r.owning_party_id = g->consigned ? g->owner : NULL;
        r.last_update_date = g->date;
        out[i] = r;
    }
    return w->n;
}

/*
 * An independent fold: the state is a list of (key, serial, quantity); a
 * FULL snapshot replaces all of it, an INCREMENTAL one replaces each key it
 * mentions.  Then the per-key sums and serial sets are printed sorted.
 */
typedef struct fline {
    char key[96], serial[16];
    long qty;
} fline;

typedef struct fstate {
    fline *l;
    size_t n, cap;
} fstate;

static void fpush(fstate *s, const fline *l)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        s->l = realloc(s->l, s->cap * sizeof *s->l);
        ck_assert_ptr_nonnull(s->l);
    }
    s->l[s->n++] = *l;
}

static void read_lines(const pub *p, fstate *out)
{
    ohp_snapshot_reader *r;
    ck_assert_int_eq(ohp_snapshot_reader_open_memory(&r, p->zip, p->len, NULL), OHP_OK);
    const ohp_snapshot_record *rec;
    int got;
    while ((got = ohp_snapshot_reader_next(r, &rec)) == 1) {
        fline l;
        memset(&l, 0, sizeof l);
        snprintf(l.key, sizeof l.key, "%s/%s/%s/%s/%s/%s/%s", rec->organization_code,
                 rec->item_number, rec->revision, rec->subinventory_code,
                 rec->locator_name[0] ? rec->locator_name : rec->locator_id, rec->lot_number,
                 rec->owning_party_id);
        snprintf(l.serial, sizeof l.serial, "%s", rec->serial_number);
        l.qty = strtol(rec->primary_quantity, NULL, 10);
        ck_assert_int_eq(rec->mode, p->sum.mode);
        fpush(out, &l);
    }
    ck_assert_msg(got == 0, "%s", ohp_snapshot_reader_errmsg(r));
    ohp_snapshot_reader_free(r);
}

static void fold(fstate *state, const pub *p)
{
    fstate snap = {0};
    read_lines(p, &snap);
    if (p->sum.mode == OHP_MODE_FULL) {
        state->n = 0;
        for (size_t i = 0; i < snap.n; i++)
            fpush(state, &snap.l[i]);
    } else {
        size_t keep = 0;
        for (size_t i = 0; i < state->n; i++) {
            bool mentioned = false;
            for (size_t j = 0; j < snap.n && !mentioned; j++)
                mentioned = strcmp(state->l[i].key, snap.l[j].key) == 0;
            if (!mentioned)
                state->l[keep++] = state->l[i];
        }
        state->n = keep;
        for (size_t i = 0; i < snap.n; i++)
            fpush(state, &snap.l[i]);
    }
    free(snap.l);
}

static int cmp_text(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "key=sum" for non-zero sums and "key#serial" for serials, sorted, joined. */
static char *describe(const fstate *s)
{
    char **items = calloc(2 * s->n + 1, sizeof *items);
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->l[i].serial[0]) {
            items[n] = malloc(128);
            snprintf(items[n++], 128, "%s#%s", s->l[i].key, s->l[i].serial);
        }
        bool first = true;
        long sum = 0;
        for (size_t j = 0; j < s->n; j++) {
            if (strcmp(s->l[j].key, s->l[i].key) == 0) {
                if (j < i)
                    first = false;
                sum += s->l[j].qty;
            }
        }
        if (first && sum != 0) {
            items[n] = malloc(128);
            snprintf(items[n++], 128, "%s=%ld", s->l[i].key, sum);
        }
    }
    qsort(items, n, sizeof *items, cmp_text);
    size_t total = 1;
    for (size_t i = 0; i < n; i++)
        total += strlen(items[i]) + 1;
    char *out = malloc(total);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        strcat(out, items[i]);
        strcat(out, ";");
        free(items[i]);
    }
    free(items);
    return out;
}

static void random_chain(uint64_t seed, int items)
{
    world *w = calloc(1, sizeof *w);
    w->rng = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int i = 0; i < 120; i++)
        add_row(w, 1);
    ohp_record *recs = calloc(MAXROWS, sizeof *recs);
    enum { DAYS = 10 };
    pub snaps[DAYS];
    pub *chain[DAYS];
    fstate state = {0};
    int64_t prev = OHP_TIME_NONE;
    for (int day = 1; day <= DAYS; day++) {
        if (day > 1)
            mutate(w, day);
        size_t n = records_of(w, recs);
        char when[24];
        snprintf(when, sizeof when, "2026/03/%02d 23:00:00", day);
        int64_t snap = tu_date(when);
        snaps[day - 1] = publish(recs, n, day == 1, prev, snap, (uint64_t)day, items, 0);
        ck_assert_msg(snaps[day - 1].rc == OHP_OK, "seed %" PRIu64 " day %d: %s", seed, day,
                      snaps[day - 1].err);
        chain[day - 1] = &snaps[day - 1];
        fold(&state, &snaps[day - 1]);
        prev = snap;

        /* The truth: a full publish of today's balances. */
        pub truth = publish(recs, n, 1, OHP_TIME_NONE, snap, 100, items, 0);
        ck_assert_int_eq(truth.rc, OHP_OK);
        fstate t = {0};
        fold(&t, &truth);
        char *a = describe(&state), *b = describe(&t);
        ck_assert_msg(strcmp(a, b) == 0, "seed %" PRIu64 " items %d day %d:\nchain %s\ntruth %s",
                      seed, items, day, a, b);
        free(a);
        free(b);
        free(t.l);
        (void)chain;
        if (getenv("WK_DEBUG"))
            fprintf(stderr,
                    "seed %" PRIu64 " items %d day %d: %zu rows, %" PRIu64
                    " lines published, %" PRIu64 " changed keys, state %zu lines\n",
                    seed, items, day, n, snaps[day - 1].sum.lines_written,
                    snaps[day - 1].sum.changed_keys, state.n);
        free(truth.zip);
    }
    for (int d = 0; d < DAYS; d++)
        free(snaps[d].zip);
    free(state.l);
    free(recs);
    free(w);
}

START_TEST(test_random_chains)
{
    for (uint64_t seed = 1; seed <= 40; seed++)
        random_chain(seed, OHP_ITEMS_BOTH);
}
END_TEST

START_TEST(test_random_chains_by_item_class)
{
    for (uint64_t seed = 100; seed <= 115; seed++) {
        random_chain(seed, OHP_ITEMS_SERIAL);
        random_chain(seed, OHP_ITEMS_NONSERIAL);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("whole_keys");
    TCase *tc = tcase_create("rule");
    tcase_add_test(tc, test_reproduction);
    tcase_add_test(tc, test_unchanged_keys_left_out_whole);
    tcase_add_test(tc, test_key_fields);
    tcase_add_test(tc, test_items_filter_and_bad_records);
    tcase_add_test(tc, test_changed_keys_limit);
    tcase_add_test(tc, test_source_without_open_refused_incremental);
    tcase_add_test(tc, test_params_version_1_caller);
    suite_add_tcase(s, tc);
    tc = tcase_create("random");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_random_chains);
    tcase_add_test(tc, test_random_chains_by_item_class);
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
