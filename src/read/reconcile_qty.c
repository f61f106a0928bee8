/*
 * Exact quantities as the reconciler stores them: a mantissa and a scale in
 * 9 bytes, moved to an accumulator when a sum outgrows 18 digits.
 */
#include "reconcile_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rc_bigs_free(bigs *b, const ohp_alloc *a)
{
    for (size_t i = 0; i < b->n; i++)
        ohp_free(a, b->v[i]);
    ohp_free(a, b->v);
    memset(b, 0, sizeof *b);
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

void rc_qty_text(const bigs *b, const qty *q, char out[OHP_ACC_BUFSIZE])
{
    const ohp_acc *big = qty_big(b, q);
    if (big)
        ohp_acc_format(big, out);
    else
        ohp_dec_small_text(q->m, q->scale, out);
}

/* The quantity becomes an accumulator holding its current value. */
static int qty_to_big(bigs *b, qty *q, const ohp_alloc *a)
{
    if (b->n == b->cap) {
        ohp_acc **v = rc_grown(a, b->v, &b->cap, sizeof *v, 16);
        if (v == NULL)
            return OHP_ENOMEM;
        b->v = v;
    }
    ohp_acc *acc = ohp_calloc(a, 1, sizeof *acc);
    if (acc == NULL)
        return OHP_ENOMEM;
    char t[48];
    ohp_dec_small_text(q->m, q->scale, t);
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

int rc_qty_add(bigs *b, qty *q, const ohp_decimal *d, const ohp_alloc *a)
{
    if (d->zero)
        return OHP_OK;
    if (q->scale != QBIG) {
        int64_t m;
        uint8_t s;
        if (ohp_dec_small(d, &m, &s) && small_add(q, m, s))
            return OHP_OK;
        if (qty_to_big(b, q, a) != OHP_OK)
            return OHP_ENOMEM;
    }
    ohp_acc_add(b->v[q->m], d);
    return OHP_OK;
}

int rc_qty_add_small(bigs *b, qty *q, int64_t m, uint8_t s, const ohp_alloc *a)
{
    if (small_add(q, m, s))
        return OHP_OK;
    char t[48];
    ohp_decimal d;
    ohp_dec_small_text(m, s, t);
    ohp_decimal_parse(t, &d); /* at most 19 digits */
    return rc_qty_add(b, q, &d, a);
}

int rc_qty_add_text(bigs *b, qty *q, const char *text, const ohp_alloc *a)
{
    ohp_decimal d;
    if (ohp_decimal_parse(text, &d) == OHP_OK)
        return rc_qty_add(b, q, &d, a);
    if (q->scale != QBIG && qty_to_big(b, q, a) != OHP_OK)
        return OHP_ENOMEM;
    return ohp_acc_add_text(b->v[q->m], text, false);
}

int rc_qty_add_to(bigs *b, qty *total, const qty *q, const ohp_alloc *a)
{
    if (q->scale != QBIG)
        return rc_qty_add_small(b, total, q->m, q->scale, a);
    if (total->scale != QBIG && qty_to_big(b, total, a) != OHP_OK)
        return OHP_ENOMEM;
    ohp_acc_merge(b->v[total->m], b->v[q->m], false);
    return OHP_OK;
}

bool rc_qty_zero(const bigs *b, const qty *q)
{
    if (q->scale != QBIG)
        return q->m == 0;
    char t[OHP_ACC_BUFSIZE];
    ohp_acc_format(b->v[q->m], t);
    return strcmp(t, "0") == 0;
}

void rc_qty_clear(bigs *b, qty *q, const ohp_alloc *a)
{
    if (q->scale == QBIG) {
        ohp_free(a, b->v[q->m]);
        b->v[q->m] = NULL;
    }
    q->m = 0;
    q->scale = 0;
}

int rc_qin_parse(const char *text, qin *q)
{
    q->sum = NULL;
    q->small = ohp_dec_small_parse(text, &q->m, &q->scale);
    return q->small ? OHP_OK : ohp_decimal_parse(text, &q->d);
}
