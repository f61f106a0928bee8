/*
 * Loading snapshots: a single FULL snapshot goes straight into the comparison;
 * a chain (FULL, then INCREMENTAL ones) is folded to the state it ends in.
 */
#include "reconcile_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- loading snapshots ---- */

typedef struct snap {
    ohp_snapshot_reader *r;
    ohp_snapshot_info info;
    int items;  /* what the snapshot covers (its manifest's items; both without one) */
    size_t pos; /* position given by the caller */
} snap;

static int snap_cmp(const void *a, const void *b)
{
    const snap *x = a, *y = b;
    if (x->info.snapshot_date != y->info.snapshot_date)
        return x->info.snapshot_date < y->info.snapshot_date ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int reader_error(ohp_reconcile *rc, int side, const snap *s, int code)
{
    const char *name = s->info.entry_name && s->info.entry_name[0] ? s->info.entry_name : NULL;
    if (name)
        return rc_fail(rc, code, "%s, snapshot %zu (%s): %s", rc_side_name(side), s->pos + 1, name,
                       ohp_snapshot_reader_errmsg(s->r));
    return rc_fail(rc, code, "%s, snapshot %zu: %s", rc_side_name(side), s->pos + 1,
                   ohp_snapshot_reader_errmsg(s->r));
}

static uint64_t *lines_of(ohp_reconcile *rc, int side)
{
    return side == OHP_SIDE_ERP ? &rc->sum.erp_lines : &rc->sum.external_lines;
}

/* A single FULL snapshot: straight into the comparison. */
static int load_direct(ohp_reconcile *rc, int side, snap *s)
{
    const ohp_snapshot_record *rec;
    int got;
    const char *kf[NKEY];
    /* the table grows with the keys read, never with a size the archive declares */
    rc->expect_keys = rc->cmp.n;
    if (!rc->merging)
        rc_tab_reserve(&rc->cmp, &rc->alloc, rc->expect_keys);
    rc_stream_begin(rc);
    while ((got = ohp_snapshot_reader_next(s->r, &rec)) == 1) {
        (*lines_of(rc, side))++;
        rc_record_key(rec, kf);
        uint16_t u = 0;
        qin q;
        int r;
        if (rc_qin_parse(rec->primary_quantity, &q) != OHP_OK) /* the reader checked it */
            return rc_fail(rc, OHP_EPARSE, "%s: quantity '%.40s' is not an exact decimal",
                           rc_side_name(side), rec->primary_quantity);
        if ((r = rc_uom_index(rc, rec->primary_uom_code, &u)) != OHP_OK ||
            (r = rc_cmp_key(rc, kf, u)) != OHP_OK ||
            (r = rc_push(rc, side, &q, u, rec->serial_number, strlen(rec->serial_number))) !=
                OHP_OK)
            return r;
    }
    return got < 0 ? reader_error(rc, side, s, got) : rc_flush(rc);
}

static void fold_reset(ohp_reconcile *rc, entry *e)
{
    rc_qty_clear(&rc->big, &e->q[0], &rc->alloc);
    e->serials = 0;
    e->flags = 0;
    e->uom = 0;
}

/* A chain being folded: one entry per key (without its unit), and the entries' serial nodes. */
typedef struct fold {
    tab fm;
    pool nodes;
} fold;

/* Add a node (a serial number, or a line in another unit than the key's first) to e. */
static int add_node(ohp_reconcile *rc, fold *f, entry *e, uint16_t u, const char *t, bool is_serial)
{
    size_t sl = strlen(t);
    snode *sn;
    uint32_t nref;
    int r = rc_pool_alloc(&f->nodes, &rc->alloc, sizeof *sn + sl + 1, (void **)&sn, &nref);
    if (r != OHP_OK)
        return r == OHP_ENOMEM ? rc_fail(rc, r, "out of memory")
                               : rc_fail(rc, r, "too many serials");
    sn->uom = u;
    sn->serial = is_serial;
    memcpy(sn->s, t, sl + 1);
    sn->next = e->serials;
    e->serials = nref + 1;
    return OHP_OK;
}

/* One line of snapshot gen (a FULL one when full) into the folded state. */
static int fold_line(ohp_reconcile *rc, fold *f, const ohp_snapshot_record *rec, bool full,
                     uint32_t gen)
{
    const char *kf[NKEY];
    rc_record_key(rec, kf);
    uint32_t ref, klen;
    size_t prefix;
    bool added;
    rc->scratch.len = 0;
    int r;
    if ((r = rc_key_append(&rc->scratch, &rc->alloc, kf, 0, NULL, &klen, &prefix, NULL)) !=
            OHP_OK ||
        (r = rc_tab_get(&f->fm, &rc->alloc, rc->scratch.data, klen, rc_hash(rc->scratch.data, klen),
                        &ref, &added)) != OHP_OK)
        return r == OHP_ENOMEM ? rc_fail(rc, r, "out of memory") : rc_fail(rc, r, "too many keys");
    entry *e = tab_at(&f->fm, ref);
    if (!full && e->gen != gen)
        fold_reset(rc, e); /* an incremental line replaces the key */
    e->gen = gen;
    ohp_decimal d;
    ohp_decimal_parse(rec->primary_quantity, &d);
    if (d.zero && rec->serial_number[0] == '\0')
        return OHP_OK; /* quantity 0: the key is gone (or stays empty) */
    uint16_t u = 0;
    if ((r = rc_uom_index(rc, rec->primary_uom_code, &u)) != OHP_OK)
        return r;
    if (e->uom == 0)
        e->uom = u;
    e->flags |= F_PRESENT;
    if (rec->serial_controlled)
        e->flags |= F_SERIAL_KEY;
    /* a line in another unit than the key's first is kept as it is */
    if (e->uom != u)
        r = add_node(rc, f, e, u, d.text, false);
    else if (rc_qty_add(&rc->big, &e->q[0], &d, &rc->alloc) != OHP_OK)
        r = rc_fail(rc, OHP_ENOMEM, "out of memory");
    if (r == OHP_OK && rec->serial_number[0] != '\0')
        r = add_node(rc, f, e, u, rec->serial_number, true);
    return r;
}

/* Snapshot gen of the chain (s) into the folded state: a FULL one replaces it all. */
static int fold_snapshot(ohp_reconcile *rc, int side, fold *f, snap *s, uint32_t gen)
{
    bool full = s->info.mode == OHP_MODE_FULL || (gen == 1 && s->info.mode < 0);
    if (full) {
        /* a FULL snapshot of one item class replaces the keys of that class only */
        tab_iter it = {0, 0};
        for (entry *e; (e = rc_tab_next(&f->fm, &it, NULL)) != NULL;)
            if (s->items == OHP_ITEMS_BOTH ||
                ((e->flags & F_SERIAL_KEY) != 0) == (s->items == OHP_ITEMS_SERIAL))
                fold_reset(rc, e);
    }
    const ohp_snapshot_record *rec;
    int got;
    while ((got = ohp_snapshot_reader_next(s->r, &rec)) == 1) {
        (*lines_of(rc, side))++;
        int r = fold_line(rc, f, rec, full, gen);
        if (r != OHP_OK)
            return r;
    }
    return got < 0 ? reader_error(rc, side, s, got) : OHP_OK;
}

/* One folded key into the comparison: its quantity, then its nodes in the snapshots' order. */
static int fold_entry_out(ohp_reconcile *rc, int side, fold *f, entry *e)
{
    const char *kf[NKEY];
    rc_split_key(e->key, kf);
    char t[OHP_ACC_BUFSIZE];
    qin q;
    rc_qty_text(&rc->big, &e->q[0], t);
    /* serial lines first reversed: restore the snapshot's order */
    uint32_t rev = 0;
    for (uint32_t x = e->serials; x != 0 && f->nodes.n > 0;) {
        snode *sn = pool_at(&f->nodes, x - 1);
        uint32_t nx = sn->next;
        sn->next = rev;
        rev = x;
        x = nx;
    }
    if (rc_qin_parse(t, &q) != OHP_OK) {
        q.small = false;
        q.sum = t; /* a sum past the parser's limits */
    }
    int r;
    if ((r = rc_cmp_key(rc, kf, e->uom)) != OHP_OK ||
        (r = rc_push(rc, side, &q, e->uom, NULL, 0)) != OHP_OK)
        return r;
    /* each unit is a key of its own in the comparison */
    uint16_t cur = e->uom;
    for (uint32_t x = rev; x != 0 && r == OHP_OK;) {
        const snode *sn = pool_at(&f->nodes, x - 1);
        if (sn->uom != cur && (r = rc_cmp_key(rc, kf, sn->uom)) != OHP_OK)
            break;
        cur = sn->uom;
        if (sn->serial) {
            r = rc_push(rc, side, NULL, cur, sn->s, strlen(sn->s));
        } else {
            rc_qin_parse(sn->s, &q); /* the reader checked it */
            r = rc_push(rc, side, &q, cur, NULL, 0);
        }
        x = sn->next;
    }
    return r;
}

/* A chain of n snapshots (in date order) folded, then its state into the comparison. */
static int load_fold(ohp_reconcile *rc, int side, snap *v, size_t n)
{
    fold f;
    memset(&f, 0, sizeof f);
    f.fm.hdr = offsetof(entry, key);
    int r = OHP_OK;
    for (size_t k = 0; k < n && r == OHP_OK; k++)
        r = fold_snapshot(rc, side, &f, &v[k], (uint32_t)k + 1);
    /* The folded state goes into the comparison. */
    rc_stream_begin(rc);
    tab_iter it = {0, 0};
    for (entry *e; r == OHP_OK && (e = rc_tab_next(&f.fm, &it, NULL)) != NULL;)
        if (e->flags & F_PRESENT)
            r = fold_entry_out(rc, side, &f, e);
    if (r == OHP_OK)
        r = rc_flush(rc);
    rc_tab_free(&f.fm, &rc->alloc);
    rc_pool_free(&f.nodes, &rc->alloc);
    return r;
}

int rc_load_snapshots(ohp_reconcile *rc, int side, ohp_snapshot_reader *const *readers, size_t n)
{
    snap *v = ohp_calloc(&rc->alloc, n, sizeof *v);
    if (v == NULL)
        return rc_fail(rc, OHP_ENOMEM, "out of memory");
    int r = OHP_OK;
    const char *sys = NULL, *org = NULL;
    for (size_t i = 0; i < n && r == OHP_OK; i++) {
        v[i].r = readers[i];
        v[i].pos = i;
        v[i].info.version = OHP_SNAPSHOT_INFO_VERSION;
        if (readers[i] == NULL) {
            r = rc_fail(rc, OHP_EINVAL, "%s, snapshot %zu: no reader", rc_side_name(side), i + 1);
            break;
        }
        int got = ohp_snapshot_reader_info(readers[i], &v[i].info);
        ohp_manifest m;
        memset(&m, 0, sizeof m);
        m.version = OHP_MANIFEST_STRUCT_VERSION;
        if (got == OHP_OK)
            got = ohp_snapshot_reader_manifest(readers[i], &m);
        if (got != OHP_OK) {
            r = reader_error(rc, side, &v[i], got);
            break;
        }
        v[i].items = m.present ? m.items : OHP_ITEMS_BOTH;
        const ohp_snapshot_info *in = &v[i].info;
        if (in->external_system_code[0]) {
            if (sys != NULL && strcmp(sys, in->external_system_code) != 0)
                r = rc_fail(rc, OHP_EINVAL,
                            "%s: snapshots of different external systems (%s and %s) cannot be "
                            "folded together",
                            rc_side_name(side), sys, in->external_system_code);
            sys = in->external_system_code;
        }
        if (in->organization_code[0]) {
            if (org != NULL && strcmp(org, in->organization_code) != 0)
                r = rc_fail(rc, OHP_EINVAL,
                            "%s: snapshots of different organizations (%s and %s) cannot be "
                            "folded together",
                            rc_side_name(side), org, in->organization_code);
            org = in->organization_code;
        }
        if (n > 1 && in->snapshot_date == OHP_TIME_NONE && r == OHP_OK)
            r = rc_fail(rc, OHP_EINVAL,
                        "%s, snapshot %zu: no data lines and no entry name to date it, cannot "
                        "place it in a chain",
                        rc_side_name(side), i + 1);
    }
    if (r == OHP_OK) {
        qsort(v, n, sizeof *v, snap_cmp);
        for (size_t i = 1; i < n && r == OHP_OK; i++)
            if (v[i].info.snapshot_date == v[i - 1].info.snapshot_date)
                r = rc_fail(rc, OHP_EINVAL, "%s: snapshots %zu and %zu have the same snapshot date",
                            rc_side_name(side), v[i - 1].pos + 1, v[i].pos + 1);
        if (r == OHP_OK && v[0].info.mode == OHP_MODE_INCREMENTAL) {
            char d[OHP_DATE_BUFSIZE] = "";
            ohp_date_format(v[0].info.snapshot_date, 0, d);
            r = rc_fail(rc, OHP_EINVAL,
                        "%s: snapshot %zu (INCREMENTAL of %s) has no FULL snapshot before it; a "
                        "chain starts with a FULL snapshot",
                        rc_side_name(side), v[0].pos + 1, d);
        }
    }
    if (r == OHP_OK && side == OHP_SIDE_ERP && org != NULL &&
        (rc->erp_org = ohp_strdup(&rc->alloc, org)) == NULL)
        r = rc_fail(rc, OHP_ENOMEM, "out of memory");
    if (r == OHP_OK) {
        if (n == 1)
            r = load_direct(rc, side, &v[0]);
        else
            r = load_fold(rc, side, v, n);
    }
    ohp_free(&rc->alloc, v);
    if (r != OHP_OK) {
        rc->failed = true;
        rc->npending = 0;
    }
    return r;
}
