/* Reconciliation: fold snapshot chains and compare the ERP side with the external side. */
#include "balance_key.h"
#include "ohp_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The balance key, as the job defines it for whole keys (balance_key.h). */
#define NKEY OHP_KEY_NFIELDS
enum {
    KF_ORG = OHP_KEY_ORG,
    KF_ITEM = OHP_KEY_ITEM,
    KF_REV = OHP_KEY_REV,
    KF_SUB = OHP_KEY_SUB,
    KF_LOC = OHP_KEY_LOC,
    KF_LOT = OHP_KEY_LOT,
    KF_OWNER = OHP_KEY_OWNER
};

#define NONE UINT32_MAX
#define MAX_RANGE 1000000u

/*
 * ---- pools: records addressed by 32-bit references ----
 *
 * A reference is a block number and an offset in 8-byte units.  Blocks are
 * never moved or freed before the pool, so a record's address is stable, and
 * the hash tables below hold references (4 bytes) instead of pointers.
 */
#define POOL_SHIFT 17                                         /* 8-byte units per block */
#define POOL_BLOCK ((size_t)8 << POOL_SHIFT)                  /* 1 MiB */
#define POOL_MAXBLOCKS (((size_t)1 << (32 - POOL_SHIFT)) - 1) /* NONE stays free */

typedef struct pblock {
    size_t used, cap;
    uint64_t data[]; /* 8-byte aligned records */
} pblock;

typedef struct pool {
    pblock **b;
    size_t n, cap;
} pool;

static inline void *pool_at(const pool *p, uint32_t ref)
{
    return (char *)p->b[ref >> POOL_SHIFT]->data + ((size_t)(ref & ((1u << POOL_SHIFT) - 1)) << 3);
}

/*
 * An array of elements of size bytes, doubled (or first made `first` long):
 * the new array, *cap updated; NULL (array and *cap unchanged) without memory.
 */
static void *grown(const ohp_alloc *a, void *arr, size_t *cap, size_t size, size_t first)
{
    size_t n = *cap ? *cap * 2 : first;
    void *p = ohp_realloc(a, arr, n * size);
    if (p != NULL)
        *cap = n;
    return p;
}

/* Room for size bytes; OHP_ENOMEM, or OHP_ELIMIT past 32 GiB of records. */
static int pool_alloc(pool *p, const ohp_alloc *a, size_t size, void **out, uint32_t *ref)
{
    size = (size + 7) & ~(size_t)7;
    pblock *last = p->n ? p->b[p->n - 1] : NULL;
    if (last == NULL || last->cap - last->used < size) {
        if (p->n >= POOL_MAXBLOCKS)
            return OHP_ELIMIT;
        if (p->n == p->cap) {
            pblock **nb = grown(a, p->b, &p->cap, sizeof *nb, 16);
            if (nb == NULL)
                return OHP_ENOMEM;
            p->b = nb;
        }
        /* 64 KiB first, doubling to POOL_BLOCK: small reconciliations stay small */
        size_t cap = p->n < 4 ? (POOL_BLOCK >> (4 - p->n)) : POOL_BLOCK;
        if (cap < size)
            cap = size;
        if ((last = ohp_malloc(a, sizeof *last + cap)) == NULL)
            return OHP_ENOMEM;
        ohp_prefault(last, sizeof *last + cap);
        last->used = 0;
        last->cap = cap;
        p->b[p->n++] = last;
    }
    *ref = (uint32_t)((p->n - 1) << POOL_SHIFT | last->used >> 3);
    *out = (char *)last->data + last->used;
    last->used += size;
    return OHP_OK;
}

static void pool_free(pool *p, const ohp_alloc *a)
{
    for (size_t i = 0; i < p->n; i++)
        ohp_free(a, p->b[i]);
    ohp_free(a, p->b);
    memset(p, 0, sizeof *p);
}

/*
 * ---- exact quantities ----
 *
 * A quantity is a 64-bit mantissa and a scale, 9 bytes so that a key's entry
 * stays small.  A sum that leaves 18 digits moves to an accumulator: its
 * scale becomes QBIG and the mantissa is the accumulator's index in the
 * reconciler's table of big values.
 */
#define QBIG 0xff

typedef struct __attribute__((packed)) qty {
    int64_t m;
    uint8_t scale;
} qty;

typedef struct bigs {
    ohp_acc **v;
    size_t n, cap;
} bigs;

static void bigs_free(bigs *b, const ohp_alloc *a)
{
    for (size_t i = 0; i < b->n; i++)
        ohp_free(a, b->v[i]);
    ohp_free(a, b->v);
    memset(b, 0, sizeof *b);
}

static ohp_acc *qty_big(const bigs *b, const qty *q)
{
    return q->scale == QBIG ? b->v[q->m] : NULL;
}

static const int64_t pow10_tab[19] = {1,
                                      10,
                                      100,
                                      1000,
                                      10000,
                                      100000,
                                      1000000,
                                      10000000,
                                      100000000,
                                      1000000000,
                                      10000000000,
                                      100000000000,
                                      1000000000000,
                                      10000000000000,
                                      100000000000000,
                                      1000000000000000,
                                      10000000000000000,
                                      100000000000000000,
                                      1000000000000000000};

/* Decimal -> mantissa/scale when it has at most 18 digits. */
static bool dec_small(const ohp_decimal *d, int64_t *m, uint8_t *scale)
{
    if (d->int_digits + d->frac_digits > 18)
        return false;
    const char *p = d->text + (d->negative ? 1 : 0);
    int64_t v = 0;
    for (; *p; p++)
        if (*p != '.')
            v = v * 10 + (*p - '0');
    *m = d->negative ? -v : v;
    *scale = (uint8_t)d->frac_digits;
    return true;
}

static void small_text(int64_t m, unsigned scale, char *out)
{
    char digits[24];
    uint64_t u = m < 0 ? (uint64_t)0 - (uint64_t)m : (uint64_t)m;
    int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)u);
    char tmp[48];
    char *o = tmp;
    if (m < 0)
        *o++ = '-';
    if ((unsigned)n <= scale) {
        *o++ = '0';
        *o++ = '.';
        for (unsigned i = (unsigned)n; i < scale; i++)
            *o++ = '0';
        memcpy(o, digits, (size_t)n);
        o += n;
    } else {
        memcpy(o, digits, (size_t)n - scale);
        o += (size_t)n - scale;
        if (scale) {
            *o++ = '.';
            memcpy(o, digits + n - scale, scale);
            o += scale;
        }
    }
    *o = '\0';
    ohp_decimal d;
    if (ohp_decimal_parse(tmp, &d) == OHP_OK)
        strcpy(out, d.text);
    else
        strcpy(out, "0");
}

static void qty_text(const bigs *b, const qty *q, char out[OHP_ACC_BUFSIZE])
{
    const ohp_acc *big = qty_big(b, q);
    if (big)
        ohp_acc_format(big, out);
    else
        small_text(q->m, q->scale, out);
}

/* The quantity becomes an accumulator holding its current value. */
static int qty_to_big(bigs *b, qty *q, const ohp_alloc *a)
{
    if (b->n == b->cap) {
        ohp_acc **v = grown(a, b->v, &b->cap, sizeof *v, 16);
        if (v == NULL)
            return OHP_ENOMEM;
        b->v = v;
    }
    ohp_acc *acc = ohp_calloc(a, 1, sizeof *acc);
    if (acc == NULL)
        return OHP_ENOMEM;
    char t[48];
    small_text(q->m, q->scale, t);
    ohp_decimal cur;
    ohp_decimal_parse(t, &cur);
    ohp_acc_add(acc, &cur);
    b->v[b->n] = acc;
    q->m = (int64_t)b->n++;
    q->scale = QBIG;
    return OHP_OK;
}

/* q += m * 10^-s when q and the sum stay within 64 bits; false otherwise. */
static bool small_add(qty *q, int64_t m, uint8_t s)
{
    if (q->scale == QBIG)
        return false;
    int64_t x = q->m, y = m;
    uint8_t sc = q->scale > s ? q->scale : s;
    if (__builtin_mul_overflow(x, pow10_tab[sc - q->scale], &x) ||
        __builtin_mul_overflow(y, pow10_tab[sc - s], &y) || __builtin_add_overflow(x, y, &x))
        return false;
    q->m = x;
    q->scale = sc;
    return true;
}

static int qty_add(bigs *b, qty *q, const ohp_decimal *d, const ohp_alloc *a)
{
    if (d->zero)
        return OHP_OK;
    if (q->scale != QBIG) {
        int64_t m;
        uint8_t s;
        if (dec_small(d, &m, &s) && small_add(q, m, s))
            return OHP_OK;
        if (qty_to_big(b, q, a) != OHP_OK)
            return OHP_ENOMEM;
    }
    ohp_acc_add(b->v[q->m], d);
    return OHP_OK;
}

/* Add m * 10^-scale to q. */
static int qty_add_small(bigs *b, qty *q, int64_t m, uint8_t s, const ohp_alloc *a)
{
    if (small_add(q, m, s))
        return OHP_OK;
    char t[48];
    ohp_decimal d;
    small_text(m, s, t);
    ohp_decimal_parse(t, &d); /* at most 19 digits */
    return qty_add(b, q, &d, a);
}

/*
 * Add a canonical decimal text to q: one the parser takes, or a sum beyond
 * its limits (up to the accumulator's 63 integer digits).
 */
static int qty_add_text(bigs *b, qty *q, const char *text, const ohp_alloc *a)
{
    ohp_decimal d;
    if (ohp_decimal_parse(text, &d) == OHP_OK)
        return qty_add(b, q, &d, a);
    if (q->scale != QBIG && qty_to_big(b, q, a) != OHP_OK)
        return OHP_ENOMEM;
    return ohp_acc_add_text(b->v[q->m], text, false);
}

/* Add a quantity to a UOM total (sums of any size). */
static int qty_add_to(bigs *b, qty *total, const qty *q, const ohp_alloc *a)
{
    if (q->scale != QBIG)
        return qty_add_small(b, total, q->m, q->scale, a);
    if (total->scale != QBIG && qty_to_big(b, total, a) != OHP_OK)
        return OHP_ENOMEM;
    ohp_acc_merge(b->v[total->m], b->v[q->m], false);
    return OHP_OK;
}

static bool qty_zero(const bigs *b, const qty *q)
{
    if (q->scale != QBIG)
        return q->m == 0;
    char t[OHP_ACC_BUFSIZE];
    ohp_acc_format(b->v[q->m], t);
    return strcmp(t, "0") == 0;
}

/* Back to zero; an accumulator it held is released. */
static void qty_clear(bigs *b, qty *q, const ohp_alloc *a)
{
    if (q->scale == QBIG) {
        ohp_free(a, b->v[q->m]);
        b->v[q->m] = NULL;
    }
    q->m = 0;
    q->scale = 0;
}

/* x - y exactly, both canonical texts as ohp_acc_format() gives them. */
static void text_sub(const char *x, const char *y, char out[OHP_ACC_BUFSIZE])
{
    ohp_acc acc;
    memset(&acc, 0, sizeof acc);
    int rx = ohp_acc_add_text(&acc, x, false), ry = ohp_acc_add_text(&acc, y, true);
    (void)rx; /* both are sums the accumulators formatted: they always fit */
    (void)ry;
    ohp_acc_format(&acc, out);
}

/* Compare non-negative canonical decimal texts. */
static int cmp_nonneg(const char *a, const char *b)
{
    size_t ia = strcspn(a, "."), ib = strcspn(b, ".");
    if (ia != ib)
        return ia < ib ? -1 : 1;
    int c = strncmp(a, b, ia);
    if (c)
        return c < 0 ? -1 : 1;
    const char *fa = a[ia] ? a + ia + 1 : "", *fb = b[ib] ? b + ib + 1 : "";
    c = strcmp(fa, fb);
    return c < 0 ? -1 : c > 0;
}

/* Product of non-negative canonical decimals, canonical, into out (size n). */
static void mul_nonneg(const char *a, const char *b, char *out, size_t n)
{
    char da[OHP_ACC_BUFSIZE] = {0}, db[OHP_ACC_BUFSIZE] = {0};
    size_t la = 0, lb = 0, fa = 0, fb = 0;
    bool seen = false;
    for (const char *p = a; *p && la < sizeof da; p++) {
        if (*p == '.')
            seen = true;
        else {
            da[la++] = *p;
            fa += seen;
        }
    }
    seen = false;
    for (const char *p = b; *p && lb < sizeof db; p++) {
        if (*p == '.')
            seen = true;
        else {
            db[lb++] = *p;
            fb += seen;
        }
    }
    unsigned prod[2 * OHP_ACC_BUFSIZE];
    size_t lp = la + lb;
    memset(prod, 0, sizeof prod);
    for (size_t i = 0; i < la; i++)
        for (size_t j = 0; j < lb; j++)
            prod[i + j + 1] += (unsigned)(da[i] - '0') * (unsigned)(db[j] - '0');
    for (size_t k = lp; k-- > 1;) {
        prod[k - 1] += prod[k] / 10;
        prod[k] %= 10;
    }
    size_t frac = fa + fb;
    size_t ilen = lp - frac;
    char tmp[2 * OHP_ACC_BUFSIZE + 2];
    size_t o = 0;
    size_t start = 0;
    while (start + 1 < ilen && prod[start] == 0)
        start++;
    for (size_t k = start; k < ilen; k++)
        tmp[o++] = (char)('0' + prod[k]);
    size_t end = lp;
    while (end > ilen && prod[end - 1] == 0)
        end--;
    if (end > ilen) {
        tmp[o++] = '.';
        for (size_t k = ilen; k < end; k++)
            tmp[o++] = (char)('0' + prod[k]);
    }
    tmp[o] = '\0';
    snprintf(out, n, "%s", o ? tmp : "0");
}

/* ---- hash ---- */

static uint32_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    h *= 0x9E3779B97F4A7C15ull;
    return (uint32_t)(h >> 32);
}

/*
 * ---- hash tables of records with their key inline ----
 *
 * A record is a fixed header (beginning with the key length) followed by
 * the key and a NUL, in a pool; the slots hold the key's hash and the
 * record's reference.  One record per key and nothing else: at a million
 * keys the table's memory, and the page faults of first touching it, are
 * most of a reconciliation's cost.
 */
typedef struct tab {
    pool recs;
    uint64_t *slots; /* hash << 32 | (reference + 1); 0: empty */
    size_t nslots, n;
    size_t hdr; /* header bytes before the key */
} tab;

static inline void *tab_at(const tab *t, uint32_t ref)
{
    return pool_at(&t->recs, ref);
}

static inline uint32_t rec_klen(const void *rec)
{
    uint32_t k;
    memcpy(&k, rec, sizeof k);
    return k;
}

static void tab_free(tab *t, const ohp_alloc *a)
{
    pool_free(&t->recs, a);
    ohp_free(a, t->slots);
    t->slots = NULL;
    t->nslots = t->n = 0;
}

/* Slots for about n keys: a power of two at least 2n (at least 1024). */
static size_t slots_for(size_t n)
{
    if (n > ((size_t)1 << 28))
        n = (size_t)1 << 28;
    size_t ns = 1024;
    while (ns < n * 2)
        ns *= 2;
    return ns;
}

/* Put slot value v (hash << 32 | reference + 1) into s (ns slots). */
static inline void slot_put(uint64_t *s, size_t ns, uint64_t v)
{
    size_t k = (uint32_t)(v >> 32) & (ns - 1);
    while (s[k])
        k = (k + 1) & (ns - 1);
    s[k] = v;
}

/* Replace the slots with ns empty ones (a power of two); the old ones are returned in *old. */
static int slots_replace(tab *t, const ohp_alloc *a, size_t ns, uint64_t **old, size_t *old_n)
{
    if (ns > SIZE_MAX / sizeof(uint64_t))
        return OHP_ENOMEM;
    uint64_t *s = ohp_malloc(a, ns * sizeof *s);
    if (s == NULL)
        return OHP_ENOMEM;
    ohp_prefault(s, ns * sizeof *s);
    memset(s, 0, ns * sizeof *s);
    *old = t->slots;
    *old_n = t->nslots;
    t->slots = s;
    t->nslots = ns;
    return OHP_OK;
}

/* Re-slot into ns slots (a power of two). */
static int tab_resize(tab *t, const ohp_alloc *a, size_t ns)
{
    uint64_t *old;
    size_t old_n;
    if (slots_replace(t, a, ns, &old, &old_n) != OHP_OK)
        return OHP_ENOMEM;
    for (size_t j = 0; j < old_n; j++)
        if (old[j] != 0)
            slot_put(t->slots, ns, old[j]);
    ohp_free(a, old);
    return OHP_OK;
}

/* Size the slots for about n keys in one step (a hint: failure is harmless). */
static void tab_reserve(tab *t, const ohp_alloc *a, size_t n)
{
    size_t ns = slots_for(n);
    if (ns > t->nslots)
        (void)tab_resize(t, a, ns);
}

static inline void tab_prefetch(const tab *t, uint32_t h)
{
    if (t->nslots)
        __builtin_prefetch(&t->slots[h & (t->nslots - 1)]);
}

/* Prefetch the record the key's first slot names, when its hash matches. */
static inline void tab_prefetch_rec(const tab *t, uint32_t h)
{
    if (t->nslots == 0)
        return;
    uint64_t v = t->slots[h & (t->nslots - 1)];
    if (v != 0 && (uint32_t)(v >> 32) == h)
        __builtin_prefetch(tab_at(t, (uint32_t)v - 1));
}

/* Add a record for a key known to be new, without a slot (see tab_index). */
static int tab_append(tab *t, const ohp_alloc *a, const char *key, size_t klen, uint32_t *ref)
{
    if (klen > UINT32_MAX - t->hdr - 8)
        return OHP_ELIMIT;
    char *rec;
    int rc = pool_alloc(&t->recs, a, t->hdr + klen + 1, (void **)&rec, ref);
    if (rc != OHP_OK)
        return rc;
    memset(rec, 0, t->hdr);
    uint32_t k32 = (uint32_t)klen;
    memcpy(rec, &k32, sizeof k32);
    memcpy(rec + t->hdr, key, klen);
    rec[t->hdr + klen] = '\0';
    t->n++;
    return OHP_OK;
}

/*
 * Find or add the key.  *ref is its record; *added tells whether it is new
 * (its header is then zero but for the key length).
 */
static int tab_get(tab *t, const ohp_alloc *a, const char *key, size_t klen, uint32_t h,
                   uint32_t *ref, bool *added)
{
    if ((t->n + 1) * 2 > t->nslots && tab_resize(t, a, t->nslots ? t->nslots * 2 : 1024) != OHP_OK)
        return OHP_ENOMEM;
    size_t mask = t->nslots - 1, k = h & mask;
    for (uint64_t v; (v = t->slots[k]) != 0; k = (k + 1) & mask) {
        if ((uint32_t)(v >> 32) != h)
            continue;
        const char *rec = tab_at(t, (uint32_t)v - 1);
        if (rec_klen(rec) == klen && memcmp(rec + t->hdr, key, klen) == 0) {
            *ref = (uint32_t)v - 1;
            *added = false;
            return OHP_OK;
        }
    }
    int rc = tab_append(t, a, key, klen, ref);
    if (rc != OHP_OK)
        return rc;
    t->slots[k] = (uint64_t)h << 32 | ((uint64_t)*ref + 1);
    *added = true;
    return OHP_OK;
}

/* Records in the order they were added: start with *it = {0, 0}; ref may be NULL. */
typedef struct tab_iter {
    size_t b, off;
} tab_iter;

static void *tab_next(const tab *t, tab_iter *it, uint32_t *ref)
{
    while (it->b < t->recs.n) {
        const pblock *bl = t->recs.b[it->b];
        if (it->off < bl->used) {
            char *rec = (char *)bl->data + it->off;
            if (ref != NULL)
                *ref = (uint32_t)(it->b << POOL_SHIFT | it->off >> 3);
            it->off += (t->hdr + rec_klen(rec) + 1 + 7) & ~(size_t)7;
            return rec;
        }
        it->b++;
        it->off = 0;
    }
    return NULL;
}

/* The record after ref in the order they were added, or NONE. */
static uint32_t tab_after(const tab *t, uint32_t ref)
{
    size_t b = ref >> POOL_SHIFT, off = (size_t)(ref & ((1u << POOL_SHIFT) - 1)) << 3;
    const char *rec = (const char *)t->recs.b[b]->data + off;
    off += (t->hdr + rec_klen(rec) + 1 + 7) & ~(size_t)7;
    for (; b < t->recs.n; b++, off = 0)
        if (off < t->recs.b[b]->used)
            return (uint32_t)(b << POOL_SHIFT | off >> 3);
    return NONE;
}

/*
 * Give every record (added by tab_append) its slot, in one pass over the
 * records; the slots are sized for at least expect keys.
 */
static int tab_index(tab *t, const ohp_alloc *a, size_t expect)
{
    uint64_t *old;
    size_t old_n, ns = slots_for(t->n > expect ? t->n : expect);
    if (slots_replace(t, a, ns, &old, &old_n) != OHP_OK)
        return OHP_ENOMEM;
    ohp_free(a, old); /* no record had a slot */
    tab_iter it = {0, 0};
    uint32_t ref;
    for (const char *rec; (rec = tab_next(t, &it, &ref)) != NULL;)
        slot_put(t->slots, ns,
                 (uint64_t)hash_bytes(rec + t->hdr, rec_klen(rec)) << 32 | ((uint64_t)ref + 1));
    return OHP_OK;
}

/* ---- balance entries (one per key) ---- */

enum { F_PRESENT = 1 }; /* << side */

/*
 * One entry per key and unit of measure in the comparison (the unit is the
 * key's last field, after the NKEY parts), one per key when folding.
 */
typedef struct entry {
    uint32_t klen;
    union {
        uint32_t
            moved; /* comparison: serials counted here on one side, at another key on the other */
        uint32_t gen; /* folding: the snapshot that last replaced the key */
    };
    union {
        uint32_t rank;    /* comparison: the key's place in key order (units of a key share it);
                             re-keying: the entry's new reference */
        uint32_t serials; /* folding: the key's serial numbers and other units (node ref + 1) */
    };
    uint16_t uom; /* UOM index + 1, 0: none (folding: the key's first unit) */
    qty q[2];
    uint8_t flags;
    char key[]; /* NUL-separated key fields, NUL-terminated */
} entry;

/* Byte order of the keys. */
static inline int key_cmp_raw(const char *x, size_t xl, const char *y, size_t yl)
{
    int c = memcmp(x, y, xl < yl ? xl : yl);
    if (c)
        return c;
    return xl < yl ? -1 : xl > yl;
}

static inline int key_cmp(const entry *x, const entry *y)
{
    return key_cmp_raw(x->key, x->klen, y->key, y->klen);
}

/* ---- serial numbers (identity: organization, item, serial) ---- */

typedef struct serial {
    uint32_t klen;
    uint32_t entry[2]; /* the key where each side has it first */
    uint32_t count[2];
    char key[];
} serial;

/* Fold: a key's serial numbers and lines in another unit, newest first. */
typedef struct snode {
    uint32_t next;  /* reference + 1, 0: none */
    uint16_t uom;   /* the line's unit (index + 1) */
    uint8_t serial; /* s is a serial number; else a quantity */
    char s[];
} snode;

/* ---- the handle ---- */

typedef struct uom {
    char *code;
    qty total[2];
    bool counted; /* a compared key (of the ERP side's organization) has a line in it */
} uom;

/*
 * Where a serial number is, on a side that has it more than once: every
 * occurrence (the first one included), so that duplicates can be told
 * apart from the same duplicates on both sides.  Rare.
 */
typedef struct occ {
    const char *key; /* at run: the entry's key, for sorting */
    uint32_t klen;
    uint32_t serial; /* the serial's reference */
    uint32_t entry;  /* the entry's reference */
    uint8_t side;
} occ;

typedef struct serial_disc {
    const char *key; /* the serial's identity, for sorting */
    uint32_t rank;   /* the entry's reference, then its rank in key order */
    uint32_t serial; /* the serial's reference */
    uint32_t klen;
    uint8_t kind;
    uint8_t side;
} serial_disc;

/*
 * Contributions wait in a small batch: the hash slots of the next keys are
 * prefetched when a contribution is queued, and the records those slots
 * name before the batch is applied.  With a million keys the tables are far
 * larger than the caches.
 */
#define BATCH 32

enum { Q_NONE, Q_SMALL, Q_TEXT };

typedef struct pend {
    size_t key;   /* offset into text: the key */
    size_t skey;  /* offset: the serial's identity; SIZE_MAX: no serial */
    size_t qtext; /* offset: the quantity's canonical text (Q_TEXT) */
    uint32_t klen, sklen;
    uint32_t hash, shash;
    int64_t m; /* Q_SMALL */
    uint8_t scale;
    uint8_t qkind;
    uint8_t side;
    uint8_t hashed; /* hash is set: keys seen while merging are hashed only if needed */
    uint16_t uom;
} pend;

struct ohp_reconcile {
    ohp_alloc alloc;
    pend pending[BATCH];
    size_t npending;
    ohp_buf text;
    int ignore;
    char tol_abs[OHP_QTY_BUFSIZE];
    char tol_rel[OHP_QTY_BUFSIZE];
    char *erp_org;              /* the ERP side's organization, once known */
    size_t cur_key, cur_prefix; /* the current key: offset into text; organization and item */
    uint32_t cur_klen, cur_hash;
    bool cur_hashed; /* cur_hash is the current key's hash */
    tab cmp;         /* entries */
    /* for ordering: keys added out of key order; the prefix all keys share */
    bool unordered;
    /*
     * Merging instead of hashing.  While every side's lines arrive in key
     * order, a line's key is the current line's key, a key of an earlier
     * side found by a cursor moving forward through that side's entries
     * (which are in key order), or new; the entries then need no hash slots.
     * The first line out of order gives every entry its slot (tab_index) and
     * the reconciler hashes from then on.
     */
    bool merging;
    uint32_t cursor;      /* the earlier sides' entry the cursor is on, NONE: past them */
    size_t cursor_left;   /* earlier sides' entries from the cursor on */
    uint32_t stream_last; /* this side's last key, NONE: none yet */
    size_t expect_keys;   /* estimate of the keys to come, for sizing the slots */
    uint32_t last_added;
    size_t lcp;
    tab ser;              /* serials */
    uint64_t distinct[2]; /* distinct serials per side */
    bigs big;
    uom *uoms;
    size_t nuoms, cap_uoms;
    occ *occs; /* occurrences of serials a side has more than once */
    size_t nocc, cap_occ;
    int used;   /* OHP_IGNORE_* of the key parts that held a value in an entry's key */
    bool rekey; /* entries were keyed before those parts were dropped */
    size_t last_uom;
    bool loaded[2];
    bool failed; /* a side failed to load: the comparison would be wrong */
    bool ran;
    ohp_buf scratch;
    ohp_reconcile_summary sum;
    char **uom_text; /* after run: per UOM, erp and external totals */
    char errmsg[OHP_ERRMSG_SIZE];
};

static int rfail(ohp_reconcile *rc, int code, const char *fmt, ...) OHP_PRINTF(3, 4);
static int rfail(ohp_reconcile *rc, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ohp_errmsg_vset(rc->errmsg, fmt, ap);
    va_end(ap);
    return code;
}

OHP_EXPORT int ohp_reconcile_options_init(ohp_reconcile_options *o, unsigned int version)
{
    if (o == NULL)
        return OHP_EINVAL;
    if (version == 0 || version > OHP_RECONCILE_OPTIONS_VERSION)
        return OHP_EVERSION;
    o->version = version;
    o->ignore = 0;
    o->tolerance_absolute = NULL;
    o->tolerance_relative = NULL;
    return OHP_OK;
}

static int parse_tolerance(const char *text, char *out, const char *what, char *msg)
{
    if (text == NULL || text[0] == '\0') {
        strcpy(out, "0");
        return OHP_OK;
    }
    ohp_decimal d;
    if (ohp_decimal_parse(text, &d) != OHP_OK || d.negative) {
        ohp_errmsg_set(msg, "%s tolerance: expected a decimal >= 0, found '%.40s'", what, text);
        return OHP_EINVAL;
    }
    strcpy(out, d.text);
    return OHP_OK;
}

OHP_EXPORT int ohp_reconcile_new(ohp_reconcile **out, const ohp_reconcile_options *opt,
                                 const ohp_allocator *alloc)
{
    if (out == NULL)
        return OHP_EINVAL;
    *out = NULL;
    if (opt != NULL && (opt->version == 0 || opt->version > OHP_RECONCILE_OPTIONS_VERSION))
        return OHP_EVERSION;
    ohp_alloc a;
    int rc = ohp_alloc_init(&a, alloc);
    if (rc)
        return rc;
    char msg[OHP_ERRMSG_SIZE];
    char abs_t[OHP_QTY_BUFSIZE], rel_t[OHP_QTY_BUFSIZE];
    if (opt != NULL && (opt->ignore & ~(OHP_IGNORE_REVISION | OHP_IGNORE_LOCATOR | OHP_IGNORE_LOT |
                                        OHP_IGNORE_OWNER)))
        return OHP_EINVAL;
    if (parse_tolerance(opt ? opt->tolerance_absolute : NULL, abs_t, "absolute", msg) ||
        parse_tolerance(opt ? opt->tolerance_relative : NULL, rel_t, "relative", msg))
        return OHP_EINVAL;
    ohp_reconcile *r = ohp_calloc(&a, 1, sizeof *r);
    if (r == NULL)
        return OHP_ENOMEM;
    r->alloc = a;
    r->ignore = opt ? opt->ignore : 0;
    strcpy(r->tol_abs, abs_t);
    strcpy(r->tol_rel, rel_t);
    r->cmp.hdr = offsetof(entry, key);
    r->merging = true;
    r->cursor = r->stream_last = NONE;
    r->ser.hdr = offsetof(serial, key);
    r->sum.version = OHP_RECONCILE_SUMMARY_VERSION;
    *out = r;
    return OHP_OK;
}

OHP_EXPORT void ohp_reconcile_free(ohp_reconcile *rc)
{
    if (rc == NULL)
        return;
    ohp_alloc a = rc->alloc;
    tab_free(&rc->cmp, &a);
    tab_free(&rc->ser, &a);
    bigs_free(&rc->big, &a);
    for (size_t i = 0; i < rc->nuoms; i++)
        ohp_free(&a, rc->uoms[i].code);
    ohp_free(&a, rc->uoms);
    ohp_free(&a, rc->occs);
    if (rc->uom_text != NULL) {
        for (size_t i = 0; i < rc->nuoms * 2; i++)
            ohp_free(&a, rc->uom_text[i]);
        ohp_free(&a, rc->uom_text);
    }
    ohp_buf_free(&rc->scratch, &a);
    ohp_buf_free(&rc->text, &a);
    ohp_free(&a, rc->erp_org);
    ohp_free(&a, rc);
}

OHP_EXPORT const char *ohp_reconcile_errmsg(const ohp_reconcile *rc)
{
    return rc ? rc->errmsg : "";
}

OHP_EXPORT const ohp_reconcile_summary *ohp_reconcile_get_summary(const ohp_reconcile *rc)
{
    static const ohp_reconcile_summary empty = {.version = OHP_RECONCILE_SUMMARY_VERSION};
    return rc ? &rc->sum : &empty;
}

static int uom_index(ohp_reconcile *rc, const char *code, uint16_t *out)
{
    if (rc->last_uom < rc->nuoms && ohp_short_eq(rc->uoms[rc->last_uom].code, code)) {
        *out = (uint16_t)(rc->last_uom + 1);
        return OHP_OK;
    }
    for (size_t i = 0; i < rc->nuoms; i++) {
        if (strcmp(rc->uoms[i].code, code) == 0) {
            rc->last_uom = i;
            *out = (uint16_t)(i + 1);
            return OHP_OK;
        }
    }
    if (rc->nuoms >= 65535)
        return rfail(rc, OHP_ELIMIT, "more than 65535 units of measure");
    if (rc->nuoms == rc->cap_uoms) {
        uom *u = grown(&rc->alloc, rc->uoms, &rc->cap_uoms, sizeof *u, 8);
        if (u == NULL)
            return rfail(rc, OHP_ENOMEM, "out of memory");
        rc->uoms = u;
    }
    uom *u = &rc->uoms[rc->nuoms];
    memset(u, 0, sizeof *u);
    u->code = ohp_strdup(&rc->alloc, code);
    if (u->code == NULL)
        return rfail(rc, OHP_ENOMEM, "out of memory");
    rc->last_uom = rc->nuoms++;
    *out = (uint16_t)rc->nuoms;
    return OHP_OK;
}

/*
 * Append the key to b: the fields joined with NUL bytes, NUL-terminated,
 * then (unless unit is NULL) the unit of measure as one more field.
 * *klen: its length without the last NUL; *prefix: the length of the
 * organization and the item with their NULs.
 */
static int key_append(ohp_buf *b, const ohp_alloc *a, const char *const f[NKEY], int ignore,
                      const char *unit, uint32_t *klen, size_t *prefix, int *used)
{
    /* the optional parts that hold a value (OHP_IGNORE_* bits), or'ed into *used */
    if (used != NULL)
        *used |= (f[KF_REV] && f[KF_REV][0] ? OHP_IGNORE_REVISION : 0) |
                 (f[KF_LOC] && f[KF_LOC][0] ? OHP_IGNORE_LOCATOR : 0) |
                 (f[KF_LOT] && f[KF_LOT][0] ? OHP_IGNORE_LOT : 0) |
                 (f[KF_OWNER] && f[KF_OWNER][0] ? OHP_IGNORE_OWNER : 0);
    /* Room for the usual key; a longer one is measured and the room grown. */
    if (b->cap - b->len < 257 && ohp_buf_reserve(b, a, 256) != 0)
        return OHP_ENOMEM;
    size_t start = b->len, o = start;
    for (int i = 0; i < NKEY + (unit != NULL); i++) {
        const char *s = i == NKEY ? unit : f[i] ? f[i] : "";
        if ((i == KF_REV && (ignore & OHP_IGNORE_REVISION)) ||
            (i == KF_LOC && (ignore & OHP_IGNORE_LOCATOR)) ||
            (i == KF_LOT && (ignore & OHP_IGNORE_LOT)) ||
            (i == KF_OWNER && (ignore & OHP_IGNORE_OWNER)))
            s = "";
        /* copy up to the NUL, which becomes the separator; the fields are short */
        char *d = b->data + o;
        size_t room = b->cap - o, j = 0;
        while (j < room && (d[j] = s[j]) != '\0')
            j++;
        if (j == room) {
            size_t n = strlen(s);
            if (o - start + n + NKEY > UINT32_MAX / 2)
                return OHP_ELIMIT;
            b->len = o;
            if (ohp_buf_reserve(b, a, n + 1 + 256) != 0)
                return OHP_ENOMEM;
            memcpy(b->data + o, s, n + 1);
            j = n;
        }
        o += j + 1;
        if (i == KF_ITEM)
            *prefix = o - start;
    }
    size_t total = o - start;
    if (total > UINT32_MAX / 2)
        return OHP_ELIMIT;
    b->len = o;
    *klen = (uint32_t)(total - 1);
    return OHP_OK;
}

static void split_key(const char *key, const char *f[NKEY])
{
    for (int i = 0; i < NKEY; i++) {
        f[i] = key;
        key += strlen(key) + 1;
    }
}

/* The length of a comparison entry's key without its unit (the last field). */
static uint32_t key_nounit_len(const entry *e)
{
    uint32_t n = e->klen;
    while (n > 0 && e->key[n - 1] != '\0')
        n--;
    return n > 0 ? n - 1 : 0;
}

/* Do two comparison entries have the same key, whatever their units? */
static bool same_key_nounit(const entry *x, const entry *y)
{
    uint32_t xl = key_nounit_len(x);
    return xl == key_nounit_len(y) && memcmp(x->key, y->key, xl) == 0;
}

/* A side's lines begin: the cursor goes back to the first entry. */
static void stream_begin(ohp_reconcile *rc)
{
    rc->stream_last = NONE;
    rc->cursor = rc->cmp.n ? 0 : NONE;
    rc->cursor_left = rc->cmp.n;
}

/* Find or add the key while merging (see struct ohp_reconcile). */
static int merge_get(ohp_reconcile *rc, const char *key, uint32_t klen, uint32_t *ref, bool *added)
{
    tab *t = &rc->cmp;
    if (rc->stream_last != NONE) {
        const entry *last = tab_at(t, rc->stream_last);
        int c = key_cmp_raw(key, klen, last->key, last->klen);
        if (c == 0) {
            *ref = rc->stream_last;
            *added = false;
            return OHP_OK;
        }
        if (c < 0) { /* out of order: hash from now on */
            rc->merging = false;
            int r = tab_index(t, &rc->alloc, rc->expect_keys);
            return r ? r : tab_get(t, &rc->alloc, key, klen, hash_bytes(key, klen), ref, added);
        }
    }
    int c = 1;
    while (rc->cursor_left > 0) {
        const entry *cur = tab_at(t, rc->cursor);
        if ((c = key_cmp_raw(cur->key, cur->klen, key, klen)) >= 0)
            break;
        rc->cursor = --rc->cursor_left ? tab_after(t, rc->cursor) : NONE;
    }
    if (rc->cursor_left > 0 && c == 0) {
        *ref = rc->cursor;
        *added = false;
    } else {
        int r = tab_append(t, &rc->alloc, key, klen, ref);
        if (r != OHP_OK)
            return r;
        *added = true;
    }
    rc->stream_last = *ref;
    return OHP_OK;
}

/* Apply one waiting contribution. */
static int apply(ohp_reconcile *rc, const pend *p)
{
    int r;
    uint32_t ref;
    bool added;
    const char *text = rc->text.data;
    int side = p->side;
    if (rc->merging) {
        r = merge_get(rc, text + p->key, p->klen, &ref, &added);
    } else {
        uint32_t h = p->hashed ? p->hash : hash_bytes(text + p->key, p->klen);
        r = tab_get(&rc->cmp, &rc->alloc, text + p->key, p->klen, h, &ref, &added);
    }
    if (r != OHP_OK)
        return r == OHP_ENOMEM ? rfail(rc, r, "out of memory") : rfail(rc, r, "too many keys");
    entry *e = tab_at(&rc->cmp, ref);
    if (added) {
        /* the previous key and the first are in the cache: ordering facts come cheap here */
        if (rc->cmp.n == 1) {
            rc->lcp = e->klen;
        } else {
            const entry *first = tab_at(&rc->cmp, 0);
            if (!rc->unordered && key_cmp(tab_at(&rc->cmp, rc->last_added), e) > 0)
                rc->unordered = true;
            size_t j = 0, n = e->klen < rc->lcp ? e->klen : rc->lcp;
            while (j < n && e->key[j] == first->key[j])
                j++;
            rc->lcp = j;
        }
        rc->last_added = ref;
        e->uom = p->uom; /* the unit is part of the key */
    }
    e->flags |= (uint8_t)(F_PRESENT << side);
    qty *dst = &e->q[side];
    if (p->qkind == Q_SMALL) {
        if (p->m != 0 && qty_add_small(&rc->big, dst, p->m, p->scale, &rc->alloc) != OHP_OK)
            return rfail(rc, OHP_ENOMEM, "out of memory");
    } else if (p->qkind == Q_TEXT) {
        if ((r = qty_add_text(&rc->big, dst, text + p->qtext, &rc->alloc)) != OHP_OK)
            return r == OHP_ENOMEM ? rfail(rc, r, "out of memory")
                                   : rfail(rc, r, "a quantity sum exceeds %d integer digits",
                                           OHP_ACC_INT_LIMBS * 9);
    }
    if (p->skey != SIZE_MAX) {
        uint32_t si;
        if ((r = tab_get(&rc->ser, &rc->alloc, text + p->skey, p->sklen, p->shash, &si, &added)) !=
            OHP_OK)
            return r == OHP_ENOMEM ? rfail(rc, r, "out of memory")
                                   : rfail(rc, r, "too many serials");
        serial *s = tab_at(&rc->ser, si);
        if (added)
            s->entry[0] = s->entry[1] = NONE;
        if (s->count[side] == 0) {
            s->entry[side] = ref;
            rc->distinct[side]++;
        } else {
            /* more than once on this side: every occurrence is kept, the first one too */
            size_t need = s->count[side] == 1 ? 2 : 1;
            if (rc->nocc + need > rc->cap_occ) {
                occ *o = grown(&rc->alloc, rc->occs, &rc->cap_occ, sizeof *o, 16);
                if (o == NULL)
                    return rfail(rc, OHP_ENOMEM, "out of memory");
                rc->occs = o;
            }
            if (need == 2)
                rc->occs[rc->nocc++] =
                    (occ){.serial = si, .entry = s->entry[side], .side = (uint8_t)side};
            rc->occs[rc->nocc++] = (occ){.serial = si, .entry = ref, .side = (uint8_t)side};
        }
        if (s->count[side] < UINT32_MAX)
            s->count[side]++;
    }
    return OHP_OK;
}

/* Apply every waiting contribution. */
static int flush(ohp_reconcile *rc)
{
    int r = OHP_OK;
    for (size_t i = 0; i < rc->npending; i++) {
        const pend *p = &rc->pending[i];
        if (p->hashed)
            tab_prefetch_rec(&rc->cmp, p->hash);
        if (p->skey != SIZE_MAX)
            tab_prefetch_rec(&rc->ser, p->shash);
    }
    for (size_t i = 0; i < rc->npending && r == OHP_OK; i++)
        r = apply(rc, &rc->pending[i]);
    rc->npending = 0;
    rc->text.len = 0;
    return r;
}

static const char *side_name(int side)
{
    return side == OHP_SIDE_ERP ? "ERP side" : "external side";
}

/*
 * The key and unit of the contributions that follow (one line's worth):
 * built once, into text, with its hash when keys are hashed.
 */
static int cmp_key(ohp_reconcile *rc, const char *const kf[NKEY], uint16_t uom_ix)
{
    int r;
    if (rc->npending == BATCH && (r = flush(rc)) != OHP_OK)
        return r;
    rc->cur_key = rc->text.len;
    if ((r = key_append(&rc->text, &rc->alloc, kf, rc->ignore, rc->uoms[uom_ix - 1].code,
                        &rc->cur_klen, &rc->cur_prefix, &rc->used)) != OHP_OK)
        return r == OHP_ENOMEM ? rfail(rc, r, "out of memory") : rfail(rc, r, "key too long");
    rc->cur_hashed = !rc->merging; /* merging finds keys by a cursor, not by their hash */
    if (rc->cur_hashed) {
        rc->cur_hash = hash_bytes(rc->text.data + rc->cur_key, rc->cur_klen);
        tab_prefetch(&rc->cmp, rc->cur_hash);
    }
    return OHP_OK;
}

/*
 * Quantity text -> mantissa and scale (canonical: no trailing zeros after
 * the point), for the decimals of at most 18 digits that
 * ohp_decimal_parse() accepts; false for anything else.
 */
static bool small_parse(const char *s, int64_t *m, uint8_t *scale)
{
    const char *p = s + (s[0] == '-');
    int64_t v = 0;
    unsigned digits = 0, frac = 0, zeros = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        if (digits == 18)
            return false; /* 19 digits may not fit */
        v = v * 10 + (*p - '0');
    }
    if (digits == 0)
        return false;
    if (*p == '.') {
        const char *f = ++p;
        for (; *p >= '0' && *p <= '9'; p++, digits++, frac++) {
            if (digits == 18)
                return false;
            v = v * 10 + (*p - '0');
            zeros = *p == '0' ? zeros + 1 : 0;
        }
        if (p == f)
            return false;
    }
    if (*p != '\0')
        return false;
    for (; zeros > 0; zeros--, frac--)
        v /= 10;
    *m = s[0] == '-' ? -v : v;
    *scale = (uint8_t)frac;
    return true;
}

/*
 * A quantity as a contribution carries it: a mantissa and a scale, or (past
 * 18 digits) the canonical text in d.
 */
typedef struct qin {
    bool small;
    int64_t m;
    uint8_t scale;
    ohp_decimal d;
    const char *sum; /* instead of d: a folded sum past the parser's limits */
} qin;

/* Parse a quantity once; OHP_EPARSE or OHP_ELIMIT when it is no exact decimal. */
static int qin_parse(const char *text, qin *q)
{
    q->sum = NULL;
    q->small = small_parse(text, &q->m, &q->scale);
    return q->small ? OHP_OK : ohp_decimal_parse(text, &q->d);
}

/*
 * One contribution at the current key: a parsed quantity (or NULL)
 * in UOM index uom_ix, and optionally one serial number of sl bytes.
 */
static int cmp_push(ohp_reconcile *rc, int side, const qin *q, uint16_t uom_ix,
                    const char *serial_no, size_t sl)
{
    int r;
    if (rc->npending == BATCH) {
        /* the current key survives the flush: it moves to the start of text */
        size_t off = rc->cur_key, len = (size_t)rc->cur_klen + 1;
        if ((r = flush(rc)) != OHP_OK)
            return r;
        memmove(rc->text.data, rc->text.data + off, len);
        rc->text.len = len;
        rc->cur_key = 0;
    }
    pend *p = &rc->pending[rc->npending];
    p->key = rc->cur_key;
    p->klen = rc->cur_klen;
    /*
     * A flush above may have ended merging in the middle of the key's
     * contributions: the hash is only what cmp_key() computed (apply()
     * computes a missing one).
     */
    p->hash = rc->cur_hash;
    p->hashed = rc->cur_hashed;
    p->side = (uint8_t)side;
    p->uom = uom_ix;
    p->qkind = Q_NONE;
    if (q != NULL && q->small) {
        p->qkind = Q_SMALL;
        p->m = q->m;
        p->scale = q->scale;
    } else if (q != NULL) {
        p->qkind = Q_TEXT;
        p->qtext = rc->text.len;
        const char *t = q->sum ? q->sum : q->d.text;
        if (ohp_buf_append(&rc->text, &rc->alloc, t, strlen(t) + 1))
            return rfail(rc, OHP_ENOMEM, "out of memory");
    }
    p->skey = SIZE_MAX;
    if (serial_no != NULL && sl > 0) {
        size_t prefix = rc->cur_prefix;
        if (prefix + sl > UINT32_MAX / 2)
            return rfail(rc, OHP_ELIMIT, "serial number too long");
        if (ohp_buf_reserve(&rc->text, &rc->alloc, prefix + sl + 1))
            return rfail(rc, OHP_ENOMEM, "out of memory");
        p->skey = rc->text.len;
        char *o = rc->text.data + p->skey;
        memcpy(o, rc->text.data + p->key, prefix);
        memcpy(o + prefix, serial_no, sl);
        o[prefix + sl] = '\0';
        rc->text.len += prefix + sl + 1;
        p->sklen = (uint32_t)(prefix + sl);
        p->shash = hash_bytes(o, p->sklen);
        tab_prefetch(&rc->ser, p->shash);
    }
    rc->npending++;
    return OHP_OK;
}

static void record_key(const ohp_snapshot_record *rec, const char *kf[NKEY])
{
    ohp_key_fields(kf, rec->organization_code, rec->item_number, rec->revision,
                   rec->subinventory_code, rec->locator_name, rec->locator_id, rec->lot_number,
                   rec->owning_party_id);
}

/* ---- loading snapshots ---- */

typedef struct snap {
    ohp_snapshot_reader *r;
    ohp_snapshot_info info;
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
        return rfail(rc, code, "%s, snapshot %zu (%s): %s", side_name(side), s->pos + 1, name,
                     ohp_snapshot_reader_errmsg(s->r));
    return rfail(rc, code, "%s, snapshot %zu: %s", side_name(side), s->pos + 1,
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
        tab_reserve(&rc->cmp, &rc->alloc, rc->expect_keys);
    stream_begin(rc);
    while ((got = ohp_snapshot_reader_next(s->r, &rec)) == 1) {
        (*lines_of(rc, side))++;
        record_key(rec, kf);
        uint16_t u = 0;
        qin q;
        int r;
        if (qin_parse(rec->primary_quantity, &q) != OHP_OK) /* the reader checked it */
            return rfail(rc, OHP_EPARSE, "%s: quantity '%.40s' is not an exact decimal",
                         side_name(side), rec->primary_quantity);
        if ((r = uom_index(rc, rec->primary_uom_code, &u)) != OHP_OK ||
            (r = cmp_key(rc, kf, u)) != OHP_OK ||
            (r = cmp_push(rc, side, &q, u, rec->serial_number, strlen(rec->serial_number))) !=
                OHP_OK)
            return r;
    }
    return got < 0 ? reader_error(rc, side, s, got) : flush(rc);
}

static void fold_reset(ohp_reconcile *rc, entry *e)
{
    qty_clear(&rc->big, &e->q[0], &rc->alloc);
    e->serials = 0;
    e->flags = 0;
    e->uom = 0;
}

static int load_fold(ohp_reconcile *rc, int side, snap *v, size_t n)
{
    tab fm;
    memset(&fm, 0, sizeof fm);
    fm.hdr = offsetof(entry, key);
    pool nodes;
    memset(&nodes, 0, sizeof nodes);
    int r = OHP_OK;
    const char *kf[NKEY];
    for (size_t k = 0; k < n && r == OHP_OK; k++) {
        uint32_t gen = (uint32_t)k + 1;
        bool full = v[k].info.mode == OHP_MODE_FULL || (k == 0 && v[k].info.mode < 0);
        if (full) {
            tab_iter it = {0, 0};
            for (entry *e; (e = tab_next(&fm, &it, NULL)) != NULL;)
                fold_reset(rc, e);
        }
        const ohp_snapshot_record *rec;
        int got;
        while ((got = ohp_snapshot_reader_next(v[k].r, &rec)) == 1) {
            (*lines_of(rc, side))++;
            record_key(rec, kf);
            uint32_t ref, klen;
            size_t prefix;
            bool added;
            rc->scratch.len = 0;
            if ((r = key_append(&rc->scratch, &rc->alloc, kf, 0, NULL, &klen, &prefix, NULL)) !=
                    OHP_OK ||
                (r = tab_get(&fm, &rc->alloc, rc->scratch.data, klen,
                             hash_bytes(rc->scratch.data, klen), &ref, &added)) != OHP_OK) {
                r = r == OHP_ENOMEM ? rfail(rc, r, "out of memory") : rfail(rc, r, "too many keys");
                break;
            }
            entry *e = tab_at(&fm, ref);
            if (!full && e->gen != gen)
                fold_reset(rc, e); /* an incremental line replaces the key */
            e->gen = gen;
            ohp_decimal d;
            ohp_decimal_parse(rec->primary_quantity, &d);
            if (d.zero && rec->serial_number[0] == '\0')
                continue; /* quantity 0: the key is gone (or stays empty) */
            uint16_t u = 0;
            if ((r = uom_index(rc, rec->primary_uom_code, &u)) != OHP_OK)
                break;
            if (e->uom == 0)
                e->uom = u;
            e->flags |= F_PRESENT;
            /* a line in another unit than the key's first is kept as it is */
            bool other_unit = e->uom != u;
            if (!other_unit && qty_add(&rc->big, &e->q[0], &d, &rc->alloc) != OHP_OK) {
                r = rfail(rc, OHP_ENOMEM, "out of memory");
                break;
            }
            for (int pass = 0; pass < 2 && r == OHP_OK; pass++) {
                const char *t = pass == 0 ? (other_unit ? d.text : NULL) : rec->serial_number;
                if (t == NULL || t[0] == '\0')
                    continue;
                size_t sl = strlen(t);
                snode *sn;
                uint32_t nref;
                if ((r = pool_alloc(&nodes, &rc->alloc, sizeof *sn + sl + 1, (void **)&sn,
                                    &nref)) != OHP_OK) {
                    r = r == OHP_ENOMEM ? rfail(rc, r, "out of memory")
                                        : rfail(rc, r, "too many serials");
                    break;
                }
                sn->uom = u;
                sn->serial = pass == 1;
                memcpy(sn->s, t, sl + 1);
                sn->next = e->serials;
                e->serials = nref + 1;
            }
            if (r != OHP_OK)
                break;
        }
        if (r == OHP_OK && got < 0)
            r = reader_error(rc, side, &v[k], got);
    }
    /* The folded state goes into the comparison. */
    stream_begin(rc);
    tab_iter it = {0, 0};
    for (entry *e; r == OHP_OK && (e = tab_next(&fm, &it, NULL)) != NULL;) {
        if (!(e->flags & F_PRESENT))
            continue;
        split_key(e->key, kf);
        char t[OHP_ACC_BUFSIZE];
        qin q;
        qty_text(&rc->big, &e->q[0], t);
        /* serial lines first reversed: restore the snapshot's order */
        uint32_t rev = 0;
        for (uint32_t x = e->serials; x != 0 && nodes.n > 0;) {
            snode *sn = pool_at(&nodes, x - 1);
            uint32_t nx = sn->next;
            sn->next = rev;
            rev = x;
            x = nx;
        }
        if (qin_parse(t, &q) != OHP_OK) {
            q.small = false;
            q.sum = t; /* a sum past the parser's limits */
        }
        if ((r = cmp_key(rc, kf, e->uom)) != OHP_OK ||
            (r = cmp_push(rc, side, &q, e->uom, NULL, 0)) != OHP_OK)
            break;
        /* each unit is a key of its own in the comparison */
        uint16_t cur = e->uom;
        for (uint32_t x = rev; x != 0 && r == OHP_OK;) {
            const snode *sn = pool_at(&nodes, x - 1);
            if (sn->uom != cur && (r = cmp_key(rc, kf, sn->uom)) != OHP_OK)
                break;
            cur = sn->uom;
            if (sn->serial) {
                r = cmp_push(rc, side, NULL, cur, sn->s, strlen(sn->s));
            } else {
                qin_parse(sn->s, &q); /* the reader checked it */
                r = cmp_push(rc, side, &q, cur, NULL, 0);
            }
            x = sn->next;
        }
    }
    if (r == OHP_OK)
        r = flush(rc);
    tab_free(&fm, &rc->alloc);
    pool_free(&nodes, &rc->alloc);
    return r;
}

static int load_snapshots(ohp_reconcile *rc, int side, ohp_snapshot_reader *const *readers,
                          size_t n)
{
    if (rc == NULL || readers == NULL || n == 0)
        return OHP_EINVAL;
    if (rc->loaded[side] || rc->ran)
        return rfail(rc, OHP_ESTATE, "the %s is already loaded", side_name(side));
    rc->loaded[side] = true;
    rc->errmsg[0] = '\0';
    snap *v = ohp_calloc(&rc->alloc, n, sizeof *v);
    if (v == NULL)
        return rfail(rc, OHP_ENOMEM, "out of memory");
    int r = OHP_OK;
    const char *sys = NULL, *org = NULL;
    for (size_t i = 0; i < n && r == OHP_OK; i++) {
        v[i].r = readers[i];
        v[i].pos = i;
        v[i].info.version = OHP_SNAPSHOT_INFO_VERSION;
        if (readers[i] == NULL) {
            r = rfail(rc, OHP_EINVAL, "%s, snapshot %zu: no reader", side_name(side), i + 1);
            break;
        }
        int got = ohp_snapshot_reader_info(readers[i], &v[i].info);
        if (got != OHP_OK) {
            r = reader_error(rc, side, &v[i], got);
            break;
        }
        const ohp_snapshot_info *in = &v[i].info;
        if (in->external_system_code[0]) {
            if (sys != NULL && strcmp(sys, in->external_system_code) != 0)
                r = rfail(rc, OHP_EINVAL,
                          "%s: snapshots of different external systems (%s and %s) cannot be "
                          "folded together",
                          side_name(side), sys, in->external_system_code);
            sys = in->external_system_code;
        }
        if (in->organization_code[0]) {
            if (org != NULL && strcmp(org, in->organization_code) != 0)
                r = rfail(rc, OHP_EINVAL,
                          "%s: snapshots of different organizations (%s and %s) cannot be "
                          "folded together",
                          side_name(side), org, in->organization_code);
            org = in->organization_code;
        }
        if (n > 1 && in->snapshot_date == OHP_TIME_NONE && r == OHP_OK)
            r = rfail(rc, OHP_EINVAL,
                      "%s, snapshot %zu: no data lines and no entry name to date it, cannot "
                      "place it in a chain",
                      side_name(side), i + 1);
    }
    if (r == OHP_OK) {
        qsort(v, n, sizeof *v, snap_cmp);
        for (size_t i = 1; i < n && r == OHP_OK; i++)
            if (v[i].info.snapshot_date == v[i - 1].info.snapshot_date)
                r = rfail(rc, OHP_EINVAL, "%s: snapshots %zu and %zu have the same snapshot date",
                          side_name(side), v[i - 1].pos + 1, v[i].pos + 1);
        if (r == OHP_OK && v[0].info.mode == OHP_MODE_INCREMENTAL) {
            char d[OHP_DATE_BUFSIZE] = "";
            ohp_date_format(v[0].info.snapshot_date, 0, d);
            r = rfail(rc, OHP_EINVAL,
                      "%s: snapshot %zu (INCREMENTAL of %s) has no FULL snapshot before it; a "
                      "chain starts with a FULL snapshot",
                      side_name(side), v[0].pos + 1, d);
        }
    }
    if (r == OHP_OK && side == OHP_SIDE_ERP && org != NULL &&
        (rc->erp_org = ohp_strdup(&rc->alloc, org)) == NULL)
        r = rfail(rc, OHP_ENOMEM, "out of memory");
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

OHP_EXPORT int ohp_reconcile_load_erp(ohp_reconcile *rc, ohp_snapshot_reader *const *readers,
                                      size_t n)
{
    return load_snapshots(rc, OHP_SIDE_ERP, readers, n);
}

OHP_EXPORT int ohp_reconcile_load_external(ohp_reconcile *rc, ohp_snapshot_reader *const *readers,
                                           size_t n)
{
    return load_snapshots(rc, OHP_SIDE_EXTERNAL, readers, n);
}

/* ---- the external side as a PSV with named columns ---- */

enum xcol {
    X_ORG,
    X_ITEM,
    X_REV,
    X_SUB,
    X_LOC_NAME,
    X_LOC_ID,
    X_LOT,
    X_OWNER,
    X_QTY,
    X_UOM,
    X_SERIAL,
    X_SERIALS,
    X_COUNT
};

static const char *const xcol_names[X_COUNT] = {
    "ORGANIZATION_CODE", "ITEM_NUMBER",      "REVISION",      "SUBINVENTORY_CODE",
    "LOCATOR_NAME",      "LOCATOR_ID",       "LOT_NUMBER",    "OWNING_PARTY_ID",
    "PRIMARY_QUANTITY",  "PRIMARY_UOM_CODE", "SERIAL_NUMBER", "SERIAL_NUMBERS"};

/* The other columns of layout v1 and of the balances input: known, and ignored. */
static const char *const xcol_ignored[] = {"EXTERNAL_SYSTEM_CODE",
                                           "PUBLISH_RUN_ID",
                                           "PUBLISH_MODE",
                                           "SNAPSHOT_DATE",
                                           "ORGANIZATION_ID",
                                           "INVENTORY_ITEM_ID",
                                           "LOT_EXPIRATION_DATE",
                                           "SERIAL_CONTROLLED",
                                           "SECONDARY_QUANTITY",
                                           "SECONDARY_UOM_CODE",
                                           "CONSIGNED_FLAG",
                                           "PROJECT_ID",
                                           "TASK_ID",
                                           "MATERIAL_STATUS_CODE",
                                           "LAST_UPDATE_DATE"};

/* Serial list "A,B,P001..P005": one contribution per serial at the current key. */
static int add_serial_list(ohp_reconcile *rc, uint16_t uom_ix, const char *list, uint64_t line,
                           long colno)
{
    const char *p = list;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        while (n > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            n--;
        }
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        /* a serial as long as the field (the publisher takes them up to its field limit) */
        rc->scratch.len = 0;
        if (ohp_buf_reserve(&rc->scratch, &rc->alloc, n + 1) != 0)
            return rfail(rc, OHP_ENOMEM, "out of memory");
        char *item = rc->scratch.data;
        memcpy(item, p, n);
        item[n] = '\0';
        p += comma ? (size_t)(comma - p) + 1 : strlen(p);
        if (n == 0)
            continue;
        char *dots = strstr(item, "..");
        int r;
        if (dots == NULL) {
            if ((r = cmp_push(rc, OHP_SIDE_EXTERNAL, NULL, uom_ix, item, n)) != OHP_OK)
                return r;
            continue;
        }
        *dots = '\0';
        const char *from = item, *to = dots + 2;
        /* blanks around ".." as publishing takes them: "S1 .. S3" */
        while (*to == ' ' || *to == '\t')
            to++;
        for (char *fe = dots; fe > item && (fe[-1] == ' ' || fe[-1] == '\t');)
            *--fe = '\0';
        size_t fl = strlen(from), tl = strlen(to);
        size_t w = 0;
        while (w < fl && from[fl - 1 - w] >= '0' && from[fl - 1 - w] <= '9')
            w++;
        if (w > 18)
            w = 18;
        if (fl != tl || w == 0 || strncmp(from, to, fl - w) != 0 ||
            strspn(to + fl - w, "0123456789") != w)
            return rfail(rc, OHP_EPARSE,
                         "external side: line %llu, column %ld (SERIAL_NUMBERS): invalid range "
                         "'%.40s..%.40s'",
                         (unsigned long long)line, colno, from, to);
        uint64_t lo = strtoull(from + fl - w, NULL, 10), hi = strtoull(to + fl - w, NULL, 10);
        if (hi < lo || hi - lo >= MAX_RANGE)
            return rfail(rc, OHP_EPARSE,
                         "external side: line %llu, column %ld (SERIAL_NUMBERS): range "
                         "'%.40s..%.40s' is empty or longer than %u",
                         (unsigned long long)line, colno, from, to, MAX_RANGE);
        /* item holds "from": count its last w digits up to "to", in place */
        for (uint64_t x = lo;; x++) {
            if ((r = cmp_push(rc, OHP_SIDE_EXTERNAL, NULL, uom_ix, item, fl)) != OHP_OK)
                return r;
            if (x == hi)
                break;
            for (size_t k = fl; k-- > fl - w;) {
                if (item[k] != '9') {
                    item[k]++;
                    break;
                }
                item[k] = '0';
            }
        }
    }
    return OHP_OK;
}

/* The first bytes of the external PSV, kept to explain a header that is not one. */
typedef struct sniff {
    ohp_read_fn read;
    void *user_data;
    unsigned char head[4];
    size_t nhead;
} sniff;

static int sniff_read(void *ud, void *buf, size_t cap, size_t *got)
{
    sniff *sn = ud;
    int r = sn->read(sn->user_data, buf, cap, got);
    if (r == 0) {
        size_t n = *got < cap ? *got : cap;
        for (size_t i = 0; i < n && sn->nhead < sizeof sn->head; i++)
            sn->head[sn->nhead++] = ((const unsigned char *)buf)[i];
    }
    return r;
}

static bool utf16_bom(const sniff *sn)
{
    return sn->nhead >= 2 && ((sn->head[0] == 0xff && sn->head[1] == 0xfe) ||
                              (sn->head[0] == 0xfe && sn->head[1] == 0xff));
}

#define UTF8_BOM "\xEF\xBB\xBF"
#define EXPECTED_HEADER                                                                            \
    "expected a PSV: UTF-8 text with '|' between the columns, its header naming them, such as "    \
    "ORGANIZATION_CODE|ITEM_NUMBER|SUBINVENTORY_CODE|PRIMARY_QUANTITY|PRIMARY_UOM_CODE"

/*
 * A header line of one field that is no column name: what the file looks
 * like, when it can be told (another separator), as an error.
 */
static int header_not_psv(ohp_reconcile *rc, const char *h)
{
    static const struct {
        char c;
        const char *name;
    } seps[] = {
        {',', "comma-separated (CSV)"}, {';', "semicolon-separated"}, {'\t', "tab-separated"}};
    size_t best = 0, nbest = 0;
    for (size_t k = 0; k < sizeof seps / sizeof seps[0]; k++) {
        size_t n = 1;
        for (const char *p = h; *p; p++)
            n += *p == seps[k].c;
        if (n > nbest) {
            nbest = n;
            best = k;
        }
    }
    if (nbest < 2)
        return 0;
    char sep[8];
    if (seps[best].c == '\t')
        strcpy(sep, "tab");
    else
        snprintf(sep, sizeof sep, "'%c'", seps[best].c);
    return rfail(rc, OHP_EPARSE,
                 "external side: line 1: the file looks %s: its header has no '|' and splits on %s "
                 "into %zu columns; " EXPECTED_HEADER,
                 seps[best].name, sep, nbest);
}

OHP_EXPORT int ohp_reconcile_load_external_psv(ohp_reconcile *rc, ohp_read_fn read, void *user_data)
{
    if (rc == NULL || read == NULL)
        return OHP_EINVAL;
    if (rc->loaded[OHP_SIDE_EXTERNAL] || rc->ran)
        return rfail(rc, OHP_ESTATE, "the external side is already loaded");
    rc->loaded[OHP_SIDE_EXTERNAL] = true;
    rc->errmsg[0] = '\0';
    stream_begin(rc);
    sniff sn = {read, user_data, {0}, 0};
    ohp_psv_reader *psv;
    int r = ohp_psv_reader_new(&psv, sniff_read, &sn, 0,
                               &(ohp_allocator){OHP_ALLOCATOR_VERSION, rc->alloc.malloc_fn,
                                                rc->alloc.realloc_fn, rc->alloc.free_fn,
                                                rc->alloc.opaque});
    if (r)
        return rfail(rc, r, "out of memory");
    const char *const *f;
    size_t nf;
    long idx[X_COUNT];
    int got = ohp_psv_reader_next(psv, &f, &nf);
    if (got != 1 && utf16_bom(&sn)) {
        r = rfail(rc, OHP_EPARSE,
                  "external side: line 1: the file looks UTF-16 encoded (it starts with a UTF-16 "
                  "byte order mark); " EXPECTED_HEADER);
        goto out;
    }
    if (got <= 0) {
        r = got < 0 ? rfail(rc, got, "external side: %s", ohp_psv_reader_errmsg(psv))
                    : rfail(rc, OHP_EPARSE,
                            "external side: line 1: empty input, a header line "
                            "is required");
        goto out;
    }
    for (int c = 0; c < X_COUNT; c++)
        idx[c] = -1;
    for (size_t i = 0; i < nf; i++) {
        for (int c = 0; c < X_COUNT; c++)
            /* a UTF-8 byte order mark before the first column name is skipped */
            if (strcmp(f[i] + (i == 0 && strncmp(f[i], UTF8_BOM, 3) == 0 ? 3 : 0), xcol_names[c]) ==
                0) {
                if (idx[c] >= 0) {
                    r = rfail(rc, OHP_EPARSE,
                              "external side: line 1, column %zu: column %s "
                              "appears twice",
                              i + 1, xcol_names[c]);
                    goto out;
                }
                idx[c] = (long)i;
            }
        /* A column meant but misspelt by blanks or case would be lost without a word. */
        const char *near = ohp_column_near_miss(f[i], xcol_names, X_COUNT);
        if (near == NULL)
            near = ohp_column_near_miss(f[i], xcol_ignored,
                                        sizeof xcol_ignored / sizeof xcol_ignored[0]);
        if (near != NULL) {
            r = rfail(rc, OHP_EPARSE,
                      "external side: line 1, column %zu: '%.60s' is not a column name; did "
                      "you mean %s? (names are upper case, without blanks)",
                      i + 1, f[i], near);
            goto out;
        }
    }
    static const int req[] = {X_ORG, X_ITEM, X_SUB, X_QTY, X_UOM};
    for (size_t k = 0; k < sizeof req / sizeof req[0]; k++)
        if (idx[req[k]] < 0) {
            if (utf16_bom(&sn))
                r = rfail(rc, OHP_EPARSE,
                          "external side: line 1: the file looks UTF-16 encoded (it starts with "
                          "a UTF-16 byte order mark); " EXPECTED_HEADER);
            else if (nf != 1 || (r = header_not_psv(rc, f[0])) == 0)
                r = rfail(rc, OHP_EPARSE, "external side: line 1: required column %s is missing",
                          xcol_names[req[k]]);
            goto out;
        }
    /* Key parts the file has no column for: both sides are compared without them. */
    int missing = (idx[X_REV] < 0 ? OHP_IGNORE_REVISION : 0) |
                  (idx[X_LOC_NAME] < 0 && idx[X_LOC_ID] < 0 ? OHP_IGNORE_LOCATOR : 0) |
                  (idx[X_LOT] < 0 ? OHP_IGNORE_LOT : 0) | (idx[X_OWNER] < 0 ? OHP_IGNORE_OWNER : 0);
    rc->sum.external_missing_key_parts = missing;
    if (missing & ~rc->ignore) {
        /* entries whose keys hold a value in those parts are shortened before comparing */
        if (missing & ~rc->ignore & rc->used)
            rc->rekey = true;
        rc->ignore |= missing;
    }
    size_t ncols = nf;
    while ((got = ohp_psv_reader_next(psv, &f, &nf)) == 1) {
        uint64_t line = ohp_psv_reader_line(psv);
        if (nf == 1 && f[0][0] == '\0')
            continue;
        if (nf != ncols) {
            r = rfail(rc, OHP_EPARSE,
                      "external side: line %llu, column %zu: expected %zu fields, found %zu",
                      (unsigned long long)line, nf < ncols ? nf + 1 : ncols + 1, ncols, nf);
            goto out;
        }
        const char *v[X_COUNT];
        for (int c = 0; c < X_COUNT; c++)
            v[c] = idx[c] >= 0 ? f[idx[c]] : "";
        /*
         * Another organization than the ERP side's (once known): never
         * compared, and read no further than its key (publishing skips
         * such lines unchecked too); it counts as a key of another
         * organization.
         */
        bool other =
            rc->erp_org != NULL && v[X_ORG][0] != '\0' && strcmp(v[X_ORG], rc->erp_org) != 0;
        bool ascii = other || ohp_psv_reader_row_ascii(psv);
        for (int c = 0; c < X_COUNT && !ascii; c++) {
            if (!ohp_utf8_valid(v[c], strlen(v[c]))) {
                r = rfail(rc, OHP_EPARSE,
                          "external side: line %llu, column %ld (%s): not valid UTF-8",
                          (unsigned long long)line, idx[c] + 1, xcol_names[c]);
                goto out;
            }
        }
        for (size_t k = 0; k < sizeof req / sizeof req[0] && !other; k++)
            if (v[req[k]][0] == '\0') {
                r = rfail(rc, OHP_EPARSE, "external side: line %llu, column %ld (%s): required",
                          (unsigned long long)line, idx[req[k]] + 1, xcol_names[req[k]]);
                goto out;
            }
        const char *kf[NKEY];
        ohp_key_fields(kf, v[X_ORG], v[X_ITEM], v[X_REV], v[X_SUB], v[X_LOC_NAME], v[X_LOC_ID],
                       v[X_LOT], v[X_OWNER]);
        uint16_t u;
        if (other) {
            rc->sum.external_lines++;
            if ((r = uom_index(rc, v[X_UOM], &u)) != OHP_OK || (r = cmp_key(rc, kf, u)) != OHP_OK ||
                (r = cmp_push(rc, OHP_SIDE_EXTERNAL, NULL, u, NULL, 0)) != OHP_OK)
                goto out;
            continue;
        }
        qin q;
        if (qin_parse(v[X_QTY], &q) != OHP_OK) {
            r = rfail(rc, OHP_EPARSE,
                      "external side: line %llu, column %ld (PRIMARY_QUANTITY): expected an "
                      "exact decimal, found '%.40s'",
                      (unsigned long long)line, idx[X_QTY] + 1, v[X_QTY]);
            goto out;
        }
        rc->sum.external_lines++;
        if ((r = uom_index(rc, v[X_UOM], &u)) != OHP_OK || (r = cmp_key(rc, kf, u)) != OHP_OK ||
            (r = cmp_push(rc, OHP_SIDE_EXTERNAL, &q, u, v[X_SERIAL], strlen(v[X_SERIAL]))) !=
                OHP_OK)
            goto out;
        if (v[X_SERIALS][0] &&
            (r = add_serial_list(rc, u, v[X_SERIALS], line, idx[X_SERIALS] + 1)) != OHP_OK)
            goto out;
    }
    if (got < 0)
        r = rfail(rc, got, "external side: %s", ohp_psv_reader_errmsg(psv));
    if (r == OHP_OK)
        r = flush(rc);
out:
    ohp_psv_reader_free(psv);
    if (r != OHP_OK) {
        rc->failed = true;
        rc->npending = 0;
    }
    return r;
}

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

/*
 * Order the entry references v[0, n) by key.  Keys given in key order
 * (snapshots are usually written item by item) cost one sequential pass.
 * Otherwise the 8 key bytes after the prefix all keys share are radix
 * sorted with their references, so that most keys are placed without
 * touching their records, and only the references whose 8 bytes tie are
 * ordered by their whole keys.  spare (spare_size bytes, may be NULL) is
 * memory the caller no longer needs: already mapped, it holds the first
 * of the two arrays the radix sort takes when it is large enough.
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
    size_t count[8][256];
    memset(count, 0, sizeof count);
    for (size_t i = 0; i < n; i++) {
        if (i + 16 < n)
            __builtin_prefetch((const char *)tab_at(t, v[i + 16]) + offsetof(entry, key) + lcp);
        k[i].prefix = key_prefix(tab_at(t, v[i]), lcp);
        k[i].ref = v[i];
        for (int d = 0; d < 8; d++)
            count[d][(k[i].prefix >> (8 * d)) & 0xff]++;
    }
    /* least significant byte first; a byte that is the same in every key needs no pass */
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
    for (size_t i = 0; i < n; i++)
        v[i] = (uint32_t)src[i].ref;
    /* ties on the 8 bytes: by the whole key (dst is free to hold refs) */
    uint32_t *scratch = (uint32_t *)dst;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        if (i + 16 < n)
            __builtin_prefetch(tab_at(t, v[i + 16]));
        while (j < n && src[j].prefix == src[i].prefix)
            j++;
        if (j - i > 1)
            merge_sort_refs(t, v + i, scratch, j - i);
        i = j;
    }
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
    split_key(e->key, f);
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
    qty_text(&rc->big, &e->q[s], out);
    if (s == OHP_SIDE_ERP && e->moved) {
        char m[24];
        snprintf(m, sizeof m, "%lu", (unsigned long)(e->moved & 0xffffu));
        char t[OHP_ACC_BUFSIZE];
        text_sub(out, m, t);
        strcpy(out, t);
    } else if (s == OHP_SIDE_EXTERNAL && (e->moved >> 16)) {
        char m[24];
        snprintf(m, sizeof m, "%lu", (unsigned long)(e->moved >> 16));
        char t[OHP_ACC_BUFSIZE];
        text_sub(out, m, t);
        strcpy(out, t);
    }
}

static bool within_tolerance(const ohp_reconcile *rc, const char *diff, const char *erp)
{
    const char *ad = diff[0] == '-' ? diff + 1 : diff;
    if (cmp_nonneg(ad, rc->tol_abs) <= 0)
        return true;
    if (strcmp(rc->tol_rel, "0") == 0)
        return false;
    /* |d| * 100 <= rel * |erp| */
    char lhs[2 * OHP_ACC_BUFSIZE + 2], rhs[2 * OHP_ACC_BUFSIZE + 2];
    mul_nonneg(ad, "100", lhs, sizeof lhs);
    mul_nonneg(rc->tol_rel, erp[0] == '-' ? erp + 1 : erp, rhs, sizeof rhs);
    return cmp_nonneg(lhs, rhs) <= 0;
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
    ohp_discrepancy d;
    disc_init(&d, kind);
    fill_key(&d, e0 ? e0 : e1);
    if (e0 != NULL) {
        qty_text(&rc->big, &e0->q[0], q0);
        d.erp_quantity = q0;
        d.erp_uom_code = rc->uoms[e0->uom - 1].code;
    }
    if (e1 != NULL) {
        qty_text(&rc->big, &e1->q[1], q1);
        d.external_quantity = q1;
        d.external_uom_code = rc->uoms[e1->uom - 1].code;
    }
    if (diff != NULL)
        d.difference = diff;
    return emit(rc, &d, fn, ud);
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
    size_t n0 = 0, n1 = 0, common = 0;
    bool any[2] = {false, false}, compared = false;
    for (size_t i = 0; i < n; i++) {
        entry *e = tab_at(&rc->cmp, refs[i]);
        uom *u = &rc->uoms[e->uom - 1];
        e->flags &= (uint8_t)(F_PRESENT | F_PRESENT << 1);
        for (int s = 0; s < 2; s++) {
            if (!(e->flags & (F_PRESENT << s)))
                continue;
            u->counted = true;
            if (qty_add_to(&rc->big, &u->total[s], &e->q[s], &rc->alloc) != OHP_OK)
                return rfail(rc, OHP_ENOMEM, "out of memory");
            bool raw = !qty_zero(&rc->big, &e->q[s]), has = raw;
            if (has_moves(e, s)) {
                char t[OHP_ACC_BUFSIZE];
                net_text(rc, e, s, t);
                has = strcmp(t, "0") != 0;
            }
            if (raw)
                any[s] = true;
            compared = compared || raw || has;
            e->flags |= (uint8_t)((raw ? F_RAW << s : 0) | (has ? F_HAS << s : 0));
        }
        bool h0 = (e->flags & F_HAS) != 0, h1 = (e->flags & (F_HAS << 1)) != 0;
        n0 += h0;
        n1 += h1;
        common += h0 && h1;
    }
    if (any[0])
        rc->sum.erp_keys++;
    if (any[1])
        rc->sum.external_keys++;
    if (!compared)
        return 0;
    rc->sum.keys_compared++;
    uint64_t before = rc->sum.discrepancies;
    size_t equal = 0, tolerated = 0;
    int r = 0;
    if (n0 > 0 && n1 > 0 && common == 0) {
        /* the sides hold the key in different units: the i-th unit of each side on one line */
        size_t i0 = 0, i1 = 0;
        for (;;) {
            while (i0 < n && !(((entry *)tab_at(&rc->cmp, refs[i0]))->flags & F_HAS))
                i0++;
            while (i1 < n && !(((entry *)tab_at(&rc->cmp, refs[i1]))->flags & (F_HAS << 1)))
                i1++;
            if (i0 == n && i1 == n)
                break;
            const entry *e0 = i0 < n ? tab_at(&rc->cmp, refs[i0++]) : NULL;
            const entry *e1 = i1 < n ? tab_at(&rc->cmp, refs[i1++]) : NULL;
            if ((r = emit_key(rc, OHP_DISC_UOM, e0, e1, NULL, fn, ud)) != 0)
                return r;
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            entry *e = tab_at(&rc->cmp, refs[i]);
            bool h0 = (e->flags & F_HAS) != 0, h1 = (e->flags & (F_HAS << 1)) != 0;
            if (h0 && h1) {
                if (e->moved == 0 && e->q[0].scale != QBIG && e->q[1].scale != QBIG &&
                    e->q[0].m == e->q[1].m && e->q[0].scale == e->q[1].scale) {
                    equal++; /* the common case, without formatting */
                    continue;
                }
                char n0t[OHP_ACC_BUFSIZE], n1t[OHP_ACC_BUFSIZE], diff[OHP_ACC_BUFSIZE];
                net_text(rc, e, 0, n0t);
                net_text(rc, e, 1, n1t);
                if (strcmp(n0t, n1t) == 0) {
                    equal++;
                    continue;
                }
                text_sub(n1t, n0t, diff); /* net of moved serials, as the class is decided */
                if (within_tolerance(rc, diff, n0t))
                    tolerated++;
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
    }
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
        split_key(x->key, f);
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
            qty_text(&rc->big, &rc->uoms[i].total[s], t);
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
    tab_reserve(&nt, a, rc->cmp.n);
    tab_iter it = {0, 0};
    const char *kf[NKEY];
    int r = OHP_OK;
    for (entry *e; r == OHP_OK && (e = tab_next(&rc->cmp, &it, NULL)) != NULL;) {
        split_key(e->key, kf);
        const char *unit = kf[NKEY - 1] + strlen(kf[NKEY - 1]) + 1;
        uint32_t klen, nref;
        size_t prefix;
        bool added;
        rc->scratch.len = 0;
        if ((r = key_append(&rc->scratch, a, kf, rc->ignore, unit, &klen, &prefix, NULL)) !=
                OHP_OK ||
            (r = tab_get(&nt, a, rc->scratch.data, klen, hash_bytes(rc->scratch.data, klen), &nref,
                         &added)) != OHP_OK)
            break;
        entry *x = tab_at(&nt, nref);
        if (added)
            x->uom = e->uom;
        x->flags |= e->flags;
        for (int s = 0; s < 2 && r == OHP_OK; s++)
            if ((e->flags & (F_PRESENT << s)) &&
                qty_add_to(&rc->big, &x->q[s], &e->q[s], a) != OHP_OK)
                r = OHP_ENOMEM;
        e->rank = nref;
    }
    if (r != OHP_OK) {
        tab_free(&nt, a);
        return r == OHP_ENOMEM ? rfail(rc, r, "out of memory") : rfail(rc, r, "too many keys");
    }
    it = (tab_iter){0, 0};
    for (serial *s; (s = tab_next(&rc->ser, &it, NULL)) != NULL;)
        for (int side = 0; side < 2; side++)
            if (s->entry[side] != NONE)
                s->entry[side] = ((const entry *)tab_at(&rc->cmp, s->entry[side]))->rank;
    for (size_t i = 0; i < rc->nocc; i++)
        rc->occs[i].entry = ((const entry *)tab_at(&rc->cmp, rc->occs[i].entry))->rank;
    ohp_free(a, rc->cmp.slots);
    rc->cmp.slots = NULL;
    tab_free(&rc->cmp, a);
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
        int c = key_cmp_raw(x->key, key_nounit_len(x), y->key, key_nounit_len(y));
        if (c == 0)
            *shared = true;
        else if (c < 0)
            i++;
        else
            j++;
    }
}

OHP_EXPORT int ohp_reconcile_run(ohp_reconcile *rc, ohp_discrepancy_fn report, void *user_data)
{
    if (rc == NULL)
        return OHP_EINVAL;
    if (rc->ran)
        return rfail(rc, OHP_ESTATE, "the reconciliation has already run");
    if (rc->failed)
        return rfail(rc, OHP_ESTATE, "a side failed to load; nothing to compare");
    if (!rc->loaded[0] || !rc->loaded[1])
        return rfail(rc, OHP_ESTATE, "the %s is not loaded",
                     rc->loaded[0] ? side_name(1) : side_name(0));
    rc->ran = true;
    int rk = rc->rekey ? rekey(rc) : OHP_OK;
    if (rk != OHP_OK)
        return rk;
    /* nothing is looked up any more: the slots make room for ordering the keys */
    void *spare = rc->cmp.slots;
    size_t spare_size = rc->cmp.nslots * sizeof(uint64_t);
    ohp_free(&rc->alloc, rc->ser.slots);
    rc->cmp.slots = rc->ser.slots = NULL;
    rc->cmp.nslots = rc->ser.nslots = 0;
    ohp_reconcile_summary *sum = &rc->sum;
    tab_iter it = {0, 0};
    uint32_t ref;
    if (rc->erp_org != NULL && rc->distinct[1] > 0) {
        /* serials of other organizations are not compared, nor counted */
        rc->distinct[0] = rc->distinct[1] = 0;
        for (serial *s; (s = tab_next(&rc->ser, &it, &ref)) != NULL;)
            for (int side = 0; side < 2; side++)
                rc->distinct[side] += s->count[side] && !other_org(rc, s->key);
        it = (tab_iter){0, 0};
    }
    sum->erp_serials = rc->distinct[0];
    sum->external_serials = rc->distinct[1];
    tab *m = &rc->cmp;
    int r = OHP_OK;
    uint32_t *order = NULL;
    serial_disc *sd = NULL;
    size_t nsd = 0, cap_sd = 0;
    /* occurrences of serials repeated on a side, by serial, side and key */
    for (size_t i = 0; i < rc->nocc; i++) {
        const entry *e = tab_at(m, rc->occs[i].entry);
        rc->occs[i].key = e->key;
        rc->occs[i].klen = e->klen;
    }
    if (rc->nocc > 1)
        qsort(rc->occs, rc->nocc, sizeof *rc->occs, occ_cmp);
    size_t oc = 0;
    /* Serial classes, when both sides carry serial numbers (of the ERP side's organization). */
    bool do_serials = rc->distinct[0] > 0 && rc->distinct[1] > 0;
    for (serial *s; do_serials && (s = tab_next(&rc->ser, &it, &ref)) != NULL;) {
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
        bool same, shared;
        serial_places(rc, &l[0], &l[1], &same, &shared);
        if (same)
            continue; /* the same places on both sides, duplicates included */
        serial_disc add[4];
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
            entry *from = tab_at(m, s->entry[0]), *to = tab_at(m, s->entry[1]);
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
        if (k == 0)
            continue;
        if (nsd + k > cap_sd) {
            serial_disc *p = grown(&rc->alloc, sd, &cap_sd, sizeof *p, 256);
            if (p == NULL) {
                r = rfail(rc, OHP_ENOMEM, "out of memory");
                goto out;
            }
            sd = p;
        }
        memcpy(sd + nsd, add, k * sizeof *add);
        nsd += k;
    }
    /* Keys in order. */
    order = ohp_malloc(&rc->alloc, (m->n ? m->n : 1) * sizeof *order);
    if (order == NULL) {
        r = rfail(rc, OHP_ENOMEM, "out of memory");
        goto out;
    }
    it = (tab_iter){0, 0};
    for (size_t i = 0; i < m->n; i++)
        tab_next(m, &it, &order[i]);
    r = sort_refs(m, order, m->n, rc->unordered, rc->lcp, spare, spare_size, &rc->alloc);
    ohp_free(&rc->alloc, spare);
    spare = NULL;
    if (r != OHP_OK) {
        r = rfail(rc, OHP_ENOMEM, "out of memory");
        goto out;
    }
    /* the units of one key share its rank */
    for (size_t i = 0, g = 0; i < m->n; i++) {
        entry *e = tab_at(m, order[i]);
        if (i > 0 && !same_key_nounit(tab_at(m, order[i - 1]), e))
            g++;
        e->rank = (uint32_t)g;
    }
    for (size_t i = 0; i < nsd; i++) {
        const serial *s = tab_at(&rc->ser, sd[i].serial);
        sd[i].rank = ((const entry *)tab_at(m, sd[i].rank))->rank;
        sd[i].key = s->key;
        sd[i].klen = s->klen;
    }
    if (nsd > 0)
        qsort(sd, nsd, sizeof *sd, sd_cmp);
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
    if (r != OHP_OK && rc->errmsg[0] == '\0')
        rfail(rc, r, "the discrepancy callback stopped the run (%d)", r);
    if (r == OHP_OK && finish_totals(rc) != OHP_OK)
        r = rfail(rc, OHP_ENOMEM, "out of memory");
out:
    ohp_free(&rc->alloc, spare);
    ohp_free(&rc->alloc, order);
    ohp_free(&rc->alloc, sd);
    return r;
}

OHP_EXPORT int ohp_reconcile_uom_total(const ohp_reconcile *rc, size_t i, const char **uom_code,
                                       const char **erp_total, const char **external_total)
{
    if (rc == NULL || rc->uom_text == NULL || i >= rc->nuoms)
        return OHP_EINVAL;
    if (uom_code)
        *uom_code = rc->uoms[i].code;
    if (erp_total)
        *erp_total = rc->uom_text[i * 2];
    if (external_total)
        *external_total = rc->uom_text[i * 2 + 1];
    return OHP_OK;
}
