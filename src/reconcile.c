/* Reconciliation: fold snapshot chains and compare the ERP side with the external side. */
#include "ohp_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NKEY 7
enum { KF_ORG, KF_ITEM, KF_REV, KF_SUB, KF_LOC, KF_LOT, KF_OWNER };

#define NONE UINT32_MAX
#define ARENA_BLOCK (1u << 20)
#define MAX_RANGE 1000000u

/* ---- arena of strings ---- */

typedef struct block {
    struct block *next;
    size_t used, cap;
    char data[];
} block;

typedef struct arena {
    block *head;
} arena;

static char *arena_alloc(arena *ar, const ohp_alloc *a, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    if (ar->head == NULL || ar->head->cap - ar->head->used < n) {
        size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        block *b = ohp_malloc(a, sizeof *b + cap);
        if (b == NULL)
            return NULL;
        b->next = ar->head;
        b->used = 0;
        b->cap = cap;
        ar->head = b;
    }
    char *p = ar->head->data + ar->head->used;
    ar->head->used += n;
    return p;
}

static void arena_free(arena *ar, const ohp_alloc *a)
{
    for (block *b = ar->head; b != NULL;) {
        block *n = b->next;
        ohp_free(a, b);
        b = n;
    }
    ar->head = NULL;
}

/* ---- exact quantities: a 64-bit mantissa and a scale, or an accumulator ---- */

typedef struct qty {
    int64_t m;
    uint8_t scale;
    ohp_acc *big; /* non-NULL: the value lives here */
} qty;

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

static void qty_text(const qty *q, char out[OHP_ACC_BUFSIZE])
{
    if (q->big)
        ohp_acc_format(q->big, out);
    else
        small_text(q->m, q->scale, out);
}

static int qty_add(qty *q, const ohp_decimal *d, const ohp_alloc *a)
{
    if (d->zero)
        return OHP_OK;
    if (q->big == NULL) {
        int64_t m;
        uint8_t s;
        if (dec_small(d, &m, &s)) {
            int64_t x = q->m, y = m;
            uint8_t sc = q->scale > s ? q->scale : s;
            if (!__builtin_mul_overflow(x, pow10_tab[sc - q->scale], &x) &&
                !__builtin_mul_overflow(y, pow10_tab[sc - s], &y) &&
                !__builtin_add_overflow(x, y, &x)) {
                q->m = x;
                q->scale = sc;
                return OHP_OK;
            }
        }
        ohp_acc *acc = ohp_calloc(a, 1, sizeof *acc);
        if (acc == NULL)
            return OHP_ENOMEM;
        char t[48];
        small_text(q->m, q->scale, t);
        ohp_decimal cur;
        ohp_decimal_parse(t, &cur);
        ohp_acc_add(acc, &cur);
        q->big = acc;
    }
    ohp_acc_add(q->big, d);
    return OHP_OK;
}

/* Add a quantity to a UOM total. */
static int qty_add_to(qty *total, const qty *q, const ohp_alloc *a)
{
    if (q->big == NULL) {
        ohp_decimal d;
        char t[48];
        if (total->big == NULL) {
            int64_t x = total->m, y = q->m;
            uint8_t sc = total->scale > q->scale ? total->scale : q->scale;
            if (!__builtin_mul_overflow(x, pow10_tab[sc - total->scale], &x) &&
                !__builtin_mul_overflow(y, pow10_tab[sc - q->scale], &y) &&
                !__builtin_add_overflow(x, y, &x)) {
                total->m = x;
                total->scale = sc;
                return OHP_OK;
            }
        }
        small_text(q->m, q->scale, t);
        ohp_decimal_parse(t, &d);
        return qty_add(total, &d, a);
    }
    char t[OHP_ACC_BUFSIZE];
    ohp_acc_format(q->big, t);
    ohp_decimal d;
    ohp_decimal_parse(t, &d);
    return qty_add(total, &d, a);
}

static bool qty_zero(const qty *q)
{
    if (q->big == NULL)
        return q->m == 0;
    char t[OHP_ACC_BUFSIZE];
    ohp_acc_format(q->big, t);
    return strcmp(t, "0") == 0;
}

static void qty_clear(qty *q, const ohp_alloc *a)
{
    ohp_free(a, q->big);
    q->big = NULL;
    q->m = 0;
    q->scale = 0;
}

/* a - b exactly, both canonical texts. */
static void text_sub(const char *x, const char *y, char out[OHP_ACC_BUFSIZE])
{
    ohp_acc acc;
    memset(&acc, 0, sizeof acc);
    ohp_decimal d;
    if (ohp_decimal_parse(x, &d) == OHP_OK)
        ohp_acc_add(&acc, &d);
    char neg[OHP_ACC_BUFSIZE + 1];
    if (y[0] == '-')
        snprintf(neg, sizeof neg, "%s", y + 1);
    else
        snprintf(neg, sizeof neg, "-%s", y);
    if (ohp_decimal_parse(neg, &d) == OHP_OK)
        ohp_acc_add(&acc, &d);
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
    char da[80], db[80];
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
    unsigned prod[160];
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
    char tmp[200];
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

/* ---- balance entries (one per key) ---- */

typedef struct snode {
    struct snode *next;
    char s[];
} snode;

typedef struct entry {
    const char *key; /* NUL-separated key fields, NUL-terminated */
    uint32_t klen;
    uint32_t hash;
    qty q[2];
    uint16_t uom[2]; /* UOM index + 1, 0: none */
    uint8_t present[2];
    uint8_t uom_conflict[2];
    uint32_t gen;   /* folding: the snapshot that last replaced the key */
    uint32_t moved; /* serials counted here on one side, at another key on the other */
    snode *serials; /* folding: the key's serial numbers */
} entry;

#define CHUNK_BITS 16
#define CHUNK (1u << CHUNK_BITS)

/* Entries live in fixed chunks: growing never moves them. */
typedef struct map {
    entry **chunks;
    size_t nchunks;
    size_t n;
    uint64_t *slots; /* hash << 32 | (entry index + 1), 0: empty */
    size_t nslots;
    arena keys;
} map;

static inline entry *E(const map *m, size_t i)
{
    return &m->chunks[i >> CHUNK_BITS][i & (CHUNK - 1)];
}

static void map_free(map *m, const ohp_alloc *a)
{
    for (size_t i = 0; i < m->n; i++) {
        ohp_free(a, E(m, i)->q[0].big);
        ohp_free(a, E(m, i)->q[1].big);
    }
    for (size_t i = 0; i < m->nchunks; i++)
        ohp_free(a, m->chunks[i]);
    ohp_free(a, m->chunks);
    ohp_free(a, m->slots);
    arena_free(&m->keys, a);
    memset(m, 0, sizeof *m);
}

static int map_grow(map *m, const ohp_alloc *a)
{
    size_t ns = m->nslots ? m->nslots * 2 : 1024;
    uint64_t *s = ohp_calloc(a, ns, sizeof *s);
    if (s == NULL)
        return OHP_ENOMEM;
    for (size_t j = 0; j < m->nslots; j++) {
        uint64_t v = m->slots[j];
        if (v == 0)
            continue;
        size_t k = (uint32_t)(v >> 32) & (ns - 1);
        while (s[k])
            k = (k + 1) & (ns - 1);
        s[k] = v;
    }
    ohp_free(a, m->slots);
    m->slots = s;
    m->nslots = ns;
    return OHP_OK;
}

/* Size the slots for about n keys (a hint: failure is harmless). */
static void map_reserve(map *m, const ohp_alloc *a, size_t n)
{
    while (m->nslots < n * 2 && n < ((size_t)1 << 28))
        if (map_grow(m, a) != OHP_OK)
            return;
}

/* Find or add the key; *idx is its entry. */
static int map_get_h(map *m, const ohp_alloc *a, const char *key, size_t klen, uint32_t h,
                     uint32_t *idx)
{
    if ((m->n + 1) * 2 > m->nslots && map_grow(m, a) != OHP_OK)
        return OHP_ENOMEM;
    size_t k = h & (m->nslots - 1);
    while (m->slots[k]) {
        if ((uint32_t)(m->slots[k] >> 32) == h) {
            uint32_t i = (uint32_t)m->slots[k] - 1;
            entry *e = E(m, i);
            if (e->klen == klen && memcmp(e->key, key, klen) == 0) {
                *idx = i;
                return OHP_OK;
            }
        }
        k = (k + 1) & (m->nslots - 1);
    }
    if (m->n >= NONE - 1)
        return OHP_ELIMIT;
    if (m->n == m->nchunks * CHUNK) {
        entry **nc = ohp_realloc(a, m->chunks, (m->nchunks + 1) * sizeof *nc);
        if (nc == NULL)
            return OHP_ENOMEM;
        m->chunks = nc;
        if ((nc[m->nchunks] = ohp_malloc(a, CHUNK * sizeof(entry))) == NULL)
            return OHP_ENOMEM;
        m->nchunks++;
    }
    char *kc = arena_alloc(&m->keys, a, klen + 1);
    if (kc == NULL)
        return OHP_ENOMEM;
    memcpy(kc, key, klen);
    kc[klen] = '\0';
    entry *e = E(m, m->n);
    memset(e, 0, sizeof *e);
    e->key = kc;
    e->klen = (uint32_t)klen;
    e->hash = h;
    m->slots[k] = (uint64_t)h << 32 | ((uint32_t)m->n + 1);
    *idx = (uint32_t)m->n++;
    return OHP_OK;
}

static int map_get(map *m, const ohp_alloc *a, const char *key, size_t klen, uint32_t *idx)
{
    return map_get_h(m, a, key, klen, hash_bytes(key, klen), idx);
}

/* ---- serial numbers (identity: organization, item, serial) ---- */

typedef struct serial {
    const char *key;
    uint32_t klen;
    uint32_t hash;
    uint32_t entry[2]; /* the key where each side has it first */
    uint32_t count[2];
} serial;

typedef struct serials {
    serial *s;
    size_t n, cap;
    uint64_t *slots;
    size_t nslots;
    arena keys;
    uint64_t distinct[2];
} serials;

static void serials_free(serials *t, const ohp_alloc *a)
{
    ohp_free(a, t->s);
    ohp_free(a, t->slots);
    arena_free(&t->keys, a);
    memset(t, 0, sizeof *t);
}

static int serials_get(serials *t, const ohp_alloc *a, const char *key, size_t klen, uint32_t *idx)
{
    if ((t->n + 1) * 2 > t->nslots) {
        size_t ns = t->nslots ? t->nslots * 2 : 1024;
        uint64_t *sl = ohp_calloc(a, ns, sizeof *sl);
        if (sl == NULL)
            return OHP_ENOMEM;
        for (size_t i = 0; i < t->n; i++) {
            size_t k = t->s[i].hash & (ns - 1);
            while (sl[k])
                k = (k + 1) & (ns - 1);
            sl[k] = (uint64_t)t->s[i].hash << 32 | ((uint32_t)i + 1);
        }
        ohp_free(a, t->slots);
        t->slots = sl;
        t->nslots = ns;
    }
    uint32_t h = hash_bytes(key, klen);
    size_t k = h & (t->nslots - 1);
    while (t->slots[k]) {
        if ((uint32_t)(t->slots[k] >> 32) == h) {
            uint32_t i = (uint32_t)t->slots[k] - 1;
            serial *s = &t->s[i];
            if (s->klen == klen && memcmp(s->key, key, klen) == 0) {
                *idx = i;
                return OHP_OK;
            }
        }
        k = (k + 1) & (t->nslots - 1);
    }
    if (t->n >= NONE - 1)
        return OHP_ELIMIT;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        serial *ns = ohp_realloc(a, t->s, cap * sizeof *ns);
        if (ns == NULL)
            return OHP_ENOMEM;
        t->s = ns;
        t->cap = cap;
    }
    char *kc = arena_alloc(&t->keys, a, klen + 1);
    if (kc == NULL)
        return OHP_ENOMEM;
    memcpy(kc, key, klen);
    kc[klen] = '\0';
    serial *s = &t->s[t->n];
    s->key = kc;
    s->klen = (uint32_t)klen;
    s->hash = h;
    s->entry[0] = s->entry[1] = NONE;
    s->count[0] = s->count[1] = 0;
    t->slots[k] = (uint64_t)h << 32 | ((uint32_t)t->n + 1);
    *idx = (uint32_t)t->n++;
    return OHP_OK;
}

/* ---- the handle ---- */

typedef struct uom {
    char *code;
    qty total[2];
} uom;

typedef struct serial_disc {
    uint32_t rank; /* the entry index, then its rank in key order */
    uint32_t serial;
    uint8_t kind;
    uint8_t side;
    const char *key; /* the serial's identity, for sorting */
    uint32_t klen;
} serial_disc;

/*
 * Contributions wait in a small batch so that the hash slots of the next
 * keys are prefetched while earlier ones are applied: with a million keys
 * the slot array is far larger than the caches.
 */
#define BATCH 32

typedef struct pend {
    size_t key, klen, prefix; /* offsets into text; prefix: organization and item */
    size_t uom, serial;       /* offsets; serial SIZE_MAX: none */
    uint32_t hash;
    int side;
    bool has_q;
    ohp_decimal q;
} pend;

struct ohp_reconcile {
    ohp_alloc alloc;
    pend pending[BATCH];
    size_t npending;
    ohp_buf text;
    int ignore;
    char tol_abs[OHP_QTY_BUFSIZE];
    char tol_rel[OHP_QTY_BUFSIZE];
    char *erp_org; /* the ERP side's organization, once known */
    map cmp;
    serials ser;
    uom *uoms;
    size_t nuoms, cap_uoms;
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
    if (opt != NULL && (opt->ignore & ~(OHP_IGNORE_REVISION | OHP_IGNORE_LOCATOR | OHP_IGNORE_LOT)))
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
    r->sum.version = OHP_RECONCILE_SUMMARY_VERSION;
    *out = r;
    return OHP_OK;
}

OHP_EXPORT void ohp_reconcile_free(ohp_reconcile *rc)
{
    if (rc == NULL)
        return;
    ohp_alloc a = rc->alloc;
    map_free(&rc->cmp, &a);
    serials_free(&rc->ser, &a);
    for (size_t i = 0; i < rc->nuoms; i++) {
        ohp_free(&a, rc->uoms[i].code);
        ohp_free(&a, rc->uoms[i].total[0].big);
        ohp_free(&a, rc->uoms[i].total[1].big);
    }
    ohp_free(&a, rc->uoms);
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
    static const ohp_reconcile_summary empty = {
        OHP_RECONCILE_SUMMARY_VERSION, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    return rc ? &rc->sum : &empty;
}

static int uom_index(ohp_reconcile *rc, const char *code, uint16_t *out)
{
    if (rc->last_uom < rc->nuoms && strcmp(rc->uoms[rc->last_uom].code, code) == 0) {
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
        size_t cap = rc->cap_uoms ? rc->cap_uoms * 2 : 8;
        uom *u = ohp_realloc(&rc->alloc, rc->uoms, cap * sizeof *u);
        if (u == NULL)
            return OHP_ENOMEM;
        rc->uoms = u;
        rc->cap_uoms = cap;
    }
    uom *u = &rc->uoms[rc->nuoms];
    memset(u, 0, sizeof *u);
    u->code = ohp_strdup(&rc->alloc, code);
    if (u->code == NULL)
        return OHP_ENOMEM;
    rc->last_uom = rc->nuoms++;
    *out = (uint16_t)rc->nuoms;
    return OHP_OK;
}

/* Key text: the fields joined with NUL bytes. */
static int build_key(ohp_reconcile *rc, const char *const f[NKEY], int ignore)
{
    size_t len[NKEY], total = NKEY;
    const char *s[NKEY];
    for (int i = 0; i < NKEY; i++) {
        s[i] = f[i] ? f[i] : "";
        if ((i == KF_REV && (ignore & OHP_IGNORE_REVISION)) ||
            (i == KF_LOC && (ignore & OHP_IGNORE_LOCATOR)) ||
            (i == KF_LOT && (ignore & OHP_IGNORE_LOT)))
            s[i] = "";
        len[i] = strlen(s[i]);
        total += len[i];
    }
    ohp_buf *b = &rc->scratch;
    b->len = 0;
    if (ohp_buf_reserve(b, &rc->alloc, total) != 0)
        return OHP_ENOMEM;
    char *o = b->data;
    for (int i = 0; i < NKEY; i++) {
        memcpy(o, s[i], len[i]);
        o += len[i];
        *o++ = '\0';
    }
    b->len = total - 1; /* without the last NUL */
    return OHP_OK;
}

static void split_key(const char *key, const char *f[NKEY])
{
    for (int i = 0; i < NKEY; i++) {
        f[i] = key;
        key += strlen(key) + 1;
    }
}

/* Apply one waiting contribution. */
static int apply(ohp_reconcile *rc, const pend *p)
{
    int r;
    uint32_t idx;
    const char *text = rc->text.data;
    int side = p->side;
    if ((r = map_get_h(&rc->cmp, &rc->alloc, text + p->key, p->klen, p->hash, &idx)) != OHP_OK)
        return r == OHP_ENOMEM ? rfail(rc, r, "out of memory") : rfail(rc, r, "too many keys");
    entry *e = E(&rc->cmp, idx);
    uint16_t u;
    if ((r = uom_index(rc, text + p->uom, &u)) != OHP_OK)
        return r;
    e->present[side] = 1;
    if (e->uom[side] == 0)
        e->uom[side] = u;
    else if (e->uom[side] != u)
        e->uom_conflict[side] = 1;
    if (p->has_q && qty_add(&e->q[side], &p->q, &rc->alloc) != OHP_OK)
        return rfail(rc, OHP_ENOMEM, "out of memory");
    if (p->serial != SIZE_MAX) {
        ohp_buf *b = &rc->scratch;
        const char *sn = text + p->serial;
        b->len = 0;
        if (ohp_buf_append(b, &rc->alloc, text + p->key, p->prefix) ||
            ohp_buf_append(b, &rc->alloc, sn, strlen(sn)))
            return rfail(rc, OHP_ENOMEM, "out of memory");
        uint32_t si;
        if ((r = serials_get(&rc->ser, &rc->alloc, b->data, b->len, &si)) != OHP_OK)
            return r == OHP_ENOMEM ? rfail(rc, r, "out of memory")
                                   : rfail(rc, r, "too many serials");
        serial *s = &rc->ser.s[si];
        if (s->count[side]++ == 0) {
            s->entry[side] = idx;
            rc->ser.distinct[side]++;
        }
    }
    return OHP_OK;
}

/* Apply every waiting contribution. */
static int flush(ohp_reconcile *rc)
{
    int r = OHP_OK;
    for (size_t i = 0; i < rc->npending && r == OHP_OK; i++)
        r = apply(rc, &rc->pending[i]);
    rc->npending = 0;
    rc->text.len = 0;
    return r;
}

static int text_add(ohp_reconcile *rc, const char *s, size_t *off)
{
    *off = rc->text.len;
    return ohp_buf_append(&rc->text, &rc->alloc, s, strlen(s) + 1);
}

/* One contribution to the comparison: a quantity and optionally one serial. */
static int cmp_add(ohp_reconcile *rc, int side, const char *const kf[NKEY], const ohp_decimal *q,
                   const char *uom_code, const char *serial_no)
{
    int r;
    if (rc->npending == BATCH && (r = flush(rc)) != OHP_OK)
        return r;
    if ((r = build_key(rc, kf, rc->ignore)) != OHP_OK)
        return rfail(rc, r, "out of memory");
    pend *p = &rc->pending[rc->npending];
    p->key = rc->text.len;
    p->klen = rc->scratch.len;
    p->prefix = strlen(kf[KF_ORG]) + 1 + strlen(kf[KF_ITEM]) + 1;
    p->hash = hash_bytes(rc->scratch.data, rc->scratch.len);
    p->side = side;
    p->has_q = q != NULL;
    if (q != NULL)
        p->q = *q;
    p->serial = SIZE_MAX;
    if (ohp_buf_append(&rc->text, &rc->alloc, rc->scratch.data, rc->scratch.len + 1) ||
        text_add(rc, uom_code, &p->uom) ||
        (serial_no != NULL && serial_no[0] != '\0' && text_add(rc, serial_no, &p->serial)))
        return rfail(rc, OHP_ENOMEM, "out of memory");
    if (rc->cmp.nslots)
        __builtin_prefetch(&rc->cmp.slots[p->hash & (rc->cmp.nslots - 1)]);
    rc->npending++;
    return OHP_OK;
}

static void record_key(const ohp_snapshot_record *rec, const char *kf[NKEY])
{
    kf[KF_ORG] = rec->organization_code;
    kf[KF_ITEM] = rec->item_number;
    kf[KF_REV] = rec->revision;
    kf[KF_SUB] = rec->subinventory_code;
    kf[KF_LOC] = rec->locator_name[0] ? rec->locator_name : rec->locator_id;
    kf[KF_LOT] = rec->lot_number;
    kf[KF_OWNER] = rec->owning_party_id;
}

static const char *side_name(int side)
{
    return side == OHP_SIDE_ERP ? "ERP side" : "external side";
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
    /* about 200 bytes per line in layout v1; both sides share the map */
    map_reserve(&rc->cmp, &rc->alloc, (size_t)(ohp_snapshot_reader_size_hint(s->r) / 200));
    while ((got = ohp_snapshot_reader_next(s->r, &rec)) == 1) {
        (*lines_of(rc, side))++;
        ohp_decimal d;
        ohp_decimal_parse(rec->primary_quantity, &d);
        record_key(rec, kf);
        int r = cmp_add(rc, side, kf, &d, rec->primary_uom_code, rec->serial_number);
        if (r)
            return r;
    }
    return got < 0 ? reader_error(rc, side, s, got) : flush(rc);
}

static void fold_reset(entry *e, const ohp_alloc *a)
{
    qty_clear(&e->q[0], a);
    e->serials = NULL;
    e->present[0] = 0;
    e->uom[0] = 0;
    e->uom_conflict[0] = 0;
}

static int load_fold(ohp_reconcile *rc, int side, snap *v, size_t n)
{
    map fm;
    memset(&fm, 0, sizeof fm);
    arena nodes = {NULL};
    int r = OHP_OK;
    const char *kf[NKEY];
    for (size_t k = 0; k < n && r == OHP_OK; k++) {
        uint32_t gen = (uint32_t)k + 1;
        bool full = v[k].info.mode == OHP_MODE_FULL || (k == 0 && v[k].info.mode < 0);
        if (full) {
            for (size_t i = 0; i < fm.n; i++)
                fold_reset(E(&fm, i), &rc->alloc);
        }
        const ohp_snapshot_record *rec;
        int got;
        while ((got = ohp_snapshot_reader_next(v[k].r, &rec)) == 1) {
            (*lines_of(rc, side))++;
            record_key(rec, kf);
            uint32_t idx;
            if ((r = build_key(rc, kf, 0)) != OHP_OK ||
                (r = map_get(&fm, &rc->alloc, rc->scratch.data, rc->scratch.len, &idx)) != OHP_OK) {
                r = rfail(rc, r, "out of memory");
                break;
            }
            entry *e = E(&fm, idx);
            if (!full && e->gen != gen)
                fold_reset(e, &rc->alloc); /* an incremental line replaces the key */
            e->gen = gen;
            ohp_decimal d;
            ohp_decimal_parse(rec->primary_quantity, &d);
            if (d.zero && rec->serial_number[0] == '\0')
                continue; /* quantity 0: the key is gone (or stays empty) */
            uint16_t u;
            if ((r = uom_index(rc, rec->primary_uom_code, &u)) != OHP_OK)
                break;
            if (e->uom[0] == 0)
                e->uom[0] = u;
            else if (e->uom[0] != u)
                e->uom_conflict[0] = 1;
            e->present[0] = 1;
            if (qty_add(&e->q[0], &d, &rc->alloc) != OHP_OK) {
                r = rfail(rc, OHP_ENOMEM, "out of memory");
                break;
            }
            if (rec->serial_number[0] != '\0') {
                size_t sl = strlen(rec->serial_number);
                snode *sn = (snode *)arena_alloc(&nodes, &rc->alloc, sizeof *sn + sl + 1);
                if (sn == NULL) {
                    r = rfail(rc, OHP_ENOMEM, "out of memory");
                    break;
                }
                memcpy(sn->s, rec->serial_number, sl + 1);
                sn->next = e->serials;
                e->serials = sn;
            }
        }
        if (r == OHP_OK && got < 0)
            r = reader_error(rc, side, &v[k], got);
    }
    /* The folded state goes into the comparison. */
    for (size_t i = 0; i < fm.n && r == OHP_OK; i++) {
        entry *e = E(&fm, i);
        if (!e->present[0])
            continue;
        split_key(e->key, kf);
        char t[OHP_ACC_BUFSIZE];
        qty_text(&e->q[0], t);
        ohp_decimal d;
        ohp_decimal_parse(t, &d);
        const char *code = rc->uoms[e->uom[0] - 1].code;
        /* serial lines first reversed: restore the snapshot's order */
        snode *rev = NULL;
        for (snode *sn = e->serials; sn != NULL;) {
            snode *nx = sn->next;
            sn->next = rev;
            rev = sn;
            sn = nx;
        }
        if ((r = cmp_add(rc, side, kf, &d, code, NULL)) != OHP_OK)
            break;
        for (snode *sn = rev; sn != NULL && r == OHP_OK; sn = sn->next)
            r = cmp_add(rc, side, kf, NULL, code, sn->s);
    }
    if (r == OHP_OK)
        r = flush(rc);
    map_free(&fm, &rc->alloc);
    arena_free(&nodes, &rc->alloc);
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

/* Serial list "A,B,P001..P005": calls cmp_add for each serial. */
static int add_serial_list(ohp_reconcile *rc, const char *const kf[NKEY], const char *uom_code,
                           const char *list, uint64_t line, long colno)
{
    char item[512];
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
        if (n >= sizeof item)
            return rfail(rc, OHP_EPARSE,
                         "external side: line %llu, column %ld (SERIAL_NUMBERS): serial longer "
                         "than %zu bytes",
                         (unsigned long long)line, colno, sizeof item - 1);
        memcpy(item, p, n);
        item[n] = '\0';
        p += comma ? (size_t)(comma - p) + 1 : strlen(p);
        if (n == 0)
            continue;
        char *dots = strstr(item, "..");
        int r;
        if (dots == NULL) {
            if ((r = cmp_add(rc, OHP_SIDE_EXTERNAL, kf, NULL, uom_code, item)) != OHP_OK)
                return r;
            continue;
        }
        *dots = '\0';
        const char *from = item, *to = dots + 2;
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
        char buf[512];
        for (uint64_t x = lo;; x++) {
            snprintf(buf, sizeof buf, "%.*s%0*llu", (int)(fl - w), from, (int)w,
                     (unsigned long long)x);
            if ((r = cmp_add(rc, OHP_SIDE_EXTERNAL, kf, NULL, uom_code, buf)) != OHP_OK)
                return r;
            if (x == hi)
                break;
        }
    }
    return OHP_OK;
}

OHP_EXPORT int ohp_reconcile_load_external_psv(ohp_reconcile *rc, ohp_read_fn read, void *user_data)
{
    if (rc == NULL || read == NULL)
        return OHP_EINVAL;
    if (rc->loaded[OHP_SIDE_EXTERNAL] || rc->ran)
        return rfail(rc, OHP_ESTATE, "the external side is already loaded");
    rc->loaded[OHP_SIDE_EXTERNAL] = true;
    rc->errmsg[0] = '\0';
    ohp_psv_reader *psv;
    int r = ohp_psv_reader_new(&psv, read, user_data, 0,
                               &(ohp_allocator){OHP_ALLOCATOR_VERSION, rc->alloc.malloc_fn,
                                                rc->alloc.realloc_fn, rc->alloc.free_fn,
                                                rc->alloc.opaque});
    if (r)
        return rfail(rc, r, "out of memory");
    const char *const *f;
    size_t nf;
    long idx[X_COUNT];
    int got = ohp_psv_reader_next(psv, &f, &nf);
    if (got <= 0) {
        r = got < 0 ? rfail(rc, got, "external side: %s", ohp_psv_reader_errmsg(psv))
                    : rfail(rc, OHP_EPARSE,
                            "external side: line 1: empty input, a header line "
                            "is required");
        goto out;
    }
    for (int c = 0; c < X_COUNT; c++)
        idx[c] = -1;
    for (size_t i = 0; i < nf; i++)
        for (int c = 0; c < X_COUNT; c++)
            if (strcmp(f[i], xcol_names[c]) == 0) {
                if (idx[c] >= 0) {
                    r = rfail(rc, OHP_EPARSE,
                              "external side: line 1, column %zu: column %s "
                              "appears twice",
                              i + 1, xcol_names[c]);
                    goto out;
                }
                idx[c] = (long)i;
            }
    static const int req[] = {X_ORG, X_ITEM, X_SUB, X_QTY, X_UOM};
    for (size_t k = 0; k < sizeof req / sizeof req[0]; k++)
        if (idx[req[k]] < 0) {
            r = rfail(rc, OHP_EPARSE, "external side: line 1: required column %s is missing",
                      xcol_names[req[k]]);
            goto out;
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
        for (int c = 0; c < X_COUNT; c++) {
            if (!ohp_utf8_valid(v[c], strlen(v[c]))) {
                r = rfail(rc, OHP_EPARSE,
                          "external side: line %llu, column %ld (%s): not valid UTF-8",
                          (unsigned long long)line, idx[c] + 1, xcol_names[c]);
                goto out;
            }
        }
        for (size_t k = 0; k < sizeof req / sizeof req[0]; k++)
            if (v[req[k]][0] == '\0') {
                r = rfail(rc, OHP_EPARSE, "external side: line %llu, column %ld (%s): required",
                          (unsigned long long)line, idx[req[k]] + 1, xcol_names[req[k]]);
                goto out;
            }
        ohp_decimal d;
        if (ohp_decimal_parse(v[X_QTY], &d) != OHP_OK) {
            r = rfail(rc, OHP_EPARSE,
                      "external side: line %llu, column %ld (PRIMARY_QUANTITY): expected an "
                      "exact decimal, found '%.40s'",
                      (unsigned long long)line, idx[X_QTY] + 1, v[X_QTY]);
            goto out;
        }
        rc->sum.external_lines++;
        const char *kf[NKEY] = {
            v[X_ORG], v[X_ITEM], v[X_REV], v[X_SUB], v[X_LOC_NAME][0] ? v[X_LOC_NAME] : v[X_LOC_ID],
            v[X_LOT], v[X_OWNER]};
        /* a key with only a zero quantity and no serial is no balance */
        if ((r = cmp_add(rc, OHP_SIDE_EXTERNAL, kf, &d, v[X_UOM], v[X_SERIAL])) != OHP_OK)
            goto out;
        if (v[X_SERIALS][0] && (r = add_serial_list(rc, kf, v[X_UOM], v[X_SERIALS], line,
                                                    idx[X_SERIALS] + 1)) != OHP_OK)
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

static int entry_cmp(const void *a, const void *b)
{
    const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(x->key, y->key, n);
    if (c)
        return c;
    return x->klen < y->klen ? -1 : x->klen > y->klen;
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
static void net_text(const entry *e, int s, char out[OHP_ACC_BUFSIZE])
{
    qty_text(&e->q[s], out);
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
    char lhs[200], rhs[200];
    mul_nonneg(ad, "100", lhs, sizeof lhs);
    mul_nonneg(rc->tol_rel, erp[0] == '-' ? erp + 1 : erp, rhs, sizeof rhs);
    return cmp_nonneg(lhs, rhs) <= 0;
}

/* Is the key (or serial identity) in another organization than the ERP side's? */
static bool other_org(const ohp_reconcile *rc, const char *key)
{
    return rc->erp_org != NULL && strcmp(key, rc->erp_org) != 0;
}

static int compare_key(ohp_reconcile *rc, entry *e, ohp_discrepancy_fn fn, void *ud)
{
    if (other_org(rc, e->key)) {
        rc->sum.external_other_organization++;
        return 0;
    }
    bool has[2];
    for (int s = 0; s < 2; s++) {
        has[s] = e->present[s] && !qty_zero(&e->q[s]);
        if (has[s] && qty_add_to(&rc->uoms[e->uom[s] - 1].total[s], &e->q[s], &rc->alloc) != OHP_OK)
            return rfail(rc, OHP_ENOMEM, "out of memory");
    }
    if (has[0])
        rc->sum.erp_keys++;
    if (has[1])
        rc->sum.external_keys++;
    if (!has[0] && !has[1])
        return 0;
    rc->sum.keys_compared++;
    char q0[OHP_ACC_BUFSIZE], q1[OHP_ACC_BUFSIZE], n0[OHP_ACC_BUFSIZE], n1[OHP_ACC_BUFSIZE];
    const char *u0 = e->uom[0] ? rc->uoms[e->uom[0] - 1].code : "";
    const char *u1 = e->uom[1] ? rc->uoms[e->uom[1] - 1].code : "";
    ohp_discrepancy d;
    if (has[0] && has[1] && !e->uom_conflict[0] && !e->uom_conflict[1] && e->uom[0] == e->uom[1] &&
        e->moved == 0 && e->q[0].big == NULL && e->q[1].big == NULL && e->q[0].m == e->q[1].m &&
        e->q[0].scale == e->q[1].scale) {
        rc->sum.matched++; /* the common case, without formatting */
        return 0;
    }
    qty_text(&e->q[0], q0);
    qty_text(&e->q[1], q1);
    net_text(e, 0, n0);
    net_text(e, 1, n1);
    int kind = 0;
    if (has[0] && has[1]) {
        if (e->uom[0] != e->uom[1] || e->uom_conflict[0] || e->uom_conflict[1]) {
            kind = OHP_DISC_UOM;
        } else if (strcmp(n0, n1) == 0) {
            rc->sum.matched++;
        } else {
            char nd[OHP_ACC_BUFSIZE];
            text_sub(n1, n0, nd);
            if (within_tolerance(rc, nd, n0))
                rc->sum.within_tolerance++;
            else
                kind = OHP_DISC_QUANTITY;
        }
    } else if (has[0]) {
        if (strcmp(n0, "0") != 0)
            kind = OHP_DISC_MISSING_EXTERNAL;
    } else if (strcmp(n1, "0") != 0) {
        kind = OHP_DISC_MISSING_ERP;
    }
    if (kind == 0)
        return 0;
    disc_init(&d, kind);
    fill_key(&d, e);
    char diff[OHP_ACC_BUFSIZE] = "";
    if (has[0]) {
        d.erp_quantity = q0;
        d.erp_uom_code = u0;
    }
    if (has[1]) {
        d.external_quantity = q1;
        d.external_uom_code = u1;
    }
    if (kind == OHP_DISC_QUANTITY) {
        text_sub(q1, q0, diff);
        d.difference = diff;
    }
    return emit(rc, &d, fn, ud);
}

static int emit_serial(ohp_reconcile *rc, const serial_disc *sd, ohp_discrepancy_fn fn, void *ud)
{
    const serial *s = &rc->ser.s[sd->serial];
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
    const entry *e = E(&rc->cmp, s->entry[side]);
    fill_key(&d, e);
    const char *u = e->uom[side] ? rc->uoms[e->uom[side] - 1].code : "";
    if (side == OHP_SIDE_ERP)
        d.erp_uom_code = u;
    else
        d.external_uom_code = u;
    if (sd->kind == OHP_DISC_SERIAL_DUPLICATE) {
        d.side = sd->side;
        d.count = s->count[sd->side];
    }
    if (sd->kind == OHP_DISC_SERIAL_MOVED) {
        const entry *x = E(&rc->cmp, s->entry[OHP_SIDE_EXTERNAL]);
        const char *f[NKEY];
        split_key(x->key, f);
        d.external_revision = f[KF_REV];
        d.external_subinventory_code = f[KF_SUB];
        d.external_locator = f[KF_LOC];
        d.external_lot_number = f[KF_LOT];
        d.external_owning_party_id = f[KF_OWNER];
        d.external_uom_code = x->uom[1] ? rc->uoms[x->uom[1] - 1].code : "";
    }
    return emit(rc, &d, fn, ud);
}

static int finish_totals(ohp_reconcile *rc)
{
    /* UOMs by code */
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
            qty_text(&rc->uoms[i].total[s], t);
            if ((rc->uom_text[i * 2 + (size_t)s] = ohp_strdup(&rc->alloc, t)) == NULL)
                return OHP_ENOMEM;
        }
    }
    rc->sum.uom_total_count = rc->nuoms;
    return OHP_OK;
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
    ohp_reconcile_summary *sum = &rc->sum;
    sum->erp_serials = rc->ser.distinct[0];
    sum->external_serials = rc->ser.distinct[1];
    map *m = &rc->cmp;
    int r = OHP_OK;
    entry **order = NULL;
    uint32_t *rank = NULL;
    serial_disc *sd = NULL;
    size_t nsd = 0, cap_sd = 0;
    /* Serial classes, when both sides carry serial numbers. */
    bool do_serials = rc->ser.distinct[0] > 0 && rc->ser.distinct[1] > 0;
    for (size_t i = 0; do_serials && i < rc->ser.n; i++) {
        serial *s = &rc->ser.s[i];
        if (other_org(rc, s->key))
            continue;
        serial_disc add[4];
        size_t k = 0;
        for (int side = 0; side < 2; side++)
            if (s->count[side] > 1)
                add[k++] = (serial_disc){s->entry[side], (uint32_t)i, OHP_DISC_SERIAL_DUPLICATE,
                                         (uint8_t)side,  NULL,        0};
        if (s->count[0] && !s->count[1])
            add[k++] = (serial_disc){s->entry[0], (uint32_t)i, OHP_DISC_SERIAL_MISSING_EXTERNAL,
                                     0,           NULL,        0};
        else if (!s->count[0] && s->count[1])
            add[k++] =
                (serial_disc){s->entry[1], (uint32_t)i, OHP_DISC_SERIAL_MISSING_ERP, 1, NULL, 0};
        else if (s->entry[0] != s->entry[1]) {
            add[k++] = (serial_disc){s->entry[0], (uint32_t)i, OHP_DISC_SERIAL_MOVED, 0, NULL, 0};
            entry *from = E(m, s->entry[0]), *to = E(m, s->entry[1]);
            if ((from->moved & 0xffffu) < 0xffffu)
                from->moved += 1;
            if ((to->moved >> 16) < 0xffffu)
                to->moved += 1u << 16;
        }
        if (k == 0)
            continue;
        if (nsd + k > cap_sd) {
            size_t cap = cap_sd ? cap_sd * 2 : 256;
            serial_disc *p = ohp_realloc(&rc->alloc, sd, cap * sizeof *p);
            if (p == NULL) {
                r = rfail(rc, OHP_ENOMEM, "out of memory");
                goto out;
            }
            sd = p;
            cap_sd = cap;
        }
        memcpy(sd + nsd, add, k * sizeof *add);
        nsd += k;
    }
    /* Keys in order. */
    order = ohp_malloc(&rc->alloc, (m->n ? m->n : 1) * sizeof *order);
    rank = ohp_malloc(&rc->alloc, (m->n ? m->n : 1) * sizeof *rank);
    if (order == NULL || rank == NULL) {
        r = rfail(rc, OHP_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < m->n; i++) {
        order[i] = E(m, i);
        order[i]->gen = (uint32_t)i; /* gen is free in the comparison map: the index */
    }
    if (m->n > 0)
        qsort(order, m->n, sizeof *order, entry_cmp);
    for (size_t i = 0; i < m->n; i++)
        rank[order[i]->gen] = (uint32_t)i;
    for (size_t i = 0; i < nsd; i++)
        sd[i].rank = rank[sd[i].rank];
    for (size_t i = 0; i < nsd; i++) {
        sd[i].key = rc->ser.s[sd[i].serial].key;
        sd[i].klen = rc->ser.s[sd[i].serial].klen;
    }
    if (nsd > 0)
        qsort(sd, nsd, sizeof *sd, sd_cmp);
    size_t j = 0;
    for (size_t i = 0; i < m->n && r == OHP_OK; i++) {
        r = compare_key(rc, order[i], report, user_data);
        for (; r == OHP_OK && j < nsd && sd[j].rank == i; j++)
            r = emit_serial(rc, &sd[j], report, user_data);
    }
    if (r != OHP_OK && rc->errmsg[0] == '\0')
        rfail(rc, r, "the discrepancy callback stopped the run (%d)", r);
    if (r == OHP_OK && finish_totals(rc) != OHP_OK)
        r = rfail(rc, OHP_ENOMEM, "out of memory");
out:
    ohp_free(&rc->alloc, order);
    ohp_free(&rc->alloc, rank);
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
