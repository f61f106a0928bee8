/* Exact decimal quantities: canonical text and exact sums. */
#include "ohp_internal.h"

#include <stdio.h>
#include <string.h>

int ohp_decimal_parse(const char *s, ohp_decimal *out)
{
    if (s == NULL)
        return OHP_EPARSE;
    const char *p = s;
    bool neg = false;
    if (*p == '-') {
        neg = true;
        p++;
    }
    const char *ip = p;
    while (*p >= '0' && *p <= '9')
        p++;
    size_t ilen = (size_t)(p - ip);
    if (ilen == 0)
        return OHP_EPARSE;
    const char *fp = NULL;
    size_t flen = 0;
    if (*p == '.') {
        fp = ++p;
        while (*p >= '0' && *p <= '9')
            p++;
        flen = (size_t)(p - fp);
        if (flen == 0)
            return OHP_EPARSE;
    }
    if (*p != '\0')
        return OHP_EPARSE;
    while (ilen > 1 && *ip == '0') {
        ip++;
        ilen--;
    }
    while (flen > 0 && fp[flen - 1] == '0')
        flen--;
    if (ilen > OHP_QTY_MAX_INT_DIGITS || flen > OHP_QTY_MAX_FRAC_DIGITS)
        return OHP_ELIMIT;
    bool zero = ilen == 1 && ip[0] == '0' && flen == 0;
    char *o = out->text;
    if (neg && !zero)
        *o++ = '-';
    memcpy(o, ip, ilen);
    o += ilen;
    if (flen) {
        *o++ = '.';
        memcpy(o, fp, flen);
        o += flen;
    }
    *o = '\0';
    out->negative = neg && !zero;
    out->zero = zero;
    out->int_digits = ilen;
    out->frac_digits = flen;
    return OHP_OK;
}

bool ohp_decimal_to_count(const ohp_decimal *d, uint64_t *out)
{
    if (d->negative || d->frac_digits != 0 || d->int_digits > 19)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < d->int_digits; i++) {
        unsigned dig = (unsigned)(d->text[i] - '0');
        if (v > (UINT64_MAX - dig) / 10)
            return false;
        v = v * 10 + dig;
    }
    *out = v;
    return true;
}

OHP_EXPORT int ohp_quantity_canonical(const char *text, char *out, size_t out_size)
{
    if (text == NULL || out == NULL)
        return OHP_EINVAL;
    ohp_decimal d;
    int rc = ohp_decimal_parse(text, &d);
    if (rc)
        return rc;
    size_t n = strlen(d.text);
    if (n + 1 > out_size)
        return OHP_EINVAL;
    memcpy(out, d.text, n + 1);
    return OHP_OK;
}

#define LIMBS (OHP_ACC_FRAC_LIMBS + OHP_ACC_INT_LIMBS)
#define BASE 1000000000u

static uint32_t limb_of(const char *digits, size_t len)
{
    uint32_t v = 0;
    for (size_t i = 0; i < len; i++)
        v = v * 10 + (uint32_t)(digits[i] - '0');
    return v;
}

/* acc += v, where v's limbs outside [lo, hi) are zero */
static void add_limbs(uint32_t *acc, const uint32_t *v, size_t lo, size_t hi)
{
    uint32_t carry = 0;
    size_t i = lo;
    for (; i < hi; i++) {
        uint32_t s = acc[i] + v[i] + carry;
        carry = s >= BASE;
        acc[i] = carry ? s - BASE : s;
    }
    for (; carry && i < LIMBS; i++) {
        uint32_t s = acc[i] + 1;
        carry = s >= BASE;
        acc[i] = carry ? 0 : s;
    }
}

/* acc += (or -=) the digits: int_digits before the point, frac_digits after it */
static void add_digits(ohp_acc *acc, const char *digits, size_t int_digits, size_t frac_digits,
                       bool negative)
{
    uint32_t v[LIMBS];
    /* Integer digits, right-aligned from limb FRAC_LIMBS upwards. */
    size_t n = int_digits;
    size_t limb = OHP_ACC_FRAC_LIMBS;
    while (n > 0) {
        size_t take = n >= 9 ? 9 : n;
        v[limb++] = limb_of(digits + n - take, take);
        n -= take;
    }
    size_t hi = limb;
    /* Fraction digits, left-aligned from limb FRAC_LIMBS-1 downwards. */
    const char *f = digits + int_digits + 1;
    size_t fl = frac_digits;
    limb = OHP_ACC_FRAC_LIMBS;
    while (fl > 0) {
        size_t take = fl >= 9 ? 9 : fl;
        uint32_t x = limb_of(f, take);
        for (size_t k = take; k < 9; k++)
            x *= 10;
        v[--limb] = x;
        f += take;
        fl -= take;
    }
    add_limbs(negative ? acc->neg : acc->pos, v, limb, hi);
}

void ohp_acc_add(ohp_acc *acc, const ohp_decimal *d)
{
    if (d->zero)
        return;
    add_digits(acc, d->text + (d->negative ? 1 : 0), d->int_digits, d->frac_digits, d->negative);
}

int ohp_acc_add_text(ohp_acc *acc, const char *text, bool negate)
{
    bool neg = text[0] == '-';
    const char *digits = text + neg;
    size_t i = 0, f = 0;
    while (digits[i] >= '0' && digits[i] <= '9')
        i++;
    if (digits[i] == '.') {
        while (digits[i + 1 + f] >= '0' && digits[i + 1 + f] <= '9')
            f++;
        if (f == 0)
            return OHP_EPARSE;
    }
    if (i == 0 || digits[i + (f ? 1 + f : 0)] != '\0')
        return OHP_EPARSE;
    if (i > (size_t)OHP_ACC_INT_LIMBS * 9 || f > (size_t)OHP_ACC_FRAC_LIMBS * 9)
        return OHP_ELIMIT;
    add_digits(acc, digits, i, f, neg != negate);
    return OHP_OK;
}

void ohp_acc_merge(ohp_acc *acc, const ohp_acc *v, bool negate)
{
    add_limbs(acc->pos, negate ? v->neg : v->pos, 0, LIMBS);
    add_limbs(acc->neg, negate ? v->pos : v->neg, 0, LIMBS);
}

void ohp_acc_add_count(ohp_acc *acc, uint64_t n)
{
    uint32_t *p = acc->pos + OHP_ACC_FRAC_LIMBS;
    uint64_t carry = n;
    for (size_t i = 0; i < OHP_ACC_INT_LIMBS && carry; i++) {
        uint64_t s = (uint64_t)p[i] + carry % BASE;
        carry /= BASE;
        if (s >= BASE) {
            s -= BASE;
            carry++;
        }
        p[i] = (uint32_t)s;
    }
}

static int cmp_limbs(const uint32_t *a, const uint32_t *b)
{
    for (size_t i = LIMBS; i-- > 0;) {
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    }
    return 0;
}

void ohp_acc_format(const ohp_acc *acc, char *out)
{
    uint32_t r[LIMBS];
    bool neg = false;
    const uint32_t *a = acc->pos, *b = acc->neg;
    if (cmp_limbs(a, b) < 0) {
        a = acc->neg;
        b = acc->pos;
        neg = true;
    }
    uint32_t borrow = 0;
    for (size_t i = 0; i < LIMBS; i++) {
        int64_t s = (int64_t)a[i] - b[i] - borrow;
        borrow = s < 0;
        r[i] = (uint32_t)(s < 0 ? s + BASE : s);
    }
    /* Print all digits then trim. */
    char digits[LIMBS * 9 + 1];
    size_t k = 0;
    for (size_t i = LIMBS; i-- > 0;) {
        uint32_t x = r[i];
        for (int j = 8; j >= 0; j--) {
            digits[k + (size_t)j] = (char)('0' + x % 10);
            x /= 10;
        }
        k += 9;
    }
    size_t int_len = (size_t)OHP_ACC_INT_LIMBS * 9;
    size_t start = 0;
    while (start < int_len - 1 && digits[start] == '0')
        start++;
    size_t end = (size_t)LIMBS * 9;
    while (end > int_len && digits[end - 1] == '0')
        end--;
    bool zero = start == int_len - 1 && digits[start] == '0' && end == int_len;
    char *o = out;
    if (neg && !zero)
        *o++ = '-';
    memcpy(o, digits + start, int_len - start);
    o += int_len - start;
    if (end > int_len) {
        *o++ = '.';
        memcpy(o, digits + int_len, end - int_len);
        o += end - int_len;
    }
    *o = '\0';
}

/* ---- small decimals: at most 18 digits as a mantissa and a scale ---- */

/* Decimal -> mantissa/scale when it has at most 18 digits. */
bool ohp_dec_small(const ohp_decimal *d, int64_t *m, uint8_t *scale)
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

void ohp_dec_small_text(int64_t m, unsigned scale, char *out)
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
    if (ohp_decimal_parse(tmp, &d) != OHP_OK)
        memcpy(d.text, "0", 2);
    memcpy(out, d.text, strlen(d.text) + 1);
}

/* x - y exactly, both canonical texts as ohp_acc_format() gives them. */
void ohp_dec_sub_text(const char *x, const char *y, char out[OHP_ACC_BUFSIZE])
{
    ohp_acc acc;
    memset(&acc, 0, sizeof acc);
    int rx = ohp_acc_add_text(&acc, x, false), ry = ohp_acc_add_text(&acc, y, true);
    (void)rx; /* both are sums the accumulators formatted: they always fit */
    (void)ry;
    ohp_acc_format(&acc, out);
}

/* Compare non-negative canonical decimal texts. */
int ohp_dec_cmp_nonneg(const char *a, const char *b)
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
void ohp_dec_mul_nonneg(const char *a, const char *b, char *out, size_t n)
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

/*
 * Quantity text -> mantissa and scale (canonical: no trailing zeros after
 * the point), for the decimals of at most 18 digits that
 * ohp_decimal_parse() accepts; false for anything else.
 */
bool ohp_dec_small_parse(const char *s, int64_t *m, uint8_t *scale)
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
