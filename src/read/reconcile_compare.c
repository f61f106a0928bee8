/*
 * Comparing: the keys in order, the discrepancy classes of each key and
 * serial number, tolerance, the summary and the totals per unit.
 */
#include "reconcile_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- comparing ---- */

/* Merge the ordered runs src[lo, mid) and src[mid, hi) into dst[lo, hi). */
static void merge_refs(const tab *t, const uint32_t *src, uint32_t *dst, size_t lo, size_t mid,
                       size_t hi)
{
    size_t i = lo, j = mid, o = lo;
    while (i < mid && j < hi)
        dst[o++] = key_cmp(tab_at(t, src[j]), tab_at(t, src[i])) < 0 ? src[j++] : src[i++];
    while (i < mid)
        dst[o++] = src[i++];
    while (j < hi)
        dst[o++] = src[j++];
}

/* Order refs v[0, n) by key: a natural merge sort through tmp (n entries). */
static void merge_sort_refs(const tab *t, uint32_t *v, uint32_t *tmp, size_t n)
{
    uint32_t *src = v, *dst = tmp;
    for (;;) {
        size_t lo = 0, merged = 0;
        while (lo < n) {
            size_t mid = lo + 1;
            while (mid < n && key_cmp(tab_at(t, src[mid - 1]), tab_at(t, src[mid])) <= 0)
                mid++;
            size_t hi = mid < n ? mid + 1 : n;
            while (hi < n && key_cmp(tab_at(t, src[hi - 1]), tab_at(t, src[hi])) <= 0)
                hi++;
            merge_refs(t, src, dst, lo, mid, hi);
            merged++;
            lo = hi;
        }
        uint32_t *x = src;
        src = dst;
        dst = x;
        if (merged <= 1)
            break;
    }
    if (src != v)
        memcpy(v, src, n * sizeof *v);
}

/* A key's 8 bytes from offset skip, big-endian, zero-padded. */
static uint64_t key_prefix(const entry *e, size_t skip)
{
    unsigned char b[8] = {0};
    if (e->klen > skip) {
        size_t n = e->klen - skip;
        memcpy(b, e->key + skip, n < 8 ? n : 8);
    }
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return v;
}

typedef struct sortkey {
    uint64_t prefix;
    uint64_t ref;
} sortkey;

/* Groups of at most this many references that tie on 8 bytes are merge sorted. */
#define SMALL_GROUP 48

/*
 * LSD radix sort of k[0, n) on its 8-byte prefixes, through tmp; returns the
 * array that holds the result (k or tmp).  A byte that is the same in every
 * prefix needs no pass.
 */
static sortkey *radix8(sortkey *k, sortkey *tmp, size_t n)
{
    size_t count[8][256];
    memset(count, 0, sizeof count);
    for (size_t i = 0; i < n; i++)
        for (int d = 0; d < 8; d++)
            count[d][(k[i].prefix >> (8 * d)) & 0xff]++;
    sortkey *src = k, *dst = tmp;
    for (int d = 0; d < 8; d++) {
        size_t pos[256], sum = 0;
        bool one = false;
        for (int c = 0; c < 256; c++) {
            one = one || count[d][c] == n;
            pos[c] = sum;
            sum += count[d][c];
        }
        if (one)
            continue;
        for (size_t i = 0; i < n; i++)
            dst[pos[(src[i].prefix >> (8 * d)) & 0xff]++] = src[i];
        sortkey *x = src;
        src = dst;
        dst = x;
    }
    return src;
}

/*
 * Order v[0, n), whose keys all share their first skip bytes, by key: the 8
 * bytes after skip are radix sorted, then each run that ties on them is
 * ordered by the next 8 bytes the same way, down to the end of its longest
 * key, and small runs by whole keys.  Keys of one unit of one balance share
 * long prefixes (organization, item, subinventory, ...), so the runs the
 * first 8 bytes leave can be thousands long.  k and tmp have room for n.
 */
static void sort_group(const tab *t, uint32_t *v, size_t n, size_t skip, sortkey *k, sortkey *tmp)
{
    size_t longest = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 16 < n)
            __builtin_prefetch((const char *)tab_at(t, v[i + 16]) + offsetof(entry, key) + skip);
        const entry *e = tab_at(t, v[i]);
        k[i].prefix = key_prefix(e, skip);
        k[i].ref = v[i];
        if (e->klen > longest)
            longest = e->klen;
    }
    sortkey *src = radix8(k, tmp, n);
    sortkey *other = src == k ? tmp : k;
    for (size_t i = 0; i < n; i++)
        v[i] = (uint32_t)src[i].ref;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && src[j].prefix == src[i].prefix)
            j++;
        if (j - i > SMALL_GROUP && skip + 8 < longest)
            sort_group(t, v + i, j - i, skip + 8, other + i, src + i);
        else if (j - i > 1)
            merge_sort_refs(t, v + i, (uint32_t *)(other + i), j - i);
        i = j;
    }
}

/*
 * Order the entry references v[0, n) by key.  Keys given in key order
 * (snapshots are usually written item by item) cost one sequential pass.
 * Otherwise keys are radix sorted 8 bytes at a time from the prefix all
 * keys share (sort_group), so that most keys are placed without comparing
 * whole keys.  spare (spare_size bytes, may be NULL) is memory the caller
 * no longer needs: already mapped, it holds the first of the two arrays the
 * radix sort takes when it is large enough.
 */
static int sort_refs(const tab *t, uint32_t *v, size_t n, bool unordered, size_t lcp, void *spare,
                     size_t spare_size, const ohp_alloc *a)
{
    if (!unordered || n < 2)
        return OHP_OK;
    if (n > SIZE_MAX / (2 * sizeof(sortkey)))
        return OHP_ENOMEM;
    bool use_spare = spare != NULL && spare_size / sizeof(sortkey) >= n;
    sortkey *mem = ohp_malloc(a, (use_spare ? 1 : 2) * n * sizeof *mem);
    if (mem == NULL)
        return OHP_ENOMEM;
    sortkey *k = use_spare ? spare : mem, *tmp = use_spare ? mem : mem + n;
    sort_group(t, v, n, lcp, k, tmp);
    ohp_free(a, mem);
    return OHP_OK;
}

static int sd_cmp(const void *a, const void *b)
{
    const serial_disc *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(x->key, y->key, n);
    if (c)
        return c;
    if (x->klen != y->klen)
        return x->klen < y->klen ? -1 : 1;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    return x->side < y->side ? -1 : x->side > y->side;
}

static void fill_key(ohp_discrepancy *d, const entry *e)
{
    const char *f[NKEY];
    rc_split_key(e->key, f);
    d->organization_code = f[KF_ORG];
    d->item_number = f[KF_ITEM];
    d->revision = f[KF_REV];
    d->subinventory_code = f[KF_SUB];
    d->locator = f[KF_LOC];
    d->lot_number = f[KF_LOT];
    d->owning_party_id = f[KF_OWNER];
}

static void disc_init(ohp_discrepancy *d, int kind)
{
    memset(d, 0, sizeof *d);
    d->version = OHP_DISCREPANCY_VERSION;
    d->kind = kind;
    d->organization_code = d->item_number = d->revision = d->subinventory_code = d->locator =
        d->lot_number = d->owning_party_id = "";
    d->erp_quantity = d->erp_uom_code = d->external_quantity = d->external_uom_code =
        d->difference = d->serial_number = "";
    d->external_revision = d->external_subinventory_code = d->external_locator =
        d->external_lot_number = d->external_owning_party_id = "";
}

static uint64_t *class_counter(ohp_reconcile_summary *s, int kind)
{
    switch (kind) {
    case OHP_DISC_QUANTITY:
        return &s->quantity_mismatch;
    case OHP_DISC_MISSING_EXTERNAL:
        return &s->missing_external;
    case OHP_DISC_MISSING_ERP:
        return &s->missing_erp;
    case OHP_DISC_UOM:
        return &s->uom_mismatch;
    case OHP_DISC_SERIAL_MISSING_EXTERNAL:
        return &s->serial_missing_external;
    case OHP_DISC_SERIAL_MISSING_ERP:
        return &s->serial_missing_erp;
    case OHP_DISC_SERIAL_MOVED:
        return &s->serial_moved;
    default:
        return &s->serial_duplicate;
    }
}

static int emit(ohp_reconcile *rc, const ohp_discrepancy *d, ohp_discrepancy_fn fn, void *ud)
{
    (*class_counter(&rc->sum, d->kind))++;
    rc->sum.discrepancies++;
    return fn ? fn(ud, d) : 0;
}

/* Quantity of side s net of moved serials, as text. */
static void net_text(const ohp_reconcile *rc, const entry *e, int s, char out[OHP_ACC_BUFSIZE])
{
    rc_qty_text(&rc->big, &e->q[s], out);
    if (s == OHP_SIDE_ERP && e->moved) {
        char m[24];
        snprintf(m, sizeof m, "%lu", (unsigned long)(e->moved & 0xffffu));
        char t[OHP_ACC_BUFSIZE];
        ohp_dec_sub_text(out, m, t);
        memcpy(out, t, strlen(t) + 1);
    } else if (s == OHP_SIDE_EXTERNAL && (e->moved >> 16)) {
        char m[24];
        snprintf(m, sizeof m, "%lu", (unsigned long)(e->moved >> 16));
        char t[OHP_ACC_BUFSIZE];
        ohp_dec_sub_text(out, m, t);
        memcpy(out, t, strlen(t) + 1);
    }
}

static bool within_tolerance(const ohp_reconcile *rc, const char *diff, const char *erp)
{
    const char *ad = diff[0] == '-' ? diff + 1 : diff;
    if (ohp_dec_cmp_nonneg(ad, rc->tol_abs) <= 0)
        return true;
    if (strcmp(rc->tol_rel, "0") == 0)
        return false;
    /* |d| * 100 <= rel * |erp| */
    char lhs[2 * OHP_ACC_BUFSIZE + 2], rhs[2 * OHP_ACC_BUFSIZE + 2];
    ohp_dec_mul_nonneg(ad, "100", lhs, sizeof lhs);
    ohp_dec_mul_nonneg(rc->tol_rel, erp[0] == '-' ? erp + 1 : erp, rhs, sizeof rhs);
    return ohp_dec_cmp_nonneg(lhs, rhs) <= 0;
}

/* Is the key (or serial identity) in another organization than the ERP side's? */
static bool other_org(const ohp_reconcile *rc, const char *key)
{
    return rc->erp_org != NULL && strcmp(key, rc->erp_org) != 0;
}

/* The comparison's flags, set per entry by compare_group (<< side). */
enum { F_RAW = 4, F_HAS = 16 };

/* Has side s moved serials counted at e? */
static bool has_moves(const entry *e, int s)
{
    return s == OHP_SIDE_ERP ? (e->moved & 0xffffu) != 0 : (e->moved >> 16) != 0;
}

/* One discrepancy of a key class: e0 gives the ERP side's quantity, e1 the external side's. */
static int emit_key(ohp_reconcile *rc, int kind, const entry *e0, const entry *e1, const char *diff,
                    ohp_discrepancy_fn fn, void *ud)
{
    char q0[OHP_ACC_BUFSIZE], q1[OHP_ACC_BUFSIZE];
    const entry *e = e0 ? e0 : e1;
    if (e == NULL)
        return 0; /* a discrepancy is of a key one side holds at least */
    ohp_discrepancy d;
    disc_init(&d, kind);
    fill_key(&d, e);
    if (e0 != NULL) {
        rc_qty_text(&rc->big, &e0->q[0], q0);
        d.erp_quantity = q0;
        d.erp_uom_code = rc->uoms[e0->uom - 1].code;
    }
    if (e1 != NULL) {
        rc_qty_text(&rc->big, &e1->q[1], q1);
        d.external_quantity = q1;
        d.external_uom_code = rc->uoms[e1->uom - 1].code;
    }
    if (diff != NULL)
        d.difference = diff;
    return emit(rc, &d, fn, ud);
}

/*
 * A key's units (refs[0, n)): each side's total per unit, and each entry's
 * flags: F_RAW << s when side s holds a quantity, F_HAS << s when it holds
 * one net of moved serials.  cnt: entries the ERP side has, the external
 * side has, both have; *compared: some side holds something.
 */
static int mark_group(ohp_reconcile *rc, const uint32_t *refs, size_t n, size_t cnt[3],
                      bool *compared)
{
    bool any[2] = {false, false};
    for (size_t i = 0; i < n; i++) {
        entry *e = tab_at(&rc->cmp, refs[i]);
        uom *u = &rc->uoms[e->uom - 1];
        e->flags &= (uint8_t)(F_PRESENT | F_PRESENT << 1);
        for (int s = 0; s < 2; s++) {
            if (!(e->flags & (F_PRESENT << s)))
                continue;
            u->counted = true;
            if (rc_qty_add_to(&rc->big, &u->total[s], &e->q[s], &rc->alloc) != OHP_OK)
                return rc_fail(rc, OHP_ENOMEM, "out of memory");
            bool raw = !rc_qty_zero(&rc->big, &e->q[s]), has = raw;
            if (has_moves(e, s)) {
                char t[OHP_ACC_BUFSIZE];
                net_text(rc, e, s, t);
                has = strcmp(t, "0") != 0;
            }
            if (raw)
                any[s] = true;
            *compared = *compared || raw || has;
            e->flags |= (uint8_t)((raw ? F_RAW << s : 0) | (has ? F_HAS << s : 0));
        }
        bool h0 = (e->flags & F_HAS) != 0, h1 = (e->flags & (F_HAS << 1)) != 0;
        cnt[0] += h0;
        cnt[1] += h1;
        cnt[2] += h0 && h1;
    }
    if (any[0])
        rc->sum.erp_keys++;
    if (any[1])
        rc->sum.external_keys++;
    return OHP_OK;
}

/* The sides hold the key in different units: the i-th unit of each side on one line. */
static int report_units(ohp_reconcile *rc, const uint32_t *refs, size_t n, ohp_discrepancy_fn fn,
                        void *ud)
{
    size_t i0 = 0, i1 = 0;
    for (;;) {
        while (i0 < n && !(((entry *)tab_at(&rc->cmp, refs[i0]))->flags & F_HAS))
            i0++;
        while (i1 < n && !(((entry *)tab_at(&rc->cmp, refs[i1]))->flags & (F_HAS << 1)))
            i1++;
        if (i0 == n && i1 == n)
            return 0;
        const entry *e0 = i0 < n ? tab_at(&rc->cmp, refs[i0++]) : NULL;
        const entry *e1 = i1 < n ? tab_at(&rc->cmp, refs[i1++]) : NULL;
        int r = emit_key(rc, OHP_DISC_UOM, e0, e1, NULL, fn, ud);
        if (r != 0)
            return r;
    }
}

/* Unit by unit: equal, within tolerance, or a discrepancy (counted in *equal and *tolerated). */
static int compare_units(ohp_reconcile *rc, const uint32_t *refs, size_t n, ohp_discrepancy_fn fn,
                         void *ud, size_t *equal, size_t *tolerated)
{
    for (size_t i = 0; i < n; i++) {
        entry *e = tab_at(&rc->cmp, refs[i]);
        bool h0 = (e->flags & F_HAS) != 0, h1 = (e->flags & (F_HAS << 1)) != 0;
        int r = 0;
        if (h0 && h1) {
            if (e->moved == 0 && e->q[0].scale != QBIG && e->q[1].scale != QBIG &&
                e->q[0].m == e->q[1].m && e->q[0].scale == e->q[1].scale) {
                (*equal)++; /* the common case, without formatting */
                continue;
            }
            char n0t[OHP_ACC_BUFSIZE], n1t[OHP_ACC_BUFSIZE], diff[OHP_ACC_BUFSIZE];
            net_text(rc, e, 0, n0t);
            net_text(rc, e, 1, n1t);
            if (strcmp(n0t, n1t) == 0) {
                (*equal)++;
                continue;
            }
            /* net of moved serials, as the class is decided */
            ohp_dec_sub_text(n1t, n0t, diff);
            if (within_tolerance(rc, diff, n0t))
                (*tolerated)++;
            else
                r = emit_key(rc, OHP_DISC_QUANTITY, e, e, diff, fn, ud);
        } else if (h0) {
            r = emit_key(rc, OHP_DISC_MISSING_EXTERNAL, e, NULL, NULL, fn, ud);
        } else if (h1) {
            r = emit_key(rc, OHP_DISC_MISSING_ERP, NULL, e, NULL, fn, ud);
        }
        if (r != 0)
            return r;
    }
    return 0;
}

/*
 * Compare one key: its entries refs[0, n), one per unit of measure, in
 * unit order.  A side has the key in a unit when its quantity there, net
 * of moved serials, is not zero; units are compared one by one, except
 * when both sides have the key in units that have nothing in common (a
 * unit of measure mismatch, nothing subtracted).
 */
static int compare_group(ohp_reconcile *rc, const uint32_t *refs, size_t n, ohp_discrepancy_fn fn,
                         void *ud)
{
    entry *first = tab_at(&rc->cmp, refs[0]);
    if (other_org(rc, first->key)) {
        rc->sum.external_other_organization++;
        return 0;
    }
    size_t cnt[3] = {0, 0, 0};
    bool compared = false;
    int r = mark_group(rc, refs, n, cnt, &compared);
    if (r != OHP_OK || !compared)
        return r;
    rc->sum.keys_compared++;
    uint64_t before = rc->sum.discrepancies;
    size_t equal = 0, tolerated = 0;
    if (cnt[0] > 0 && cnt[1] > 0 && cnt[2] == 0)
        r = report_units(rc, refs, n, fn, ud);
    else
        r = compare_units(rc, refs, n, fn, ud, &equal, &tolerated);
    if (r != 0)
        return r;
    if (rc->sum.discrepancies == before) {
        if (tolerated > 0)
            rc->sum.within_tolerance++;
        else if (equal > 0)
            rc->sum.matched++;
    }
    return 0;
}

static int emit_serial(ohp_reconcile *rc, const serial_disc *sd, ohp_discrepancy_fn fn, void *ud)
{
    const serial *s = tab_at(&rc->ser, sd->serial);
    ohp_discrepancy d;
    disc_init(&d, sd->kind);
    const char *sn = s->key;
    sn += strlen(sn) + 1;
    sn += strlen(sn) + 1;
    d.serial_number = sn;
    int side = sd->kind == OHP_DISC_SERIAL_MISSING_ERP ||
                       (sd->kind == OHP_DISC_SERIAL_DUPLICATE && sd->side == OHP_SIDE_EXTERNAL)
                   ? OHP_SIDE_EXTERNAL
                   : OHP_SIDE_ERP;
    const entry *e = tab_at(&rc->cmp, s->entry[side]);
    fill_key(&d, e);
    const char *u = rc->uoms[e->uom - 1].code;
    if (side == OHP_SIDE_ERP)
        d.erp_uom_code = u;
    else
        d.external_uom_code = u;
    if (sd->kind == OHP_DISC_SERIAL_DUPLICATE) {
        d.side = sd->side;
        d.count = s->count[sd->side];
    }
    if (sd->kind == OHP_DISC_SERIAL_MOVED) {
        const entry *x = tab_at(&rc->cmp, s->entry[OHP_SIDE_EXTERNAL]);
        const char *f[NKEY];
        rc_split_key(x->key, f);
        d.external_revision = f[KF_REV];
        d.external_subinventory_code = f[KF_SUB];
        d.external_locator = f[KF_LOC];
        d.external_lot_number = f[KF_LOT];
        d.external_owning_party_id = f[KF_OWNER];
        d.external_uom_code = rc->uoms[x->uom - 1].code;
    }
    return emit(rc, &d, fn, ud);
}

/* The units of measure by code, those of compared keys only, with their totals as text. */
static int finish_totals(ohp_reconcile *rc)
{
    size_t k = 0;
    for (size_t i = 0; i < rc->nuoms; i++) {
        if (rc->uoms[i].counted)
            rc->uoms[k++] = rc->uoms[i];
        else
            ohp_free(&rc->alloc, rc->uoms[i].code); /* only other organizations' lines */
    }
    rc->nuoms = k;
    for (size_t i = 1; i < rc->nuoms; i++) {
        for (size_t j = i; j > 0 && strcmp(rc->uoms[j - 1].code, rc->uoms[j].code) > 0; j--) {
            uom t = rc->uoms[j];
            rc->uoms[j] = rc->uoms[j - 1];
            rc->uoms[j - 1] = t;
        }
    }
    rc->uom_text = ohp_calloc(&rc->alloc, rc->nuoms * 2 + 1, sizeof *rc->uom_text);
    if (rc->uom_text == NULL)
        return OHP_ENOMEM;
    for (size_t i = 0; i < rc->nuoms; i++) {
        for (int s = 0; s < 2; s++) {
            char t[OHP_ACC_BUFSIZE];
            rc_qty_text(&rc->big, &rc->uoms[i].total[s], t);
            if ((rc->uom_text[i * 2 + (size_t)s] = ohp_strdup(&rc->alloc, t)) == NULL)
                return OHP_ENOMEM;
        }
    }
    rc->sum.uom_total_count = rc->nuoms;
    return OHP_OK;
}

/*
 * The external side has no column for key parts the ERP side was keyed
 * with: every entry goes into a new table under its shortened key (the
 * quantities of entries that now share a key are summed), and the serials
 * follow their entries.
 */
static int rekey(ohp_reconcile *rc)
{
    const ohp_alloc *a = &rc->alloc;
    tab nt;
    memset(&nt, 0, sizeof nt);
    nt.hdr = offsetof(entry, key);
    rc_tab_reserve(&nt, a, rc->cmp.n);
    tab_iter it = {0, 0};
    const char *kf[NKEY];
    int r = OHP_OK;
    for (entry *e; r == OHP_OK && (e = rc_tab_next(&rc->cmp, &it, NULL)) != NULL;) {
        rc_split_key(e->key, kf);
        const char *unit = kf[NKEY - 1] + strlen(kf[NKEY - 1]) + 1;
        uint32_t klen, nref;
        size_t prefix;
        bool added;
        rc->scratch.len = 0;
        if ((r = rc_key_append(&rc->scratch, a, kf, rc->ignore, unit, &klen, &prefix, NULL)) !=
                OHP_OK ||
            (r = rc_tab_get(&nt, a, rc->scratch.data, klen, rc_hash(rc->scratch.data, klen), &nref,
                            &added)) != OHP_OK)
            break;
        entry *x = tab_at(&nt, nref);
        if (added)
            x->uom = e->uom;
        x->flags |= e->flags;
        for (int s = 0; s < 2 && r == OHP_OK; s++)
            if ((e->flags & (F_PRESENT << s)) &&
                rc_qty_add_to(&rc->big, &x->q[s], &e->q[s], a) != OHP_OK)
                r = OHP_ENOMEM;
        e->rank = nref;
    }
    if (r != OHP_OK) {
        rc_tab_free(&nt, a);
        return r == OHP_ENOMEM ? rc_fail(rc, r, "out of memory") : rc_fail(rc, r, "too many keys");
    }
    it = (tab_iter){0, 0};
    for (serial *s; (s = rc_tab_next(&rc->ser, &it, NULL)) != NULL;)
        for (int side = 0; side < 2; side++)
            if (s->entry[side] != NONE)
                s->entry[side] = ((const entry *)tab_at(&rc->cmp, s->entry[side]))->rank;
    for (size_t i = 0; i < rc->nocc; i++)
        rc->occs[i].entry = ((const entry *)tab_at(&rc->cmp, rc->occs[i].entry))->rank;
    ohp_free(a, rc->cmp.slots);
    rc->cmp.slots = NULL;
    rc_tab_free(&rc->cmp, a);
    rc->cmp = nt;
    rc->unordered = true; /* the table is in no particular order now */
    rc->lcp = 0;
    rc->rekey = false;
    return OHP_OK;
}

static int occ_cmp(const void *a, const void *b)
{
    const occ *x = a, *y = b;
    if (x->serial != y->serial)
        return x->serial < y->serial ? -1 : 1;
    if (x->side != y->side)
        return x->side < y->side ? -1 : 1;
    return key_cmp_raw(x->key, x->klen, y->key, y->klen);
}

/* Where one side has a serial: its occurrences in key order, or its only entry. */
typedef struct olist {
    const occ *o; /* NULL: just one */
    size_t n;
    uint32_t one;
} olist;

static uint32_t ol_at(const olist *l, size_t i)
{
    return l->o ? l->o[i].entry : l->one;
}

/*
 * Compare where the two sides have a serial.  *same: at the same keys (and
 * units) the same number of times; *shared: some key holds it on both sides.
 */
static void serial_places(const ohp_reconcile *rc, const olist *l0, const olist *l1, bool *same,
                          bool *shared)
{
    *same = l0->n == l1->n;
    for (size_t i = 0; *same && i < l0->n; i++)
        *same = ol_at(l0, i) == ol_at(l1, i);
    *shared = false;
    size_t i = 0, j = 0;
    while (!*shared && i < l0->n && j < l1->n) {
        const entry *x = tab_at(&rc->cmp, ol_at(l0, i)), *y = tab_at(&rc->cmp, ol_at(l1, j));
        int c = key_cmp_raw(x->key, rc_key_nounit_len(x), y->key, rc_key_nounit_len(y));
        if (c == 0)
            *shared = true;
        else if (c < 0)
            i++;
        else
            j++;
    }
}

/* Distinct serial numbers per side, those of other organizations than the ERP side's left out. */
static void count_serials(ohp_reconcile *rc)
{
    if (rc->erp_org != NULL && rc->distinct[1] > 0) {
        /* serials of other organizations are not compared, nor counted */
        tab_iter it = {0, 0};
        rc->distinct[0] = rc->distinct[1] = 0;
        for (serial *s; (s = rc_tab_next(&rc->ser, &it, NULL)) != NULL;)
            for (int side = 0; side < 2; side++)
                rc->distinct[side] += s->count[side] && !other_org(rc, s->key);
    }
    rc->sum.erp_serials = rc->distinct[0];
    rc->sum.external_serials = rc->distinct[1];
}

/* The occurrences of serials repeated on a side, by serial, side and key. */
static void order_occurrences(ohp_reconcile *rc)
{
    for (size_t i = 0; i < rc->nocc; i++) {
        const entry *e = tab_at(&rc->cmp, rc->occs[i].entry);
        rc->occs[i].key = e->key;
        rc->occs[i].klen = e->klen;
    }
    if (rc->nocc > 1)
        qsort(rc->occs, rc->nocc, sizeof *rc->occs, occ_cmp);
}

/* The serial-number discrepancies of one serial s (reference ref) into add: how many. */
static size_t serial_discs(ohp_reconcile *rc, serial *s, uint32_t ref, const olist l[2],
                           serial_disc add[4])
{
    bool same, shared;
    serial_places(rc, &l[0], &l[1], &same, &shared);
    if (same)
        return 0; /* the same places on both sides, duplicates included */
    size_t k = 0;
    if (s->count[0] && !s->count[1])
        add[k++] = (serial_disc){.rank = s->entry[0],
                                 .serial = ref,
                                 .kind = OHP_DISC_SERIAL_MISSING_EXTERNAL,
                                 .side = 0};
    else if (!s->count[0] && s->count[1])
        add[k++] = (serial_disc){
            .rank = s->entry[1], .serial = ref, .kind = OHP_DISC_SERIAL_MISSING_ERP, .side = 1};
    else if (!shared) {
        add[k++] = (serial_disc){
            .rank = s->entry[0], .serial = ref, .kind = OHP_DISC_SERIAL_MOVED, .side = 0};
        entry *from = tab_at(&rc->cmp, s->entry[0]), *to = tab_at(&rc->cmp, s->entry[1]);
        if ((from->moved & 0xffffu) < 0xffffu)
            from->moved += 1;
        if ((to->moved >> 16) < 0xffffu)
            to->moved += 1u << 16;
    }
    for (int side = 0; side < 2; side++)
        if (s->count[side] > 1)
            add[k++] = (serial_disc){.rank = s->entry[side],
                                     .serial = ref,
                                     .kind = OHP_DISC_SERIAL_DUPLICATE,
                                     .side = (uint8_t)side};
    return k;
}

/*
 * The serial classes, when both sides carry serial numbers (of the ERP
 * side's organization): *sd (*nsd of them, the caller frees *sd), each
 * ranked at the entry of the key it is reported with.
 */
static int serial_classes(ohp_reconcile *rc, serial_disc **sd, size_t *nsd)
{
    size_t cap = 0, oc = 0;
    order_occurrences(rc);
    if (rc->distinct[0] == 0 || rc->distinct[1] == 0)
        return OHP_OK;
    tab_iter it = {0, 0};
    uint32_t ref;
    for (serial *s; (s = rc_tab_next(&rc->ser, &it, &ref)) != NULL;) {
        olist l[2];
        for (int side = 0; side < 2; side++) {
            while (oc < rc->nocc && (rc->occs[oc].serial < ref ||
                                     (rc->occs[oc].serial == ref && rc->occs[oc].side < side)))
                oc++;
            size_t start = oc;
            while (oc < rc->nocc && rc->occs[oc].serial == ref && rc->occs[oc].side == side)
                oc++;
            l[side] = s->count[side] > 1 ? (olist){rc->occs + start, oc - start, NONE}
                                         : (olist){NULL, s->count[side], s->entry[side]};
        }
        if (other_org(rc, s->key))
            continue;
        serial_disc add[4];
        size_t k = serial_discs(rc, s, ref, l, add);
        if (k == 0)
            continue;
        if (*nsd + k > cap) {
            serial_disc *p = rc_grown(&rc->alloc, *sd, &cap, sizeof *p, 256);
            if (p == NULL)
                return rc_fail(rc, OHP_ENOMEM, "out of memory");
            *sd = p;
        }
        memcpy(*sd + *nsd, add, k * sizeof *add);
        *nsd += k;
    }
    return OHP_OK;
}

/*
 * The entries in key order into *order (the caller frees it), the units of
 * one key sharing its rank; spare (the hash slots, no longer needed) is
 * room for the sort, and is freed.
 */
static int order_keys(ohp_reconcile *rc, void *spare, size_t spare_size, uint32_t **order)
{
    tab *m = &rc->cmp;
    *order = ohp_malloc(&rc->alloc, (m->n ? m->n : 1) * sizeof **order);
    if (*order == NULL) {
        ohp_free(&rc->alloc, spare);
        return rc_fail(rc, OHP_ENOMEM, "out of memory");
    }
    tab_iter it = {0, 0};
    for (size_t i = 0; i < m->n; i++)
        rc_tab_next(m, &it, &(*order)[i]);
    int r = sort_refs(m, *order, m->n, rc->unordered, rc->lcp, spare, spare_size, &rc->alloc);
    ohp_free(&rc->alloc, spare);
    if (r != OHP_OK)
        return rc_fail(rc, OHP_ENOMEM, "out of memory");
    for (size_t i = 0, g = 0; i < m->n; i++) {
        entry *e = tab_at(m, (*order)[i]);
        if (i > 0 && !rc_same_key_nounit(tab_at(m, (*order)[i - 1]), e))
            g++;
        e->rank = (uint32_t)g;
    }
    return OHP_OK;
}

/* The serial discrepancies in the order they are reported: by their key's rank, then serial. */
static void order_serial_discs(ohp_reconcile *rc, serial_disc *sd, size_t nsd)
{
    for (size_t i = 0; i < nsd; i++) {
        const serial *s = tab_at(&rc->ser, sd[i].serial);
        sd[i].rank = ((const entry *)tab_at(&rc->cmp, sd[i].rank))->rank;
        sd[i].key = s->key;
        sd[i].klen = s->klen;
    }
    if (nsd > 0)
        qsort(sd, nsd, sizeof *sd, sd_cmp);
}

/* Each key's group of units in order, and after it the serial discrepancies reported with it. */
static int report_all(ohp_reconcile *rc, const uint32_t *order, const serial_disc *sd, size_t nsd,
                      ohp_discrepancy_fn report, void *user_data)
{
    tab *m = &rc->cmp;
    int r = OHP_OK;
    size_t j = 0;
    for (size_t i = 0; i < m->n && r == OHP_OK;) {
        uint32_t g = ((const entry *)tab_at(m, order[i]))->rank;
        size_t k = i + 1;
        while (k < m->n && ((const entry *)tab_at(m, order[k]))->rank == g)
            k++;
        if (k + 16 < m->n)
            __builtin_prefetch(tab_at(m, order[k + 16]));
        r = compare_group(rc, order + i, k - i, report, user_data);
        for (; r == OHP_OK && j < nsd && sd[j].rank == g; j++)
            r = emit_serial(rc, &sd[j], report, user_data);
        i = k;
    }
    return r;
}

int rc_compare(ohp_reconcile *rc, ohp_discrepancy_fn report, void *user_data)
{
    int r = rc->rekey ? rekey(rc) : OHP_OK;
    if (r != OHP_OK)
        return r;
    /* nothing is looked up any more: the slots make room for ordering the keys */
    void *spare = rc->cmp.slots;
    size_t spare_size = rc->cmp.nslots * sizeof(uint64_t);
    ohp_free(&rc->alloc, rc->ser.slots);
    rc->cmp.slots = rc->ser.slots = NULL;
    rc->cmp.nslots = rc->ser.nslots = 0;
    count_serials(rc);
    uint32_t *order = NULL;
    serial_disc *sd = NULL;
    size_t nsd = 0;
    r = serial_classes(rc, &sd, &nsd);
    if (r != OHP_OK)
        ohp_free(&rc->alloc, spare);
    else
        r = order_keys(rc, spare, spare_size, &order);
    if (r == OHP_OK) {
        order_serial_discs(rc, sd, nsd);
        r = report_all(rc, order, sd, nsd, report, user_data);
        if (r != OHP_OK && rc->errmsg[0] == '\0')
            rc_fail(rc, r, "the discrepancy callback stopped the run (%d)", r);
        if (r == OHP_OK && finish_totals(rc) != OHP_OK)
            r = rc_fail(rc, OHP_ENOMEM, "out of memory");
    }
    ohp_free(&rc->alloc, order);
    ohp_free(&rc->alloc, sd);
    return r;
}
