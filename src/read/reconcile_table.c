/*
 * Keys and their tables: pools of records addressed by 32-bit references,
 * hash tables of records with their key inline, and the balance key as bytes.
 */
#include "reconcile_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *rc_grown(const ohp_alloc *a, void *arr, size_t *cap, size_t size, size_t first)
{
    size_t n = *cap ? *cap * 2 : first;
    void *p = ohp_realloc(a, arr, n * size);
    if (p != NULL)
        *cap = n;
    return p;
}

int rc_pool_alloc(pool *p, const ohp_alloc *a, size_t size, void **out, uint32_t *ref)
{
    size = (size + 7) & ~(size_t)7;
    pblock *last = p->n ? p->b[p->n - 1] : NULL;
    if (last == NULL || last->cap - last->used < size) {
        if (p->n >= POOL_MAXBLOCKS)
            return OHP_ELIMIT;
        if (p->n == p->cap) {
            pblock **nb = rc_grown(a, p->b, &p->cap, sizeof *nb, 16);
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

void rc_pool_free(pool *p, const ohp_alloc *a)
{
    for (size_t i = 0; i < p->n; i++)
        ohp_free(a, p->b[i]);
    ohp_free(a, p->b);
    memset(p, 0, sizeof *p);
}

/* ---- hash ---- */

uint32_t rc_hash(const char *p, size_t n)
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

void rc_tab_free(tab *t, const ohp_alloc *a)
{
    rc_pool_free(&t->recs, a);
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

void rc_tab_reserve(tab *t, const ohp_alloc *a, size_t n)
{
    size_t ns = slots_for(n);
    if (ns > t->nslots)
        (void)tab_resize(t, a, ns);
}

int rc_tab_append(tab *t, const ohp_alloc *a, const char *key, size_t klen, uint32_t *ref)
{
    if (klen > UINT32_MAX - t->hdr - 8)
        return OHP_ELIMIT;
    char *rec;
    int rc = rc_pool_alloc(&t->recs, a, t->hdr + klen + 1, (void **)&rec, ref);
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

int rc_tab_get(tab *t, const ohp_alloc *a, const char *key, size_t klen, uint32_t h, uint32_t *ref,
               bool *added)
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
    int rc = rc_tab_append(t, a, key, klen, ref);
    if (rc != OHP_OK)
        return rc;
    t->slots[k] = (uint64_t)h << 32 | ((uint64_t)*ref + 1);
    *added = true;
    return OHP_OK;
}

void *rc_tab_next(const tab *t, tab_iter *it, uint32_t *ref)
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

uint32_t rc_tab_after(const tab *t, uint32_t ref)
{
    size_t b = ref >> POOL_SHIFT, off = (size_t)(ref & ((1u << POOL_SHIFT) - 1)) << 3;
    const char *rec = (const char *)t->recs.b[b]->data + off;
    off += (t->hdr + rec_klen(rec) + 1 + 7) & ~(size_t)7;
    for (; b < t->recs.n; b++, off = 0)
        if (off < t->recs.b[b]->used)
            return (uint32_t)(b << POOL_SHIFT | off >> 3);
    return NONE;
}

int rc_tab_index(tab *t, const ohp_alloc *a, size_t expect)
{
    uint64_t *old;
    size_t old_n, ns = slots_for(t->n > expect ? t->n : expect);
    if (slots_replace(t, a, ns, &old, &old_n) != OHP_OK)
        return OHP_ENOMEM;
    ohp_free(a, old); /* no record had a slot */
    tab_iter it = {0, 0};
    uint32_t ref;
    for (const char *rec; (rec = rc_tab_next(t, &it, &ref)) != NULL;)
        slot_put(t->slots, ns,
                 (uint64_t)rc_hash(rec + t->hdr, rec_klen(rec)) << 32 | ((uint64_t)ref + 1));
    return OHP_OK;
}

int rc_key_append(ohp_buf *b, const ohp_alloc *a, const char *const f[NKEY], int ignore,
                  const char *unit, uint32_t *klen, size_t *prefix, int *used)
{
    /* the optional parts that hold a value (OHP_IGNORE_* bits), or'ed into *used */
    if (used != NULL)
        *used |= (f[KF_REV] && f[KF_REV][0] ? OHP_IGNORE_REVISION : 0) |
                 (f[KF_LOC] && f[KF_LOC][0] ? OHP_IGNORE_LOCATOR : 0) |
                 (f[KF_LOT] && f[KF_LOT][0] ? OHP_IGNORE_LOT : 0) |
                 (f[KF_OWNER] && f[KF_OWNER][0] ? OHP_IGNORE_OWNER : 0);
    /* Room for the usual key; a longer one is measured and the room rc_grown. */
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

void rc_split_key(const char *key, const char *f[NKEY])
{
    for (int i = 0; i < NKEY; i++) {
        f[i] = key;
        key += strlen(key) + 1;
    }
}

uint32_t rc_key_nounit_len(const entry *e)
{
    uint32_t n = e->klen;
    while (n > 0 && e->key[n - 1] != '\0')
        n--;
    return n > 0 ? n - 1 : 0;
}

bool rc_same_key_nounit(const entry *x, const entry *y)
{
    uint32_t xl = rc_key_nounit_len(x);
    return xl == rc_key_nounit_len(y) && memcmp(x->key, y->key, xl) == 0;
}
